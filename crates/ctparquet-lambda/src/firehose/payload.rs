//! CloudWatch Logs subscription payloads: what a Firehose record holds (base64 of gzip of JSON),
//! read with a bound on what it inflates to, and written again for events that go round once more.

use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// A payload inflating beyond this is refused (a subscription payload is at most ~1 MB gzip).
const MAX_PAYLOAD_BYTES: u64 = 64 * 1024 * 1024;
/// Output a re-ingested payload may produce at most, so it fits any later response.
const MAX_REINGEST_OUTPUT: usize = 1_000_000;

/// A CloudWatch Logs subscription payload.
#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct Payload {
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub log_group: String,
    #[serde(default)]
    pub log_stream: String,
    #[serde(default)]
    pub subscription_filters: Vec<String>,
    pub message_type: String,
    #[serde(default)]
    pub log_events: Vec<LogEvent>,
}

#[derive(Deserialize, Serialize, Clone)]
pub(super) struct LogEvent {
    pub id: String,
    pub timestamp: i64,
    pub message: String,
}

/// What a record's data holds.
pub(super) enum Message {
    /// CloudWatch Logs checking that it can deliver: nothing to write.
    Control,
    Data(Payload),
}

/// Read a record's data (base64 text) into its payload, or say why it cannot be read.
pub(super) fn read(data: &str) -> Result<Message, String> {
    let compressed = B64
        .decode(data.trim())
        .map_err(|e| format!("data is not base64: {e}"))?;
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed.as_slice())
        .take(MAX_PAYLOAD_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("data is not gzip: {e}"))?;
    if text.len() as u64 > MAX_PAYLOAD_BYTES {
        return Err(format!("payload inflates beyond {MAX_PAYLOAD_BYTES} bytes"));
    }
    let payload: Payload = serde_json::from_slice(&text)
        .map_err(|e| format!("not a CloudWatch Logs subscription payload: {e}"))?;
    match payload.message_type.as_str() {
        "CONTROL_MESSAGE" => Ok(Message::Control),
        "DATA_MESSAGE" => Ok(Message::Data(payload)),
        other => Err(format!("unknown messageType {other:?}")),
    }
}

/// `events` of `payload` as gzipped subscription payloads, each small enough that its output
/// fits a later response whatever else is in it.
pub(super) fn payloads(payload: &Payload, events: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk: Vec<LogEvent> = Vec::new();
    let mut chunk_bytes = 0;
    let mut flush = |chunk: &mut Vec<LogEvent>| {
        if chunk.is_empty() {
            return;
        }
        let part = Payload {
            log_events: std::mem::take(chunk),
            ..payload.clone()
        };
        let json = serde_json::to_vec(&part).expect("json");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &json).expect("in memory");
        out.push(gz.finish().expect("in memory"));
    };
    for &i in events {
        let event = &payload.log_events[i];
        // The output line is about the message plus its envelope.
        let cost = event.message.len() + event.id.len() + 200;
        if chunk_bytes + cost > MAX_REINGEST_OUTPUT {
            flush(&mut chunk);
            chunk_bytes = 0;
        }
        chunk_bytes += cost;
        chunk.push(event.clone());
    }
    flush(&mut chunk);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_data_says_which_layer_failed() {
        let err = |data: &str| read(data).err().expect("refused");
        assert!(err("not base64!").starts_with("data is not base64"));
        assert!(err(&B64.encode(b"plain")).starts_with("data is not gzip"));
        let gz = |text: &[u8]| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut gz, text).unwrap();
            B64.encode(gz.finish().unwrap())
        };
        assert!(err(&gz(b"[]")).starts_with("not a CloudWatch Logs subscription payload"));
        assert!(err(&gz(br#"{"messageType":"OTHER"}"#)).starts_with("unknown messageType"));
        assert!(matches!(
            read(&gz(br#"{"messageType":"CONTROL_MESSAGE"}"#)),
            Ok(Message::Control)
        ));
    }
}
