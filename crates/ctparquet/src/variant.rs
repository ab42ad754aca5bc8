//! JSON-valued columns as Parquet VARIANT (`--json-columns variant`): each value binary-encoded
//! (objects, arrays, strings, numbers and booleans as themselves, not text), and the members a
//! day's documents have in common stored as typed columns of their own ("shredded", see
//! [`Shredding`]), which readers prune and project like any column.
//!
//! The pipeline works on JSON text throughout (decoding, sorting, spilling); the VARIANT form is
//! made when a batch is written ([`to_variant_batch`]) and undone when one is read back
//! ([`to_text_batch`]), so `rebuild`, `verify` and `upgrade` read every form alike.
//!
//! Lossless: a value's VARIANT holds what `serde_json` reads from its text, which is what
//! `rebuild` compares. Integers beyond `i64` (up to `u64::MAX`) are kept as exact 38-digit
//! decimals, where arrow-rs' own JSON reader would round them to a double.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, RecordBatch, StringArray, StructArray};
use arrow::datatypes::{DataType, Field, Fields, SchemaRef};
use arrow::error::ArrowError;
use parquet::variant::{
    ObjectFieldBuilder, Variant, VariantArray, VariantArrayBuilder, VariantBuilderExt, VariantType,
    shred_variant, unshred_variant, variant_to_json,
};
use serde_json::Value;

use crate::schema::{FieldSpec, Kind, Table};

/// Rows of a day looked at to choose its shredding.
const INFER_ROWS: usize = 8192;
/// Members shredded per object, the most frequent first: bounds the width of a file's schema.
const MAX_MEMBERS: usize = 128;
/// Depth of nested objects and arrays shredded.
const MAX_DEPTH: usize = 6;

/// How the JSON columns of a day are shredded: for each top-level JSON column whose values have
/// a shape, the logical type of that shape (an object's members with one JSON type each, nested
/// objects and arrays included). Inferred from the day's first rows, as DuckDB infers its own:
/// readers can take a member from its own column instead of decoding every document, and prune
/// with its statistics. A value that does not fit (another type, a member first seen later)
/// stays in the binary part, so nothing depends on the guess but speed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shredding {
    columns: Vec<(String, DataType)>,
}

impl Shredding {
    /// The shredding of a day whose rows start with `batch` (JSON columns as text).
    pub fn infer(table: &Table, batch: &RecordBatch) -> Shredding {
        let rows = batch.num_rows().min(INFER_ROWS);
        let mut columns = Vec::new();
        for spec in table.fields.iter().filter(|s| s.kind == Kind::Json) {
            let Some(text) = batch.column_by_name(spec.name) else {
                continue;
            };
            let text = text.as_string::<i32>();
            let mut shape = Shape::Absent;
            for row in (0..rows).filter(|&r| text.is_valid(r)) {
                if let Ok(value) = serde_json::from_str::<Value>(text.value(row)) {
                    shape.observe(&value, 0);
                }
            }
            if let Some(as_type) = shape.data_type() {
                columns.push((spec.name.to_string(), as_type));
            }
        }
        Shredding { columns }
    }

    fn of(&self, column: &str) -> Option<&DataType> {
        self.columns
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, t)| t)
    }

    /// The schema of a day's files: the table's VARIANT schema with the shredded columns'
    /// physical types.
    pub fn file_schema(&self, table: &Table) -> Result<SchemaRef, ArrowError> {
        let base = table.file_schema(crate::schema::JsonColumns::Variant);
        let fields: Vec<Field> = base
            .fields()
            .iter()
            .map(|field| match self.of(field.name()) {
                Some(as_type) => variant_field(field.name(), Some(as_type)),
                None => Ok(field.as_ref().clone()),
            })
            .collect::<Result<_, _>>()?;
        Ok(Arc::new(arrow::datatypes::Schema::new(fields)))
    }
}

/// The shape of the JSON values of a column (or of a member), as far as they agree.
#[derive(Debug, Clone)]
enum Shape {
    /// Nothing seen yet, or only nulls.
    Absent,
    Str,
    Bool,
    Int,
    Float,
    /// Members with the rows they were seen in.
    Object(std::collections::BTreeMap<String, (Shape, usize)>),
    Array(Box<Shape>),
    /// Values of different kinds: not shredded.
    Mixed,
}

impl Shape {
    fn observe(&mut self, value: &Value, depth: usize) {
        let seen = match value {
            Value::Null => return,
            Value::Bool(_) => Shape::Bool,
            // Integers beyond i64 are decimals, doubles are doubles: neither fits Int64.
            Value::Number(n) if n.is_i64() => Shape::Int,
            Value::Number(n) if n.is_f64() => Shape::Float,
            Value::Number(_) => Shape::Mixed,
            Value::String(_) => Shape::Str,
            Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => Shape::Mixed,
            Value::Array(items) => {
                let mut element = match std::mem::replace(self, Shape::Absent) {
                    Shape::Array(element) => *element,
                    Shape::Absent => Shape::Absent,
                    _ => {
                        *self = Shape::Mixed;
                        return;
                    }
                };
                for item in items {
                    element.observe(item, depth + 1);
                }
                *self = Shape::Array(Box::new(element));
                return;
            }
            Value::Object(members) => {
                let mut known = match std::mem::replace(self, Shape::Absent) {
                    Shape::Object(known) => known,
                    Shape::Absent => Default::default(),
                    _ => {
                        *self = Shape::Mixed;
                        return;
                    }
                };
                for (key, member) in members {
                    let entry = known.entry(key.clone()).or_insert((Shape::Absent, 0));
                    entry.0.observe(member, depth + 1);
                    entry.1 += 1;
                }
                *self = Shape::Object(known);
                return;
            }
        };
        *self = match (std::mem::replace(self, Shape::Absent), seen) {
            (Shape::Absent, seen) => seen,
            (Shape::Str, Shape::Str) => Shape::Str,
            (Shape::Bool, Shape::Bool) => Shape::Bool,
            (Shape::Int, Shape::Int) => Shape::Int,
            (Shape::Float, Shape::Float) => Shape::Float,
            _ => Shape::Mixed,
        };
    }

    /// The logical type to shred values of this shape as, if any.
    fn data_type(&self) -> Option<DataType> {
        match self {
            Shape::Absent | Shape::Mixed => None,
            Shape::Str => Some(DataType::Utf8),
            Shape::Bool => Some(DataType::Boolean),
            Shape::Int => Some(DataType::Int64),
            Shape::Float => Some(DataType::Float64),
            Shape::Array(element) => Some(DataType::List(Arc::new(Field::new(
                "element",
                element.data_type()?,
                true,
            )))),
            Shape::Object(members) => {
                let mut typed: Vec<(&String, usize, DataType)> = members
                    .iter()
                    .filter_map(|(name, (shape, rows))| Some((name, *rows, shape.data_type()?)))
                    .collect();
                // The most frequent members, then in name order (deterministic either way).
                typed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
                typed.truncate(MAX_MEMBERS);
                typed.sort_by(|a, b| a.0.cmp(b.0));
                if typed.is_empty() {
                    return None;
                }
                Some(DataType::Struct(
                    typed
                        .into_iter()
                        .map(|(name, _, t)| Field::new(name, t, true))
                        .collect::<Fields>(),
                ))
            }
        }
    }
}

/// The Arrow field of a JSON-valued column written as VARIANT, shredded as `as_type` says
/// (every field is nullable).
fn variant_field(name: &str, as_type: Option<&DataType>) -> Result<Field, ArrowError> {
    let empty: ArrayRef = Arc::new(StringArray::from(Vec::<Option<&str>>::new()));
    let array = encode(name, &empty, as_type)?;
    Ok(Field::new(name, array.data_type().clone(), true).with_extension_type(VariantType))
}

/// A column of JSON text (nulls kept) as VARIANT, shredded as `as_type` says.
fn encode(name: &str, text: &ArrayRef, as_type: Option<&DataType>) -> Result<ArrayRef, ArrowError> {
    let text = text.as_string::<i32>();
    let mut builder = VariantArrayBuilder::new(text.len());
    for row in 0..text.len() {
        if text.is_null(row) {
            builder.append_null();
            continue;
        }
        let value: Value = serde_json::from_str(text.value(row))
            .map_err(|e| ArrowError::InvalidArgumentError(format!("{name} is not JSON: {e}")))?;
        append(&value, &mut builder)?;
    }
    let array = builder.build();
    let array = match as_type {
        Some(as_type) => shred_variant(&array, as_type)?,
        None => array,
    };
    plain_binary(ArrayRef::from(array))
}

/// `array` with its binary views (arrow-rs builds VARIANT bytes as `BinaryView`) as plain
/// `Binary`: the Arrow schema kept in the file names the type readers use, and pyarrow 26
/// cannot filter a dataset holding binary views.
fn plain_binary(array: ArrayRef) -> Result<ArrayRef, ArrowError> {
    match array.data_type() {
        DataType::BinaryView => arrow::compute::cast(&array, &DataType::Binary),
        DataType::Struct(_) => {
            let (fields, columns, nulls) = array.as_struct().clone().into_parts();
            let columns = columns
                .into_iter()
                .map(plain_binary)
                .collect::<Result<Vec<_>, _>>()?;
            let fields: Fields = fields
                .iter()
                .zip(&columns)
                .map(|(f, c)| Arc::new(f.as_ref().clone().with_data_type(c.data_type().clone())))
                .collect();
            Ok(Arc::new(StructArray::try_new(fields, columns, nulls)?))
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let values = plain_binary(list.values().clone())?;
            let item = Arc::new(Field::new("element", values.data_type().clone(), true));
            Ok(Arc::new(ListArray::try_new(
                item,
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )?))
        }
        _ => Ok(array),
    }
}

/// Append a JSON value. As `parquet_variant_json::append_json`, but an integer beyond `i64` is
/// an exact decimal rather than a double.
fn append(value: &Value, builder: &mut impl VariantBuilderExt) -> Result<(), ArrowError> {
    match value {
        Value::Null => builder.append_value(Variant::Null),
        Value::Bool(b) => builder.append_value(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => builder.append_value(i),
            (None, Some(u), _) => builder.append_value(u),
            (None, None, Some(f)) => builder.append_value(f),
            _ => {
                return Err(ArrowError::InvalidArgumentError(format!(
                    "{n} is not a number VARIANT holds"
                )));
            }
        },
        Value::String(s) => builder.append_value(s.as_str()),
        Value::Array(items) => {
            let mut list = builder.try_new_list()?;
            for item in items {
                append(item, &mut list)?;
            }
            list.finish();
        }
        Value::Object(members) => {
            let mut object = builder.try_new_object()?;
            for (key, member) in members {
                append(member, &mut ObjectFieldBuilder::new(key, &mut object))?;
            }
            object.finish();
        }
    }
    Ok(())
}

/// A batch of a table's rows (JSON columns as text) in the VARIANT form of `schema`
/// ([`Shredding::file_schema`]).
pub fn to_variant_batch(
    table: &Table,
    shredding: &Shredding,
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    let (_, columns) = encode_struct(
        table.fields,
        &StructArray::from(batch.clone()),
        Some(shredding),
    )?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// The fields and children of a struct array of `specs`, their JSON members as VARIANT (other
/// columns, such as `unmapped`, as they are).
/// Only top-level columns are shredded (`shredding` is `None` below the top).
fn encode_struct(
    specs: &[FieldSpec],
    array: &StructArray,
    shredding: Option<&Shredding>,
) -> Result<(Fields, Vec<ArrayRef>), ArrowError> {
    let mut fields = Vec::with_capacity(array.num_columns());
    let mut columns = Vec::with_capacity(array.num_columns());
    for (field, column) in array.fields().iter().zip(array.columns()) {
        let spec = specs.iter().find(|s| s.name == field.name());
        let (field, column) = match spec {
            Some(spec) => encode_column(spec, field, column, shredding)?,
            None => (field.clone(), column.clone()),
        };
        fields.push(field);
        columns.push(column);
    }
    Ok((fields.into(), columns))
}

fn encode_column(
    spec: &FieldSpec,
    field: &Arc<Field>,
    column: &ArrayRef,
    shredding: Option<&Shredding>,
) -> Result<(Arc<Field>, ArrayRef), ArrowError> {
    match spec.kind {
        Kind::Json => {
            let as_type = shredding.and_then(|s| s.of(spec.name));
            let array = encode(spec.name, column, as_type)?;
            let field = Field::new(spec.name, array.data_type().clone(), true)
                .with_extension_type(VariantType);
            Ok((Arc::new(field), array))
        }
        Kind::Struct(children) if has_json(children) => {
            let array = column.as_struct();
            let (fields, columns) = encode_struct(children, array, None)?;
            let array = StructArray::try_new(fields, columns, array.nulls().cloned())?;
            let field = Field::new(spec.name, array.data_type().clone(), true);
            Ok((Arc::new(field), Arc::new(array)))
        }
        Kind::ListOfStruct(children) if has_json(children) => {
            let list = column.as_list::<i32>();
            let items = list.values().as_struct();
            let (fields, columns) = encode_struct(children, items, None)?;
            let items = StructArray::try_new(fields, columns, items.nulls().cloned())?;
            let item = Arc::new(Field::new("element", items.data_type().clone(), true));
            let array = ListArray::try_new(
                item,
                list.offsets().clone(),
                Arc::new(items),
                list.nulls().cloned(),
            )?;
            let field = Field::new(spec.name, array.data_type().clone(), true);
            Ok((Arc::new(field), Arc::new(array)))
        }
        _ => Ok((field.clone(), column.clone())),
    }
}

fn has_json(specs: &[FieldSpec]) -> bool {
    specs.iter().any(|s| match s.kind {
        Kind::Json => true,
        Kind::Struct(children) | Kind::ListOfStruct(children) => has_json(children),
        _ => false,
    })
}

/// A batch read from a file with every VARIANT column (at any depth) turned back into JSON text:
/// the form the rest of the code reads. A batch without VARIANT columns is returned as it is.
pub fn to_text_batch(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch.schema().fields().iter().any(|f| holds_variant(f)) {
        return Ok(batch.clone());
    }
    let top = decode_struct(&StructArray::from(batch.clone()))?;
    Ok(RecordBatch::from(top))
}

fn is_variant(field: &Field) -> bool {
    field.extension_type_name()
        == Some(<VariantType as arrow_schema::extension::ExtensionType>::NAME)
}

fn holds_variant(field: &Field) -> bool {
    is_variant(field)
        || match field.data_type() {
            DataType::Struct(children) => children.iter().any(|c| holds_variant(c)),
            DataType::List(item) => holds_variant(item),
            _ => false,
        }
}

fn decode_struct(array: &StructArray) -> Result<StructArray, ArrowError> {
    let mut fields = Vec::with_capacity(array.num_columns());
    let mut columns = Vec::with_capacity(array.num_columns());
    for (field, column) in array.fields().iter().zip(array.columns()) {
        let (field, column) = decode_column(field, column)?;
        fields.push(field);
        columns.push(column);
    }
    StructArray::try_new(fields.into(), columns, array.nulls().cloned())
}

fn decode_column(
    field: &Arc<Field>,
    column: &ArrayRef,
) -> Result<(Arc<Field>, ArrayRef), ArrowError> {
    if is_variant(field) {
        // Shredded members are merged back into the value first: reading a partly shredded
        // object straight from its typed columns would leave out the members kept in binary.
        let unshredded = unshred_variant(&VariantArray::try_new(column.as_ref())?)?;
        let text = variant_to_json(&ArrayRef::from(unshredded))?;
        let field = Field::new(field.name(), DataType::Utf8, true);
        return Ok((Arc::new(field), Arc::new(text)));
    }
    if !holds_variant(field) {
        return Ok((field.clone(), column.clone()));
    }
    match field.data_type() {
        DataType::Struct(_) => {
            let array = decode_struct(column.as_struct())?;
            let field = Field::new(field.name(), array.data_type().clone(), field.is_nullable());
            Ok((Arc::new(field), Arc::new(array)))
        }
        DataType::List(item) => {
            let list = column.as_list::<i32>();
            let (item, values) = decode_column(item, list.values())?;
            let array =
                ListArray::try_new(item, list.offsets().clone(), values, list.nulls().cloned())?;
            let field = Field::new(field.name(), array.data_type().clone(), field.is_nullable());
            Ok((Arc::new(field), Arc::new(array)))
        }
        _ => Ok((field.clone(), column.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(as_type: Option<&DataType>, texts: &[Option<&str>]) -> Vec<Option<Value>> {
        let text: ArrayRef = Arc::new(StringArray::from(texts.to_vec()));
        let variant = encode("c", &text, as_type).unwrap();
        assert_eq!(
            variant.data_type(),
            variant_field("c", as_type).unwrap().data_type()
        );
        let unshredded =
            unshred_variant(&VariantArray::try_new(variant.as_ref()).unwrap()).unwrap();
        let back = variant_to_json(&ArrayRef::from(unshredded)).unwrap();
        (0..back.len())
            .map(|i| {
                back.is_valid(i)
                    .then(|| serde_json::from_str(back.value(i)).unwrap())
            })
            .collect()
    }

    #[test]
    fn json_values_come_back_equal_shredded_or_not() {
        let texts = [
            Some(r#"{"bucketName":"logs","key":"a/b.json","acl":null,"n":[1,-2,3.5,1e300]}"#),
            None,
            Some(r#"{"bucketName":7,"nested":{"bucketName":"x"}}"#),
            Some(r#"{"big":18446744073709551615,"small":-9223372036854775808,"f":0.1}"#),
            Some(r#"["not","an","object",true,false,null]"#),
            Some(r#""a string""#),
            Some("12"),
            Some("{}"),
            Some("null"),
        ];
        // Not shredded, and shredded as the first rows suggest (the others do not fit it).
        let mut shape = Shape::Absent;
        shape.observe(&serde_json::from_str(texts[0].unwrap()).unwrap(), 0);
        let inferred = shape.data_type();
        assert!(inferred.is_some());
        for as_type in [None, inferred.as_ref()] {
            let back = round_trip(as_type, &texts);
            for (text, back) in texts.iter().zip(back) {
                let want = text.map(|t| serde_json::from_str::<Value>(t).unwrap());
                assert_eq!(back, want, "{as_type:?}: {text:?}");
            }
        }
    }

    #[test]
    fn the_shape_of_a_column_is_what_its_documents_agree_on() {
        let mut shape = Shape::Absent;
        for text in [
            r#"{"bucketName":"a","n":1,"tags":[{"k":"x"}],"mixed":1,"nothing":null}"#,
            r#"{"bucketName":"b","n":2,"tags":[],"mixed":"one","extra":true}"#,
        ] {
            shape.observe(&serde_json::from_str(text).unwrap(), 0);
        }
        let DataType::Struct(fields) = shape.data_type().unwrap() else {
            panic!("an object shape is a struct")
        };
        let members: Vec<(&str, &DataType)> = fields
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect();
        let tags = DataType::List(Arc::new(Field::new(
            "element",
            DataType::Struct(vec![Field::new("k", DataType::Utf8, true)].into()),
            true,
        )));
        assert_eq!(
            members,
            [
                ("bucketName", &DataType::Utf8),
                ("extra", &DataType::Boolean),
                ("n", &DataType::Int64),
                ("tags", &tags),
            ]
        );
    }

    /// The decoder crate spells the unshredded VARIANT field out (it builds without Parquet):
    /// it must be the field arrow-rs' builder makes.
    #[test]
    fn the_schemas_unshredded_variant_field_is_the_builders() {
        let schema = crate::schema::EVENTS.file_schema(crate::schema::JsonColumns::Variant);
        let field = schema.field_with_name("requestParameters").unwrap();
        assert_eq!(field, &variant_field("requestParameters", None).unwrap());
        assert!(is_variant(field));
    }
}
