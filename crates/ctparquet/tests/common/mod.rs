//! Helpers shared by the integration tests: building delivery trees, reading output back.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ctparquet::rebuild::rebuild_batch;
use ctparquet::time::{day_of_millis, parse_event_time};
use ctparquet::{ConvertOptions, Location, NoProgress, Summary};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// The real CloudTrail corpus kept in the repository (tests/data/real-cloudtrail).
pub fn real_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/real-cloudtrail")
}

/// A record as a canonical string (serde_json sorts object keys).
pub fn canonical(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

/// The UTC day a record belongs to, as the converter decides it.
pub fn event_day(record: &Value) -> Option<NaiveDate> {
    let text = record.get("eventTime")?.as_str()?;
    parse_event_time(text).map(|t| day_of_millis(t.millis()))
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The folder of a trail's delivery date.
pub fn date_dir(root: &Path, account: &str, region: &str, date: NaiveDate) -> PathBuf {
    root.join("AWSLogs")
        .join(account)
        .join("CloudTrail")
        .join(region)
        .join(date.format("%Y/%m/%d").to_string())
}

/// Write a delivery file of `records` into a trail's date folder.
pub fn write_delivery(
    root: &Path,
    account: &str,
    region: &str,
    date: NaiveDate,
    name: &str,
    records: &[Value],
) -> PathBuf {
    let dir = date_dir(root, account, region, date);
    std::fs::create_dir_all(&dir).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    let path = dir.join(format!(
        "{account}_CloudTrail_{region}_{}T0000Z_{name}.json.gz",
        date.format("%Y%m%d")
    ));
    std::fs::write(&path, gzip(&body)).unwrap();
    path
}

/// One row of output, rebuilt, with the partition it was found in.
#[derive(Debug, Clone)]
pub struct OutputRow {
    pub account: String,
    pub region: String,
    pub date: NaiveDate,
    pub file: PathBuf,
    pub record: Value,
}

/// Every Parquet file under `dest`, in path order.
pub fn parquet_files(dest: &Path) -> Vec<PathBuf> {
    files_ending(dest, ".parquet")
}

/// The files under `dir` whose names end with `suffix`, sorted.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, suffix, out);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, suffix, &mut out);
    out.sort();
    out
}

/// Every file under `dir`, as a path relative to it, sorted (saved conversions included).
pub fn all_files(dir: &Path) -> Vec<String> {
    files_ending(dir, "")
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().to_string())
        .collect()
}

/// Read back and rebuild every row under `dest` (events table).
pub fn read_output(dest: &Path) -> Vec<OutputRow> {
    read_table(dest, &ctparquet::schema::EVENTS)
}

/// Read back and rebuild every row of a table under `dest`.
pub fn read_table(dest: &Path, table: &ctparquet::schema::Table) -> Vec<OutputRow> {
    let mut rows = Vec::new();
    for file in parquet_files(dest) {
        let rel = file
            .strip_prefix(dest)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let (account, region, date) =
            ctparquet::layout::parse_partition(&rel).expect("partition path");
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            for record in rebuild_batch(table, &batch.unwrap()).unwrap() {
                rows.push(OutputRow {
                    account: account.clone(),
                    region: region.clone(),
                    date,
                    file: file.clone(),
                    record,
                });
            }
        }
    }
    rows
}

/// Run a conversion of local folders.
pub fn convert(source: &Path, dest: &Path, opts: &ConvertOptions) -> Summary {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let source = Location::local(source.to_str().unwrap(), false).unwrap();
        let dest = Location::local(dest.to_str().unwrap(), true).unwrap();
        ctparquet::convert(&source, &dest, opts, &NoProgress)
            .await
            .unwrap()
    })
}

/// Run `verify` over local folders.
pub fn verify_local(
    source: &Path,
    dest: &Path,
    opts: &ctparquet::verify::VerifyOptions,
) -> ctparquet::verify::VerifyReport {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let source = Location::local(source.to_str().unwrap(), false).unwrap();
        let dest = Location::local(dest.to_str().unwrap(), false).unwrap();
        ctparquet::verify::verify(&source, &dest, opts)
            .await
            .unwrap()
    })
}

/// Every byte of every file under `dest`, by relative path.
pub fn snapshot(dest: &Path) -> BTreeMap<String, Vec<u8>> {
    parquet_files(dest)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dest).unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

pub fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}
