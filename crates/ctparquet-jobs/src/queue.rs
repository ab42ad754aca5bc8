//! Jobs sent to a queue: fan-out of large jobs, backfill, and work handed back at a deadline.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use serde::Serialize;

/// A queue of jobs ([`crate::Job`]s and [`crate::Task`]s). SQS in production; the trait keeps
/// callers independent of it.
pub trait JobQueue: Send + Sync {
    /// Send every job, one message each; an error names how many were not sent.
    fn send<T: Serialize + Sync>(
        &self,
        jobs: &[T],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("queue {queue}: {sent} of {total} job message(s) sent: {reason}")]
pub struct QueueError {
    pub queue: String,
    pub sent: usize,
    pub total: usize,
    pub reason: String,
}

/// An SQS queue (standard or FIFO is not needed: jobs are idempotent).
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

/// SQS takes at most 10 messages per batch.
const BATCH: usize = 10;
/// Attempts of the entries of a batch that SQS refused (throttling, internal errors).
const ATTEMPTS: usize = 5;

impl SqsQueue {
    /// A client from the standard AWS configuration of `profile` (or `AWS_PROFILE`): the same
    /// chain as S3's ([`ctparquet::aws`]), plus `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SQS`.
    pub async fn from_env(url: &str, profile: Option<&str>) -> SqsQueue {
        let config = ctparquet::aws::sdk_config(profile).await;
        SqsQueue {
            client: aws_sdk_sqs::Client::new(&config),
            url: url.to_string(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl JobQueue for SqsQueue {
    async fn send<T: Serialize + Sync>(&self, jobs: &[T]) -> Result<(), QueueError> {
        let fail = |sent: usize, reason: String| QueueError {
            queue: self.url.clone(),
            sent,
            total: jobs.len(),
            reason,
        };
        let mut sent = 0;
        for batch in jobs.chunks(BATCH) {
            let mut pending: Vec<(String, String)> = batch
                .iter()
                .enumerate()
                .map(|(i, job)| {
                    let body = serde_json::to_string(job).expect("a job serializes");
                    (i.to_string(), body)
                })
                .collect();
            for attempt in 1..=ATTEMPTS {
                let entries = pending
                    .iter()
                    .map(|(id, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(id)
                            .message_body(body)
                            .build()
                            .expect("id and body are set")
                    })
                    .collect::<Vec<_>>();
                let result = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| {
                        fail(
                            sent,
                            aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
                        )
                    })?;
                let refused: Vec<String> = result.failed.iter().map(|f| f.id.clone()).collect();
                sent += pending.len() - refused.len();
                if refused.is_empty() {
                    break;
                }
                let reasons: Vec<String> = result
                    .failed
                    .iter()
                    .map(|f| format!("{}: {}", f.code, f.message.as_deref().unwrap_or("")))
                    .collect();
                if attempt == ATTEMPTS {
                    return Err(fail(sent, reasons.join("; ")));
                }
                tracing::warn!(
                    refused = refused.len(),
                    ?reasons,
                    "SQS refused messages; retrying"
                );
                pending.retain(|(id, _)| refused.contains(id));
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
        }
        Ok(())
    }
}
