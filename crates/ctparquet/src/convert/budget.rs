//! The memory policy of a conversion: how much of `--memory-budget` rows of open days may take
//! before the largest is spilled to a sorted run, how many bytes of files may be inflated at once,
//! and when freed heap pages go back to the system. One type, so the thresholds are read in one
//! place and tested without running a conversion.

/// A share of the budget.
#[derive(Debug, Clone, Copy)]
struct Share {
    numerator: usize,
    denominator: usize,
}

impl Share {
    const fn of(self, bytes: usize) -> usize {
        bytes / self.denominator * self.numerator
    }
}

/// Rows held past this share start a spill in the background, so reading and decoding go on
/// while it is written (the rest of the budget is for the rows that keep coming meanwhile).
const SPILL_FROM: Share = Share {
    numerator: 1,
    denominator: 2,
};

/// What a spill leaves in memory: rows spilled are sorted, written and read back, so only what
/// the rest of the folder is expected to bring beyond this share goes (the last quarter is for a
/// wrong guess and for the late events of the next folder).
const KEEP: Share = Share {
    numerator: 3,
    denominator: 4,
};

/// A spill takes at least this share, so that runs (each merged with a batch in memory) stay
/// few. A day larger than the budget spills all its rows every time, as it would anyway; one a
/// little larger spills a little.
const MIN_SPILL: Share = Share {
    numerator: 1,
    denominator: 8,
};

/// Merged batches handed to the encoder and not yet written, at most: a batch holding one huge
/// record is merged only once the encoder is done with the one before.
const MERGE_AHEAD: Share = Share {
    numerator: 1,
    denominator: 4,
};

/// Bytes of files inflated at once, at least: a few chunks of ordinary files (~10 MB of JSON
/// each), so that a small budget still lets them decode ahead of the routing (a huge file takes
/// the whole inflation budget and is decoded alone either way).
const MIN_INFLATION_BYTES: u64 = 64 * 1024 * 1024;

/// What to do about the rows held after a chunk was routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// They fit: go on reading.
    Fits,
    /// Over the whole budget with a run being written: wait for it.
    WaitForSpill,
    /// Spill the largest day's oldest rows, this many bytes at least.
    Spill(usize),
}

/// The thresholds of one budget.
#[derive(Debug, Clone, Copy)]
pub(super) struct MemoryPolicy {
    budget: usize,
}

impl MemoryPolicy {
    pub(super) fn new(budget_bytes: usize) -> Self {
        MemoryPolicy {
            budget: budget_bytes,
        }
    }

    /// What to do with `in_memory` bytes of rows held, `spilling` more being written to a run,
    /// and `to_come` bytes of rows the rest of the folder being read is expected to add.
    pub(super) fn decide(&self, in_memory: usize, spilling: usize, to_come: usize) -> Decision {
        if spilling > 0 {
            return if in_memory + spilling <= self.budget {
                Decision::Fits
            } else {
                Decision::WaitForSpill
            };
        }
        if in_memory <= SPILL_FROM.of(self.budget) {
            return Decision::Fits;
        }
        let expected = in_memory + to_come;
        let keep = KEEP.of(self.budget);
        if expected <= keep {
            return Decision::Fits;
        }
        Decision::Spill((expected - keep).max(MIN_SPILL.of(self.budget)))
    }

    /// Whether a day that spilled can merge its runs beside the rows it holds (`merge_bytes`:
    /// those rows and a batch of every run); if not, those rows become a run too.
    pub(super) fn merge_fits(&self, merge_bytes: usize) -> bool {
        merge_bytes <= self.budget
    }

    /// See [`MERGE_AHEAD`].
    pub(super) fn merge_ahead_bytes(&self) -> usize {
        MERGE_AHEAD.of(self.budget)
    }

    /// Resident bytes past which freed heap pages are handed back to the system (after a
    /// spill, and as a spilled day is merged): the budget itself, so a day that never reaches it
    /// is left alone and one that spills stays near it.
    pub(super) fn trim_above(&self) -> usize {
        self.budget
    }

    /// Bytes of files being inflated and decoded at once, at most: the budget, and never less
    /// than [`MIN_INFLATION_BYTES`].
    pub(super) fn inflation_bytes(&self) -> u64 {
        (self.budget as u64).max(MIN_INFLATION_BYTES)
    }
}

/// How far the reading of a date folder is, to tell how many more rows it will bring.
#[derive(Default)]
pub(super) struct FolderProgress {
    /// Compressed bytes of the folder's delivery files...
    pub bytes: u64,
    /// ...and of the files routed so far.
    pub read: u64,
    /// Bytes of the rows those files added to the days being converted.
    pub rows: usize,
    /// Whether its own date is being converted (else it is read for late events only).
    pub converted: bool,
}

impl FolderProgress {
    /// Bytes of rows the rest of the folder is expected to add, at the rate of what was read
    /// of it. None are expected from a folder read only for its late events: its first files
    /// hold most of them (events of the day's last minutes), so their rate would mislead, and
    /// the late events of a day are few.
    pub(super) fn rows_to_come(&self) -> usize {
        if self.read == 0 || !self.converted {
            return 0;
        }
        let rate = self.rows as f64 / self.read as f64;
        (self.bytes.saturating_sub(self.read) as f64 * rate) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: usize = 1024 * 1024;

    #[test]
    fn rows_under_half_the_budget_never_spill() {
        let policy = MemoryPolicy::new(256 * MB);
        assert_eq!(policy.decide(128 * MB, 0, 1000 * MB), Decision::Fits);
    }

    #[test]
    fn a_spill_takes_only_what_the_folder_will_not_leave_room_for() {
        let policy = MemoryPolicy::new(256 * MB);
        // 150 MB held, 100 MB to come: 58 MB beyond the three quarters (192 MB).
        assert_eq!(
            policy.decide(150 * MB, 0, 100 * MB),
            Decision::Spill(58 * MB)
        );
        // Expected to stay within three quarters: nothing spills.
        assert_eq!(policy.decide(150 * MB, 0, 40 * MB), Decision::Fits);
        // A little beyond: an eighth at least, so runs stay few.
        assert_eq!(policy.decide(190 * MB, 0, 3 * MB), Decision::Spill(32 * MB));
    }

    #[test]
    fn over_the_budget_with_a_run_being_written_waits_for_it() {
        let policy = MemoryPolicy::new(256 * MB);
        assert_eq!(policy.decide(200 * MB, 50 * MB, 0), Decision::Fits);
        assert_eq!(policy.decide(200 * MB, 60 * MB, 0), Decision::WaitForSpill);
    }

    #[test]
    fn a_small_budget_still_inflates_a_few_chunks() {
        assert_eq!(
            MemoryPolicy::new(16 * MB).inflation_bytes(),
            MIN_INFLATION_BYTES
        );
        assert_eq!(
            MemoryPolicy::new(512 * MB).inflation_bytes(),
            512 * MB as u64
        );
        assert_eq!(MemoryPolicy::new(256 * MB).merge_ahead_bytes(), 64 * MB);
    }

    #[test]
    fn a_folder_read_for_late_events_expects_no_more_rows() {
        let mut folder = FolderProgress {
            bytes: 100,
            read: 25,
            rows: 1000,
            converted: true,
        };
        assert_eq!(folder.rows_to_come(), 3000);
        folder.converted = false;
        assert_eq!(folder.rows_to_come(), 0);
    }
}
