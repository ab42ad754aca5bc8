//! Exit codes: one meaning each, documented in `ctparquet --help` and the README. 0 is success
//! (`ExitCode::SUCCESS`).

use std::process::ExitCode;

/// A failure of the machine or the service: I/O, S3 after its retries, credentials, a SOURCE
/// that holds no trail.
pub const FAILURE: u8 = 1;
/// The command line is wrong (clap uses 2 for its own usage errors too).
pub const USAGE: u8 = 2;
/// `verify`: the destination differs from what the source says it must hold.
pub const DIFFERENCES: u8 = 3;
/// Input files could not be read as CloudTrail logs: the days they may hold events of were not
/// written (`--skip-bad-files` writes them without those files).
pub const BAD_INPUT: u8 = 4;

pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}

/// A mistake on the command line found after parsing (a range that ends before it starts, a
/// bloom filter column that does not exist, DEST inside SOURCE/AWSLogs): exit code [`USAGE`].
#[derive(Debug)]
pub struct UsageError(pub anyhow::Error);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for UsageError {}

/// Marks an error of option checking as a usage error.
pub fn usage(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(UsageError(e))
}

/// The exit code of an error that ended a command.
pub fn of_error(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UsageError>().is_some() {
        USAGE
    } else {
        FAILURE
    }
}
