//! Insights and aggregated events: their own tables, schemas and destinations, never mixed with
//! API events; `verify` checks them too.

mod common;

use common::*;
use ctparquet::ConvertOptions;
use ctparquet::schema::{AGGREGATED, EVENTS, INSIGHTS, Table};
use ctparquet::verify::VerifyOptions;
use serde_json::{Value, json};

const A: &str = "838185438692";

fn deliver_to(root: &std::path::Path, folder: &str, day: &str, name: &str, records: &[Value]) {
    let (y, m, d) = (&day[0..4], &day[5..7], &day[8..10]);
    let dir = root.join(format!("AWSLogs/{A}/{folder}/us-east-1/{y}/{m}/{d}"));
    std::fs::create_dir_all(&dir).unwrap();
    let body = serde_json::to_vec(&json!({ "Records": records })).unwrap();
    std::fs::write(
        dir.join(format!(
            "{A}_{folder}_us-east-1_{y}{m}{d}T0000Z_{name}.json.gz"
        )),
        gzip(&body),
    )
    .unwrap();
}

/// The Insights examples of the AWS CloudTrail user guide (real data shipped beside the repo).
fn real_insights() -> Vec<Value> {
    let text = std::fs::read_to_string(
        real_data_dir().join("awsdocs-examples/aws-cloudtrail-user-guide_doc_examples.ndjson"),
    )
    .unwrap();
    let found: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["eventType"] == "AwsCloudTrailInsight")
        .collect();
    assert!(found.len() >= 2);
    found
}

fn aggregated(id: &str, start: &str, end: &str) -> Value {
    json!({
        "eventVersion": "1.0", "accountId": A, "eventId": id, "eventCategory": "Aggregated",
        "eventType": "AwsAggregatedEvent", "awsRegion": "us-east-1", "eventSource": "s3.amazonaws.com",
        "timeWindow": {"windowStart": start, "windowEnd": end, "windowSize": "PT5M"},
        "summary": {"primaryDimension": {"dimension": "eventName", "statistics": [{"name": "GetObject", "value": 1200}]},
                    "details": [{"dimension": "userIdentity", "statistics": [{"name": "arn:aws:iam::1:role/x", "value": 1200}]}]}
    })
}

fn verify_day(
    table: &'static Table,
    src: &std::path::Path,
    dest: &std::path::Path,
    day: &str,
) -> bool {
    let mut opts = VerifyOptions::days(date(day), date(day));
    opts.scope.table = table;
    verify_local(src, dest, &opts).passed()
}

#[test]
fn insights_and_aggregated_events_convert_into_their_own_tables() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let insights = real_insights();
    let day = insights[0]["eventTime"].as_str().unwrap()[..10].to_string();
    let same_day: Vec<Value> = insights
        .iter()
        .filter(|i| i["eventTime"].as_str().unwrap().starts_with(&day))
        .cloned()
        .collect();
    deliver_to(&src, "CloudTrail-Insight", &day, "i", &same_day);
    // Aggregated windows: one ends at midnight (its day is the day it starts), one is delivered
    // again (a duplicate), one is late into the next folder.
    deliver_to(
        &src,
        "CloudTrail-Aggregated",
        "2026-02-10",
        "a",
        &[
            aggregated("agg-1", "2026-02-10T23:55:00Z", "2026-02-11T00:00:00Z"),
            aggregated("agg-2", "2026-02-10T10:00:00Z", "2026-02-10T10:05:00Z"),
        ],
    );
    deliver_to(
        &src,
        "CloudTrail-Aggregated",
        "2026-02-11",
        "b",
        &[
            aggregated("agg-2", "2026-02-10T10:00:00Z", "2026-02-10T10:05:00Z"),
            aggregated("agg-3", "2026-02-10T11:00:00Z", "2026-02-10T11:05:00Z"),
        ],
    );
    // And one API event, which only the events table takes.
    write_delivery(
        &src,
        A,
        "us-east-1",
        date("2026-02-10"),
        "e",
        &[json!({"eventID": "api-1", "eventTime": "2026-02-10T01:00:00Z"})],
    );

    let mut opts = ConvertOptions::days(date(&day), date(&day));
    opts.scope.table = &INSIGHTS;
    let out_insights = work.path().join("insights");
    let s = convert(&src, &out_insights, &opts);
    assert_eq!(s.events_written, same_day.len() as u64);
    let rows = read_table(&out_insights, &INSIGHTS);
    for r in &rows {
        assert!(same_day.contains(&r.record), "{}", r.record);
    }
    // Typed insight details.
    let file = parquet_files(&out_insights).remove(0);
    let schema = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap()
    .schema()
    .clone();
    assert!(
        schema
            .field_with_name("insightDetails")
            .unwrap()
            .data_type()
            .to_string()
            .contains("insightType")
    );
    assert!(schema.field_with_name("userIdentity").is_err());
    assert!(verify_day(&INSIGHTS, &src, &out_insights, &day));

    let mut opts = ConvertOptions::days(date("2026-02-10"), date("2026-02-10"));
    opts.scope.table = &AGGREGATED;
    let out_agg = work.path().join("aggregated");
    let s = convert(&src, &out_agg, &opts);
    assert_eq!((s.events_written, s.duplicates_dropped), (3, 1));
    let ids: Vec<String> = read_table(&out_agg, &AGGREGATED)
        .iter()
        .map(|r| r.record["eventId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["agg-2", "agg-3", "agg-1"], "sorted by window start");
    assert!(verify_day(&AGGREGATED, &src, &out_agg, "2026-02-10"));

    // The events table reads neither folder.
    let out_events = work.path().join("events");
    let s = convert(
        &src,
        &out_events,
        &ConvertOptions::days(date("2026-02-10"), date("2026-02-10")),
    );
    assert_eq!(s.events_written, 1);
    assert_eq!(
        read_table(&out_events, &EVENTS)[0].record["eventID"],
        "api-1"
    );
}
