//! The read and decode stages: the delivery files of a trail's date folders read with
//! overlapping requests (`--concurrency` at a time, within `--read-ahead` bytes), the files that
//! have arrived grouped into chunks of one folder, and each chunk decoded on a blocking thread,
//! one per core at a time and within the inflation budget. The stream yields chunks in file
//! order, and the end of each folder after its last chunk.

use std::sync::Arc;

use chrono::NaiveDate;
use futures::{Stream, StreamExt};
use object_store::ObjectMeta;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ConvertError;
use crate::decode::{DecodedChunk, decode_files_where};
use crate::schema::Table;
use crate::scope::Scope;
use crate::source;
use crate::store::Location;
use crate::time::day_of_millis;

/// Files decoded together at most (whatever has arrived, up to this many)... A chunk pays for
/// its builders and becomes one batch of the day's sort, so many small files go in few chunks
/// (on a day of 4,000 files of 5 events, 64 a chunk decoded faster than 16, and its sort gathered
/// from 67 batches instead of 267); files of a busy hour fill a chunk's bytes first.
const CHUNK_FILES: usize = 64;

/// ...and compressed bytes at most (a file larger than this is decoded alone): a chunk's rows
/// are held whole until routed, so this bounds them (~10x in JSON) however large files get.
const CHUNK_BYTES: u64 = 1024 * 1024;

/// The unit of the byte-counting semaphores (read-ahead, inflation).
const PERMIT_UNIT: u64 = 1024;

/// A delivery file read, holding its share of the read-ahead budget until its rows are routed
/// (with the other files it was read with, see [`read_batches`]).
pub(super) struct ReadFile {
    pub meta: ObjectMeta,
    pub bytes: bytes::Bytes,
    _permit: Arc<OwnedSemaphorePermit>,
}

/// A chunk of files read and decoded, holding its share of the inflation budget until its rows
/// are routed (and spilled if need be).
pub(super) struct Decoded {
    pub reads: Vec<ReadFile>,
    pub chunk: DecodedChunk,
    pub inflation: OwnedSemaphorePermit,
}

/// Reads and decodes the folders of one conversion, sharing its budgets across them.
pub(super) struct Reader {
    source: Location,
    scope: Scope,
    concurrency: usize,
    max_file_bytes: u64,
    cores: usize,
    cpu: Arc<Semaphore>,
    /// Compressed bytes of files read ahead and not yet routed, in KiB.
    read_ahead: Arc<Semaphore>,
    read_ahead_total: u32,
    /// Inflated bytes of files being decoded or decoded and not yet routed, in KiB. Compressed
    /// sizes say little of what a file inflates to (a 1.3 MB file can hold a 300 MB record), so
    /// decoding waits on what files inflate to, by their gzip trailers.
    inflating: Arc<Semaphore>,
    inflating_total: u32,
}

/// How a [`Reader`] reads: the settings of [`super::ConvertOptions`] it takes.
pub(super) struct ReadSettings {
    pub concurrency: usize,
    pub read_ahead_bytes: u64,
    pub inflation_bytes: u64,
    pub max_file_bytes: u64,
    pub cores: usize,
}

impl Reader {
    pub(super) fn new(source: &Location, scope: &Scope, settings: ReadSettings) -> Self {
        let read_ahead_total = kib_permits(settings.read_ahead_bytes);
        let inflating_total = kib_permits(settings.inflation_bytes);
        Reader {
            source: source.clone(),
            scope: scope.clone(),
            concurrency: settings.concurrency.max(1),
            max_file_bytes: settings.max_file_bytes,
            cores: settings.cores,
            cpu: Arc::new(Semaphore::new(settings.cores)),
            read_ahead: Arc::new(Semaphore::new(read_ahead_total as usize)),
            read_ahead_total,
            inflating: Arc::new(Semaphore::new(inflating_total as usize)),
            inflating_total,
        }
    }

    /// The files of a trail's folders, read and decoded in chunks, in folder and file order,
    /// each folder followed by its end. One stream for all of them: the next folder's files are
    /// read and decoded while the last chunks of one are routed and its days finished, instead of
    /// the pipeline draining and filling again at every folder. Only the records of the scope's
    /// days are decoded; the others (most of a folder read for its late events) are only
    /// counted. A failed read stops the stream there.
    pub(super) fn folders(
        &self,
        folders: Vec<(NaiveDate, Vec<ObjectMeta>)>,
    ) -> impl Stream<Item = Result<InFolder<Decoded>, ConvertError>> + use<> {
        let source = self.source.clone();
        let read_ahead = self.read_ahead.clone();
        let read_ahead_total = self.read_ahead_total;
        let max_bytes = self.max_file_bytes;
        let inflating = self.inflating.clone();
        let inflating_total = self.inflating_total;
        let cpu = self.cpu.clone();
        let table: &'static Table = self.scope.table;
        let (from, to) = (self.scope.from(), self.scope.to());
        let entries = folders.into_iter().flat_map(|(date, files)| {
            files
                .into_iter()
                .map(move |meta| InFolder::Item(date, meta))
                .chain(std::iter::once(InFolder::End(date)))
        });
        let local = self.source.is_local();
        futures::stream::iter(read_batches(entries, local))
            .map(move |batch| {
                let source = source.clone();
                let read_ahead = read_ahead.clone();
                async move {
                    let (date, metas) = match batch {
                        InFolder::Item(date, metas) => (date, metas),
                        InFolder::End(date) => return vec![InFolder::End(date)],
                    };
                    // Batches are started in order and the semaphore is fair, so the oldest
                    // batch always gets its share first: no deadlock with `buffered`. One
                    // request for the whole batch (a batch waiting for a second permit would let
                    // later batches take the budget while it blocks their way out), shared by
                    // its files until the last is routed.
                    let bytes = metas.iter().map(|m| m.size).sum();
                    let permit = Arc::new(
                        read_ahead
                            .acquire_many_owned(kib_weight(bytes, read_ahead_total))
                            .await
                            .expect("semaphore open"),
                    );
                    source::read_many(&source, metas)
                        .await
                        .into_iter()
                        .map(|(meta, bytes)| {
                            let file = bytes.map(|bytes| ReadFile {
                                meta,
                                bytes,
                                _permit: permit.clone(),
                            });
                            InFolder::Item(date, file.map_err(ConvertError::from))
                        })
                        .collect()
                }
            })
            .buffered(self.concurrency)
            .flat_map(futures::stream::iter)
            .ready_chunks(CHUNK_FILES)
            .flat_map(|arrived| futures::stream::iter(into_work(arrived)))
            .map(move |work| {
                let cpu = cpu.clone();
                let inflating = inflating.clone();
                async move {
                    let (folder_date, reads) = match work {
                        InFolder::Item(date, reads) => (date, reads),
                        InFolder::End(date) => return Ok(InFolder::End(date)),
                    };
                    let reads = reads.into_iter().collect::<Result<Vec<_>, _>>()?;
                    // Wait for room in the inflation budget for what these files inflate to.
                    // Chunks ask in order of a fair semaphore, and one asks for the whole budget
                    // at most: the oldest chunk always gets its share first.
                    let inflated: u64 = reads
                        .iter()
                        .map(|r| inflated_size(&r.bytes).min(max_bytes))
                        .sum();
                    let inflation = inflating
                        .acquire_many_owned(kib_weight(inflated, inflating_total))
                        .await
                        .expect("semaphore open");
                    let _core = cpu.acquire_owned().await.expect("semaphore open");
                    tokio::task::spawn_blocking(move || {
                        // Records without an instant go to the day of their folder (route).
                        let keep = |time: Option<i64>| {
                            let day = time.map_or(folder_date, day_of_millis);
                            (from..=to).contains(&day)
                        };
                        let chunk = decode_files_where(
                            table,
                            reads.iter().map(|r| r.bytes.as_ref()),
                            max_bytes,
                            &keep,
                        );
                        let decoded = Decoded {
                            reads,
                            chunk,
                            inflation,
                        };
                        InFolder::Item(folder_date, decoded)
                    })
                    .await
                    .map_err(|e| ConvertError::Task(e.to_string()))
                }
            })
            // Results come in file order, and chunks differ in cost: twice as many in flight as
            // cores (the `cpu` permits still let one per core decode) so a core that finished a
            // light chunk takes the next one instead of waiting.
            .buffered(2 * self.cores)
    }
}

/// Files of a local folder read in one trip to the blocking pool, at most: this many...
const LOCAL_BATCH_FILES: usize = 32;
/// ...and this many bytes (a larger file is read alone).
const LOCAL_BATCH_BYTES: u64 = 256 * 1024;

/// The files of the folders as batches to read, in order, the ends of folders in their places:
/// consecutive small files of a local folder together (see [`source::read_many`]), any other
/// file alone (each an S3 request of its own, `--concurrency` at a time).
fn read_batches(
    entries: impl IntoIterator<Item = InFolder<ObjectMeta>>,
    local: bool,
) -> Vec<InFolder<Vec<ObjectMeta>>> {
    group_in_folders(
        entries,
        |meta| meta.size,
        |files, bytes| local && files < LOCAL_BATCH_FILES && bytes <= LOCAL_BATCH_BYTES,
    )
}

/// Consecutive items of one folder grouped, in order, the ends of folders in their places: an
/// item joins the group before it while `fits(items in the group, bytes of the group with it)`;
/// otherwise it starts a group (alone, however large).
fn group_in_folders<T>(
    items: impl IntoIterator<Item = InFolder<T>>,
    size: impl Fn(&T) -> u64,
    fits: impl Fn(usize, u64) -> bool,
) -> Vec<InFolder<Vec<T>>> {
    let mut groups: Vec<InFolder<Vec<T>>> = Vec::new();
    let mut bytes = 0;
    for entry in items {
        let (date, item) = match entry {
            InFolder::Item(date, item) => (date, item),
            InFolder::End(date) => {
                groups.push(InFolder::End(date));
                continue;
            }
        };
        let item_bytes = size(&item);
        if let Some(InFolder::Item(last, group)) = groups.last_mut()
            && *last == date
            && fits(group.len(), bytes + item_bytes)
        {
            bytes += item_bytes;
            group.push(item);
            continue;
        }
        bytes = item_bytes;
        groups.push(InFolder::Item(date, vec![item]));
    }
    groups
}

/// Something of a date folder, in the stream's order: a file (to read, read, a chunk of them to
/// decode, decoded), or the end of the folder, after all of its items.
pub(super) enum InFolder<T> {
    Item(NaiveDate, T),
    End(NaiveDate),
}

/// A file read, or why it could not be.
type Arrived = Result<ReadFile, ConvertError>;

/// Files that have arrived, as decoding chunks of one folder each (see [`CHUNK_BYTES`]), the
/// ends of folders in their places.
fn into_work(arrived: Vec<InFolder<Arrived>>) -> Vec<InFolder<Vec<Arrived>>> {
    group_in_folders(
        arrived,
        |read: &Arrived| read.as_ref().map_or(0, |r| r.bytes.len() as u64),
        |_, bytes| bytes <= CHUNK_BYTES,
    )
}

/// What a delivery file inflates to: a gzip member's trailer holds its size (modulo 4 GiB; files
/// are capped far below that by `--max-file-size`); plain JSON is its own size.
fn inflated_size(bytes: &[u8]) -> u64 {
    match bytes {
        [0x1f, 0x8b, .., a, b, c, d] if bytes.len() >= 18 => {
            u64::from(u32::from_le_bytes([*a, *b, *c, *d])).max(bytes.len() as u64)
        }
        _ => bytes.len() as u64,
    }
}

/// Permits of a budget in bytes.
fn kib_permits(bytes: u64) -> u32 {
    (bytes / PERMIT_UNIT).clamp(1, u64::from(u32::MAX >> 4)) as u32
}

/// How much of a budget of `total` permits `size` bytes take (at least one unit, at most all of
/// it, so a file larger than the budget goes alone).
fn kib_weight(size: u64, total: u32) -> u32 {
    (size / PERMIT_UNIT).clamp(1, u64::from(total)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn chunks_keep_order_and_stay_within_the_byte_bound() {
        let mb = 1024 * 1024;
        let day = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        let chunks = |sizes: &[u64]| {
            group_in_folders(
                sizes.iter().map(|&s| InFolder::Item(day, s)),
                |s| *s,
                |_, bytes| bytes <= CHUNK_BYTES,
            )
            .into_iter()
            .map(|group| match group {
                InFolder::Item(_, sizes) => sizes,
                InFolder::End(_) => unreachable!("no end given"),
            })
            .collect::<Vec<_>>()
        };
        assert_eq!(
            chunks(&[mb / 4, mb / 2, mb / 4, 3 * mb, 1, 1, mb]),
            [
                vec![mb / 4, mb / 2, mb / 4],
                vec![3 * mb],
                vec![1, 1],
                vec![mb]
            ]
        );
        assert!(chunks(&[]).is_empty());
    }

    #[test]
    fn small_local_files_of_a_folder_are_read_together() {
        let meta = |size| ObjectMeta {
            location: object_store::path::Path::from("f"),
            last_modified: Default::default(),
            size,
            e_tag: None,
            version: None,
        };
        let (d1, d2) = (
            NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
            NaiveDate::from_ymd_opt(2026, 1, 6).unwrap(),
        );
        let entries = || {
            (0..40)
                .map(move |_| InFolder::Item(d1, meta(1000)))
                .chain([InFolder::End(d1), InFolder::Item(d2, meta(1 << 20))])
                .chain((0..2).map(move |_| InFolder::Item(d2, meta(100_000))))
                .chain([InFolder::Item(d2, meta(100_000)), InFolder::End(d2)])
        };
        let shape = |batches: Vec<InFolder<Vec<ObjectMeta>>>| {
            batches
                .into_iter()
                .map(|b| match b {
                    InFolder::Item(date, metas) => format!("{}:{}", date.format("%d"), metas.len()),
                    InFolder::End(date) => format!("end {}", date.format("%d")),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shape(read_batches(entries(), true)),
            ["05:32", "05:8", "end 05", "06:1", "06:2", "06:1", "end 06"]
        );
        let alone = shape(read_batches(entries(), false));
        assert_eq!(alone.len(), 40 + 1 + 4 + 1);
        assert!(
            alone
                .iter()
                .all(|b| b.ends_with(":1") || b.starts_with("end"))
        );
    }

    #[test]
    fn a_gzip_file_is_weighed_by_what_it_inflates_to() {
        let json = vec![b' '; 100_000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&json).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 1000);
        assert_eq!(inflated_size(&gz), 100_000);
        assert_eq!(inflated_size(b"{\"Records\":[]}"), 14);
    }

    #[test]
    fn a_file_larger_than_the_budget_takes_all_of_it_and_goes_alone() {
        let total = kib_permits(32 * 1024 * 1024);
        assert_eq!(kib_weight(1 << 40, total), total);
        assert_eq!(kib_weight(10, total), 1);
    }
}
