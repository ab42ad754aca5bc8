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
fn a_bad_file_fails_with_its_name_and_exit_code_4() {
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
    assert_eq!(out.status.code(), Some(4));
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
    assert_eq!(out.status.code(), Some(2));
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

#[test]
fn zero_counts_and_sizes_and_dest_inside_awslogs_are_usage_errors() {
    for (flag, value) in [
        ("--concurrency", "0"),
        ("--read-ahead", "0"),
        ("--memory-budget", "0MiB"),
        ("--max-file-size", "0"),
        ("--row-group-rows", "0"),
        ("--target-file-size", "0"),
    ] {
        let out = convert_sample(&sample(), &[flag, value]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(flag), "{}", stderr(&out));
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    copy_tree(Path::new(&sample()), &src);
    let inside = src.join("AWSLogs/lake");
    let out = ctparquet(&[
        "convert",
        &src.display().to_string(),
        &inside.display().to_string(),
        "--date",
        "2026-01-05",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("inside"), "{}", stderr(&out));
    assert!(!inside.exists(), "nothing is made inside AWSLogs/");
    // Beside AWSLogs/ (one bucket for both) is fine.
    let beside = src.join("parquet");
    let out = ctparquet(&[
        "convert",
        &src.display().to_string(),
        &beside.display().to_string(),
        "--date",
        "2026-01-05",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn lake_of_sample(work: &Path) -> (String, String) {
    let src = work.join("src");
    copy_tree(Path::new(&sample()), &src);
    let lake = work.join("lake");
    let out = ctparquet(&[
        "convert",
        &src.display().to_string(),
        &lake.display().to_string(),
        "--date",
        "2026-01-05",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    (src.display().to_string(), lake.display().to_string())
}

fn verify(src: &str, lake: &str) -> Output {
    ctparquet(&["verify", src, lake, "--date", "2026-01-05"])
}

#[test]
fn verify_names_every_object_readers_would_take_for_data() {
    let day = "account=111122223333/region=us-east-1/year=2026/month=01/day=05";
    let cases: &[(&str, &str)] = &[
        ("extra.parquet", "not a part file"),
        (".part-00009.parquet", "hidden file"),
        ("sub/part-00000.parquet", "sub-folder"),
        ("part-00000.parquet#1", "staging file of a killed write"),
        ("../day=5/part-00000.parquet", "misspelled day=05"),
        (
            "../../../../../account=999999999999/region=us-east-1/year=2026/month=01/day=05/part-00000.parquet",
            "no trail",
        ),
        (
            "../../../../region=ap-south-1/year=2026/month=01/day=05/part-00000.parquet",
            "no trail",
        ),
        ("../../../../../stray.parquet", "outside any partition"),
    ];
    for (relative, said) in cases {
        let work = tempfile::tempdir().unwrap();
        let (src, lake) = lake_of_sample(work.path());
        let out = verify(&src, &lake);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let day_dir = Path::new(&lake).join(day);
        let target = day_dir.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(day_dir.join("part-00000.parquet"), &target).unwrap();
        let out = verify(&src, &lake);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(3), "{relative}: {text}");
        let name = Path::new(relative)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            text.contains("Stray") && text.contains(&name) && text.contains(said),
            "{relative}: {text}"
        );
        // The next conversion of the day removes a killed write's staging file.
        if relative.contains('#') {
            assert!(
                ctparquet(&["convert", &src, &lake, "--date", "2026-01-05", "--quiet"])
                    .status
                    .success()
            );
            assert!(!target.exists());
            assert!(verify(&src, &lake).status.success());
        }
    }
}

#[test]
fn verify_reports_unreadable_and_unsorted_files_as_differences() {
    let work = tempfile::tempdir().unwrap();
    let (src, lake) = lake_of_sample(work.path());
    let part = Path::new(&lake)
        .join("account=111122223333/region=us-east-1/year=2026/month=01/day=05/part-00000.parquet");
    let bytes = std::fs::read(&part).unwrap();
    std::fs::write(&part, &bytes[..bytes.len() / 2]).unwrap();
    let out = verify(&src, &lake);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("Unreadable") && text.contains("part-00000.parquet"),
        "{text}"
    );
    std::fs::write(&part, b"").unwrap();
    assert_eq!(verify(&src, &lake).status.code(), Some(3));
}

#[test]
fn a_day_is_one_file_unless_a_target_size_is_asked_for() {
    let work = tempfile::tempdir().unwrap();
    let (src, lake) = lake_of_sample(work.path());
    let day =
        Path::new(&lake).join("account=111122223333/region=us-east-1/year=2026/month=01/day=05");
    let names = |dir: &Path| {
        let mut n: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&day), ["part-00000.parquet"]);
    let out = ctparquet(&[
        "convert",
        &src,
        &lake,
        "--date",
        "2026-01-05",
        "--quiet",
        "--target-file-size",
        "20KiB",
        "--row-group-rows",
        "100",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(names(&day).len() > 1, "{:?}", names(&day));
    // Back to one file: the extra parts of the earlier run are removed.
    assert!(
        ctparquet(&["convert", &src, &lake, "--date", "2026-01-05", "--quiet"])
            .status
            .success()
    );
    assert_eq!(names(&day), ["part-00000.parquet"]);
    assert!(verify(&src, &lake).status.success());
}

#[cfg(unix)]
#[test]
fn fifos_are_skipped_and_a_dangling_date_folder_is_an_error() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    copy_tree(Path::new(&sample()), &src);
    let folder = src.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05");
    let fifo = folder.join("111122223333_CloudTrail_us-east-1_20260105T2355Z_fifo.json.gz");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let lake = work.path().join("lake").display().to_string();
    let src_text = src.display().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ctparquet"))
        .args([
            "convert",
            &src_text,
            &lake,
            "--date",
            "2026-01-05",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["not_regular_files"].as_array().unwrap().len(), 1);
    assert!(stderr(&out).contains("_fifo.json.gz"), "{}", stderr(&out));
    std::fs::remove_file(&fifo).unwrap();
    // A date folder that links to nothing.
    let moved = work.path().join("moved");
    std::fs::rename(&folder, &moved).unwrap();
    std::os::unix::fs::symlink(work.path().join("gone"), &folder).unwrap();
    let out = ctparquet(&["convert", &src_text, &lake, "--date", "2026-01-05"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2026/01/05") && stderr(&out).contains("link"),
        "{}",
        stderr(&out)
    );
}
