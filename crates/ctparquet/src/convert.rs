//! The conversion pipeline: list, read and decode delivery files; route each event to its true
//! day; sort, de-duplicate and encode each day; publish it.
//!
//! Output day D of a trail holds the events whose eventTime falls on D, gathered from the date
//! folders D ..= D + lateness. A range run reads each folder once, in date order, and finishes
//! day D as soon as folder D + lateness has been read, so at most `lateness + 1` days are open.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::take_record_batch;
use chrono::NaiveDate;
use futures::StreamExt;
use object_store::ObjectMeta;
use object_store::path::Path;
use parquet::file::properties::WriterProperties;
use tokio::sync::Semaphore;

use crate::day::{Conflict, DayBuffer, DayError, SpilledRun, with_seq};
use crate::decode::{DecodedChunk, FileError, decode_files_where};
use crate::layout::{self, iso_date};
use crate::publish::{Publication, PublishOptions, publish};
use crate::schema::Table;
use crate::scope::Scope;
use crate::sink::{self, ParquetOptions, SinkError};
use crate::source::{self, SourceError, Trail};
use crate::store::Location;
use crate::summary::{
    BadFile, ConflictingDuplicate, DayReport, FailCause, FailedDay, KeptDay, OutsideDay,
    OutsideReason, Summary,
};
use crate::time::day_of_millis;

/// Everything a conversion needs to know, parsed once.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// The days, trails and table converted, and the lateness of their events.
    pub scope: Scope,
    /// Report bad files and go on, instead of failing the days they may hold events of.
    pub skip_bad_files: bool,
    /// Replace a day even when the new one has fewer events than the one in the destination.
    /// Off, such a day is kept as it is and reported (`Summary::kept_days`): its source was
    /// most likely expired or partly deleted, and the Parquet is then the only copy.
    pub allow_shrink: bool,
    /// How long to wait for a day another run is publishing before reporting it not written.
    pub lock_wait: std::time::Duration,
    /// Files read at once (reads overlap; decoding uses at most one thread per core).
    pub concurrency: usize,
    /// Compressed bytes of files read ahead of the one being routed, at most (bounds the memory
    /// of reads in flight whatever the file sizes).
    pub read_ahead_bytes: u64,
    /// Bytes of rows held in memory before the largest open day is spilled to disk.
    pub memory_budget_bytes: usize,
    /// A delivery file inflating past this is reported bad rather than read.
    pub max_file_bytes: u64,
    /// Where spill runs and staged part files go (the system temp folder when `None`).
    pub work_dir: Option<PathBuf>,
    pub parquet: ParquetOptions,
    /// Stop cleanly once this instant has passed: no file is read and no day is encoded or
    /// written after it (a day already being written is finished). The run then fails with
    /// [`ConvertError::Deadline`]; days published before are complete, the others untouched.
    pub deadline: Option<Instant>,
}

/// Events of a trail not written by this run, by (day, why): how many, and the latest date folder
/// they were delivered in (for the lateness that would place them).
type Outside = BTreeMap<(NaiveDate, OutsideReason), (u64, NaiveDate)>;

fn count_outside(
    outside: &mut Outside,
    day: NaiveDate,
    reason: OutsideReason,
    folder: NaiveDate,
    events: u64,
) {
    let entry = outside.entry((day, reason)).or_insert((0, folder));
    entry.0 += events;
    entry.1 = entry.1.max(folder);
}

impl ConvertOptions {
    /// Options for `scope` with every other setting at its default.
    pub fn new(scope: Scope) -> Self {
        ConvertOptions {
            scope,
            skip_bad_files: false,
            allow_shrink: false,
            lock_wait: crate::publish::DEFAULT_LOCK_WAIT,
            concurrency: DEFAULT_CONCURRENCY,
            read_ahead_bytes: DEFAULT_READ_AHEAD_BYTES,
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET_BYTES,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            work_dir: None,
            parquet: ParquetOptions::default(),
            deadline: None,
        }
    }

    /// Options for the days `from ..= to` of every trail with every other setting at its default.
    ///
    /// # Panics
    /// When `from` is after `to` (for ranges known to be right; see [`Scope::days`]).
    pub fn days(from: NaiveDate, to: NaiveDate) -> Self {
        ConvertOptions::new(Scope::days(from, to).expect("from <= to"))
    }
}
/// Delivery files read at once, by default (S3 latency overlaps; decoding is bounded by cores).
pub const DEFAULT_CONCURRENCY: usize = 256;
/// Compressed bytes read ahead, by default.
pub const DEFAULT_READ_AHEAD_BYTES: u64 = 32 * 1024 * 1024;
/// Bytes of rows (and of files being inflated) held in memory, by default.
pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 256 * 1024 * 1024;
/// A delivery file inflating beyond this is bad, by default.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Why a conversion stopped. Days finished before it are complete; others are untouched.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("invalid options: {0}")]
    Options(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The source holds no trail of the table within the allow-lists: nothing to convert.
    #[error("{0}")]
    NoTrail(String),
    #[error("{day}: {source}")]
    Sink {
        day: String,
        #[source]
        source: SinkError,
    },
    #[error("work folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal task failed: {0}")]
    Task(String),
    /// The deadline passed before the run could finish (see [`ConvertOptions::deadline`]).
    #[error("stopped at the deadline before {0} was finished (nothing of it was written)")]
    Deadline(String),
}

/// Hooks for showing progress; every method does nothing by default.
pub trait Progress: Send + Sync {
    /// Files to read, known after listing.
    fn files_listed(&self, _files: u64) {}
    /// A file was read and decoded (or found bad).
    fn file_done(&self, _bytes: u64) {}
    /// A day was published.
    fn day_written(&self, _day: &DayReport) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// A conversion under way: what it reads and writes, its budgets, and what it has done.
struct Conversion<'a> {
    source: &'a Location,
    dest: &'a Location,
    opts: &'a ConvertOptions,
    props: WriterProperties,
    work: tempfile::TempDir,
    progress: &'a dyn Progress,
    cpu: Arc<Semaphore>,
    cores: usize,
    /// Compressed bytes of files read ahead and not yet routed, in KiB.
    read_ahead: Arc<Semaphore>,
    /// Inflated bytes of files being decoded or decoded and not yet routed, in KiB: the budget.
    /// Compressed sizes say little of what a file inflates to (a 1.3 MB file can hold a 300 MB
    /// record), so decoding waits on what files inflate to, by their gzip trailers.
    inflating: Arc<Semaphore>,
    summary: Summary,
    /// The delivery files of the trail being converted, by their place in its sequence numbers
    /// (to name the files of conflicting duplicates).
    files_read: Vec<Path>,
}

/// A delivery file read, holding its share of the read-ahead budget until its rows are routed.
struct ReadFile {
    meta: ObjectMeta,
    bytes: bytes::Bytes,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Resident bytes past which freed heap pages are handed back to the system (after a spill,
/// and as a spilled day is merged): the budget itself, so a day that never reaches it is left
/// alone and one that spills stays near it.
fn trim_threshold(opts: &ConvertOptions) -> usize {
    opts.memory_budget_bytes
}

/// Files decoded together at most (whatever has arrived, up to this many)... A chunk pays for
/// its builders and becomes one batch of the day's sort, so many small files go in few chunks
/// (a day of 4,000 files of 5 events: 16 a chunk took 0.19-0.28 s, 64 a chunk 0.17-0.20 s,
/// its sort gathering from 67 batches instead of 267); files of a busy hour fill a chunk's
/// bytes first.
const CHUNK_FILES: usize = 64;

/// ...and compressed bytes at most (a file larger than this is decoded alone): a chunk's rows
/// are held whole until routed, so this bounds them (~10x in JSON) however large files get.
const CHUNK_BYTES: u64 = 1024 * 1024;

/// Split files that have arrived into decoding chunks (see [`CHUNK_BYTES`]), keeping their order.
fn chunks_by_size<T>(items: Vec<T>, size: impl Fn(&T) -> u64) -> Vec<Vec<T>> {
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut bytes = 0;
    for item in items {
        let item_bytes = size(&item);
        match chunks.last_mut() {
            Some(chunk) if bytes + item_bytes <= CHUNK_BYTES => chunk.push(item),
            _ => {
                chunks.push(vec![item]);
                bytes = 0;
            }
        }
        bytes += item_bytes;
    }
    chunks
}

/// Bytes of files being inflated and decoded at once, at most: the budget, and never less than
/// [`MIN_INFLATION_BYTES`], so that a small budget still lets a few ordinary chunks decode ahead of
/// the routing (a huge file takes all of it and is decoded alone either way).
fn inflation_budget(opts: &ConvertOptions) -> u64 {
    (opts.memory_budget_bytes as u64).max(MIN_INFLATION_BYTES)
}

/// See [`inflation_budget`]: a few chunks of ordinary files (~10 MB of JSON each).
const MIN_INFLATION_BYTES: u64 = 64 * 1024 * 1024;

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

/// The unit of the byte-counting semaphores (read-ahead, inflation).
const PERMIT_UNIT: u64 = 1024;

/// Permits of a budget in bytes.
fn kib_permits(bytes: u64) -> u32 {
    (bytes / PERMIT_UNIT).clamp(1, u64::from(u32::MAX >> 4)) as u32
}

/// How much of a budget of `total` permits `size` bytes take (at least one unit, at most all of
/// it, so a file larger than the budget goes alone).
fn kib_weight(size: u64, total: u32) -> u32 {
    (size / PERMIT_UNIT).clamp(1, u64::from(total)) as u32
}

/// The cores this process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The Tokio runtime conversions are made for: a worker per core, and no more threads for
/// blocking work than cores (at least two). That work is CPU work (decoding, spilling,
/// encoding, and the local store's reads, from the page cache as a rule): more threads than
/// cores only take turns, and Tokio's default of up to 512 spawned hundreds for a day of small
/// local files, a wake-up for every read (measured on 2 cores, 4,270 files of ~5 events: 0.38-0.46 s
/// and ~11,000 context switches with the default; 0.25-0.32 s and ~1,500 with two). Blocking
/// work never waits on other blocking work, so a small pool cannot deadlock. Reads from S3
/// are async and do not use the pool.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cores().max(2))
        .build()
}

/// Convert the days of `opts.scope` of every trail under `source` into `dest`.
pub async fn convert(
    source: &Location,
    dest: &Location,
    opts: &ConvertOptions,
    progress: &dyn Progress,
) -> Result<Summary, ConvertError> {
    let started = Instant::now();
    let scope = &opts.scope;
    let props = opts
        .parquet
        .writer_properties(scope.table)
        .map_err(ConvertError::Options)?;
    // The work folder (spilled runs, staged parts) is named after this process, so that a
    // later run can remove those of runs killed before they could (crate::debris).
    let parent = opts.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent)?;
    for dead in crate::debris::remove_dead_work_dirs(&parent) {
        tracing::info!(folder = %dead.display(), "removed the work folder of a killed run");
    }
    let work = tempfile::Builder::new()
        .prefix(&crate::debris::work_dir_prefix())
        .tempdir_in(&parent)?;
    let cores = cores();
    let mut conversion = Conversion {
        source,
        dest,
        opts,
        props,
        work,
        progress,
        cpu: Arc::new(Semaphore::new(cores)),
        cores,
        read_ahead: Arc::new(Semaphore::new(kib_permits(opts.read_ahead_bytes) as usize)),
        summary: Summary::default(),
        files_read: Vec::new(),
        inflating: Arc::new(Semaphore::new(kib_permits(inflation_budget(opts)) as usize)),
    };

    let discovery = source::discover(
        source,
        scope.table.folders,
        scope.accounts.as_deref(),
        scope.regions.as_deref(),
    )
    .await?;
    if discovery.trails.is_empty() {
        let why = source::explain_no_trail(source, &discovery, scope.table.folders).await?;
        return Err(ConvertError::NoTrail(why));
    }
    conversion.summary.warnings =
        discovery.unmatched(scope.accounts.as_deref(), scope.regions.as_deref());
    for warning in &conversion.summary.warnings {
        tracing::warn!("{warning}");
    }
    conversion.summary.skipped_folders = discovery.skipped_folders;
    let trails = discovery.trails;
    // List every folder first: cheap, and it gives progress a total.
    let mut listed = Vec::with_capacity(trails.len());
    let mut total_files = 0;
    for trail in trails {
        let mut folders = Vec::new();
        for date in source::dates_to_list(source, &trail, scope.folders()).await? {
            let listing = source::list_folder(source, &trail, date).await?;
            conversion.summary.ignored_objects += listing.ignored.len() as u64;
            for name in &listing.not_regular {
                tracing::warn!(
                    "{name}: not a regular file (a FIFO, socket, device or broken link): skipped, never opened"
                );
            }
            conversion
                .summary
                .not_regular_files
                .extend(listing.not_regular.iter().cloned());
            total_files += listing.files.len() as u64;
            folders.push((date, listing.files));
        }
        listed.push((trail, folders));
    }
    progress.files_listed(total_files);
    tracing::debug!(
        files = total_files,
        seconds = started.elapsed().as_secs_f64(),
        "listed"
    );
    for (trail, folders) in listed {
        conversion.trail(&trail, folders).await?;
    }

    let mut summary = conversion.summary;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.events_per_second = summary.events_read as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

/// The state of one output day of a trail.
struct OpenDay {
    buffer: DayBuffer,
    /// Set when a file it may have events in was bad: the day is not written.
    failed: Option<String>,
    /// Events routed to this day (duplicates included).
    events: u64,
    /// Rows of this day being written to a sorted run on another thread.
    spilling: Option<Spilling>,
}

struct Spilling {
    /// Bytes of the rows, in memory until the run is written.
    bytes: usize,
    task: tokio::task::JoinHandle<Result<SpilledRun, DayError>>,
}

impl OpenDay {
    fn new(table: &'static Table) -> Self {
        OpenDay {
            buffer: DayBuffer::new(table),
            failed: None,
            events: 0,
            spilling: None,
        }
    }

    /// Start writing the oldest rows held in memory, batches of at least `bytes` (or all of
    /// them), to a sorted run on a blocking thread; the bytes taken, or `None` when there are
    /// no rows.
    fn start_spill(&mut self, dir: &std::path::Path, bytes: usize) -> Option<usize> {
        let pending = self.buffer.take_run_of(bytes)?;
        let dir = dir.to_path_buf();
        let bytes = pending.bytes();
        self.spilling = Some(Spilling {
            bytes,
            task: tokio::task::spawn_blocking(move || pending.write(&dir)),
        });
        Some(bytes)
    }

    fn spilling_bytes(&self) -> usize {
        self.spilling.as_ref().map_or(0, |s| s.bytes)
    }

    /// Wait for the run being written, if any, and add it to the day.
    /// `trim_above`: see [`trim_threshold`].
    async fn settle_spill(&mut self, trim_above: usize) -> Result<(), ConvertError> {
        if let Some(spill) = self.spilling.take() {
            let run = spill
                .task
                .await
                .map_err(|e| ConvertError::Task(e.to_string()))?
                .map_err(|e| ConvertError::Task(format!("spilling: {e}")))?;
            self.buffer.add_run(run);
            // The run's rows were just freed.
            crate::alloc::release_free_memory(trim_above);
        }
        Ok(())
    }
}

impl Conversion<'_> {
    async fn trail(
        &mut self,
        trail: &Trail,
        folders: Vec<(NaiveDate, Vec<ObjectMeta>)>,
    ) -> Result<(), ConvertError> {
        let opts = self.opts;
        let scope = &opts.scope;
        let mut days: BTreeMap<NaiveDate, OpenDay> = scope
            .each_day()
            .map(|d| (d, OpenDay::new(scope.table)))
            .collect();
        let mut outside: Outside = BTreeMap::new();
        let mut file_seq: u64 = 0;
        self.files_read.clear();

        for (folder_date, files) in folders {
            let mut folder = FolderProgress {
                bytes: files.iter().map(|m| m.size).sum(),
                converted: scope.contains(folder_date),
                ..FolderProgress::default()
            };
            let source = self.source.clone();
            let read_ahead = self.read_ahead.clone();
            let read_ahead_total = kib_permits(opts.read_ahead_bytes);
            let max_bytes = opts.max_file_bytes;
            let inflating = self.inflating.clone();
            let inflating_total = kib_permits(inflation_budget(opts));
            let cpu = self.cpu.clone();
            let cores = self.cores;
            let table = scope.table;
            let (from, to) = (scope.from(), scope.to());
            // Reads overlap (`concurrency` at a time, within the read-ahead budget); the files
            // that have arrived are decoded together, a chunk per core at a time.
            let mut chunks = futures::stream::iter(files)
                .map(move |meta| {
                    let source = source.clone();
                    let read_ahead = read_ahead.clone();
                    async move {
                        // Files are started in order and the semaphore is fair, so the oldest
                        // file always gets its share first: no deadlock with `buffered`.
                        let permit = read_ahead
                            .acquire_many_owned(kib_weight(meta.size, read_ahead_total))
                            .await
                            .expect("semaphore open");
                        let bytes = source::read(&source, &meta).await?;
                        Ok::<_, ConvertError>(ReadFile {
                            meta,
                            bytes,
                            _permit: permit,
                        })
                    }
                })
                .buffered(opts.concurrency.max(1))
                .ready_chunks(CHUNK_FILES)
                .flat_map(|reads| {
                    // A failed read goes in a chunk of its own and stops the run there.
                    futures::stream::iter(chunks_by_size(reads, |r| {
                        r.as_ref().map_or(0, |r| r.bytes.len() as u64)
                    }))
                })
                .map(move |reads| {
                    let cpu = cpu.clone();
                    let inflating = inflating.clone();
                    async move {
                        let reads = reads.into_iter().collect::<Result<Vec<_>, _>>()?;
                        // Held until the chunk's rows are routed (and spilled if need be). Chunks
                        // ask in order of a fair semaphore, and one asks for the whole budget at
                        // most: the oldest chunk always gets its share first.
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
                            // Only the requested days' records are decoded; the others (most of
                            // a folder read for its late events) are only counted.
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
                            (reads, chunk, inflation)
                        })
                        .await
                        .map_err(|e| ConvertError::Task(e.to_string()))
                    }
                })
                // Results come in file order, and chunks differ in cost: twice as many in
                // flight as cores (the `cpu` permits still let one per core decode) so a core
                // that finished a light chunk takes the next one instead of waiting.
                .buffered(2 * cores);
            while let Some(item) = chunks.next().await {
                self.check_deadline(trail)?;
                // The read-ahead permits go when `reads` is dropped, once the rows are routed.
                let (reads, chunk, inflation) = item?;
                for read in &reads {
                    self.summary.source_files_read += 1;
                    self.summary.source_bytes_read += read.bytes.len() as u64;
                    self.progress.file_done(read.bytes.len() as u64);
                    folder.read += read.meta.size;
                }
                folder.rows += self.route(
                    &reads,
                    chunk,
                    folder_date,
                    file_seq,
                    &mut days,
                    &mut outside,
                )?;
                file_seq += reads.len() as u64;
                self.files_read
                    .extend(reads.iter().map(|r| r.meta.location.clone()));
                self.keep_within_budget(&mut days, folder.rows_to_come())
                    .await?;
                drop(inflation);
            }
            tracing::debug!(folder = %folder_date, "folder read and routed");
            // Days up to `folder_date - lateness` have now seen every folder they read (folders
            // come in date order; a long range lists only those that exist, so days may be
            // skipped over).
            if let Some(complete) = scope.complete_through(folder_date) {
                while let Some(entry) = days.first_entry()
                    && *entry.key() <= complete
                {
                    let (date, day) = entry.remove_entry();
                    self.finish_day(trail, date, day).await?;
                }
            }
        }
        // Days whose later folders are beyond the listing (none with the usual options).
        while let Some((date, day)) = days.pop_first() {
            self.finish_day(trail, date, day).await?;
        }
        for ((date, reason), (events, last_folder)) in outside {
            let lateness_needed = (reason == OutsideReason::BeyondLateness).then(|| {
                (last_folder - date)
                    .num_days()
                    .try_into()
                    .unwrap_or(u32::MAX)
            });
            self.summary.outside_range.push(OutsideDay {
                account: trail.account.clone(),
                region: trail.region.clone(),
                date: iso_date(date),
                events,
                reason,
                lateness_needed,
            });
        }
        Ok(())
    }

    fn check_deadline(&self, trail: &Trail) -> Result<(), ConvertError> {
        match self.opts.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(ConvertError::Deadline(format!(
                "{} {}",
                trail.account, trail.region
            ))),
            _ => Ok(()),
        }
    }

    fn bad_file(
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
    fn route(
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
                count_outside(outside, date, reason, folder_date, 1);
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
                    count_outside(outside, date, reason, folder_date, rows.len() as u64);
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
                take_record_batch(&batch, &UInt32Array::from(rows)).map_err(arrow_err)?
            };
            pushed += day.buffer.push(
                with_seq(self.opts.scope.table, &part, UInt64Array::from(seqs))
                    .map_err(arrow_err)?,
            );
        }
        Ok(pushed)
    }

    /// Keep the rows held in memory within the budget by spilling the largest day to a sorted
    /// run. A spill starts in the background once half the budget is held, so reading and
    /// decoding go on while it is written; past the whole budget the run waits for it.
    /// `to_come`: bytes of rows the rest of the folder being read is expected to add.
    async fn keep_within_budget(
        &mut self,
        days: &mut BTreeMap<NaiveDate, OpenDay>,
        to_come: usize,
    ) -> Result<(), ConvertError> {
        let budget = self.opts.memory_budget_bytes;
        loop {
            for day in days.values_mut() {
                if day.spilling.as_ref().is_some_and(|s| s.task.is_finished()) {
                    day.settle_spill(trim_threshold(self.opts)).await?;
                }
            }
            let in_memory: usize = days.values().map(|d| d.buffer.memory()).sum();
            let spilling: usize = days.values().map(OpenDay::spilling_bytes).sum();
            let held = in_memory + spilling;
            self.summary.peak_held_bytes = self.summary.peak_held_bytes.max(held as u64);
            if spilling > 0 {
                if held <= budget {
                    return Ok(());
                }
                // Over the budget with a run being written: wait for it.
                for day in days.values_mut() {
                    day.settle_spill(trim_threshold(self.opts)).await?;
                }
                continue;
            }
            if in_memory <= budget / 2 {
                return Ok(());
            }
            // Past half the budget a run is written in the background while rows keep coming
            // (the other half is theirs). Rows spilled are sorted, written and read back, so
            // only what will not fit goes: what the rest of the folder is expected to bring
            // beyond three quarters of the budget (the last quarter for a wrong guess and the
            // late events of the next folder), at least an eighth of the budget so that runs
            // stay few. A day larger than the budget spills all its rows every time, as it
            // would anyway; one a little larger spills a little (measured: a 300,000-event
            // day of ~285 MB of rows spilled 276 MB in two runs with all, ~86 MB in one).
            let expected = in_memory + to_come;
            let keep = budget / 4 * 3;
            if expected <= keep {
                return Ok(());
            }
            let Some(largest) = days.values_mut().max_by_key(|d| d.buffer.memory()) else {
                return Ok(());
            };
            let Some(spilling) =
                largest.start_spill(self.work.path(), (expected - keep).max(budget / 8))
            else {
                return Ok(());
            };
            tracing::debug!(
                held = in_memory,
                expected,
                spilling,
                "spilling the largest day in the background"
            );
            self.summary.count_spill(spilling);
        }
    }

    async fn finish_day(
        &mut self,
        trail: &Trail,
        date: NaiveDate,
        mut day: OpenDay,
    ) -> Result<(), ConvertError> {
        day.settle_spill(trim_threshold(self.opts)).await?;
        // A day that spilled merges a batch of every run beside the rows still in memory: past
        // the budget, those rows become a run too, so the merge holds little more than a batch
        // per run.
        if day.buffer.spilled_runs() > 0
            && day.buffer.merge_memory() > self.opts.memory_budget_bytes
            && let Some(spilling) = day.start_spill(self.work.path(), usize::MAX)
        {
            self.summary.count_spill(spilling);
            day.settle_spill(trim_threshold(self.opts)).await?;
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
        self.check_deadline(trail)?;
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
            let trim_above = trim_threshold(self.opts);
            let ahead_bytes = self.opts.memory_budget_bytes / 4;
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

/// How far the reading of a date folder is, to tell how many more rows it will bring.
#[derive(Default)]
struct FolderProgress {
    /// Compressed bytes of the folder's delivery files...
    bytes: u64,
    /// ...and of the files routed so far.
    read: u64,
    /// Bytes of the rows those files added to the days being converted.
    rows: usize,
    /// Whether its own date is being converted (else it is read for late events only).
    converted: bool,
}

impl FolderProgress {
    /// Bytes of rows the rest of the folder is expected to add, at the rate of what was read
    /// of it. None are expected from a folder read only for its late events: its first files
    /// hold most of them (events of the day's last minutes), so their rate would mislead, and
    /// the late events of a day are few.
    fn rows_to_come(&self) -> usize {
        if self.read == 0 || !self.converted {
            return 0;
        }
        let rate = self.rows as f64 / self.read as f64;
        (self.bytes.saturating_sub(self.read) as f64 * rate) as usize
    }
}

/// What merging a day dropped (true duplicates) and kept (conflicting ones).
#[derive(Default)]
struct Merged {
    duplicates: u64,
    conflicting: u64,
    conflicts: Vec<Conflict>,
}

/// Merge a day's rows on one thread while `encode` writes the merged batches on others: the
/// merge is serial, and alone it would leave the other cores idle between row groups. The merge
/// stays ahead by two batches and `ahead_bytes` at most: a batch holding one huge record (see
/// `day`) is merged only once the encoder is done with the one before.
/// Returns what `encode` made and what the merge dropped and kept.
fn sort_and_encode<T>(
    buffer: DayBuffer,
    chunk_rows: usize,
    trim_above: usize,
    ahead_bytes: usize,
    encode: impl FnOnce(&mut dyn Iterator<Item = Result<RecordBatch, DayError>>) -> Result<T, SinkError>,
) -> Result<(T, Merged), SinkError> {
    let (merged, received) = std::sync::mpsc::sync_channel(2);
    let in_flight = InFlight::default();
    std::thread::scope(|scope| {
        let in_flight = &in_flight;
        let merge = scope.spawn(move || -> Result<Merged, DayError> {
            let mut sorted = buffer.into_sorted(chunk_rows)?;
            let mut index = 0;
            while in_flight.wait_below(ahead_bytes) {
                let Some(batch) = sorted.next() else { break };
                // A long merge frees a batch of a run for every batch it reads.
                if index % 16 == 15 {
                    crate::alloc::release_free_memory(trim_above);
                }
                index += 1;
                let failed = batch.is_err();
                let bytes = batch.as_ref().map_or(0, |b| b.get_array_memory_size());
                in_flight.add(bytes);
                // A closed channel means the encoder stopped (on its own error).
                if merged.send((batch, bytes)).is_err() || failed {
                    break;
                }
            }
            Ok(Merged {
                duplicates: sorted.duplicates(),
                conflicting: sorted.conflicting(),
                conflicts: sorted.conflicts().to_vec(),
            })
        });
        let made = encode(&mut Written {
            received: received.into_iter(),
            in_flight,
            last: 0,
        });
        let merged = merge
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        Ok((made?, merged))
    })
}

/// Bytes of merged batches handed to the encoder and not yet written.
#[derive(Default)]
struct InFlight {
    state: std::sync::Mutex<(usize, bool)>,
    changed: std::sync::Condvar,
}

impl InFlight {
    /// Wait until fewer than `limit` bytes are in flight (or none); false once the encoder is gone.
    fn wait_below(&self, limit: usize) -> bool {
        let mut state = self.state.lock().expect("not poisoned");
        while state.0 > 0 && state.0 >= limit && !state.1 {
            state = self.changed.wait(state).expect("not poisoned");
        }
        !state.1
    }

    fn add(&self, bytes: usize) {
        self.state.lock().expect("not poisoned").0 += bytes;
    }

    fn remove(&self, bytes: usize) {
        self.state.lock().expect("not poisoned").0 -= bytes;
        self.changed.notify_all();
    }

    fn close(&self) {
        self.state.lock().expect("not poisoned").1 = true;
        self.changed.notify_all();
    }
}

/// The encoder's side: a batch counts as in flight until the encoder asks for the next one.
struct Written<'a, I> {
    received: I,
    in_flight: &'a InFlight,
    last: usize,
}

impl<I: Iterator<Item = (Result<RecordBatch, DayError>, usize)>> Iterator for Written<'_, I> {
    type Item = Result<RecordBatch, DayError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.in_flight.remove(std::mem::take(&mut self.last));
        let (batch, bytes) = self.received.next()?;
        self.last = bytes;
        Some(batch)
    }
}

impl<I> Drop for Written<'_, I> {
    fn drop(&mut self) {
        // The encoder is done (or failed): a merge waiting for room must not wait forever.
        self.in_flight.close();
    }
}

fn arrow_err(e: arrow::error::ArrowError) -> ConvertError {
    ConvertError::Task(format!("arrow: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_order_and_stay_within_the_byte_bound() {
        let mb = 1024 * 1024;
        let sizes = [mb / 4, mb / 2, mb / 4, 3 * mb, 1, 1, mb];
        let chunks = chunks_by_size(sizes.to_vec(), |s| *s);
        assert_eq!(
            chunks,
            [
                vec![mb / 4, mb / 2, mb / 4],
                vec![3 * mb],
                vec![1, 1],
                vec![mb]
            ]
        );
        assert!(chunks_by_size(Vec::<u64>::new(), |s| *s).is_empty());
    }
}
