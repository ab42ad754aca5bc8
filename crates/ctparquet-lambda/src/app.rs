//! The handler: settings, source, destination and queue set up once per container; each
//! invocation turned into jobs, run here or fanned out, and answered.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use ctparquet::{ConvertOptions, Location};
use ctparquet_config::{LambdaSettings, convert_options};
use ctparquet_jobs::job::scheduled_days;
use ctparquet_jobs::run::Failure;
use ctparquet_jobs::{Job, JobQueue, Outcome, Runner, SqsQueue, Task, Unit, plan, plan_upgrade};
use lambda_runtime::{Context, Diagnostic};
use serde::Serialize;
use serde_json::Value;

use crate::event::Invocation;
use crate::metrics;

/// An invocation's error, named for the caller (and logged).
fn failure(kind: &str, message: impl std::fmt::Display) -> Diagnostic {
    let message = message.to_string();
    tracing::error!(error_type = kind, error = %message, "invocation failed");
    Diagnostic {
        error_type: kind.to_string(),
        error_message: message,
    }
}

fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("responses serialize")
}

pub struct App {
    pub settings: LambdaSettings,
    /// The conversion settings of every job (each job's days and lists narrow its scope).
    options: ConvertOptions,
    /// Source and destination of conversions (absent in a Firehose-only function).
    locations: Option<(Location, Location)>,
    queue: Option<SqsQueue>,
    pub firehose: crate::firehose::Firehose,
}

/// What one job came to: the response of direct and scheduled invocations.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Units (consecutive days of an account and region) the job covered.
    pub units: usize,
    pub converted: Vec<Unit>,
    /// Upgrades (absent for conversions): days rewritten in the current schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgraded: Option<Vec<Unit>>,
    /// Upgrades (absent for conversions): days already current, left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Vec<Unit>>,
    pub failed: Vec<Failure>,
    /// Units sent to the queue as messages of their own.
    pub fanned_out: usize,
    /// Units not finished in time, re-enqueued.
    pub handed_back: usize,
    pub totals: ctparquet_jobs::Totals,
}

impl App {
    pub async fn new(settings: LambdaSettings) -> Result<App> {
        let s3 = settings.s3.with_writes(&settings.s3_writes);
        let locations = match (&settings.source, &settings.dest) {
            (Some(source), Some(dest)) => Some((
                Location::parse(source, false, &s3)
                    .await
                    .context("CTPARQUET_SOURCE")?,
                Location::parse(dest, true, &s3)
                    .await
                    .context("CTPARQUET_DEST")?,
            )),
            (None, None) => None,
            _ => anyhow::bail!("set both CTPARQUET_SOURCE and CTPARQUET_DEST, or neither"),
        };
        // The conversion settings, checked now rather than at the first event; each job sets
        // the days.
        let today = chrono::Utc::now().date_naive();
        let options = settings
            .scope
            .scope(today, today)
            .and_then(|scope| convert_options(scope, &settings.tuning))
            .context("conversion settings")?;
        let queue = match settings.queue_url.as_deref() {
            Some(url) if !url.is_empty() => {
                Some(SqsQueue::from_env(url, s3.profile.as_deref()).await)
            }
            _ => None,
        };
        let firehose = crate::firehose::Firehose::from_settings(&settings.firehose)?;
        Ok(App {
            settings,
            options,
            locations,
            queue,
            firehose,
        })
    }

    /// The instant after which no unit starts and no day is written in this invocation.
    fn deadline(&self, ctx: &Context) -> Instant {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let deadline_ms = ctx.deadline as i64;
        // Lambda gives the deadline in epoch milliseconds. Some emulators (cargo-lambda 1.9)
        // give the timeout itself: a value before 2001 can only be that.
        let remaining_ms = if deadline_ms < 978_307_200_000 {
            deadline_ms
        } else {
            deadline_ms - now_ms
        };
        let remaining = Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(0));
        let margin = Duration::from_secs(self.settings.deadline_margin_secs);
        tracing::debug!(
            remaining_ms = remaining.as_millis() as u64,
            margin_secs = margin.as_secs(),
            "invocation time left"
        );
        Instant::now() + remaining.saturating_sub(margin)
    }

    pub async fn handle(&self, payload: Value, ctx: Context) -> Result<Value, Diagnostic> {
        let started = Instant::now();
        let deadline = self.deadline(&ctx);
        let namespace = &self.settings.metrics_namespace;
        let invocation = Invocation::classify(payload).map_err(|e| failure("InvalidEvent", e))?;
        match invocation {
            Invocation::Schedule(event) => {
                let time = event.time.unwrap_or_else(chrono::Utc::now);
                let (from, to) = scheduled_days(
                    time,
                    self.settings.schedule_offset_days,
                    self.settings.schedule_days,
                )
                .ok_or_else(|| failure("InvalidEvent", "schedule time out of range"))?;
                tracing::info!(%time, %from, %to, "scheduled conversion");
                let task = Task::Convert(Job::range(from, to));
                let report = self.execute(&task, deadline).await;
                self.answer("schedule", report, started)
            }
            Invocation::Direct(task) => {
                tracing::info!(task = ?task, "direct invocation");
                let report = self.execute(&task, deadline).await;
                self.answer("direct", report, started)
            }
            Invocation::Sqs(event) => {
                let (response, outcome, extra) = self.sqs(event, deadline).await;
                metrics::emit(namespace, "sqs", &outcome.totals, &extra, started.elapsed());
                Ok(to_json(&response))
            }
            Invocation::Firehose(event) => {
                let response = self
                    .firehose
                    .transform(event)
                    .await
                    .map_err(|e| failure("FirehoseReingestFailed", format!("{e:#}")))?;
                Ok(to_json(&response))
            }
        }
    }

    /// Metrics, then the report, or an error naming the failed days (so the invocation counts
    /// as failed and alarms see it).
    fn answer(
        &self,
        trigger: &str,
        report: Result<Report>,
        started: Instant,
    ) -> Result<Value, Diagnostic> {
        let namespace = &self.settings.metrics_namespace;
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                metrics::emit(
                    namespace,
                    trigger,
                    &Default::default(),
                    &[("FailedUnits", 1)],
                    started.elapsed(),
                );
                return Err(failure("ConversionFailed", format!("{e:#}")));
            }
        };
        metrics::emit(
            namespace,
            trigger,
            &report.totals,
            &[
                ("FailedUnits", report.failed.len() as u64),
                ("Enqueued", (report.fanned_out + report.handed_back) as u64),
            ],
            started.elapsed(),
        );
        if !report.failed.is_empty() {
            let days: Vec<String> = report
                .failed
                .iter()
                .map(|f| format!("{}: {}", f.unit, f.error))
                .collect();
            return Err(failure(
                "ConversionFailed",
                format!("{} day(s) not done: {}", days.len(), days.join("; ")),
            ));
        }
        Ok(to_json(&report))
    }

    /// Plan a task, then fan it out or run it here; work left at the deadline is re-enqueued.
    pub async fn execute(&self, task: &Task, deadline: Instant) -> Result<Report> {
        let (source, dest) = self.locations.as_ref().context(
            "this function has no CTPARQUET_SOURCE and CTPARQUET_DEST: it only transforms Firehose records",
        )?;
        let job = task.job();
        let options = ConvertOptions {
            scope: job.scope(&self.options.scope)?,
            ..self.options.clone()
        };
        // A conversion's days are those the source delivered; an upgrade's, those written.
        let units = match task {
            Task::Convert(_) => {
                plan(source, &options.scope, self.settings.unit_bytes)
                    .await?
                    .units
            }
            Task::Upgrade(_) => plan_upgrade(dest, &options.scope).await?,
        };
        let mut report = Report {
            units: units.len(),
            upgraded: task.is_upgrade().then(Vec::new),
            current: task.is_upgrade().then(Vec::new),
            ..Report::default()
        };
        let fan_out = match job.fanout {
            Some(explicit) => explicit,
            None => units.len() > self.settings.inline_max_units && self.queue.is_some(),
        };
        if fan_out {
            let queue = self
                .queue
                .as_ref()
                .context("fan-out needs a queue: set CTPARQUET_QUEUE_URL")?;
            let jobs: Vec<Task> = units.iter().map(|unit| task.for_unit(unit)).collect();
            queue.send(&jobs).await?;
            tracing::info!(messages = jobs.len(), queue = queue.url(), "fanned out");
            report.fanned_out = jobs.len();
            return Ok(report);
        }
        let runner = Runner {
            source,
            dest,
            options: &options,
            deadline: Some(deadline),
        };
        let Outcome {
            done,
            current,
            failed,
            left,
            totals,
        } = match task {
            Task::Convert(_) => runner.run(units).await,
            Task::Upgrade(_) => runner.upgrade(units).await,
        };
        if task.is_upgrade() {
            report.upgraded = Some(done);
            report.current = Some(current);
        } else {
            report.converted = done;
        }
        report.failed = failed;
        report.totals = totals;
        if !left.is_empty() {
            match &self.queue {
                Some(queue) => {
                    let jobs: Vec<Task> = left.iter().map(|unit| task.for_unit(unit)).collect();
                    queue.send(&jobs).await?;
                    tracing::warn!(units = left.len(), "out of time: the rest re-enqueued");
                    report.handed_back = left.len();
                }
                None => report.failed.extend(left.into_iter().map(|unit| Failure {
                    unit,
                    error:
                        "out of time, and no queue (CTPARQUET_QUEUE_URL) to hand it back to".into(),
                })),
            }
        }
        Ok(report)
    }

    /// Each message is a job; a message fails alone (partial batch response), so SQS retries
    /// only it and moves it to the dead-letter queue after the redrive policy's receives.
    async fn sqs(
        &self,
        event: SqsEvent,
        deadline: Instant,
    ) -> (SqsBatchResponse, Outcome, Vec<(&'static str, u64)>) {
        let mut response = SqsBatchResponse::default();
        let mut outcome = Outcome::default();
        let (mut failed_messages, mut enqueued) = (0u64, 0u64);
        for message in event.records {
            let id = message.message_id.clone().unwrap_or_default();
            let body = message.body.as_deref().unwrap_or("");
            let result: Result<()> = async {
                let task = Task::parse(body).context("message body")?;
                if Instant::now() >= deadline {
                    // Not started: hand it back as a new message (no receive is spent on it).
                    let queue = self.queue.as_ref().context("out of time, and no queue")?;
                    queue.send(std::slice::from_ref(&task)).await?;
                    enqueued += 1;
                    return Ok(());
                }
                let report = self.execute(&task, deadline).await?;
                enqueued += (report.fanned_out + report.handed_back) as u64;
                outcome.totals += &report.totals;
                if let Some(f) = report.failed.first() {
                    anyhow::bail!(
                        "{} day(s) failed, first {}: {}",
                        report.failed.len(),
                        f.unit,
                        f.error
                    );
                }
                Ok(())
            }
            .await;
            if let Err(error) = result {
                tracing::error!(message_id = %id, body, error = format!("{error:#}"), "job message failed");
                failed_messages += 1;
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        (
            response,
            outcome,
            vec![("FailedMessages", failed_messages), ("Enqueued", enqueued)],
        )
    }
}
