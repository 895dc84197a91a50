//! The strict fake's EventBridge Scheduler (one group's schedules).

use super::*;

/// What Scheduler validates in a schedule's definition (Create and Update alike).
fn validate_schedule(op: &str, spec: &crate::backend::scheduler::ScheduleSpec) -> R<()> {
    let invalid = |why: String| Err(err(op, ErrorKind::Invalid, "ValidationException", why));
    let universal = [
        ":scheduler:::aws-sdk:ec2:createSnapshot",
        ":scheduler:::aws-sdk:ec2:createSnapshots",
    ];
    if !spec.target_arn.starts_with("arn:aws")
        || !universal.iter().any(|u| spec.target_arn.ends_with(u))
    {
        return invalid(format!("Invalid target ARN {}", spec.target_arn));
    }
    if !crate::backend::scheduler::valid_schedule_name(&spec.name) {
        return invalid(format!(
            "Name {:?} must be 1-64 characters of [0-9a-zA-Z-_.]",
            spec.name
        ));
    }
    if Cron::parse(&spec.expression).is_err() {
        return invalid(format!("Invalid Schedule Expression {}", spec.expression));
    }
    if spec.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return invalid(format!(
            "Invalid ScheduleExpressionTimezone {}",
            spec.time_zone
        ));
    }
    if spec.flexible_window_minutes > 1440
        || spec.retry_attempts > 185
        || !(60..=86400).contains(&spec.max_event_age_seconds)
    {
        return invalid("FlexibleTimeWindow or RetryPolicy out of range".into());
    }
    if spec.input.len() > 8192 || serde_json::from_str::<serde_json::Value>(&spec.input).is_err() {
        return invalid("Target Input must be JSON of at most 8192 characters".into());
    }
    Ok(())
}

fn no_group(op: &str, group: &str) -> AwsError {
    err(
        op,
        ErrorKind::NotFound,
        "ResourceNotFoundException",
        format!("Schedule group {group} does not exist."),
    )
}

impl crate::aws::SchedulerApi for FakeAws {
    async fn list_schedules(
        &self,
        group: &str,
        next_token: Option<String>,
    ) -> R<Page<crate::backend::scheduler::ListedSchedule>> {
        self.scheduler_call().await;
        let op = "ListSchedules";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        if !st.schedule_groups.contains(group) {
            return Err(no_group(op, group));
        }
        let names: Vec<crate::backend::scheduler::ListedSchedule> = st
            .schedules
            .keys()
            .filter(|(g, _)| g == group)
            .map(|k| crate::backend::scheduler::ListedSchedule {
                name: k.1.clone(),
                enabled: !st.disabled_schedules.contains(k),
            })
            .collect();
        let req = PageRequest {
            filters: vec![Filter::new("group", [group])],
            ids: vec![],
            max_results: Some(crate::backend::scheduler::MAX_SCHEDULES_PAGE),
            next_token,
            owners: vec![],
        };
        self.page(
            &mut st,
            op,
            &req,
            &["group"],
            (1, crate::backend::scheduler::MAX_SCHEDULES_PAGE),
            names,
        )
    }

    async fn create_schedule(
        &self,
        group: &str,
        spec: &crate::backend::scheduler::ScheduleSpec,
    ) -> R<()> {
        self.scheduler_call().await;
        let op = "CreateSchedule";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        validate_schedule(op, spec)?;
        if !st.schedule_groups.contains(group) {
            return Err(no_group(op, group));
        }
        let key = (group.to_string(), spec.name.clone());
        if st.schedules.contains_key(&key) {
            return Err(err(
                op,
                ErrorKind::Conflict,
                "ConflictException",
                format!("Schedule {} already exists.", spec.name),
            ));
        }
        st.schedules.insert(key, spec.clone());
        Ok(())
    }

    async fn update_schedule(
        &self,
        group: &str,
        spec: &crate::backend::scheduler::ScheduleSpec,
    ) -> R<()> {
        self.scheduler_call().await;
        let op = "UpdateSchedule";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        validate_schedule(op, spec)?;
        if !st.schedule_groups.contains(group) {
            return Err(no_group(op, group));
        }
        let key = (group.to_string(), spec.name.clone());
        if !st.schedules.contains_key(&key) {
            return Err(err(
                op,
                ErrorKind::NotFound,
                "ResourceNotFoundException",
                format!("Schedule {} does not exist.", spec.name),
            ));
        }
        // The whole definition is replaced and the schedule enabled, as asked.
        st.disabled_schedules.remove(&key);
        st.schedules.insert(key, spec.clone());
        Ok(())
    }

    async fn delete_schedule(&self, group: &str, name: &str) -> R<()> {
        self.scheduler_call().await;
        let op = "DeleteSchedule";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        st.disabled_schedules
            .remove(&(group.to_string(), name.to_string()));
        if st
            .schedules
            .remove(&(group.to_string(), name.to_string()))
            .is_none()
        {
            return Err(err(
                op,
                ErrorKind::NotFound,
                "ResourceNotFoundException",
                format!("Schedule {name} does not exist."),
            ));
        }
        Ok(())
    }
}
