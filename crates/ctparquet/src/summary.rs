//! What a conversion did, for people (`Display`) and scripts (JSON).

use std::fmt;

use serde::Serialize;

/// One output day written.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayReport {
    pub account: String,
    pub region: String,
    pub date: String,
    pub events: u64,
    pub duplicates: u64,
    pub files: u64,
    pub bytes: u64,
}

/// A day that was not written, and why. Its earlier output, if any, is untouched.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedDay {
    pub account: String,
    pub region: String,
    pub date: String,
    pub reason: String,
    pub cause: FailCause,
    /// Events read for this day and not written because it failed.
    pub events_not_written: u64,
}

/// Why a day was not written.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FailCause {
    /// A delivery file it may hold events of is not a readable CloudTrail log.
    BadInput,
    /// Another run was writing the day (it held the day's lease) for longer than `--lock-wait`.
    Busy,
}

impl Summary {
    /// Did a day fail because of bad input files (and not only for other reasons)?
    pub fn failed_on_bad_input(&self) -> bool {
        self.failed_days
            .iter()
            .any(|d| d.cause == FailCause::BadInput)
    }
}

/// A day kept as it was in the destination: its source now brings fewer events than its Parquet
/// holds (the source JSON expired, or part of it was deleted). `--allow-shrink` replaces it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeptDay {
    pub account: String,
    pub region: String,
    pub date: String,
    /// Rows of the day in the destination, kept.
    pub events_kept: u64,
    /// Events the source brought for the day (after duplicates), not written.
    pub events_in_source: u64,
}

/// Two records with the same eventID and eventTime but different content, both written: a
/// re-delivery is identical, so one of them was changed or injected.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConflictingDuplicate {
    pub account: String,
    pub region: String,
    pub date: String,
    pub event_id: String,
    /// The delivery files of the first record kept with that id and of the one that differs.
    pub files: [String; 2],
}

/// A delivery file that could not be read as a CloudTrail log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BadFile {
    pub file: String,
    pub error: String,
}

/// Events found in the folders read that this run did not write: their day was not requested, or
/// they were delivered later than `--lateness-days` after it. Converting that day (with enough
/// lateness) places them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutsideDay {
    pub account: String,
    pub region: String,
    pub date: String,
    pub events: u64,
    pub reason: OutsideReason,
    /// For events delivered beyond the lateness window: the `--lateness-days` that would place
    /// every one of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lateness_needed: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum OutsideReason {
    /// The day is not in the range converted.
    DayNotRequested,
    /// Delivered later than `--lateness-days` after their day: converting their day with a
    /// larger lateness places them.
    BeyondLateness,
    /// Delivered in a date folder before their eventTime's day (clock skew): no run of their day
    /// reads that folder, so they are only reported.
    DeliveredBeforeEventTime,
}

/// Totals and details of a conversion.
///
/// Every event read is accounted for:
/// `events_read + events_resumed == events_written + duplicates_dropped +
/// sum(outside_range.events) + sum(failed_days.events_not_written) + events_saved`. Events in
/// bad files are not read (see `bad_files`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Things the user should know that did not stop the run (allow-list entries that match
    /// nothing, ...).
    pub warnings: Vec<String>,
    pub source_files_read: u64,
    pub source_bytes_read: u64,
    pub events_read: u64,
    pub events_written: u64,
    /// Events written to a day other than the date folder they were delivered in.
    pub events_moved: u64,
    pub duplicates_dropped: u64,
    /// Records sharing an eventID and eventTime with another but not its content: all written.
    pub conflicting_duplicates: u64,
    /// Those conflicts, the first few of each day, with the files they came from.
    pub conflicts: Vec<ConflictingDuplicate>,
    /// Events holding a lone surrogate escape (`"\ud800"`), which strict JSON readers refuse:
    /// written with U+FFFD in its place, the exact text kept in `unmapped` (`ctparquet:raw`).
    pub lone_surrogate_events: u64,
    /// Events without a usable eventTime, written to their delivery folder's day (the original
    /// value is kept in `unmapped`).
    pub undated_events: u64,
    /// Objects in date folders that are not log files (skipped).
    pub ignored_objects: u64,
    /// Local entries named like log files that are not regular files (FIFOs, sockets, devices,
    /// broken links): skipped without being opened.
    pub not_regular_files: Vec<String>,
    /// Folders under the accounts that hold no records of this table (digests, other tables,
    /// other services' files), skipped without being read.
    pub skipped_folders: Vec<String>,
    pub bad_files: Vec<BadFile>,
    pub days: Vec<DayReport>,
    pub failed_days: Vec<FailedDay>,
    /// Days not replaced because the source brings fewer events than the destination holds.
    pub kept_days: Vec<KeptDay>,
    pub outside_range: Vec<OutsideDay>,
    /// Sorted runs written to disk because the memory budget was reached.
    pub spilled_runs: u64,
    /// Bytes of rows written to those runs.
    pub spilled_bytes: u64,
    /// Most bytes of rows held in memory at once (checked against `--memory-budget` after every
    /// chunk of decoded files: it exceeds the budget by at most one chunk before spilling).
    pub peak_held_bytes: u64,
    pub bytes_written: u64,
    /// A resumable run stopped at its deadline: the first day not finished, from which a run of
    /// the same trail resumes (see [`crate::ConvertOptions::resumable`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_from: Option<String>,
    /// Events of the days left open, saved with them to be written by the run that resumes.
    pub events_saved: u64,
    /// Events of the days this run resumed (read by an earlier run).
    pub events_resumed: u64,
    pub seconds: f64,
    pub events_per_second: f64,
}

impl Summary {
    /// Did every requested day get written?
    pub fn succeeded(&self) -> bool {
        self.failed_days.is_empty()
    }

    /// The accounting identity above, checked.
    pub fn accounted_for(&self) -> bool {
        self.events_read + self.events_resumed
            == self.events_saved
                + self.events_written
                + self.duplicates_dropped
                + self.outside_range.iter().map(|d| d.events).sum::<u64>()
                + self
                    .failed_days
                    .iter()
                    .map(|d| d.events_not_written)
                    .sum::<u64>()
    }

    /// Count a sorted run of `bytes` of rows spilled to disk.
    pub fn count_spill(&mut self, bytes: usize) {
        self.spilled_runs += 1;
        self.spilled_bytes += bytes as u64;
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "source files read   {:>12}  ({})",
            self.source_files_read,
            mib(self.source_bytes_read)
        )?;
        writeln!(f, "events read         {:>12}", self.events_read)?;
        writeln!(
            f,
            "events written      {:>12}  ({})",
            self.events_written,
            mib(self.bytes_written)
        )?;
        writeln!(f, "moved to true day   {:>12}", self.events_moved)?;
        writeln!(f, "duplicates dropped  {:>12}", self.duplicates_dropped)?;
        if self.conflicting_duplicates > 0 {
            writeln!(
                f,
                "conflicting dups    {:>12}  (same eventID and eventTime, other content: all written)",
                self.conflicting_duplicates
            )?;
        }
        if self.lone_surrogate_events > 0 {
            writeln!(
                f,
                "lone surrogates     {:>12}  (shown as U+FFFD; exact text in unmapped's ctparquet:raw)",
                self.lone_surrogate_events
            )?;
        }
        if self.undated_events > 0 {
            writeln!(
                f,
                "without eventTime   {:>12}  (written to their delivery day)",
                self.undated_events
            )?;
        }
        if self.ignored_objects > 0 {
            writeln!(
                f,
                "non-log objects     {:>12}  (skipped)",
                self.ignored_objects
            )?;
        }
        if !self.not_regular_files.is_empty() {
            writeln!(
                f,
                "not regular files   {:>12}  (skipped, never opened: {})",
                self.not_regular_files.len(),
                self.not_regular_files.join(", ")
            )?;
        }
        writeln!(f, "bad files           {:>12}", self.bad_files.len())?;
        if !self.skipped_folders.is_empty() {
            writeln!(
                f,
                "folders not read    {:>12}  ({})",
                self.skipped_folders.len(),
                self.skipped_folders.join(", ")
            )?;
        }
        if self.spilled_runs > 0 {
            writeln!(f, "spilled runs        {:>12}", self.spilled_runs)?;
            writeln!(f, "rows spilled        {:>12}", mib(self.spilled_bytes))?;
            writeln!(f, "peak rows in memory {:>12}", mib(self.peak_held_bytes))?;
        }
        writeln!(
            f,
            "time                {:>12.2} s  ({:.0} events/s)",
            self.seconds, self.events_per_second
        )?;
        if !self.days.is_empty() {
            writeln!(f, "\ndays written:")?;
            for d in &self.days {
                writeln!(
                    f,
                    "  {} {:<15} {}  {:>10} events  {:>6} dups  {} file(s)  {}",
                    d.account,
                    d.region,
                    d.date,
                    d.events,
                    d.duplicates,
                    d.files,
                    mib(d.bytes)
                )?;
            }
        }
        if !self.failed_days.is_empty() {
            writeln!(f, "\ndays NOT written (earlier output left as it was):")?;
            for d in &self.failed_days {
                writeln!(
                    f,
                    "  {} {:<15} {}  {}",
                    d.account, d.region, d.date, d.reason
                )?;
            }
        }
        if !self.kept_days.is_empty() {
            writeln!(
                f,
                "\ndays kept as they were (the source brings fewer events than the destination holds: \
                 expired or partly deleted JSON?; --allow-shrink replaces them):"
            )?;
            for d in &self.kept_days {
                writeln!(
                    f,
                    "  {} {:<15} {}  {:>10} events kept, {} in the source",
                    d.account, d.region, d.date, d.events_kept, d.events_in_source
                )?;
            }
        }
        if !self.conflicts.is_empty() {
            writeln!(
                f,
                "\nrecords sharing an eventID and eventTime with different content (both written; \
                 a re-delivery is identical, so one was changed or injected):"
            )?;
            for c in &self.conflicts {
                writeln!(
                    f,
                    "  {} {:<15} {}  {}  in {} and {}",
                    c.account, c.region, c.date, c.event_id, c.files[0], c.files[1]
                )?;
            }
        }
        if !self.bad_files.is_empty() {
            writeln!(f, "\nbad files:")?;
            for b in &self.bad_files {
                writeln!(f, "  {}: {}", b.file, b.error)?;
            }
        }
        // Three kinds of events not written, each with what to do about it. Events of other
        // days seen in a folder read for late events are no loss: their own day's run takes them.
        let groups = [
            (
                OutsideReason::DayNotRequested,
                "events of days not converted (seen in folders read for late events; \
                 converting those days writes them):",
            ),
            (
                OutsideReason::BeyondLateness,
                "events delivered later than --lateness-days after their day (not written; \
                 convert their day again with the lateness shown):",
            ),
            (
                OutsideReason::DeliveredBeforeEventTime,
                "events in a folder dated before their eventTime (clock skew; not written by \
                 any run, only reported):",
            ),
        ];
        for (reason, heading) in groups {
            let mut rows = self.outside_range.iter().filter(|d| d.reason == reason);
            let Some(first) = rows.next() else { continue };
            writeln!(f, "\n{heading}")?;
            for d in std::iter::once(first).chain(rows) {
                let hint = d
                    .lateness_needed
                    .map(|n| format!("  (--lateness-days {n})"))
                    .unwrap_or_default();
                writeln!(
                    f,
                    "  {} {:<15} {}  {:>10} events{hint}",
                    d.account, d.region, d.date, d.events
                )?;
            }
        }
        let lost: u64 = self
            .outside_range
            .iter()
            .filter(|d| d.reason != OutsideReason::DayNotRequested)
            .map(|d| d.events)
            .sum::<u64>()
            + self
                .failed_days
                .iter()
                .map(|d| d.events_not_written)
                .sum::<u64>();
        if lost == 0 && self.bad_files.is_empty() {
            writeln!(
                f,
                "\nevery event of the days converted was written (or dropped as a duplicate)"
            )?;
        }
        Ok(())
    }
}
