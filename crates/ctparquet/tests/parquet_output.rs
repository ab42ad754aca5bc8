//! The Parquet itself: logical types, sort order metadata, statistics and bloom filters that
//! answer correctly, options honoured.

mod common;

use std::fs::File;

use common::*;
use ctparquet::ConvertOptions;
use ctparquet::schema::JsonColumns;
use ctparquet::sink::Codec;
use ctparquet_gen::{GenOptions, generate};
use parquet::basic::{Compression, LogicalType};
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;

fn converted(
    opts: impl FnOnce(&mut ConvertOptions),
) -> (tempfile::TempDir, Vec<std::path::PathBuf>) {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate(
        &src,
        &GenOptions {
            days: 1,
            files_per_day: 48,
            events_per_file: 50,
            ..Default::default()
        },
    )
    .unwrap();
    let day = date("2026-01-04");
    let mut o = ConvertOptions::days(day, day);
    opts(&mut o);
    convert(&src, &work.path().join("out"), &o);
    let files = parquet_files(&work.path().join("out"));
    (work, files)
}

fn reader(path: &std::path::Path) -> SerializedFileReader<File> {
    let opts = ReadOptionsBuilder::new()
        .with_reader_properties(
            ReaderProperties::builder()
                .set_read_bloom_filter(true)
                .build(),
        )
        .with_page_index()
        .build();
    SerializedFileReader::new_with_options(File::open(path).unwrap(), opts).unwrap()
}

#[test]
fn json_columns_json_writes_the_json_logical_type() {
    let (_work, files) = converted(|o| o.parquet.json_columns = JsonColumns::Json);
    let r = reader(&files[0]);
    let schema = r.metadata().file_metadata().schema_descr();
    for column in ["requestParameters", "responseElements", "unmapped"] {
        let i = (0..schema.num_columns())
            .find(|&i| schema.column(i).path().string() == column)
            .unwrap();
        assert_eq!(
            schema.column(i).logical_type_ref(),
            Some(&LogicalType::Json),
            "{column}"
        );
    }
}

#[test]
fn json_columns_variant_writes_shredded_variants_sorted_and_the_same_every_run() {
    let (_work, files) = converted(|o| o.parquet.json_columns = JsonColumns::Variant);
    let r = reader(&files[0]);
    let meta = r.metadata();
    let schema = meta.file_metadata().schema_descr();
    let root = schema.root_schema();
    let group = |name: &str| {
        root.get_fields()
            .iter()
            .find(|f| f.name() == name)
            .unwrap()
            .clone()
    };
    for column in ["requestParameters", "responseElements", "eventContext"] {
        assert!(
            matches!(
                group(column).get_basic_info().logical_type_ref(),
                Some(LogicalType::Variant(_))
            ),
            "{column}"
        );
    }
    let leaves: Vec<String> = (0..schema.num_columns())
        .map(|i| schema.column(i).path().string())
        .collect();
    assert!(leaves.contains(&"requestParameters.typed_value.bucketName.typed_value".to_string()));
    assert!(leaves.contains(&"eventContext.value".to_string()));
    // `unmapped` stays text; the sort columns are named by their leaves in this layout too.
    let unmapped = leaves.iter().position(|l| l == "unmapped").unwrap();
    assert_eq!(
        schema.column(unmapped).logical_type_ref(),
        Some(&LogicalType::String)
    );
    let sorting = meta.row_group(0).sorting_columns().unwrap();
    assert_eq!(leaves[sorting[0].column_idx as usize], "eventTime");
    assert_eq!(leaves[sorting[1].column_idx as usize], "eventID");
    // The shredded member has statistics a reader prunes with; the binary value has none.
    let rg = meta.row_group(0);
    let stats = |path: &str| {
        rg.column(leaves.iter().position(|l| l == path).unwrap())
            .statistics()
            .cloned()
    };
    assert!(stats("requestParameters.typed_value.bucketName.typed_value").is_some());
    assert!(stats("requestParameters.value").is_none());
    // Every record rebuilds as the source had it, and a second run writes the same bytes.
    let (_again, again) = converted(|o| o.parquet.json_columns = JsonColumns::Variant);
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        std::fs::read(&again[0]).unwrap()
    );
}

#[test]
fn defaults_write_text_json_columns_sort_order_page_index_and_working_bloom_filters() {
    let (_work, files) = converted(|_| {});
    assert_eq!(files.len(), 1);
    let r = reader(&files[0]);
    let meta = r.metadata();
    let schema = meta.file_metadata().schema_descr();
    let leaf = |path: &str| {
        (0..schema.num_columns())
            .find(|&i| schema.column(i).path().string() == path)
            .unwrap()
    };
    // Free-form objects are plain text by default (every reader's string functions take them);
    // timestamps in milliseconds, UTC.
    for column in ["requestParameters", "unmapped"] {
        assert_eq!(
            schema.column(leaf(column)).logical_type_ref(),
            Some(&LogicalType::String),
            "{column}"
        );
    }
    match schema.column(leaf("eventTime")).logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => {
            assert!(t.is_adjusted_to_u_t_c);
            assert!(matches!(t.unit, parquet::basic::TimeUnit::MILLIS));
        }
        other => panic!("eventTime is {other:?}"),
    }
    let rg = meta.row_group(0);
    let sorting = rg.sorting_columns().unwrap();
    assert_eq!(
        schema
            .column(sorting[0].column_idx as usize)
            .path()
            .string(),
        "eventTime"
    );
    assert_eq!(
        schema
            .column(sorting[1].column_idx as usize)
            .path()
            .string(),
        "eventID"
    );
    assert!(matches!(rg.column(0).compression(), Compression::ZSTD(_)));
    // The page index: an offset index for every column, a column index (page statistics) for
    // every column but the JSON documents and `unmapped` (their min and max prune nothing).
    for c in rg.columns() {
        let top = c.column_path().parts()[0].as_str();
        let document = top == ctparquet::schema::UNMAPPED
            || ctparquet::schema::EVENTS
                .fields
                .iter()
                .any(|f| f.name == top && matches!(f.kind, ctparquet::schema::Kind::Json));
        assert!(c.offset_index_range().is_some(), "{top}");
        assert_eq!(c.column_index_range().is_some(), !document, "{top}");
        assert_eq!(c.statistics().is_some(), !document, "{top}");
    }
    let kv = meta.file_metadata().key_value_metadata().unwrap();
    assert!(kv.iter().any(|k| k.key == "ctparquet.version"));

    // Bloom filters: every present value passes, absent ones are (almost always) excluded.
    let rows = read_output(_work.path().join("out").as_path());
    let group = r.get_row_group(0).unwrap();
    for (column, json_path) in [
        ("eventName", vec!["eventName"]),
        ("eventSource", vec!["eventSource"]),
        ("eventID", vec!["eventID"]),
        ("sourceIPAddress", vec!["sourceIPAddress"]),
        ("userIdentity.arn", vec!["userIdentity", "arn"]),
        (
            "userIdentity.accessKeyId",
            vec!["userIdentity", "accessKeyId"],
        ),
    ] {
        let bloom = group
            .get_column_bloom_filter(leaf(column))
            .unwrap_or_else(|| panic!("{column} has no bloom filter"));
        for row in &rows {
            let value = json_path.iter().try_fold(&row.record, |v, k| v.get(k));
            if let Some(s) = value.and_then(|v| v.as_str()) {
                assert!(bloom.check(&s), "{column} bloom filter misses {s}");
            }
        }
        let absent = (0..200)
            .filter(|i| bloom.check(&format!("absent-value-{i}").as_str()))
            .count();
        assert!(absent <= 10, "{column}: {absent} of 200 absent values pass");
    }
}

#[test]
fn options_are_honoured() {
    let (_work, files) = converted(|o| {
        o.parquet.compression = Codec::Snappy;
        o.parquet.row_group_rows = 500;
        o.parquet.bloom_filter_columns = Some(vec![]);
        o.parquet.statistics = ctparquet::sink::Statistics::Chunk;
    });
    let r = reader(&files[0]);
    let meta = r.metadata();
    assert!(meta.num_row_groups() > 1);
    assert!(meta.row_groups().iter().all(|rg| rg.num_rows() <= 500));
    assert_eq!(
        meta.row_group(0).column(0).compression(),
        Compression::SNAPPY
    );
    let group = r.get_row_group(0).unwrap();
    assert!(
        (0..meta.row_group(0).num_columns()).all(|i| group.get_column_bloom_filter(i).is_none())
    );
    // Row groups are time-ordered, so their eventTime statistics do not overlap.
    let schema = meta.file_metadata().schema_descr();
    let t = (0..schema.num_columns())
        .find(|&i| schema.column(i).path().string() == "eventTime")
        .unwrap();
    let ranges: Vec<(i64, i64)> = meta
        .row_groups()
        .iter()
        .map(|rg| match rg.column(t).statistics().unwrap() {
            parquet::file::statistics::Statistics::Int64(s) => {
                (*s.min_opt().unwrap(), *s.max_opt().unwrap())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "{ranges:?}");
}

#[test]
fn dictionaries_where_they_pay() {
    use parquet::basic::Encoding;
    let (_work, files) = converted(|_| {});
    let r = reader(&files[0]);
    let meta = r.metadata();
    let schema = meta.file_metadata().schema_descr();
    let encodings = |path: &str| {
        let i = (0..schema.num_columns())
            .find(|&i| schema.column(i).path().string() == path)
            .unwrap();
        meta.row_group(0).column(i).encodings().collect::<Vec<_>>()
    };
    // Unique per row: no dictionary, lengths apart from the bytes.
    for path in ["eventID", "requestID"] {
        let e = encodings(path);
        assert!(
            e.contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY),
            "{path}: {e:?}"
        );
        assert!(!e.contains(&Encoding::RLE_DICTIONARY), "{path}: {e:?}");
    }
    // JSON documents and repeated strings: dictionary encoded, without a plain fallback.
    for path in ["requestParameters", "eventName", "userIdentity.arn"] {
        let e = encodings(path);
        assert!(e.contains(&Encoding::RLE_DICTIONARY), "{path}: {e:?}");
        assert!(
            !e.contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY),
            "{path}: {e:?}"
        );
    }
}
