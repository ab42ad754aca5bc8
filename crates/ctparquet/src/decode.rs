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

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BooleanBuilder, ListArray, RecordBatch, StringBuilder, StructArray,
    TimestampMillisecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use serde_json::value::RawValue;

use crate::gunzip::{Gunzip, GunzipError};
use crate::json::{
    JsonType, Members, RAW_MEMBERS, Record, array_items, keep_raw_members, may_hold_surrogates,
    minify, object_members, raw_str,
};
use crate::schema::{FieldSpec, Kind, Table};
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
enum Inflated {
    /// Plain JSON: the input itself is the text.
    Plain,
    /// Gzip: the text is this many bytes at the start of the buffer.
    Gzip(usize),
}

/// [`inflate`] with a decompressor and a buffer that are reused from file to file: the buffer's
/// bytes are initialised once, when it grows, not for every file, and its pages stay mapped.
fn inflate_into(
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
pub fn split_records(json: &[u8]) -> Result<Vec<Record<'_>>, FileError> {
    // Values are kept as raw text here, so nothing below would notice a hostile depth until a
    // reader parses it: refuse it now, at the depth serde_json itself refuses.
    if crate::json::nesting_depth(json) > MAX_NESTING {
        return Err(FileError::Json(format!(
            "nesting deeper than {MAX_NESTING} levels"
        )));
    }
    let text =
        std::str::from_utf8(json).map_err(|e| FileError::Json(format!("invalid UTF-8: {e}")))?;
    // One pass: the top-level object's members are skipped except "Records", whose elements
    // are taken as raw text (the last "Records" wins, as in any JSON reader).
    let top: TopLevel = serde_json::from_str(text).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            FileError::NotCloudTrail("the top level is not a JSON object".into())
        } else {
            FileError::Json(e.to_string())
        }
    })?;
    match top.records {
        None => Err(FileError::NotCloudTrail("no \"Records\" member".into())),
        Some(None) => Err(FileError::NotCloudTrail(
            "\"Records\" is not an array".into(),
        )),
        Some(Some(records)) => Ok(records),
    }
}

/// The top level of a log file: `None` without "Records"; `Some(None)` when it is not an array.
struct TopLevel<'a> {
    records: Option<Option<Vec<Record<'a>>>>,
}

impl<'de> serde::Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut records = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "Records" {
                        records = Some(map.next_value::<RecordsValue>()?.0);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(TopLevel { records })
            }
        }
        d.deserialize_map(V)
    }
}

/// The value of "Records": its elements, or `None` when it is not an array.
struct RecordsValue<'a>(Option<Vec<Record<'a>>>);

impl<'de> serde::Deserialize<'de> for RecordsValue<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RecordsValue<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(64));
                while let Some(record) = seq.next_element::<Record<'de>>()? {
                    out.push(record);
                }
                Ok(RecordsValue(Some(out)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(RecordsValue(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RecordsValue(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RecordsValue(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RecordsValue(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RecordsValue(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(RecordsValue(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(RecordsValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value kept for `unmapped`: a raw JSON value, or an object of such values.
#[derive(Debug)]
enum Extra<'a> {
    Raw(Cow<'a, str>),
    Object(Vec<(Cow<'a, str>, Extra<'a>)>),
}

impl Extra<'_> {
    fn write(&self, out: &mut String) {
        match self {
            Extra::Raw(text) => out.push_str(text),
            Extra::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(
                        &serde_json::to_string(key.as_ref()).expect("a string serialises"),
                    );
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn raw_extra(raw: &str) -> Extra<'_> {
    Extra::Raw(minify(raw))
}

fn struct_fields_of(field: &Field) -> Fields {
    match field.data_type() {
        DataType::Struct(fields) => fields.clone(),
        other => unreachable!("{} is a struct, not {other}", field.name()),
    }
}

/// Builds the column of one field.
enum ColumnBuilder {
    Str(StringBuilder),
    Bool(BooleanBuilder),
    Time(TimestampMillisecondBuilder),
    Json(StringBuilder),
    Struct(StructColumn),
    List(ListColumn),
}

struct StructColumn {
    specs: &'static [FieldSpec],
    /// The Arrow fields, taken from the one schema (built once, shared by every builder).
    fields: Fields,
    children: Vec<ColumnBuilder>,
    validity: NullBufferBuilder,
    /// Scratch: which children the current object set.
    seen: Vec<bool>,
    /// Scratch: each child's last position in the current object.
    last: Vec<usize>,
    /// Scratch: each member's child, if it is a known key.
    slots: Vec<Option<usize>>,
}

struct ListColumn {
    item_field: arrow::datatypes::FieldRef,
    offsets: Vec<i32>,
    validity: NullBufferBuilder,
    items: StructColumn,
}

impl ColumnBuilder {
    /// A builder sized for `rows` values: delivery files hold anything from one record to tens
    /// of thousands, and the default capacities would dominate the cost of the small ones.
    fn new(kind: Kind, field: &Field, rows: usize) -> Self {
        match kind {
            Kind::Str => ColumnBuilder::Str(StringBuilder::with_capacity(rows, rows * 16)),
            Kind::Json => ColumnBuilder::Json(StringBuilder::with_capacity(rows, rows * 64)),
            Kind::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(rows)),
            Kind::Timestamp => ColumnBuilder::Time(
                TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            ),
            Kind::Struct(specs) => {
                ColumnBuilder::Struct(StructColumn::new(specs, struct_fields_of(field), rows))
            }
            Kind::ListOfStruct(specs) => {
                let DataType::List(item_field) = field.data_type() else {
                    unreachable!("a list of structs is a List")
                };
                ColumnBuilder::List(ListColumn {
                    item_field: item_field.clone(),
                    offsets: vec![0],
                    validity: NullBufferBuilder::new(rows),
                    items: StructColumn::new(specs, struct_fields_of(item_field), rows),
                })
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Str(b) | ColumnBuilder::Json(b) => b.append_null(),
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Time(b) => b.append_null(),
            ColumnBuilder::Struct(s) => s.append_null(),
            ColumnBuilder::List(l) => {
                l.offsets
                    .push(*l.offsets.last().expect("offsets start at 0"));
                l.validity.append_null();
            }
        }
    }

    /// Append `raw` (a valid JSON value's text); returns what of it must go to `unmapped`, if
    /// anything.
    fn append<'a>(&mut self, raw: &'a str, times: &mut Option<i64>) -> Option<Extra<'a>> {
        let ty = JsonType::of(raw);
        match self {
            ColumnBuilder::Str(b) if ty == JsonType::String => match raw_str(raw) {
                Some(s) => {
                    b.append_value(s);
                    None
                }
                None => {
                    b.append_null();
                    Some(raw_extra(raw))
                }
            },
            ColumnBuilder::Bool(b) if ty == JsonType::Bool => {
                b.append_value(raw == "true");
                None
            }
            ColumnBuilder::Time(b) if ty == JsonType::String => {
                let parsed = raw_str(raw).and_then(|s| parse_event_time(&s));
                match parsed {
                    Some(ParsedTime::Canonical(ms)) => {
                        b.append_value(ms);
                        *times = Some(ms);
                        None
                    }
                    Some(ParsedTime::Lenient(ms)) => {
                        b.append_value(ms);
                        *times = Some(ms);
                        Some(raw_extra(raw))
                    }
                    None => {
                        b.append_null();
                        Some(raw_extra(raw))
                    }
                }
            }
            ColumnBuilder::Json(b) => {
                b.append_value(minify(raw));
                None
            }
            ColumnBuilder::Struct(s) if ty == JsonType::Object => {
                match object_members(raw) {
                    // A struct may hold the table's day field (aggregated events' timeWindow).
                    Some(members) => s
                        .append_members_with_time(members, times)
                        .map(Extra::Object),
                    None => {
                        s.append_null();
                        Some(raw_extra(raw))
                    }
                }
            }
            ColumnBuilder::List(l) if ty == JsonType::Array => {
                let Some(items) = array_items(raw) else {
                    self.append_null();
                    return Some(raw_extra(raw));
                };
                let mut exact = true;
                for item in &items {
                    let fitted = match object_members(item) {
                        Some(members) => l.items.append_members(members).is_none(),
                        None => {
                            l.items.append_null();
                            false
                        }
                    };
                    exact &= fitted;
                }
                let end = *l.offsets.last().expect("offsets start at 0") + items.len() as i32;
                l.offsets.push(end);
                l.validity.append_non_null();
                // Arrays cannot be merged member by member: keep the whole original.
                (!exact).then(|| raw_extra(raw))
            }
            _ => {
                self.append_null();
                Some(raw_extra(raw))
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Str(b) | ColumnBuilder::Json(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b) => Arc::new(b.finish()),
            ColumnBuilder::Struct(s) => Arc::new(s.finish()),
            ColumnBuilder::List(l) => {
                let items = l.items.finish();
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                Arc::new(ListArray::new(
                    l.item_field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    Arc::new(items),
                    l.validity.finish(),
                ))
            }
        }
    }
}

/// The position of `key` among `specs`, looked for from `from` on, then from the start.
/// CloudTrail writes a record's keys in the order of its documentation, which the schema
/// follows, so the search from just after the previous key's slot nearly always stops at once
/// (instead of comparing a key with every name before it: ~40 at the top level).
fn slot_of(specs: &[FieldSpec], key: &str, from: usize) -> Option<usize> {
    let from = from.min(specs.len());
    (from..specs.len())
        .chain(0..from)
        .find(|&i| specs[i].name == key)
}

impl StructColumn {
    fn new(specs: &'static [FieldSpec], fields: Fields, rows: usize) -> Self {
        StructColumn {
            specs,
            children: specs
                .iter()
                .zip(fields.iter())
                .map(|(s, f)| ColumnBuilder::new(s.kind, f, rows))
                .collect(),
            fields,
            validity: NullBufferBuilder::new(rows),
            seen: vec![false; specs.len()],
            last: vec![usize::MAX; specs.len()],
            slots: Vec::new(),
        }
    }

    fn append_null(&mut self) {
        for child in &mut self.children {
            child.append_null();
        }
        self.validity.append_null();
    }

    /// Append one object; returns its members that go to `unmapped`.
    fn append_members<'a>(
        &mut self,
        members: Members<'a>,
    ) -> Option<Vec<(Cow<'a, str>, Extra<'a>)>> {
        let mut time = None;
        self.append_members_with_time(members, &mut time)
    }

    fn append_members_with_time<'a>(
        &mut self,
        members: Members<'a>,
        time: &mut Option<i64>,
    ) -> Option<Vec<(Cow<'a, str>, Extra<'a>)>> {
        // A key given twice: like every JSON reader, the last value wins (the earlier one is
        // not part of the record any reader sees). Find each known key's last occurrence first.
        self.seen.fill(false);
        self.last.fill(usize::MAX);
        self.slots.clear();
        let mut next = 0;
        for (index, (key, _)) in members.0.iter().enumerate() {
            let slot = slot_of(self.specs, key, next);
            if let Some(i) = slot {
                self.last[i] = index;
                next = i + 1;
            }
            self.slots.push(slot);
        }
        let mut extra = Vec::new();
        for (index, (key, raw)) in members.0.into_iter().enumerate() {
            match self.slots[index] {
                Some(i) if self.last[i] == index => {
                    self.seen[i] = true;
                    if let Some(e) = self.children[i].append(raw, time) {
                        extra.push((key, e));
                    }
                }
                Some(_) => {} // an earlier value of a repeated key
                // Unknown keys go to `unmapped` as they are; a repeated one is written twice
                // there and, read back, its last value wins as in the source.
                None => extra.push((key, raw_extra(raw))),
            }
        }
        for (i, seen) in self.seen.iter().enumerate() {
            if !seen {
                self.children[i].append_null();
            }
        }
        self.validity.append_non_null();
        (!extra.is_empty()).then_some(extra)
    }

    fn finish(&mut self) -> StructArray {
        let arrays: Vec<ArrayRef> = self
            .children
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect();
        let fields = self.fields.clone();
        let nulls = self.validity.finish();
        if fields.is_empty() {
            return StructArray::new_empty_fields(nulls.as_ref().map_or(0, |n| n.len()), nulls);
        }
        StructArray::new(fields, arrays, nulls)
    }
}

/// Accumulates records into a [`RecordBatch`] of a table's schema.
pub struct EventBatchBuilder {
    table: &'static Table,
    top: StructColumn,
    unmapped: StringBuilder,
    scratch: String,
    rows: usize,
    /// Whether the records being appended may hold surrogate escapes (see [`RAW_MEMBERS`]).
    check_surrogates: bool,
    /// Records appended with a member kept under [`RAW_MEMBERS`] for a lone surrogate.
    lone_surrogates: u64,
}

impl EventBatchBuilder {
    pub fn new(table: &'static Table) -> Self {
        Self::with_capacity(table, 1024)
    }

    /// A builder sized for about `rows` records.
    pub fn with_capacity(table: &'static Table, rows: usize) -> Self {
        // The top-level fields of the table's schema (all but `unmapped`), shared, not rebuilt.
        let top: Fields = table
            .schema()
            .fields()
            .iter()
            .take(table.fields.len())
            .cloned()
            .collect();
        EventBatchBuilder {
            table,
            top: StructColumn::new(table.fields, top, rows),
            unmapped: StringBuilder::with_capacity(rows, 0),
            scratch: String::new(),
            rows: 0,
            check_surrogates: true,
            lone_surrogates: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Append one record. Returns its eventTime in epoch milliseconds when it names an instant.
    /// A record that is not a JSON object is refused and nothing is appended.
    pub fn append(&mut self, record: &RawValue) -> Result<Option<i64>, String> {
        Ok(self.append_members(record_members(record)?))
    }

    /// Append a record already split into its members; returns its instant.
    fn append_members(&mut self, members: Members<'_>) -> Option<i64> {
        let mut time = None;
        let extra = match keep_raw_members(&members, self.check_surrogates) {
            None => self.top.append_members_with_time(members, &mut time),
            Some((decoded, raw)) => {
                let decoded = Members(
                    decoded
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_ref()))
                        .collect(),
                );
                let mut extra = self
                    .top
                    .append_members_with_time(decoded, &mut time)
                    .unwrap_or_default();
                if raw.iter().any(|(key, _)| key != RAW_MEMBERS) {
                    self.lone_surrogates += 1;
                }
                let kept = raw
                    .into_iter()
                    .map(|(key, text)| {
                        let text = serde_json::to_string(&text).expect("a string serialises");
                        (Cow::Owned(key), Extra::Raw(Cow::Owned(text)))
                    })
                    .collect();
                extra.push((Cow::Borrowed(RAW_MEMBERS), Extra::Object(kept)));
                self.write_unmapped(Some(extra));
                self.rows += 1;
                return time;
            }
        };
        self.write_unmapped(extra);
        self.rows += 1;
        time
    }

    fn write_unmapped(&mut self, extra: Option<Vec<(Cow<'_, str>, Extra<'_>)>>) {
        match extra {
            None => self.unmapped.append_null(),
            Some(members) => {
                self.scratch.clear();
                Extra::Object(members).write(&mut self.scratch);
                self.unmapped.append_value(&self.scratch);
            }
        }
    }

    /// Records appended so far with a lone surrogate (see [`RAW_MEMBERS`]).
    pub fn lone_surrogates(&self) -> u64 {
        self.lone_surrogates
    }

    /// The rows appended so far; the builder is empty afterwards.
    pub fn finish(&mut self) -> RecordBatch {
        let top = self.top.finish();
        let (_, mut columns, _) = top.into_parts();
        columns.push(Arc::new(self.unmapped.finish()));
        // Give back what the builders reserved and did not use: rows are held until their day
        // is written, and the memory budget counts buffer capacity.
        for column in &mut columns {
            arrow::array::Array::shrink_to_fit(column);
        }
        self.rows = 0;
        RecordBatch::try_new(self.table.schema(), columns).expect("builders follow the schema")
    }
}

/// A record's members, checked to be an object.
fn record_members(record: &RawValue) -> Result<Members<'_>, String> {
    let ty = JsonType::of(record.get());
    if ty != JsonType::Object {
        return Err(format!("not a JSON object (a {ty:?})").to_lowercase());
    }
    serde_json::from_str(record.get()).map_err(|e| e.to_string())
}

/// The instant of a record's time field at `path`, exactly as its typed column reads it (the
/// last of a repeated key; a string in a form `parse_event_time` reads), without decoding the
/// rest of the record.
fn record_time(path: &[&str], members: &Members<'_>) -> Option<i64> {
    let (first, rest) = path.split_first()?;
    let raw = members
        .0
        .iter()
        .rev()
        .find(|(k, _)| k.as_ref() == *first)?
        .1;
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
    record_time(rest, &object_members(raw)?)
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
    /// Records decoded that hold a lone surrogate (see [`RAW_MEMBERS`]).
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
    for (position, bytes) in files.iter().enumerate() {
        let start = builder.as_ref().map_or(0, EventBatchBuilder::len);
        let mut skipped = Vec::new();
        let outcome = (|| {
            let json = match inflate_into(bytes, max_inflated, &mut gunzip, &mut inflated)? {
                Inflated::Plain => *bytes,
                Inflated::Gzip(len) => &inflated[..len],
            };
            let records = split_records(json)?;
            let builder = builder.get_or_insert_with(|| {
                EventBatchBuilder::with_capacity(table, records.len() * (files.len() - position))
            });
            builder.check_surrogates = may_hold_surrogates(json);
            let mut objects = Vec::with_capacity(records.len());
            for (index, record) in records.into_iter().enumerate() {
                match record {
                    Record::Object(members) => objects.push(members),
                    Record::Not(kind) => {
                        let kind = format!("{kind:?}").to_lowercase();
                        return Err(FileError::Record {
                            index,
                            reason: format!("not a JSON object (a {kind})"),
                        });
                    }
                }
            }
            for members in objects {
                let time = record_time(table.time, &members);
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
    use arrow::array::{Array, AsArray};

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
