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
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(24));
                while let Some(key) = map.next_key::<BorrowedStr<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    out.push((key.0, value));
                }
                Ok(Members(out))
            }
        }
        deserializer.deserialize_map(V)
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
    serde_json::from_str::<BorrowedStr>(raw.get())
        .ok()
        .map(|s| s.0)
}

/// Tracks whether a byte of a JSON text is inside a string, one byte at a time.
#[derive(Default)]
struct Strings {
    in_string: bool,
    escaped: bool,
}

impl Strings {
    /// Feed the next byte; true when it is outside any string (quotes count as inside).
    fn outside(&mut self, b: u8) -> bool {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            false
        } else if b == b'"' {
            self.in_string = true;
            false
        } else {
            true
        }
    }
}

/// Remove the whitespace between tokens (pretty-printed input), keeping strings and numbers byte
/// for byte. Borrows when there is nothing to remove.
pub fn minify(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut strings = Strings::default();
    let mut out: Option<Vec<u8>> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if strings.outside(b) && matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            if out.is_none() {
                out = Some(bytes[..i].to_vec());
            }
            continue;
        }
        if let Some(out) = out.as_mut() {
            out.push(b);
        }
    }
    match out {
        None => Cow::Borrowed(text),
        // Only ASCII whitespace was removed between tokens, so the bytes are still UTF-8.
        Some(out) => Cow::Owned(String::from_utf8(out).expect("minify keeps UTF-8")),
    }
}

/// The deepest nesting of arrays and objects in a JSON text (strings skipped).
pub fn nesting_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut strings = Strings::default();
    for &b in bytes {
        if !strings.outside(b) {
            continue;
        }
        match b {
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
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
    }

    #[test]
    fn minify_keeps_strings_and_borrows_compact_text() {
        assert!(matches!(minify(r#"{"a":1}"#), Cow::Borrowed(_)));
        assert_eq!(
            minify("{\n  \"a b\" : [1, 2.50],\n \"c\":\"x\\\" y\"\n}"),
            r#"{"a b":[1,2.50],"c":"x\" y"}"#
        );
    }

    #[test]
    fn members_keep_source_order_and_unescape_keys() {
        let m: Members = serde_json::from_str(r#"{"b":1,"a\u0041":{"x":[1]}}"#).unwrap();
        let keys: Vec<_> = m.0.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "aA"]);
        assert_eq!(m.0[1].1.get(), r#"{"x":[1]}"#);
    }
}
