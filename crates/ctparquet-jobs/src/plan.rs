//! The units of a job: for every (account, region) found under the source (within the
//! configured allow-lists and the job's own lists), its days grouped into units of consecutive
//! days, so that one run reads each date folder once.
//!
//! A short job (at most [`ctparquet::source::PROBE_DAYS_AT_MOST`] folders) is a unit per trail,
//! planned without listing its folders. A long job lists each trail's years and months to find
//! the date folders that exist, lists those for their sizes, keeps the days whose window (the
//! day and its late-delivery followers) holds a folder, and cuts the consecutive ones into units
//! that read at most the planned bytes: a year's backfill of a quiet region is a unit or two,
//! and no unit asks more of one invocation than its size allows (a day that alone reads more
//! is a unit of its own, reported by [`Plan::oversized`]).

use std::ops::RangeInclusive;

use chrono::NaiveDate;
use ctparquet::counting::RequestCounts;
use ctparquet::source::{self, SourceError, Trail, discover};
use ctparquet::{Location, Scope};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::job::{JobError, Unit};

/// Compressed delivery bytes a planned unit reads at most, by default (unless one day alone
/// reads more). A unit is converted by one Lambda invocation: at the conversion rates in
/// docs/benchmarks.md (~13 MB/s of gzip per core) this is about a third of the Terraform
/// module's default function (2,048 MB, ~1.2 vCPU, 900 s), a margin for slow reads and a cold
/// start, while units stay many enough to spread a backfill over invocations at once.
pub const DEFAULT_UNIT_BYTES: u64 = 4 << 30;

/// Trails planned at once (each is a few listings one after another).
const TRAILS_AT_ONCE: usize = 32;

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

/// A planned job: its units, and what planning found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Ordered by first day, then account, then region.
    pub units: Vec<Unit>,
    /// Trails (account, region) found in the job's accounts and regions.
    pub trails: usize,
    /// Date folders found in the job's folders (long jobs; short ones are not listed).
    pub folders: usize,
    /// Compressed bytes of the delivery files in those folders.
    pub bytes: u64,
    /// The bytes a unit was planned to read at most.
    pub unit_bytes: u64,
}

impl Plan {
    /// The unit that reads the most bytes.
    pub fn largest(&self) -> Option<&Unit> {
        self.units.iter().max_by_key(|u| u.bytes.unwrap_or(0))
    }

    /// Units that read more than [`Plan::unit_bytes`] (one day's folders do).
    pub fn oversized(&self) -> impl Iterator<Item = &Unit> {
        self.units
            .iter()
            .filter(|u| u.bytes.is_some_and(|b| b > self.unit_bytes))
    }
}

impl Plan {
    /// The plan for people: what was found, the units, the largest, those past the unit size,
    /// and the `requests` planning took.
    pub fn describe(&self, scope: &Scope, requests: &RequestCounts) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} .. {}: {} trail(s), {} date folder(s) with {} of delivery files",
            scope.from(),
            scope.to(),
            self.trails,
            self.folders,
            human_bytes(self.bytes)
        );
        let _ = writeln!(
            out,
            "{} unit(s) of consecutive days, each reading at most {}",
            self.units.len(),
            human_bytes(self.unit_bytes)
        );
        if let Some(largest) = self.largest().filter(|u| u.bytes.is_some()) {
            let bytes = human_bytes(largest.bytes.unwrap_or(0));
            let _ = writeln!(out, "largest unit: {largest}, {bytes}");
        }
        let oversized: Vec<String> = self.oversized().map(Unit::to_string).collect();
        if !oversized.is_empty() {
            let _ = writeln!(
                out,
                "{} unit(s) past {} (one day's folders read more): {}{}",
                oversized.len(),
                human_bytes(self.unit_bytes),
                oversized[..oversized.len().min(3)].join(", "),
                if oversized.len() > 3 { ", ..." } else { "" }
            );
        }
        let _ = writeln!(
            out,
            "planning took {} LIST request(s), {} GET",
            requests.list, requests.get
        );
        out
    }
}

/// Bytes in binary units, for people.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The units of `scope` (a job's, see [`crate::Job::scope`]), each reading at most `unit_bytes`
/// of delivery files unless one day alone reads more.
pub async fn plan(source: &Location, scope: &Scope, unit_bytes: u64) -> Result<Plan, PlanError> {
    let mut plan = Plan {
        unit_bytes,
        ..Plan::default()
    };
    if scope.excludes_every_trail() {
        return Ok(plan);
    }
    let found = discover(
        source,
        scope.table.folders,
        scope.accounts.as_deref(),
        scope.regions.as_deref(),
    )
    .await?;
    plan.trails = found.trails.len();
    let (from, to) = scope.folders().into_inner();
    if (to - from).num_days() < source::PROBE_DAYS_AT_MOST as i64 {
        plan.units = found
            .trails
            .iter()
            .map(|t| Unit {
                from: scope.from(),
                to: scope.to(),
                account: t.account.clone(),
                region: t.region.clone(),
                bytes: None,
            })
            .collect();
    } else {
        let trails: Vec<(Vec<Unit>, usize, u64)> = futures::stream::iter(&found.trails)
            .map(|trail| plan_trail(source, scope, trail, unit_bytes))
            .buffer_unordered(TRAILS_AT_ONCE)
            .try_collect()
            .await?;
        for (units, folders, bytes) in trails {
            plan.units.extend(units);
            plan.folders += folders;
            plan.bytes += bytes;
        }
    }
    plan.units
        .sort_by(|a, b| (a.from, &a.account, &a.region).cmp(&(b.from, &b.account, &b.region)));
    Ok(plan)
}

/// One trail's units of a long job, with the folders and bytes it found.
async fn plan_trail(
    source: &Location,
    scope: &Scope,
    trail: &Trail,
    unit_bytes: u64,
) -> Result<(Vec<Unit>, usize, u64), SourceError> {
    let (from, to) = scope.folders().into_inner();
    let dates = source::date_folders(source, trail, from, to).await?;
    let folders: Vec<(NaiveDate, u64)> = futures::stream::iter(dates)
        .map(|date| async move {
            let listing = source::list_folder(source, trail, date).await?;
            Ok::<_, SourceError>((date, listing.files.iter().map(|f| f.size).sum()))
        })
        .buffered(4)
        .try_collect()
        .await?;
    let bytes = folders.iter().map(|(_, b)| b).sum();
    let units = group(scope, &folders, unit_bytes, &trail.account, &trail.region);
    Ok((units, folders.len(), bytes))
}

/// A trail's days of `scope` cut into units: the days whose window holds one of `folders`
/// (sorted, with their bytes), consecutive ones together while the folders they read come to at
/// most `unit_bytes`. Units read their own days' folders and those days' late followers, so
/// neighbouring units share the `lateness_days` folders between them; a unit past `unit_bytes`
/// is one day's, with the days after it that read no other folder.
pub fn group(
    scope: &Scope,
    folders: &[(NaiveDate, u64)],
    unit_bytes: u64,
    account: &str,
    region: &str,
) -> Vec<Unit> {
    let bytes_in = |range: RangeInclusive<NaiveDate>| -> u64 {
        let start = folders.partition_point(|(d, _)| d < range.start());
        folders[start..]
            .iter()
            .take_while(|(d, _)| range.contains(d))
            .map(|(_, b)| b)
            .sum()
    };
    let mut units: Vec<Unit> = Vec::new();
    let mut open: Option<Unit> = None;
    for day in scope.each_day() {
        let window = scope.window(day);
        let start = folders.partition_point(|(d, _)| d < window.start());
        if !folders.get(start).is_some_and(|(d, _)| window.contains(d)) {
            units.extend(open.take());
            continue;
        }
        if let Some(unit) = &mut open {
            // A day that brings no folder the unit does not read already joins it whatever
            // its size: split off, it would read the same folders again.
            let reads = bytes_in(*scope.window(unit.from).start()..=*window.end());
            if reads <= unit_bytes || Some(reads) == unit.bytes {
                unit.to = day;
                unit.bytes = Some(reads);
                continue;
            }
            units.extend(open.take());
        }
        open = Some(Unit {
            from: day,
            to: day,
            account: account.to_owned(),
            region: region.to_owned(),
            bytes: Some(bytes_in(window)),
        });
    }
    units.extend(open);
    units
}

/// The units of an upgrade over `scope`: every day the destination holds in it (its partitions,
/// listed; the source plays no part), a unit per day, ordered as [`plan`]'s.
pub async fn plan_upgrade(dest: &Location, scope: &Scope) -> Result<Vec<Unit>, PlanError> {
    let mut units: Vec<Unit> = ctparquet::inspect::days(dest, scope)
        .await?
        .into_iter()
        .map(|(account, region, date)| Unit::day(date, &account, &region))
        .collect();
    units.sort_by(|a, b| (a.from, &a.account, &a.region).cmp(&(b.from, &b.account, &b.region)));
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn spans(units: &[Unit]) -> Vec<(String, String, u64)> {
        units
            .iter()
            .map(|u| (u.from.to_string(), u.to.to_string(), u.bytes.unwrap()))
            .collect()
    }

    #[test]
    fn consecutive_days_group_until_their_folders_pass_the_unit_bytes() {
        let scope = Scope::days(d("2026-01-01"), d("2026-01-31")).unwrap();
        assert_eq!(scope.lateness_days, 1);
        // Folders on the 1st..5th (100 bytes each), the 10th (700) and the 20th..21st (10).
        let mut folders: Vec<(NaiveDate, u64)> = (1..=5)
            .map(|n| (NaiveDate::from_ymd_opt(2026, 1, n).unwrap(), 100))
            .collect();
        folders.push((d("2026-01-10"), 700));
        folders.push((d("2026-01-20"), 10));
        folders.push((d("2026-01-21"), 10));
        let units = group(&scope, &folders, 300, "111122223333", "eu-west-1");
        let s = |a: &str, b: &str, n| (a.to_string(), b.to_string(), n);
        assert_eq!(
            spans(&units),
            vec![
                // The 1st..2nd read folders 1..3; adding the 3rd would read 1..4 (400).
                s("2026-01-01", "2026-01-02", 300),
                // The 5th's window holds folder 5 only; the 4th reads 4..5; nothing after.
                s("2026-01-03", "2026-01-05", 300),
                // The 9th reads the 10th as its late folder; the 10th adds no folder to it.
                s("2026-01-09", "2026-01-10", 700),
                s("2026-01-19", "2026-01-21", 20),
            ]
        );
        // Every folder is read by a unit, and only by neighbours through lateness.
        let plan = Plan {
            units,
            unit_bytes: 300,
            ..Plan::default()
        };
        assert_eq!(plan.oversized().count(), 1);
        assert_eq!(plan.largest().unwrap().from, d("2026-01-09"));
    }
}
