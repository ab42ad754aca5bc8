//! Small JSON helpers over borrowed text: no DOM is built on the hot path.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A string borrowed from the input when it has no escapes, owned otherwise.
pub struct BorrowedStr<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// The members of a JSON object in source order, values left unparsed.
pub struct Members<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Members::from_map(map)
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl<'de> Members<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(24));
        while let Some(key) = map.next_key::<BorrowedStr<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            out.push((key.0, value));
        }
        Ok(Members(out))
    }
}

/// An element of a log file's "Records": the members of an object (the record), or the type
/// of whatever else it is (which makes the file bad).
pub enum Record<'a> {
    Object(Members<'a>),
    Not(JsonType),
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Members::from_map(map).map(Record::Object)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Record::Not(JsonType::Array))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Record::Not(JsonType::String))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Record::Not(JsonType::Bool))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Record::Not(JsonType::Number))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Record::Not(JsonType::Number))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Record::Not(JsonType::Number))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Record::Not(JsonType::Null))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The JSON type of a raw value, read from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    pub fn of(raw: &RawValue) -> JsonType {
        match raw.get().as_bytes().first() {
            Some(b'n') => JsonType::Null,
            Some(b't') | Some(b'f') => JsonType::Bool,
            Some(b'"') => JsonType::String,
            Some(b'[') => JsonType::Array,
            Some(b'{') => JsonType::Object,
            _ => JsonType::Number,
        }
    }
}

/// Parse a raw value known to be a string.
pub fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    // A raw value was validated when it was split off, so a string without escapes is its
    // text between the quotes: no parser needed for most values.
    if let Some(inner) = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|inner| memchr::memchr(b'\\', inner.as_bytes()).is_none())
    {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<BorrowedStr>(text).ok().map(|s| s.0)
}

/// The index just past the string whose opening quote is at `open`, or `None` when it is not
/// terminated. Strings are most of a CloudTrail record's bytes, so they are skipped with `memchr`
/// (SIMD) rather than byte by byte.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    loop {
        let found = i + memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[found] == b'"' {
            return Some(found + 1);
        }
        // An escape: the next byte is taken as is, whatever it is.
        i = found + 2;
    }
}

/// Remove the whitespace between tokens (pretty-printed input), keeping strings and numbers byte
/// for byte. Borrows when there is nothing to remove.
pub fn minify(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    // `copied`: the bytes before it are in `out` (when there is one).
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = string_end(bytes, i).unwrap_or(bytes.len()),
            b' ' | b'\n' | b'\r' | b'\t' => {
                let out = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                out.extend_from_slice(&bytes[copied..i]);
                i += 1;
                copied = i;
            }
            _ => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.extend_from_slice(&bytes[copied..]);
            // Only ASCII whitespace was removed between tokens, so the bytes are still UTF-8.
            Cow::Owned(String::from_utf8(out).expect("minify keeps UTF-8"))
        }
    }
}

/// The deepest nesting of arrays and objects in a JSON text (strings skipped).
pub fn nesting_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // An unterminated string ends the text (the parser reports it).
                i = string_end(bytes, i).unwrap_or(bytes.len());
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_depth_skips_strings() {
        assert_eq!(nesting_depth(br#"{"a":[{"b":"[[[{{"}]}"#), 3);
        assert_eq!(nesting_depth(br#""x\"[""#), 0);
        assert_eq!(nesting_depth(br#"["\\",["a\\\"]"]]"#), 2);
        assert_eq!(nesting_depth(br#"[["unterminated \"#), 2);
        assert_eq!(nesting_depth(b""), 0);
    }

    #[test]
    fn minify_keeps_strings_and_borrows_compact_text() {
        assert!(matches!(minify(r#"{"a":1}"#), Cow::Borrowed(_)));
        assert_eq!(
            minify("{\n  \"a b\" : [1, 2.50],\n \"c\":\"x\\\" y\"\n}"),
            r#"{"a b":[1,2.50],"c":"x\" y"}"#
        );
        assert_eq!(minify("[\"\\\\\", 1 ]"), "[\"\\\\\",1]");
        assert_eq!(minify(" \"open"), "\"open");
    }

    #[test]
    fn raw_str_reads_plain_and_escaped_strings() {
        fn raw(text: &str) -> &RawValue {
            serde_json::from_str(text).unwrap()
        }
        assert!(matches!(
            raw_str(raw(r#""plain""#)),
            Some(Cow::Borrowed("plain"))
        ));
        assert_eq!(raw_str(raw(r#""a\"b\u0041""#)).unwrap(), "a\"bA");
        assert_eq!(raw_str(raw(r#""""#)).unwrap(), "");
        assert!(raw_str(raw("12")).is_none());
        assert!(raw_str(raw(r#"["x"]"#)).is_none());
    }

    #[test]
    fn members_keep_source_order_and_unescape_keys() {
        let m: Members = serde_json::from_str(r#"{"b":1,"a\u0041":{"x":[1]}}"#).unwrap();
        let keys: Vec<_> = m.0.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "aA"]);
        assert_eq!(m.0[1].1.get(), r#"{"x":[1]}"#);
    }
}
