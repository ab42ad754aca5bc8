//! Proof that a destination holds exactly what CloudTrail delivered: the source files are read
//! again, parsed as plain JSON (independently of the decoder), and every row of the destination
//! day is rebuilt and compared with them.
//!
//! For each (account, region, day): the same set of events (an event is its eventID and
//! eventTime text, or its whole content when it has no eventID), none twice, none extra, and each
//! rebuilt row JSON-equal to its source record. Differences name the event and the first field
//! that differs.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use chrono::NaiveDate;
use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use serde_json::Value;

use crate::layout::{self, iso_date};
use crate::rebuild::rebuild_batch;
use crate::schema::Table;
use crate::scope::Scope;
use crate::source::{self, SourceError, Trail};
use crate::store::Location;
use crate::time::{day_of_millis, parse_event_time};

/// The records of a delivery file as verify reads them (plain JSON, independently of the
/// decoder).
pub use ctparquet_decode::plain::source_records;

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The days, trails and table to verify, with the lateness they were converted with.
    pub scope: Scope,
    /// Source files read at once.
    pub concurrency: usize,
    /// A source file inflating past this is reported bad (as `convert` does).
    pub max_file_bytes: u64,
}

/// Source files read at once by `verify`, by default.
pub const DEFAULT_CONCURRENCY: usize = 64;

impl VerifyOptions {
    /// Options for `scope` with every other setting at its default.
    pub fn new(scope: Scope) -> Self {
        VerifyOptions {
            scope,
            concurrency: DEFAULT_CONCURRENCY,
            max_file_bytes: crate::convert::DEFAULT_MAX_FILE_BYTES,
        }
    }

    /// Options for the days `from ..= to` of every trail with every other setting at its default.
    ///
    /// # Panics
    /// When `from` is after `to` (for ranges known to be right; see [`Scope::days`]).
    pub fn days(from: NaiveDate, to: NaiveDate) -> Self {
        VerifyOptions::new(Scope::days(from, to).expect("from <= to"))
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// In the source, not in the destination.
    Missing,
    /// In the destination, not in the source.
    Extra,
    /// In both, with different content.
    Changed,
    /// In the destination more than once.
    Duplicate,
    /// An object readers pick up that is not a part file of this tool in its right place
    /// (`event` is the object; see `strays`).
    Stray,
    /// A part file no reader can read (`event` is the file).
    Unreadable,
    /// A part file whose rows are not in (eventTime, eventID) order, which its `sorting_columns`
    /// promise readers (`event` is the file).
    Unsorted,
}

/// One difference between source and destination.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Difference {
    pub account: String,
    pub region: String,
    pub date: String,
    pub kind: DifferenceKind,
    /// The eventID (or a digest of the record when it has none).
    pub event: String,
    /// The first differing field, as a JSON path (changed events only).
    pub field: Option<String>,
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub days_checked: u64,
    pub source_files: u64,
    /// Distinct source events of the days checked.
    pub source_events: u64,
    pub destination_rows: u64,
    /// Source files that could not be read as CloudTrail logs (their events cannot be checked).
    pub bad_files: Vec<String>,
    pub differences: Vec<Difference>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.differences.is_empty() && self.bad_files.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{file}: {reason}")]
    Destination { file: String, reason: String },
    /// The source holds no trail within the allow-lists: there is nothing to verify against.
    #[error("{0}")]
    NoTrail(String),
    #[error(transparent)]
    Strays(#[from] crate::strays::StrayError),
}

/// The value at a path of member names.
fn at<'a>(record: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(record, |v, name| v.get(name))
}

/// The identity of an event: its id and day-field text, or its whole content.
fn event_key(table: &Table, record: &Value, digest: u64) -> String {
    match record.get(table.id).and_then(Value::as_str) {
        Some(id) => {
            let time = at(record, table.time)
                .map(|t| t.to_string())
                .unwrap_or_default();
            format!("{id}\u{1f}{time}")
        }
        None => format!("#{digest:016x}"),
    }
}

fn digest(record: &Value) -> u64 {
    // serde_json's Map keeps keys sorted, so equal records serialise equally.
    let mut h = DefaultHasher::new();
    serde_json::to_string(record)
        .expect("a Value serialises")
        .hash(&mut h);
    h.finish()
}

fn describe_key(key: &str) -> String {
    key.split('\u{1f}').next().unwrap_or(key).to_string()
}

/// The first path at which two JSON values differ.
pub(crate) fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(&format!("{path}.{k}"), p, q),
                _ => Some(format!("{path}.{k}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(&format!("{path}[{i}]"), p, q)),
        _ => (a != b).then(|| path.to_string()),
    }
}

/// A source event of a day: its content digests and one of its records, for describing a change.
///
/// An event with an eventID is written once per distinct content: re-deliveries are identical
/// and dropped, records that reuse its id and time with other content are all written (the
/// converter's conflicting duplicates). An event without an eventID is written once per copy
/// (nothing identifies them as duplicates).
struct SourceEvent {
    digests: Vec<u64>,
    record: Value,
    has_id: bool,
    /// Copies in the source (counted for events without an eventID).
    copies: u32,
    /// Rows of the destination matched to it, and their digests.
    seen: Vec<u64>,
}

impl SourceEvent {
    fn expected(&self) -> u32 {
        if self.has_id {
            self.digests.len() as u32
        } else {
            self.copies
        }
    }
}

/// Verify the days of `opts.scope` of `dest` against `source`.
pub async fn verify(
    source: &Location,
    dest: &Location,
    opts: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let mut report = VerifyReport::default();
    let scope = &opts.scope;
    let table = scope.table;
    let found = source::discover(
        source,
        table.folders,
        scope.accounts.as_deref(),
        scope.regions.as_deref(),
    )
    .await?;
    if found.trails.is_empty() {
        // A wrong SOURCE would otherwise "verify" zero days and pass.
        let why = source::explain_no_trail(source, &found, table.folders).await?;
        return Err(VerifyError::NoTrail(why));
    }
    let trails = found.trails;
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for trail in &trails {
        expected
            .entry(trail.account.clone())
            .or_default()
            .insert(trail.region.clone());
    }
    for trail in trails {
        let mut days: BTreeMap<NaiveDate, HashMap<String, SourceEvent>> =
            scope.each_day().map(|d| (d, HashMap::new())).collect();
        for folder in source::dates_to_list(source, &trail, scope.folders()).await? {
            let listing = source::list_folder(source, &trail, folder).await?;
            let mut reads = futures::stream::iter(listing.files)
                .map(|meta| async move {
                    let bytes = source::read(source, &meta).await?;
                    Ok::<_, SourceError>((meta, bytes))
                })
                .buffered(opts.concurrency.max(1));
            while let Some(item) = reads.next().await {
                let (meta, bytes) = item?;
                report.source_files += 1;
                match source_records(&bytes, opts.max_file_bytes) {
                    Ok(records) => {
                        for record in records {
                            let day = at(&record, table.time)
                                .and_then(Value::as_str)
                                .and_then(parse_event_time)
                                .map_or(folder, |t| day_of_millis(t.millis()));
                            let written = scope.outside_reason(day, folder).is_none();
                            let Some(events) = days.get_mut(&day).filter(|_| written) else {
                                continue;
                            };
                            add_source_event(table, events, record);
                        }
                    }
                    Err(e) => report
                        .bad_files
                        .push(format!("{}: {e}", source.describe(&meta.location))),
                }
            }
        }
        for (day, events) in days {
            check_day(table, dest, &trail, day, events, &mut report).await?;
        }
    }
    // What readers of the destination would see beyond our part files.
    let checked: Vec<NaiveDate> = scope.each_day().collect();
    let strays = crate::strays::find(
        dest,
        &crate::strays::Expected {
            trails: &expected,
            days: &checked,
            accounts: scope.accounts.as_deref(),
            regions: scope.regions.as_deref(),
        },
    )
    .await?;
    for stray in strays {
        report.differences.push(Difference {
            account: String::new(),
            region: String::new(),
            date: String::new(),
            kind: DifferenceKind::Stray,
            event: stray.path,
            field: None,
            detail: stray.reason,
        });
    }
    Ok(report)
}

/// Count `record` among the source events of its day.
fn add_source_event(table: &Table, events: &mut HashMap<String, SourceEvent>, record: Value) {
    let d = digest(&record);
    let has_id = record.get(table.id).is_some_and(Value::is_string);
    let entry = events
        .entry(event_key(table, &record, d))
        .or_insert_with(|| SourceEvent {
            digests: Vec::new(),
            record,
            has_id,
            copies: 0,
            seen: Vec::new(),
        });
    if !entry.digests.contains(&d) {
        entry.digests.push(d);
    }
    entry.copies += 1;
}

/// Verify the days of `scope` that `old` holds against `new`, both destinations of this tool:
/// the rows of each day of `old` are the source events its day in `new` must hold exactly (what
/// `upgrade` proves before it replaces a day, and what a user checks after copying a lake).
pub async fn verify_parquet(
    old: &Location,
    new: &Location,
    scope: &Scope,
) -> Result<VerifyReport, VerifyError> {
    let mut report = VerifyReport::default();
    let days = crate::inspect::days(old, scope)
        .await
        .map_err(|e| VerifyError::Destination {
            file: e.file,
            reason: e.reason,
        })?;
    for (account, region, day) in days {
        verify_parquet_day(old, new, scope.table, &account, &region, day, &mut report).await?;
    }
    Ok(report)
}

/// One day of [`verify_parquet`], added to `report`.
pub(crate) async fn verify_parquet_day(
    old: &Location,
    new: &Location,
    table: &Table,
    account: &str,
    region: &str,
    day: NaiveDate,
    report: &mut VerifyReport,
) -> Result<(), VerifyError> {
    let partition = layout::partition_dir(&old.prefix, account, region, day);
    let files = crate::publish::day_parts(old, &partition)
        .await
        .map_err(|e| VerifyError::Destination {
            file: old.describe(&partition),
            reason: e.to_string(),
        })?;
    let mut events = HashMap::new();
    for object in files {
        let file = old.describe(&object.location);
        let fail = |reason: String| VerifyError::Destination {
            file: file.clone(),
            reason,
        };
        let bytes = old.read_all(&object.location).await.map_err(&fail)?;
        report.source_files += 1;
        for (row, _) in read_rows(table, bytes).map_err(fail)? {
            add_source_event(table, &mut events, row);
        }
    }
    let trail = Trail {
        account: account.to_string(),
        region: region.to_string(),
        region_roots: Vec::new(),
    };
    check_day(table, new, &trail, day, events, report).await
}

async fn check_day(
    table: &Table,
    dest: &Location,
    trail: &Trail,
    day: NaiveDate,
    mut events: HashMap<String, SourceEvent>,
    report: &mut VerifyReport,
) -> Result<(), VerifyError> {
    report.days_checked += 1;
    report.source_events += events
        .values()
        .map(|e| u64::from(e.expected()))
        .sum::<u64>();
    let diff = |kind, event: String, field: Option<String>, detail: String| Difference {
        account: trail.account.clone(),
        region: trail.region.clone(),
        date: iso_date(day),
        kind,
        event,
        field,
        detail,
    };
    let partition = layout::partition_dir(&dest.prefix, &trail.account, &trail.region, day);
    let listing = match dest.store.list_with_delimiter(Some(&partition)).await {
        Ok(l) => l.objects,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => {
            return Err(VerifyError::Destination {
                file: dest.describe(&partition),
                reason: e.to_string(),
            });
        }
    };
    let mut files: Vec<_> = listing
        .into_iter()
        .filter(|o| o.location.filename().is_some_and(layout::is_part_file_name))
        .collect();
    files.sort_by(|a, b| a.location.cmp(&b.location));
    for object in files {
        let file = dest.describe(&object.location);
        let fail = |reason: String| VerifyError::Destination {
            file: file.clone(),
            reason,
        };
        let bytes = dest.read_all(&object.location).await.map_err(&fail)?;
        // A file readers cannot read is a difference readers meet, not a failure of verify:
        // its rows are all reported missing after it.
        let rows = match read_rows(table, bytes) {
            Ok(rows) => rows,
            Err(reason) => {
                report.differences.push(diff(
                    DifferenceKind::Unreadable,
                    file.clone(),
                    None,
                    reason,
                ));
                continue;
            }
        };
        let mut previous: Option<SortKey> = None;
        let mut unsorted = false;
        for (row, order) in rows {
            if previous.as_ref().is_some_and(|p| *p > order) && !unsorted {
                unsorted = true;
                report.differences.push(diff(
                    DifferenceKind::Unsorted,
                    file.clone(),
                    None,
                    "rows are not in (eventTime, eventID) order, which the file's sorting_columns promise".into(),
                ));
            }
            previous = Some(order);
            report.destination_rows += 1;
            let d = digest(&row);
            let key = event_key(table, &row, d);
            match events.get_mut(&key) {
                None => report.differences.push(diff(
                    DifferenceKind::Extra,
                    describe_key(&key),
                    None,
                    format!("in {file}, not in the source"),
                )),
                Some(event) => {
                    event.seen.push(d);
                    let copies = event.seen.iter().filter(|s| **s == d).count();
                    let twice = event.has_id && copies > 1;
                    if twice || event.seen.len() as u32 > event.expected() {
                        report.differences.push(diff(
                            DifferenceKind::Duplicate,
                            describe_key(&key),
                            None,
                            format!("written {} times", event.seen.len()),
                        ));
                    } else if !event.digests.contains(&d) {
                        let field = first_difference("$", &event.record, &row);
                        let detail = match field
                            .as_deref()
                            .and_then(|p| lookup(&event.record, p).zip(lookup(&row, p)))
                        {
                            Some((want, got)) => format!("source {want}, destination {got}"),
                            None => "present on one side only".to_string(),
                        };
                        report.differences.push(diff(
                            DifferenceKind::Changed,
                            describe_key(&key),
                            field,
                            detail,
                        ));
                    }
                }
            }
        }
    }
    let mut missing: Vec<_> = events
        .into_iter()
        .filter(|(_, e)| (e.seen.len() as u32) < e.expected())
        .map(|(k, _)| k)
        .collect();
    missing.sort();
    for key in missing {
        report.differences.push(diff(
            DifferenceKind::Missing,
            describe_key(&key),
            None,
            "in the source, not in the destination".into(),
        ));
    }
    Ok(())
}

/// A row's place in the order part files are sorted in: eventTime (milliseconds; none first),
/// then the id.
type SortKey = (Option<i64>, String);

/// The rows of a part file rebuilt, each with its sort key, or why the file cannot be read.
fn read_rows(table: &Table, bytes: bytes::Bytes) -> Result<Vec<(Value, SortKey)>, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| format!("not readable as Parquet: {e}"))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("not readable as Parquet: {e}"))?;
        for row in rebuild_batch(table, &batch).map_err(|e| e.to_string())? {
            let time = at(&row, table.time)
                .and_then(Value::as_str)
                .and_then(parse_event_time)
                .map(|t| t.millis());
            let id = row
                .get(table.id)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            out.push((row, (time, id)));
        }
    }
    Ok(out)
}

/// The value at a `$.a.b[2]` path.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    for part in path
        .trim_start_matches('$')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        if let Some(i) = index {
            current = current.get(i)?;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_difference_names_the_path() {
        let a = json!({"a": {"b": [1, {"c": 2}]}, "d": 1});
        let b = json!({"a": {"b": [1, {"c": 3}]}, "d": 1});
        assert_eq!(first_difference("$", &a, &b).as_deref(), Some("$.a.b[1].c"));
        assert_eq!(lookup(&a, "$.a.b[1].c"), Some(&json!(2)));
        assert_eq!(first_difference("$", &a, &a), None);
        assert_eq!(
            first_difference("$", &a, &json!({"a": 1})).as_deref(),
            Some("$.a")
        );
    }
}
