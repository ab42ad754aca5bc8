//! Firehose's data-transformation protocol: the event a transformation Lambda receives and the
//! response it gives, one answer per record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Firehose's limit on the transformation response.
pub const MAX_RESPONSE_BYTES: usize = 6_000_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformEvent {
    pub delivery_stream_arn: String,
    pub records: Vec<InRecord>,
}

/// A record as Firehose sends it; `data` stays text so a bad record fails alone.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InRecord {
    pub record_id: String,
    pub data: String,
}

#[derive(Serialize, Debug)]
pub struct TransformResponse {
    pub records: Vec<OutRecord>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct OutRecord {
    pub record_id: String,
    pub result: RecordResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// What became of a record, as Firehose's transformation protocol spells it.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordResult {
    /// Transformed: `data` holds the new record.
    Ok,
    /// Nothing to deliver (a record of no day, or a duplicate of one delivered).
    Dropped,
    /// Not readable: Firehose sends it to the error output prefix.
    ProcessingFailed,
}

impl OutRecord {
    pub(super) fn dropped(record_id: String) -> OutRecord {
        OutRecord {
            record_id,
            result: RecordResult::Dropped,
            data: None,
            metadata: None,
        }
    }

    /// Bytes this record adds to the response (its JSON and a separating comma).
    pub(super) fn json_len(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len()) + 1
    }
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub partition_keys: BTreeMap<String, String>,
}
