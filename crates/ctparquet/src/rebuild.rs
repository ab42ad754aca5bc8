//! A row back into the CloudTrail record it came from: the typed columns rendered as JSON, then
//! `unmapped` deep-merged over them. `decode` guarantees the result equals the source record
//! (JSON-equal: member order and insignificant whitespace aside).

use arrow::array::{Array, AsArray, RecordBatch, StructArray};
use arrow::datatypes::TimestampMillisecondType;
use serde_json::{Map, Value};

use crate::schema::{FieldSpec, Kind, Table, UNMAPPED};
use crate::time::format_event_time;

/// Why a row could not be rebuilt (a file not written by this schema).
#[derive(Debug, thiserror::Error)]
#[error("row {row}: {reason}")]
pub struct RebuildError {
    pub row: usize,
    pub reason: String,
}

/// Rebuild every row of a batch of a table's schema.
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
