//! The last stages of a day: its spilled runs and rows merged and encoded (`encode`), then
//! published under its lease (`crate::publish`), and what became of it reported.

use std::time::Instant;

use chrono::NaiveDate;

use super::encode::{Merged, sort_and_encode};
use super::open_day::OpenDay;
use super::{Conversion, ConvertError};
use crate::layout::{self, iso_date};
use crate::publish::{Publication, PublishOptions, publish};
use crate::sink::{self, SinkError};
use crate::source::Trail;
use crate::summary::{ConflictingDuplicate, DayReport, FailCause, FailedDay, KeptDay};

impl Conversion<'_> {
    /// Start encoding a day whose folders have all been read, on threads of its own, and
    /// publish the day encoded before it (one day encodes at a time: days are published in
    /// order, and the rows of two do not wait in memory). The day is published by the next call
    /// or by [`Conversion::publish_encoded`]; one with nothing to encode is published now.
    pub(super) async fn finish_day(
        &mut self,
        trail: &Trail,
        date: NaiveDate,
        mut day: OpenDay,
    ) -> Result<(), ConvertError> {
        self.publish_encoded().await?;
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
        // A resumable run decided before taking the day out of those it would save.
        if !self.resumable {
            self.check_deadline(trail)?;
        }
        let events = day.events;
        if day.buffer.rows() == 0 {
            return self
                .publish_day(trail, date, events, Vec::new(), Merged::default())
                .await;
        }
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
        let memory = day.buffer.memory();
        let buffer = day.buffer;
        let label = day_label(trail, date);
        let (done, result) = tokio::sync::oneshot::channel();
        // A thread of its own, not one of the runtime's blocking pool: that pool is sized to the
        // cores for decoding the next folder, which goes on meanwhile.
        std::thread::Builder::new()
            .name("encode-day".into())
            .spawn(move || {
                let encoding = Instant::now();
                let encoded =
                    sort_and_encode(buffer, chunk_rows, threads, trim_above, ahead_bytes, |sorted| {
                        sink::encode_day(
                            table,
                            sorted,
                            &staging_path,
                            &props,
                            target,
                            json_columns,
                            threads,
                        )
                    });
                tracing::debug!(day = %label, seconds = encoding.elapsed().as_secs_f64(), "sorted and encoded");
                // The conversion may have stopped waiting (on an error of its own).
                let _ = done.send(encoded);
            })?;
        self.encoding = Some(EncodingDay {
            trail: trail.clone(),
            date,
            events,
            memory,
            result,
            _staging: staging,
        });
        Ok(())
    }

    /// Bytes of rows of the day being encoded (see [`Conversion::finish_day`]).
    pub(super) fn encoding_bytes(&self) -> usize {
        self.encoding.as_ref().map_or(0, |e| e.memory)
    }

    /// Wait for the day being encoded, if any, and publish it.
    pub(super) async fn publish_encoded(&mut self) -> Result<(), ConvertError> {
        let Some(encoding) = self.encoding.take() else {
            return Ok(());
        };
        let trail = &encoding.trail;
        let encoded = encoding
            .result
            .await
            .map_err(|_| ConvertError::Task("the thread encoding a day ended early".into()))?;
        let (parts, merged) = encoded.map_err(|source| ConvertError::Sink {
            day: day_label(trail, encoding.date),
            source,
        })?;
        self.publish_day(trail, encoding.date, encoding.events, parts, merged)
            .await
    }

    /// Publish a day's encoded parts (none: the day is empty) and report it.
    async fn publish_day(
        &mut self,
        trail: &Trail,
        date: NaiveDate,
        routed: u64,
        parts: Vec<sink::StagedPart>,
        merged: Merged,
    ) -> Result<(), ConvertError> {
        let label = day_label(trail, date);
        let partition =
            layout::partition_dir(&self.dest.prefix, &trail.account, &trail.region, date);
        let sink_err = |source| ConvertError::Sink {
            day: label.clone(),
            source,
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
                    events_not_written: routed,
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

/// A day being sorted and encoded on threads of its own while the conversion goes on.
pub(super) struct EncodingDay {
    trail: Trail,
    date: NaiveDate,
    /// Events routed to the day (duplicates included).
    events: u64,
    /// Bytes of its rows when it started, in memory until the encoder has taken them.
    memory: usize,
    result: tokio::sync::oneshot::Receiver<Result<(Vec<sink::StagedPart>, Merged), SinkError>>,
    /// Where its parts are encoded; removed once published (or abandoned).
    _staging: tempfile::TempDir,
}

fn day_label(trail: &Trail, date: NaiveDate) -> String {
    format!("{} {} {}", trail.account, trail.region, iso_date(date))
}
