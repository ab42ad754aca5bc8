//! Conversion jobs: what the Lambda, the queue and `ctparquet backfill` agree on.
//!
//! - [`job`]: a [`Job`] (a day or a range, optionally some accounts and regions) is the message
//!   format of the queue and of direct invocations; it expands into [`Unit`]s, consecutive
//!   output days of one account and region.
//!   Under `"upgrade"` the same job is a [`Task::Upgrade`]: the days the destination holds,
//!   rewritten in the current schema.
//! - [`plan`]: the units of a job, found by listing the source (allow-lists applied) and sized
//!   by the bytes they read, or of an upgrade, by listing the destination.
//! - [`run`]: units converted one after another within a deadline; what cannot start in time is
//!   handed back, never cut off mid-write.
//! - [`queue`]: jobs sent to SQS (fan-out, backfill, re-enqueueing work left at the deadline).

pub mod job;
pub mod plan;
pub mod queue;
pub mod run;

pub use job::{Job, JobError, Task, Unit};
pub use plan::{DEFAULT_UNIT_BYTES, Plan, plan, plan_upgrade};
pub use queue::{JobQueue, SqsQueue};
pub use run::{Outcome, Runner, Totals};
