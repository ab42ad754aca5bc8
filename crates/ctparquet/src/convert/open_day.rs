//! The state of one output day of a trail while its folders are read: its rows (in memory and
//! spilled), whether a bad file failed it, and the run being spilled from it in the background.

use super::ConvertError;
use crate::day::{DayBuffer, DayError, SpilledRun};
use crate::schema::Table;

/// The state of one output day of a trail.
pub(super) struct OpenDay {
    pub buffer: DayBuffer,
    /// Set when a file it may have events in was bad: the day is not written.
    pub failed: Option<String>,
    /// Events routed to this day (duplicates included).
    pub events: u64,
    /// Rows of this day being written to a sorted run on another thread.
    pub spilling: Option<Spilling>,
}

pub(super) struct Spilling {
    /// Bytes of the rows, in memory until the run is written.
    pub bytes: usize,
    pub task: tokio::task::JoinHandle<Result<SpilledRun, DayError>>,
}

impl OpenDay {
    pub(super) fn new(table: &'static Table) -> Self {
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
    pub(super) fn start_spill(&mut self, dir: &std::path::Path, bytes: usize) -> Option<usize> {
        let pending = self.buffer.take_run_of(bytes)?;
        let dir = dir.to_path_buf();
        let bytes = pending.bytes();
        self.spilling = Some(Spilling {
            bytes,
            task: tokio::task::spawn_blocking(move || pending.write(&dir)),
        });
        Some(bytes)
    }

    pub(super) fn spilling_bytes(&self) -> usize {
        self.spilling.as_ref().map_or(0, |s| s.bytes)
    }

    /// Wait for the run being written, if any, and add it to the day.
    /// `trim_above`: see [`super::budget::MemoryPolicy::trim_above`].
    pub(super) async fn settle_spill(&mut self, trim_above: usize) -> Result<(), ConvertError> {
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
