//! Upgrading a destination in place, from its own Parquet: when the schema gains columns (a new
//! CloudTrail version) or the JSON columns change form, the days written before are rewritten
//! without their source JSON, which users expire once converted.
//!
//! A day is upgraded when one of its files records an older schema revision (or none) or another
//! form of JSON columns than asked for. Its rows are rebuilt into their source records exactly
//! (`rebuild`), written as a delivery file in the work folder and converted by the same pipeline
//! as `convert` into a staging destination. The staged day is then proved against the old one
//! (row by row in their common order, each rebuilt JSON-equal, as `verify` compares) and
//! published with the same lease and switch as `convert`, only if the day's files are still
//! those it was made from. A difference, or a day another run rewrote meanwhile, leaves the day
//! as it was. Days whose files this tool did not write are refused, naming the files; days
//! already current are left alone, byte for byte.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use object_store::ObjectMeta;
use serde::Serialize;

use crate::convert::{ConvertOptions, NoProgress, convert};
use crate::layout::{self, iso_date};
use crate::publish::{Publication, PublishOptions, day_parts, publish};
use crate::rebuild::{original_text, rebuild_batch};
use crate::schema::{JsonColumns, Table};
use crate::scope::Scope;
use crate::sink::{ParquetOptions, StagedPart};
use crate::store::Location;

/// What an upgrade works on and writes.
#[derive(Debug, Clone)]
pub struct UpgradeOptions {
    /// The days, accounts, regions and table to upgrade (lateness does not apply).
    pub scope: Scope,
    /// How the upgraded days are written (their JSON columns' form included).
    pub parquet: ParquetOptions,
    /// Only report what would be upgraded.
    pub dry_run: bool,
    /// How long to wait for a day another run is publishing.
    pub lock_wait: Duration,
    /// Memory for rows of a day being rewritten (as `--memory-budget` of `convert`).
    pub memory_budget_bytes: usize,
    /// Where rebuilt records and staged days go (the system temp folder when `None`).
    pub work_dir: Option<PathBuf>,
}

impl UpgradeOptions {
    /// Options for `scope` with every other setting at its default.
    pub fn new(scope: Scope) -> Self {
        UpgradeOptions {
            scope,
            parquet: ParquetOptions::default(),
            dry_run: false,
            lock_wait: crate::publish::DEFAULT_LOCK_WAIT,
            memory_budget_bytes: crate::convert::DEFAULT_MEMORY_BUDGET_BYTES,
            work_dir: None,
        }
    }

    /// The upgrade to what conversions with `convert` write: their scope, Parquet options,
    /// memory budget, lease wait and work folder.
    pub fn following(convert: &ConvertOptions) -> Self {
        UpgradeOptions {
            scope: convert.scope.clone(),
            parquet: convert.parquet.clone(),
            dry_run: false,
            lock_wait: convert.lock_wait,
            memory_budget_bytes: convert.memory_budget_bytes,
            work_dir: convert.work_dir.clone(),
        }
    }
}

/// A day of the destination and what became of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UpgradeDay {
    pub account: String,
    pub region: String,
    pub date: String,
    pub outcome: DayOutcome,
    /// Rows of the day.
    pub events: u64,
    /// Why, for days not upgraded that should have been.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DayOutcome {
    /// Rewritten in the current schema and form, proved equal to the old day.
    Upgraded,
    /// Would be upgraded (a dry run).
    WouldUpgrade,
    /// Already current: left alone.
    Current,
    /// Not this tool's files, or files it cannot read: left alone (named in `reason`).
    Refused,
    /// The rewritten day differed from the old one: left alone (the first difference named).
    Differs,
    /// Another run holds the day or rewrote it meanwhile: left alone, to be run again.
    Busy,
}

/// What an upgrade did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpgradeReport {
    pub days: Vec<UpgradeDay>,
    pub events_upgraded: u64,
    pub seconds: f64,
}

impl UpgradeReport {
    /// Days that needed upgrading and were not (refused, differing or busy).
    pub fn not_upgraded(&self) -> impl Iterator<Item = &UpgradeDay> {
        self.days.iter().filter(|d| {
            matches!(
                d.outcome,
                DayOutcome::Refused | DayOutcome::Differs | DayOutcome::Busy
            )
        })
    }

    pub fn count(&self, outcome: DayOutcome) -> usize {
        self.days.iter().filter(|d| d.outcome == outcome).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("{0}")]
    Destination(String),
    #[error("work folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("rewriting {day}: {reason}")]
    Convert { day: String, reason: String },
}

/// Upgrade the days of `opts.scope` held by `dest`.
pub async fn upgrade(
    dest: &Location,
    opts: &UpgradeOptions,
) -> Result<UpgradeReport, UpgradeError> {
    let started = Instant::now();
    let mut report = UpgradeReport::default();
    let days = crate::inspect::days(dest, &opts.scope)
        .await
        .map_err(|e| UpgradeError::Destination(e.to_string()))?;
    let parent = opts.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent)?;
    for dead in crate::debris::remove_dead_work_dirs(&parent) {
        tracing::info!(folder = %dead.display(), "removed the work folder of a killed run");
    }
    for (account, region, date) in days {
        let day = upgrade_day(dest, opts, &parent, &account, &region, date).await?;
        if day.outcome == DayOutcome::Upgraded {
            report.events_upgraded += day.events;
        }
        match day.outcome {
            DayOutcome::Refused | DayOutcome::Differs | DayOutcome::Busy => {
                tracing::warn!(account = %day.account, region = %day.region, date = %day.date,
                    outcome = ?day.outcome, reason = day.reason.as_deref().unwrap_or(""), "day not upgraded");
            }
            _ => {}
        }
        report.days.push(day);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// What a part file's footer says of how it was written.
struct Written {
    /// `None`: not written by this tool.
    revision: Option<u32>,
    json_columns: Option<JsonColumns>,
    rows: u64,
}

async fn read_footer(dest: &Location, object: &ObjectMeta) -> Result<Written, String> {
    // The footer alone (two ranged reads): a current day is left without reading its rows.
    let metadata = crate::inspect::read_footer(dest.store.as_ref(), &object.location, object.size)
        .await
        .map_err(|e| {
            format!(
                "{}: not readable as Parquet: {e}",
                dest.describe(&object.location)
            )
        })?;
    let file = metadata.file_metadata();
    let value = |key: &str| {
        file.key_value_metadata()?
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .clone()
    };
    let ours = value("ctparquet.version").is_some();
    Ok(Written {
        // Files of releases before revisions were recorded are revision 0.
        revision: ours.then(|| {
            value("ctparquet.schema_revision")
                .and_then(|r| r.parse().ok())
                .unwrap_or(0)
        }),
        json_columns: value("ctparquet.json_columns").and_then(|n| JsonColumns::named(&n)),
        rows: file.num_rows() as u64,
    })
}

async fn upgrade_day(
    dest: &Location,
    opts: &UpgradeOptions,
    work_parent: &std::path::Path,
    account: &str,
    region: &str,
    date: NaiveDate,
) -> Result<UpgradeDay, UpgradeError> {
    let table = opts.scope.table;
    let partition = layout::partition_dir(&dest.prefix, account, region, date);
    let mut day = UpgradeDay {
        account: account.to_string(),
        region: region.to_string(),
        date: iso_date(date),
        outcome: DayOutcome::Current,
        events: 0,
        reason: None,
    };
    let refuse = |mut day: UpgradeDay, outcome, reason: String| {
        day.outcome = outcome;
        day.reason = Some(reason);
        Ok(day)
    };
    let parts = day_parts(dest, &partition)
        .await
        .map_err(|e| UpgradeError::Destination(e.to_string()))?;
    let mut current = true;
    let mut foreign = Vec::new();
    for part in &parts {
        let file = dest.describe(&part.location);
        match read_footer(dest, part).await {
            Err(reason) => return refuse(day, DayOutcome::Refused, reason),
            Ok(Written { revision: None, .. }) => foreign.push(file),
            Ok(written) => {
                day.events += written.rows;
                current &= written.revision == Some(table.revision)
                    && written.json_columns == Some(opts.parquet.json_columns);
            }
        }
    }
    if !foreign.is_empty() {
        return refuse(
            day,
            DayOutcome::Refused,
            format!("not written by ctparquet: {}", foreign.join(", ")),
        );
    }
    if current || parts.is_empty() {
        return Ok(day);
    }
    if opts.dry_run {
        day.outcome = DayOutcome::WouldUpgrade;
        return Ok(day);
    }

    // The old day's records, rebuilt, as delivery files of a source of one trail and day.
    // Named after this process, so that a later run removes it if this one is killed.
    let work = tempfile::Builder::new()
        .prefix(&crate::debris::work_dir_prefix())
        .tempdir_in(work_parent)?;
    let folder = work
        .path()
        .join("source/AWSLogs")
        .join(account)
        .join(table.folders[0])
        .join(region);
    let (year, month, day_of_month) = crate::time::day_partition(date);
    let folder = folder.join(year).join(month).join(day_of_month);
    std::fs::create_dir_all(&folder)?;
    let old_files = fetch_all(dest, &parts).await?;
    let written = {
        let (table, folder, files) = (table, folder.clone(), old_files.clone());
        tokio::task::spawn_blocking(move || write_records(table, files, &folder))
            .await
            .map_err(|e| UpgradeError::Destination(e.to_string()))?
    };
    let records = match written {
        Ok(records) => records,
        Err(WriteError::Io(e)) => return Err(UpgradeError::Io(e)),
        Err(WriteError::Unreadable(reason)) => return refuse(day, DayOutcome::Refused, reason),
    };

    // Converted by the pipeline of `convert`, into a staging destination.
    let source = local(&work.path().join("source"), false)?;
    let staging = local(&work.path().join("staged"), true)?;
    let mut scope = opts.scope.unit(date, date, account, region);
    scope.lateness_days = 0;
    let mut convert_opts = ConvertOptions::new(scope);
    convert_opts.parquet = opts.parquet.clone();
    convert_opts.memory_budget_bytes = opts.memory_budget_bytes;
    convert_opts.work_dir = Some(work.path().join("convert"));
    let label = format!("{account} {region} {}", iso_date(date));
    let summary = convert(&source, &staging, &convert_opts, &NoProgress)
        .await
        .map_err(|e| UpgradeError::Convert {
            day: label.clone(),
            reason: e.to_string(),
        })?;
    if let Some(failed) = summary.failed_days.first() {
        return refuse(day, DayOutcome::Refused, failed.reason.clone());
    }

    // Proof: the staged day holds the old day's rows, in the same order, each rebuilt
    // JSON-equal. The conversion sorts as the old day was sorted (ties keep the order the records
    // were read in, the old day's), so the two are compared row by row, a batch at a time.
    let staged_partition = layout::partition_dir(&staging.prefix, account, region, date);
    let staged_parts = day_parts(&staging, &staged_partition)
        .await
        .map_err(|e| UpgradeError::Destination(e.to_string()))?;
    let new_files = fetch_all(&staging, &staged_parts).await?;
    let compared = tokio::task::spawn_blocking(move || {
        same_rows(
            table,
            old_files.into_iter().map(|(_, b)| b).collect(),
            new_files.into_iter().map(|(_, b)| b).collect(),
        )
    })
    .await
    .map_err(|e| UpgradeError::Destination(e.to_string()))?;
    match compared {
        Ok(rows) if rows == records => {}
        Ok(rows) => {
            return refuse(
                day,
                DayOutcome::Differs,
                format!("{rows} rows rewritten from {records}"),
            );
        }
        Err(difference) => {
            return refuse(
                day,
                DayOutcome::Differs,
                format!("the rewritten day differs from the old one: {difference}"),
            );
        }
    }

    let mut staged = Vec::new();
    for object in staged_parts {
        let path = staging
            .local_path(&object.location)
            .expect("the staging destination is local");
        let rows = read_footer(&staging, &object)
            .await
            .map_err(UpgradeError::Destination)?
            .rows;
        staged.push(StagedPart {
            path,
            rows,
            bytes: object.size,
        });
    }
    let publication = publish(
        dest,
        &partition,
        &staged,
        PublishOptions {
            allow_shrink: false,
            lock_wait: opts.lock_wait,
            only_replacing: Some(parts),
        },
    )
    .await
    .map_err(|e| UpgradeError::Destination(format!("{label}: {e}")))?;
    match publication {
        Publication::Published(_) => day.outcome = DayOutcome::Upgraded,
        Publication::Locked { holder } => {
            return refuse(day, DayOutcome::Busy, format!("held by {holder}"));
        }
        Publication::Changed => {
            return refuse(
                day,
                DayOutcome::Busy,
                "rewritten by another run meanwhile".into(),
            );
        }
        Publication::Kept { existing } => {
            return refuse(
                day,
                DayOutcome::Busy,
                format!("the destination now holds {existing} rows"),
            );
        }
    }
    Ok(day)
}

fn local(path: &std::path::Path, create: bool) -> Result<Location, UpgradeError> {
    let text = path.to_str().ok_or_else(|| {
        UpgradeError::Destination(format!("{}: not a UTF-8 path", path.display()))
    })?;
    Location::local(text, create).map_err(|e| UpgradeError::Destination(e.to_string()))
}

/// The bytes of each part file, with its name for messages.
async fn fetch_all(
    location: &Location,
    parts: &[ObjectMeta],
) -> Result<Vec<(String, bytes::Bytes)>, UpgradeError> {
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let bytes = location
            .read_all(&part.location)
            .await
            .map_err(UpgradeError::Destination)?;
        out.push((location.describe(&part.location), bytes));
    }
    Ok(out)
}

enum WriteError {
    Io(std::io::Error),
    /// A part file that cannot be read back into records (named).
    Unreadable(String),
}

/// Write the records of the part files, rebuilt, as delivery files in `folder`, a file per batch
/// of rows (in the files' order); how many records.
fn write_records(
    table: &'static Table,
    files: Vec<(String, bytes::Bytes)>,
    folder: &std::path::Path,
) -> Result<u64, WriteError> {
    let mut records = 0u64;
    for (index, (file, bytes)) in files.into_iter().enumerate() {
        let mut rows = DayRows::new(table, vec![bytes]);
        let mut batch = 0;
        while let Some(rows) = rows.next_batch() {
            let rows =
                rows.map_err(|reason| WriteError::Unreadable(format!("{file}: {reason}")))?;
            let mut json = String::from("{\"Records\":[");
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(&original_text(row));
            }
            json.push_str("]}");
            let name = format!("ctparquet-upgrade-{index:05}-{batch:05}.json");
            std::fs::write(folder.join(name), json).map_err(WriteError::Io)?;
            records += rows.len() as u64;
            batch += 1;
        }
    }
    Ok(records)
}

/// Compare two days row by row; the rows compared, or the first difference.
fn same_rows(
    table: &'static Table,
    old: Vec<bytes::Bytes>,
    new: Vec<bytes::Bytes>,
) -> Result<u64, String> {
    let (mut old, mut new) = (DayRows::new(table, old), DayRows::new(table, new));
    let (mut a, mut b) = (Vec::new().into_iter(), Vec::new().into_iter());
    let mut compared = 0u64;
    loop {
        if a.len() == 0
            && let Some(batch) = old.next_batch()
        {
            a = batch.map_err(|e| format!("the old day: {e}"))?.into_iter();
        }
        if b.len() == 0
            && let Some(batch) = new.next_batch()
        {
            b = batch
                .map_err(|e| format!("the rewritten day: {e}"))?
                .into_iter();
        }
        match (a.next(), b.next()) {
            (None, None) => return Ok(compared),
            (Some(x), Some(y)) => {
                if x != y {
                    let id = x
                        .get(table.id)
                        .and_then(|v| v.as_str())
                        .unwrap_or("(no id)");
                    let field =
                        crate::verify::first_difference("$", &x, &y).unwrap_or_else(|| "$".into());
                    return Err(format!("row {compared} (event {id}) differs at {field}"));
                }
                compared += 1;
            }
            (Some(_), None) => return Err(format!("the rewritten day ends after {compared} rows")),
            (None, Some(_)) => return Err(format!("the old day ends after {compared} rows")),
        }
    }
}

/// The rows of a day's part files, in order, rebuilt a batch at a time.
struct DayRows {
    table: &'static Table,
    files: std::vec::IntoIter<bytes::Bytes>,
    reader: Option<parquet::arrow::arrow_reader::ParquetRecordBatchReader>,
}

impl DayRows {
    fn new(table: &'static Table, files: Vec<bytes::Bytes>) -> Self {
        DayRows {
            table,
            files: files.into_iter(),
            reader: None,
        }
    }

    fn next_batch(&mut self) -> Option<Result<Vec<serde_json::Value>, String>> {
        loop {
            if let Some(reader) = &mut self.reader {
                match reader.next() {
                    Some(Ok(batch)) => {
                        return Some(rebuild_batch(self.table, &batch).map_err(|e| e.to_string()));
                    }
                    Some(Err(e)) => return Some(Err(format!("not readable as Parquet: {e}"))),
                    None => self.reader = None,
                }
            }
            let bytes = self.files.next()?;
            match parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.build())
            {
                Ok(reader) => self.reader = Some(reader),
                Err(e) => return Some(Err(format!("not readable as Parquet: {e}"))),
            }
        }
    }
}
