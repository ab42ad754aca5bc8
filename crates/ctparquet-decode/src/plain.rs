//! A delivery file read as plain JSON with serde_json, independently of the decoder: what
//! `verify` compares the converted rows with, and the fuzz target's oracle.

use serde_json::Value;

use crate::decode::{FileError, inflate};
use crate::json::{RAW_MEMBERS, RawCheck};

/// The records of a delivery file as verify reads them: plain JSON, with the members strict
/// readers refuse in the form the converter writes them (see [`RAW_MEMBERS`]).
pub fn source_records(bytes: &[u8], max: u64) -> Result<Vec<Value>, FileError> {
    let json = inflate(bytes, max)?;
    let check = RawCheck::of(&json);
    if check.needed() {
        return parse_keeping_raw_members(&json, check);
    }
    let mut file: Value =
        serde_json::from_slice(&json).map_err(|e| FileError::Json(e.to_string()))?;
    match file.get_mut("Records").map(Value::take) {
        Some(Value::Array(records)) => Ok(records),
        _ => Err(FileError::NotCloudTrail("no \"Records\" array".into())),
    }
}

/// The records of a file that holds lone surrogates (or a member named [`RAW_MEMBERS`]) as the
/// converter writes them: those members with U+FFFD in place of each lone surrogate, and their
/// exact text under [`RAW_MEMBERS`]. serde_json cannot hold a lone surrogate in a `Value`; the
/// text kept is compared as it is.
fn parse_keeping_raw_members(json: &[u8], check: RawCheck) -> Result<Vec<Value>, FileError> {
    let parse = |text: &str| -> Result<Value, FileError> {
        serde_json::from_str(text).map_err(|e| FileError::Json(e.to_string()))
    };
    let mut out = Vec::new();
    for (index, record) in crate::decode::split_records(json)?.iter().enumerate() {
        let Ok(members) = record else {
            return Err(FileError::Record {
                index,
                reason: "not a JSON object".into(),
            });
        };
        let mut object = serde_json::Map::new();
        match check.keep_raw_members(members) {
            None => {
                for (key, value) in members {
                    object.insert(key.to_string(), parse(value)?);
                }
            }
            Some((decoded, raw)) => {
                for (key, value) in &decoded {
                    object.insert(key.to_string(), parse(value)?);
                }
                let raw = raw
                    .into_iter()
                    .map(|(key, text)| (key, Value::String(text)))
                    .collect();
                object.insert(RAW_MEMBERS.to_string(), Value::Object(raw));
            }
        }
        out.push(Value::Object(object));
    }
    Ok(out)
}
