//! The last stages of a day: its spilled runs and rows merged and encoded (`encode`), then
//! published under its lease (`crate::publish`), and what became of it reported.

use std::time::Instant;

use chrono::NaiveDate;

use super::encode::{Merged, sort_and_encode};
use super::open_day::OpenDay;
use super::{Conversion, ConvertError};
use crate::layout::{self, iso_date};
use crate::publish::{Publication, PublishOptions, publish};
use crate::sink;
use crate::source::Trail;
use crate::summary::{ConflictingDuplicate, DayReport, FailCause, FailedDay, KeptDay};

impl Conversion<'_> {
    /// Encode a day whose folders have all been read and publish it, or report why not.
    pub(super) async fn finish_day(
        &mut self,
        trail: &Trail,
        date: NaiveDate,
        mut day: OpenDay,
    ) -> Result<(), ConvertError> {
        // No event, and nothing in DEST to replace or keep: nothing to publish.
        if day.events == 0
            && day.failed.is_none()
            && self
                .dest_days
                .as_ref()
                .is_some_and(|held| !held.contains(&date))
        {
            return Ok(());
        }
        day.settle_spill(self.memory.trim_above()).await?;
        // A day that spilled merges a batch of every run beside the rows still in memory: past
        // the budget, those rows become a run too, so the merge holds little more than a batch
        // per run.
        if day.buffer.spilled_runs() > 0
            && !self.memory.merge_fits(day.buffer.merge_memory())
            && let Some(spilling) = day.start_spill(self.work.path(), usize::MAX)
        {
            self.summary.count_spill(spilling);
            day.settle_spill(self.memory.trim_above()).await?;
        }
        let label = format!("{} {} {}", trail.account, trail.region, iso_date(date));
        if let Some(reason) = day.failed {
            self.summary.failed_days.push(FailedDay {
                account: trail.account.clone(),
                region: trail.region.clone(),
                date: iso_date(date),
                reason,
                cause: FailCause::BadInput,
                events_not_written: day.events,
            });
            return Ok(());
        }
        let partition =
            layout::partition_dir(&self.dest.prefix, &trail.account, &trail.region, date);
        let sink_err = |source| ConvertError::Sink {
            day: label.clone(),
            source,
        };
        // A resumable run decided before taking the day out of those it would save.
        if !self.resumable {
            self.check_deadline(trail)?;
        }
        let (parts, merged, _staging) = if day.buffer.rows() == 0 {
            (Vec::new(), Merged::default(), None)
        } else {
            let staging = tempfile::Builder::new()
                .prefix("day-")
                .tempdir_in(self.work.path())?;
            let staging_path = staging.path().to_path_buf();
            let props = self.props.clone();
            let table = self.opts.scope.table;
            let target = self.opts.parquet.target_file_bytes;
            let json_columns = self.opts.parquet.json_columns;
            let chunk_rows = self.opts.parquet.row_group_rows.min(8192);
            let threads = self.cores;
            let trim_above = self.memory.trim_above();
            let ahead_bytes = self.memory.merge_ahead_bytes();
            let buffer = day.buffer;
            let encoding = Instant::now();
            let (parts, merged) = tokio::task::spawn_blocking(move || {
                sort_and_encode(buffer, chunk_rows, trim_above, ahead_bytes, |sorted| {
                    sink::encode_day(
                        table,
                        sorted,
                        &staging_path,
                        &props,
                        target,
                        json_columns,
                        threads,
                    )
                })
            })
            .await
            .map_err(|e| ConvertError::Task(e.to_string()))?
            .map_err(sink_err)?;
            tracing::debug!(day = %label, seconds = encoding.elapsed().as_secs_f64(), "sorted and encoded");
            (parts, merged, Some(staging))
        };
        // With --allow-shrink an empty day clears what an earlier run wrote for it; without,
        // a day with fewer rows than the destination holds is kept (see publish::publish).
        let events: u64 = parts.iter().map(|p| p.rows).sum();
        let publish_opts = PublishOptions {
            allow_shrink: self.opts.allow_shrink,
            lock_wait: self.opts.lock_wait,
            only_replacing: None,
        };
        let published = match publish(self.dest, &partition, &parts, publish_opts)
            .await
            .map_err(sink_err)?
        {
            Publication::Published(published) => published,
            Publication::Locked { holder } => {
                tracing::warn!(day = %label, %holder, "not written: another run holds the day");
                self.summary.failed_days.push(FailedDay {
                    account: trail.account.clone(),
                    region: trail.region.clone(),
                    date: iso_date(date),
                    reason: holder,
                    cause: FailCause::Busy,
                    events_not_written: day.events,
                });
                return Ok(());
            }
            Publication::Changed => unreachable!("published without only_replacing"),
            Publication::Kept { existing } => {
                tracing::warn!(day = %label, existing, new = events, "kept: the source brings fewer events than the destination holds");
                self.summary.kept_days.push(KeptDay {
                    account: trail.account.clone(),
                    region: trail.region.clone(),
                    date: iso_date(date),
                    events_kept: existing,
                    events_in_source: events,
                });
                return Ok(());
            }
        };
        if parts.is_empty() && published.removed == 0 {
            return Ok(());
        }
        let bytes = published.bytes;
        let report = DayReport {
            account: trail.account.clone(),
            region: trail.region.clone(),
            date: iso_date(date),
            events,
            duplicates: merged.duplicates,
            files: parts.len() as u64,
            bytes,
        };
        self.summary.events_written += events;
        self.summary.duplicates_dropped += merged.duplicates;
        self.summary.conflicting_duplicates += merged.conflicting;
        for conflict in merged.conflicts {
            let file = |seq: u64| {
                self.files_read.get((seq >> 32) as usize).map_or_else(
                    || format!("file #{}", seq >> 32),
                    |p| self.source.describe(p),
                )
            };
            tracing::warn!(day = %label, event_id = %conflict.event_id, "records share an eventID and eventTime but differ: both written");
            self.summary.conflicts.push(ConflictingDuplicate {
                account: trail.account.clone(),
                region: trail.region.clone(),
                date: iso_date(date),
                files: [file(conflict.seqs[0]), file(conflict.seqs[1])],
                event_id: conflict.event_id,
            });
        }
        self.summary.bytes_written += bytes;
        self.progress.day_written(&report);
        self.summary.days.push(report);
        Ok(())
    }
}
