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

/// A member of a JSON object: its key (unescaped) and its value's text, left unparsed.
pub type Member<'a> = (Cow<'a, str>, &'a str);

/// The members of a JSON object in source order, values left unparsed: each is the text of one
/// JSON value that has been checked to be valid (by serde_json when its file was parsed), so the
/// nested objects and arrays CloudTrail records carry can be split again by [`object_members`]
/// and [`array_items`] without a second validating parse.
pub struct Members<'a>(pub Vec<Member<'a>>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(24);
                push_members(map, &mut out)?;
                Ok(Members(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Push the members of the object `map` reads onto `out`.
fn push_members<'de, A: MapAccess<'de>>(
    mut map: A,
    out: &mut Vec<Member<'de>>,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key::<BorrowedStr<'de>>()? {
        let value: &'de RawValue = map.next_value()?;
        out.push((key.0, value.get()));
    }
    Ok(())
}

/// An empty vector for items that borrow another text, keeping `v`'s allocation. Members borrow
/// the text of the file (or value) being read, so a vector that outlives it cannot hold them
/// across files; recycled, one allocation serves every record instead of one per record (the
/// allocator's lock, taken for each, was contended between the decoding threads).
pub fn recycle<'b, T: 'b, U: 'b>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    // Collecting a vector's own iterator into items of the same size reuses its allocation.
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// A log file's "Records", split: every record's members in one vector, in order.
#[derive(Default)]
pub struct Split<'a> {
    pub members: Vec<Member<'a>>,
    pub records: Vec<Record>,
    /// The file's text holds a surrogate escape (see [`TextScan`]).
    pub surrogate_escapes: bool,
}

impl Split<'_> {
    /// An empty split for another file, keeping the allocations (see [`recycle`]).
    pub fn recycle<'b>(self) -> Split<'b> {
        Split {
            members: recycle(self.members),
            records: recycle(self.records),
            surrogate_escapes: false,
        }
    }

    /// The members of each record, or the type of an element that is not an object.
    pub fn iter(&self) -> impl Iterator<Item = Result<&[Member<'_>], JsonType>> + '_ {
        self.records.iter().map(|record| match record {
            Record::Object(range) => Ok(&self.members[range.clone()]),
            Record::Not(kind) => Err(*kind),
        })
    }
}

/// An element of a log file's "Records": the range of its members in [`Split::members`] (the
/// record), or the type of whatever else it is (which makes the file bad).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Object(std::ops::Range<usize>),
    Not(JsonType),
}

/// Reads one element of "Records" into a [`Split`].
pub struct RecordSeed<'s, 'de>(pub &'s mut Split<'de>);

impl<'de> de::DeserializeSeed<'de> for RecordSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> RecordSeed<'_, 'de> {
    fn not<E>(self, kind: JsonType) -> Result<(), E> {
        self.0.records.push(Record::Not(kind));
        Ok(())
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let start = self.0.members.len();
        push_members(map, &mut self.0.members)?;
        let end = self.0.members.len();
        self.0.records.push(Record::Object(start..end));
        Ok(())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        self.not(JsonType::Array)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not(JsonType::String)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not(JsonType::Bool)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not(JsonType::Number)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not(JsonType::Number)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not(JsonType::Number)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not(JsonType::Null)
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
    /// The type of a JSON value's text.
    pub fn of(raw: &str) -> JsonType {
        match raw.as_bytes().first() {
            Some(b'n') => JsonType::Null,
            Some(b't') | Some(b'f') => JsonType::Bool,
            Some(b'"') => JsonType::String,
            Some(b'[') => JsonType::Array,
            Some(b'{') => JsonType::Object,
            _ => JsonType::Number,
        }
    }
}

/// Parse a valid JSON value's text known to be a string.
pub fn raw_str(text: &str) -> Option<Cow<'_, str>> {
    // The text was validated when it was split off, so a string without escapes is its text
    // between the quotes: no parser needed for most values.
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

/// The members of a valid JSON object's text, or `None` when it is not an object. The text must
/// have been validated (it is a value split off a parsed file): this only finds where keys and
/// values start and end, so a struct nested in a record is not parsed twice.
pub fn object_members(valid: &str) -> Option<Members<'_>> {
    let mut out = Vec::with_capacity(16);
    object_members_into(valid, &mut out)?;
    Some(Members(out))
}

/// [`object_members`] pushed onto `out` (which may hold some when it is not an object).
pub fn object_members_into<'a>(valid: &'a str, out: &mut Vec<Member<'a>>) -> Option<()> {
    let bytes = valid.as_bytes();
    each_item(bytes, b'{', b'}', |start| {
        if bytes.get(start) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(bytes, start)?;
        let key = raw_str(&valid[start..key_end])?;
        let colon = skip_whitespace(bytes, key_end);
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        let value = skip_whitespace(bytes, colon + 1);
        let end = value_end(bytes, value)?;
        out.push((key, &valid[value..end]));
        Some(end)
    })
}

/// The elements of a valid JSON array's text (see [`object_members`]), or `None` when it is not
/// an array.
pub fn array_items(valid: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    array_items_into(valid, &mut out)?;
    Some(out)
}

/// [`array_items`] pushed onto `out` (which may hold some when it is not an array).
pub fn array_items_into<'a>(valid: &'a str, out: &mut Vec<&'a str>) -> Option<()> {
    each_item(valid.as_bytes(), b'[', b']', |start| {
        let end = value_end(valid.as_bytes(), start)?;
        out.push(&valid[start..end]);
        Some(end)
    })
}

/// Walk the comma-separated items of a valid object or array (`open` ... `close`): `item` reads
/// the one that starts at the index it is given and returns the index just past it. `None` when
/// the text is not such a container.
fn each_item(
    bytes: &[u8],
    open: u8,
    close: u8,
    mut item: impl FnMut(usize) -> Option<usize>,
) -> Option<()> {
    let mut i = skip_whitespace(bytes, 0);
    if bytes.get(i) != Some(&open) {
        return None;
    }
    i = skip_whitespace(bytes, i + 1);
    if bytes.get(i) == Some(&close) {
        return Some(());
    }
    loop {
        i = skip_whitespace(bytes, item(i)?);
        match bytes.get(i) {
            Some(b',') => i = skip_whitespace(bytes, i + 1),
            Some(&b) if b == close => return Some(()),
            _ => return None,
        }
    }
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(i) {
        i += 1;
    }
    i
}

/// The index just past the valid JSON value that starts at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match *bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                match *bytes.get(i)? {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        // A number, true, false or null: up to the next delimiter.
        _ => Some(
            bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .map_or(bytes.len(), |n| start + n),
        ),
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
///
/// Every byte of every delivery file passes through here before it is parsed, so the text is
/// taken 64 bytes at a time: bit masks of its quotes and brackets (vector compares), the bytes
/// inside strings from a prefix XOR of the quotes, and only the brackets outside strings looked
/// at one by one. A block with a backslash (an escape) is walked byte by byte; CloudTrail's JSON
/// has few.
pub fn nesting_depth(bytes: &[u8]) -> usize {
    scan_text(bytes).depth
}

/// What one pass over a JSON text finds: its deepest nesting ([`nesting_depth`]) and whether it
/// holds an escape of a surrogate (`\uD800` to `\uDFFF`, see [`may_hold_surrogates`]). Both in
/// the same pass, as every byte of every delivery file goes through it: escapes sit only in the
/// blocks that have a backslash, which are walked byte by byte anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextScan {
    pub depth: usize,
    pub surrogate_escapes: bool,
}

/// See [`TextScan`].
pub fn scan_text(bytes: &[u8]) -> TextScan {
    let mut scan = DepthScan::default();
    let mut blocks = bytes.chunks_exact(64);
    for block in &mut blocks {
        let block: &[u8; 64] = block.try_into().expect("chunks of 64");
        scan.block(block);
    }
    for &byte in blocks.remainder() {
        scan.byte(byte);
    }
    TextScan {
        depth: scan.max,
        surrogate_escapes: scan.surrogates,
    }
}

/// The state of [`scan_text`] between bytes.
#[derive(Default)]
struct DepthScan {
    depth: usize,
    max: usize,
    in_string: bool,
    /// The previous byte was a backslash inside a string: this one is taken as is.
    escaped: bool,
    /// Bytes of a `\u` escape read so far: 1 after the `u`, 2 after a following `d` or `D`.
    unicode: u8,
    /// A `\uD8`..`\uDF` escape was seen.
    surrogates: bool,
}

impl DepthScan {
    fn byte(&mut self, byte: u8) {
        if self.in_string {
            match self.unicode {
                1 => self.unicode = if matches!(byte, b'd' | b'D') { 2 } else { 0 },
                2 => {
                    self.surrogates |= matches!(byte, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F');
                    self.unicode = 0;
                }
                _ => {}
            }
            if self.escaped {
                self.escaped = false;
                if byte == b'u' {
                    self.unicode = 1;
                }
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
            }
            return;
        }
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => {
                self.depth += 1;
                self.max = self.max.max(self.depth);
            }
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
    }

    fn block(&mut self, block: &[u8; 64]) {
        let Masks {
            quotes,
            backslashes,
            opens,
            closes,
        } = Masks::of(block);
        if backslashes != 0 || self.escaped || self.unicode != 0 {
            block.iter().for_each(|&b| self.byte(b));
            return;
        }
        // Bit i set: byte i is inside a string (an opening quote counts as inside, a closing
        // one as outside; neither is a bracket).
        let mut inside = prefix_xor(quotes);
        if self.in_string {
            inside = !inside;
        }
        self.in_string = inside >> 63 == 1;
        let mut brackets = (opens | closes) & !inside;
        while brackets != 0 {
            let bit = brackets & brackets.wrapping_neg();
            if opens & bit != 0 {
                self.depth += 1;
                self.max = self.max.max(self.depth);
            } else {
                self.depth = self.depth.saturating_sub(1);
            }
            brackets ^= bit;
        }
    }
}

/// Bit i of each mask: byte i of a 64-byte block is a quote, a backslash, `[` or `{`, `]` or `}`.
#[derive(Default)]
struct Masks {
    quotes: u64,
    backslashes: u64,
    opens: u64,
    closes: u64,
}

impl Masks {
    /// SSE2 (part of every x86_64 CPU): 16 bytes per compare.
    #[cfg(target_arch = "x86_64")]
    fn of(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let mut m = Masks::default();
        for (part, bytes) in block.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is always there on x86_64; the load reads the 16 bytes of `bytes`
            // (`loadu`: no alignment needed).
            let [quotes, backslashes, opens, closes] = unsafe {
                let v = _mm_loadu_si128(bytes.as_ptr().cast());
                // `[` and `{` differ only in bit 5, as do `]` and `}`.
                let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
                [
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
                    _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'{' as i8)),
                    _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'}' as i8)),
                ]
                .map(|x| u64::from(_mm_movemask_epi8(x) as u16) << (16 * part))
            };
            m.quotes |= quotes;
            m.backslashes |= backslashes;
            m.opens |= opens;
            m.closes |= closes;
        }
        m
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn of(block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for (i, &b) in block.iter().enumerate() {
            m.quotes |= u64::from(b == b'"') << i;
            m.backslashes |= u64::from(b == b'\\') << i;
            m.opens |= u64::from(b | 0x20 == b'{') << i;
            m.closes |= u64::from(b | 0x20 == b'}') << i;
        }
        m
    }
}

/// Bit i of the result is the XOR of bits 0..=i of `x`.
fn prefix_xor(mut x: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        x ^= x << shift;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time walk the block scan must agree with.
    fn nesting_depth_bytewise(bytes: &[u8]) -> usize {
        let mut scan = DepthScan::default();
        bytes.iter().for_each(|&b| scan.byte(b));
        scan.max
    }

    #[test]
    fn nesting_depth_blocks_agree_with_the_bytewise_walk() {
        // Texts of every length around the block size, from an alphabet of the bytes that
        // matter (quotes, escapes and brackets at every offset, strings across block ends).
        let alphabet = b"{}[]\"\\\\ax,:";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..400 {
            for _ in 0..20 {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        alphabet[(state % alphabet.len() as u64) as usize]
                    })
                    .collect();
                assert_eq!(
                    nesting_depth(&text),
                    nesting_depth_bytewise(&text),
                    "{}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
        let deep = format!("{}\"[{{\\\"\"{}", "[".repeat(70), "{".repeat(70));
        assert_eq!(nesting_depth(deep.as_bytes()), 140);
    }

    #[test]
    fn the_scan_finds_surrogate_escapes_wherever_a_block_ends() {
        for offset in 0..140 {
            let pad = "x".repeat(offset);
            for (escape, expected) in [
                (r"\ud83d\ude00", true),
                (r"\uDC00", true),
                (r"\ud7ff", false),
                (r"\u00e9", false),
                (r"\\ud800", false),
                (r"\n", false),
            ] {
                let text = format!(r#"{{"a":["{pad}{escape}",1],"b":"tail"}}"#);
                let scan = scan_text(text.as_bytes());
                assert_eq!(scan.surrogate_escapes, expected, "{text}");
                assert_eq!(scan.depth, 2, "{text}");
                // Never less than the quick look over the whole text finds.
                assert!(
                    !may_hold_surrogates(text.as_bytes())
                        || scan.surrogate_escapes
                        || escape.starts_with(r"\\")
                );
            }
        }
    }

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
        fn raw(text: &str) -> &str {
            serde_json::from_str::<&RawValue>(text).unwrap().get()
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
        assert_eq!(m.0[1].1, r#"{"x":[1]}"#);
    }

    /// The splitter over validated text finds what serde_json's parse finds.
    #[test]
    fn a_recycled_vector_keeps_its_allocation() {
        let text = String::from(r#"{"a":1,"b":[2]}"#);
        let mut members = Vec::with_capacity(64);
        object_members_into(&text, &mut members).unwrap();
        let (pointer, capacity) = (members.as_ptr() as usize, members.capacity());
        let mut again: Vec<Member<'_>> = recycle(members);
        drop(text);
        let other = String::from(r#"{"c":3}"#);
        assert_eq!(
            (again.as_ptr() as usize, again.capacity()),
            (pointer, capacity)
        );
        object_members_into(&other, &mut again).unwrap();
        assert_eq!(again, vec![(Cow::Borrowed("c"), "3")]);
    }

    #[test]
    fn object_members_match_the_validating_parse() {
        let texts = [
            r#"{}"#,
            " { } ",
            r#"{"a":1,"b":"x","c":null,"d":true,"e":false,"f":-1.5e3}"#,
            "{\n  \"a\" : [1, {\"b\": \"]}\\\"\"}] ,\n \"c\":{\"d\":[]} }",
            r#"{"k\u0041\"":"v\"","k":"last","k":{"x":"}"}}"#,
            r#"{"n":0,"s":"caf\u00e9 \\","arr":[[],[{}],"[",1]}"#,
        ];
        for text in texts {
            let parsed: Members = serde_json::from_str(text).unwrap();
            let split = object_members(text).unwrap();
            assert_eq!(split.0, parsed.0, "{text}");
        }
        assert!(object_members("[1]").is_none());
        assert!(object_members(r#""{}""#).is_none());
    }

    #[test]
    fn array_items_match_the_validating_parse() {
        for text in ["[]", " [ ] ", r#"[1, "a,]" ,{"b":[2]},[ ],null]"#] {
            let parsed: Vec<&RawValue> = serde_json::from_str(text).unwrap();
            let parsed: Vec<&str> = parsed.iter().map(|r| r.get()).collect();
            assert_eq!(array_items(text).unwrap(), parsed, "{text}");
        }
        assert!(array_items("{}").is_none());
    }
}

pub use crate::schema::RAW_MEMBERS;

/// Could the JSON text hold an escape of a surrogate (`\uD800` to `\uDFFF`)? A quick look at a
/// whole file, so that records are examined one by one only in the files that need it.
pub fn may_hold_surrogates(json: &[u8]) -> bool {
    memchr::memmem::find_iter(json, b"\\u").any(|at| {
        matches!(json.get(at + 2), Some(b'd' | b'D'))
            && matches!(
                json.get(at + 3),
                Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
            )
    })
}

/// The JSON text with each lone surrogate escape replaced by `\ufffd`, or `None` when it has
/// none. The text must be valid JSON (every `\u` is followed by four hex digits).
pub fn without_lone_surrogates(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let unit = |at: usize| -> Option<u16> {
        let hex = bytes.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let is_escape = |at: usize| bytes.get(at) == Some(&b'\\') && bytes.get(at + 1) == Some(&b'u');
    let mut out: Option<String> = None;
    let (mut i, mut copied) = (0, 0);
    while let Some(found) = memchr::memchr(b'\\', &bytes[i..]) {
        let at = i + found;
        if bytes.get(at + 1) != Some(&b'u') {
            i = at + 2;
            continue;
        }
        let code = unit(at + 2).unwrap_or(0);
        let paired = (0xD800..0xDC00).contains(&code)
            && is_escape(at + 6)
            && unit(at + 8).is_some_and(|low| (0xDC00..0xE000).contains(&low));
        if paired {
            i = at + 12;
        } else if (0xD800..0xE000).contains(&code) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..at]);
            out.push_str("\\ufffd");
            i = at + 6;
            copied = i;
        } else {
            i = at + 6;
        }
    }
    out.map(|mut out| {
        out.push_str(&text[copied..]);
        out
    })
}

/// A record's members as they are decoded, and the exact text of those kept under
/// [`RAW_MEMBERS`] (see there).
pub type RawKept<'a> = (Vec<(Cow<'a, str>, Cow<'a, str>)>, Vec<(String, String)>);

/// What the records of one file may need kept under [`RAW_MEMBERS`], found by looking at the
/// file's text once, so that the records of the other files are not examined at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCheck {
    /// The text may hold surrogate escapes ([`may_hold_surrogates`]).
    surrogates: bool,
    /// The text holds the name [`RAW_MEMBERS`] itself.
    named: bool,
}

impl RawCheck {
    /// Every record examined: for records appended without their file's text.
    pub const EVERY: RawCheck = RawCheck {
        surrogates: true,
        named: true,
    };

    /// The check for the records of a file of this JSON text.
    pub fn of(json: &[u8]) -> RawCheck {
        RawCheck::scanned(json, may_hold_surrogates(json))
    }

    /// [`RawCheck::of`] a text whose surrogate escapes were already looked for ([`scan_text`]).
    pub fn scanned(json: &[u8], surrogate_escapes: bool) -> RawCheck {
        RawCheck {
            surrogates: surrogate_escapes,
            named: memchr::memmem::find(json, RAW_MEMBERS.as_bytes()).is_some(),
        }
    }

    /// Whether any record of the file may need it.
    pub fn needed(self) -> bool {
        self.surrogates || self.named
    }

    /// Split off the members of a record of the file that strict readers would refuse (see
    /// [`RAW_MEMBERS`]); `None` when the record needs nothing of the kind.
    pub fn keep_raw_members<'a>(self, members: &[Member<'a>]) -> Option<RawKept<'a>> {
        if !self.needed() {
            return None;
        }
        let fixes: Vec<Option<String>> = members
            .iter()
            .map(|(key, value)| {
                (self.surrogates && key != RAW_MEMBERS)
                    .then(|| without_lone_surrogates(value))
                    .flatten()
            })
            .collect();
        let named = members.iter().any(|(key, _)| key == RAW_MEMBERS);
        if !named && fixes.iter().all(Option::is_none) {
            return None;
        }
        let mut decoded = Vec::with_capacity(members.len());
        let mut raw = Vec::new();
        for ((key, value), fix) in members.iter().zip(fixes) {
            if key == RAW_MEMBERS || fix.is_some() {
                raw.push((key.to_string(), minify(value).into_owned()));
            }
            match fix {
                _ if key == RAW_MEMBERS => {}
                Some(fixed) => decoded.push((key.clone(), Cow::Owned(fixed))),
                None => decoded.push((key.clone(), Cow::Borrowed(*value))),
            }
        }
        Some((decoded, raw))
    }
}

#[cfg(test)]
mod surrogate_tests {
    use super::*;

    #[test]
    fn lone_surrogates_are_replaced_and_pairs_kept() {
        assert_eq!(without_lone_surrogates(r#""a\ud83d\ude00b""#), None);
        assert_eq!(without_lone_surrogates(r#""plain \n \\ud800""#), None);
        assert_eq!(
            without_lone_surrogates(r#"{"k":"a\ud800b","l":"\uDC00","m":"\ud800\u0041"}"#)
                .as_deref(),
            Some(r#"{"k":"a\ufffdb","l":"\ufffd","m":"\ufffd\u0041"}"#)
        );
        assert_eq!(
            without_lone_surrogates(r#""\ud800""#).as_deref(),
            Some(r#""\ufffd""#)
        );
        assert!(may_hold_surrogates(br#""\uD800""#));
        assert!(!may_hold_surrogates(br#""\u0041 \u00e9""#));
    }
}
