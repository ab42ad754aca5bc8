//! The conversion pipeline, in stages, each a module:
//!
//! ```text
//! listing    the trails of the scope and the delivery files of their date folders
//! read       files read with overlapping requests, decoded in chunks on every core
//! route      each row to the day of its eventTime, or counted as outside the run
//! open_day   a day's rows held, spilled as sorted runs past the budget (budget: when)
//! encode     a day merged in (eventTime, eventID) order and encoded to Parquet
//! finish     the day published under its lease (crate::publish), and reported
//! ```
//!
//! `checkpoint` saves a unit's open days at its deadline and resumes them in the next run.
//!
//! Output day D of a trail holds the events whose eventTime falls on D, gathered from the date
//! folders D ..= D + lateness ([`Scope::window`]). A range run reads each folder once, in date
//! order, and finishes day D as soon as folder D + lateness has been read, so at most
//! `lateness + 1` days are open. Day D is encoded on threads of its own while the next folder is
//! read (the encoder alone leaves cores idle), and published before day D + 1 starts encoding.

mod budget;
mod checkpoint;
mod encode;
mod finish;
mod listing;
mod open_day;
mod read;
mod route;

/// Where saved conversions live under a destination (see `checkpoint`).
pub(crate) use checkpoint::AREA as RESUME_AREA;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use futures::StreamExt;
use object_store::path::Path;
use parquet::file::properties::WriterProperties;

use crate::scope::Scope;
use crate::sink::{ParquetOptions, SinkError};
use crate::source::{SourceError, Trail};
use crate::store::Location;
use crate::summary::{DayReport, Summary};

use budget::{Decision, FolderProgress, MemoryPolicy};
use listing::Folder;
use open_day::OpenDay;
use read::{Decoded, InFolder, ReadSettings, Reader};
use route::Outside;

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
    /// At the deadline, save the days still open under DEST (`_ctparquet/resume/`) and return
    /// with [`Summary::resume_from`] instead of failing; a run of the same trail from that day
    /// resumes them, so a day larger than one run's time still finishes. A run stops only
    /// once it has routed a chunk of files, so each makes progress. For a scope of one account
    /// and region (a job's unit); others stop with [`ConvertError::Deadline`].
    pub resumable: bool,
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
            resumable: false,
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
    /// The destination's days could not be listed.
    #[error("listing the destination: {0}")]
    Destination(String),
    /// Saving a stopped conversion, or resuming one (see [`ConvertOptions::resumable`]).
    #[error("saved conversion: {0}")]
    Checkpoint(String),
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
    cores: usize,
    memory: MemoryPolicy,
    reader: Reader,
    summary: Summary,
    /// The delivery files of the trail being converted, by their place in its sequence numbers
    /// (to name the files of conflicting duplicates).
    files_read: Vec<Path>,
    /// Save the open days at the deadline instead of failing ([`ConvertOptions::resumable`]).
    resumable: bool,
    /// The days of the trail being converted that DEST holds, for a long range: its days that
    /// bring no event and are not there are not published (nothing to write or replace), so
    /// a sparse range of years costs its days with data, not every day of the calendar.
    dest_days: Option<std::collections::BTreeSet<NaiveDate>>,
    /// The day being encoded while the next folder is read (see [`Conversion::finish_day`]).
    encoding: Option<finish::EncodingDay>,
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
    let props = opts
        .parquet
        .writer_properties(opts.scope.table)
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
    let memory = MemoryPolicy::new(opts.memory_budget_bytes);
    let reader = Reader::new(
        source,
        &opts.scope,
        ReadSettings {
            concurrency: opts.concurrency,
            read_ahead_bytes: opts.read_ahead_bytes,
            inflation_bytes: memory.inflation_bytes(),
            max_file_bytes: opts.max_file_bytes,
            cores,
        },
    );
    let mut conversion = Conversion {
        source,
        dest,
        opts,
        props,
        work,
        progress,
        cores,
        memory,
        reader,
        summary: Summary::default(),
        files_read: Vec::new(),
        resumable: false,
        dest_days: None,
        encoding: None,
    };

    let listing = listing::list(source, &opts.scope, &mut conversion.summary).await?;
    progress.files_listed(listing.files);
    tracing::debug!(
        files = listing.files,
        seconds = started.elapsed().as_secs_f64(),
        "listed"
    );
    conversion.resumable = opts.resumable && listing.trails.len() == 1;
    for (trail, folders) in listing.trails {
        if let Err(e) = conversion.trail(&trail, folders).await {
            // A day encoding when the deadline passed was begun before it: it is finished, as
            // a day being written is.
            if matches!(e, ConvertError::Deadline(_)) {
                conversion.publish_encoded().await?;
            }
            return Err(e);
        }
    }

    let mut summary = conversion.summary;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.events_per_second = summary.events_read as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

impl Conversion<'_> {
    /// Convert the days of one trail from its date folders, in date order.
    async fn trail(&mut self, trail: &Trail, folders: Vec<Folder>) -> Result<(), ConvertError> {
        let scope = &self.opts.scope;
        let mut days: BTreeMap<NaiveDate, OpenDay> = scope
            .each_day()
            .map(|d| (d, OpenDay::new(scope.table)))
            .collect();
        let mut outside = Outside::default();
        self.files_read.clear();
        self.dest_days = None;
        if scope.day_count() > crate::source::PROBE_DAYS_AT_MOST {
            let trail_scope = scope.unit(scope.from(), scope.to(), &trail.account, &trail.region);
            let held = crate::inspect::days(self.dest, &trail_scope)
                .await
                .map_err(|e| ConvertError::Destination(e.to_string()))?;
            self.dest_days = Some(held.into_iter().map(|(_, _, day)| day).collect());
        }
        let mut saved = checkpoint::Saved::default();
        if self.resumable {
            let (found, restored) =
                checkpoint::load(self.dest, scope, trail, self.work.path()).await?;
            saved = found;
            if let Some(restored) = restored {
                self.summary.events_resumed +=
                    restored.days.values().map(|d| d.events).sum::<u64>();
                days.extend(restored.days);
                self.files_read = restored.files_read;
            }
        }
        // Files read by the run resumed are not read again; the others are numbered after them,
        // as one run would have numbered them.
        let already: std::collections::HashSet<Path> = self.files_read.iter().cloned().collect();
        let mut file_seq = self.files_read.len() as u64;
        // A resumable run stops only after routing a chunk: each run makes progress.
        let mut progressed = false;

        // The progress of each folder, in the order the stream goes through them.
        let mut progress = std::collections::VecDeque::new();
        let folders: Vec<_> = folders
            .into_iter()
            .map(|Folder { date, mut files }| {
                files.retain(|f| !already.contains(&f.location));
                progress.push_back(FolderProgress {
                    bytes: files.iter().map(|m| m.size).sum(),
                    converted: scope.contains(date),
                    ..FolderProgress::default()
                });
                (date, files)
            })
            .collect();
        // Polled here, not by a task of its own: reading on while the conversion waits for a
        // spill only piles decoded chunks up (a 10 GB day: 111 s and 61 s of system time
        // against 82 s and 33 s, from freeing and faulting their pages back in).
        let mut chunks = Box::pin(self.reader.folders(folders));
        while let Some(item) = chunks.next().await {
            if self.stops_here(trail, progressed)? {
                drop(chunks);
                return self.stop(trail, days, outside, saved).await;
            }
            let (folder_date, decoded) = match item? {
                InFolder::Item(date, decoded) => (date, decoded),
                InFolder::End(folder_date) => {
                    progress.pop_front();
                    tracing::debug!(folder = %folder_date, "folder read and routed");
                    // Days up to `folder_date - lateness` have now seen every folder they read
                    // (folders come in date order; a long range lists only those that exist, so
                    // days may be skipped over).
                    if let Some(complete) = scope.complete_through(folder_date)
                        && self
                            .finish_days_through(trail, &mut days, complete, progressed)
                            .await?
                    {
                        drop(chunks);
                        return self.stop(trail, days, outside, saved).await;
                    }
                    continue;
                }
            };
            // The read-ahead permits go when `reads` is dropped, once the rows are routed;
            // the inflation permit once they are within the budget.
            let Decoded {
                reads,
                chunk,
                inflation,
            } = decoded;
            let folder = progress.front_mut().expect("a chunk of a listed folder");
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
            let to_come = folder.rows_to_come();
            self.keep_within_budget(&mut days, to_come).await?;
            drop(inflation);
            progressed = true;
        }
        // Days whose later folders are beyond the listing (none with the usual options).
        if self
            .finish_days_through(trail, &mut days, NaiveDate::MAX, progressed)
            .await?
        {
            return self.stop(trail, days, outside, saved).await;
        }
        self.publish_encoded().await?;
        self.summary.outside_range.extend(outside.report(trail));
        checkpoint::clear(self.dest, scope, trail, saved).await
    }

    /// Finish the open days up to `through`, in order; `true` when the run is to stop before
    /// the next of them (see [`Conversion::stops_here`]), which is left open.
    async fn finish_days_through(
        &mut self,
        trail: &Trail,
        days: &mut BTreeMap<NaiveDate, OpenDay>,
        through: NaiveDate,
        progressed: bool,
    ) -> Result<bool, ConvertError> {
        while let Some(entry) = days.first_entry()
            && *entry.key() <= through
        {
            if self.stops_here(trail, progressed)? {
                return Ok(true);
            }
            let (date, day) = entry.remove_entry();
            self.finish_day(trail, date, day).await?;
        }
        Ok(false)
    }

    /// Whether the run stops before its next step: past the deadline, a resumable run that has
    /// made progress stops (`true`); one that is not resumable fails.
    fn stops_here(&self, trail: &Trail, progressed: bool) -> Result<bool, ConvertError> {
        if !self.resumable {
            self.check_deadline(trail)?;
            return Ok(false);
        }
        Ok(progressed && self.check_deadline(trail).is_err())
    }

    /// Stop a resumable run at the deadline: every open day's rows into runs, the runs and the
    /// files read saved under DEST, and where to resume in the summary.
    async fn stop(
        &mut self,
        trail: &Trail,
        mut days: BTreeMap<NaiveDate, OpenDay>,
        outside: Outside,
        mut saved: checkpoint::Saved,
    ) -> Result<(), ConvertError> {
        // The day being encoded was started before the deadline: it is finished.
        self.publish_encoded().await?;
        let trim_above = self.memory.trim_above();
        for day in days.values_mut() {
            day.settle_spill(trim_above).await?;
            if let Some(spilling) = day.start_spill(self.work.path(), usize::MAX) {
                self.summary.count_spill(spilling);
                day.settle_spill(trim_above).await?;
            }
        }
        let scope = &self.opts.scope;
        checkpoint::save(self.dest, scope, trail, &mut saved, &days, &self.files_read).await?;
        self.summary.events_saved += days.values().map(|d| d.events).sum::<u64>();
        self.summary.resume_from = days.keys().next().map(|d| crate::layout::iso_date(*d));
        self.summary.outside_range.extend(outside.report(trail));
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

    /// Keep the rows held in memory within the budget by spilling the largest day to a sorted
    /// run, as the [`MemoryPolicy`] decides. `to_come`: bytes of rows the rest of the folder being
    /// read is expected to add.
    async fn keep_within_budget(
        &mut self,
        days: &mut BTreeMap<NaiveDate, OpenDay>,
        to_come: usize,
    ) -> Result<(), ConvertError> {
        let trim_above = self.memory.trim_above();
        loop {
            for day in days.values_mut() {
                if day.spilling.as_ref().is_some_and(|s| s.task.is_finished()) {
                    day.settle_spill(trim_above).await?;
                }
            }
            let encoding = self.encoding_bytes();
            let in_memory = encoding + days.values().map(|d| d.buffer.memory()).sum::<usize>();
            let spilling: usize = days.values().map(OpenDay::spilling_bytes).sum();
            self.summary.peak_held_bytes = self
                .summary
                .peak_held_bytes
                .max((in_memory + spilling) as u64);
            match self.memory.decide(in_memory, spilling, to_come) {
                Decision::Fits => return Ok(()),
                // The rows of the day being encoded leave memory once it is done: wait for it
                // rather than spill rows that would soon fit.
                _ if encoding > 0 => self.publish_encoded().await?,
                Decision::WaitForSpill => {
                    for day in days.values_mut() {
                        day.settle_spill(trim_above).await?;
                    }
                }
                Decision::Spill(bytes) => {
                    let Some(largest) = days.values_mut().max_by_key(|d| d.buffer.memory()) else {
                        return Ok(());
                    };
                    let Some(spilling) = largest.start_spill(self.work.path(), bytes) else {
                        return Ok(());
                    };
                    tracing::debug!(
                        held = in_memory,
                        to_come,
                        spilling,
                        "spilling the largest day in the background"
                    );
                    self.summary.count_spill(spilling);
                }
            }
        }
    }
}

fn arrow_err(e: arrow::error::ArrowError) -> ConvertError {
    ConvertError::Task(format!("arrow: {e}"))
}
