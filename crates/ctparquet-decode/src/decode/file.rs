//! The delivery file's wrapper: gzip or plain bytes to JSON text, and that text to its records,
//! each split into its members in the same pass (values left unparsed).

use std::borrow::Cow;

use super::FileError;
use crate::gunzip::{Gunzip, GunzipError};
use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::json::{RecordSeed, Split};

/// Inflate a delivery file if it is gzip (by its magic bytes, not its name); plain JSON passes
/// through. `limit` bounds the inflated size so a hostile file cannot exhaust memory.
pub fn inflate(bytes: &[u8], limit: u64) -> Result<Cow<'_, [u8]>, FileError> {
    let mut buffer = Vec::new();
    let len = match inflate_into(bytes, limit, &mut Gunzip::new(), &mut buffer)? {
        Inflated::Plain => return Ok(Cow::Borrowed(bytes)),
        Inflated::Gzip(len) => len,
    };
    buffer.truncate(len);
    Ok(Cow::Owned(buffer))
}

/// What [`inflate_into`] found.
pub(super) enum Inflated {
    /// Plain JSON: the input itself is the text.
    Plain,
    /// Gzip: the text is this many bytes at the start of the buffer.
    Gzip(usize),
}

/// [`inflate`] with a decompressor and a buffer that are reused from file to file: the buffer's
/// bytes are initialised once, when it grows, not for every file, and its pages stay mapped.
pub(super) fn inflate_into(
    bytes: &[u8],
    limit: u64,
    gunzip: &mut Gunzip,
    buffer: &mut Vec<u8>,
) -> Result<Inflated, FileError> {
    if bytes.is_empty() {
        return Err(FileError::Empty);
    }
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if !matches!(first, Some(b'{' | b'[')) {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).into_owned();
            return Err(FileError::NotGzipOrJson(head));
        }
        if bytes.len() as u64 > limit {
            return Err(FileError::TooLarge(limit));
        }
        return Ok(Inflated::Plain);
    }
    // The gzip trailer gives the inflated size (of the last member, mod 2^32): exact for a
    // CloudTrail file, so the text is inflated in one call into a buffer sized once. Deflate
    // cannot expand more than 1032:1, which bounds what a lying trailer can reserve.
    let trailer = bytes.len().checked_sub(4).map_or(0, |at| {
        u32::from_le_bytes(bytes[at..].try_into().expect("four bytes")) as usize
    });
    let limit_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    let wanted = trailer
        .min(bytes.len().saturating_mul(1032))
        .min(limit_bytes.saturating_add(1));
    if buffer.len() < wanted {
        buffer.resize(wanted, 0);
    }
    let len = gunzip
        .inflate(bytes, limit_bytes, buffer)
        .map_err(|e| match e {
            GunzipError::TooLarge => FileError::TooLarge(limit),
            GunzipError::Corrupt => FileError::Gzip(
                "bad header, corrupt deflate data, checksum or size mismatch, or truncated".into(),
            ),
        })?;
    if len == 0 {
        return Err(FileError::Empty);
    }
    Ok(Inflated::Gzip(len))
}

/// The deepest nesting accepted (serde_json's own recursion limit; CloudTrail records nest about
/// a dozen levels).
pub const MAX_NESTING: usize = 127;

/// The records of a CloudTrail log file, `{"Records":[...]}`, each split into its members (values
/// left unparsed) in the same pass as the file.
pub fn split_records(json: &[u8]) -> Result<Split<'_>, FileError> {
    let mut split = Split::default();
    split_records_into(json, &mut split)?;
    Ok(split)
}

/// [`split_records`] into `out`, an empty split whose allocations are reused (see
/// [`Split::recycle`]).
pub fn split_records_into<'a>(json: &'a [u8], out: &mut Split<'a>) -> Result<(), FileError> {
    // Values are kept as raw text here, so nothing below would notice a hostile depth until a
    // reader parses it: refuse it now, at the depth serde_json itself refuses.
    let scan = crate::json::scan_text(json);
    if scan.depth > MAX_NESTING {
        return Err(FileError::Json(format!(
            "nesting deeper than {MAX_NESTING} levels"
        )));
    }
    out.surrogate_escapes = scan.surrogate_escapes;
    let text =
        std::str::from_utf8(json).map_err(|e| FileError::Json(format!("invalid UTF-8: {e}")))?;
    // One pass: the top-level object's members are skipped except "Records", whose elements
    // are taken as raw text (the last "Records" wins, as in any JSON reader).
    let mut de = serde_json::Deserializer::from_str(text);
    let found = de.deserialize_map(TopLevel(out)).and_then(|found| {
        de.end()?;
        Ok(found)
    });
    match found.map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            FileError::NotCloudTrail("the top level is not a JSON object".into())
        } else {
            FileError::Json(e.to_string())
        }
    })? {
        Found::Array => Ok(()),
        Found::Missing => Err(FileError::NotCloudTrail("no \"Records\" member".into())),
        Found::NotArray => Err(FileError::NotCloudTrail(
            "\"Records\" is not an array".into(),
        )),
    }
}

/// What the top level held under "Records" (the last of them).
enum Found {
    Missing,
    NotArray,
    Array,
}

/// Reads the top level of a log file, its "Records" elements into the split.
struct TopLevel<'s, 'de>(&'s mut Split<'de>);

impl<'de> Visitor<'de> for TopLevel<'_, 'de> {
    type Value = Found;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = Found::Missing;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "Records" {
                // A later "Records" replaces an earlier one.
                self.0.members.clear();
                self.0.records.clear();
                found = map.next_value_seed(RecordsValue(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Reads the value of "Records": its elements into the split when it is an array.
struct RecordsValue<'s, 'de>(&'s mut Split<'de>);

impl<'de> DeserializeSeed<'de> for RecordsValue<'_, 'de> {
    type Value = Found;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsValue<'_, 'de> {
    type Value = Found;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        while seq.next_element_seed(RecordSeed(&mut *self.0))?.is_some() {}
        Ok(Found::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Found::NotArray)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Found, E> {
        Ok(Found::NotArray)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Found, E> {
        Ok(Found::NotArray)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Found, E> {
        Ok(Found::NotArray)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Found, E> {
        Ok(Found::NotArray)
    }
    fn visit_str<E>(self, _: &str) -> Result<Found, E> {
        Ok(Found::NotArray)
    }
    fn visit_unit<E>(self) -> Result<Found, E> {
        Ok(Found::NotArray)
    }
}
