//! Units converted one after another, each consecutive days of one account and region, within a
//! deadline.
//!
//! A unit only starts if the deadline (the invocation's end minus a margin) has not passed, and
//! the conversion itself stops before reading further or writing once it passes
//! ([`ctparquet::ConvertOptions::deadline`]), so a day is never cut off mid-write: what is not
//! finished (a unit from its first day not finished) is handed back in [`Outcome::left`] for the
//! caller to re-enqueue. Against a deadline a unit's conversion is resumable: the days it has
//! open are saved under the destination and resumed by the run of what was handed back.

use std::time::Instant;

use ctparquet::upgrade::{DayOutcome, UpgradeOptions};
use ctparquet::{ConvertError, ConvertOptions, Location, NoProgress, Summary};
use serde::Serialize;

use crate::job::Unit;

/// What the runs added up to (the numbers of the metrics).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Totals {
    pub files_read: u64,
    pub bytes_read: u64,
    pub events_read: u64,
    pub events_written: u64,
    pub late_events_moved: u64,
    pub duplicates_dropped: u64,
    pub bad_files: u64,
    pub bytes_written: u64,
    pub days_written: u64,
    /// Days kept as they were: their source brings fewer events than the destination holds.
    pub days_kept: u64,
}

impl std::ops::AddAssign<&Totals> for Totals {
    fn add_assign(&mut self, t: &Totals) {
        self.files_read += t.files_read;
        self.bytes_read += t.bytes_read;
        self.events_read += t.events_read;
        self.events_written += t.events_written;
        self.late_events_moved += t.late_events_moved;
        self.duplicates_dropped += t.duplicates_dropped;
        self.bad_files += t.bad_files;
        self.bytes_written += t.bytes_written;
        self.days_written += t.days_written;
        self.days_kept += t.days_kept;
    }
}

impl From<&Summary> for Totals {
    fn from(s: &Summary) -> Totals {
        Totals {
            files_read: s.source_files_read,
            bytes_read: s.source_bytes_read,
            events_read: s.events_read,
            events_written: s.events_written,
            late_events_moved: s.events_moved,
            duplicates_dropped: s.duplicates_dropped,
            bad_files: s.bad_files.len() as u64,
            bytes_written: s.bytes_written,
            days_written: s.days.len() as u64,
            days_kept: s.kept_days.len() as u64,
        }
    }
}

/// A unit that could not be converted, and why (its earlier output, if any, is untouched).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    pub unit: Unit,
    pub error: String,
}

/// What became of the units given to [`Runner::run`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Converted or upgraded (their days published).
    pub done: Vec<Unit>,
    /// Upgrades only: days already in the current schema and form, left alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub current: Vec<Unit>,
    pub failed: Vec<Failure>,
    /// Not started, or stopped at the deadline before writing: to be re-enqueued.
    pub left: Vec<Unit>,
    pub totals: Totals,
}

/// What is done to each unit.
#[derive(Debug, Clone, Copy)]
enum Work {
    Convert,
    Upgrade,
}

/// Converts units from one source into one destination with the configured settings.
pub struct Runner<'a> {
    pub source: &'a Location,
    pub dest: &'a Location,
    /// The settings of every unit; its scope's days, accounts and regions are the unit's.
    pub options: &'a ConvertOptions,
    /// No unit starts, and no day is written, after this.
    pub deadline: Option<Instant>,
}

impl Runner<'_> {
    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Convert `units` in order until done or out of time.
    pub async fn run(&self, units: Vec<Unit>) -> Outcome {
        self.each_in_time(units, Work::Convert).await
    }

    /// Upgrade the days of `units` in place (see [`ctparquet::upgrade`]) in order, until done or
    /// out of time. A day is not cut off: the deadline is checked before each, and one day's
    /// upgrade is a rewrite of one day's files.
    pub async fn upgrade(&self, units: Vec<Unit>) -> Outcome {
        self.each_in_time(units, Work::Upgrade).await
    }

    /// Units in order; those not started by the deadline are left to be handed back.
    async fn each_in_time(&self, units: Vec<Unit>, work: Work) -> Outcome {
        let mut outcome = Outcome::default();
        let mut units = units.into_iter();
        while let Some(unit) = units.next() {
            if self.out_of_time() {
                outcome.left.push(unit);
                outcome.left.extend(units.by_ref());
                break;
            }
            match work {
                Work::Convert => self.convert_unit(unit, &mut outcome).await,
                Work::Upgrade => self.upgrade_unit(unit, &mut outcome).await,
            }
        }
        outcome
    }

    async fn convert_unit(&self, unit: Unit, outcome: &mut Outcome) {
        match self.run_one(&unit).await {
            Ok(summary) => {
                outcome.totals += &Totals::from(&summary);
                let resume_from = summary.resume_from.as_deref().and_then(|d| d.parse().ok());
                let failed = summary.failed_days.first();
                if let Some(failed) = failed {
                    outcome.failed.push(Failure {
                        unit: unit.clone(),
                        error: failed.reason.clone(),
                    });
                }
                if let Some(from) = resume_from {
                    // Saved at the deadline: the run of the rest resumes it.
                    tracing::warn!(%unit, %from, events_saved = summary.events_saved, "out of time: saved, the rest handed back");
                    outcome.left.push(unit.from_day(from));
                } else if failed.is_none() {
                    tracing::info!(
                        %unit,
                        events = summary.events_written,
                        files = summary.source_files_read,
                        "unit converted"
                    );
                    outcome.done.push(unit);
                }
            }
            Err(ConvertError::Deadline(_)) => {
                // Only a run that is not resumable stops so (a scope of several trails, which
                // a unit is not): nothing of the day being converted was written.
                tracing::warn!(%unit, "out of time before the unit was written; handed back");
                outcome.left.push(unit);
            }
            Err(error) => {
                tracing::error!(%unit, %error, "conversion failed");
                outcome.failed.push(Failure {
                    unit,
                    error: error.to_string(),
                });
            }
        }
    }

    async fn upgrade_unit(&self, unit: Unit, outcome: &mut Outcome) {
        let mut opts = UpgradeOptions::following(self.options);
        opts.scope = opts
            .scope
            .unit(unit.from, unit.to, &unit.account, &unit.region);
        let report = match ctparquet::upgrade::upgrade(self.dest, &opts).await {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(%unit, %error, "upgrade failed");
                outcome.failed.push(Failure {
                    unit,
                    error: error.to_string(),
                });
                return;
            }
        };
        outcome.totals.events_written += report.events_upgraded;
        // An upgrade's units are one day of one account and region (see `plan_upgrade`).
        match report.days.first() {
            Some(day) if day.outcome == DayOutcome::Upgraded => {
                tracing::info!(%unit, events = day.events, "day upgraded");
                outcome.totals.days_written += 1;
                outcome.done.push(unit);
            }
            Some(day) if day.outcome != DayOutcome::Current => {
                let what = match day.outcome {
                    DayOutcome::Refused => "refused",
                    DayOutcome::Differs => "not replaced, the rewrite differs",
                    _ => "busy",
                };
                let reason = day.reason.as_deref().unwrap_or("");
                tracing::error!(%unit, what, reason, "day not upgraded");
                outcome.failed.push(Failure {
                    unit,
                    error: format!("{what}: {reason}"),
                });
            }
            // Current, or no longer there.
            _ => outcome.current.push(unit),
        }
    }

    async fn run_one(&self, unit: &Unit) -> Result<Summary, ConvertError> {
        let mut opts = self.options.clone();
        opts.scope = opts
            .scope
            .unit(unit.from, unit.to, &unit.account, &unit.region);
        opts.deadline = self.deadline;
        // Against a deadline, a unit's open days are saved rather than lost: a day larger than
        // one invocation converts over several.
        opts.resumable = self.deadline.is_some();
        ctparquet::convert(self.source, self.dest, &opts, &NoProgress).await
    }
}
