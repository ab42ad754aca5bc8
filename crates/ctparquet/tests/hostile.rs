//! The hostile-input corpus (tests/corpus/hostile, described by tests/corpus/hostile.json): each
//! file gets its expected outcome, nothing panics, and no other file's events are lost.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use ctparquet::ConvertOptions;
use serde_json::{Value, json};

const A: &str = "111122223333";

fn corpus() -> (std::path::PathBuf, BTreeMap<String, Value>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let manifest: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("hostile.json")).unwrap()).unwrap();
    (dir.join("hostile"), manifest)
}

fn build_tree(root: &Path) -> BTreeMap<String, Value> {
    let (files, manifest) = corpus();
    let folder = date_dir(root, A, "us-east-1", date("2026-03-01"));
    std::fs::create_dir_all(&folder).unwrap();
    for name in manifest.keys() {
        std::fs::copy(files.join(name), folder.join(name)).unwrap();
    }
    // A good file beside them: its events must all arrive.
    write_delivery(
        root,
        A,
        "us-east-1",
        date("2026-03-01"),
        "canary",
        &[
            json!({"eventID": "canary-1", "eventTime": "2026-03-01T01:00:00Z"}),
            json!({"eventID": "canary-2", "eventTime": "2026-03-01T02:00:00Z"}),
        ],
    );
    manifest
}

fn sum(manifest: &BTreeMap<String, Value>, key: &str) -> u64 {
    manifest.values().filter_map(|e| e.get(key)?.as_u64()).sum()
}

#[test]
fn every_hostile_file_gets_its_outcome_and_nothing_else_is_lost() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let manifest = build_tree(&src);
    let day = date("2026-03-01");
    let mut opts = ConvertOptions::days(day, day);
    opts.skip_bad_files = true;
    opts.memory_budget_bytes = 4 * 1024 * 1024;
    let dest = work.path().join("out");
    let summary = convert(&src, &dest, &opts);

    let bad: BTreeMap<String, String> = summary
        .bad_files
        .iter()
        .map(|b| {
            (
                b.file.rsplit('/').next().unwrap().to_string(),
                b.error.clone(),
            )
        })
        .collect();
    let expected_bad: BTreeMap<&String, &str> = manifest
        .iter()
        .filter_map(|(name, e)| Some((name, e.get("bad")?.as_str()?)))
        .collect();
    assert_eq!(
        bad.keys().collect::<Vec<_>>(),
        expected_bad.keys().copied().collect::<Vec<_>>(),
        "{bad:#?}"
    );
    for (name, want) in expected_bad {
        assert!(
            bad[name].contains(want),
            "{name}: {:?} does not say {want:?}",
            bad[name]
        );
    }
    assert_eq!(summary.ignored_objects, 1);
    assert_eq!(summary.events_written, sum(&manifest, "events") + 2);
    assert_eq!(summary.undated_events, sum(&manifest, "undated"));
    assert_eq!(
        summary.outside_range.iter().map(|o| o.events).sum::<u64>(),
        sum(&manifest, "outside")
    );
    assert!(summary.accounted_for());

    // Every written row rebuilds to a record of the corpus (or the canary).
    let rows = read_output(&dest);
    assert_eq!(rows.len() as u64, summary.events_written);
    assert!(rows.iter().any(|r| r.record["eventID"] == "canary-2"));
    let big = rows
        .iter()
        .find(|r| r.record["eventID"] == "hostile-13")
        .unwrap();
    assert_eq!(
        big.record["requestParameters"].as_object().unwrap().len(),
        100_000
    );
    let v2 = rows
        .iter()
        .find(|r| r.record["eventID"] == "hostile-10")
        .unwrap();
    assert_eq!(v2.record["eventVersion"], "2.0");
    assert_eq!(v2.record["newField"], json!({"x": 1}));

    // Without --skip-bad-files the day is not written at all.
    let strict_dest = work.path().join("strict");
    let strict = convert(&src, &strict_dest, &ConvertOptions::days(day, day));
    assert_eq!(strict.failed_days.len(), 1);
    assert!(parquet_files(&strict_dest).is_empty());
    assert!(strict.accounted_for());
}

#[test]
fn a_gzip_bomb_is_refused_by_the_size_limit() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let folder = date_dir(&src, A, "us-east-1", date("2026-03-01"));
    std::fs::create_dir_all(&folder).unwrap();
    let mut body = br#"{"Records":[{"eventID":"x","requestParameters":""#.to_vec();
    body.resize(body.len() + 64 * 1024 * 1024, b'a');
    body.extend_from_slice(br#""}]}"#);
    std::fs::write(folder.join("bomb.json.gz"), gzip(&body)).unwrap();
    let day = date("2026-03-01");
    let mut opts = ConvertOptions::days(day, day);
    opts.skip_bad_files = true;
    opts.max_file_bytes = 16 * 1024 * 1024;
    let summary = convert(&src, &work.path().join("out"), &opts);
    assert_eq!(summary.bad_files.len(), 1);
    assert!(
        summary.bad_files[0].error.contains("exceeds the limit"),
        "{:?}",
        summary.bad_files
    );
}
