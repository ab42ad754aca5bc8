//! Day assembly, exactly-once, determinism, idempotency, bounded memory and bad input, on
//! generated and hand-made delivery trees.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use common::*;
use ctparquet::summary::OutsideReason;
use ctparquet::{ConvertOptions, Summary};
use ctparquet_gen::{GenOptions, generate};
use serde_json::{Value, json};

const A: &str = "111122223333";

fn ev(id: &str, time: &str) -> Value {
    json!({"eventVersion": "1.11", "eventID": id, "eventTime": time, "eventName": "GetObject",
           "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1", "requestParameters": {"k": id}})
}

fn names_by_day(rows: &[OutputRow]) -> BTreeMap<NaiveDate, Vec<String>> {
    let mut out: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    for r in rows {
        out.entry(r.date)
            .or_default()
            .push(r.record["eventID"].as_str().unwrap().to_string());
    }
    out
}

#[test]
fn late_events_cross_midnight_month_and_year_ends() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    // Folder 2026-01-01 holds the last events of 2025 (year end), folder 2026-02-01 the last of
    // January (month end); folder 2026-01-03 holds one from Jan 1 (two days late).
    write_delivery(
        &src,
        A,
        "us-east-1",
        date("2026-01-01"),
        "a",
        &[
            ev("y1", "2025-12-31T23:59:59Z"),
            ev("y2", "2026-01-01T00:00:00Z"),
            ev("y3", "2025-12-31T23:58:10.250Z"),
        ],
    );
    write_delivery(
        &src,
        A,
        "us-east-1",
        date("2026-01-03"),
        "b",
        &[ev("late2", "2026-01-01T10:00:00Z")],
    );
    write_delivery(
        &src,
        A,
        "us-east-1",
        date("2026-02-01"),
        "c",
        &[
            ev("m1", "2026-01-31T23:59:59.999Z"),
            ev("m2", "2026-02-01T00:00:00.001Z"),
        ],
    );
    let dest = work.path().join("out");

    let summary = convert(
        &src,
        &dest,
        &ConvertOptions::days(date("2025-12-31"), date("2026-01-01")),
    );
    let by_day = names_by_day(&read_output(&dest));
    assert_eq!(
        by_day[&date("2025-12-31")],
        ["y3", "y1"],
        "sorted by eventTime"
    );
    assert_eq!(by_day[&date("2026-01-01")], ["y2"]);
    assert_eq!(summary.events_moved, 2);
    // The two-days-late event is not read with lateness 1 (folder 01-03 is not read at all).
    assert_eq!(summary.events_read, 3);

    // With --lateness-days 2, it joins its day.
    let mut opts = ConvertOptions::days(date("2026-01-01"), date("2026-01-01"));
    opts.scope.lateness_days = 2;
    convert(&src, &dest, &opts);
    let by_day = names_by_day(&read_output(&dest));
    assert_eq!(by_day[&date("2026-01-01")], ["y2", "late2"]);

    // A range that reads folder 01-03 with lateness 1 meets it too late for its day: reported
    // with the lateness that would place it, not as a day that was not asked for.
    let summary = convert(
        &src,
        &dest,
        &ConvertOptions::days(date("2026-01-02"), date("2026-01-03")),
    );
    let late = summary
        .outside_range
        .iter()
        .find(|d| d.reason == OutsideReason::BeyondLateness)
        .expect("the two-days-late event is reported");
    assert_eq!(
        (late.date.as_str(), late.lateness_needed),
        ("2026-01-01", Some(2))
    );
    let text = summary.to_string();
    assert!(
        text.contains("delivered later than --lateness-days"),
        "{text}"
    );
    assert!(text.contains("(--lateness-days 2)"), "{text}");
    assert!(
        !text.contains("every event of the days converted was written"),
        "{text}"
    );

    // Month end: Jan 31 is gathered from folder Feb 1.
    let summary = convert(
        &src,
        &dest,
        &ConvertOptions::days(date("2026-01-31"), date("2026-01-31")),
    );
    let by_day = names_by_day(&read_output(&dest));
    assert_eq!(by_day[&date("2026-01-31")], ["m1"]);
    // Feb 1's event was read (folder Feb 1) but its day was not asked for: reported, not dropped.
    assert_eq!(summary.outside_range.len(), 1);
    assert_eq!(summary.outside_range[0].date, "2026-02-01");
    assert_eq!(
        summary.outside_range[0].reason,
        OutsideReason::DayNotRequested
    );
    assert!(summary.accounted_for());
    // Partition folders are zero-padded.
    assert!(
        dest.join(format!(
            "account={A}/region=us-east-1/year=2026/month=01/day=31/part-00000.parquet"
        ))
        .is_file()
    );
}

#[test]
fn duplicates_across_files_are_written_once() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let d = date("2026-03-10");
    write_delivery(
        &src,
        A,
        "eu-west-1",
        d,
        "a",
        &[
            ev("e1", "2026-03-10T10:00:00Z"),
            ev("e2", "2026-03-10T11:00:00Z"),
        ],
    );
    write_delivery(
        &src,
        A,
        "eu-west-1",
        d,
        "b",
        &[
            ev("e2", "2026-03-10T11:00:00Z"),
            ev("e3", "2026-03-10T09:00:00Z"),
        ],
    );
    write_delivery(
        &src,
        A,
        "eu-west-1",
        date("2026-03-11"),
        "c",
        &[ev("e1", "2026-03-10T10:00:00Z")],
    );
    let dest = work.path().join("out");
    let summary = convert(&src, &dest, &ConvertOptions::days(d, d));
    assert_eq!(summary.duplicates_dropped, 2);
    assert_eq!(summary.events_written, 3);
    assert_eq!(names_by_day(&read_output(&dest))[&d], ["e3", "e1", "e2"]);
}

#[test]
fn a_record_reusing_an_event_id_with_other_content_is_written_and_reported() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let d = date("2026-03-10");
    let real = ev("e1", "2026-03-10T10:00:00Z");
    let mut injected = real.clone();
    injected["eventName"] = json!("DeleteTrail");
    // "a" sorts first: the injected record comes in the file read first, as an attacker would
    // arrange it, and must not hide the real one.
    let first = write_delivery(&src, A, "eu-west-1", d, "a", &[injected.clone()]);
    let second = write_delivery(&src, A, "eu-west-1", d, "b", &[real.clone(), real.clone()]);
    let dest = work.path().join("out");
    let summary = convert(&src, &dest, &ConvertOptions::days(d, d));
    assert_eq!(summary.events_written, 2);
    assert_eq!(summary.duplicates_dropped, 1);
    assert_eq!(summary.conflicting_duplicates, 1);
    assert!(summary.accounted_for());
    let conflict = &summary.conflicts[0];
    assert_eq!(conflict.event_id, "e1");
    let name = |p: &std::path::Path| p.file_name().unwrap().to_str().unwrap().to_string();
    assert!(conflict.files[0].ends_with(&name(&first)), "{conflict:?}");
    assert!(conflict.files[1].ends_with(&name(&second)), "{conflict:?}");
    assert!(summary.to_string().contains("conflicting dups"));
    let mut written: Vec<Value> = read_output(&dest).into_iter().map(|r| r.record).collect();
    written.sort_by_key(|r| r["eventName"].as_str().unwrap().to_string());
    assert_eq!(written, [injected.clone(), real]);

    let report = verify_local(&src, &dest, &ctparquet::verify::VerifyOptions::days(d, d));
    assert!(report.passed(), "{:#?}", report.differences);
    assert_eq!(report.destination_rows, 2);

    // A destination holding only one of them (as an earlier version wrote it) is short a row.
    let only_real = work.path().join("only-real");
    std::fs::remove_file(&first).unwrap();
    convert(&src, &only_real, &ConvertOptions::days(d, d));
    write_delivery(&src, A, "eu-west-1", d, "a", &[injected]);
    let report = verify_local(
        &src,
        &only_real,
        &ctparquet::verify::VerifyOptions::days(d, d),
    );
    let kinds: Vec<_> = report.differences.iter().map(|x| x.kind).collect();
    assert_eq!(
        kinds,
        [ctparquet::verify::DifferenceKind::Missing],
        "{:#?}",
        report.differences
    );
}

#[test]
fn output_is_byte_identical_whatever_the_order_parallelism_range_or_memory() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let gen_opts = GenOptions {
        accounts: vec![A.into(), "444455556666".into()],
        regions: vec!["us-east-1".into(), "ap-southeast-2".into()],
        start: date("2026-01-30"),
        days: 4,
        files_per_day: 48,
        events_per_file: 25,
        duplicate_fraction: 0.05,
        ..Default::default()
    };
    let stats = generate(&src, &gen_opts).unwrap();

    // A range run, default settings.
    let range = work.path().join("range");
    let summary = convert(
        &src,
        &range,
        &ConvertOptions::days(date("2026-01-30"), date("2026-02-01")),
    );
    assert!(summary.accounted_for());
    assert!(summary.duplicates_dropped > 0 && summary.events_moved > 0);
    for ((account, region, day), n) in &stats.expected_by_day(1) {
        if (date("2026-01-30")..=date("2026-02-01")).contains(day) {
            let written = summary
                .days
                .iter()
                .find(|d| &d.account == account && &d.region == region && d.date == day.to_string())
                .map_or(0, |d| d.events);
            assert_eq!(written, *n, "{account} {region} {day}");
        }
    }

    // Day by day, one file at a time, and with a tiny memory budget that forces spills.
    let single = work.path().join("single");
    for day in ["2026-01-30", "2026-01-31", "2026-02-01"] {
        let mut opts = ConvertOptions::days(date(day), date(day));
        opts.concurrency = 1;
        opts.memory_budget_bytes = 64 * 1024;
        let s = convert(&src, &single, &opts);
        assert!(s.spilled_runs > 0, "the budget forces spills");
    }
    assert_eq!(snapshot(&range), snapshot(&single));

    // Re-running the range leaves the same bytes (idempotent).
    convert(
        &src,
        &range,
        &ConvertOptions::days(date("2026-01-30"), date("2026-02-01")),
    );
    assert_eq!(snapshot(&range), snapshot(&single));
}

#[test]
fn rerun_replaces_a_day_and_removes_stale_parts() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate(
        &src,
        &GenOptions {
            days: 1,
            files_per_day: 24,
            events_per_file: 200,
            ..Default::default()
        },
    )
    .unwrap();
    let dest = work.path().join("out");
    let day = date("2026-01-04");
    // Tiny files: several parts.
    let mut opts = ConvertOptions::days(day, day);
    opts.parquet.target_file_bytes = 64 * 1024;
    opts.parquet.row_group_rows = 1000;
    let first = convert(&src, &dest, &opts);
    assert!(first.days[0].files > 2, "{:?}", first.days);
    let other = dest.join(format!(
        "account={A}/region=us-east-1/year=2026/month=01/day=03"
    ));
    let before_other = snapshot(&other);

    // Default sizes: one part, and the earlier run's extra parts are gone.
    let second = convert(&src, &dest, &ConvertOptions::days(day, day));
    assert_eq!(second.days[0].files, 1);
    let files = parquet_files(&dest.join(format!(
        "account={A}/region=us-east-1/year=2026/month=01/day=04"
    )));
    assert_eq!(files.len(), 1);
    assert_eq!(
        read_output(&dest).iter().filter(|r| r.date == day).count() as u64,
        second.events_written
    );
    // Other days untouched.
    assert_eq!(before_other, snapshot(&other));
}

#[test]
fn a_bad_file_fails_its_days_unless_skipped() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let d = date("2026-05-01");
    write_delivery(
        &src,
        A,
        "us-east-1",
        d,
        "good",
        &[ev("g1", "2026-05-01T10:00:00Z")],
    );
    write_delivery(
        &src,
        A,
        "us-east-1",
        date("2026-04-30"),
        "prev",
        &[ev("p1", "2026-04-30T10:00:00Z")],
    );
    let bad_dir = date_dir(&src, A, "us-east-1", d);
    std::fs::write(
        bad_dir.join(format!(
            "{A}_CloudTrail_us-east-1_20260501T1000Z_trunc.json.gz"
        )),
        &gzip(b"{\"Records\":[{}]}")[..20],
    )
    .unwrap();
    let dest = work.path().join("out");

    // Earlier output of the day stays as it was when the day fails.
    let mut skip = ConvertOptions::days(date("2026-04-30"), d);
    skip.skip_bad_files = true;
    let skipped = convert(&src, &dest, &skip);
    assert_eq!(skipped.bad_files.len(), 1);
    assert!(skipped.bad_files[0].file.ends_with("_trunc.json.gz"));
    assert!(
        skipped.bad_files[0].error.contains("gzip"),
        "{:?}",
        skipped.bad_files
    );
    assert_eq!(skipped.events_written, 2);
    let before = snapshot(&dest);

    let failed = convert(&src, &dest, &ConvertOptions::days(date("2026-04-30"), d));
    assert!(!failed.succeeded());
    // The bad file is in folder 05-01, which days 04-30 and 05-01 both read.
    let failed_days: Vec<_> = failed.failed_days.iter().map(|f| f.date.as_str()).collect();
    assert_eq!(failed_days, ["2026-04-30", "2026-05-01"]);
    assert!(failed.failed_days[0].reason.contains("_trunc.json.gz"));
    assert!(failed.accounted_for());
    assert_eq!(
        snapshot(&dest),
        before,
        "failed days leave earlier output as it was"
    );
}

#[test]
fn organization_and_account_trails_merge_and_other_folders_are_not_events() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let d = date("2026-06-01");
    write_delivery(
        &src,
        A,
        "us-east-1",
        d,
        "own",
        &[
            ev("own1", "2026-06-01T01:00:00Z"),
            ev("both", "2026-06-01T02:00:00Z"),
        ],
    );
    // The same account through an organization trail, with one event both trails logged.
    let org = src
        .join("AWSLogs/o-abcdef1234")
        .join(A)
        .join("CloudTrail/us-east-1/2026/06/01");
    std::fs::create_dir_all(&org).unwrap();
    let body = serde_json::to_vec(&json!({"Records": [ev("org1", "2026-06-01T03:00:00Z"), ev("both", "2026-06-01T02:00:00Z")]})).unwrap();
    std::fs::write(
        org.join(format!(
            "{A}_CloudTrail_us-east-1_20260601T0300Z_org.json.gz"
        )),
        gzip(&body),
    )
    .unwrap();
    // Network activity events share the record shape: they join the events table.
    let net = src
        .join("AWSLogs")
        .join(A)
        .join("CloudTrail-NetworkActivity/us-east-1/2026/06/01");
    std::fs::create_dir_all(&net).unwrap();
    let vpce = json!({"Records": [{"eventVersion": "1.11", "eventID": "net1", "eventTime": "2026-06-01T04:00:00Z",
        "eventType": "AwsVpceEvent", "eventCategory": "NetworkActivity", "eventName": "GetObject"}]});
    std::fs::write(
        net.join(format!(
            "{A}_CloudTrail-NetworkActivity_us-east-1_20260601T0400Z_n.json.gz"
        )),
        gzip(&serde_json::to_vec(&vpce).unwrap()),
    )
    .unwrap();
    // Sibling folders and stray objects that must not be read as events.
    for sibling in [
        "CloudTrail-Digest",
        "CloudTrail-Insight",
        "CloudTrail-Aggregated",
    ] {
        let dir = src
            .join("AWSLogs")
            .join(A)
            .join(sibling)
            .join("us-east-1/2026/06/01");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.json.gz"), gzip(&body)).unwrap();
    }
    std::fs::write(date_dir(&src, A, "us-east-1", d).join("_SUCCESS"), b"").unwrap();
    std::fs::create_dir_all(src.join("AWSLogs").join(A).join("Config/us-east-1")).unwrap();
    // Another region and account, for the allow-lists.
    write_delivery(
        &src,
        A,
        "eu-central-1",
        d,
        "eu",
        &[ev("eu1", "2026-06-01T01:00:00Z")],
    );
    write_delivery(
        &src,
        "999988887777",
        "us-east-1",
        d,
        "x",
        &[ev("x1", "2026-06-01T01:00:00Z")],
    );

    let dest = work.path().join("out");
    let mut opts = ConvertOptions::days(d, d);
    opts.scope.accounts = Some(vec![A.into()]);
    opts.scope.regions = Some(vec!["us-east-1".into()]);
    let summary = convert(&src, &dest, &opts);
    assert_eq!(summary.ignored_objects, 1);
    assert_eq!(
        summary.skipped_folders,
        [
            format!("AWSLogs/{A}/CloudTrail-Aggregated"),
            format!("AWSLogs/{A}/CloudTrail-Digest"),
            format!("AWSLogs/{A}/CloudTrail-Insight"),
            format!("AWSLogs/{A}/Config"),
        ]
    );
    assert_eq!(summary.duplicates_dropped, 1);
    assert_eq!(summary.days.len(), 1);
    let rows = read_output(&dest);
    assert_eq!(names_by_day(&rows)[&d], ["own1", "both", "org1", "net1"]);
    assert!(
        rows.iter()
            .all(|r| r.account == A && r.region == "us-east-1")
    );
}

#[test]
fn events_without_a_usable_time_are_kept_in_their_delivery_day() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let d = date("2026-07-04");
    let records = [
        json!({"eventID": "n1", "eventTime": "redacted", "eventName": "X"}),
        json!({"eventID": "n2", "eventName": "Y"}),
        json!({"eventID": "n3", "eventTime": "2026-07-04 08:00:00", "eventName": "Z"}),
    ];
    write_delivery(&src, A, "us-east-1", d, "odd", &records);
    let dest = work.path().join("out");
    let summary = convert(&src, &dest, &ConvertOptions::days(d, d));
    assert_eq!(summary.undated_events, 2);
    let rows = read_output(&dest);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert!(records.contains(&r.record), "{}", r.record);
    }
}

#[test]
fn retention_removes_only_whole_days_older_than_the_cutoff() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate(
        &src,
        &GenOptions {
            days: 3,
            files_per_day: 12,
            ..Default::default()
        },
    )
    .unwrap();
    let dest = work.path().join("out");
    convert(
        &src,
        &dest,
        &ConvertOptions::days(date("2026-01-04"), date("2026-01-06")),
    );
    let before = snapshot(&dest);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let loc = ctparquet::Location::local(dest.to_str().unwrap(), false).unwrap();
    // Keep 1 day before 2026-01-06: 01-05 and 01-06 stay, 01-04 goes.
    let dry = rt
        .block_on(ctparquet::retention::expire(
            &loc,
            1,
            date("2026-01-06"),
            false,
        ))
        .unwrap();
    assert_eq!(dry.cutoff, "2026-01-05");
    assert_eq!(
        dry.expired
            .iter()
            .map(|d| d.date.as_str())
            .collect::<Vec<_>>(),
        ["2026-01-04"]
    );
    assert_eq!(snapshot(&dest), before, "a dry run changes nothing");
    let done = rt
        .block_on(ctparquet::retention::expire(
            &loc,
            1,
            date("2026-01-06"),
            true,
        ))
        .unwrap();
    assert_eq!(done.files_removed, 1);
    let after = snapshot(&dest);
    assert_eq!(after.len(), before.len() - 1);
    assert!(after.keys().all(|k| !k.contains("day=04")));
    assert!(
        before
            .iter()
            .filter(|(k, _)| !k.contains("day=04"))
            .all(|(k, v)| after.get(k) == Some(v))
    );
}

#[test]
fn trails_with_and_without_a_bucket_prefix_side_by_side_stay_apart() {
    let work = tempfile::tempdir().unwrap();
    let bucket = work.path().join("bucket");
    let d = date("2026-08-01");
    // s3://bucket/AWSLogs/... (no prefix) and s3://bucket/team-a/AWSLogs/... (a prefix), one of
    // them an organization trail.
    write_delivery(
        &bucket,
        A,
        "us-east-1",
        d,
        "root",
        &[ev("root-1", "2026-08-01T01:00:00Z")],
    );
    let org = bucket
        .join("team-a/AWSLogs/o-exampleorg1/")
        .join(A)
        .join("CloudTrail/us-east-1/2026/08/01");
    std::fs::create_dir_all(&org).unwrap();
    let body =
        serde_json::to_vec(&json!({"Records": [ev("team-1", "2026-08-01T02:00:00Z")]})).unwrap();
    std::fs::write(
        org.join(format!("{A}_CloudTrail_us-east-1_20260801T0200Z_t.json.gz")),
        gzip(&body),
    )
    .unwrap();

    let root_out = work.path().join("root-out");
    convert(&bucket, &root_out, &ConvertOptions::days(d, d));
    assert_eq!(names_by_day(&read_output(&root_out))[&d], ["root-1"]);
    let team_out = work.path().join("team-out");
    convert(
        &bucket.join("team-a"),
        &team_out,
        &ConvertOptions::days(d, d),
    );
    assert_eq!(names_by_day(&read_output(&team_out))[&d], ["team-1"]);
}

#[test]
fn a_passed_deadline_stops_the_run_before_anything_is_written() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate(
        &src,
        &GenOptions {
            days: 2,
            files_per_day: 4,
            events_per_file: 10,
            ..Default::default()
        },
    )
    .unwrap();
    let dest = work.path().join("out");
    let day = date("2026-01-04");
    let mut opts = ConvertOptions::days(day, day);
    opts.deadline = Some(std::time::Instant::now());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let error = rt.block_on(async {
        let source = ctparquet::Location::local(src.to_str().unwrap(), false).unwrap();
        let sink = ctparquet::Location::local(dest.to_str().unwrap(), true).unwrap();
        ctparquet::convert(&source, &sink, &opts, &ctparquet::NoProgress)
            .await
            .unwrap_err()
    });
    assert!(
        matches!(error, ctparquet::ConvertError::Deadline(_)),
        "{error}"
    );
    assert!(parquet_files(&dest).is_empty());

    // A deadline far ahead changes nothing.
    opts.deadline = Some(std::time::Instant::now() + std::time::Duration::from_secs(3600));
    let summary = convert(&src, &dest, &opts);
    assert_eq!(summary.days.len(), 1);
}

/// A generated day (`files` delivery files of `events` records a day, two days), converted
/// without a memory budget into `work/unbounded`: the source folder, the options of that day
/// and the summary of that conversion.
fn unbounded_day(work: &Path, files: u32, events: u32) -> (PathBuf, ConvertOptions, Summary) {
    let src = work.join("src");
    generate(
        &src,
        &GenOptions {
            days: 2,
            files_per_day: files,
            events_per_file: events,
            ..Default::default()
        },
    )
    .unwrap();
    let day = date("2026-01-04");
    let mut opts = ConvertOptions::days(day, day);
    opts.memory_budget_bytes = usize::MAX;
    let reference = convert(&src, &work.join("unbounded"), &opts);
    assert_eq!(reference.spilled_runs, 0);
    (src, opts, reference)
}

#[test]
fn a_read_ahead_budget_of_a_few_files_reads_every_file_without_stalling() {
    let work = tempfile::tempdir().unwrap();
    // Hundreds of small files in each folder: local files are read in batches of many.
    let (src, mut opts, reference) = unbounded_day(work.path(), 300, 3);
    let largest = files_ending(&src, ".json.gz")
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .max()
        .unwrap();
    opts.read_ahead_bytes = 4 * largest;
    let (done, result) = std::sync::mpsc::channel();
    let small = work.path().join("small");
    let (from, to) = (src.clone(), small.clone());
    std::thread::spawn(move || {
        // The receiver may have given up (a stall): nothing to do then.
        let _ = done.send(convert(&from, &to, &opts));
    });
    let summary = result
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the conversion stalled");
    assert!(summary.accounted_for());
    assert_eq!(summary.source_files_read, reference.source_files_read);
    assert_eq!(snapshot(&small), snapshot(&work.path().join("unbounded")));
}

#[test]
fn a_large_day_converts_within_a_small_memory_budget() {
    let work = tempfile::tempdir().unwrap();
    // ~16,000 events of the day (~20 MB of rows) against a 2 MiB budget.
    let (src, mut opts, reference) = unbounded_day(work.path(), 40, 400);
    let unbounded = work.path().join("unbounded");
    assert!(
        reference.peak_held_bytes > 10 << 20,
        "{}",
        reference.peak_held_bytes
    );

    let bounded = work.path().join("bounded");
    let budget = 2 << 20;
    opts.memory_budget_bytes = budget;
    let summary = convert(&src, &bounded, &opts);
    // The budget is honoured: rows held never exceed it by more than one decoded chunk (at most
    // 64 files, and as many as fit in 1 MiB of gzip and one more, of 400 records; sized by the
    // unbounded run's bytes per row), however large the day; the rest went to sorted runs on
    // disk.
    assert!(summary.spilled_runs >= 3, "{}", summary.spilled_runs);
    let smallest = files_ending(&src, ".json.gz")
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .min()
        .unwrap();
    let chunk_files = ((1 << 20) / smallest + 1).min(64);
    let rows = reference.events_written + reference.duplicates_dropped;
    let chunk = reference.peak_held_bytes * chunk_files * 400 / rows * 11 / 10;
    assert!(
        summary.peak_held_bytes <= budget as u64 + chunk,
        "held {} with a budget of {budget} and chunks of up to {chunk}",
        summary.peak_held_bytes
    );
    assert!(summary.peak_held_bytes < reference.peak_held_bytes * 2 / 3);
    // And the output is exactly the unbounded run's.
    assert_eq!(summary.events_written, reference.events_written);
    assert_eq!(snapshot(&bounded), snapshot(&unbounded));
    assert!(summary.accounted_for());
}

#[test]
fn a_day_a_little_over_its_budget_spills_only_what_does_not_fit() {
    let work = tempfile::tempdir().unwrap();
    // Chunks of decoded files (the unit that is spilled) of ~10% of the day.
    let (src, mut opts, reference) = unbounded_day(work.path(), 160, 100);
    let unbounded = work.path().join("unbounded");
    let rows = reference.peak_held_bytes;

    // The day's rows are ~90% of the budget: past half of it, the rest of the folder is
    // expected to bring them over three quarters, and only about that much is spilled (a run
    // of at least an eighth of the budget, ~15% of the rows, in whole chunks), not every row
    // held (which would be over half of them).
    let bounded = work.path().join("bounded");
    opts.memory_budget_bytes = (rows * 10 / 9) as usize;
    // One read at a time: a chunk is then one file (~0.6% of the day) whatever the machine's
    // load. With reads overlapping, a chunk is every file that has arrived (up to 64, ~40% of
    // this day on a busy machine), and a spill takes whole chunks, so how much went would
    // depend on timing rather than on the policy under test.
    opts.concurrency = 1;
    let summary = convert(&src, &bounded, &opts);
    assert!(summary.spilled_runs >= 1, "{}", summary.spilled_runs);
    assert!(
        summary.spilled_bytes < rows / 2,
        "spilled {} of {rows} bytes of rows",
        summary.spilled_bytes
    );
    assert!(summary.peak_held_bytes <= opts.memory_budget_bytes as u64);
    assert_eq!(snapshot(&bounded), snapshot(&unbounded));
    assert!(summary.accounted_for());

    // A day well over the budget still spills most of its rows, in runs.
    let small = work.path().join("small");
    opts.memory_budget_bytes = (rows / 4) as usize;
    let summary = convert(&src, &small, &opts);
    assert!(
        summary.spilled_bytes > rows / 2,
        "spilled {} of {rows}",
        summary.spilled_bytes
    );
    assert_eq!(snapshot(&small), snapshot(&unbounded));
}

#[test]
fn a_day_whose_source_was_expired_is_kept_unless_shrinking_is_allowed() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate(
        &src,
        &GenOptions {
            days: 2,
            files_per_day: 24,
            events_per_file: 20,
            ..Default::default()
        },
    )
    .unwrap();
    let dest = work.path().join("out");
    let day = date("2026-01-04");
    let first = convert(&src, &dest, &ConvertOptions::days(day, day));
    let before = snapshot(&dest);
    assert!(first.events_written > 0);

    // Half of the day's delivery files expire (as an S3 lifecycle rule would take them).
    let folder = src.join(format!("AWSLogs/{A}/CloudTrail/us-east-1/2026/01/04"));
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files[..files.len() / 2] {
        std::fs::remove_file(f).unwrap();
    }
    let again = convert(&src, &dest, &ConvertOptions::days(day, day));
    assert_eq!(snapshot(&dest), before, "the only copy is kept");
    assert_eq!(again.kept_days.len(), 1);
    assert_eq!(again.kept_days[0].events_kept, first.events_written);
    assert!(again.kept_days[0].events_in_source < first.events_written);
    assert!(again.to_string().contains("days kept as they were"));

    // The whole folder expires (its late deliveries in the next one remain): still kept.
    std::fs::remove_dir_all(&folder).unwrap();
    let gone = convert(&src, &dest, &ConvertOptions::days(day, day));
    assert_eq!(snapshot(&dest), before);
    assert_eq!(gone.events_written, 0);
    // Only the day's late deliveries (in the next folder) are left in the source.
    assert!(gone.kept_days[0].events_in_source < again.kept_days[0].events_in_source);

    // Asked for, the day is replaced by what the source holds now.
    let mut opts = ConvertOptions::days(day, day);
    opts.allow_shrink = true;
    let shrunk = convert(&src, &dest, &opts);
    assert!(shrunk.kept_days.is_empty());
    assert!(
        read_output(&dest).iter().filter(|r| r.date == day).count() < first.events_written as usize
    );
}

#[test]
fn retention_removes_saved_conversions_of_expired_days_and_abandoned_ones() {
    let dest = tempfile::tempdir().unwrap();
    let at = |y, m, d| {
        let time = NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc();
        std::time::SystemTime::from(time)
    };
    // Saved conversions of units ending on a day, their files last written at a time.
    let state = |last_day: &str, written: std::time::SystemTime| {
        let folder = dest
            .path()
            .join("_ctparquet/resume/events/111122223333/us-east-1")
            .join(last_day);
        std::fs::create_dir_all(&folder).unwrap();
        for name in ["manifest.json", "run-1.arrow", "run-1.keys.arrow"] {
            let file = std::fs::File::create(folder.join(name)).unwrap();
            file.set_modified(written).unwrap();
        }
    };
    state("2026-01-04", at(2026, 1, 5)); // its days are expired
    state("2026-01-05", at(2025, 12, 1)); // untouched for more than 14 days
    state("2026-01-06", at(2026, 1, 5)); // may still be resumed
    let rt = tokio::runtime::Runtime::new().unwrap();
    let loc = ctparquet::Location::local(dest.path().to_str().unwrap(), false).unwrap();
    let expire = |apply| {
        rt.block_on(ctparquet::retention::expire(
            &loc,
            1,
            date("2026-01-06"),
            apply,
        ))
        .unwrap()
    };
    let dry = expire(false);
    let found: Vec<(String, String, u64)> = dry
        .abandoned_states
        .iter()
        .map(|s| {
            let day = s.path.rsplit('/').next().unwrap().to_string();
            (day, s.reason.clone(), s.files)
        })
        .collect();
    assert_eq!(
        found,
        [
            ("2026-01-04".into(), "its days are expired".into(), 3),
            (
                "2026-01-05".into(),
                "untouched for more than 14 days".into(),
                3
            ),
        ]
    );
    assert_eq!(all_files(dest.path()).len(), 9, "a dry run removes nothing");
    let done = expire(true);
    assert_eq!(done.files_removed, 6);
    let left = all_files(dest.path());
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|p| p.contains("2026-01-06")), "{left:?}");
}
