//! `ctparquet-lambda`: the AWS Lambda (provided.al2023) over the ctparquet library.
//!
//! One binary, one handler, four kinds of event (see [`event::Invocation`]): EventBridge
//! scheduled events, SQS batches of jobs, direct invocations with a job, Firehose
//! transformation records. Settings come from the environment, parsed once at start into
//! [`ctparquet_config::LambdaSettings`]; `ctparquet-lambda --help` lists them.

mod app;
mod event;
mod firehose;
mod metrics;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use ctparquet_config::{LambdaSettings, env_vars};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

fn init_logging() {
    // JSON lines on stdout (CloudWatch Logs), with the runtime's span fields (the request id).
    let filter = tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .init();
}

/// A settings error, with the environment variable the flag it names is read from.
fn name_the_variable(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let text = text.trim().trim_start_matches("error: ");
    let command = LambdaSettings::command();
    let flag = error
        .get(clap::error::ContextKind::InvalidArg)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let variable = command.get_arguments().find_map(|arg| {
        let long = arg.get_long()?;
        let named = flag == format!("--{long}") || flag.starts_with(&format!("--{long} "));
        named.then(|| arg.get_env()?.to_str().map(str::to_string))?
    });
    match variable {
        Some(v) => format!("{v}: {text}"),
        None => text.to_string(),
    }
}

fn main() -> ExitCode {
    ctparquet::alloc::limit_malloc_arenas();
    // `--print-env`: the environment variables the Lambda reads, as JSON (for the Terraform
    // module's tests and docs).
    if std::env::args().nth(1).as_deref() == Some("--print-env") {
        let vars: Vec<Value> = env_vars(&LambdaSettings::command())
            .into_iter()
            .map(|v| serde_json::json!({"name": v.name, "help": v.help, "default": v.default}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&vars).expect("json"));
        return ExitCode::SUCCESS;
    }
    let settings = match LambdaSettings::try_parse() {
        Ok(s) => s,
        Err(e) => {
            // Help and version go to stdout; a bad setting fails the Lambda's init, named by
            // its environment variable (clap names the flag).
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", name_the_variable(&e));
            return ExitCode::FAILURE;
        }
    };
    init_logging();
    let runtime = match ctparquet::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let app = match app::App::new(settings).await {
            Ok(app) => app,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "invalid configuration");
                return ExitCode::FAILURE;
            }
        };
        let app = &app;
        let handler = service_fn(move |event: LambdaEvent<Value>| async move {
            app.handle(event.payload, event.context).await
        });
        match lambda_runtime::run(handler).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "the Lambda runtime stopped");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README documents every variable the Lambda reads.
    #[test]
    fn every_variable_is_in_the_readme() {
        let readme = include_str!("../../../README.md");
        for var in env_vars(&LambdaSettings::command()) {
            assert!(
                readme.contains(&format!("`{}`", var.name)),
                "{} is not documented in README.md",
                var.name
            );
        }
    }

    /// The function plans units of the planner's default size unless told otherwise.
    #[test]
    fn units_default_to_the_planners_size() {
        let settings = LambdaSettings::try_parse_from(["ctparquet-lambda"]).unwrap();
        assert_eq!(settings.unit_bytes, ctparquet_jobs::DEFAULT_UNIT_BYTES);
    }

    #[test]
    fn a_bad_setting_is_named_by_its_variable() {
        let error = LambdaSettings::try_parse_from(["ctparquet-lambda", "--schedule-days", "0"])
            .unwrap_err();
        assert!(
            name_the_variable(&error).starts_with("CTPARQUET_SCHEDULE_DAYS: "),
            "{}",
            name_the_variable(&error)
        );
    }
}
