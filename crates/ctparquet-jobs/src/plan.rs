//! The units of a job: every (account, region) found under the source for each of its days,
//! within the configured allow-lists and the job's own lists. A long job (more days than
//! [`ctparquet::source::PROBE_DAYS_AT_MOST`]) has units only for the days whose folders (the
//! day's and its late-delivery followers) exist, found by listing years and months: a year's
//! backfill of a quiet region is a handful of units, not 365.

use ctparquet::source::{self, SourceError, discover};
use ctparquet::{Location, Scope};

use crate::job::{JobError, Unit};

/// Why a job could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Destination(#[from] ctparquet::inspect::InspectError),
}

/// The units of `scope` (a job's, see [`crate::Job::scope`]), ordered by day, then account, then region.
pub async fn plan(source: &Location, scope: &Scope) -> Result<Vec<Unit>, PlanError> {
    if scope.excludes_every_trail() {
        return Ok(Vec::new());
    }
    let found = discover(
        source,
        scope.table.folders,
        scope.accounts.as_deref(),
        scope.regions.as_deref(),
    )
    .await?;
    let mut units = Vec::with_capacity(scope.day_count() as usize * found.trails.len());
    for trail in &found.trails {
        let folders = source::dates_to_list(source, trail, scope.folders()).await?;
        // Folders are sorted: is there one in the day's window?
        let needed = |day: &chrono::NaiveDate| {
            let window = scope.window(*day);
            let at = folders.partition_point(|f| f < window.start());
            folders.get(at).is_some_and(|f| window.contains(f))
        };
        for date in scope.each_day().filter(needed) {
            units.push(Unit {
                date,
                account: trail.account.clone(),
                region: trail.region.clone(),
            });
        }
    }
    units.sort_by(|a, b| (a.date, &a.account, &a.region).cmp(&(b.date, &b.account, &b.region)));
    Ok(units)
}

/// The units of an upgrade over `scope`: every day the destination holds in it (its partitions,
/// listed; the source plays no part), ordered as [`plan`]'s.
pub async fn plan_upgrade(dest: &Location, scope: &Scope) -> Result<Vec<Unit>, PlanError> {
    let mut units: Vec<Unit> = ctparquet::inspect::days(dest, scope)
        .await?
        .into_iter()
        .map(|(account, region, date)| Unit {
            date,
            account,
            region,
        })
        .collect();
    units.sort_by(|a, b| (a.date, &a.account, &a.region).cmp(&(b.date, &b.account, &b.region)));
    Ok(units)
}
