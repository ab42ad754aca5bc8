//! A Parquet file writer that encodes the columns of a row group on several threads.
//!
//! It writes what [`parquet::arrow::ArrowWriter`] writes, with the same properties and schema
//! metadata (it starts from one), but the top-level columns are gathered and encoded in parallel
//! through arrow-rs' low-level [`ArrowColumnWriter`] API, and the column chunks are appended in
//! schema order. The bytes do not depend on the number of threads or their timing: each column
//! chunk is encoded by exactly one writer, from the same values in the same order.
//!
//! Batches are pipelined, not encoded one at a time: each column has a queue of the batches it
//! has still to encode, and a free thread takes the column furthest behind. A barrier at every
//! batch (every column of batch N done before any of batch N+1 starts) left a thread idle while
//! the other finished the batch's last column, and the thread merging the rows preempted
//! whichever thread held that column; only the end of a row group waits for every column now.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::day::MergedChunk;
use crate::parallel::in_parallel_costliest_first;

/// Batches handed to the writer and not yet encoded by every column, at most: enough for every
/// thread to find a column with work while the slowest column catches up, few enough that the
/// batches waiting (and the rows they keep alive) stay a small share of the memory budget.
const MAX_PENDING_BATCHES: usize = 4;

/// The columns of rows to append, each asked for once, on the thread that encodes it: a
/// [`MergedChunk`] gathers it there.
pub trait Columns: Send + Sync + 'static {
    fn column(&self, i: usize) -> Result<ArrayRef>;
}

/// Rows to append: their count, a range of them, and their columns.
pub trait Rows: Columns + Sized {
    fn num_rows(&self) -> usize;
    fn slice(&self, offset: usize, len: usize) -> Self;
}

impl Columns for RecordBatch {
    fn column(&self, i: usize) -> Result<ArrayRef> {
        Ok(RecordBatch::column(self, i).clone())
    }
}

impl Rows for RecordBatch {
    fn num_rows(&self) -> usize {
        RecordBatch::num_rows(self)
    }
    fn slice(&self, offset: usize, len: usize) -> Self {
        RecordBatch::slice(self, offset, len)
    }
}

impl Columns for MergedChunk {
    fn column(&self, i: usize) -> Result<ArrayRef> {
        Ok(MergedChunk::column(self, i)?)
    }
}

impl Rows for MergedChunk {
    fn num_rows(&self) -> usize {
        MergedChunk::num_rows(self)
    }
    fn slice(&self, offset: usize, len: usize) -> Self {
        MergedChunk::slice(self, offset, len)
    }
}

pub struct ParallelWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The number of leaf columns of each top-level field, in schema order.
    leaves: Vec<usize>,
    /// The encoder of the row group being written.
    group: Option<RowGroupEncoder>,
    row_group: usize,
    rows_in_group: usize,
    max_rows: usize,
    threads: usize,
}

impl<W: Write + Send> ParallelWriter<W> {
    /// A writer of `schema` with `props` (row groups of `props.max_row_group_row_count()` rows)
    /// encoding on `threads` threads.
    pub fn try_new(
        sink: W,
        schema: SchemaRef,
        props: WriterProperties,
        threads: usize,
    ) -> Result<Self> {
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        // ArrowWriter sets the file up (schema conversion, ARROW:schema metadata); we take over
        // the row groups.
        let (file, factory) =
            ArrowWriter::try_new(sink, schema.clone(), Some(props))?.into_serialized_writer()?;
        let descr = file.schema_descr();
        let mut leaves = vec![0; schema.fields().len()];
        for leaf in 0..descr.num_columns() {
            leaves[descr.get_column_root_idx(leaf)] += 1;
        }
        Ok(ParallelWriter {
            file,
            factory,
            schema,
            leaves,
            group: None,
            row_group: 0,
            rows_in_group: 0,
            max_rows,
            threads: threads.max(1),
        })
    }

    /// Append rows, starting a new row group whenever one is full. The rows are encoded in the
    /// background: this returns once they are queued (and waits while too many batches are),
    /// and an error of their encoding is returned by a later call.
    pub fn write<R: Rows>(&mut self, rows: R) -> Result<()> {
        let total = rows.num_rows();
        if self.rows_in_group + total <= self.max_rows {
            if total > 0 {
                self.queue(Arc::new(rows), total)?;
            }
            return Ok(());
        }
        let mut offset = 0;
        while offset < total {
            let take = (self.max_rows - self.rows_in_group).min(total - offset);
            self.queue(Arc::new(rows.slice(offset, take)), take)?;
            offset += take;
        }
        Ok(())
    }

    fn queue(&mut self, rows: Arc<dyn Columns>, count: usize) -> Result<()> {
        if self.group.is_none() {
            let mut writers = self
                .factory
                .create_column_writers(self.row_group)?
                .into_iter();
            let by_field = self
                .leaves
                .iter()
                .map(|&n| writers.by_ref().take(n).collect())
                .collect();
            self.group = Some(RowGroupEncoder::start(
                self.schema.clone(),
                by_field,
                self.threads,
            ));
        }
        self.group.as_ref().expect("started above").push(rows)?;
        self.rows_in_group += count;
        if self.rows_in_group >= self.max_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Close the row group being written, if any.
    pub fn flush(&mut self) -> Result<()> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let columns: Vec<ArrowColumnWriter> = group.finish()?.into_iter().flatten().collect();
        // Closing compresses each column's last pages and its dictionary: the largest first.
        let chunks = in_parallel_costliest_first(
            columns,
            self.threads,
            ArrowColumnWriter::get_estimated_total_bytes,
            ArrowColumnWriter::close,
        );
        let mut row_group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk?.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        self.row_group += 1;
        self.rows_in_group = 0;
        Ok(())
    }

    /// Bytes written to the sink so far.
    pub fn bytes_written(&self) -> usize {
        self.file.bytes_written()
    }

    /// Estimated bytes of the row group being encoded, once every batch queued is encoded (so
    /// that it depends only on the rows written, not on how far the threads are).
    pub fn in_progress_size(&self) -> Result<usize> {
        match &self.group {
            Some(group) => group.estimated_bytes_when_idle(),
            None => Ok(0),
        }
    }

    /// Finish the file (footer, page index, bloom filters).
    pub fn close(mut self) -> Result<ParquetMetaData> {
        self.flush()?;
        self.file.close()
    }
}

/// The threads encoding one row group, and what they share.
struct RowGroupEncoder {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    schema: SchemaRef,
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    columns: Vec<ColumnQueue>,
    /// Batches pushed so far.
    pushed: usize,
    /// No more batches come: a thread with nothing to do ends.
    finishing: bool,
    /// The first encoding error (the queued batches are dropped then).
    failed: Option<ParquetError>,
    /// Whether an error happened at all (`failed` is taken by the call that reports it).
    stopped: bool,
}

/// A top-level column: its leaf writers and the batches it has still to encode.
struct ColumnQueue {
    /// None while a thread encodes with them.
    writers: Option<Vec<ArrowColumnWriter>>,
    queue: VecDeque<Arc<dyn Columns>>,
    /// Batches encoded so far.
    done: usize,
    /// The writers' estimate of their encoded bytes, as of their last batch.
    estimated_bytes: usize,
}

impl ColumnQueue {
    fn idle(&self) -> bool {
        self.writers.is_some() && self.queue.is_empty()
    }
}

impl State {
    /// Batches not yet encoded by every column.
    fn pending(&self) -> usize {
        let done = self.columns.iter().map(|c| c.done).min().unwrap_or(0);
        self.pushed - done
    }

    /// The column a free thread should take: one with a batch to encode and no thread on it,
    /// the furthest behind first (its oldest batch keeps the most rows alive), then the
    /// costliest (a long column taken last would leave the other threads idle at the end).
    fn next_column(&self) -> Option<usize> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.writers.is_some() && !c.queue.is_empty())
            .min_by_key(|(_, c)| (c.done, std::cmp::Reverse(c.estimated_bytes)))
            .map(|(i, _)| i)
    }

    /// Stop the row group: the queued batches are dropped and every thread ends.
    fn stop(&mut self) {
        self.stopped = true;
        for column in &mut self.columns {
            column.queue.clear();
        }
    }

    fn error(&mut self) -> ParquetError {
        self.failed
            .take()
            .unwrap_or_else(|| ParquetError::General("encoding a column failed".into()))
    }
}

impl RowGroupEncoder {
    fn start(schema: SchemaRef, writers: Vec<Vec<ArrowColumnWriter>>, threads: usize) -> Self {
        let columns: Vec<ColumnQueue> = writers
            .into_iter()
            .map(|writers| ColumnQueue {
                writers: Some(writers),
                queue: VecDeque::new(),
                done: 0,
                estimated_bytes: 0,
            })
            .collect();
        let threads = threads.min(columns.len()).max(1);
        let shared = Arc::new(Shared {
            schema,
            state: Mutex::new(State {
                columns,
                pushed: 0,
                finishing: false,
                failed: None,
                stopped: false,
            }),
            changed: Condvar::new(),
        });
        let threads = (0..threads)
            .map(|_| {
                let shared = shared.clone();
                std::thread::spawn(move || encode_columns(&shared))
            })
            .collect();
        RowGroupEncoder { shared, threads }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().expect("not poisoned")
    }

    /// Queue a batch for every column, once fewer than [`MAX_PENDING_BATCHES`] are pending.
    fn push(&self, rows: Arc<dyn Columns>) -> Result<()> {
        let mut state = self.lock();
        while !state.stopped && state.pending() >= MAX_PENDING_BATCHES {
            state = self.shared.changed.wait(state).expect("not poisoned");
        }
        if state.stopped {
            return Err(state.error());
        }
        for column in &mut state.columns {
            column.queue.push_back(rows.clone());
        }
        state.pushed += 1;
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Wait until every queued batch is encoded; the encoded bytes estimated then.
    fn estimated_bytes_when_idle(&self) -> Result<usize> {
        let mut state = self.lock();
        while !state.stopped && !state.columns.iter().all(ColumnQueue::idle) {
            state = self.shared.changed.wait(state).expect("not poisoned");
        }
        if state.stopped {
            return Err(state.error());
        }
        Ok(state.columns.iter().map(|c| c.estimated_bytes).sum())
    }

    /// Encode what is queued, end the threads and hand back the writers, by top-level field.
    fn finish(mut self) -> Result<Vec<Vec<ArrowColumnWriter>>> {
        self.lock().finishing = true;
        self.shared.changed.notify_all();
        for thread in std::mem::take(&mut self.threads) {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        let mut state = self.lock();
        if state.stopped {
            return Err(state.error());
        }
        Ok(state
            .columns
            .iter_mut()
            .map(|c| c.writers.take().expect("every thread ended"))
            .collect())
    }
}

impl Drop for RowGroupEncoder {
    /// A writer dropped unfinished (its conversion failed): the threads drop the queued batches
    /// and end.
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        {
            let mut state = self.lock();
            state.finishing = true;
            state.stop();
        }
        self.shared.changed.notify_all();
        for thread in std::mem::take(&mut self.threads) {
            let _ = thread.join();
        }
    }
}

/// A thread of a row group: take the next column with work, encode its oldest batch, repeat
/// until the row group is finishing and nothing is left (or an encoding failed).
fn encode_columns(shared: &Shared) {
    // A panic while a column's writers are out must not leave the others waiting for them.
    struct OnPanic<'a>(&'a Shared);
    impl Drop for OnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                if let Ok(mut state) = self.0.state.lock() {
                    state.stop();
                }
                self.0.changed.notify_all();
            }
        }
    }
    let _on_panic = OnPanic(shared);
    let fields = shared.schema.fields();
    let mut state = shared.state.lock().expect("not poisoned");
    loop {
        if state.stopped {
            return;
        }
        let Some(i) = state.next_column() else {
            if state.finishing && state.columns.iter().all(|c| c.queue.is_empty()) {
                return;
            }
            state = shared.changed.wait(state).expect("not poisoned");
            continue;
        };
        let column = &mut state.columns[i];
        let mut writers = column.writers.take().expect("chosen with its writers");
        let rows = column.queue.pop_front().expect("chosen with a batch");
        drop(state);
        let encoded = rows.column(i).and_then(|array| {
            for (writer, leaf) in writers.iter_mut().zip(compute_leaves(&fields[i], &array)?) {
                writer.write(&leaf)?;
            }
            Ok(())
        });
        // The batch goes (and with it, once every column is done, the rows it keeps alive)
        // before the lock is taken again.
        drop(rows);
        let estimated = writers
            .iter()
            .map(ArrowColumnWriter::get_estimated_total_bytes)
            .sum();
        state = shared.state.lock().expect("not poisoned");
        let column = &mut state.columns[i];
        column.writers = Some(writers);
        column.done += 1;
        column.estimated_bytes = estimated;
        if let Err(error) = encoded {
            state.failed.get_or_insert(error);
            state.stop();
        }
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{Int64Array, StringArray, StructArray};
    use arrow::datatypes::{DataType, Field, Schema};

    /// Batches of a string, an integer and a struct column, `rows` rows each.
    fn batches(count: usize, rows: usize) -> Vec<RecordBatch> {
        let inner = Field::new("k", DataType::Utf8, true);
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
            Field::new(
                "st",
                DataType::Struct(
                    vec![inner.clone(), Field::new("v", DataType::Int64, true)].into(),
                ),
                true,
            ),
        ]));
        (0..count)
            .map(|b| {
                let at = |r: usize| b * rows + r;
                let s: StringArray = (0..rows)
                    .map(|r| (at(r) % 7 != 0).then(|| format!("value {}", at(r) * 7919 % 1000)))
                    .collect();
                let n: Int64Array = (0..rows).map(|r| at(r) as i64 * 3).collect();
                let k: StringArray = (0..rows)
                    .map(|r| Some(format!("{:x}", at(r) % 13)))
                    .collect();
                let v: Int64Array = (0..rows)
                    .map(|r| (at(r) % 5 != 0).then_some(r as i64))
                    .collect();
                let st = StructArray::from(vec![
                    (Arc::new(inner.clone()), Arc::new(k) as ArrayRef),
                    (
                        Arc::new(Field::new("v", DataType::Int64, true)),
                        Arc::new(v) as ArrayRef,
                    ),
                ]);
                RecordBatch::try_new(schema.clone(), vec![Arc::new(s), Arc::new(n), Arc::new(st)])
                    .unwrap()
            })
            .collect()
    }

    fn props() -> WriterProperties {
        WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .set_data_page_row_count_limit(128)
            .build()
    }

    #[test]
    fn writes_what_arrow_writer_writes_whatever_the_threads() {
        // Batches of 300 rows in row groups of 1,000: some batches straddle two row groups.
        let input = batches(12, 300);
        let mut expected = Vec::new();
        let mut arrow =
            ArrowWriter::try_new(&mut expected, input[0].schema(), Some(props())).unwrap();
        for batch in &input {
            arrow.write(batch).unwrap();
        }
        arrow.close().unwrap();
        for threads in [1, 2, 3, 8] {
            let mut written = Vec::new();
            let mut writer =
                ParallelWriter::try_new(&mut written, input[0].schema(), props(), threads).unwrap();
            for batch in &input {
                writer.write(batch.clone()).unwrap();
            }
            let metadata = writer.close().unwrap();
            assert_eq!(metadata.num_row_groups(), 4);
            assert!(
                written == expected,
                "{threads} thread(s): not ArrowWriter's bytes"
            );
        }
    }

    #[test]
    fn the_size_in_progress_is_that_of_every_batch_written() {
        let input = batches(3, 200);
        let mut one = Vec::new();
        let mut writer = ParallelWriter::try_new(&mut one, input[0].schema(), props(), 1).unwrap();
        let mut sizes = Vec::new();
        for batch in &input {
            writer.write(batch.clone()).unwrap();
            sizes.push(writer.in_progress_size().unwrap());
        }
        let mut many = Vec::new();
        let mut writer = ParallelWriter::try_new(&mut many, input[0].schema(), props(), 4).unwrap();
        for (batch, size) in input.iter().zip(sizes) {
            writer.write(batch.clone()).unwrap();
            assert_eq!(writer.in_progress_size().unwrap(), size);
        }
    }

    /// Rows whose column `bad` fails (or panics) to gather.
    struct Failing {
        batch: RecordBatch,
        bad: usize,
        panic: bool,
    }

    impl Columns for Failing {
        fn column(&self, i: usize) -> Result<ArrayRef> {
            if i == self.bad {
                if self.panic {
                    panic!("column {i} panics");
                }
                return Err(ParquetError::General(format!(
                    "column {i} cannot be gathered"
                )));
            }
            Ok(self.batch.column(i).clone())
        }
    }

    impl Rows for Failing {
        fn num_rows(&self) -> usize {
            self.batch.num_rows()
        }
        fn slice(&self, offset: usize, len: usize) -> Self {
            Failing {
                batch: self.batch.slice(offset, len),
                bad: self.bad,
                panic: self.panic,
            }
        }
    }

    fn write_failing(panic: bool) -> Result<ParquetMetaData> {
        let input = batches(20, 100);
        let mut writer =
            ParallelWriter::try_new(Vec::new(), input[0].schema(), props(), 2).unwrap();
        for (i, batch) in input.into_iter().enumerate() {
            let bad = if i == 5 { 1 } else { usize::MAX };
            writer.write(Failing { batch, bad, panic })?;
        }
        writer.close()
    }

    #[test]
    fn an_error_of_a_column_is_returned() {
        let error = write_failing(false).unwrap_err().to_string();
        assert!(error.contains("column 1 cannot be gathered"), "{error}");
    }

    #[test]
    fn a_panic_of_a_column_reaches_the_caller() {
        let outcome = std::panic::catch_unwind(|| write_failing(true));
        assert!(
            !matches!(outcome, Ok(Ok(_))),
            "a file was finished without column 1"
        );
    }

    #[test]
    fn a_writer_dropped_unfinished_ends_its_threads() {
        let input = batches(5, 100);
        let mut writer =
            ParallelWriter::try_new(Vec::new(), input[0].schema(), props(), 2).unwrap();
        for batch in input {
            writer.write(batch).unwrap();
        }
        drop(writer);
    }
}
