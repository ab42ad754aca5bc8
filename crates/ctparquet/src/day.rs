//! One output day: rows gathered from many files, then sorted by (eventTime, eventID), with
//! duplicates dropped, in bounded memory.
//!
//! Rows arrive with a sequence number (`SEQ`: delivery file order, then record order) that breaks
//! ties, so the output does not depend on the order files were read in. When the rows held in
//! memory exceed the budget the caller spills the day: its rows are sorted and written to a
//! temporary Arrow IPC file (a *run*). Finishing merges the runs and what is still in memory.
//!
//! Duplicates: AWS re-delivers an event with the same eventID (and, being the same event, the same
//! eventTime). After sorting they are neighbours; the one with the lowest sequence number is kept.
//! Rows without an eventID are never taken for duplicates.

use std::io::{BufReader, BufWriter};
use std::path::Path as FsPath;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt64Array};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::error::ArrowError;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::row::{RowConverter, Rows, SortField};

use crate::schema::{AGGREGATED, EVENTS, INSIGHTS, Table};

/// The tie-breaking sequence column of rows in flight (never written to Parquet).
pub const SEQ: &str = "__ctparquet_seq";

fn with_seq_field(table: &Table) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = table.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(SEQ, DataType::UInt64, false)));
    Arc::new(Schema::new(fields))
}

static EVENTS_INTERNAL: LazyLock<SchemaRef> = LazyLock::new(|| with_seq_field(&EVENTS));
static INSIGHTS_INTERNAL: LazyLock<SchemaRef> = LazyLock::new(|| with_seq_field(&INSIGHTS));
static AGGREGATED_INTERNAL: LazyLock<SchemaRef> = LazyLock::new(|| with_seq_field(&AGGREGATED));

/// A table's schema plus [`SEQ`].
pub fn internal_schema(table: &Table) -> SchemaRef {
    match table.name {
        "insights" => INSIGHTS_INTERNAL.clone(),
        "aggregated" => AGGREGATED_INTERNAL.clone(),
        _ => EVENTS_INTERNAL.clone(),
    }
}

/// Add the sequence column to a batch of a table's schema.
pub fn with_seq(
    table: &Table,
    batch: &RecordBatch,
    seq: UInt64Array,
) -> Result<RecordBatch, ArrowError> {
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(seq));
    RecordBatch::try_new(internal_schema(table), columns)
}

fn without_seq(table: &Table, batch: RecordBatch) -> RecordBatch {
    let mut columns = batch.columns().to_vec();
    columns.pop();
    RecordBatch::try_new(table.schema(), columns).expect("internal schema is the table's plus seq")
}

/// The column at a path of top-level and struct member names.
pub fn column_at(batch: &RecordBatch, path: &[&str]) -> ArrayRef {
    let (first, rest) = path.split_first().expect("a path has a column");
    let mut column = batch
        .column_by_name(first)
        .expect("path column exists")
        .clone();
    for name in rest {
        column = column
            .as_struct()
            .column_by_name(name)
            .expect("path member exists")
            .clone();
    }
    column
}

#[derive(Debug, thiserror::Error)]
pub enum DayError {
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error("spill file: {0}")]
    Io(#[from] std::io::Error),
}

struct SortKeys {
    table: &'static Table,
    converter: RowConverter,
}

impl SortKeys {
    fn new(table: &'static Table) -> Self {
        let converter = RowConverter::new(vec![
            SortField::new(DataType::Timestamp(
                TimeUnit::Millisecond,
                Some("UTC".into()),
            )),
            SortField::new(DataType::Utf8),
            SortField::new(DataType::UInt64),
        ])
        .expect("sortable types");
        SortKeys { table, converter }
    }

    fn times(&self, batch: &RecordBatch) -> ArrayRef {
        column_at(batch, self.table.time)
    }

    fn ids(&self, batch: &RecordBatch) -> ArrayRef {
        column_at(batch, &[self.table.id])
    }

    fn rows(&self, batch: &RecordBatch) -> Result<Rows, ArrowError> {
        let cols: [ArrayRef; 3] = [
            self.times(batch),
            self.ids(batch),
            batch
                .column_by_name(SEQ)
                .expect("rows in flight carry seq")
                .clone(),
        ];
        self.converter.convert_columns(&cols)
    }
}

/// The rows of one day gathered so far.
pub struct DayBuffer {
    table: &'static Table,
    batches: Vec<RecordBatch>,
    memory: usize,
    runs: Vec<tempfile::NamedTempFile>,
    rows: usize,
    /// Bytes of every batch pushed, spilled or not (for the average row size).
    pushed_bytes: usize,
}

/// Rows per batch of a sorted run. The merge holds one batch of every run at once, so this is
/// small: a day of many runs merges in little memory (2,048 CloudTrail rows are ~2 MB).
const SPILL_BATCH_ROWS: usize = 2048;

impl DayBuffer {
    /// An empty day of a table.
    pub fn new(table: &'static Table) -> Self {
        DayBuffer {
            table,
            batches: Vec::new(),
            memory: 0,
            runs: Vec::new(),
            rows: 0,
            pushed_bytes: 0,
        }
    }

    /// Add rows (of [`internal_schema`]).
    pub fn push(&mut self, batch: RecordBatch) {
        let bytes = batch.get_array_memory_size();
        self.memory += bytes;
        self.pushed_bytes += bytes;
        self.rows += batch.num_rows();
        self.batches.push(batch);
    }

    /// Bytes held in memory.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Rows pushed so far (duplicates included).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// About the memory merging the day will take: a batch of every run beside the rows still
    /// in memory.
    pub fn merge_memory(&self) -> usize {
        let row_bytes = self.pushed_bytes / self.rows.max(1);
        self.memory + self.runs.len() * SPILL_BATCH_ROWS * row_bytes
    }

    /// How many runs were spilled to disk.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// Take the rows held in memory out of the day, to be written as a sorted run (by
    /// [`PendingRun::write`], on any thread) and handed back with [`DayBuffer::add_run`].
    pub fn take_run(&mut self) -> Option<PendingRun> {
        if self.batches.is_empty() {
            return None;
        }
        let bytes = std::mem::take(&mut self.memory);
        Some(PendingRun {
            table: self.table,
            batches: std::mem::take(&mut self.batches),
            bytes,
        })
    }

    /// Add a run written from this day's rows.
    pub fn add_run(&mut self, run: SpilledRun) {
        self.runs.push(run.0);
    }

    /// Sort what is in memory and write it to a run file in `dir`, here and now.
    pub fn spill(&mut self, dir: &FsPath) -> Result<(), DayError> {
        if let Some(pending) = self.take_run() {
            let run = pending.write(dir)?;
            self.add_run(run);
        }
        Ok(())
    }

    /// Merge everything into sorted, de-duplicated batches of the event schema, `chunk_rows` rows
    /// each (the last may be shorter). The batch boundaries depend only on the rows, never on
    /// how they were spilled, so the Parquet written from them is byte-for-byte reproducible.
    pub fn into_sorted(mut self, chunk_rows: usize) -> Result<SortedDay, DayError> {
        let keys = SortKeys::new(self.table);
        let mut cursors = Vec::new();
        for run in std::mem::take(&mut self.runs) {
            let reader = FileReader::try_new(BufReader::new(run.reopen()?), None)?;
            let batches: Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send> =
                Box::new(reader);
            cursors.extend(Cursor::new(batches, Some(run), &keys)?);
        }
        if !self.batches.is_empty() {
            let sorted = sort_in_memory(self.table, std::mem::take(&mut self.batches))?;
            cursors.extend(Cursor::new(Box::new(sorted), None, &keys)?);
        }
        Ok(SortedDay {
            keys,
            cursors,
            chunk_rows: chunk_rows.max(1),
            last: None,
            duplicates: 0,
            done: false,
        })
    }
}

/// Rows taken out of a day to be spilled: they are still in memory (`bytes`) until written.
pub struct PendingRun {
    table: &'static Table,
    batches: Vec<RecordBatch>,
    bytes: usize,
}

/// A sorted run on disk, to be added back to its day.
pub struct SpilledRun(tempfile::NamedTempFile);

impl PendingRun {
    /// Bytes of the rows, held until the run is written.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Sort the rows and write them to a run file in `dir`.
    pub fn write(self, dir: &FsPath) -> Result<SpilledRun, DayError> {
        let file = tempfile::Builder::new()
            .prefix("ctparquet-run-")
            .suffix(".arrow")
            .tempfile_in(dir)?;
        let mut writer =
            FileWriter::try_new(BufWriter::new(file.reopen()?), &internal_schema(self.table))?;
        for chunk in sort_in_memory(self.table, self.batches)? {
            writer.write(&chunk?)?;
        }
        writer.finish()?;
        Ok(SpilledRun(file))
    }
}

/// Sort rows held in memory. The batches are not copied into one: the sort orders (batch, row)
/// pairs, and the run gathers its output chunk by chunk, so sorting needs about the memory of
/// the rows plus one chunk, not twice the rows.
fn sort_in_memory(
    table: &'static Table,
    batches: Vec<RecordBatch>,
) -> Result<InMemoryRun, ArrowError> {
    let keys = SortKeys::new(table);
    let rows = batches
        .iter()
        .map(|b| keys.rows(b))
        .collect::<Result<Vec<_>, _>>()?;
    let mut order: Vec<(usize, usize)> = batches
        .iter()
        .enumerate()
        .flat_map(|(i, b)| (0..b.num_rows()).map(move |r| (i, r)))
        .collect();
    order.sort_unstable_by(|a, b| rows[a.0].row(a.1).cmp(&rows[b.0].row(b.1)));
    Ok(InMemoryRun {
        batches,
        order,
        pos: 0,
    })
}

/// Rows held in memory, in sorted order, gathered a chunk at a time.
struct InMemoryRun {
    batches: Vec<RecordBatch>,
    order: Vec<(usize, usize)>,
    pos: usize,
}

impl Iterator for InMemoryRun {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + SPILL_BATCH_ROWS).min(self.order.len());
        let refs: Vec<&RecordBatch> = self.batches.iter().collect();
        let chunk = interleave_record_batch(&refs, &self.order[self.pos..end]);
        self.pos = end;
        if self.pos == self.order.len() {
            // Free the rows as soon as the last chunk is out.
            self.batches.clear();
            self.order = Vec::new();
        }
        Some(chunk)
    }
}

struct Cursor {
    batches: Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>,
    batch: RecordBatch,
    rows: Rows,
    /// The batch's day-field and identity columns.
    times: ArrayRef,
    ids: ArrayRef,
    pos: usize,
    /// Index of `batch` in the current chunk's sources, once a row of it was taken.
    source: Option<usize>,
    _run: Option<tempfile::NamedTempFile>,
}

impl Cursor {
    /// A cursor on the first non-empty batch, or `None` when there is none.
    fn new(
        mut batches: Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>,
        run: Option<tempfile::NamedTempFile>,
        keys: &SortKeys,
    ) -> Result<Option<Cursor>, ArrowError> {
        for batch in batches.by_ref() {
            let batch = batch?;
            if batch.num_rows() > 0 {
                return Ok(Some(Cursor {
                    batches,
                    rows: keys.rows(&batch)?,
                    times: keys.times(&batch),
                    ids: keys.ids(&batch),
                    batch,
                    pos: 0,
                    source: None,
                    _run: run,
                }));
            }
        }
        Ok(None)
    }
}

/// The merged rows of a day, as an iterator of batches.
pub struct SortedDay {
    keys: SortKeys,
    cursors: Vec<Cursor>,
    chunk_rows: usize,
    /// (eventTime, eventID) of the last row kept, to drop its duplicates.
    last: Option<(Option<i64>, String)>,
    duplicates: u64,
    done: bool,
}

impl SortedDay {
    /// Duplicates dropped so far (all of them once the iterator is exhausted).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    fn next_chunk(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        let mut sources: Vec<RecordBatch> = Vec::new();
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(self.chunk_rows);
        while picks.len() < self.chunk_rows {
            // The cursor whose current row sorts first (a handful of runs: a scan beats a heap).
            let Some(best) = (0..self.cursors.len()).min_by(|&a, &b| {
                let (ca, cb) = (&self.cursors[a], &self.cursors[b]);
                ca.rows.row(ca.pos).cmp(&cb.rows.row(cb.pos))
            }) else {
                break;
            };
            let cursor = &mut self.cursors[best];
            let row = cursor.pos;
            let time_col = cursor.times.as_primitive::<TimestampMillisecondType>();
            let id_col = cursor.ids.as_string::<i32>();
            let time = time_col.is_valid(row).then(|| time_col.value(row));
            let duplicate = id_col.is_valid(row) && {
                let id = id_col.value(row);
                match &mut self.last {
                    Some((last_time, last_id)) if *last_time == time && last_id == id => true,
                    Some((last_time, last_id)) => {
                        *last_time = time;
                        last_id.clear();
                        last_id.push_str(id);
                        false
                    }
                    None => {
                        self.last = Some((time, id.to_string()));
                        false
                    }
                }
            };
            if !id_col.is_valid(row) {
                self.last = None;
            }
            if duplicate {
                self.duplicates += 1;
            } else {
                let source = *cursor.source.get_or_insert_with(|| {
                    sources.push(cursor.batch.clone());
                    sources.len() - 1
                });
                picks.push((source, row));
            }
            cursor.pos += 1;
            if cursor.pos == cursor.batch.num_rows() {
                let mut next = None;
                for batch in cursor.batches.by_ref() {
                    let batch = batch?;
                    if batch.num_rows() > 0 {
                        next = Some(batch);
                        break;
                    }
                }
                match next {
                    Some(batch) => {
                        cursor.rows = self.keys.rows(&batch)?;
                        cursor.times = self.keys.times(&batch);
                        cursor.ids = self.keys.ids(&batch);
                        cursor.batch = batch;
                        cursor.pos = 0;
                        cursor.source = None;
                    }
                    None => {
                        self.cursors.swap_remove(best);
                    }
                }
            }
        }
        for cursor in &mut self.cursors {
            cursor.source = None;
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&RecordBatch> = sources.iter().collect();
        Ok(Some(without_seq(
            self.keys.table,
            interleave_record_batch(&refs, &picks)?,
        )))
    }
}

impl Iterator for SortedDay {
    type Item = Result<RecordBatch, DayError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_chunk() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e.into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::EventBatchBuilder;

    fn rows(records: &[(&str, &str)], first_seq: u64) -> RecordBatch {
        let mut b = EventBatchBuilder::new(&EVENTS);
        for (time, id) in records {
            let json =
                format!(r#"{{"eventTime":"{time}","eventID":"{id}","eventName":"{id}@{time}"}}"#);
            let raw: Box<serde_json::value::RawValue> = serde_json::from_str(&json).unwrap();
            b.append(&raw).unwrap();
        }
        let seq = UInt64Array::from_iter_values(first_seq..first_seq + records.len() as u64);
        with_seq(&EVENTS, &b.finish(), seq).unwrap()
    }

    fn collect(day: DayBuffer, chunk: usize) -> (Vec<String>, u64, Vec<usize>) {
        let mut sorted = day.into_sorted(chunk).unwrap();
        let mut names = Vec::new();
        let mut sizes = Vec::new();
        for batch in sorted.by_ref() {
            let batch = batch.unwrap();
            sizes.push(batch.num_rows());
            let col = batch
                .column_by_name("eventName")
                .unwrap()
                .as_string::<i32>();
            names.extend(col.iter().map(|v| v.unwrap().to_string()));
        }
        (names, sorted.duplicates(), sizes)
    }

    fn sample() -> Vec<RecordBatch> {
        vec![
            rows(
                &[("2026-01-05T10:00:00Z", "b"), ("2026-01-05T09:00:00Z", "a")],
                0,
            ),
            rows(
                &[("2026-01-05T10:00:00Z", "b"), ("2026-01-05T10:00:00Z", "a")],
                10,
            ),
            rows(
                &[("2026-01-05T08:00:00Z", "z"), ("2026-01-05T09:00:00Z", "a")],
                20,
            ),
        ]
    }

    #[test]
    fn sorts_and_drops_duplicates() {
        let mut day = DayBuffer::new(&EVENTS);
        for b in sample() {
            day.push(b);
        }
        let (names, dups, sizes) = collect(day, 2);
        assert_eq!(
            names,
            [
                "z@2026-01-05T08:00:00Z",
                "a@2026-01-05T09:00:00Z",
                "a@2026-01-05T10:00:00Z",
                "b@2026-01-05T10:00:00Z"
            ]
        );
        assert_eq!(dups, 2);
        assert_eq!(sizes, [2, 2]);
    }

    #[test]
    fn spilling_gives_the_same_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut day = DayBuffer::new(&EVENTS);
        for b in sample() {
            day.push(b);
            day.spill(dir.path()).unwrap();
        }
        assert_eq!(day.spilled_runs(), 3);
        assert_eq!(day.memory(), 0);
        let mut in_memory = DayBuffer::new(&EVENTS);
        for b in sample() {
            in_memory.push(b);
        }
        assert_eq!(collect(day, 3), collect(in_memory, 3));
    }
}
