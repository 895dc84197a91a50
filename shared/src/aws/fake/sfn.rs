//! The strict fake's Step Functions (executions the operator's command starts and follows).

use super::*;

impl FakeAws {
    /// Ends an execution as Step Functions would (`SUCCEEDED` with its output, `FAILED` with
    /// an error and cause).
    pub fn finish_execution(
        &self,
        arn: &str,
        status: &str,
        output: Option<&str>,
        error: Option<(&str, &str)>,
    ) {
        if let Some((_, e)) = self.st().executions.get_mut(arn) {
            e.status = status.to_string();
            e.output = output.map(str::to_string);
            e.error = error.map(|(e, _)| e.to_string());
            e.cause = error.map(|(_, c)| c.to_string());
        }
    }

    /// The executions started so far: `(arn, input)`.
    pub fn executions(&self) -> Vec<(String, String)> {
        self.st()
            .executions
            .iter()
            .map(|(arn, (input, _))| (arn.clone(), input.clone()))
            .collect()
    }
}

impl ExecutionsApi for FakeAws {
    async fn start_execution(&self, state_machine_arn: &str, name: &str, input: &str) -> R<String> {
        let op = "StartExecution";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        if name.is_empty() || name.len() > 80 {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidName",
                "execution names are 1 to 80 characters",
            ));
        }
        if input.len() > 256 * 1024 {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidExecutionInput",
                "input larger than 256 KB",
            ));
        }
        let arn = format!(
            "{}:{name}",
            state_machine_arn.replace(":stateMachine:", ":execution:")
        );
        match st.executions.get(&arn) {
            // Standard workflows: the same name and input is idempotent while that execution is
            // running; afterwards, or with another input, the name is taken (for 90 days).
            Some((prev, e)) if prev == input && e.status == "RUNNING" => return Ok(arn),
            Some(_) => {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "ExecutionAlreadyExists",
                    format!("Execution Already Exists: '{arn}'"),
                ))
            }
            None => {}
        }
        let exec = Execution {
            arn: arn.clone(),
            status: "RUNNING".into(),
            output: None,
            error: None,
            cause: None,
        };
        st.executions.insert(arn.clone(), (input.to_string(), exec));
        Ok(arn)
    }

    async fn describe_execution(&self, execution_arn: &str) -> R<Execution> {
        let op = "DescribeExecution";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        st.executions
            .get(execution_arn)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| {
                err(
                    op,
                    ErrorKind::NotFound,
                    "ExecutionDoesNotExist",
                    format!("Execution Does Not Exist: '{execution_arn}'"),
                )
            })
    }
}
