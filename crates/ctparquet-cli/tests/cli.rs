//! The binary as a user runs it: exit codes, messages, JSON summary.

use std::path::Path;
use std::process::{Command, Output};

fn ctparquet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctparquet"))
        .args(args)
        .output()
        .unwrap()
}

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/sample-trail")
        .display()
        .to_string()
}

#[test]
fn converts_the_shipped_sample_and_prints_a_json_summary() {
    let out_dir = tempfile::tempdir().unwrap();
    let dest = out_dir.path().join("out").display().to_string();
    let out = ctparquet(&[
        "convert",
        &sample(),
        &dest,
        "--from",
        "2026-01-04",
        "--to",
        "2026-01-05",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["days"].as_array().unwrap().len(), 8);
    assert!(summary["events_written"].as_u64().unwrap() > 1000);
    assert!(summary["duplicates_dropped"].as_u64().unwrap() > 0);
    assert!(summary["events_per_second"].as_f64().unwrap() > 0.0);

    let out = ctparquet(&["inspect", &dest]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("8 partition(s)"), "{text}");
    assert!(
        text.contains("111122223333   eu-west-1        2026-01-04"),
        "{text}"
    );
}

#[test]
fn a_bad_file_fails_with_its_name_and_exit_code_2() {
    let work = tempfile::tempdir().unwrap();
    let dir = work
        .path()
        .join("src/AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/04");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("111122223333_CloudTrail_us-east-1_20260104T0000Z_bad.json.gz"),
        b"not gzip at all",
    )
    .unwrap();
    let src = work.path().join("src").display().to_string();
    let dest = work.path().join("out").display().to_string();
    let out = ctparquet(&["convert", &src, &dest, "--date", "2026-01-04"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("_bad.json.gz: neither gzip nor JSON"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--skip-bad-files"));
    let out = ctparquet(&[
        "convert",
        &src,
        &dest,
        "--date",
        "2026-01-04",
        "--skip-bad-files",
    ]);
    assert!(out.status.success());
}

#[test]
fn usage_errors_are_explained() {
    let out = ctparquet(&[
        "convert",
        "/nonexistent/source",
        "/tmp/x",
        "--date",
        "2026-01-04",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("opening SOURCE") && err.contains("/nonexistent/source"),
        "{err}"
    );

    let out = ctparquet(&[
        "convert",
        "a",
        "b",
        "--date",
        "2026-01-04",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-02",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));

    let out = ctparquet(&[
        "convert",
        "a",
        "b",
        "--date",
        "2026-01-04",
        "--bloom-filter-columns",
        "userIdentity.nope",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("userIdentity.nope"));

    let out = ctparquet(&["convert", "a", "b", "--date", "2026-13-04"]);
    assert!(!out.status.success());
}
