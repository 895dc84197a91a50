//! EventBridge schedule expressions: `cron(...)` with its six fields and `rate(...)`.
//!
//! EventBridge rules evaluate `cron(...)` in UTC. The syntax is AWS's, not Vixie's: fields are
//! `minutes hours day-of-month month day-of-week year`, weekdays run `1=SUN..7=SAT`, exactly one
//! of day-of-month / day-of-week is `?`, and `L`, `W`, `#` are allowed where AWS allows them.
//! We validate that grammar ourselves and let the maintained `croner` crate (in its Quartz mode)
//! find fire times.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use croner::parser::{CronParser, Seconds, Year};

/// Why a schedule expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule {expr:?} is not a valid EventBridge expression: {why}")]
pub struct CronError {
    pub expr: String,
    pub why: String,
}

/// A parsed EventBridge schedule expression.
#[derive(Clone)]
pub struct Cron {
    expr: String,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Cron(Box<croner::Cron>),
    Rate(Duration),
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cron").field(&self.expr).finish()
    }
}

impl PartialEq for Cron {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}
impl Eq for Cron {}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Special characters besides `, - * /`.
    extra: &'static str,
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 6] = [
    Field {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
        extra: "",
    },
    Field {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
        extra: "",
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        extra: "?LW",
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
        extra: "",
    },
    Field {
        name: "day-of-week",
        min: 1,
        max: 7,
        names: DAYS,
        extra: "?L#",
    },
    Field {
        name: "year",
        min: 1970,
        max: 2199,
        names: &[],
        extra: "",
    },
];

impl Field {
    fn value(&self, s: &str) -> Result<u32, String> {
        if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(self.min + i as u32);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{}: {s:?} is not a value", self.name));
        }
        let n: u32 = s
            .parse()
            .map_err(|_| format!("{}: {s:?} too large", self.name))?;
        if n < self.min || n > self.max {
            return Err(format!(
                "{}: {n} outside {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(n)
    }

    /// Checks one field against AWS's grammar for it.
    fn check(&self, raw: &str) -> Result<(), String> {
        if let Some(bad) = raw.chars().find(|c| {
            !(c.is_ascii_alphanumeric() || ",-*/".contains(*c) || self.extra.contains(*c))
        }) {
            return Err(format!("{}: character {bad:?} not allowed", self.name));
        }
        if raw == "?" {
            return if self.extra.contains('?') {
                Ok(())
            } else {
                Err(format!("{}: '?' not allowed", self.name))
            };
        }
        for item in raw.split(',') {
            self.check_item(item)?;
        }
        Ok(())
    }

    fn check_item(&self, item: &str) -> Result<(), String> {
        let up = item.to_ascii_uppercase();
        // Day-of-month specials: L, LW, nW.
        if self.extra.contains('W') {
            if up == "L" || up == "LW" {
                return Ok(());
            }
            if let Some(d) = up.strip_suffix('W') {
                return self.value(d).map(|_| ());
            }
        }
        // Day-of-week specials: L (Saturday), nL (last weekday n), n#k (k-th weekday n).
        if self.extra.contains('#') {
            if up == "L" {
                return Ok(());
            }
            if let Some((d, k)) = up.split_once('#') {
                self.value(d)?;
                return match k.parse::<u32>() {
                    Ok(1..=5) => Ok(()),
                    _ => Err(format!("{}: '#{k}' must be 1-5", self.name)),
                };
            }
            if let Some(d) = up.strip_suffix('L') {
                return self.value(d).map(|_| ());
            }
        }
        let (range, step) = match up.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (up.as_str(), None),
        };
        if let Some(s) = step {
            match s.parse::<u32>() {
                Ok(n) if n >= 1 => {}
                _ => {
                    return Err(format!(
                        "{}: step {s:?} must be a positive number",
                        self.name
                    ))
                }
            }
        }
        if range == "*" {
            return Ok(());
        }
        match range.split_once('-') {
            Some((a, b)) => {
                self.value(a)?;
                self.value(b)?;
                Ok(())
            }
            None => self.value(range).map(|_| ()),
        }
    }
}

fn parse_rate(expr: &str, body: &str) -> Result<Duration, CronError> {
    let err = |why: &str| CronError {
        expr: expr.to_string(),
        why: why.to_string(),
    };
    let mut parts = body.split_whitespace();
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(err("rate needs `value unit`"));
    };
    if !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("rate value must be a positive whole number"));
    }
    let n: i64 = n.parse().map_err(|_| err("rate value too large"))?;
    if n < 1 {
        return Err(err("rate value must be a positive whole number"));
    }
    let (singular, minutes) = match unit {
        "minute" | "minutes" => ("minute", 1),
        "hour" | "hours" => ("hour", 60),
        "day" | "days" => ("day", 1440),
        _ => return Err(err("rate unit must be minute(s), hour(s) or day(s)")),
    };
    if (n == 1) != (unit == singular) {
        return Err(err("rate unit must be singular for 1 and plural otherwise"));
    }
    n.checked_mul(minutes)
        .filter(|m| *m <= 1_000_000_000)
        .map(Duration::minutes)
        .ok_or_else(|| err("rate too large"))
}

impl Cron {
    /// Parses `cron(m h dom mon dow year)` or `rate(n unit)`.
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let err = |why: String| CronError {
            expr: expr.to_string(),
            why,
        };
        let e = expr.trim();
        if let Some(body) = e.strip_prefix("rate(").and_then(|b| b.strip_suffix(')')) {
            let every = parse_rate(expr, body)?;
            return Ok(Cron {
                expr: e.to_string(),
                kind: Kind::Rate(every),
            });
        }
        let Some(body) = e.strip_prefix("cron(").and_then(|b| b.strip_suffix(')')) else {
            return Err(err("expected cron(...) or rate(...)".into()));
        };
        let fields: Vec<&str> = body.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(err(format!(
                "cron needs 6 fields (minutes hours day-of-month month day-of-week year), got {}",
                fields.len()
            )));
        }
        for (f, raw) in FIELDS.iter().zip(&fields) {
            f.check(raw).map_err(err)?;
        }
        match (fields[2] == "?", fields[4] == "?") {
            (true, true) => {
                return Err(err(
                    "only one of day-of-month and day-of-week may be '?'".into()
                ))
            }
            (false, false) => {
                return Err(err("one of day-of-month and day-of-week must be '?'".into()))
            }
            _ => {}
        }
        // AWS's lone `L` in day-of-week means Saturday; croner reads `7` the same in Quartz mode.
        let dow = if fields[4].eq_ignore_ascii_case("L") {
            "7"
        } else {
            fields[4]
        };
        let pattern = format!(
            "0 {} {} {} {} {} {}",
            fields[0], fields[1], fields[2], fields[3], dow, fields[5]
        );
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Required)
            .alternative_weekdays(true)
            .sloppy_ranges(true)
            .build()
            .parse(&pattern)
            .map_err(|e| err(e.to_string()))?;
        Ok(Cron {
            expr: e.to_string(),
            kind: Kind::Cron(Box::new(cron)),
        })
    }

    /// The expression as written (trimmed), e.g. `cron(30 9 * * ? *)`.
    pub fn expression(&self) -> &str {
        &self.expr
    }

    /// `rate(...)` schedules fire relative to when the rule was created, so their fire times
    /// cannot be known from the expression alone.
    pub fn is_rate(&self) -> bool {
        matches!(self.kind, Kind::Rate(_))
    }

    /// The first fire time at or after `t`, the cron read in UTC (EventBridge rules fire in
    /// UTC). `None` for `rate(...)` or when the cron never fires again (its years have passed).
    pub fn next_fire_at_or_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_fire_in(chrono_tz::Tz::UTC, t)
    }

    /// The first fire time at or after `t` with the cron read in `tz` (EventBridge Scheduler
    /// evaluates a schedule's cron in its `ScheduleExpressionTimezone`, DST included).
    pub fn next_fire_in(&self, tz: chrono_tz::Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron(c) => c
                .find_next_occurrence(&t.with_timezone(&tz), true)
                .ok()
                .map(|f| f.with_timezone(&Utc)),
            Kind::Rate(_) => None,
        }
    }

    /// Whether some fire time `f` (the cron read in `tz`) satisfies `f <= t <= f + window`.
    /// `None` when unknowable (a `rate(...)` schedule).
    pub fn fired_within(
        &self,
        tz: chrono_tz::Tz,
        t: DateTime<Utc>,
        window: Duration,
    ) -> Option<bool> {
        if self.is_rate() {
            return None;
        }
        Some(self.next_fire_in(tz, t - window).is_some_and(|f| f <= t))
    }

    /// The nominal interval of a `rate(...)` schedule.
    pub fn rate(&self) -> Option<Duration> {
        match self.kind {
            Kind::Rate(d) => Some(d),
            Kind::Cron(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Tz;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    /// Next `n` fire times strictly after `from`.
    fn next_n(expr: &str, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let s = Cron::parse(expr).unwrap();
        let mut out = Vec::new();
        let mut t = from + Duration::seconds(1);
        for _ in 0..n {
            let f = s.next_fire_at_or_after(t).unwrap();
            out.push(f);
            t = f + Duration::seconds(1);
        }
        out
    }

    // Examples from AWS's "Schedule expressions for rules" documentation.
    #[test]
    fn aws_doc_10am_every_day() {
        // 2026-11-25 is a Wednesday.
        assert_eq!(
            next_n("cron(0 10 * * ? *)", at(2026, 11, 25, 10, 0), 2),
            vec![at(2026, 11, 26, 10, 0), at(2026, 11, 27, 10, 0)]
        );
    }

    #[test]
    fn aws_doc_1215_every_day() {
        assert_eq!(
            next_n("cron(15 12 * * ? *)", at(2026, 11, 25, 0, 0), 1),
            vec![at(2026, 11, 25, 12, 15)]
        );
    }

    #[test]
    fn aws_doc_6pm_monday_to_friday() {
        // Fri 27th, then Mon 30th: the weekend is skipped.
        assert_eq!(
            next_n("cron(0 18 ? * MON-FRI *)", at(2026, 11, 26, 19, 0), 2),
            vec![at(2026, 11, 27, 18, 0), at(2026, 11, 30, 18, 0)]
        );
    }

    #[test]
    fn aws_doc_8am_first_of_month() {
        assert_eq!(
            next_n("cron(0 8 1 * ? *)", at(2026, 11, 25, 0, 0), 2),
            vec![at(2026, 12, 1, 8, 0), at(2027, 1, 1, 8, 0)]
        );
    }

    #[test]
    fn aws_doc_every_15_minutes() {
        assert_eq!(
            next_n("cron(0/15 * * * ? *)", at(2026, 11, 25, 10, 50), 3),
            vec![
                at(2026, 11, 25, 11, 0),
                at(2026, 11, 25, 11, 15),
                at(2026, 11, 25, 11, 30)
            ]
        );
    }

    #[test]
    fn aws_doc_every_10_minutes_weekdays() {
        // Friday 23:50, then Monday 00:00.
        assert_eq!(
            next_n("cron(0/10 * ? * MON-FRI *)", at(2026, 11, 27, 23, 45), 2),
            vec![at(2026, 11, 27, 23, 50), at(2026, 11, 30, 0, 0)]
        );
    }

    #[test]
    fn aws_doc_every_5_minutes_business_hours() {
        assert_eq!(
            next_n("cron(0/5 8-17 ? * MON-FRI *)", at(2026, 11, 25, 17, 54), 2),
            vec![at(2026, 11, 25, 17, 55), at(2026, 11, 26, 8, 0)]
        );
    }

    #[test]
    fn aws_doc_first_monday_of_month() {
        // "9:00 am on the first Monday of each month": 2#1.
        assert_eq!(
            next_n("cron(0 9 ? * 2#1 *)", at(2026, 11, 25, 0, 0), 2),
            vec![at(2026, 12, 7, 9, 0), at(2027, 1, 4, 9, 0)]
        );
    }

    #[test]
    fn aws_doc_last_friday_within_years() {
        // "10:15 on the last Friday of every month during 2026-2027": 6L.
        let got = next_n("cron(15 10 ? * 6L 2026-2027)", at(2026, 11, 1, 0, 0), 2);
        assert_eq!(
            got,
            vec![at(2026, 11, 27, 10, 15), at(2026, 12, 25, 10, 15)]
        );
        // After the last year it never fires again.
        let s = Cron::parse("cron(15 10 ? * 6L 2026-2027)").unwrap();
        assert_eq!(s.next_fire_at_or_after(at(2028, 1, 1, 0, 0)), None);
    }

    #[test]
    fn last_day_of_month_and_nearest_weekday() {
        assert_eq!(
            next_n("cron(0 0 L * ? *)", at(2027, 2, 1, 0, 0), 2),
            vec![at(2027, 2, 28, 0, 0), at(2027, 3, 31, 0, 0)]
        );
        // 2026-11-01 is a Sunday: nearest weekday to the 1st is Monday the 2nd.
        assert_eq!(
            next_n("cron(0 0 1W * ? *)", at(2026, 10, 31, 0, 0), 1),
            vec![at(2026, 11, 2, 0, 0)]
        );
        // 2026-11-14 is a Saturday: nearest weekday to the 14th is Friday the 13th.
        assert_eq!(
            next_n("cron(0 0 14W * ? *)", at(2026, 11, 3, 0, 0), 1),
            vec![at(2026, 11, 13, 0, 0)]
        );
    }

    #[test]
    fn weekday_names_and_numbers_agree_sunday_is_one() {
        let a = next_n("cron(30 9 ? * SUN *)", at(2026, 11, 25, 0, 0), 3);
        let b = next_n("cron(30 9 ? * 1 *)", at(2026, 11, 25, 0, 0), 3);
        assert_eq!(a, b);
        assert_eq!(a[0], at(2026, 11, 29, 9, 30));
    }

    #[test]
    fn month_names_and_lists() {
        assert_eq!(
            next_n("cron(5,35 14 1 JAN,JUL ? *)", at(2026, 11, 25, 0, 0), 3),
            vec![
                at(2027, 1, 1, 14, 5),
                at(2027, 1, 1, 14, 35),
                at(2027, 7, 1, 14, 5)
            ]
        );
    }

    #[test]
    fn default_class_crons_parse() {
        for c in crate::policy::GenClass::ALL {
            Cron::parse(c.default_cron()).unwrap();
        }
    }

    #[test]
    fn invalid_expressions_are_refused() {
        for bad in [
            "cron(0 10 * * *)",      // five fields (Vixie)
            "cron(0 10 * * * *)",    // neither day field is '?'
            "cron(0 10 ? * ? *)",    // both are
            "cron(60 10 * * ? *)",   // minute out of range
            "cron(0 24 * * ? *)",    // hour out of range
            "cron(0 10 32 * ? *)",   // day out of range
            "cron(0 10 ? * 8 *)",    // weekday out of range
            "cron(0 10 ? * 2#6 *)",  // no sixth Monday
            "cron(0 10 * * ? 1969)", // year out of range
            "cron(0 ? * * ? *)",     // '?' in hours
            "cron(0 10 L * ? *",     // unbalanced
            "cron(0 10 * * ? *) x",
            "0 10 * * ? *",
            "rate(0 minutes)",
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(5 weeks)",
            "rate(-5 minutes)",
            "",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn rate_has_no_known_fire_times() {
        let s = Cron::parse("rate(1 day)").unwrap();
        assert!(s.is_rate());
        assert_eq!(s.rate(), Some(Duration::days(1)));
        assert_eq!(
            s.fired_within(Tz::UTC, at(2026, 1, 1, 0, 0), Duration::minutes(15)),
            None
        );
        assert_eq!(
            Cron::parse("rate(5 minutes)").unwrap().rate(),
            Some(Duration::minutes(5))
        );
    }

    #[test]
    fn fired_within_is_inclusive_at_both_ends() {
        let s = Cron::parse("cron(30 9 * * ? *)").unwrap();
        let w = Duration::minutes(15);
        assert_eq!(
            s.fired_within(Tz::UTC, at(2026, 11, 25, 9, 30), w),
            Some(true)
        );
        assert_eq!(
            s.fired_within(Tz::UTC, at(2026, 11, 25, 9, 45), w),
            Some(true)
        );
        assert_eq!(
            s.fired_within(Tz::UTC, at(2026, 11, 25, 9, 45) + Duration::seconds(1), w),
            Some(false)
        );
        assert_eq!(
            s.fired_within(Tz::UTC, at(2026, 11, 25, 9, 29), w),
            Some(false)
        );
    }

    #[test]
    fn fire_times_follow_the_zone_the_schedule_fires_in() {
        // 09:30 in Pago Pago (UTC-11) is 20:30 UTC; 09:31 UTC is 22:31 there the day before.
        let s = Cron::parse("cron(30 9 * * ? *)").unwrap();
        let w = Duration::minutes(15);
        let pago = chrono_tz::Pacific::Pago_Pago;
        assert_eq!(
            s.fired_within(pago, at(2026, 11, 25, 20, 31), w),
            Some(true)
        );
        assert_eq!(
            s.fired_within(pago, at(2026, 11, 25, 9, 31), w),
            Some(false)
        );
        assert_eq!(
            s.fired_within(Tz::UTC, at(2026, 11, 25, 9, 31), w),
            Some(true)
        );
        assert_eq!(
            s.next_fire_in(pago, at(2026, 11, 25, 9, 31)),
            Some(at(2026, 11, 25, 20, 30))
        );
        // Daylight saving: 09:30 in New York is 14:30 UTC in winter, 13:30 in summer.
        let ny = chrono_tz::America::New_York;
        assert_eq!(
            s.next_fire_in(ny, at(2026, 12, 1, 0, 0)),
            Some(at(2026, 12, 1, 14, 30))
        );
        assert_eq!(
            s.next_fire_in(ny, at(2026, 7, 1, 0, 0)),
            Some(at(2026, 7, 1, 13, 30))
        );
    }
}
