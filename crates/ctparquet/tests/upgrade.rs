//! `upgrade` rewrites days from their own Parquet (no source JSON), proves each against the old
//! day before replacing it, leaves current days byte for byte, and refuses files it did not write.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use ctparquet::schema::{EVENTS, FieldSpec, JsonColumns, Kind, SCHEMA_REVISION, Table, UNMAPPED};
use ctparquet::upgrade::{DayOutcome, UpgradeOptions, UpgradeReport, upgrade};
use ctparquet::verify::{DifferenceKind, VerifyReport, verify_parquet};
use ctparquet::{ConvertOptions, Location, Scope};
use ctparquet_gen::{GenOptions, generate};

const A: &str = "111122223333";

/// The days written by earlier releases, one folder per schema revision (see its README).
fn fixtures() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/upgrade");
    let mut found: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("revision-"))
        })
        .collect();
    found.sort();
    assert!(!found.is_empty());
    found
}

fn fixture() -> std::path::PathBuf {
    fixtures().remove(0)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn every_day() -> Scope {
    Scope::days(date("2000-01-01"), date("2099-12-31")).unwrap()
}

fn run_upgrade(dest: &Path, opts: &UpgradeOptions) -> UpgradeReport {
    rt().block_on(async {
        let dest = Location::local(dest.to_str().unwrap(), true).unwrap();
        upgrade(&dest, opts).await.unwrap()
    })
}

fn verify_against(old: &Path, new: &Path) -> VerifyReport {
    rt().block_on(async {
        let old = Location::local(old.to_str().unwrap(), false).unwrap();
        let new = Location::local(new.to_str().unwrap(), false).unwrap();
        verify_parquet(&old, &new, &every_day()).await.unwrap()
    })
}

/// Two generated days (2026-01-04 and 05) of account `A` in `regions`.
fn generate_two_days(src: &Path, regions: &[&str], files_per_day: u32, events_per_file: u32) {
    let opts = GenOptions {
        accounts: vec![A.into()],
        regions: regions.iter().map(|r| r.to_string()).collect(),
        days: 2,
        files_per_day,
        events_per_file,
        ..Default::default()
    };
    generate(src, &opts).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A key of the footer's key-value metadata of every part file under `dest`.
fn footer_values(dest: &Path, key: &str) -> Vec<Option<String>> {
    parquet_files(dest)
        .iter()
        .map(|path| {
            let file = std::fs::File::open(path).unwrap();
            let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
            let metadata = parquet::file::reader::FileReader::metadata(&reader);
            metadata
                .file_metadata()
                .key_value_metadata()
                .and_then(|kv| kv.iter().find(|k| k.key == key))
                .and_then(|k| k.value.clone())
        })
        .collect()
}

#[test]
fn the_days_of_every_older_release_are_upgraded_without_their_source_and_proved() {
    for fixture in fixtures() {
        upgrades_without_its_source_and_is_proved(&fixture);
    }
}

fn upgrades_without_its_source_and_is_proved(fixture: &Path) {
    let work = tempfile::tempdir().unwrap();
    let lake = work.path().join("lake");
    copy_tree(fixture, &lake);
    assert!(
        footer_values(&lake, "ctparquet.schema_revision")
            .iter()
            .all(|r| r.as_deref() != Some(&SCHEMA_REVISION.to_string()))
    );
    let before = snapshot(&lake);

    // A dry run lists the day and changes nothing.
    let mut opts = UpgradeOptions::new(every_day());
    opts.dry_run = true;
    let report = run_upgrade(&lake, &opts);
    assert_eq!(report.count(DayOutcome::WouldUpgrade), 1, "{report:?}");
    assert_eq!(snapshot(&lake), before);

    opts.dry_run = false;
    let report = run_upgrade(&lake, &opts);
    assert_eq!(report.days.len(), 1);
    let day = &report.days[0];
    assert_eq!(
        (day.outcome, day.account.as_str(), day.date.as_str()),
        (DayOutcome::Upgraded, A, "2026-01-04"),
        "{day:?}"
    );
    assert!(day.events > 100, "{day:?}");
    assert_eq!(report.events_upgraded, day.events);
    assert_eq!(
        footer_values(&lake, "ctparquet.schema_revision"),
        [Some(SCHEMA_REVISION.to_string())]
    );
    // The same events, each rebuilt JSON-equal to the old day's (the old day as the source).
    let proof = verify_against(fixture, &lake);
    assert!(proof.passed(), "{:?}", proof.differences);
    assert_eq!(proof.destination_rows, day.events);
    assert!(read_output(&lake).len() as u64 == day.events);
    // Nothing of the work is left beside the day.
    let names: Vec<_> = std::fs::read_dir(lake.join(format!(
        "account={A}/region=eu-west-1/year=2026/month=01/day=04"
    )))
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
    .collect();
    assert_eq!(names, ["part-00000.parquet"]);

    // Run again: the day is current and left alone, byte for byte.
    let upgraded = snapshot(&lake);
    let report = run_upgrade(&lake, &opts);
    assert_eq!(report.count(DayOutcome::Current), 1, "{report:?}");
    assert_eq!(snapshot(&lake), upgraded);
}

#[test]
fn json_columns_move_between_text_and_json_both_ways() {
    json_columns_move_between_text_and(JsonColumns::Json);
}

#[test]
fn json_columns_move_between_text_and_variant_both_ways() {
    json_columns_move_between_text_and(JsonColumns::Variant);
}

fn json_columns_move_between_text_and(form: JsonColumns) {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate_two_days(&src, &["us-east-1", "eu-west-1"], 8, 30);
    let lake = work.path().join("lake");
    let opts = ConvertOptions::days(date("2026-01-04"), date("2026-01-05"));
    convert(&src, &lake, &opts);
    let text = snapshot(&lake);
    assert!(text.len() >= 4);
    let original = work.path().join("original");
    copy_tree(&lake, &original);

    let mut to_form = UpgradeOptions::new(every_day());
    to_form.parquet.json_columns = form;
    let report = run_upgrade(&lake, &to_form);
    assert_eq!(report.count(DayOutcome::Upgraded), text.len(), "{report:?}");
    assert!(
        footer_values(&lake, "ctparquet.json_columns")
            .iter()
            .all(|v| v.as_deref() == Some(form.name()))
    );
    let proof = verify_against(&original, &lake);
    assert!(proof.passed(), "{:?}", proof.differences);

    // And back: the days are those the conversion wrote, byte for byte.
    let report = run_upgrade(&lake, &UpgradeOptions::new(every_day()));
    assert_eq!(report.count(DayOutcome::Upgraded), text.len(), "{report:?}");
    assert_eq!(snapshot(&lake), text);
}

#[test]
fn files_this_tool_did_not_write_are_refused_by_name_and_left_alone() {
    use arrow::array::{Int64Array, RecordBatch};
    let work = tempfile::tempdir().unwrap();
    let lake = work.path().join("lake");
    let day = lake.join(format!(
        "account={A}/region=us-east-1/year=2026/month=01/day=04"
    ));
    std::fs::create_dir_all(&day).unwrap();
    let batch = RecordBatch::try_from_iter([(
        "x",
        Arc::new(Int64Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    let file = std::fs::File::create(day.join("part-00000.parquet")).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let before = snapshot(&lake);

    let report = run_upgrade(&lake, &UpgradeOptions::new(every_day()));
    assert_eq!(report.count(DayOutcome::Refused), 1, "{report:?}");
    let reason = report.days[0].reason.as_deref().unwrap();
    assert!(
        reason.contains("not written by ctparquet") && reason.contains("part-00000.parquet"),
        "{reason}"
    );
    assert_eq!(snapshot(&lake), before);
}

#[test]
fn verify_against_parquet_names_what_a_copy_lost_or_changed() {
    let work = tempfile::tempdir().unwrap();
    let old = work.path().join("old");
    copy_tree(&fixture(), &old);
    // The same day, converted again from records one of which was altered: as a wrong upgrade
    // would write it.
    let lake = work.path().join("lake");
    copy_tree(&fixture(), &lake);
    let rows = read_output(&lake);
    assert!(!rows.is_empty());
    let src = work.path().join("src");
    let mut records: Vec<serde_json::Value> = rows.iter().map(|r| r.record.clone()).collect();
    records[0]["eventName"] = serde_json::Value::String("Tampered".into());
    let day = date("2026-01-04");
    write_delivery(&src, A, "eu-west-1", day, "one.json.gz", &records);
    std::fs::remove_dir_all(&lake).unwrap();
    let mut opts = ConvertOptions::days(day, day);
    opts.scope.lateness_days = 0;
    convert(&src, &lake, &opts);

    let report = verify_against(&old, &lake);
    assert!(!report.passed());
    assert_eq!(report.differences.len(), 1, "{:?}", report.differences);
    let difference = &report.differences[0];
    assert_eq!(difference.kind, DifferenceKind::Changed);
    assert_eq!(difference.field.as_deref(), Some("$.eventName"));
}

/// The events table as the next CloudTrail version would make it (a made-up eventVersion 1.12):
/// a new top-level object and a new member of `userIdentity`, in the next schema revision. This
/// is the edit docs/schema-changes.md describes, made at run time.
fn next_revision() -> &'static Table {
    let leak =
        |fields: Vec<FieldSpec>| -> &'static [FieldSpec] { Box::leak(fields.into_boxed_slice()) };
    let mut fields: Vec<FieldSpec> = EVENTS.fields.to_vec();
    let user_identity = fields
        .iter_mut()
        .find(|f| f.name == "userIdentity")
        .unwrap();
    let Kind::Struct(members) = user_identity.kind else {
        panic!("userIdentity is a struct")
    };
    let mut members = members.to_vec();
    members.push(FieldSpec {
        name: "deviceTrust",
        kind: Kind::Str,
        since: "1.12",
    });
    user_identity.kind = Kind::Struct(leak(members));
    fields.push(FieldSpec {
        name: "agentDetails",
        kind: Kind::Struct(leak(vec![
            FieldSpec {
                name: "agentId",
                kind: Kind::Str,
                since: "1.12",
            },
            FieldSpec {
                name: "delegated",
                kind: Kind::Bool,
                since: "1.12",
            },
        ])),
        since: "1.12",
    });
    Box::leak(Box::new(EVENTS.revised(leak(fields), SCHEMA_REVISION + 1)))
}

/// Records of eventVersion 1.12 carrying the new members, on `day`.
fn records_of_the_next_version(day: &str, count: usize) -> Vec<serde_json::Value> {
    (0..count)
        .map(|i| {
            serde_json::json!({
                "eventVersion": "1.12",
                "userIdentity": {
                    "type": "AssumedRole",
                    "principalId": format!("AROAEXAMPLE:agent-{i}"),
                    "arn": format!("arn:aws:sts::{A}:assumed-role/agent/agent-{i}"),
                    "accountId": A,
                    "deviceTrust": if i % 2 == 0 { "managed" } else { "unknown" }
                },
                "eventTime": format!("{day}T12:{:02}:00Z", i % 60),
                "eventSource": "bedrock.amazonaws.com",
                "eventName": "InvokeAgent",
                "awsRegion": "us-east-1",
                "sourceIPAddress": "192.0.2.10",
                "userAgent": "agent-runtime/1.0",
                "requestParameters": {"agentId": format!("AGENT{i}")},
                "responseElements": null,
                "requestID": format!("req-{i}"),
                "eventID": format!("00000000-0000-4000-8000-{i:012}"),
                "readOnly": false,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": A,
                "eventCategory": "Management",
                "agentDetails": {"agentId": format!("AGENT{i}"), "delegated": i % 3 == 0}
            })
        })
        .collect()
}

/// The string column at a dotted path of every row under `dest` (nulls as `None`).
fn column_strings(dest: &Path, path: &str) -> Vec<Option<String>> {
    use arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for file in parquet_files(dest) {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(file).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let mut names = path.split('.');
            let Some(mut column) = batch.column_by_name(names.next().unwrap()).cloned() else {
                out.extend(std::iter::repeat_n(None, batch.num_rows()));
                continue;
            };
            for name in names {
                column = column.as_struct().column_by_name(name).unwrap().clone();
            }
            let strings = column.as_string::<i32>();
            out.extend(
                (0..strings.len())
                    .map(|i| strings.is_valid(i).then(|| strings.value(i).to_string())),
            );
        }
    }
    out
}

#[test]
fn fields_of_a_new_cloudtrail_version_move_out_of_unmapped_when_the_schema_gains_them() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate_two_days(&src, &["us-east-1"], 4, 25);
    for day in ["2026-01-04", "2026-01-05"] {
        let records = records_of_the_next_version(day, 7);
        write_delivery(&src, A, "us-east-1", date(day), "next.json.gz", &records);
    }
    let lake = work.path().join("lake");
    convert(
        &src,
        &lake,
        &ConvertOptions::days(date("2026-01-04"), date("2026-01-05")),
    );
    // Converted by this release, the new members are kept in `unmapped`.
    let unmapped = column_strings(&lake, UNMAPPED);
    let kept = unmapped
        .iter()
        .flatten()
        .filter(|u| u.contains("deviceTrust") && u.contains("agentDetails"))
        .count();
    assert_eq!(kept, 14, "{unmapped:?}");
    let original = work.path().join("original");
    copy_tree(&lake, &original);
    let records_before = read_output(&lake);
    // The JSON is expired: from here on the lake is the only copy.
    std::fs::remove_dir_all(&src).unwrap();

    // The schema gains the fields; `upgrade` moves every old day into it.
    let next = next_revision();
    let mut opts = UpgradeOptions::new(every_day());
    opts.scope.table = next;
    let report = run_upgrade(&lake, &opts);
    assert_eq!(report.count(DayOutcome::Upgraded), 2, "{report:?}");
    assert!(
        footer_values(&lake, "ctparquet.schema_revision")
            .iter()
            .all(|r| r.as_deref() == Some(&(SCHEMA_REVISION + 1).to_string()))
    );
    let trust = column_strings(&lake, "userIdentity.deviceTrust");
    assert_eq!(
        trust.iter().flatten().filter(|t| *t == "managed").count(),
        8
    );
    assert_eq!(trust.iter().flatten().count(), 14);
    let agents = column_strings(&lake, "agentDetails.agentId");
    assert_eq!(agents.iter().flatten().count(), 14);
    assert!(
        column_strings(&lake, UNMAPPED)
            .iter()
            .flatten()
            .all(|u| !u.contains("deviceTrust") && !u.contains("agentDetails")),
        "the members left unmapped"
    );
    // Every record rebuilds as before: nothing lost, nothing changed.
    let mut before: Vec<String> = records_before
        .iter()
        .map(|r| canonical(&r.record))
        .collect();
    let mut after: Vec<String> = read_table(&lake, next)
        .iter()
        .map(|r| canonical(&r.record))
        .collect();
    before.sort();
    after.sort();
    assert_eq!(before, after);
    let mut proof_scope = every_day();
    proof_scope.table = next;
    let proof = rt().block_on(async {
        let old = Location::local(original.to_str().unwrap(), false).unwrap();
        let new = Location::local(lake.to_str().unwrap(), false).unwrap();
        verify_parquet(&old, &new, &proof_scope).await.unwrap()
    });
    assert!(proof.passed(), "{:?}", proof.differences);

    // Run again: nothing to do.
    let upgraded = snapshot(&lake);
    let report = run_upgrade(&lake, &opts);
    assert_eq!(report.count(DayOutcome::Current), 2, "{report:?}");
    assert_eq!(snapshot(&lake), upgraded);

    // The query engines' definitions follow from the same edit.
    let columns = ctparquet::ddl::hive_columns(next);
    let column = |name: &str| {
        columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
    };
    assert_eq!(
        column("agentDetails").as_deref(),
        Some("struct<agentId:string,delegated:boolean>")
    );
    assert!(
        column("userIdentity")
            .unwrap()
            .contains(",deviceTrust:string>")
    );
}
