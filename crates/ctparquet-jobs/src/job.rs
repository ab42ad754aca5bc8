//! The job message: `{"date": "2026-01-05"}` or `{"from": "2026-01-01", "to": "2026-01-31"}`,
//! optionally with `"accounts": [...]`, `"regions": [...]` and (direct invocations) `"fanout"`: a
//! conversion. The same job under `"upgrade"` (`{"upgrade": {"from": ..., "to": ...}}`) upgrades
//! the days the destination holds instead (see [`Task`]).

use chrono::{Days, NaiveDate};
use ctparquet::Scope;
use serde::{Deserialize, Serialize};

/// Work asked for: days, and optionally which accounts and regions (all found otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// One UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// First day of a range (with `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// Last day of a range, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    /// Only these accounts (within the configured allow-list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    /// Only these regions (within the configured allow-list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// `true`: send one queue message per unit; `false`: convert everything here; absent: fan
    /// out only when the job is larger than the inline limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout: Option<bool>,
}

/// Why a job cannot be done.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error(
        "not a job: {0} (expected {{\"date\": \"YYYY-MM-DD\"}} or {{\"from\": ..., \"to\": ...}}, optionally \"accounts\", \"regions\", \"fanout\"; an upgrade is the same under \"upgrade\")"
    )]
    Malformed(String),
    #[error("give either \"date\" or both \"from\" and \"to\"")]
    NoDays,
    #[error("the range starts ({from}) after it ends ({to})")]
    Backwards { from: NaiveDate, to: NaiveDate },
    #[error("the range {from} .. {to} is longer than {max} days; split it")]
    TooLong {
        from: NaiveDate,
        to: NaiveDate,
        max: u64,
    },
}

/// Longest range one job may name (ten years of days).
pub const MAX_DAYS: u64 = 3660;

impl Job {
    /// A job of one day.
    pub fn day(date: NaiveDate) -> Job {
        Job {
            date: Some(date),
            ..Job::default()
        }
    }

    /// A job of the days `from ..= to`.
    pub fn range(from: NaiveDate, to: NaiveDate) -> Job {
        if from == to {
            return Job::day(from);
        }
        Job {
            from: Some(from),
            to: Some(to),
            ..Job::default()
        }
    }

    /// Parse a job from JSON text, naming what is wrong.
    pub fn parse(text: &str) -> Result<Job, JobError> {
        let job: Job =
            serde_json::from_str(text).map_err(|e| JobError::Malformed(e.to_string()))?;
        job.days()?;
        Ok(job)
    }

    /// (first day, last day), inclusive, checked.
    pub fn days(&self) -> Result<(NaiveDate, NaiveDate), JobError> {
        let (from, to) = match (self.date, self.from, self.to) {
            (Some(d), None, None) => (d, d),
            (None, Some(f), Some(t)) => (f, t),
            _ => return Err(JobError::NoDays),
        };
        Scope::days(from, to).map_err(|_| JobError::Backwards { from, to })?;
        if to.signed_duration_since(from).num_days() as u64 >= MAX_DAYS {
            return Err(JobError::TooLong {
                from,
                to,
                max: MAX_DAYS,
            });
        }
        Ok((from, to))
    }

    /// `configured` (the deployment's settings and allow-lists) with the job's days, narrowed to
    /// the accounts and regions it names.
    pub fn scope(&self, configured: &Scope) -> Result<Scope, JobError> {
        let (from, to) = self.days()?;
        let scope = configured
            .with_days(from, to)
            .map_err(|_| JobError::Backwards { from, to })?;
        Ok(scope.narrowed(self.accounts.as_deref(), self.regions.as_deref()))
    }

    /// The days of the job, in order.
    pub fn each_day(&self) -> Result<Vec<NaiveDate>, JobError> {
        let (from, to) = self.days()?;
        Ok(from.iter_days().take_while(|d| *d <= to).collect())
    }

    /// This job with its days split into one job per day (accounts and regions kept).
    pub fn split_days(&self) -> Result<Vec<Job>, JobError> {
        Ok(self
            .each_day()?
            .into_iter()
            .map(|d| Job {
                date: Some(d),
                from: None,
                to: None,
                fanout: None,
                ..self.clone()
            })
            .collect())
    }
}

/// What a queue message or a direct invocation asks for: a conversion job (the job itself), or an
/// upgrade of the days the destination already holds (`{"upgrade": job}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    Convert(Job),
    Upgrade(Job),
}

/// The member that makes a message an upgrade.
const UPGRADE: &str = "upgrade";

impl Task {
    /// Parse a message, naming what is wrong.
    pub fn parse(text: &str) -> Result<Task, JobError> {
        let malformed = |e: serde_json::Error| JobError::Malformed(e.to_string());
        let mut value: serde_json::Value = serde_json::from_str(text).map_err(malformed)?;
        let upgrade = match value.as_object_mut() {
            Some(members) if members.contains_key(UPGRADE) => {
                if members.len() > 1 {
                    return Err(JobError::Malformed(
                        "an upgrade is {\"upgrade\": {...job...}} with nothing beside it".into(),
                    ));
                }
                members.remove(UPGRADE)
            }
            _ => None,
        };
        let is_upgrade = upgrade.is_some();
        let job: Job = serde_json::from_value(upgrade.unwrap_or(value)).map_err(malformed)?;
        job.days()?;
        Ok(if is_upgrade {
            Task::Upgrade(job)
        } else {
            Task::Convert(job)
        })
    }

    pub fn job(&self) -> &Job {
        match self {
            Task::Convert(job) | Task::Upgrade(job) => job,
        }
    }

    /// The same kind of task for exactly one unit (its queue message).
    pub fn for_unit(&self, unit: &Unit) -> Task {
        match self {
            Task::Convert(_) => Task::Convert(unit.job()),
            Task::Upgrade(_) => Task::Upgrade(unit.job()),
        }
    }

    pub fn is_upgrade(&self) -> bool {
        matches!(self, Task::Upgrade(_))
    }
}

impl Serialize for Task {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Task::Convert(job) => job.serialize(serializer),
            Task::Upgrade(job) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(UPGRADE, job)?;
                map.end()
            }
        }
    }
}

/// Consecutive output days of one account and region: the unit of work, of fan-out and of
/// retry. Converted by one run, which reads each of their date folders once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Unit {
    /// First day.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    pub account: String,
    pub region: String,
    /// Compressed bytes of the delivery files the unit reads, as listed when it was planned
    /// (`None`: not sized; short jobs are planned without listing their folders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

impl Unit {
    /// One day of one account and region, not sized.
    pub fn day(date: NaiveDate, account: &str, region: &str) -> Unit {
        Unit {
            from: date,
            to: date,
            account: account.to_owned(),
            region: region.to_owned(),
            bytes: None,
        }
    }

    /// The queue message that converts exactly this unit.
    pub fn job(&self) -> Job {
        Job {
            accounts: Some(vec![self.account.clone()]),
            regions: Some(vec![self.region.clone()]),
            ..Job::range(self.from, self.to)
        }
    }

    /// Its days, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let to = self.to;
        self.from.iter_days().take_while(move |d| *d <= to)
    }

    /// The same account and region from `from` on (what is left after the days before it).
    pub fn from_day(&self, from: NaiveDate) -> Unit {
        Unit {
            from,
            bytes: None,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.account, self.region, self.from)?;
        if self.to != self.from {
            write!(f, "..{}", self.to)?;
        }
        Ok(())
    }
}

/// The days `offset + days - 1 .. offset` before `now`'s UTC day: what a scheduled run converts.
pub fn scheduled_days(
    now: chrono::DateTime<chrono::Utc>,
    offset_days: u32,
    days: u32,
) -> Option<(NaiveDate, NaiveDate)> {
    let last = now
        .date_naive()
        .checked_sub_days(Days::new(offset_days.into()))?;
    let first = last.checked_sub_days(Days::new(days.saturating_sub(1).into()))?;
    Some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn jobs_parse_and_explain_what_is_wrong() {
        assert_eq!(
            Job::parse(r#"{"date":"2026-01-05"}"#).unwrap(),
            Job::day(d("2026-01-05"))
        );
        let job =
            Job::parse(r#"{"from":"2026-01-01","to":"2026-01-03","accounts":["111122223333"]}"#)
                .unwrap();
        assert_eq!(job.each_day().unwrap().len(), 3);
        assert_eq!(job.split_days().unwrap()[2].date, Some(d("2026-01-03")));
        assert_eq!(
            job.split_days().unwrap()[2].accounts,
            Some(vec!["111122223333".into()])
        );
        assert!(matches!(
            Job::parse(r#"{"day":"2026-01-05"}"#),
            Err(JobError::Malformed(m)) if m.contains("unknown field `day`")
        ));
        assert!(matches!(
            Job::parse(r#"{"date":"2026-13-05"}"#),
            Err(JobError::Malformed(_))
        ));
        assert_eq!(
            Job::parse(r#"{"from":"2026-01-05"}"#),
            Err(JobError::NoDays)
        );
        assert!(matches!(
            Job::parse(r#"{"from":"2026-01-05","to":"2026-01-01"}"#),
            Err(JobError::Backwards { .. })
        ));
        assert!(matches!(
            Job::parse(r#"{"from":"2000-01-01","to":"2026-01-01"}"#),
            Err(JobError::TooLong { .. })
        ));
        assert!(matches!(
            Job::parse("not json"),
            Err(JobError::Malformed(_))
        ));
    }

    #[test]
    fn a_unit_round_trips_through_its_message() {
        let unit = Unit::day(d("2026-01-05"), "111122223333", "eu-west-1");
        let text = serde_json::to_string(&unit.job()).unwrap();
        assert_eq!(
            text,
            r#"{"date":"2026-01-05","accounts":["111122223333"],"regions":["eu-west-1"]}"#
        );
        assert_eq!(Job::parse(&text).unwrap(), unit.job());
        let days = Unit {
            to: d("2026-01-09"),
            ..unit
        };
        let text = serde_json::to_string(&days.job()).unwrap();
        assert_eq!(
            text,
            r#"{"from":"2026-01-05","to":"2026-01-09","accounts":["111122223333"],"regions":["eu-west-1"]}"#
        );
        assert_eq!(Job::parse(&text).unwrap().each_day().unwrap().len(), 5);
        assert_eq!(
            days.to_string(),
            "111122223333 eu-west-1 2026-01-05..2026-01-09"
        );
        assert_eq!(days.from_day(d("2026-01-08")).days().count(), 2);
    }

    #[test]
    fn an_upgrade_is_a_job_under_upgrade_and_round_trips() {
        let unit = Unit::day(d("2026-01-05"), "111122223333", "eu-west-1");
        let task = Task::Upgrade(Job::range(d("2026-01-01"), d("2026-01-31"))).for_unit(&unit);
        let text = serde_json::to_string(&task).unwrap();
        assert_eq!(
            text,
            r#"{"upgrade":{"date":"2026-01-05","accounts":["111122223333"],"regions":["eu-west-1"]}}"#
        );
        assert_eq!(Task::parse(&text).unwrap(), task);
        let convert = Task::parse(r#"{"date":"2026-01-05"}"#).unwrap();
        assert_eq!(convert, Task::Convert(Job::day(d("2026-01-05"))));
        assert_eq!(
            serde_json::to_string(&convert).unwrap(),
            r#"{"date":"2026-01-05"}"#
        );
        // The inner job is checked as any job, and nothing may stand beside it.
        assert_eq!(
            Task::parse(r#"{"upgrade":{"from":"2026-01-05"}}"#),
            Err(JobError::NoDays)
        );
        assert!(matches!(
            Task::parse(r#"{"upgrade":{"date":"2026-01-05"},"date":"2026-01-05"}"#),
            Err(JobError::Malformed(m)) if m.contains("nothing beside it")
        ));
    }

    #[test]
    fn scheduled_days_count_back_from_the_event_time() {
        let now = "2026-03-01T01:05:00Z".parse().unwrap();
        assert_eq!(
            scheduled_days(now, 1, 1),
            Some((d("2026-02-28"), d("2026-02-28")))
        );
        assert_eq!(
            scheduled_days(now, 1, 2),
            Some((d("2026-02-27"), d("2026-02-28")))
        );
        assert_eq!(
            scheduled_days(now, 0, 1),
            Some((d("2026-03-01"), d("2026-03-01")))
        );
    }
}
