//! Re-ingestion: records put back into the delivery stream with PutRecordBatch, in batches
//! within its limits, refused records retried with backoff a bounded number of times.

use anyhow::{Result, bail};

/// PutRecordBatch limits: records and bytes per call.
pub(super) const PUT_MAX_RECORDS: usize = 500;
pub(super) const PUT_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Where re-ingested records go: the delivery stream, through PutRecordBatch.
pub trait Reingest: Send + Sync {
    /// Put `records` into `stream`; the indexes of those refused (to be retried).
    fn put(
        &self,
        stream: &str,
        records: &[Vec<u8>],
    ) -> impl Future<Output = Result<Vec<usize>>> + Send;
}

/// The AWS Firehose API.
pub struct FirehoseApi {
    pub(super) client: tokio::sync::OnceCell<aws_sdk_firehose::Client>,
}

impl Reingest for FirehoseApi {
    async fn put(&self, stream: &str, records: &[Vec<u8>]) -> Result<Vec<usize>> {
        use aws_sdk_firehose::primitives::Blob;
        use aws_sdk_firehose::types::Record;
        let client = self
            .client
            .get_or_init(|| async {
                let config = ctparquet::aws::sdk_config(None).await;
                aws_sdk_firehose::Client::new(&config)
            })
            .await;
        let entries = records
            .iter()
            .map(|r| Record::builder().data(Blob::new(r.clone())).build())
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .put_record_batch()
            .delivery_stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_firehose::error::DisplayErrorContext(&e)))?;
        Ok(out
            .request_responses
            .iter()
            .enumerate()
            .filter(|(_, r)| r.error_code.is_some())
            .map(|(i, _)| i)
            .collect())
    }
}

/// PutRecordBatch in batches within its limits, retrying refused records with backoff.
pub(super) async fn put_all(
    reingest: &impl Reingest,
    attempts: u32,
    stream: &str,
    records: Vec<Vec<u8>>,
) -> Result<()> {
    let total = records.len();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0;
    let mut batches = Vec::new();
    for r in records {
        if !batch.is_empty() && (batch.len() == PUT_MAX_RECORDS || bytes + r.len() > PUT_MAX_BYTES)
        {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += r.len();
        batch.push(r);
    }
    batches.push(batch);
    for mut pending in batches {
        let mut attempt = 1;
        loop {
            let refused = match reingest.put(stream, &pending).await {
                Ok(refused) => refused,
                Err(e) if attempt < attempts => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        attempt,
                        "PutRecordBatch failed; retrying"
                    );
                    (0..pending.len()).collect()
                }
                Err(e) => {
                    return Err(e.context(format!("re-ingesting {total} record(s) into {stream}")));
                }
            };
            if refused.is_empty() {
                break;
            }
            if attempt >= attempts {
                bail!(
                    "re-ingesting into {stream}: {} record(s) still refused after {attempt} attempt(s)",
                    refused.len()
                );
            }
            pending = refused
                .into_iter()
                .map(|i| std::mem::take(&mut pending[i]))
                .collect();
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(6))).await;
            attempt += 1;
        }
    }
    tracing::info!(records = total, stream, "records re-ingested");
    Ok(())
}
