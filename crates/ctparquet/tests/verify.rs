//! `verify` passes on converted days and reports precisely a tampered value, a dropped row and an
//! added row.

mod common;

use std::fs::File;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use common::*;
use ctparquet::ConvertOptions;
use ctparquet::verify::{DifferenceKind, VerifyOptions};
use ctparquet_gen::{GenOptions, generate};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn replace_column(batch: &RecordBatch, name: &str, column: ArrayRef) -> RecordBatch {
    let i = batch.schema().index_of(name).unwrap();
    let mut columns = batch.columns().to_vec();
    columns[i] = column;
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

#[test]
fn verify_passes_then_reports_a_changed_value_a_dropped_row_and_an_added_row() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate(
        &src,
        &GenOptions {
            days: 2,
            files_per_day: 24,
            duplicate_fraction: 0.05,
            ..Default::default()
        },
    )
    .unwrap();
    let dest = work.path().join("out");
    let day = date("2026-01-04");
    convert(&src, &dest, &ConvertOptions::days(day, day));
    let opts = VerifyOptions::days(day, day);
    let clean = verify_local(&src, &dest, &opts);
    assert!(clean.passed(), "{:#?}", clean.differences);
    assert!(clean.source_events > 400 && clean.destination_rows == clean.source_events);

    // Tamper with the day's file.
    let file = parquet_files(&dest).into_iter().next().unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&file).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let batch = concat_batches(&batches[0].schema(), &batches).unwrap();
    let ids = batch
        .column_by_name("eventID")
        .unwrap()
        .as_string::<i32>()
        .clone();
    let (changed_id, dropped_id) = (
        ids.value(0).to_string(),
        ids.value(ids.len() - 1).to_string(),
    );
    let names = batch
        .column_by_name("eventName")
        .unwrap()
        .as_string::<i32>();
    let tampered: StringArray = (0..names.len())
        .map(|i| {
            if i == 0 {
                Some("Tampered")
            } else {
                names.is_valid(i).then(|| names.value(i))
            }
        })
        .collect();
    let batch = replace_column(&batch, "eventName", Arc::new(tampered));
    let kept = batch.slice(0, batch.num_rows() - 1);
    let extra = replace_column(
        &batch.slice(1, 1),
        "eventID",
        Arc::new(StringArray::from(vec!["not-a-source-event"])),
    );
    let mut writer =
        ArrowWriter::try_new(File::create(&file).unwrap(), batch.schema(), None).unwrap();
    writer.write(&kept).unwrap();
    writer.write(&extra).unwrap();
    writer.close().unwrap();

    let report = verify_local(&src, &dest, &opts);
    assert!(!report.passed());
    let mut found: Vec<(DifferenceKind, String, Option<String>)> = report
        .differences
        .iter()
        .map(|d| (d.kind, d.event.clone(), d.field.clone()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (DifferenceKind::Missing, dropped_id, None),
            (
                DifferenceKind::Extra,
                "not-a-source-event".to_string(),
                None
            ),
            (
                DifferenceKind::Changed,
                changed_id,
                Some("$.eventName".to_string())
            ),
            // The added row (a copy of the second, appended last) breaks the file's order.
            (DifferenceKind::Unsorted, file.display().to_string(), None),
        ]
    );
    let changed = report
        .differences
        .iter()
        .find(|d| d.kind == DifferenceKind::Changed)
        .unwrap();
    assert!(
        changed.detail.contains("\"Tampered\""),
        "{}",
        changed.detail
    );
}
