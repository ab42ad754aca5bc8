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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn convert_sample(source: &str, extra: &[&str]) -> Output {
    let out_dir = tempfile::tempdir().unwrap();
    let dest = out_dir.path().join("out").display().to_string();
    let mut args = vec!["convert", source, &dest, "--date", "2026-01-05"];
    args.extend_from_slice(extra);
    ctparquet(&args)
}

#[test]
fn a_source_one_level_too_deep_is_an_error_naming_the_fix() {
    let aws_logs = format!("{}/AWSLogs", sample());
    let out = convert_sample(&aws_logs, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("looks like the AWSLogs folder itself") && err.contains(&sample()),
        "{err}"
    );
    let account = format!("{}/AWSLogs/111122223333", sample());
    let err = stderr(&convert_sample(&account, &[]));
    assert!(err.contains("an account folder inside AWSLogs/"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let out = convert_sample(&empty.path().display().to_string(), &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is empty or does not exist"));
    // verify and backfill say the same instead of checking or converting nothing.
    let lake = empty.path().join("lake");
    std::fs::create_dir(&lake).unwrap();
    let lake = lake.display().to_string();
    for args in [
        vec![
            "verify",
            aws_logs.as_str(),
            lake.as_str(),
            "--date",
            "2026-01-05",
        ],
        vec![
            "backfill",
            aws_logs.as_str(),
            lake.as_str(),
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-05",
        ],
    ] {
        let out = ctparquet(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains("looks like the AWSLogs folder itself"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn accounts_and_regions_that_are_not_are_usage_errors() {
    for (flag, value, said) in [
        ("--accounts", "12345678901", "not an AWS account id"),
        ("--accounts", "11112222333a", "not an AWS account id"),
        ("--regions", "us-esat-1", "not an AWS region name"),
        ("--regions", "us..east-1", "not an AWS region name"),
    ] {
        let out = convert_sample(&sample(), &[flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        assert!(stderr(&out).contains(said), "{}", stderr(&out));
    }
}

#[test]
fn allow_list_entries_that_match_nothing_are_warned_and_nothing_found_fails() {
    let out = convert_sample(&sample(), &["--regions", "us-east-1,ap-south-1", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "--regions ap-south-1 matches nothing in the source (found: eu-west-1, us-east-1)"
        ),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["warnings"].as_array().unwrap().len(), 1);
    // Nothing at all within the allow-lists: no silent "0 events written".
    let out = convert_sample(&sample(), &["--accounts", "999999999999"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("accounts found: 111122223333, 444455556666")
            || err.contains("accounts found: 111122223333"),
        "{err}"
    );
}

#[test]
fn no_colour_codes_when_stderr_is_not_a_terminal() {
    let out = convert_sample(&sample(), &["--regions", "us-east-1,ap-south-1"]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("matches nothing"), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
}

#[test]
fn the_summary_tells_days_not_converted_from_events_too_late() {
    let out = convert_sample(&sample(), &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // The next day's folder was read for late events only: its own events are not a loss.
    assert!(
        text.contains("events of days not converted (seen in folders read for late events"),
        "{text}"
    );
    assert!(
        !text.contains("delivered later than --lateness-days"),
        "{text}"
    );
    assert!(
        text.contains("every event of the days converted was written"),
        "{text}"
    );
}

#[test]
fn help_is_grouped_with_examples_and_only_the_options_a_command_uses() {
    let help = String::from_utf8(ctparquet(&["convert", "--help"]).stdout).unwrap();
    for heading in [
        "Scope:",
        "Performance:",
        "Parquet:",
        "S3:",
        "Output:",
        "Examples:",
    ] {
        assert!(help.contains(heading), "{heading} missing:\n{help}");
    }
    assert!(help.contains("--sse-kms-key-id") && help.contains("--profile"));
    // Commands that only read have no write options.
    for command in ["verify", "inspect", "retention"] {
        let help = String::from_utf8(ctparquet(&[command, "--help"]).stdout).unwrap();
        assert!(help.contains("Examples:"), "{command}");
        assert!(help.contains("--profile"), "{command}");
        assert!(!help.contains("--sse-kms-key-id"), "{command}");
        assert!(!help.contains("--bucket-owner-full-control"), "{command}");
        assert!(!help.contains("--compression"), "{command}");
    }
}

#[test]
fn dest_is_an_argument_everywhere_and_the_old_flag_still_works() {
    let work = tempfile::tempdir().unwrap();
    let lake = work.path().join("lake").display().to_string();
    assert!(convert_sample(&sample(), &[]).status.success());
    let out = ctparquet(&[
        "convert",
        &sample(),
        &lake,
        "--date",
        "2026-01-05",
        "--quiet",
    ]);
    assert!(out.status.success());
    let new = ctparquet(&[
        "retention",
        &lake,
        "--keep-days",
        "1",
        "--today",
        "2026-03-01",
    ]);
    let old = ctparquet(&[
        "retention",
        "--dest",
        &lake,
        "--keep-days",
        "1",
        "--today",
        "2026-03-01",
    ]);
    assert!(new.status.success() && old.status.success());
    assert_eq!(new.stdout, old.stdout);
    assert!(stderr(&old).contains("--dest DEST is deprecated"));
    assert!(!stderr(&new).contains("deprecated"));
    let new = ctparquet(&["ddl", "duckdb", &lake]);
    let old = ctparquet(&["ddl", "duckdb", "--dest", &lake]);
    assert_eq!(new.stdout, old.stdout);
    assert!(String::from_utf8_lossy(&new.stdout).contains("CREATE OR REPLACE VIEW"));
}

#[test]
fn completions_and_man_pages_come_from_the_same_definitions() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = ctparquet(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("lateness-days"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = ctparquet(&["man", &dir.path().display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("ctparquet-convert.1")).unwrap();
    assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
    assert!(page.contains("lateness\\-days"), "{page}");
    assert!(dir.path().join("ctparquet.1").is_file());
}
