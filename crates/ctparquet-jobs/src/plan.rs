//! The units of a job: every (account, region) found under the source for each of its days,
//! within the configured allow-lists and the job's own lists. A long job (more days than
//! [`ctparquet::source::PROBE_DAYS_AT_MOST`]) has units only for the days whose folders (the
//! day's and its late-delivery followers) exist, found by listing years and months: a year's
//! backfill of a quiet region is a handful of units, not 365.

use ctparquet::Location;
use ctparquet::source::{self, SourceError, discover};
use ctparquet_config::ScopeArgs;

use crate::job::{Job, JobError, Unit};

/// Why a job could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Both lists apply: a name must be in each one given.
fn narrow(configured: Option<Vec<String>>, asked: Option<&[String]>) -> Option<Vec<String>> {
    match (configured, asked) {
        (None, None) => None,
        (Some(c), None) => Some(c),
        (None, Some(a)) => Some(a.to_vec()),
        (Some(c), Some(a)) => Some(a.iter().filter(|x| c.contains(x)).cloned().collect()),
    }
}

/// The units of `job`, ordered by day, then account, then region.
pub async fn plan(source: &Location, job: &Job, scope: &ScopeArgs) -> Result<Vec<Unit>, PlanError> {
    let days = job.each_day()?;
    let accounts = narrow(scope.accounts(), job.accounts.as_deref());
    let regions = narrow(scope.regions(), job.regions.as_deref());
    if accounts.as_ref().is_some_and(Vec::is_empty) || regions.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let found = discover(
        source,
        scope.table.table().folders,
        accounts.as_deref(),
        regions.as_deref(),
    )
    .await?;
    let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    let lateness = chrono::Days::new(scope.lateness_days.into());
    let last_folder = last.checked_add_days(lateness).unwrap_or(last);
    let mut units = Vec::with_capacity(days.len() * found.trails.len());
    for trail in &found.trails {
        let folders = source::dates_to_list(source, trail, first, last_folder).await?;
        let needed = |day: &chrono::NaiveDate| {
            let window_end = day.checked_add_days(lateness).unwrap_or(*day);
            // Folders are sorted: is there one in day ..= day + lateness?
            let at = folders.partition_point(|f| f < day);
            folders.get(at).is_some_and(|f| *f <= window_end)
        };
        for date in days.iter().filter(|d| needed(d)) {
            units.push(Unit {
                date: *date,
                account: trail.account.clone(),
                region: trail.region.clone(),
            });
        }
    }
    units.sort_by(|a, b| (a.date, &a.account, &a.region).cmp(&(b.date, &b.account, &b.region)));
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_narrow_what_a_job_asks_for() {
        let c = Some(vec!["a".to_string(), "b".to_string()]);
        let asked = ["b".to_string(), "z".to_string()];
        assert_eq!(narrow(c.clone(), Some(&asked)), Some(vec!["b".to_string()]));
        assert_eq!(narrow(c.clone(), None), c);
        assert_eq!(narrow(None, Some(&asked)), Some(asked.to_vec()));
        assert_eq!(narrow(None, None), None);
    }
}
