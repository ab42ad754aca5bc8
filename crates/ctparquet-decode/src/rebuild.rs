//! A row back into the CloudTrail record it came from: the typed columns rendered as JSON, then
//! `unmapped` deep-merged over them. `decode` guarantees the result equals the source record
//! (JSON-equal: member order and insignificant whitespace aside).

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch, StructArray};
use serde_json::{Map, Value};

use crate::json::RAW_MEMBERS;
use crate::schema::{FieldSpec, Kind, Table, UNMAPPED};
use crate::time::format_event_time;

/// Why a row could not be rebuilt (a file not written by this schema).
#[derive(Debug, thiserror::Error)]
#[error("row {row}: {reason}")]
pub struct RebuildError {
    pub row: usize,
    pub reason: String,
}

/// Rebuild every row of a batch of a table's schema, its JSON columns as text (the library's
/// `rebuild` turns VARIANT columns into text first).
pub fn rebuild_batch(table: &Table, batch: &RecordBatch) -> Result<Vec<Value>, RebuildError> {
    let top = StructArray::from(batch.clone());
    let unmapped = batch
        .column_by_name(UNMAPPED)
        .map(|c| c.as_string::<i32>().clone());
    (0..batch.num_rows())
        .map(|row| {
            let mut record = object(table.fields, &top, row)?;
            if let Some(u) = unmapped.as_ref().filter(|u| u.is_valid(row)) {
                let over: Value = serde_json::from_str(u.value(row)).map_err(|e| RebuildError {
                    row,
                    reason: format!("unmapped is not JSON: {e}"),
                })?;
                merge(&mut record, over);
            }
            Ok(record)
        })
        .collect()
}

fn object(specs: &[FieldSpec], array: &StructArray, row: usize) -> Result<Value, RebuildError> {
    let mut out = Map::new();
    for spec in specs {
        let Some(column) = array.column_by_name(spec.name) else {
            continue;
        };
        if column.is_null(row) {
            continue;
        }
        let value = match spec.kind {
            Kind::Str => Value::String(column.as_string::<i32>().value(row).to_string()),
            Kind::Bool => Value::Bool(column.as_boolean().value(row)),
            Kind::Timestamp => Value::String(format_event_time(
                column.as_primitive::<TimestampMillisecondType>().value(row),
            )),
            Kind::Json => {
                serde_json::from_str(column.as_string::<i32>().value(row)).map_err(|e| {
                    RebuildError {
                        row,
                        reason: format!("{} is not JSON: {e}", spec.name),
                    }
                })?
            }
            Kind::Struct(children) => object(children, column.as_struct(), row)?,
            Kind::ListOfStruct(children) => {
                let list = column.as_list::<i32>();
                let items = list.value(row);
                let items = items.as_struct();
                let mut values = Vec::with_capacity(items.len());
                for i in 0..items.len() {
                    values.push(if items.is_null(i) {
                        Value::Null
                    } else {
                        object(children, items, i)?
                    });
                }
                Value::Array(values)
            }
        };
        out.insert(spec.name.to_string(), value);
    }
    Ok(Value::Object(out))
}

/// The JSON text of a rebuilt record, exactly: members kept under [`RAW_MEMBERS`] (values that
/// strict readers refuse, such as lone surrogates, which a `Value` cannot hold) are written as
/// their original text, the others as JSON (member order aside, the source record's text).
pub fn original_text(record: &Value) -> String {
    let Some(Value::Object(record)) = Some(record) else {
        return record.to_string();
    };
    let raw = match record.get(RAW_MEMBERS) {
        Some(Value::Object(raw)) => raw.clone(),
        _ => Map::new(),
    };
    let string = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let mut out = String::from("{");
    let mut first = true;
    let mut member = |out: &mut String, key: &str, text: &str| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        out.push_str(&string(key));
        out.push(':');
        out.push_str(text);
    };
    for (key, value) in record {
        if key == RAW_MEMBERS {
            continue;
        }
        match raw.get(key) {
            Some(Value::String(text)) => member(&mut out, key, text),
            _ => member(&mut out, key, &value.to_string()),
        }
    }
    // A member named like the reserved one itself is kept only there.
    if let Some(Value::String(text)) = raw.get(RAW_MEMBERS) {
        member(&mut out, RAW_MEMBERS, text);
    }
    out.push('}');
    out
}

/// Deep-merge `over` into `base`: objects member by member, anything else replaces.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) if slot.is_object() && value.is_object() => merge(slot, value),
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::EventBatchBuilder;
    use serde_json::value::RawValue;

    fn round_trip(record: &str) {
        let raw: &RawValue = serde_json::from_str(record).unwrap();
        let mut b = EventBatchBuilder::new(&crate::schema::EVENTS);
        b.append(raw).unwrap();
        let rebuilt = rebuild_batch(&crate::schema::EVENTS, &b.finish()).unwrap();
        let source: Value = serde_json::from_str(record).unwrap();
        assert_eq!(rebuilt[0], source);
    }

    #[test]
    fn lone_surrogates_are_readable_and_their_text_rebuilds_exactly() {
        // Members in the order a rebuilt record lists them (sorted), minified: the text must come
        // back byte for byte.
        for record in [
            r#"{"ctparquet:raw":"their own","eventID":"e","eventName":"Put\ud800X","requestParameters":{"k":"a\udc00b","ok":"\ud83d\ude00"},"zzz":["\ud800"]}"#,
            r#"{"eventID":"e","userAgent":"\uDBFF"}"#,
            r#"{"eventID":"e","ctparquet:raw":{"a":1}}"#,
        ] {
            let raw: &RawValue = serde_json::from_str(record).unwrap();
            let mut b = EventBatchBuilder::new(&crate::schema::EVENTS);
            b.append(raw).unwrap();
            let batch = b.finish();
            // What readers get is valid JSON to serde_json (as strict as DuckDB's parser).
            let unmapped = batch.column_by_name(UNMAPPED).unwrap().as_string::<i32>();
            serde_json::from_str::<Value>(unmapped.value(0)).unwrap();
            let rebuilt = rebuild_batch(&crate::schema::EVENTS, &batch).unwrap();
            let text = original_text(&rebuilt[0]);
            let sorted = |t: &str| {
                let members = crate::json::object_members(t).unwrap();
                let mut members: Vec<(String, String)> = members
                    .0
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                members.sort();
                members
            };
            assert_eq!(sorted(&text), sorted(record), "{text}");
        }
    }

    #[test]
    fn odd_records_rebuild_exactly() {
        round_trip(r#"{}"#);
        round_trip(r#"{"eventTime":"2022-12-11 19:42:55","userAgent":["a"],"readOnly":"true"}"#);
        round_trip(r#"{"eventTime":"redacted","eventID":null,"userIdentity":null}"#);
        round_trip(
            r#"{"userIdentity":{"type":"X","sessionContext":{"attributes":{"mfaAuthenticated":"true","x":1}}}}"#,
        );
        round_trip(r#"{"userIdentity":{},"resources":[],"tlsDetails":{"tlsVersion":"TLSv1.3"}}"#);
        round_trip(r#"{"resources":[{"ARN":"a"},{"accountid":"1"},5,null]}"#);
        round_trip(
            r#"{"requestParameters":"a string","responseElements":null,"additionalEventData":{"n":1.50e3}}"#,
        );
        round_trip(r#"{"eventTime":"2024-01-05T11:28:55.120Z","eventName":"a","eventName":"b"}"#);
        round_trip(
            r#"{"requestParameters":{"a":1},"requestParameters":{"b":2},"p":{"x":1},"p":{"y":2}}"#,
        );
        round_trip(r#"{"userIdentity":{"type":"A","z":1},"userIdentity":{"arn":"b","z":2,"z":3}}"#);
        round_trip(
            r#"{"userIdentity":{"sessionContext":{"webIdFederationData":{"federatedProvider":"p","attributes":{"k":"v"}}}}}"#,
        );
    }
}
