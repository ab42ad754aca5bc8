//! What invoked the function, told apart by the shape of the payload.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use ctparquet_jobs::{JobError, Task};
use serde_json::Value;

use crate::firehose::TransformEvent;

/// The four kinds of event the function handles.
pub enum Invocation {
    /// An EventBridge schedule (rule or Scheduler): convert the day(s) before its time.
    Schedule(Box<EventBridgeEvent>),
    /// A batch from the job queue; failures are answered per message.
    Sqs(SqsEvent),
    /// A Firehose transformation batch (CloudWatch Logs subscription records).
    Firehose(TransformEvent),
    /// A direct invocation with a job (a conversion or an upgrade).
    Direct(Task),
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("not a {kind} event: {error}")]
    Shape { kind: &'static str, error: String },
    #[error("direct invocation: {0}")]
    Job(#[from] JobError),
}

fn shape(kind: &'static str) -> impl Fn(serde_json::Error) -> EventError {
    move |e| EventError::Shape {
        kind,
        error: e.to_string(),
    }
}

impl Invocation {
    pub fn classify(payload: Value) -> Result<Invocation, EventError> {
        let is_sqs = payload["Records"]
            .as_array()
            .and_then(|r| r.first())
            .is_some_and(|r| r["eventSource"] == "aws:sqs");
        if is_sqs {
            return serde_json::from_value(payload)
                .map(Invocation::Sqs)
                .map_err(shape("SQS"));
        }
        if payload["detail-type"] == "Scheduled Event" {
            return serde_json::from_value(payload)
                .map(|e| Invocation::Schedule(Box::new(e)))
                .map_err(shape("EventBridge scheduled"));
        }
        if payload.get("deliveryStreamArn").is_some() && payload.get("records").is_some() {
            return serde_json::from_value(payload)
                .map(Invocation::Firehose)
                .map_err(shape("Firehose transformation"));
        }
        Ok(Invocation::Direct(Task::parse(&payload.to_string())?))
    }
}
