//! Every file of `tests/data/real-cloudtrail` goes through the converter: every event is written
//! (and rebuilds to its source record exactly), dropped as a duplicate, or reported; every file
//! that is not a CloudTrail log is reported bad by name.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};
use common::*;
use ctparquet::ConvertOptions;
use serde_json::Value;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const LATENESS: u32 = 1;

/// Where undated events are delivered in the tree built for the test.
fn undated_folder() -> NaiveDate {
    date("2020-01-01")
}

/// A source record and the date folder the harness put it in.
struct Placed {
    record: Value,
    folder: NaiveDate,
    origin: String,
}

#[derive(Default)]
struct RealTree {
    placed: Vec<Placed>,
    /// Tree file names that must be reported bad.
    expected_bad: BTreeSet<String>,
    /// Source files used, for the record.
    sources: Vec<PathBuf>,
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A folder of the tree, made if missing.
fn ensure_dir(dir: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn latest_day(records: &[Value]) -> NaiveDate {
    records
        .iter()
        .filter_map(event_day)
        .max()
        .unwrap_or_else(undated_folder)
}

fn tree_name(i: usize, path: &Path) -> String {
    let stem: String = path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{i:03}{stem}")
}

/// Lay every real file out as CloudTrail would have delivered it.
fn build_real_tree(root: &Path) -> RealTree {
    let data = real_data_dir();
    assert!(
        data.is_dir(),
        "the real corpus is missing at {}",
        data.display()
    );
    let mut tree = RealTree::default();
    for (i, path) in files_under(&data).into_iter().enumerate() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "README.md" || name.ends_with(".tsv") {
            continue;
        }
        tree.sources.push(path.clone());
        let origin = path.strip_prefix(&data).unwrap().display().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let place = |records: Vec<Value>, folder: NaiveDate, tree: &mut RealTree| {
            for record in records {
                tree.placed.push(Placed {
                    record,
                    folder,
                    origin: origin.clone(),
                });
            }
        };
        if name.ends_with(".json.gz") {
            let json: Value = serde_json::from_slice(&gunzip(&bytes)).unwrap();
            let records = json["Records"].as_array().unwrap().clone();
            let rel = path.to_string_lossy().to_string();
            if let Some(at) = rel.find("/AWSLogs/") {
                // A real delivery tree: keep its layout (organization trails included).
                let target = root.join(&rel[at + 1..]);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(&target, &bytes).unwrap();
                let parts: Vec<&str> = rel[at + 1..].split('/').collect();
                let n = parts.len();
                let folder = NaiveDate::from_ymd_opt(
                    parts[n - 4].parse().unwrap(),
                    parts[n - 3].parse().unwrap(),
                    parts[n - 2].parse().unwrap(),
                )
                .unwrap();
                place(records, folder, &mut tree);
            } else {
                let folder = latest_day(&records);
                let dir = ensure_dir(date_dir(root, ACCOUNT, REGION, folder));
                std::fs::write(dir.join(format!("{}.json.gz", tree_name(i, &path))), &bytes)
                    .unwrap();
                place(records, folder, &mut tree);
            }
            continue;
        }
        let whole: Result<Value, _> = serde_json::from_slice(&bytes);
        match whole {
            Ok(Value::Object(obj)) if obj.get("Records").is_some_and(Value::is_array) => {
                // A delivery file kept uncompressed: copy its exact bytes.
                let records = obj["Records"].as_array().unwrap().clone();
                let folder = latest_day(&records);
                let dir = ensure_dir(date_dir(root, ACCOUNT, REGION, folder));
                std::fs::write(dir.join(format!("{}.json", tree_name(i, &path))), &bytes).unwrap();
                place(records, folder, &mut tree);
            }
            Ok(Value::Object(obj)) => {
                let record = Value::Object(obj);
                let folder = event_day(&record).unwrap_or_else(undated_folder);
                write_delivery(
                    root,
                    ACCOUNT,
                    REGION,
                    folder,
                    &tree_name(i, &path),
                    std::slice::from_ref(&record),
                );
                place(vec![record], folder, &mut tree);
            }
            Ok(_) => {
                // Test-fixture wrappers (JSON arrays): not log files. Their events are in the
                // extracted NDJSON beside them; the converter must refuse the file by name.
                let dir = ensure_dir(date_dir(root, ACCOUNT, REGION, date("2020-01-02")));
                let file = format!("{}.json", tree_name(i, &path));
                std::fs::write(dir.join(&file), &bytes).unwrap();
                tree.expected_bad.insert(file);
            }
            Err(_) => {
                let lines: Option<Vec<Value>> = std::str::from_utf8(&bytes).ok().and_then(|text| {
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| {
                            serde_json::from_str::<Value>(l)
                                .ok()
                                .filter(Value::is_object)
                        })
                        .collect()
                });
                match lines {
                    Some(records) => {
                        // NDJSON of events: deliver each on its own day, as CloudTrail would.
                        let mut by_folder: BTreeMap<NaiveDate, Vec<Value>> = BTreeMap::new();
                        for r in records {
                            by_folder
                                .entry(event_day(&r).unwrap_or_else(undated_folder))
                                .or_default()
                                .push(r);
                        }
                        for (folder, records) in by_folder {
                            write_delivery(
                                root,
                                ACCOUNT,
                                REGION,
                                folder,
                                &tree_name(i, &path),
                                &records,
                            );
                            place(records, folder, &mut tree);
                        }
                    }
                    None => {
                        // Broken JSON: delivered as is, must be reported bad.
                        let dir = ensure_dir(date_dir(root, ACCOUNT, REGION, date("2020-01-02")));
                        let file = format!("{}.json", tree_name(i, &path));
                        std::fs::write(dir.join(&file), &bytes).unwrap();
                        tree.expected_bad.insert(file);
                    }
                }
            }
        }
    }
    tree
}

#[test]
fn every_real_event_is_accounted_for_and_rebuilds_exactly() {
    let work = tempfile::tempdir().unwrap();
    let (source, dest) = (work.path().join("src"), work.path().join("out"));
    let tree = build_real_tree(&source);
    assert!(
        tree.sources.len() > 100,
        "found {} real files",
        tree.sources.len()
    );
    assert!(
        tree.placed.len() > 5_000,
        "found {} real events",
        tree.placed.len()
    );

    let days: Vec<NaiveDate> = tree.placed.iter().map(|p| p.folder).collect();
    let from = *days.iter().min().unwrap() - Days::new(1);
    let to = *days.iter().max().unwrap();
    let mut opts = ConvertOptions::days(from, to);
    opts.scope.lateness_days = LATENESS;
    opts.skip_bad_files = true;
    let summary = convert(&source, &dest, &opts);

    eprintln!(
        "real data: {} files, {} events read, {} written, {} duplicates, {} undated, {} outside, bad: {:?}",
        tree.sources.len(),
        summary.events_read,
        summary.events_written,
        summary.duplicates_dropped,
        summary.undated_events,
        summary.outside_range.iter().map(|o| o.events).sum::<u64>(),
        summary.bad_files
    );
    // Bad files: exactly the broken ones, each named with a reason.
    let bad: BTreeSet<String> = summary
        .bad_files
        .iter()
        .map(|b| b.file.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        bad, tree.expected_bad,
        "bad files: {:#?}",
        summary.bad_files
    );
    assert!(
        tree.expected_bad.len() >= 2,
        "the real data has broken files"
    );
    for b in &summary.bad_files {
        assert!(!b.error.is_empty() && b.file.contains("AWSLogs/"), "{b:?}");
    }

    // Totals: every event read is written, a duplicate, or reported outside the range.
    assert_eq!(summary.events_read as usize, tree.placed.len());
    assert!(summary.accounted_for(), "{summary:#?}");

    // Record level: rows rebuild exactly to source records; nothing extra, nothing missing.
    let rows = read_output(&dest);
    assert_eq!(rows.len() as u64, summary.events_written);
    let mut output: HashMap<String, usize> = HashMap::new();
    let mut kept_keys: BTreeSet<(String, String)> = BTreeSet::new();
    for row in &rows {
        *output.entry(canonical(&row.record)).or_default() += 1;
        if let (Some(id), Some(t)) = (row.record.get("eventID"), row.record.get("eventTime")) {
            kept_keys.insert((canonical(id), canonical(t)));
        }
        // Each row is in the day of its eventTime (undated ones: their delivery day).
        if let Some(day) = event_day(&row.record) {
            assert_eq!(row.date, day, "{}", canonical(&row.record));
        }
        assert_eq!((row.account.len(), row.region.is_empty()), (12, false));
    }
    let mut duplicates = 0;
    let mut outside = 0;
    for placed in &tree.placed {
        let day = event_day(&placed.record).unwrap_or(placed.folder);
        let in_window = day <= placed.folder && day + Days::new(LATENESS.into()) >= placed.folder;
        let key = canonical(&placed.record);
        match output.get_mut(&key) {
            Some(n) if *n > 0 => {
                assert!(in_window, "written from outside its window: {key}");
                *n -= 1;
            }
            _ if !in_window => outside += 1,
            _ => {
                let id = placed.record.get("eventID").map(canonical);
                let t = placed.record.get("eventTime").map(canonical);
                match (id, t) {
                    (Some(id), Some(t)) if kept_keys.contains(&(id.clone(), t.clone())) => {
                        duplicates += 1
                    }
                    _ => panic!("event from {} lost:\n{key}", placed.origin),
                }
            }
        }
    }
    let extra: Vec<_> = output.iter().filter(|(_, n)| **n > 0).collect();
    assert!(
        extra.is_empty(),
        "rows that match no source record: {extra:#?}"
    );
    assert_eq!(duplicates, summary.duplicates_dropped);
    let reported_outside: u64 = summary.outside_range.iter().map(|o| o.events).sum();
    assert_eq!(outside, reported_outside);

    // And `verify`, which re-reads the sources as plain JSON, agrees.
    let mut vopts = ctparquet::verify::VerifyOptions::days(from, to);
    vopts.scope.lateness_days = LATENESS;
    let report = verify_local(&source, &dest, &vopts);
    assert!(report.differences.is_empty(), "{:#?}", report.differences);
    assert_eq!(report.bad_files.len(), tree.expected_bad.len());
    assert_eq!(report.destination_rows, summary.events_written);

    // The JSON columns as VARIANT hold the same records: `verify` proves it against the sources.
    let variant = work.path().join("variant");
    opts.parquet.json_columns = ctparquet::schema::JsonColumns::Variant;
    let summary = convert(&source, &variant, &opts);
    let report = verify_local(&source, &variant, &vopts);
    assert!(report.differences.is_empty(), "{:#?}", report.differences);
    assert_eq!(report.destination_rows, summary.events_written);
}
