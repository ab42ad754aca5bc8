//! Column builders: the members of a record, in the one schema's order, into Arrow arrays; what
//! a typed column cannot hold exactly goes to `unmapped` (see the module above).

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, NullBufferBuilder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StringArray, StructArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields};
use serde_json::value::RawValue;

use crate::json::{
    JsonType, Member, Members, RAW_MEMBERS, RawCheck, array_items_into, minify,
    object_members_into, raw_str, recycle,
};
use crate::schema::{FieldSpec, Kind, Table};
use crate::time::{ParsedTime, parse_event_time};

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

/// The members of an object that go to `unmapped`.
type Unmapped<'a> = Vec<(Cow<'a, str>, Extra<'a>)>;

fn raw_extra(raw: &str) -> Extra<'_> {
    Extra::Raw(minify(raw))
}

fn struct_fields_of(field: &Field) -> Fields {
    match field.data_type() {
        DataType::Struct(fields) => fields.clone(),
        other => unreachable!("{} is a struct, not {other}", field.name()),
    }
}

/// A string column's builder that counts the nulls since its last value instead of appending
/// them one at a time: most of the schema's fields are absent from most records, and a column
/// that gets no value at all in a batch is made on [`Zeros`] without ever being built (nor its
/// buffers allocated).
struct Strings {
    builder: Option<StringBuilder>,
    /// Nulls appended after the builder's last value.
    nulls: usize,
    /// Rows, and bytes a row, to reserve when the first value comes.
    rows: usize,
    bytes_per_row: usize,
}

impl Strings {
    fn new(rows: usize, bytes_per_row: usize) -> Self {
        Strings {
            builder: None,
            nulls: 0,
            rows,
            bytes_per_row,
        }
    }

    fn append_null(&mut self) {
        self.nulls += 1;
    }

    fn append_value(&mut self, value: impl AsRef<str>) {
        self.flushed().append_value(value);
    }

    /// The builder, with the nulls counted so far appended.
    fn flushed(&mut self) -> &mut StringBuilder {
        let (rows, bytes) = (self.rows, self.rows * self.bytes_per_row);
        let builder = self
            .builder
            .get_or_insert_with(|| StringBuilder::with_capacity(rows, bytes));
        if self.nulls > 0 {
            builder.append_nulls(std::mem::take(&mut self.nulls));
        }
        builder
    }
}

/// Builds the column of one field.
enum ColumnBuilder {
    Str(Strings),
    Bool(BooleanBuilder),
    Time(TimestampMillisecondBuilder),
    Json(Strings),
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
    /// Scratch: the members of the object being appended (empty between appends; see
    /// [`recycle`]), so a nested object costs no allocation.
    members: Vec<Member<'static>>,
}

struct ListColumn {
    item_field: arrow_schema::FieldRef,
    offsets: Vec<i32>,
    validity: NullBufferBuilder,
    items: StructColumn,
    /// Scratch: the elements of the list being appended (empty between appends).
    elements: Vec<&'static str>,
}

impl ColumnBuilder {
    /// A builder sized for `rows` values: delivery files hold anything from one record to tens
    /// of thousands, and the default capacities would dominate the cost of the small ones.
    fn new(kind: Kind, field: &Field, rows: usize) -> Self {
        match kind {
            Kind::Str => ColumnBuilder::Str(Strings::new(rows, 16)),
            Kind::Json => ColumnBuilder::Json(Strings::new(rows, 64)),
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
                    elements: Vec::new(),
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
                // A struct may hold the table's day field (aggregated events' timeWindow).
                s.append_object(raw, times).map_or_else(
                    || {
                        s.append_null();
                        Some(raw_extra(raw))
                    },
                    |extra| extra.map(Extra::Object),
                )
            }
            ColumnBuilder::List(l) if ty == JsonType::Array => {
                let mut elements = recycle(std::mem::take(&mut l.elements));
                if array_items_into(raw, &mut elements).is_none() {
                    l.elements = recycle(elements);
                    self.append_null();
                    return Some(raw_extra(raw));
                }
                let mut exact = true;
                for item in &elements {
                    let fitted = match l.items.append_object(item, &mut None) {
                        Some(extra) => extra.is_none(),
                        None => {
                            l.items.append_null();
                            false
                        }
                    };
                    exact &= fitted;
                }
                let end = *l.offsets.last().expect("offsets start at 0") + elements.len() as i32;
                l.elements = recycle(elements);
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

    fn finish(&mut self, zeros: &Zeros) -> ArrayRef {
        match self {
            ColumnBuilder::Str(b) | ColumnBuilder::Json(b) => zeros.strings(b),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b) => Arc::new(b.finish()),
            ColumnBuilder::Struct(s) => Arc::new(s.finish(zeros)),
            ColumnBuilder::List(l) => {
                let items = l.items.finish(zeros);
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
            members: Vec::new(),
        }
    }

    fn append_null(&mut self) {
        for child in &mut self.children {
            child.append_null();
        }
        self.validity.append_null();
    }

    /// Append the object whose valid text is `raw`: `None` (and nothing appended) when it is not
    /// an object; otherwise its members that go to `unmapped`, if any.
    fn append_object<'a>(
        &mut self,
        raw: &'a str,
        time: &mut Option<i64>,
    ) -> Option<Option<Unmapped<'a>>> {
        let mut members = recycle(std::mem::take(&mut self.members));
        let appended = object_members_into(raw, &mut members)
            .map(|()| self.append_members_with_time(&mut members, time));
        self.members = recycle(members);
        appended
    }

    /// Append one object, given its members (their keys are taken); returns its members that go
    /// to `unmapped`.
    fn append_members_with_time<'a>(
        &mut self,
        members: &mut [Member<'a>],
        time: &mut Option<i64>,
    ) -> Option<Unmapped<'a>> {
        // A key given twice: like every JSON reader, the last value wins (the earlier one is
        // not part of the record any reader sees). Find each known key's last occurrence first.
        self.seen.fill(false);
        self.last.fill(usize::MAX);
        self.slots.clear();
        let mut next = 0;
        for (index, (key, _)) in members.iter().enumerate() {
            let slot = slot_of(self.specs, key, next);
            if let Some(i) = slot {
                self.last[i] = index;
                next = i + 1;
            }
            self.slots.push(slot);
        }
        let mut extra = Vec::new();
        for (index, (key, raw)) in members.iter_mut().enumerate() {
            let (key, raw) = (std::mem::take(key), *raw);
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

    fn finish(&mut self, zeros: &Zeros) -> StructArray {
        let arrays: Vec<ArrayRef> = self
            .children
            .iter_mut()
            .map(|child| child.finish(zeros))
            .collect();
        let fields = self.fields.clone();
        let nulls = self.validity.finish();
        if fields.is_empty() {
            return StructArray::new_empty_fields(nulls.as_ref().map_or(0, |n| n.len()), nulls);
        }
        StructArray::new(fields, arrays, nulls)
    }
}

/// One buffer of zeros for the string columns of a batch that hold only nulls: their offsets
/// and validity are all zeros, so they share it instead of each holding ~5 bytes a row. Most of
/// the schema's fields are rare (a day's rows leave dozens of them empty), and a day's rows are
/// held until it is written. The merge makes such columns as nulls again rather than gathering
/// them row by row.
struct Zeros {
    rows: usize,
    buffer: std::cell::OnceCell<Buffer>,
}

impl Zeros {
    /// For the columns of a batch of `rows` rows (list items, which may be more, are left alone).
    fn new(rows: usize) -> Self {
        Zeros {
            rows,
            buffer: std::cell::OnceCell::new(),
        }
    }

    /// The column's strings, on the shared zeros if it got no value.
    fn strings(&self, strings: &mut Strings) -> ArrayRef {
        if strings.builder.as_ref().is_some_and(|b| !b.is_empty()) {
            return Arc::new(strings.flushed().finish());
        }
        let len = std::mem::take(&mut strings.nulls);
        if len == 0 || len > self.rows {
            return Arc::new(StringArray::new_null(len));
        }
        // Zeroed memory that is never written: pages the system maps on demand.
        let zeros = self
            .buffer
            .get_or_init(|| Buffer::from_vec(vec![0i32; self.rows + 1]));
        let offsets = OffsetBuffer::new(ScalarBuffer::new(zeros.clone(), 0, len + 1));
        let nulls = NullBuffer::new(BooleanBuffer::new(zeros.clone(), 0, len));
        Arc::new(StringArray::new(offsets, Buffer::default(), Some(nulls)))
    }
}

/// Accumulates records into a [`RecordBatch`] of a table's schema.
pub struct EventBatchBuilder {
    table: &'static Table,
    top: StructColumn,
    unmapped: Strings,
    scratch: String,
    rows: usize,
    /// What the records being appended may need kept under [`RAW_MEMBERS`] (of their file).
    pub(super) raw_check: RawCheck,
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
            unmapped: Strings::new(rows, 0),
            scratch: String::new(),
            rows: 0,
            raw_check: RawCheck::EVERY,
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
        Ok(self.append_members(&mut record_members(record)?.0))
    }

    /// Append a record already split into its members (their keys are taken); returns its
    /// instant.
    pub(super) fn append_members(&mut self, members: &mut [Member<'_>]) -> Option<i64> {
        let mut time = None;
        // Lives as long as `extra`, which borrows from it.
        let decoded;
        let extra = match self.raw_check.keep_raw_members(members) {
            None => self.top.append_members_with_time(members, &mut time),
            Some((fixed, raw)) => {
                decoded = fixed;
                let mut members: Vec<Member<'_>> = decoded
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_ref()))
                    .collect();
                let mut extra = self
                    .top
                    .append_members_with_time(&mut members, &mut time)
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
                Some(extra)
            }
        };
        self.write_unmapped(extra);
        self.rows += 1;
        time
    }

    fn write_unmapped(&mut self, extra: Option<Unmapped<'_>>) {
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
        let zeros = Zeros::new(self.rows);
        let top = self.top.finish(&zeros);
        let (_, mut columns, _) = top.into_parts();
        columns.push(zeros.strings(&mut self.unmapped));
        // Give back what the builders reserved and did not use: rows are held until their day
        // is written, and the memory budget counts buffer capacity.
        for column in &mut columns {
            arrow_array::Array::shrink_to_fit(column);
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
