//! Parquet out: the writer options and the encoding of a day into part files.
//!
//! A day is encoded whole into local staging files first; only a day that encoded without error is
//! published (see [`crate::publish`]).

use std::fs::File;
use std::path::{Path as FsPath, PathBuf};

use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::layout;
use crate::schema::{self, FieldSpec, JsonColumns, Kind, Table};
use crate::writer::ParallelWriter;

/// The version written into every file's metadata.
pub const CONVERTER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The zstd level by default. On CloudTrail's columns (pages of ids, ARNs and JSON documents)
/// level 1 wrote 1-2% smaller files than level 3 in ~10% less CPU (docs/benchmarks.md); higher
/// levels are there for those who trade time for bytes.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// A compression codec and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Zstd(i32),
    Snappy,
    Lz4,
    Gzip(u32),
    Uncompressed,
}

impl std::str::FromStr for Codec {
    type Err = String;

    /// `zstd`, `zstd:9`, `snappy`, `lz4`, `gzip`, `gzip:6`, `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (
                n,
                Some(
                    l.parse::<i32>()
                        .map_err(|_| format!("bad compression level in {s:?}"))?,
                ),
            ),
            None => (s, None),
        };
        match (name.to_ascii_lowercase().as_str(), level) {
            ("zstd", l) => Ok(Codec::Zstd(l.unwrap_or(DEFAULT_ZSTD_LEVEL))),
            ("gzip", l) => Ok(Codec::Gzip(l.unwrap_or(6) as u32)),
            ("snappy", None) => Ok(Codec::Snappy),
            ("lz4", None) => Ok(Codec::Lz4),
            ("none" | "uncompressed", None) => Ok(Codec::Uncompressed),
            _ => Err(format!(
                "unknown compression {s:?} (expected zstd[:LEVEL], gzip[:LEVEL], snappy, lz4 or none)"
            )),
        }
    }
}

/// Statistics written per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistics {
    None,
    /// Per column chunk (row group) only.
    Chunk,
    /// Per page too, with the column index (page index) that lets readers skip pages.
    Page,
}

impl std::str::FromStr for Statistics {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Statistics::None),
            "chunk" => Ok(Statistics::Chunk),
            "page" => Ok(Statistics::Page),
            _ => Err(format!(
                "unknown statistics level {s:?} (expected none, chunk or page)"
            )),
        }
    }
}

/// How the Parquet files are written. The defaults suit Athena, DuckDB, Polars and pyarrow.
#[derive(Debug, Clone, PartialEq)]
pub struct ParquetOptions {
    pub compression: Codec,
    /// Rows per row group at most: the unit readers skip with statistics and bloom filters.
    pub row_group_rows: usize,
    /// A part file is closed once it reaches about this size and the next one begins.
    /// `u64::MAX` (the default): one file per day, which every reader sees replaced at once.
    pub target_file_bytes: u64,
    pub statistics: Statistics,
    /// Columns (dotted leaf paths, e.g. `userIdentity.arn`) that get a bloom filter; `None`: the
    /// table's own choice (for events: eventName, eventSource, eventID, userIdentity.arn,
    /// userIdentity.accessKeyId, sourceIPAddress).
    pub bloom_filter_columns: Option<Vec<String>>,
    /// False-positive probability the bloom filters are sized (and folded) for.
    pub bloom_filter_fpp: f64,
    pub dictionary: bool,
    /// How JSON-valued columns are typed: plain text (default) or Parquet's JSON logical type.
    pub json_columns: JsonColumns,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            compression: Codec::Zstd(DEFAULT_ZSTD_LEVEL),
            row_group_rows: 128 * 1024,
            target_file_bytes: u64::MAX,
            statistics: Statistics::Page,
            bloom_filter_columns: None,
            bloom_filter_fpp: 0.01,
            dictionary: true,
            json_columns: JsonColumns::Text,
        }
    }
}

/// The Parquet path of a dotted leaf path (`resources.ARN` is `resources.list.element.ARN`).
pub fn column_path(table: &Table, dotted: &str) -> Option<ColumnPath> {
    fn walk(specs: &[FieldSpec], parts: &[&str], out: &mut Vec<String>) -> bool {
        let Some((first, rest)) = parts.split_first() else {
            return false;
        };
        let Some(spec) = specs.iter().find(|s| s.name == *first) else {
            return false;
        };
        out.push(spec.name.to_string());
        match spec.kind {
            Kind::Struct(children) => walk(children, rest, out),
            Kind::ListOfStruct(children) => {
                out.extend(["list".to_string(), "element".to_string()]);
                walk(children, rest, out)
            }
            _ => rest.is_empty(),
        }
    }
    if dotted == schema::UNMAPPED {
        return Some(ColumnPath::from(dotted));
    }
    let parts: Vec<&str> = dotted.split('.').collect();
    let mut out = Vec::new();
    walk(table.fields, &parts, &mut out).then(|| ColumnPath::new(out))
}

impl ParquetOptions {
    /// The arrow-rs writer properties these options stand for, for a table.
    pub fn writer_properties(&self, table: &Table) -> Result<WriterProperties, String> {
        let compression = match self.compression {
            Codec::Zstd(level) => {
                Compression::ZSTD(ZstdLevel::try_new(level).map_err(|e| e.to_string())?)
            }
            Codec::Gzip(level) => {
                Compression::GZIP(GzipLevel::try_new(level).map_err(|e| e.to_string())?)
            }
            Codec::Snappy => Compression::SNAPPY,
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::Uncompressed => Compression::UNCOMPRESSED,
        };
        if self.row_group_rows == 0 {
            return Err("row group size must be at least 1 row".into());
        }
        if !(self.bloom_filter_fpp > 0.0 && self.bloom_filter_fpp < 1.0) {
            return Err("bloom filter false-positive probability must be between 0 and 1".into());
        }
        // Leaves of the file's schema: a JSON column is one leaf as text and several as VARIANT
        // (whose shredding, and so whose leaves, `encode_day` settles per day).
        let file_schema = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&table.file_schema(self.json_columns))
            .map_err(|e| e.to_string())?;
        let mut builder = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_statistics_enabled(match self.statistics {
                Statistics::None => EnabledStatistics::None,
                Statistics::Chunk => EnabledStatistics::Chunk,
                Statistics::Page => EnabledStatistics::Page,
            })
            .set_dictionary_enabled(self.dictionary)
            .set_created_by(format!("ctparquet version {CONVERTER_VERSION}"))
            .set_sorting_columns(Some(sorting_columns(table, &file_schema)))
            .set_key_value_metadata(Some(vec![
                KeyValue::new("ctparquet.version".into(), CONVERTER_VERSION.to_string()),
                KeyValue::new(
                    "ctparquet.cloudtrail_event_version".into(),
                    schema::SCHEMA_EVENT_VERSION.to_string(),
                ),
                KeyValue::new(
                    "ctparquet.schema_revision".into(),
                    table.revision.to_string(),
                ),
                KeyValue::new(
                    "ctparquet.json_columns".into(),
                    self.json_columns.name().to_string(),
                ),
                KeyValue::new(
                    "ctparquet.sorted_by".into(),
                    format!("{},{}", table.time_path(), table.id),
                ),
            ]));
        builder = column_encodings(table, &file_schema, builder);
        let columns: Vec<String> = match &self.bloom_filter_columns {
            Some(columns) => columns.clone(),
            None => table
                .bloom_filter_columns
                .iter()
                .map(|c| c.to_string())
                .collect(),
        };
        for column in &columns {
            let path = column_path(table, column).ok_or_else(|| {
                format!("bloom filter column {column:?} is not a column (leaf paths look like userIdentity.arn)")
            })?;
            builder = builder
                .set_column_bloom_filter_enabled(path.clone(), true)
                .set_column_bloom_filter_fpp(path.clone(), self.bloom_filter_fpp)
                .set_column_bloom_filter_max_ndv(path, self.row_group_rows as u64);
        }
        Ok(builder.build())
    }
}

/// The rows' order (day field, then identity) as the leaves of a file schema.
fn sorting_columns(
    table: &Table,
    file_schema: &parquet::schema::types::SchemaDescriptor,
) -> Vec<SortingColumn> {
    let leaf_index = |name: &str| {
        let path = column_path(table, name).expect("sort columns are columns");
        file_schema
            .columns()
            .iter()
            .position(|c| c.path() == &path)
            .expect("sort column is a leaf") as i32
    };
    [table.time_path().as_str(), table.id]
        .into_iter()
        .map(|name| SortingColumn {
            column_idx: leaf_index(name),
            descending: false,
            nulls_first: true,
        })
        .collect()
}

/// `props` with the sorting columns of the file schema `schema` (a VARIANT day's own layout).
fn with_sorting_columns(
    table: &Table,
    schema: &arrow::datatypes::SchemaRef,
    props: WriterProperties,
) -> Result<WriterProperties, SinkError> {
    let descriptor = parquet::arrow::ArrowSchemaConverter::new().convert(schema)?;
    Ok(props
        .into_builder()
        .set_sorting_columns(Some(sorting_columns(table, &descriptor)))
        .build())
}

/// Dictionaries where they pay. JSON documents (requestParameters, responseElements, ...) repeat
/// a lot but are long: a dictionary larger than the default 1 MiB page keeps them dictionary
/// encoded for the whole row group instead of falling back to plain mid-chunk. Identifiers unique
/// per row (eventID, requestID) gain nothing from a dictionary but the cost of its indices.
///
/// No statistics for JSON documents (nor `unmapped`): the min and max of a document's text prune
/// nothing a reader asks, and arrow-rs copies each page's min and max value whole before it
/// truncates them, so a record with one 300 MB document cost 600 MB more to encode.
fn column_encodings(
    table: &Table,
    file_schema: &parquet::schema::types::SchemaDescriptor,
    mut builder: parquet::file::properties::WriterPropertiesBuilder,
) -> parquet::file::properties::WriterPropertiesBuilder {
    builder = builder
        .set_column_statistics_enabled(ColumnPath::from(schema::UNMAPPED), EnabledStatistics::None);
    for spec in table.fields {
        let path = ColumnPath::from(spec.name);
        if matches!(spec.kind, Kind::Json) {
            // As text, the column itself; as VARIANT, its binary leaves (`metadata`, `value`;
            // shredded members, under `typed_value`, keep their statistics for pruning).
            let documents = file_schema.columns().iter().map(|c| c.path()).filter(|p| {
                let parts = p.parts();
                parts[0] == spec.name && !parts.iter().any(|part| part == "typed_value")
            });
            for path in documents {
                builder = builder
                    .set_column_dictionary_page_size_limit(path.clone(), JSON_DICTIONARY_BYTES)
                    .set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
            }
        } else if table.unique_columns.contains(&spec.name) {
            builder = builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path, parquet::basic::Encoding::DELTA_LENGTH_BYTE_ARRAY);
        }
    }
    builder
}

/// Dictionary page limit of JSON document columns.
const JSON_DICTIONARY_BYTES: usize = 16 * 1024 * 1024;

/// A part file encoded in the staging folder.
#[derive(Debug)]
pub struct StagedPart {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("encoding parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("staging file: {0}")]
    Io(#[from] std::io::Error),
    #[error("JSON columns as VARIANT: {0}")]
    Variant(#[from] arrow::error::ArrowError),
    #[error("{what}: {source}")]
    Store {
        what: String,
        #[source]
        source: object_store::Error,
    },
    #[error(transparent)]
    Day(#[from] crate::day::DayError),
}

/// Encode the sorted batches of one day into part files in `staging`.
pub fn encode_day(
    table: &Table,
    chunks: impl Iterator<Item = Result<crate::day::MergedChunk, crate::day::DayError>>,
    staging: &FsPath,
    props: &WriterProperties,
    target_file_bytes: u64,
    json_columns: JsonColumns,
    threads: usize,
) -> Result<Vec<StagedPart>, SinkError> {
    let mut parts = Vec::new();
    let mut current: Option<(ParallelWriter<File>, PathBuf, u64)> = None;
    let mut file_schema = table.file_schema(json_columns);
    let mut props = props.clone();
    // VARIANT: the day's shredding, chosen from its first rows, and the file layout it makes.
    let mut shredding: Option<crate::variant::Shredding> = None;
    for chunk in chunks {
        let chunk = chunk?;
        // VARIANT columns are made from whole batches; JSON text columns are gathered by the
        // writer, a column at a time.
        let variant = if json_columns == JsonColumns::Variant {
            let batch = chunk.to_batch()?;
            if shredding.is_none() {
                let chosen = crate::variant::Shredding::infer(table, &batch);
                file_schema = chosen.file_schema(table)?;
                props = with_sorting_columns(table, &file_schema, props)?;
                shredding = Some(chosen);
            }
            let shredding = shredding.as_ref().expect("chosen above");
            Some(crate::variant::to_variant_batch(
                table,
                shredding,
                &batch,
                &file_schema,
            )?)
        } else {
            None
        };
        if current.is_none() {
            let path = staging.join(layout::part_file_name(parts.len()));
            let writer = ParallelWriter::try_new(
                File::create(&path)?,
                file_schema.clone(),
                props.clone(),
                threads,
            )?;
            current = Some((writer, path, 0));
        }
        let (writer, _, rows) = current.as_mut().expect("opened above");
        *rows += chunk.num_rows() as u64;
        match variant {
            Some(batch) => writer.write(batch)?,
            None => writer.write(chunk)?,
        }
        // Without a target size, the writer is not asked how far it is: that waits for every
        // batch queued to be encoded.
        if target_file_bytes < u64::MAX
            && writer.bytes_written() as u64 + writer.in_progress_size()? as u64
                >= target_file_bytes
        {
            let (writer, path, rows) = current.take().expect("open");
            parts.push(close(writer, path, rows)?);
        }
    }
    if let Some((writer, path, rows)) = current.take() {
        parts.push(close(writer, path, rows)?);
    }
    Ok(parts)
}

fn close(writer: ParallelWriter<File>, path: PathBuf, rows: u64) -> Result<StagedPart, SinkError> {
    writer.close()?;
    let bytes = std::fs::metadata(&path)?.len();
    Ok(StagedPart { path, rows, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_parse() {
        assert_eq!("zstd".parse::<Codec>(), Ok(Codec::Zstd(DEFAULT_ZSTD_LEVEL)));
        assert_eq!("zstd:9".parse::<Codec>(), Ok(Codec::Zstd(9)));
        assert_eq!("none".parse::<Codec>(), Ok(Codec::Uncompressed));
        assert!("brotli".parse::<Codec>().is_err());
    }

    #[test]
    fn column_paths_reach_nested_leaves() {
        assert_eq!(
            column_path(&schema::EVENTS, "userIdentity.arn")
                .unwrap()
                .string(),
            "userIdentity.arn"
        );
        assert_eq!(
            column_path(&schema::EVENTS, "resources.ARN")
                .unwrap()
                .string(),
            "resources.list.element.ARN"
        );
        assert!(column_path(&schema::EVENTS, "userIdentity").is_none());
        assert!(column_path(&schema::EVENTS, "nope").is_none());
    }

    #[test]
    fn default_options_build() {
        for table in schema::TABLES {
            ParquetOptions::default().writer_properties(table).unwrap();
        }
        let bad = ParquetOptions {
            bloom_filter_columns: Some(vec!["userIdentity.nope".into()]),
            ..Default::default()
        };
        assert!(
            bad.writer_properties(&schema::EVENTS)
                .unwrap_err()
                .contains("userIdentity.nope")
        );
    }
}
