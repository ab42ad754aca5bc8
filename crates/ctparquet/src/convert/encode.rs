//! The encode stage: a day's rows merged in order on one thread while the Parquet encoder
//! gathers and writes the merged chunks on the others.

use std::sync::Arc;

use crate::day::{Conflict, DayBuffer, DayError, MergedChunk};
use crate::sink::SinkError;

/// What merging a day dropped (true duplicates) and kept (conflicting ones).
#[derive(Default)]
pub(super) struct Merged {
    pub duplicates: u64,
    pub conflicting: u64,
    pub conflicts: Vec<Conflict>,
}

/// Merge a day's rows on one thread while `encode` writes the merged chunks on others: the
/// merge is serial, so it only picks rows, and the encoder gathers each chunk's columns on the
/// threads that encode them (gathering copied every value on the merge thread, which then held
/// the others back). The merge stays ahead by `ahead_bytes` at most, counting every chunk until
/// the encoder drops it (it queues a few before encoding them): a chunk holding one huge record
/// (see `day`) is merged only once the encoder is done with the ones before.
/// Returns what `encode` made and what the merge dropped and kept.
pub(super) fn sort_and_encode<T>(
    buffer: DayBuffer,
    chunk_rows: usize,
    threads: usize,
    trim_above: usize,
    ahead_bytes: usize,
    encode: impl FnOnce(&mut dyn Iterator<Item = Result<MergedChunk, DayError>>) -> Result<T, SinkError>,
) -> Result<(T, Merged), SinkError> {
    let (merged, received) = std::sync::mpsc::sync_channel(2);
    let in_flight = Arc::new(InFlight::default());
    std::thread::scope(|scope| {
        let merging = in_flight.clone();
        let merge = scope.spawn(move || -> Result<Merged, DayError> {
            let mut sorted = buffer.into_sorted(chunk_rows, threads)?;
            let mut index = 0;
            while merging.wait_below(ahead_bytes) {
                let Some(batch) = sorted.next() else { break };
                // A long merge frees a batch of a run for every batch it reads.
                if index % 16 == 15 {
                    crate::alloc::release_free_memory(trim_above);
                }
                index += 1;
                let failed = batch.is_err();
                let batch = batch.map(|chunk| {
                    let bytes = chunk.memory_size();
                    merging.add(bytes);
                    let written = merging.clone();
                    chunk.on_drop(move || written.remove(bytes))
                });
                // A closed channel means the encoder stopped (on its own error).
                if merged.send(batch).is_err() || failed {
                    break;
                }
            }
            Ok(Merged {
                duplicates: sorted.duplicates(),
                conflicting: sorted.conflicting(),
                conflicts: sorted.conflicts().to_vec(),
            })
        });
        let made = encode(&mut Received {
            received: received.into_iter(),
            in_flight: &in_flight,
        });
        let merged = merge
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        Ok((made?, merged))
    })
}

/// Bytes of merged chunks handed to the encoder and not yet dropped by it.
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

/// The encoder's side of the channel.
struct Received<'a, I> {
    received: I,
    in_flight: &'a InFlight,
}

impl<I: Iterator<Item = Result<MergedChunk, DayError>>> Iterator for Received<'_, I> {
    type Item = Result<MergedChunk, DayError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.received.next()
    }
}

impl<I> Drop for Received<'_, I> {
    fn drop(&mut self) {
        // The encoder is done (or failed): a merge waiting for room must not wait forever.
        self.in_flight.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_waiting_for_room_is_released_when_the_encoder_goes() {
        let in_flight = InFlight::default();
        assert!(in_flight.wait_below(10), "nothing in flight: room");
        in_flight.add(20);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| in_flight.wait_below(10));
            in_flight.close();
            assert!(!waiter.join().unwrap(), "the encoder is gone");
        });
    }
}
