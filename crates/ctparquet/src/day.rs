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
//! A row is a duplicate only when its whole content equals a kept row's: two records that share
//! an eventID and eventTime but differ are both written and reported as a *conflict*, so that a
//! file injected into the trail cannot hide a real event by reusing its id. Rows without an
//! eventID are never taken for duplicates.

use std::io::{BufReader, BufWriter};
use std::path::Path as FsPath;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StructArray, UInt64Array, new_null_array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::error::ArrowError;
use arrow::ipc::CompressionType;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use arrow::row::{Row, RowConverter, Rows, SortField};

use crate::parallel::in_parallel_costliest_first;
use crate::schema::Table;

pub use crate::schema::SEQ;

/// A table's schema plus [`SEQ`].
pub fn internal_schema(table: &Table) -> SchemaRef {
    table.in_flight_schema()
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
    runs: Vec<SpilledRun>,
    rows: usize,
    /// Bytes of every batch pushed, spilled or not (for the average row size).
    pushed_bytes: usize,
    /// Bytes of the rows spilled to runs (restored ones included).
    spilled: usize,
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
            spilled: 0,
        }
    }

    /// Add rows (of [`internal_schema`]); returns their bytes.
    pub fn push(&mut self, batch: RecordBatch) -> usize {
        // Each column counted as its own, although the decoder's columns of nulls share one
        // buffer: what the rows take once gathered, spilled or read back. Counted once, more
        // rows fit the same budget and the peak RSS of a day larger than it rose past the
        // budget's promise (docs/benchmarks.md, "Columns of nulls").
        let bytes = batch.get_array_memory_size();
        self.memory += bytes;
        self.pushed_bytes += bytes;
        self.rows += batch.num_rows();
        self.batches.push(batch);
        bytes
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

    /// The runs spilled to disk (or restored).
    pub fn runs(&self) -> &[SpilledRun] {
        &self.runs
    }

    /// Bytes of every batch pushed (spilled or not).
    pub fn pushed_bytes(&self) -> usize {
        self.pushed_bytes
    }

    /// Add the runs of a day restored from a saved conversion: `rows` rows in all, that took
    /// `pushed_bytes` when they were pushed.
    pub fn restore(&mut self, runs: Vec<SpilledRun>, rows: usize, pushed_bytes: usize) {
        self.runs.extend(runs);
        self.rows += rows;
        self.pushed_bytes += pushed_bytes;
        self.spilled += pushed_bytes;
    }

    /// Take the rows held in memory out of the day, to be written as a sorted run (by
    /// [`PendingRun::write`], on any thread) and handed back with [`DayBuffer::add_run`].
    #[cfg(test)]
    pub fn take_run(&mut self) -> Option<PendingRun> {
        self.take_run_of(usize::MAX)
    }

    /// The oldest rows held in memory taken out of the day (see [`PendingRun`]), batches of at least `bytes` (or all
    /// there are): a run is any subset of the day's rows, as the merge sorts across runs.
    pub fn take_run_of(&mut self, bytes: usize) -> Option<PendingRun> {
        if self.batches.is_empty() {
            return None;
        }
        let mut taken = 0;
        let mut count = 0;
        for batch in &self.batches {
            if taken >= bytes {
                break;
            }
            taken += batch.get_array_memory_size();
            count += 1;
        }
        let rest = self.batches.split_off(count);
        let batches = std::mem::replace(&mut self.batches, rest);
        self.memory -= taken;
        let compressed = self.spilled >= COMPRESS_RUNS_PAST;
        self.spilled += taken;
        Some(PendingRun {
            table: self.table,
            batches,
            bytes: taken,
            compressed,
        })
    }

    /// Add a run written from this day's rows.
    pub fn add_run(&mut self, run: SpilledRun) {
        self.runs.push(run);
    }

    /// Sort what is in memory and write it to a run file in `dir`, here and now.
    #[cfg(test)]
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
    /// The rows still in memory are sorted on up to `threads` threads.
    pub fn into_sorted(mut self, chunk_rows: usize, threads: usize) -> Result<SortedDay, DayError> {
        let keys = SortKeys::new(self.table);
        let mut cursors = Vec::new();
        for run in std::mem::take(&mut self.runs) {
            cursors.extend(Cursor::run(run, &keys)?);
        }
        if !self.batches.is_empty() {
            // Rows still in memory are merged where they are, in their sorted order: no copy of
            // them is made before the one that builds the output batches.
            let sorted = sort_in_memory(&keys, std::mem::take(&mut self.batches), threads)?;
            cursors.extend(Cursor::in_memory(sorted));
        }
        let cursors: Vec<Option<Cursor>> = cursors.into_iter().map(Some).collect();
        let mut heads = Heads::default();
        for i in 0..cursors.len() {
            heads.push(&cursors, i);
        }
        let sole = (heads.len() == 1).then(|| heads.pop(&cursors).expect("one head"));
        Ok(SortedDay {
            keys,
            cursors,
            heads,
            sole,
            chunk_rows: chunk_rows.max(1),
            group: None,
            content: None,
            duplicates: 0,
            conflicts: Vec::new(),
            conflicting: 0,
            done: false,
        })
    }
}

/// Rows taken out of a day to be spilled: they are still in memory (`bytes`) until written.
pub struct PendingRun {
    table: &'static Table,
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// Written with LZ4 (see [`COMPRESS_RUNS_PAST`]).
    compressed: bool,
}

/// A day's runs are written compressed (LZ4) once it has spilled this many bytes. Uncompressed,
/// runs take about their rows' size on disk, and a day of many gigabytes would not fit a
/// Lambda's /tmp; compressed, they cost CPU to write and read back, which a day that spills a
/// little is spared.
const COMPRESS_RUNS_PAST: usize = 512 * 1024 * 1024;

/// A sorted run on disk, to be added back to its day: its rows, and beside them their sort keys
/// alone, batch for batch. The merge reads the keys of every run as it goes, and a batch of rows
/// only when a row of it is taken, so a day of runs holding huge records (a 300 MB string each)
/// does not hold one such batch per run at once.
pub struct SpilledRun {
    rows: tempfile::NamedTempFile,
    keys: tempfile::NamedTempFile,
    /// Written by this process (not restored from a saved run): read back without validation.
    own: bool,
}

impl SpilledRun {
    /// The files of its rows and of its keys.
    pub fn files(&self) -> (&FsPath, &FsPath) {
        (self.rows.path(), self.keys.path())
    }

    /// A run written by another process (a conversion saved at its deadline), of `table`'s
    /// rows: its schemas are checked now and its arrays validated as they are read.
    pub fn restored(
        table: &Table,
        rows: tempfile::NamedTempFile,
        keys: tempfile::NamedTempFile,
    ) -> Result<SpilledRun, DayError> {
        let run = SpilledRun {
            rows,
            keys,
            own: false,
        };
        let schema = internal_schema(table);
        let key_schema = schema.project(&key_columns(table))?;
        let fits = |file, want: &arrow::datatypes::Schema| -> Result<(), DayError> {
            let reader = open_ipc(file, false)?;
            if reader.schema().fields() != want.fields() {
                return Err(DayError::Arrow(ArrowError::SchemaError(
                    "a saved run is not of this table's schema".into(),
                )));
            }
            Ok(())
        };
        fits(&run.rows, &schema)?;
        fits(&run.keys, &key_schema)?;
        Ok(run)
    }
}

/// Reads a run's IPC file; `own`: this process wrote it.
fn open_ipc(
    file: &tempfile::NamedTempFile,
    own: bool,
) -> Result<FileReader<BufReader<std::fs::File>>, DayError> {
    let reader = FileReader::try_new(BufReader::new(file.reopen()?), None)?;
    if !own {
        return Ok(reader);
    }
    // SAFETY: the file was written by `PendingRun::write` from arrays this process built and
    // validated; reading it back need not check every offset and string again.
    Ok(unsafe { reader.with_skip_validation(true) })
}

/// The columns of [`internal_schema`] the merge orders rows by: the time's top-level column, the
/// id and the sequence.
fn key_columns(table: &Table) -> Vec<usize> {
    let schema = internal_schema(table);
    let mut columns: Vec<usize> = [table.time[0], table.id, SEQ]
        .iter()
        .map(|name| schema.index_of(name).expect("key columns exist"))
        .collect();
    columns.sort_unstable();
    columns.dedup();
    columns
}

impl PendingRun {
    /// Bytes of the rows, held until the run is written.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Sort the rows and write them to a run file in `dir`.
    pub fn write(self, dir: &FsPath) -> Result<SpilledRun, DayError> {
        let file = |suffix: &str| {
            tempfile::Builder::new()
                .prefix("ctparquet-run-")
                .suffix(suffix)
                .tempfile_in(dir)
        };
        let (rows, keys) = (file(".arrow")?, file(".keys.arrow")?);
        let schema = internal_schema(self.table);
        let key_columns = key_columns(self.table);
        let options = IpcWriteOptions::default()
            .try_with_compression(self.compressed.then_some(CompressionType::LZ4_FRAME))?;
        let mut rows_out =
            FileWriter::try_new_with_options(BufWriter::new(rows.reopen()?), &schema, options)?;
        let mut keys_out = FileWriter::try_new(
            BufWriter::new(keys.reopen()?),
            &Arc::new(schema.project(&key_columns)?),
        )?;
        let sort_keys = SortKeys::new(self.table);
        // A spill runs beside the decoding, which keeps every core busy: one thread.
        for chunk in InMemoryRun::new(sort_in_memory(&sort_keys, self.batches, 1)?) {
            let chunk = chunk?;
            keys_out.write(&chunk.project(&key_columns)?)?;
            rows_out.write(&chunk)?;
        }
        rows_out.finish()?;
        keys_out.finish()?;
        Ok(SpilledRun {
            rows,
            keys,
            own: true,
        })
    }
}

/// A batch with its sort keys and the columns that tell duplicates apart.
struct Keyed {
    batch: RecordBatch,
    rows: Rows,
    /// The day-field and identity columns.
    times: ArrayRef,
    ids: ArrayRef,
}

impl Keyed {
    fn new(batch: RecordBatch, keys: &SortKeys) -> Result<Self, ArrowError> {
        Ok(Keyed {
            rows: keys.rows(&batch)?,
            times: keys.times(&batch),
            ids: keys.ids(&batch),
            batch,
        })
    }
}

/// Rows held in memory and the order that sorts them, as (batch, row) pairs.
struct SortedInMemory {
    batches: Vec<Keyed>,
    order: Vec<(usize, usize)>,
    /// Per batch: its bytes (a batch of [`HUGE_ROW_BYTES`] or more may hold a huge row, see
    /// [`Cursor::head_is_huge`]).
    bytes: Vec<usize>,
}

/// Sort rows held in memory, on up to `threads` threads. The batches are not copied into one:
/// the sort orders (batch, row) pairs, and readers gather from the batches as they go, so
/// sorting needs about the memory of the rows plus their keys, not twice the rows.
fn sort_in_memory(
    keys: &SortKeys,
    batches: Vec<RecordBatch>,
    threads: usize,
) -> Result<SortedInMemory, ArrowError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let key_threads = if rows < PARALLEL_SORT_MIN { 1 } else { threads };
    let batches = in_parallel_costliest_first(batches, key_threads, RecordBatch::num_rows, |b| {
        Keyed::new(b, keys)
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    // Each row's first 16 key bytes beside it: most comparisons end there (the instant and the
    // start of the event id), as an integer comparison, without reaching for the rows' bytes.
    let mut order: Vec<(u128, u32, u32)> = batches
        .iter()
        .enumerate()
        .flat_map(|(i, b)| {
            (0..b.batch.num_rows())
                .map(move |r| (key_prefix(b.rows.row(r).as_ref()), i as u32, r as u32))
        })
        .collect();
    sort_on_threads(&mut order, threads, &|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            let row = |&(_, batch, row): &(u128, u32, u32)| {
                batches[batch as usize].rows.row(row as usize)
            };
            row(a).cmp(&row(b))
        })
    });
    let order = order
        .into_iter()
        .map(|(_, batch, row)| (batch as usize, row as usize))
        .collect();
    let bytes = batches
        .iter()
        .map(|b| b.batch.get_array_memory_size())
        .collect();
    Ok(SortedInMemory {
        batches,
        order,
        bytes,
    })
}

/// The first 16 bytes of a row's key as a big-endian integer (zero-padded): two rows whose
/// prefixes differ compare as their prefixes do; equal prefixes leave it to the whole keys.
fn key_prefix(row: &[u8]) -> u128 {
    let mut prefix = [0u8; 16];
    let n = row.len().min(16);
    prefix[..n].copy_from_slice(&row[..n]);
    u128::from_be_bytes(prefix)
}

/// Below this many items a sort stays on one thread.
const PARALLEL_SORT_MIN: usize = 1 << 14;

/// Sort `items` on up to `threads` threads: halves sorted on threads of their own, then merged.
/// `cmp` must be a total order (the day's keys end with the unique sequence number), so the
/// result does not depend on the number of threads.
fn sort_on_threads<T: Copy + Send + Sync>(
    items: &mut [T],
    threads: usize,
    cmp: &(impl Fn(&T, &T) -> std::cmp::Ordering + Sync),
) {
    if threads < 2 || items.len() < PARALLEL_SORT_MIN {
        items.sort_unstable_by(cmp);
        return;
    }
    let len = items.len();
    let (left, right) = items.split_at_mut(len / 2);
    std::thread::scope(|scope| {
        scope.spawn(|| sort_on_threads(left, threads / 2, cmp));
        sort_on_threads(right, threads - threads / 2, cmp);
    });
    let mut merged = Vec::with_capacity(len);
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if cmp(&right[j], &left[i]).is_lt() {
            merged.push(right[j]);
            j += 1;
        } else {
            merged.push(left[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&left[i..]);
    merged.extend_from_slice(&right[j..]);
    items.copy_from_slice(&merged);
}

/// Rows held in memory, in sorted order, gathered a chunk at a time (to be written as a run).
struct InMemoryRun {
    batches: Vec<RecordBatch>,
    order: Vec<(usize, usize)>,
    pos: usize,
}

impl InMemoryRun {
    fn new(sorted: SortedInMemory) -> Self {
        InMemoryRun {
            batches: sorted.batches.into_iter().map(|k| k.batch).collect(),
            order: sorted.order,
            pos: 0,
        }
    }
}

impl Iterator for InMemoryRun {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + SPILL_BATCH_ROWS).min(self.order.len());
        let chunk = gather_batch(&self.batches, &self.order[self.pos..end]);
        self.pos = end;
        if self.pos == self.order.len() {
            // Free the rows as soon as the last chunk is out.
            self.batches.clear();
            self.order = Vec::new();
        }
        Some(chunk)
    }
}

/// One sorted input of the merge: a run read back from disk, or the rows still in memory.
// A day has a cursor per spilled run (tens at most): their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Cursor {
    Run {
        /// The run's sort keys, batch by batch.
        keys: FileReader<BufReader<std::fs::File>>,
        /// Its rows, read a batch at a time when a row of that batch is taken.
        rows: FileReader<BufReader<std::fs::File>>,
        /// The batch the cursor is in, its keys, and its rows once read.
        index: usize,
        current: Keyed,
        full: Option<RecordBatch>,
        /// The bytes of `full` (see [`batch_bytes`]).
        full_bytes: usize,
        pos: usize,
        /// Index of `full` in the chunk being built, once a row of it was taken.
        source: Option<usize>,
        _run: SpilledRun,
    },
    InMemory {
        sorted: SortedInMemory,
        pos: usize,
        /// Index of each batch in the chunk being built, once a row of it was taken.
        sources: Vec<Option<usize>>,
    },
}

/// The rows `picks` names, (source, row) in order, gathered into a batch of the sources' schema.
fn gather_batch(
    sources: &[RecordBatch],
    picks: &[(usize, usize)],
) -> Result<RecordBatch, ArrowError> {
    let columns = (0..sources[0].num_columns())
        .map(|i| gather_column(sources, i, picks))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(sources[0].schema(), columns)
}

/// Column `i` of the rows `picks` names (see [`gather`]).
fn gather_column(
    sources: &[RecordBatch],
    i: usize,
    picks: &[(usize, usize)],
) -> Result<ArrayRef, ArrowError> {
    let arrays: Vec<&dyn Array> = sources.iter().map(|b| b.column(i).as_ref()).collect();
    gather(&arrays, picks)
}

/// [`interleave`], except that a column that is null in every source (most of the schema's rare
/// fields, in a day's rows) is made as nulls instead of being gathered row by row, looking into
/// structs for such fields.
fn gather(arrays: &[&dyn Array], picks: &[(usize, usize)]) -> Result<ArrayRef, ArrowError> {
    let data_type = arrays[0].data_type();
    if arrays.iter().all(|a| a.null_count() == a.len()) {
        return Ok(new_null_array(data_type, picks.len()));
    }
    match data_type {
        DataType::Struct(fields) if !fields.is_empty() => {
            let structs: Vec<&StructArray> = arrays.iter().map(|a| a.as_struct()).collect();
            let children = (0..fields.len())
                .map(|i| {
                    let columns: Vec<&dyn Array> =
                        structs.iter().map(|s| s.column(i).as_ref()).collect();
                    gather(&columns, picks)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let nulls = structs.iter().any(|s| s.null_count() > 0).then(|| {
                NullBuffer::new(BooleanBuffer::from_iter(
                    picks
                        .iter()
                        .map(|&(source, row)| structs[source].is_valid(row)),
                ))
            });
            Ok(Arc::new(StructArray::try_new(
                fields.clone(),
                children,
                nulls,
            )?))
        }
        _ => interleave(arrays, picks),
    }
}

/// The bytes of a batch's values. Not `get_array_memory_size`: a batch read back from a run is
/// one block of the file, which every buffer of every column points into, and that counts the
/// whole block once per buffer (a 2 MB batch of a run measured ~100 times its size: every batch
/// of a run looked large enough to hold a huge row, was read again after every chunk, and a
/// chunk picking from one held the merge back as if it took the whole read-ahead).
fn batch_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|column| {
            column
                .to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| column.get_array_memory_size())
        })
        .sum()
}

/// A batch of rows this large (bytes) may hold a huge record: its rows are sized one by one, a
/// huge one goes out in a chunk of its own, and the batch is not kept beyond the chunk.
const LARGE_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// A row whose strings add up to this many bytes goes out in a chunk of its own (and so reaches
/// the encoder alone, uncopied).
const HUGE_ROW_BYTES: usize = 16 * 1024 * 1024;

impl Cursor {
    /// A cursor on a run's first non-empty batch, or `None` when there is none.
    fn run(run: SpilledRun, keys: &SortKeys) -> Result<Option<Cursor>, DayError> {
        let mut key_reader = open_ipc(&run.keys, run.own)?;
        let rows = open_ipc(&run.rows, run.own)?;
        for (index, batch) in key_reader.by_ref().enumerate() {
            let batch = batch?;
            if batch.num_rows() > 0 {
                return Ok(Some(Cursor::Run {
                    keys: key_reader,
                    rows,
                    index,
                    current: Keyed::new(batch, keys)?,
                    full: None,
                    full_bytes: 0,
                    pos: 0,
                    source: None,
                    _run: run,
                }));
            }
        }
        Ok(None)
    }

    /// A cursor on rows in memory, or `None` when there are none.
    fn in_memory(sorted: SortedInMemory) -> Option<Cursor> {
        (!sorted.order.is_empty()).then(|| Cursor::InMemory {
            sources: vec![None; sorted.batches.len()],
            sorted,
            pos: 0,
        })
    }

    /// The sort key of the row the cursor is on.
    fn head_key(&self) -> Row<'_> {
        let (keyed, row) = self.head();
        keyed.rows.row(row)
    }

    /// The keys of the batch the cursor is on, and its row in it.
    fn head(&self) -> (&Keyed, usize) {
        match self {
            Cursor::Run { current, pos, .. } => (current, *pos),
            Cursor::InMemory { sorted, pos, .. } => {
                let (batch, row) = sorted.order[*pos];
                (&sorted.batches[batch], row)
            }
        }
    }

    /// The rows of the batch the cursor is on (read from the run if need be), and its row in it.
    fn head_rows(&mut self) -> Result<(&RecordBatch, usize), ArrowError> {
        match self {
            Cursor::Run {
                rows,
                index,
                full,
                full_bytes,
                pos,
                ..
            } => {
                if full.is_none() {
                    rows.set_index(*index)?;
                    let batch = rows.next().ok_or_else(|| {
                        ArrowError::IpcError("a run has fewer batches of rows than of keys".into())
                    })??;
                    *full_bytes = batch_bytes(&batch);
                    *full = Some(batch);
                }
                Ok((full.as_ref().expect("read above"), *pos))
            }
            Cursor::InMemory { sorted, pos, .. } => {
                let (batch, row) = sorted.order[*pos];
                Ok((&sorted.batches[batch].batch, row))
            }
        }
    }

    /// The head row as a one-row batch.
    fn head_row(&mut self) -> Result<RecordBatch, ArrowError> {
        let (batch, row) = self.head_rows()?;
        Ok(batch.slice(row, 1))
    }

    /// Is the head row huge (see [`HUGE_ROW_BYTES`])? Judged on the row alone, so chunk
    /// boundaries stay independent of how the day was spilled.
    fn head_is_huge(&mut self) -> Result<bool, ArrowError> {
        self.head_rows()?;
        // Only a batch at least that large can hold such a row: most are never looked into.
        let batch_bytes = match self {
            Cursor::Run { full_bytes, .. } => *full_bytes,
            Cursor::InMemory { sorted, pos, .. } => sorted.bytes[sorted.order[*pos].0],
        };
        if batch_bytes < HUGE_ROW_BYTES {
            return Ok(false);
        }
        let (batch, row) = self.head_rows()?;
        let bytes: usize = batch
            .columns()
            .iter()
            .map(|c| string_bytes(c.as_ref(), row))
            .sum();
        Ok(bytes >= HUGE_ROW_BYTES)
    }

    /// The index in `sources` of the head row's batch, added there the first time.
    fn source_of_head(&mut self, sources: &mut Sources) -> Result<usize, ArrowError> {
        self.head_rows()?;
        let (slot, batch, bytes) = match self {
            Cursor::Run {
                full,
                full_bytes,
                source,
                ..
            } => (source, full.as_ref().expect("read above"), *full_bytes),
            Cursor::InMemory {
                sorted,
                pos,
                sources: slots,
            } => {
                let batch = sorted.order[*pos].0;
                (
                    &mut slots[batch],
                    &sorted.batches[batch].batch,
                    sorted.bytes[batch],
                )
            }
        };
        Ok(*slot.get_or_insert_with(|| {
            sources.batches.push(batch.clone());
            sources.bytes.push(bytes);
            sources.batches.len() - 1
        }))
    }

    /// Forget the sources of the chunk just built; a large batch of a run is let go too (read
    /// again if more of its rows are taken).
    fn clear_sources(&mut self) {
        match self {
            Cursor::Run {
                source,
                full,
                full_bytes,
                ..
            } => {
                *source = None;
                if *full_bytes >= LARGE_BATCH_BYTES {
                    *full = None;
                }
            }
            Cursor::InMemory { sources, .. } => sources.fill(None),
        }
    }

    /// Move to the next row; false once there is none.
    fn advance(&mut self, keys: &SortKeys) -> Result<bool, ArrowError> {
        match self {
            Cursor::Run {
                keys: key_reader,
                index,
                current,
                full,
                pos,
                source,
                ..
            } => {
                *pos += 1;
                if *pos < current.batch.num_rows() {
                    return Ok(true);
                }
                *full = None;
                *source = None;
                for batch in key_reader.by_ref() {
                    *index += 1;
                    let batch = batch?;
                    if batch.num_rows() > 0 {
                        *current = Keyed::new(batch, keys)?;
                        *pos = 0;
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Cursor::InMemory { sorted, pos, .. } => {
                *pos += 1;
                Ok(*pos < sorted.order.len())
            }
        }
    }
}

/// Bytes of the strings of one row of an array (nested ones included).
fn string_bytes(array: &dyn Array, row: usize) -> usize {
    if array.is_null(row) {
        return 0;
    }
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value_length(row) as usize,
        DataType::Struct(_) => array
            .as_struct()
            .columns()
            .iter()
            .map(|c| string_bytes(c.as_ref(), row))
            .sum(),
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let items = list.value(row);
            (0..items.len())
                .map(|i| string_bytes(items.as_ref(), i))
                .sum()
        }
        _ => 0,
    }
}

/// The merged rows of a day, as an iterator of batches.
pub struct SortedDay {
    keys: SortKeys,
    /// The inputs; `None` once one is exhausted (its last batch and run file are freed then).
    cursors: Vec<Option<Cursor>>,
    /// The key of each input's current row: the least is the next row out. A heap, as a day of
    /// many spilled runs (a 10 GB day has dozens) would pay a comparison per run for every row.
    heads: Heads,
    /// The one input left, when only one is (most days never spill): its rows come out in its
    /// own order, with no key to copy into the heap for each.
    sole: Option<usize>,
    chunk_rows: usize,
    /// The (eventTime, eventID) of the last row kept and the rows kept with that key, to tell
    /// its duplicates from conflicts.
    group: Option<Group>,
    /// Compares whole rows (all columns but the sequence), built at the first same-key pair.
    content: Option<RowConverter>,
    duplicates: u64,
    conflicts: Vec<Conflict>,
    conflicting: u64,
    done: bool,
}

/// The live inputs of a merge, least current key first: a binary heap of their indices that
/// compares the inputs' own key rows. (A heap of owned copies of the keys allocated one for
/// every row merged.) Keys end with the row's sequence number, so no two are equal.
#[derive(Default)]
struct Heads(Vec<usize>);

impl Heads {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn less(cursors: &[Option<Cursor>], a: usize, b: usize) -> bool {
        let key = |i: usize| {
            cursors[i]
                .as_ref()
                .expect("a head is of a live input")
                .head_key()
        };
        (key(a), a) < (key(b), b)
    }

    /// Add input `i`, on its current row.
    fn push(&mut self, cursors: &[Option<Cursor>], i: usize) {
        let heap = &mut self.0;
        heap.push(i);
        let mut at = heap.len() - 1;
        while at > 0 {
            let parent = (at - 1) / 2;
            if !Self::less(cursors, heap[at], heap[parent]) {
                break;
            }
            heap.swap(at, parent);
            at = parent;
        }
    }

    /// Take the input whose current row sorts first.
    fn pop(&mut self, cursors: &[Option<Cursor>]) -> Option<usize> {
        let heap = &mut self.0;
        if heap.is_empty() {
            return None;
        }
        let least = heap.swap_remove(0);
        let mut at = 0;
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut smallest = at;
            if left < heap.len() && Self::less(cursors, heap[left], heap[smallest]) {
                smallest = left;
            }
            if right < heap.len() && Self::less(cursors, heap[right], heap[smallest]) {
                smallest = right;
            }
            if smallest == at {
                return Some(least);
            }
            heap.swap(at, smallest);
            at = smallest;
        }
    }
}

/// Rows of one (eventTime, eventID) key kept so far.
struct Group {
    time: Option<i64>,
    id: String,
    kept: Vec<KeptRow>,
}

/// A row kept in the output: where it is in the chunk being built, or (once that chunk is out)
/// a one-row slice of it.
enum KeptRow {
    Picked(usize),
    Slice(RecordBatch),
}

/// Two rows with the same eventID and eventTime but different content: both are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub event_id: String,
    /// The sequence numbers ([`SEQ`]) of the first row kept with that key and of the row that
    /// differs from it.
    pub seqs: [u64; 2],
}

/// Conflicts described at most, per day; all are counted.
pub const CONFLICTS_LISTED: usize = 20;

impl SortedDay {
    /// Duplicates dropped so far (all of them once the iterator is exhausted).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Rows with an eventID and eventTime of a kept row but other content, written as well
    /// (all of them once the iterator is exhausted).
    pub fn conflicting(&self) -> u64 {
        self.conflicting
    }

    /// The first [`CONFLICTS_LISTED`] conflicts.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    fn next_chunk(&mut self) -> Result<Option<MergedChunk>, ArrowError> {
        let mut sources = Sources::default();
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(self.chunk_rows);
        while picks.len() < self.chunk_rows {
            // The input whose current row sorts first.
            let Some(best) = self.sole.or_else(|| self.heads.pop(&self.cursors)) else {
                break;
            };
            let cursor = self.cursors[best]
                .as_mut()
                .expect("a head is of a live input");
            // A huge row goes out in a chunk of its own: one copy of it at a time.
            let huge = cursor.head_is_huge()?;
            if huge && !picks.is_empty() {
                if self.sole.is_none() {
                    self.heads.push(&self.cursors, best);
                }
                break;
            }
            // Does it share the (eventTime, eventID) of the rows kept last?
            let same_key = {
                let (keyed, row) = cursor.head();
                let time_col = keyed.times.as_primitive::<TimestampMillisecondType>();
                let id_col = keyed.ids.as_string::<i32>();
                let time = time_col.is_valid(row).then(|| time_col.value(row));
                if !id_col.is_valid(row) {
                    self.group = None;
                    false
                } else {
                    let id = id_col.value(row);
                    match &mut self.group {
                        Some(group) if group.time == time && group.id == id => true,
                        Some(group) => {
                            group.time = time;
                            group.id.clear();
                            group.id.push_str(id);
                            group.kept.clear();
                            group.kept.push(KeptRow::Picked(picks.len()));
                            false
                        }
                        None => {
                            self.group = Some(Group {
                                time,
                                id: id.to_string(),
                                kept: vec![KeptRow::Picked(picks.len())],
                            });
                            false
                        }
                    }
                }
            };
            let keep = !same_key || {
                let group = self.group.as_mut().expect("a key was kept");
                let candidate = cursor.head_row()?;
                let converter = self
                    .content
                    .get_or_insert_with(|| content_converter(self.keys.table));
                let mut conflict_with = None;
                let mut same = false;
                for kept in &group.kept {
                    let kept = match kept {
                        KeptRow::Picked(i) => {
                            let (source, r) = picks[*i];
                            sources.batches[source].slice(r, 1)
                        }
                        KeptRow::Slice(batch) => batch.clone(),
                    };
                    if same_content(self.keys.table, converter, &kept, &candidate)? {
                        same = true;
                        break;
                    }
                    conflict_with.get_or_insert(seq_of(&kept));
                }
                if same {
                    self.duplicates += 1;
                } else {
                    self.conflicting += 1;
                    if self.conflicts.len() < CONFLICTS_LISTED {
                        self.conflicts.push(Conflict {
                            event_id: group.id.clone(),
                            seqs: [
                                conflict_with.expect("a group keeps a row"),
                                seq_of(&candidate),
                            ],
                        });
                    }
                    group.kept.push(KeptRow::Picked(picks.len()));
                }
                !same
            };
            if keep {
                let row = cursor.head().1;
                picks.push((cursor.source_of_head(&mut sources)?, row));
            }
            if !cursor.advance(&self.keys)? {
                self.cursors[best] = None;
                self.sole = None;
            } else if self.heads.is_empty() {
                self.sole = Some(best);
            } else {
                self.heads.push(&self.cursors, best);
            }
            if huge && keep {
                break;
            }
        }
        for cursor in self.cursors.iter_mut().flatten() {
            cursor.clear_sources();
        }
        // The group may go on in the next chunk, whose picks start over.
        if let Some(group) = &mut self.group {
            for kept in &mut group.kept {
                if let KeptRow::Picked(i) = *kept {
                    let (source, r) = picks[i];
                    *kept = KeptRow::Slice(sources.batches[source].slice(r, 1));
                }
            }
        }
        if picks.is_empty() {
            return Ok(None);
        }
        Ok(Some(MergedChunk {
            table: self.keys.table,
            sources: sources.batches,
            source_bytes: sources.bytes,
            picks,
            on_drop: None,
        }))
    }
}

/// The batches a chunk being merged takes rows from, and their bytes.
#[derive(Default)]
struct Sources {
    batches: Vec<RecordBatch>,
    bytes: Vec<usize>,
}

/// A chunk of a day's merged rows, not yet gathered into columns of its own: the batches its
/// rows come from and, in output order, which row of which batch. The merge is serial and only
/// picks rows; gathering copies every value, so it is left to the encoder, which gathers each
/// column on the thread that encodes it (in parallel, one column at a time in memory).
pub struct MergedChunk {
    table: &'static Table,
    /// Batches of the internal schema (with [`SEQ`], which the chunk's columns leave out).
    sources: Vec<RecordBatch>,
    /// The bytes of each source, measured once, when it was read.
    source_bytes: Vec<usize>,
    picks: Vec<(usize, usize)>,
    /// Shared with the chunk's slices: run when the last of them is dropped.
    on_drop: Option<Arc<OnDrop>>,
}

/// A closure run once, when dropped.
struct OnDrop(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

impl MergedChunk {
    /// The chunk, with `f` to run once it and every slice of it are dropped: when the encoder,
    /// which may hold it after taking the next one, is done with its rows.
    pub fn on_drop(mut self, f: impl FnOnce() + Send + Sync + 'static) -> Self {
        self.on_drop = Some(Arc::new(OnDrop(Some(Box::new(f)))));
        self
    }

    pub fn num_rows(&self) -> usize {
        self.picks.len()
    }

    /// Column `i` of the table's schema, gathered.
    pub fn column(&self, i: usize) -> Result<ArrayRef, ArrowError> {
        match self.picks.as_slice() {
            // One row (a huge one, as a rule): passed on as it is, not copied.
            [(source, row)] => Ok(self.sources[*source].column(i).slice(*row, 1)),
            picks => gather_column(&self.sources, i, picks),
        }
    }

    /// Rows `offset .. offset + len` of the chunk (nothing is copied).
    pub fn slice(&self, offset: usize, len: usize) -> MergedChunk {
        MergedChunk {
            table: self.table,
            sources: self.sources.clone(),
            source_bytes: self.source_bytes.clone(),
            picks: self.picks[offset..offset + len].to_vec(),
            on_drop: self.on_drop.clone(),
        }
    }

    /// Every column gathered, as a batch of the table's schema.
    pub fn to_batch(&self) -> Result<RecordBatch, ArrowError> {
        let columns = (0..self.table.schema().fields().len())
            .map(|i| self.column(i))
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(self.table.schema(), columns)
    }

    /// About the memory the chunk's rows take: the share of each source batch it picks from (a
    /// one-row chunk: its whole source, which it keeps alive, as a huge row's is).
    pub fn memory_size(&self) -> usize {
        if let [(source, _)] = self.picks.as_slice() {
            return self.source_bytes[*source];
        }
        let mut picked = vec![0usize; self.sources.len()];
        for (source, _) in &self.picks {
            picked[*source] += 1;
        }
        self.sources
            .iter()
            .zip(&self.source_bytes)
            .zip(picked)
            .map(|((batch, bytes), n)| bytes * n / batch.num_rows().max(1))
            .sum()
    }
}

/// A row converter over a table's columns (the sequence left out), to compare whole rows.
fn content_converter(table: &Table) -> RowConverter {
    let fields = table
        .schema()
        .fields()
        .iter()
        .map(|f| SortField::new(f.data_type().clone()))
        .collect();
    RowConverter::new(fields).expect("every column type has a row format")
}

/// Whether two one-row batches (of the internal schema) hold the same record: the same values,
/// or (as verify judges) records that rebuild JSON-equal, e.g. with their JSON-valued members
/// written with other whitespace or member order.
fn same_content(
    table: &Table,
    converter: &RowConverter,
    a: &RecordBatch,
    b: &RecordBatch,
) -> Result<bool, ArrowError> {
    let columns = a.num_columns() - 1;
    let rows_a = converter.convert_columns(&a.columns()[..columns])?;
    let rows_b = converter.convert_columns(&b.columns()[..columns])?;
    if rows_a.row(0) == rows_b.row(0) {
        return Ok(true);
    }
    let rebuilt = |batch: &RecordBatch| {
        crate::rebuild::rebuild_batch(table, &without_seq(table, batch.clone()))
            .map_err(|e| ArrowError::ComputeError(format!("rebuilding a row: {e}")))
    };
    Ok(rebuilt(a)? == rebuilt(b)?)
}

/// The sequence number of a one-row batch of the internal schema.
fn seq_of(row: &RecordBatch) -> u64 {
    row.column(row.num_columns() - 1)
        .as_primitive::<arrow::datatypes::UInt64Type>()
        .value(0)
}

impl Iterator for SortedDay {
    type Item = Result<MergedChunk, DayError>;

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
    use crate::schema::EVENTS;

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
        let mut sorted = day.into_sorted(chunk, 2).unwrap();
        let mut names = Vec::new();
        let mut sizes = Vec::new();
        for chunk in sorted.by_ref() {
            let batch = chunk.unwrap().to_batch().unwrap();
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

    /// Records of (eventTime, eventID, eventName).
    fn named(records: &[(&str, &str, &str)], first_seq: u64) -> RecordBatch {
        let mut b = EventBatchBuilder::new(&EVENTS);
        for (time, id, name) in records {
            let json = format!(r#"{{"eventTime":"{time}","eventID":"{id}","eventName":"{name}"}}"#);
            let raw: Box<serde_json::value::RawValue> = serde_json::from_str(&json).unwrap();
            b.append(&raw).unwrap();
        }
        let seq = UInt64Array::from_iter_values(first_seq..first_seq + records.len() as u64);
        with_seq(&EVENTS, &b.finish(), seq).unwrap()
    }

    #[test]
    fn same_id_and_time_with_other_content_is_kept_as_a_conflict() {
        let t = "2026-01-05T10:00:00Z";
        let batches = || {
            vec![
                named(&[(t, "a", "Real"), (t, "b", "Other")], 0),
                // An injected copy of "a" (conflict), a true re-delivery of each, and the
                // injected one again (a duplicate of the conflict, dropped).
                named(
                    &[(t, "a", "Injected"), (t, "a", "Real"), (t, "b", "Other")],
                    10,
                ),
                named(&[(t, "a", "Injected")], 20),
            ]
        };
        for chunk in [1, 2, 100] {
            for spill in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let mut day = DayBuffer::new(&EVENTS);
                for b in batches() {
                    day.push(b);
                    if spill {
                        day.spill(dir.path()).unwrap();
                    }
                }
                let mut sorted = day.into_sorted(chunk, 2).unwrap();
                let mut names = Vec::new();
                for chunk in sorted.by_ref() {
                    let batch = chunk.unwrap().to_batch().unwrap();
                    let col = batch
                        .column_by_name("eventName")
                        .unwrap()
                        .as_string::<i32>();
                    names.extend(col.iter().map(|v| v.unwrap().to_string()));
                }
                assert_eq!(
                    names,
                    ["Real", "Injected", "Other"],
                    "chunk {chunk}, spill {spill}"
                );
                assert_eq!(sorted.duplicates(), 3);
                assert_eq!(sorted.conflicting(), 1);
                assert_eq!(
                    sorted.conflicts(),
                    [Conflict {
                        event_id: "a".into(),
                        seqs: [0, 10]
                    }]
                );
            }
        }
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

    #[test]
    fn a_compressed_run_reads_back_the_same_rows_in_less_space() {
        let dir = tempfile::tempdir().unwrap();
        let batch = seconds(0..2048, 0);
        let write = |compressed| {
            PendingRun {
                table: &EVENTS,
                batches: vec![batch.clone()],
                bytes: 0,
                compressed,
            }
            .write(dir.path())
            .unwrap()
        };
        let (plain, lz4) = (write(false), write(true));
        let size = |run: &SpilledRun| std::fs::metadata(run.files().0).unwrap().len();
        assert!(
            size(&lz4) * 2 < size(&plain),
            "{} {}",
            size(&lz4),
            size(&plain)
        );
        let read = |run: &SpilledRun| {
            open_ipc(&run.rows, run.own)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
        };
        assert_eq!(read(&lz4), read(&plain));
    }

    #[test]
    fn a_batch_read_back_from_a_run_measures_its_values_once() {
        let dir = tempfile::tempdir().unwrap();
        let batch = seconds(0..2048, 0);
        let run = PendingRun {
            table: &EVENTS,
            batches: vec![batch.clone()],
            bytes: 0,
            compressed: false,
        }
        .write(dir.path())
        .unwrap();
        let mut reader = open_ipc(&run.rows, run.own).unwrap();
        let read = reader.next().unwrap().unwrap();
        assert_eq!(read.num_rows(), 2048);
        // Every buffer of the batch read points into one block of the file.
        let (ours, arrows) = (batch_bytes(&read), read.get_array_memory_size());
        assert!(
            ours <= 2 * batch_bytes(&batch),
            "{ours} bytes read back for {} written",
            batch_bytes(&batch)
        );
        assert!(
            arrows > 10 * ours,
            "the block counted once per buffer: {arrows}"
        );
    }

    #[test]
    fn sorting_on_threads_gives_the_order_of_one() {
        let items: Vec<(u32, u32)> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) % 1000, i))
            .collect();
        let mut expected = items.clone();
        expected.sort_unstable();
        for threads in [1, 2, 3, 4] {
            let mut sorted = items.clone();
            sort_on_threads(&mut sorted, threads, &|a, b| a.cmp(b));
            assert!(sorted == expected, "{threads} threads");
        }
    }

    #[test]
    fn a_large_day_sorts_the_same_on_any_number_of_threads() {
        // Above PARALLEL_SORT_MIN rows, in batches that overlap in time and out of order.
        let day = |threads: usize| {
            let mut day = DayBuffer::new(&EVENTS);
            for (b, start) in [3000u32, 0, 1500, 600].into_iter().enumerate() {
                let seq = b as u64 * 10_000;
                day.push(seconds((start..start + 3000).rev(), seq));
                day.push(seconds(start..start + 3000, seq + 5000));
            }
            let mut ids = Vec::new();
            for chunk in day.into_sorted(4096, threads).unwrap() {
                let batch = chunk.unwrap().to_batch().unwrap();
                let seqs = batch.column_by_name("eventID").unwrap().as_string::<i32>();
                ids.extend(seqs.iter().map(|v| v.unwrap().to_string()));
            }
            ids
        };
        let one = day(1);
        assert_eq!(one.len(), 6000, "24,000 rows of 6,000 events");
        assert_eq!(day(2), one);
        assert_eq!(day(3), one);
    }

    #[test]
    fn key_prefixes_that_differ_order_as_their_keys() {
        let keys: Vec<Vec<u8>> = (0..400u32)
            .map(|i| {
                let len = (i % 23) as usize;
                (0..len)
                    .map(|j| (i.wrapping_mul(31).wrapping_add(j as u32 * 7) % 5) as u8)
                    .collect()
            })
            .collect();
        for a in &keys {
            for b in &keys {
                let (pa, pb) = (key_prefix(a), key_prefix(b));
                if pa != pb {
                    assert_eq!(pa.cmp(&pb), a.cmp(b), "{a:?} {b:?}");
                }
            }
        }
    }

    /// Rows `range` of a day with one event a second, in the order of `range`.
    fn seconds(range: impl Iterator<Item = u32>, first_seq: u64) -> RecordBatch {
        let records: Vec<(String, String)> = range
            .map(|i| {
                let time = format!("2026-01-05T10:{:02}:{:02}Z", i / 60, i % 60);
                (time, format!("id{i}"))
            })
            .collect();
        let refs: Vec<(&str, &str)> = records
            .iter()
            .map(|(t, i)| (t.as_str(), i.as_str()))
            .collect();
        rows(&refs, first_seq)
    }

    #[test]
    fn runs_of_consecutive_files_merge_as_one_sorted_day() {
        // Runs that follow each other in time (as spilled from consecutive delivery files),
        // each given out of order, the last overlapping the one before it with re-delivered
        // events: the merge takes long stretches from one run at a time.
        let batches = || {
            vec![
                seconds((0..300).rev(), 0),
                seconds((300..600).rev(), 1_000),
                seconds((550..900).rev(), 2_000),
            ]
        };
        let dir = tempfile::tempdir().unwrap();
        let mut spilled = DayBuffer::new(&EVENTS);
        for b in batches() {
            spilled.push(b);
            spilled.spill(dir.path()).unwrap();
        }
        let mut in_memory = DayBuffer::new(&EVENTS);
        for b in batches() {
            in_memory.push(b);
        }
        let merged = collect(spilled, 128);
        assert_eq!(merged, collect(in_memory, 128));
        let (names, duplicates, sizes) = merged;
        let expected: Vec<String> = (0..900)
            .map(|i| format!("id{i}@2026-01-05T10:{:02}:{:02}Z", i / 60, i % 60))
            .collect();
        assert_eq!(names, expected);
        assert_eq!(duplicates, 50);
        assert_eq!(sizes, [128, 128, 128, 128, 128, 128, 128, 4]);
    }

    #[test]
    fn many_interleaved_runs_merge_in_order() {
        // Eleven runs whose rows alternate (run k holds every eleventh second from k), plus rows
        // left in memory: the merge's heap takes a row from a different input each time.
        let runs = 11;
        let dir = tempfile::tempdir().unwrap();
        let mut day = DayBuffer::new(&EVENTS);
        for k in 0..runs {
            day.push(seconds(
                (k..1_100).step_by(runs as usize).rev(),
                u64::from(k) * 1_000,
            ));
            day.spill(dir.path()).unwrap();
        }
        day.push(seconds(1_100..1_150, 50_000));
        assert_eq!(day.spilled_runs(), runs as usize);
        let (names, duplicates, sizes) = collect(day, 100);
        let expected: Vec<String> = (0..1_150)
            .map(|i| format!("id{i}@2026-01-05T10:{:02}:{:02}Z", i / 60, i % 60))
            .collect();
        assert_eq!(names, expected);
        assert_eq!(duplicates, 0);
        assert_eq!(sizes.iter().sum::<usize>(), 1_150);
    }

    fn records(json: &[&str]) -> RecordBatch {
        let mut b = EventBatchBuilder::new(&EVENTS);
        for record in json {
            let raw: Box<serde_json::value::RawValue> = serde_json::from_str(record).unwrap();
            b.append(&raw).unwrap();
        }
        b.finish()
    }

    #[test]
    fn gathering_makes_what_interleave_makes() {
        // userIdentity.userName is null in every source (made as nulls), sessionIssuer is a
        // struct set in one source only, userAgent is set in some rows: every path of `gather`.
        let a = records(&[
            r#"{"eventID":"1","userIdentity":{"type":"IAMUser"},"userAgent":"x"}"#,
            r#"{"eventID":"2","userIdentity":null}"#,
        ]);
        let b = records(&[
            r#"{"eventID":"3","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"arn":"r"}}}}"#,
            r#"{"eventID":"4"}"#,
        ]);
        let picks = [(1, 1), (0, 0), (1, 0), (0, 1), (1, 1)];
        let gathered = gather_batch(&[a.clone(), b.clone()], &picks).unwrap();
        let interleaved = arrow::compute::interleave_record_batch(&[&a, &b], &picks).unwrap();
        assert_eq!(gathered, interleaved);
        for column in gathered.columns() {
            column.to_data().validate_full().unwrap();
        }
    }
}
