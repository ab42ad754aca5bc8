//! Firehose data transformation for CloudWatch Logs subscriptions, with dynamic partitioning.
//!
//! Each Firehose record is base64 of gzip of a CloudWatch Logs subscription payload. The answer
//! for each is one record: `Dropped` for CONTROL_MESSAGE, `ProcessingFailed` (reason logged, the
//! original data kept so Firehose writes it under its error prefix) for what cannot be read, and
//! `Ok` with newline-delimited output and partition keys otherwise:
//! - CloudTrail log groups: each message is one event, written as is; keys `account`, `region`,
//!   `year`, `month`, `day` from the event itself (its true day, not the arrival time);
//! - other log groups: each log event as a JSON line (`id`, `timestamp`, `message`, `owner`,
//!   `logGroup`, `logStream`); keys from the configured list (log stream, event time, ...).
//!
//! A record's events can need different keys (a batch across midnight): the largest group is
//! answered, the others are re-ingested into the stream as payloads of their own. Records whose
//! output would take the response past Firehose's 6 MB are answered `Dropped` and re-ingested
//! (split when large), as the AWS blueprint does: PutRecordBatch with bounded retries; if that
//! still fails the invocation fails, so Firehose retries the batch. Nothing is dropped silently.

//!
//! The layers, each a module: `wire` (Firehose's protocol), `payload` (CloudWatch Logs
//! subscription payloads), `keys` (partition keys and output lines of events), `reingest`
//! (PutRecordBatch with retries); this module reads records and packs the response.

mod keys;
mod payload;
mod reingest;
mod wire;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ctparquet_config::{FirehoseArgs, FirehoseMode};

use keys::{Keys, LogKey};
use payload::{Message, Payload, payloads};
pub use reingest::{FirehoseApi, Reingest};
use wire::{MAX_RESPONSE_BYTES, Metadata, OutRecord, RecordResult};
pub use wire::{TransformEvent, TransformResponse};

/// The transformation, configured once.
pub struct Firehose<R = FirehoseApi> {
    mode: FirehoseMode,
    log_keys: Vec<LogKey>,
    attempts: u32,
    reingest: R,
}

impl Firehose<FirehoseApi> {
    pub fn from_settings(args: &FirehoseArgs) -> Result<Self> {
        Firehose::new(
            args,
            FirehoseApi {
                client: tokio::sync::OnceCell::new(),
            },
        )
    }
}

/// What one record of a Firehose batch was read as.
enum ReadRecord {
    Control,
    Failed(String),
    /// Output groups, the largest first; each with its keys, events and output lines.
    Data(Payload, Vec<(Keys, Vec<usize>, Vec<u8>)>),
}

impl<R: Reingest> Firehose<R> {
    pub fn new(args: &FirehoseArgs, reingest: R) -> Result<Self> {
        let log_keys = args
            .firehose_log_keys
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| LogKey::parse(k))
            .collect::<Result<Vec<_>>>()?;
        if log_keys.is_empty() {
            bail!("CTPARQUET_FIREHOSE_LOG_KEYS names no key");
        }
        Ok(Firehose {
            mode: args.firehose_mode,
            log_keys,
            attempts: args.firehose_reingest_attempts,
            reingest,
        })
    }

    fn is_cloudtrail(&self, payload: &Payload) -> bool {
        match self.mode {
            FirehoseMode::Cloudtrail => true,
            FirehoseMode::Logs => false,
            FirehoseMode::Auto => keys::looks_like_cloudtrail(payload),
        }
    }

    fn read_record(&self, data: &str) -> ReadRecord {
        let payload = match payload::read(data) {
            Ok(Message::Data(payload)) => payload,
            Ok(Message::Control) => return ReadRecord::Control,
            Err(reason) => return ReadRecord::Failed(reason),
        };
        let cloudtrail = self.is_cloudtrail(&payload);
        let mut groups: BTreeMap<Keys, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
        for (i, event) in payload.log_events.iter().enumerate() {
            let made = if cloudtrail {
                keys::trail_event(&payload, event)
            } else {
                keys::log_event(&self.log_keys, &payload, event)
            };
            match made {
                Ok((keys, line)) => {
                    let group = groups.entry(keys).or_default();
                    group.0.push(i);
                    group.1.extend_from_slice(&line);
                }
                Err(reason) => {
                    return ReadRecord::Failed(format!(
                        "{} / {}: {reason}",
                        payload.log_group, payload.log_stream
                    ));
                }
            }
        }
        let mut groups: Vec<_> = groups.into_iter().map(|(k, (e, o))| (k, e, o)).collect();
        // Largest first (stable: ties keep key order).
        groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
        ReadRecord::Data(payload, groups)
    }

    /// Answer every record of a transformation event.
    pub async fn transform(&self, event: TransformEvent) -> Result<TransformResponse> {
        let stream = event
            .delivery_stream_arn
            .rsplit_once("deliverystream/")
            .map(|(_, name)| name.to_string())
            .with_context(|| {
                format!(
                    "deliveryStreamArn {:?} names no delivery stream",
                    event.delivery_stream_arn
                )
            })?;
        // Events that go round again, as payloads of their own.
        let mut again: Vec<Vec<u8>> = Vec::new();
        let mut records = Vec::with_capacity(event.records.len());
        // `{"records":[]}` plus a comma per record.
        let mut size = 16usize;
        let (mut ok, mut dropped, mut failed, mut moved) = (0, 0, 0, 0);
        for record in event.records {
            let id = record.record_id;
            let out = match self.read_record(&record.data) {
                ReadRecord::Control => {
                    dropped += 1;
                    OutRecord::dropped(id)
                }
                ReadRecord::Failed(reason) => {
                    failed += 1;
                    tracing::warn!(record_id = %id, %reason, "record not processed");
                    OutRecord {
                        record_id: id,
                        result: RecordResult::ProcessingFailed,
                        data: Some(record.data),
                        metadata: None,
                    }
                }
                ReadRecord::Data(payload, mut groups) => {
                    let rest = groups.split_off(groups.len().min(1));
                    for (_, events, _) in rest {
                        moved += events.len();
                        again.extend(payloads(&payload, &events));
                    }
                    match groups.pop() {
                        // A DATA_MESSAGE without events.
                        None => {
                            dropped += 1;
                            OutRecord::dropped(id)
                        }
                        Some((keys, events, output)) => {
                            let entry = OutRecord {
                                record_id: id,
                                result: RecordResult::Ok,
                                data: Some(B64.encode(&output)),
                                metadata: Some(Metadata {
                                    partition_keys: keys,
                                }),
                            };
                            let entry_size = entry.json_len();
                            if size + entry_size > MAX_RESPONSE_BYTES {
                                // Does not fit: Dropped here, its events go round again.
                                moved += events.len();
                                again.extend(payloads(&payload, &events));
                                OutRecord::dropped(entry.record_id)
                            } else {
                                ok += 1;
                                size += entry_size;
                                records.push(entry);
                                continue;
                            }
                        }
                    }
                }
            };
            size += out.json_len();
            records.push(out);
        }
        if !again.is_empty() {
            reingest::put_all(&self.reingest, self.attempts, &stream, again).await?;
        }
        tracing::info!(
            ok,
            dropped,
            failed,
            reingested_events = moved,
            response_bytes = size,
            "firehose batch transformed"
        );
        Ok(TransformResponse { records })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use std::io::Read;

    use super::reingest::{PUT_MAX_BYTES, PUT_MAX_RECORDS};
    use super::wire::InRecord;
    use super::*;
    use serde_json::{Value, json};

    /// Records what would be put into the stream; refuses the first `refuse` calls entirely.
    #[derive(Default)]
    struct Recorder {
        put: Mutex<Vec<Vec<u8>>>,
        calls: Mutex<u32>,
        refuse: u32,
    }

    impl Reingest for &Recorder {
        async fn put(&self, stream: &str, records: &[Vec<u8>]) -> Result<Vec<usize>> {
            assert_eq!(stream, "cwl-stream");
            assert!(records.len() <= PUT_MAX_RECORDS);
            assert!(records.iter().map(Vec::len).sum::<usize>() <= PUT_MAX_BYTES);
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            if *calls <= self.refuse {
                // SQS-style partial failure: every record refused.
                return Ok((0..records.len()).collect());
            }
            self.put.lock().unwrap().extend(records.iter().cloned());
            Ok(Vec::new())
        }
    }

    fn args(mode: FirehoseMode) -> FirehoseArgs {
        FirehoseArgs {
            firehose_mode: mode,
            firehose_log_keys: vec![
                "stream".into(),
                "year".into(),
                "month".into(),
                "day".into(),
                "hour".into(),
            ],
            firehose_reingest_attempts: 3,
        }
    }

    /// Every event of the invictus real trail (55 delivery files), as their JSON text.
    fn real_events() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/real-cloudtrail/invictus-aws_dataset/CloudTrail");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            let doc: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            for r in doc["Records"].as_array().unwrap() {
                out.push(r.to_string());
            }
        }
        assert!(out.len() > 1000, "{} events", out.len());
        out
    }

    fn payload(kind: &str, group: &str, stream: &str, messages: &[(i64, String)]) -> Vec<u8> {
        let events: Vec<Value> = messages
            .iter()
            .enumerate()
            .map(|(i, (ts, m))| json!({"id": format!("{i:056}"), "timestamp": ts, "message": m}))
            .collect();
        let body = json!({"messageType": kind, "owner": "218007301253", "logGroup": group,
            "logStream": stream, "subscriptionFilters": ["to-firehose"], "logEvents": events});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, body.to_string().as_bytes()).unwrap();
        gz.finish().unwrap()
    }

    fn record(id: &str, data: &[u8]) -> InRecord {
        InRecord {
            record_id: id.into(),
            data: B64.encode(data),
        }
    }

    fn event(records: Vec<InRecord>) -> TransformEvent {
        TransformEvent {
            delivery_stream_arn:
                "arn:aws:firehose:us-east-1:218007301253:deliverystream/cwl-stream".into(),
            records,
        }
    }

    fn trail_messages(events: &[String]) -> Vec<(i64, String)> {
        events
            .iter()
            .map(|e| (1_688_990_000_000, e.clone()))
            .collect()
    }

    /// The messages inside re-ingested payloads.
    fn reingested(rec: &Recorder) -> Vec<String> {
        let mut out = Vec::new();
        for gz in rec.put.lock().unwrap().iter() {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(gz.as_slice())
                .read_to_end(&mut text)
                .unwrap();
            let p: Payload = serde_json::from_slice(&text).unwrap();
            assert_eq!(p.message_type, "DATA_MESSAGE");
            out.extend(p.log_events.into_iter().map(|e| e.message));
        }
        out
    }

    fn output_lines(r: &OutRecord) -> Vec<String> {
        let data = B64.decode(r.data.as_deref().unwrap()).unwrap();
        String::from_utf8(data)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[tokio::test]
    async fn every_record_is_answered_control_dropped_corrupt_failed() {
        let events = real_events();
        let rec = Recorder::default();
        let firehose = Firehose::new(&args(FirehoseMode::Auto), &rec).unwrap();
        let stream = "218007301253_CloudTrail_us-east-1";
        let records = vec![
            record(
                "control",
                &payload(
                    "CONTROL_MESSAGE",
                    "",
                    "",
                    &[(
                        0,
                        "CWL CONTROL MESSAGE: Checking health of destination Firehose.".into(),
                    )],
                ),
            ),
            record(
                "trail",
                &payload(
                    "DATA_MESSAGE",
                    "aws-cloudtrail-logs",
                    stream,
                    &trail_messages(&events[..50]),
                ),
            ),
            InRecord {
                record_id: "not-base64".into(),
                data: "%%% not base64 %%%".into(),
            },
            record("not-gzip", b"plain text"),
            record("not-payload", &{
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                std::io::Write::write_all(&mut gz, b"{\"hello\": 1}").unwrap();
                gz.finish().unwrap()
            }),
            record(
                "truncated",
                &payload("DATA_MESSAGE", "g", "s", &[(0, "x".into())])[..20],
            ),
        ];
        let response = firehose.transform(event(records)).await.unwrap();
        let results: Vec<(&str, RecordResult)> = response
            .records
            .iter()
            .map(|r| (r.record_id.as_str(), r.result))
            .collect();
        assert_eq!(
            results,
            [
                ("control", RecordResult::Dropped),
                ("trail", RecordResult::Ok),
                ("not-base64", RecordResult::ProcessingFailed),
                ("not-gzip", RecordResult::ProcessingFailed),
                ("not-payload", RecordResult::ProcessingFailed),
                ("truncated", RecordResult::ProcessingFailed),
            ]
        );
        // As the protocol spells them.
        assert_eq!(
            serde_json::to_value(&response.records[2]).unwrap()["result"],
            "ProcessingFailed"
        );
        // Failed records keep their data (Firehose writes it under the error prefix).
        assert_eq!(
            response.records[2].data.as_deref(),
            Some("%%% not base64 %%%")
        );
        let trail = &response.records[1];
        let lines = output_lines(trail);
        // The invictus events of one day, account and region: all in this record, unchanged.
        assert_eq!(lines, events[..50]);
        let keys = &trail.metadata.as_ref().unwrap().partition_keys;
        let first: Value = serde_json::from_str(&events[0]).unwrap();
        let time = first["eventTime"].as_str().unwrap();
        // The event's own account (recipientAccountId), whatever account the stream is named for.
        assert_eq!(
            keys["account"],
            first["recipientAccountId"].as_str().unwrap()
        );
        assert_eq!(keys["region"], first["awsRegion"].as_str().unwrap());
        assert_eq!(
            format!("{}-{}-{}", keys["year"], keys["month"], keys["day"]),
            time[..10]
        );
        assert!(rec.put.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn events_of_another_day_go_round_again_under_their_own_keys() {
        let events = real_events();
        let mut shifted: Value = serde_json::from_str(&events[1]).unwrap();
        shifted["eventTime"] = json!("2023-07-09T23:59:59Z");
        let moved = shifted.to_string();
        let messages = vec![
            (0, events[0].clone()),
            (0, moved.clone()),
            (0, events[2].clone()),
        ];
        let rec = Recorder::default();
        let firehose = Firehose::new(&args(FirehoseMode::Cloudtrail), &rec).unwrap();
        let response = firehose
            .transform(event(vec![record(
                "r",
                &payload("DATA_MESSAGE", "ct", "s", &messages),
            )]))
            .await
            .unwrap();
        assert_eq!(response.records[0].result, RecordResult::Ok);
        assert_eq!(
            output_lines(&response.records[0]),
            [events[0].clone(), events[2].clone()]
        );
        assert_eq!(reingested(&rec), [moved]);
    }

    #[tokio::test]
    async fn a_response_never_passes_6_mb_and_what_does_not_fit_is_reingested() {
        let events = real_events();
        // Every real event 4 times over, 250 events a record: about 9 MB of output.
        let all: Vec<String> = events
            .iter()
            .cycle()
            .take(events.len() * 4)
            .cloned()
            .collect();
        let records: Vec<InRecord> = all
            .chunks(250)
            .enumerate()
            .map(|(i, chunk)| {
                record(
                    &format!("r{i}"),
                    &payload("DATA_MESSAGE", "ct", "s", &trail_messages(chunk)),
                )
            })
            .collect();
        let n = records.len();
        let rec = Recorder {
            refuse: 1,
            ..Recorder::default()
        };
        let firehose = Firehose::new(&args(FirehoseMode::Cloudtrail), &rec).unwrap();
        let response = firehose.transform(event(records)).await.unwrap();
        let size = serde_json::to_vec(&response).unwrap().len();
        assert!(size <= MAX_RESPONSE_BYTES, "{size}");
        assert_eq!(response.records.len(), n);
        let dropped = response
            .records
            .iter()
            .filter(|r| r.result == RecordResult::Dropped)
            .count();
        assert!(dropped > 0 && dropped < n, "{dropped} of {n}");
        // Every event exactly once: in an Ok record or re-ingested (after one refused attempt).
        let mut seen: Vec<String> = response
            .records
            .iter()
            .filter(|r| r.result == RecordResult::Ok)
            .flat_map(output_lines)
            .collect();
        let again = reingested(&rec);
        assert!(!again.is_empty());
        seen.extend(again);
        let mut want = all.clone();
        seen.sort();
        want.sort();
        assert_eq!(seen, want);
        assert!(*rec.calls.lock().unwrap() >= 2);
        // Re-ingested payloads are small enough to fit a later response whole.
        for gz in rec.put.lock().unwrap().iter() {
            assert!(gz.len() < 1_000 * 1024);
        }
    }

    #[tokio::test]
    async fn reingest_that_keeps_failing_fails_the_invocation() {
        let events = real_events();
        let messages = vec![
            (0, events[0].clone()),
            (0, {
                let mut v: Value = serde_json::from_str(&events[1]).unwrap();
                v["eventTime"] = json!("2020-01-01T00:00:00Z");
                v.to_string()
            }),
        ];
        let rec = Recorder {
            refuse: 99,
            ..Recorder::default()
        };
        let firehose = Firehose::new(&args(FirehoseMode::Cloudtrail), &rec).unwrap();
        let error = firehose
            .transform(event(vec![record(
                "r",
                &payload("DATA_MESSAGE", "ct", "s", &messages),
            )]))
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("still refused after 3 attempt"),
            "{error:#}"
        );
        assert_eq!(*rec.calls.lock().unwrap(), 3);
    }

    #[tokio::test]
    async fn other_logs_are_keyed_by_stream_and_event_hour() {
        let rec = Recorder::default();
        let firehose = Firehose::new(&args(FirehoseMode::Auto), &rec).unwrap();
        // 2026-01-05T10:59:59Z and 11:00:00Z: two hours, two groups.
        let messages = vec![
            (
                1_767_610_799_000,
                "Jan  5 10:59:59 ip-10-0-0-1 sshd[1]: Accepted publickey".to_string(),
            ),
            (
                1_767_610_799_500,
                "Jan  5 10:59:59 ip-10-0-0-1 sshd[1]: session opened".to_string(),
            ),
            (
                1_767_610_800_000,
                "Jan  5 11:00:00 ip-10-0-0-1 CRON[2]: job".to_string(),
            ),
        ];
        let response = firehose
            .transform(event(vec![record(
                "r",
                &payload(
                    "DATA_MESSAGE",
                    "/var/log/syslog",
                    "i-0abc123/syslog",
                    &messages,
                ),
            )]))
            .await
            .unwrap();
        let r = &response.records[0];
        assert_eq!(r.result, RecordResult::Ok);
        let keys = &r.metadata.as_ref().unwrap().partition_keys;
        assert_eq!(keys["stream"], "i-0abc123_syslog");
        assert_eq!(
            (
                keys["year"].as_str(),
                keys["month"].as_str(),
                keys["day"].as_str(),
                keys["hour"].as_str()
            ),
            ("2026", "01", "05", "10")
        );
        let lines: Vec<Value> = output_lines(r)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["message"], messages[0].1);
        assert_eq!(lines[0]["logStream"], "i-0abc123/syslog");
        assert_eq!(lines[0]["timestamp"], 1_767_610_799_000i64);
        assert_eq!(reingested(&rec), [messages[2].1.clone()]);
    }

    #[test]
    fn unknown_log_keys_are_refused_by_name() {
        let mut a = args(FirehoseMode::Logs);
        a.firehose_log_keys = vec!["stream".into(), "minute".into()];
        let error = Firehose::new(&a, &Recorder::default()).err().unwrap();
        assert!(error.to_string().contains("\"minute\""), "{error}");
    }
}
