//! The route stage: each decoded row to the day of its eventTime, if the folder it came in is
//! within that day's window and the day is one being converted; the others counted by why
//! (`Scope::outside_reason`). A bad file fails every day it may hold events of.

use std::collections::BTreeMap;

use arrow::array::{BooleanArray, UInt64Array};
use arrow::compute::filter_record_batch;
use chrono::NaiveDate;
use object_store::ObjectMeta;

use super::open_day::OpenDay;
use super::read::ReadFile;
use super::{Conversion, ConvertError, arrow_err};
use crate::day::{DayBuffer, with_seq};
use crate::decode::{DecodedChunk, FileError};
use crate::layout::iso_date;
use crate::source::Trail;
use crate::summary::{BadFile, OutsideDay, OutsideReason};
use crate::time::day_of_millis;

/// Events of a trail not written by this run, by (day, why): how many, and the latest date folder
/// they were delivered in (for the lateness that would place them).
#[derive(Default)]
pub(super) struct Outside(BTreeMap<(NaiveDate, OutsideReason), (u64, NaiveDate)>);

impl Outside {
    pub(super) fn add(
        &mut self,
        day: NaiveDate,
        reason: OutsideReason,
        folder: NaiveDate,
        events: u64,
    ) {
        let entry = self.0.entry((day, reason)).or_insert((0, folder));
        entry.0 += events;
        entry.1 = entry.1.max(folder);
    }

    /// What the summary says of them, by day and reason; for events beyond the lateness, the
    /// lateness that would place them.
    pub(super) fn report(self, trail: &Trail) -> Vec<OutsideDay> {
        self.0
            .into_iter()
            .map(|((date, reason), (events, last_folder))| OutsideDay {
                account: trail.account.clone(),
                region: trail.region.clone(),
                date: iso_date(date),
                events,
                reason,
                lateness_needed: (reason == OutsideReason::BeyondLateness).then(|| {
                    (last_folder - date)
                        .num_days()
                        .try_into()
                        .unwrap_or(u32::MAX)
                }),
            })
            .collect()
    }
}

impl Conversion<'_> {
    pub(super) fn bad_file(
        &mut self,
        meta: &ObjectMeta,
        error: FileError,
        folder_date: NaiveDate,
        days: &mut BTreeMap<NaiveDate, OpenDay>,
    ) {
        let file = self.source.describe(&meta.location);
        if !self.opts.skip_bad_files {
            // The file's events could belong to any day whose folders include this one.
            for (_, day) in days.range_mut(self.opts.scope.days_fed_by(folder_date)) {
                day.failed
                    .get_or_insert_with(|| format!("bad file {file}: {error}"));
                day.buffer = DayBuffer::new(self.opts.scope.table);
                // A run being written from its rows is dropped with them (the task finishes
                // on its own; its file is removed when the run is dropped).
                day.spilling = None;
            }
        }
        tracing::warn!(%file, %error, "bad delivery file");
        self.summary.bad_files.push(BadFile {
            file,
            error: error.to_string(),
        });
    }

    /// Add the rows of decoded files to their days; returns the bytes of rows added.
    pub(super) fn route(
        &mut self,
        reads: &[ReadFile],
        chunk: DecodedChunk,
        folder_date: NaiveDate,
        first_seq: u64,
        days: &mut BTreeMap<NaiveDate, OpenDay>,
        outside: &mut Outside,
    ) -> Result<usize, ConvertError> {
        let DecodedChunk {
            batch,
            event_times,
            files,
            skipped,
            lone_surrogates,
        } = chunk;
        self.summary.lone_surrogate_events += lone_surrogates;
        let mut pushed = 0;
        // Rows by day, with their tie-breaking sequence (file order, then record order).
        let mut by_day: BTreeMap<NaiveDate, (Vec<u32>, Vec<u64>)> = BTreeMap::new();
        for (i, ((read, outcome), skipped)) in reads.iter().zip(files).zip(skipped).enumerate() {
            let rows = match outcome {
                Ok(rows) => rows,
                Err(error) => {
                    self.bad_file(&read.meta, error, folder_date, days);
                    continue;
                }
            };
            self.summary.events_read += (rows.len() + skipped.len()) as u64;
            // Records of days not being converted: counted where they belong, not decoded.
            for time in skipped {
                let date = time.map_or(folder_date, day_of_millis);
                if time.is_none() {
                    self.summary.undated_events += 1;
                }
                let reason = self
                    .opts
                    .scope
                    .outside_reason(date, folder_date)
                    .expect("a day not requested is outside");
                outside.add(date, reason, folder_date, 1);
            }
            let file_seq = first_seq + i as u64;
            for (record, row) in rows.enumerate() {
                let day = match event_times[row] {
                    Some(ms) => day_of_millis(ms),
                    None => {
                        self.summary.undated_events += 1;
                        folder_date
                    }
                };
                let entry = by_day.entry(day).or_default();
                entry.0.push(row as u32);
                entry.1.push((file_seq << 32) | record as u64);
            }
        }
        for (date, (rows, seqs)) in by_day {
            // Day D is made from folders D ..= D + lateness, whatever range is being run, so a
            // day's output never depends on which other days were converted with it.
            let day = match self.opts.scope.outside_reason(date, folder_date) {
                None => days.get_mut(&date).expect("requested"),
                Some(reason) => {
                    outside.add(date, reason, folder_date, rows.len() as u64);
                    continue;
                }
            };
            day.events += rows.len() as u64;
            if date != folder_date {
                self.summary.events_moved += rows.len() as u64;
            }
            if day.failed.is_some() {
                continue;
            }
            let part = if rows.len() == batch.num_rows() {
                batch.clone()
            } else {
                // A filter, not a take: a folder's rows are mostly of its own day, in long
                // stretches that a filter copies whole instead of value by value.
                let mut keep = vec![false; batch.num_rows()];
                for &row in &rows {
                    keep[row as usize] = true;
                }
                filter_record_batch(&batch, &BooleanArray::from(keep)).map_err(arrow_err)?
            };
            pushed += day.buffer.push(
                with_seq(self.opts.scope.table, &part, UInt64Array::from(seqs))
                    .map_err(arrow_err)?,
            );
        }
        Ok(pushed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_beyond_the_lateness_name_the_lateness_that_places_them() {
        let date = |s: &str| s.parse::<NaiveDate>().unwrap();
        let mut outside = Outside::default();
        let day = date("2026-01-04");
        outside.add(day, OutsideReason::BeyondLateness, date("2026-01-06"), 2);
        outside.add(day, OutsideReason::BeyondLateness, date("2026-01-09"), 1);
        outside.add(day, OutsideReason::DayNotRequested, date("2026-01-04"), 7);
        let trail = Trail {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            region_roots: Vec::new(),
        };
        let report = outside.report(&trail);
        assert_eq!(report.len(), 2);
        let late = report
            .iter()
            .find(|d| d.reason == OutsideReason::BeyondLateness)
            .unwrap();
        assert_eq!((late.events, late.lateness_needed), (3, Some(5)));
        let other = report
            .iter()
            .find(|d| d.reason == OutsideReason::DayNotRequested)
            .unwrap();
        assert_eq!((other.events, other.lateness_needed), (7, None));
    }
}
