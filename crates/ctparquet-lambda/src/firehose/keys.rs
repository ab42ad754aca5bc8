//! Partition keys and output lines of log events: a CloudTrail event is keyed by its own account,
//! region and day (its true day, not the arrival time) and written as it is; an event of any
//! other log group by the configured keys, as a JSON line with its envelope.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Deserialize;

use super::payload::{LogEvent, Payload};

/// Partition keys by name (Firehose dynamic partitioning's `partitionKeys`).
pub(super) type Keys = BTreeMap<String, String>;

/// The CloudTrail fields that decide an event's partition.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrailFields {
    event_time: Option<String>,
    event_version: Option<String>,
    recipient_account_id: Option<String>,
    aws_region: Option<String>,
    user_identity: Option<Identity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    account_id: Option<String>,
}

/// Whether a payload's events look like CloudTrail events (the first has an eventVersion and
/// an eventTime).
pub(super) fn looks_like_cloudtrail(payload: &Payload) -> bool {
    payload.log_events.first().is_some_and(|e| {
        serde_json::from_str::<TrailFields>(&e.message)
            .is_ok_and(|f| f.event_version.is_some() && f.event_time.is_some())
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum LogKey {
    Owner,
    Group,
    Stream,
    Year,
    Month,
    Day,
    Hour,
}

impl LogKey {
    pub(super) fn parse(name: &str) -> Result<LogKey> {
        Ok(match name.trim() {
            "owner" => LogKey::Owner,
            "group" => LogKey::Group,
            "stream" => LogKey::Stream,
            "year" => LogKey::Year,
            "month" => LogKey::Month,
            "day" => LogKey::Day,
            "hour" => LogKey::Hour,
            other => bail!(
                "CTPARQUET_FIREHOSE_LOG_KEYS: unknown key {other:?} (use owner, group, stream, year, month, day, hour)"
            ),
        })
    }

    fn name(self) -> &'static str {
        match self {
            LogKey::Owner => "owner",
            LogKey::Group => "group",
            LogKey::Stream => "stream",
            LogKey::Year => "year",
            LogKey::Month => "month",
            LogKey::Day => "day",
            LogKey::Hour => "hour",
        }
    }
}

/// A partition key value safe in an S3 prefix.
fn key_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "unknown".into()
    } else {
        cleaned
    }
}

/// Keys and output line of a CloudTrail event.
pub(super) fn trail_event(payload: &Payload, event: &LogEvent) -> Result<(Keys, Vec<u8>), String> {
    // Parsing the fields checks the whole message is JSON; the message itself is the line.
    let fields: TrailFields = serde_json::from_str(&event.message)
        .map_err(|e| format!("log event {}: not a CloudTrail event: {e}", event.id))?;
    let time = fields
        .event_time
        .as_deref()
        .and_then(ctparquet::time::parse_event_time)
        .ok_or_else(|| format!("log event {}: no usable eventTime", event.id))?;
    let (year, month, day) =
        ctparquet::time::day_partition(ctparquet::time::day_of_millis(time.millis()));
    let account = fields
        .recipient_account_id
        .or(fields.user_identity.and_then(|u| u.account_id))
        .unwrap_or_else(|| payload.owner.clone());
    let region = fields.aws_region.unwrap_or_else(|| "unknown".into());
    let keys = Keys::from([
        ("account".into(), key_value(&account)),
        ("region".into(), key_value(&region)),
        ("year".into(), year),
        ("month".into(), month),
        ("day".into(), day),
    ]);
    let mut line = event.message.trim().as_bytes().to_vec();
    line.push(b'\n');
    Ok((keys, line))
}

/// Keys and output line of a log event of any other log group.
pub(super) fn log_event(
    log_keys: &[LogKey],
    payload: &Payload,
    event: &LogEvent,
) -> Result<(Keys, Vec<u8>), String> {
    let time = chrono::DateTime::from_timestamp_millis(event.timestamp).ok_or_else(|| {
        format!(
            "log event {}: timestamp {} out of range",
            event.id, event.timestamp
        )
    })?;
    let keys = log_keys
        .iter()
        .map(|k| {
            let value = match k {
                LogKey::Owner => key_value(&payload.owner),
                LogKey::Group => key_value(&payload.log_group),
                LogKey::Stream => key_value(&payload.log_stream),
                LogKey::Year => time.format("%Y").to_string(),
                LogKey::Month => time.format("%m").to_string(),
                LogKey::Day => time.format("%d").to_string(),
                LogKey::Hour => time.format("%H").to_string(),
            };
            (k.name().to_string(), value)
        })
        .collect();
    let mut line = serde_json::to_vec(&serde_json::json!({
        "id": event.id,
        "timestamp": event.timestamp,
        "message": event.message,
        "owner": payload.owner,
        "logGroup": payload.log_group,
        "logStream": payload.log_stream,
    }))
    .expect("json");
    line.push(b'\n');
    Ok((keys, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_are_safe_in_an_s3_prefix() {
        assert_eq!(key_value("/aws/cloudtrail/org"), "_aws_cloudtrail_org");
        assert_eq!(key_value("us-east-1"), "us-east-1");
        assert_eq!(key_value(".."), "unknown");
        assert_eq!(key_value(""), "unknown");
    }

    #[test]
    fn a_cloudtrail_event_is_keyed_by_its_own_day_and_account() {
        let payload = Payload {
            owner: "999999999999".into(),
            log_group: "g".into(),
            log_stream: "s".into(),
            subscription_filters: Vec::new(),
            message_type: "DATA_MESSAGE".into(),
            log_events: vec![LogEvent {
                id: "1".into(),
                timestamp: 0,
                message: r#"{"eventVersion":"1.11","eventTime":"2026-01-04T23:59:59Z","recipientAccountId":"111122223333","awsRegion":"eu-west-1"}"#.into(),
            }],
        };
        assert!(looks_like_cloudtrail(&payload));
        let (keys, line) = trail_event(&payload, &payload.log_events[0]).unwrap();
        let get = |k: &str| keys[k].as_str();
        assert_eq!(
            (
                get("account"),
                get("region"),
                get("year"),
                get("month"),
                get("day")
            ),
            ("111122223333", "eu-west-1", "2026", "01", "04")
        );
        assert!(line.ends_with(b"}\n"));
    }
}
