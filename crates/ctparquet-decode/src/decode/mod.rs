//! From the bytes of a delivery file to Arrow rows of the event schema.
//!
//! The decoder is exact: for every record, the typed columns plus the `unmapped` column rebuild
//! the record JSON-equal to the source (see `rebuild`). A value goes to `unmapped` when
//! - its key is not in the schema (at any depth of a typed struct);
//! - its JSON type does not fit the column (a list where an object is expected, a number in a
//!   string column, an explicit `null` in a typed column);
//! - its typed value would not rebuild to the same text (an eventTime such as
//!   `2022-12-11 19:42:55`: the column holds the instant, `unmapped` the original text).
//!
//! `unmapped` is a JSON object deep-merged over the rebuilt record: objects merge member by
//! member, anything else replaces.
//!
//! Three layers: `file` (gzip or plain bytes to JSON text, and the text's `Records` split into
//! records in one pass), `columns` (a record's members into the column builders) and, here, the
//! decoding of a chunk of files together into one batch.

mod columns;
mod file;

use std::ops::Range;

use arrow_array::RecordBatch;

pub use columns::EventBatchBuilder;
use file::{Inflated, inflate_into};
pub use file::{MAX_NESTING, inflate, split_records, split_records_into};

use crate::gunzip::Gunzip;
use crate::json::{JsonType, Member, RawCheck, Record, Split, object_members, raw_str};
use crate::schema::Table;
use crate::time::{ParsedTime, parse_event_time};

/// What is wrong with a delivery file. The caller adds the file's name.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FileError {
    #[error("empty file")]
    Empty,
    #[error("neither gzip nor JSON (starts with {0:?})")]
    NotGzipOrJson(String),
    #[error("gzip data is corrupt or truncated: {0}")]
    Gzip(String),
    #[error("decompressed size exceeds the limit of {0} bytes")]
    TooLarge(u64),
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not a CloudTrail log file: {0}")]
    NotCloudTrail(String),
    #[error("record {index}: {reason}")]
    Record { index: usize, reason: String },
}

/// The instant of a record's time field at `path`, exactly as its typed column reads it (the
/// last of a repeated key; a string in a form `parse_event_time` reads), without decoding the
/// rest of the record.
fn record_time(path: &[&str], members: &[Member<'_>]) -> Option<i64> {
    let (first, rest) = path.split_first()?;
    let raw = members.iter().rev().find(|(k, _)| k.as_ref() == *first)?.1;
    if rest.is_empty() {
        if JsonType::of(raw) != JsonType::String {
            return None;
        }
        return raw_str(raw)
            .and_then(|s| parse_event_time(&s))
            .map(ParsedTime::millis);
    }
    if JsonType::of(raw) != JsonType::Object {
        return None;
    }
    record_time(rest, &object_members(raw)?.0)
}

/// Delivery files decoded together into one batch: a file of five records then costs little
/// more than its rows, not a batch of its own.
pub struct DecodedChunk {
    pub batch: RecordBatch,
    /// The eventTime of each row, in epoch milliseconds (None when it names no instant).
    pub event_times: Vec<Option<i64>>,
    /// For each file, in order: its rows in `batch`, or why it is not a CloudTrail log file.
    pub files: Vec<Result<Range<usize>, FileError>>,
    /// For each file, in order: the instants of the records left out by the `keep` filter of
    /// [`decode_files_where`] (read and counted, not decoded).
    pub skipped: Vec<Vec<Option<i64>>>,
    /// Records decoded that hold a lone surrogate (see [`crate::schema::RAW_MEMBERS`]).
    pub lone_surrogates: u64,
}

/// Decode delivery files. A file is taken whole or reported whole: every record is checked to
/// be a JSON object before any is added, so a bad file adds no rows.
pub fn decode_files<'a>(
    table: &'static Table,
    files: impl IntoIterator<Item = &'a [u8]>,
    max_inflated: u64,
) -> DecodedChunk {
    decode_files_where(table, files, max_inflated, &|_| true)
}

/// [`decode_files`], decoding only the records whose instant `keep` accepts: the others (events
/// of days not being converted, in a folder read for its late events) are only counted, with
/// their instants, in [`DecodedChunk::skipped`]. Whether a file is good does not depend on `keep`.
pub fn decode_files_where<'a>(
    table: &'static Table,
    files: impl IntoIterator<Item = &'a [u8]>,
    max_inflated: u64,
    keep: &dyn Fn(Option<i64>) -> bool,
) -> DecodedChunk {
    let files: Vec<&[u8]> = files.into_iter().collect();
    // Sized once the first file's records are counted: a chunk of tiny files then allocates
    // for tens of rows, not a default thousand per column (and `finish` trims what is unused).
    let mut builder: Option<EventBatchBuilder> = None;
    let mut event_times = Vec::new();
    let mut outcomes = Vec::new();
    let mut skipped_by_file = Vec::new();
    let mut gunzip = Gunzip::new();
    let mut inflated = Vec::new();
    // One split's vectors for every file: not an allocation per record.
    let mut spare = Split::default();
    for (position, bytes) in files.iter().enumerate() {
        let start = builder.as_ref().map_or(0, EventBatchBuilder::len);
        let mut skipped = Vec::new();
        let mut split = std::mem::take(&mut spare).recycle();
        let json =
            inflate_into(bytes, max_inflated, &mut gunzip, &mut inflated).map(|inflated_as| {
                match inflated_as {
                    Inflated::Plain => *bytes,
                    Inflated::Gzip(len) => &inflated[..len],
                }
            });
        let outcome = (|| {
            let json = json?;
            split_records_into(json, &mut split)?;
            let builder = builder.get_or_insert_with(|| {
                EventBatchBuilder::with_capacity(
                    table,
                    split.records.len() * (files.len() - position),
                )
            });
            builder.raw_check = RawCheck::scanned(json, split.surrogate_escapes);
            if let Some((index, kind)) = split
                .iter()
                .enumerate()
                .find_map(|(index, record)| record.err().map(|kind| (index, kind)))
            {
                let kind = format!("{kind:?}").to_lowercase();
                return Err(FileError::Record {
                    index,
                    reason: format!("not a JSON object (a {kind})"),
                });
            }
            let Split {
                members, records, ..
            } = &mut split;
            for record in records.iter() {
                let Record::Object(range) = record else {
                    unreachable!("every record was checked to be an object")
                };
                let members = &mut members[range.clone()];
                let time = record_time(table.time, members);
                if keep(time) {
                    let appended = builder.append_members(members);
                    debug_assert_eq!(appended, time);
                    event_times.push(time);
                } else {
                    skipped.push(time);
                }
            }
            Ok(start..builder.len())
        })();
        spare = split.recycle();
        // Rows of a file that failed after some were added stay in the batch, outside any range.
        event_times.resize(builder.as_ref().map_or(0, EventBatchBuilder::len), None);
        if outcome.is_err() {
            skipped.clear();
        }
        skipped_by_file.push(skipped);
        outcomes.push(outcome);
    }
    let mut builder = builder.unwrap_or_else(|| EventBatchBuilder::with_capacity(table, 0));
    DecodedChunk {
        lone_surrogates: builder.lone_surrogates(),
        batch: builder.finish(),
        event_times,
        files: outcomes,
        skipped: skipped_by_file,
    }
}

/// Decode one delivery file (see [`decode_files`]).
pub fn decode_file(
    table: &'static Table,
    bytes: &[u8],
    max_inflated: u64,
) -> Result<RecordBatch, FileError> {
    let mut chunk = decode_files(table, [bytes], max_inflated);
    chunk.files.pop().expect("one file in, one out")?;
    Ok(chunk.batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{self, EVENTS};
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use serde_json::value::RawValue;

    fn decode_one(record: &str) -> RecordBatch {
        let raw: &RawValue = serde_json::from_str(record).unwrap();
        let mut b = EventBatchBuilder::new(&EVENTS);
        b.append(raw).unwrap();
        b.finish()
    }

    fn unmapped(batch: &RecordBatch) -> Option<String> {
        let col = batch
            .column_by_name(schema::UNMAPPED)
            .unwrap()
            .as_string::<i32>();
        col.is_valid(0).then(|| col.value(0).to_string())
    }

    #[test]
    fn a_clean_record_leaves_unmapped_null() {
        let b = decode_one(
            r#"{"eventVersion":"1.11","eventTime":"2025-03-06T02:25:06Z","readOnly":true,
                "userIdentity":{"type":"Root","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},
                "resources":[{"ARN":"arn:x","accountId":"1","type":"AWS::S3::Bucket"}],
                "requestParameters":{"a": [1, 2]},"responseElements":null}"#,
        );
        assert_eq!(unmapped(&b), None);
        let rp = b
            .column_by_name("requestParameters")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(rp.value(0), r#"{"a":[1,2]}"#);
        let re = b
            .column_by_name("responseElements")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(re.value(0), "null");
    }

    #[test]
    fn columns_of_nulls_share_one_buffer() {
        let raw: &RawValue = serde_json::from_str(r#"{"eventID":"1","eventName":"x"}"#).unwrap();
        let mut b = EventBatchBuilder::new(&EVENTS);
        for _ in 0..1000 {
            b.append(raw).unwrap();
        }
        let batch = b.finish();
        let offsets = |name: &str| {
            let data = batch.column_by_name(name).unwrap().to_data();
            data.validate_full().unwrap();
            assert_eq!(data.null_count(), 1000, "{name}");
            data.buffers()[0].data_ptr()
        };
        assert_eq!(offsets("errorCode"), offsets("errorMessage"));
        assert_eq!(offsets("errorCode"), offsets(schema::UNMAPPED));
        // A column with values has buffers of its own.
        let ids = batch.column_by_name("eventID").unwrap().to_data();
        assert_ne!(ids.buffers()[0].data_ptr(), offsets("errorCode"));
        assert_eq!(ids.null_count(), 0);
    }

    #[test]
    fn misfits_go_to_unmapped_at_their_path() {
        let b = decode_one(
            r#"{"eventTime":"2022-12-11 19:42:55","userAgent":["a","b"],"readOnly":"true",
                "userIdentity":{"type":"IAMUser","accesKeyId":"AKIA"},"p_log_type":"AWS.CloudTrail",
                "resources":[{"ARN":"a","accountid":"1"}]}"#,
        );
        let u: serde_json::Value = serde_json::from_str(&unmapped(&b).unwrap()).unwrap();
        assert_eq!(u["eventTime"], "2022-12-11 19:42:55");
        assert_eq!(u["userAgent"], serde_json::json!(["a", "b"]));
        assert_eq!(u["readOnly"], "true");
        assert_eq!(u["userIdentity"], serde_json::json!({"accesKeyId":"AKIA"}));
        assert_eq!(u["p_log_type"], "AWS.CloudTrail");
        assert_eq!(
            u["resources"],
            serde_json::json!([{"ARN":"a","accountid":"1"}])
        );
        // The instant is still typed, so time filters find the event.
        assert!(b.column_by_name("eventTime").unwrap().is_valid(0));
    }

    #[test]
    fn files_must_be_cloudtrail_logs() {
        assert_eq!(
            decode_file(&EVENTS, b"", 1 << 20).err(),
            Some(FileError::Empty)
        );
        assert!(matches!(
            decode_file(&EVENTS, b"{\"Records\":", 1 << 20),
            Err(FileError::Json(_))
        ));
        assert!(matches!(
            decode_file(&EVENTS, b"[1,2]", 1 << 20),
            Err(FileError::NotCloudTrail(_))
        ));
        assert!(matches!(
            decode_file(&EVENTS, b"{\"a\":1}", 1 << 20),
            Err(FileError::NotCloudTrail(_))
        ));
        assert!(matches!(
            decode_file(&EVENTS, b"{\"Records\":{}}", 1 << 20),
            Err(FileError::NotCloudTrail(_))
        ));
        assert!(matches!(
            decode_file(&EVENTS, b"{\"Records\":[{},3]}", 1 << 20),
            Err(FileError::Record { index: 1, .. })
        ));
        assert!(matches!(
            decode_file(&EVENTS, &[0x1f, 0x8b, 8, 0, 0], 1 << 20),
            Err(FileError::Gzip(_))
        ));
        assert_eq!(
            decode_file(&EVENTS, b"{\"Records\":[]}", 1 << 20)
                .unwrap()
                .num_rows(),
            0
        );
    }

    #[test]
    fn a_bad_file_among_good_ones_adds_no_rows() {
        let good = br#"{"Records":[{"eventID":"a"},{"eventID":"b"}]}"#;
        let bad = br#"{"Records":[{"eventID":"c"},"not an object"]}"#;
        let chunk = decode_files(&EVENTS, [&good[..], &bad[..], &good[..]], 1 << 20);
        assert_eq!(chunk.batch.num_rows(), 4);
        assert_eq!(chunk.event_times.len(), 4);
        assert_eq!(chunk.files[0], Ok(0..2));
        assert!(matches!(
            chunk.files[1],
            Err(FileError::Record { index: 1, .. })
        ));
        assert_eq!(chunk.files[2], Ok(2..4));
    }
}
