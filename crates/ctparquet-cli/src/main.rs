//! `ctparquet`: the command line over the `ctparquet` library.

mod args;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use ctparquet::Location;

use args::{Cli, Command, ConvertArgs, GenArgs, InspectArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Convert(args) => convert(args).await,
            Command::Inspect(args) => inspect(args).await,
            Command::Gen(args) => generate(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn convert(args: ConvertArgs) -> Result<ExitCode> {
    let json = args.json;
    let opts = args.to_options()?;
    let s3 = args.s3.to_options();
    let source = Location::parse(&args.source, false, &s3).context("opening SOURCE")?;
    let dest = Location::parse(&args.dest, true, &s3).context("opening DEST")?;
    let show = !json && !args.quiet && std::io::stderr().is_terminal();
    let progress = progress::Bar::new(show);
    let summary = ctparquet::convert(&source, &dest, &opts, &progress).await?;
    progress.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !args.quiet {
        print!("{summary}");
    }
    Ok(if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        if !json {
            eprintln!(
                "error: {} day(s) not written because of bad input (see above); fix or remove the files, or pass --skip-bad-files",
                summary.failed_days.len()
            );
        }
        ExitCode::from(2)
    })
}

async fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let dest = Location::parse(&args.dest, false, &args.s3.to_options()).context("opening DEST")?;
    let inventory = ctparquet::inspect::inspect(&dest).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inventory)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<14} {:<16} {:<10} {:>5} {:>12} {:>10} {:>12}",
        "account", "region", "date", "files", "rows", "row groups", "bytes"
    );
    for p in &inventory.partitions {
        println!(
            "{:<14} {:<16} {:<10} {:>5} {:>12} {:>10} {:>12}",
            p.account, p.region, p.date, p.files, p.rows, p.row_groups, p.bytes
        );
    }
    println!(
        "{} partition(s), {} file(s), {} rows, {} row group(s), {} bytes",
        inventory.partitions.len(),
        inventory.files,
        inventory.rows,
        inventory.row_groups,
        inventory.bytes
    );
    for stray in &inventory.stray_files {
        println!("not in a partition folder: {stray}");
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(args: GenArgs) -> Result<ExitCode> {
    let opts = args.to_options()?;
    let stats = ctparquet_gen::generate(std::path::Path::new(&args.dest), &opts)
        .with_context(|| format!("writing {}", args.dest))?;
    let unique: u64 = stats.events_by_day.values().sum();
    println!(
        "wrote {} delivery files, {} records ({} distinct events, {} duplicates), {} bytes gzip under {}",
        stats.files, stats.records, unique, stats.duplicates, stats.bytes, args.dest
    );
    Ok(ExitCode::SUCCESS)
}
