//! CloudWatch Embedded Metric Format: one JSON line on stdout per invocation, turned into
//! metrics by CloudWatch Logs, so no metrics API call (nor its IAM permission) is needed.

use std::time::Duration;

use ctparquet_jobs::Totals;
use serde_json::{Map, Value, json};

/// The metrics line for one invocation of `trigger` ("schedule", "sqs", "direct").
pub fn emf_line(
    namespace: &str,
    trigger: &str,
    totals: &Totals,
    extra: &[(&str, u64)],
    elapsed: Duration,
) -> String {
    let counts: [(&str, u64); 10] = [
        ("FilesRead", totals.files_read),
        ("EventsRead", totals.events_read),
        ("EventsWritten", totals.events_written),
        ("LateEventsMoved", totals.late_events_moved),
        ("DuplicatesDropped", totals.duplicates_dropped),
        ("BadFiles", totals.bad_files),
        ("DaysWritten", totals.days_written),
        ("DaysKept", totals.days_kept),
        ("BytesRead", totals.bytes_read),
        ("BytesWritten", totals.bytes_written),
    ];
    let mut line = Map::new();
    let mut definitions = Vec::new();
    for (name, value) in counts.iter().chain(extra) {
        let unit = if name.starts_with("Bytes") {
            "Bytes"
        } else {
            "Count"
        };
        definitions.push(json!({"Name": name, "Unit": unit}));
        line.insert(name.to_string(), json!(value));
    }
    definitions.push(json!({"Name": "Duration", "Unit": "Milliseconds"}));
    line.insert("Duration".into(), json!(elapsed.as_millis() as u64));
    line.insert("Trigger".into(), json!(trigger));
    let timestamp = chrono::Utc::now().timestamp_millis();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Trigger"]],
                "Metrics": definitions,
            }]
        }),
    );
    Value::Object(line).to_string()
}

/// Print the metrics line (stdout is the function's log stream).
pub fn emit(
    namespace: &str,
    trigger: &str,
    totals: &Totals,
    extra: &[(&str, u64)],
    elapsed: Duration,
) {
    println!("{}", emf_line(namespace, trigger, totals, extra, elapsed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_declared_is_in_the_line() {
        let totals = Totals {
            files_read: 3,
            bytes_written: 10,
            ..Totals::default()
        };
        let line: Value = serde_json::from_str(&emf_line(
            "ns",
            "sqs",
            &totals,
            &[("Enqueued", 4)],
            Duration::from_millis(7),
        ))
        .unwrap();
        let metrics = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        assert_eq!(metrics.len(), 12);
        for m in metrics {
            let name = m["Name"].as_str().unwrap();
            assert!(line[name].is_u64(), "{name} missing");
        }
        assert_eq!(line["FilesRead"], 3);
        assert_eq!(line["Enqueued"], 4);
        assert_eq!(line["Duration"], 7);
        assert_eq!(line["Trigger"], "sqs");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Trigger"
        );
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ns");
    }
}
