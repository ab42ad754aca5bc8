//! ctparquet's decoder: AWS CloudTrail delivery files into Arrow rows of one schema, exactly,
//! and rows back into the records they came from.
//!
//! - [`schema`]: the tables (events of CloudTrail eventVersion 1.11, insights, aggregated);
//! - [`decode`]: delivery file bytes into Arrow rows, nothing dropped ([`gunzip`] inflates the
//!   files, [`json`] splits them without a DOM, [`time`] reads eventTime);
//! - [`rebuild`]: a row back into its source record, the proof of exactness;
//! - [`plain`]: a file read as plain JSON, independently of the decoder (what `rebuild` is
//!   compared with).
//!
//! A crate of its own so that it builds without Parquet, object stores or a runtime: the fuzz
//! target links nothing else. The `ctparquet` library re-exports it.

pub mod decode;
pub mod gunzip;
pub mod json;
pub mod plain;
pub mod rebuild;
pub mod schema;
pub mod time;
