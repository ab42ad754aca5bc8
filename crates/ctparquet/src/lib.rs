//! ctparquet: AWS CloudTrail delivery files into day-collated, Hive-partitioned Parquet.
//!
//! The pieces, each in its own module:
//! - [`schema`], [`decode`], [`time`] (from the `ctparquet-decode` crate, which builds without
//!   Parquet): the tables (events of CloudTrail eventVersion 1.11, insights, aggregated) and
//!   delivery file bytes into Arrow rows, exactly (nothing dropped);
//! - [`rebuild`]: a row back into its source record, the proof of exactness;
//! - [`scope`]: the days, trails and table a run covers, and the window of folders of a day;
//! - [`layout`]: where CloudTrail puts files and where we put Parquet;
//! - [`aws`]: the standard AWS credential and region chain, for S3 through object_store;
//! - [`source`]: discovery and reading of delivery files through any `object_store`
//!   ([`counting`]: the requests it costs, counted);
//! - `day`: sorting, de-duplication and spilling of one output day;
//! - [`sink`]: Parquet encoding (`writer`: columns encoded on several threads; [`variant`]: JSON
//!   columns as Parquet VARIANT); [`publish`]: a
//!   day's files put in place whole, one writer at a time;
//! - [`convert`](mod@convert): the pipeline that ties them together, and its [`summary`];
//! - [`verify`]: proof that a destination holds exactly the source events (`strays`: what
//!   readers would see beside our files);
//! - [`inspect`], [`ddl`], [`retention`]: what a destination holds, how engines read it, how
//!   old days leave it; [`upgrade`]: its days rewritten into the current schema from their own
//!   Parquet.
//!
//! The modules in `code` style are internal (`pub(crate)`); `debris` too (leftovers of killed
//! runs).

pub mod alloc;
#[cfg(feature = "s3")]
pub mod aws;
pub mod convert;
pub mod counting;
pub(crate) mod day;
pub(crate) mod debris;
pub use ctparquet_decode::decode;
pub mod layout;
pub mod publish;
pub mod rebuild;
pub use ctparquet_decode::schema;
pub mod scope;
pub mod sink;
pub mod source;
pub mod store;
pub(crate) mod strays;
pub mod summary;
pub use ctparquet_decode::time;
pub(crate) mod parallel;
pub mod variant;
pub mod verify;
pub(crate) mod writer;

pub use convert::{ConvertError, ConvertOptions, NoProgress, Progress, convert, runtime};
pub use scope::{Scope, ScopeError};
pub use sink::ParquetOptions;
pub use store::Location;
pub use summary::Summary;
pub mod ddl;
pub mod inspect;
pub mod retention;
pub mod upgrade;
