//! A row back into the CloudTrail record it came from, the proof of exactness: the decoder
//! crate's rebuild, for files of any JSON-column form (VARIANT columns read back into text
//! first).

use arrow::array::RecordBatch;
use serde_json::Value;

pub use ctparquet_decode::rebuild::{RebuildError, merge, original_text};

use crate::schema::Table;

/// Rebuild every row of a batch of a table's schema (its JSON columns in any form).
pub fn rebuild_batch(table: &Table, batch: &RecordBatch) -> Result<Vec<Value>, RebuildError> {
    let text = crate::variant::to_text_batch(batch).map_err(|e| RebuildError {
        row: 0,
        reason: format!("a VARIANT column is not readable: {e}"),
    })?;
    ctparquet_decode::rebuild::rebuild_batch(table, &text)
}
