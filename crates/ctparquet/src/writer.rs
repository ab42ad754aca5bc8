//! A Parquet file writer that encodes the columns of a row group on several threads.
//!
//! It writes what [`parquet::arrow::ArrowWriter`] writes, with the same properties and schema
//! metadata (it starts from one), but each batch's top-level columns are gathered and encoded in
//! parallel through arrow-rs' low-level [`ArrowColumnWriter`] API, and the column chunks are
//! appended in schema order. The bytes do not depend on the number of threads or their timing:
//! each column chunk is encoded by exactly one writer, from the same values in the same order.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::Result;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::day::MergedChunk;

/// Rows to append: their count, a range of them, and each top-level column. A column is asked
/// for once, on the thread that encodes it: a [`MergedChunk`] gathers it there.
pub trait Rows: Sync {
    fn num_rows(&self) -> usize;
    fn slice(&self, offset: usize, len: usize) -> Self;
    fn column(&self, i: usize) -> Result<ArrayRef>;
}

impl Rows for RecordBatch {
    fn num_rows(&self) -> usize {
        RecordBatch::num_rows(self)
    }
    fn slice(&self, offset: usize, len: usize) -> Self {
        RecordBatch::slice(self, offset, len)
    }
    fn column(&self, i: usize) -> Result<ArrayRef> {
        Ok(RecordBatch::column(self, i).clone())
    }
}

impl Rows for MergedChunk {
    fn num_rows(&self) -> usize {
        MergedChunk::num_rows(self)
    }
    fn slice(&self, offset: usize, len: usize) -> Self {
        MergedChunk::slice(self, offset, len)
    }
    fn column(&self, i: usize) -> Result<ArrayRef> {
        Ok(MergedChunk::column(self, i)?)
    }
}

pub struct ParallelWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The number of leaf columns of each top-level field, in schema order.
    leaves: Vec<usize>,
    /// Column writers of the row group being written, by top-level field.
    columns: Option<Vec<Vec<ArrowColumnWriter>>>,
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
            columns: None,
            row_group: 0,
            rows_in_group: 0,
            max_rows,
            threads: threads.max(1),
        })
    }

    /// Append rows, starting a new row group whenever one is full.
    pub fn write(&mut self, rows: &impl Rows) -> Result<()> {
        let mut offset = 0;
        while offset < rows.num_rows() {
            let take = (self.max_rows - self.rows_in_group).min(rows.num_rows() - offset);
            self.encode(&rows.slice(offset, take))?;
            self.rows_in_group += take;
            offset += take;
            if self.rows_in_group >= self.max_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn encode(&mut self, rows: &impl Rows) -> Result<()> {
        if self.columns.is_none() {
            let mut writers = self
                .factory
                .create_column_writers(self.row_group)?
                .into_iter();
            let by_field = self
                .leaves
                .iter()
                .map(|&n| writers.by_ref().take(n).collect())
                .collect();
            self.columns = Some(by_field);
        }
        let fields = self.schema.fields();
        let columns = self.columns.as_mut().expect("created above");
        // The costliest columns (long strings, JSON documents: the most bytes encoded so far in
        // the row group) first: the batch is done when its last column is, and a long one taken
        // last would leave the other threads idle.
        let work: Vec<_> = columns.iter_mut().enumerate().collect();
        let cost = |(_, writers): &(usize, &mut Vec<ArrowColumnWriter>)| {
            writers
                .iter()
                .map(ArrowColumnWriter::get_estimated_total_bytes)
                .sum()
        };
        for result in
            in_parallel_costliest_first(work, self.threads, cost, |(i, writers)| -> Result<()> {
                let column = rows.column(i)?;
                for (writer, leaf) in writers.iter_mut().zip(compute_leaves(&fields[i], &column)?) {
                    writer.write(&leaf)?;
                }
                Ok(())
            })
        {
            result?;
        }
        Ok(())
    }

    /// Close the row group being written, if any.
    pub fn flush(&mut self) -> Result<()> {
        let Some(columns) = self.columns.take() else {
            return Ok(());
        };
        let columns: Vec<ArrowColumnWriter> = columns.into_iter().flatten().collect();
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

    /// Estimated bytes of the row group being encoded.
    pub fn in_progress_size(&self) -> usize {
        self.columns
            .iter()
            .flatten()
            .flatten()
            .map(ArrowColumnWriter::get_estimated_total_bytes)
            .sum()
    }

    /// Finish the file (footer, page index, bloom filters).
    pub fn close(mut self) -> Result<ParquetMetaData> {
        self.flush()?;
        self.file.close()
    }
}

/// `f` over `items` on up to `threads` threads, each taking the next item when it is free, the
/// costliest first (the columns differ widely in cost, and a long one taken last would leave the
/// other threads idle); results in the order of `items`.
fn in_parallel_costliest_first<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    cost: impl Fn(&T) -> usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_cached_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let results: Vec<Mutex<Option<R>>> = slots.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(slots.len()) {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let item = slots[i]
                        .lock()
                        .expect("not poisoned")
                        .take()
                        .expect("taken once");
                    *results[i].lock().expect("not poisoned") = Some(f(item));
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .expect("not poisoned")
                .expect("every item done")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costliest_first_keeps_the_order_of_results() {
        let out = in_parallel_costliest_first(
            (0..50).collect(),
            3,
            |i: &u64| (*i % 7) as usize,
            |i| i + 1,
        );
        assert_eq!(out, (1..51).collect::<Vec<_>>());
    }

    #[test]
    fn results_keep_the_order_of_items() {
        let out = in_parallel_costliest_first((0..100).collect(), 4, |_| 0, |i: u64| i * 2);
        assert_eq!(out, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(
            in_parallel_costliest_first(vec![3], 4, |_| 0, |i: u64| i + 1),
            [4]
        );
        assert!(in_parallel_costliest_first(Vec::<u64>::new(), 4, |_| 0, |i| i).is_empty());
    }
}
