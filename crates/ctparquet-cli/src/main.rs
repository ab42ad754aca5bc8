//! `ctparquet`: the command line over the `ctparquet` library.

mod args;
mod exit;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use ctparquet::Location;
use ctparquet_config::clean_list;

use args::{
    BackfillArgs, Cli, Command, ConvertArgs, DdlArgs, GenArgs, InspectArgs, RetentionArgs,
    UpgradeArgs, VerifyArgs,
};

fn main() -> ExitCode {
    ctparquet::alloc::limit_malloc_arenas();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                // The AWS SDK logs each credential source it tries as a warning; the one error
                // that follows says it all.
                "warn,aws_config=error,aws_smithy_runtime=error".into()
            }),
        )
        .with_writer(std::io::stderr)
        // Messages for people: `WARN --regions ... matches nothing`, not a log line.
        .without_time()
        .with_target(false)
        // Colour only for a person at a terminal who has not asked for none (no-color.org).
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    let runtime = match ctparquet::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::code(exit::FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Convert(args) => convert(args).await,
            Command::Inspect(args) => inspect(args).await,
            Command::Verify(args) => verify(args).await,
            Command::Gen(args) => generate(args),
            Command::Ddl(args) => ddl(args).await,
            Command::Retention(args) => retention(args).await,
            Command::Upgrade(args) => upgrade(args).await,
            Command::Backfill(args) => backfill(args).await,
            Command::Completions { shell } => {
                use clap::CommandFactory;
                let mut command = Cli::command();
                clap_complete::generate(shell, &mut command, "ctparquet", &mut std::io::stdout());
                Ok(ExitCode::SUCCESS)
            }
            Command::Man { out_dir } => man_pages(&out_dir),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code(exit::of_error(&e))
        }
    }
}

async fn convert(args: ConvertArgs) -> Result<ExitCode> {
    let json = args.json;
    let opts = args.to_options().map_err(exit::usage)?;
    let s3 = args.s3.with_writes(&args.s3_writes);
    let source = Location::parse(&args.source, false, &s3)
        .await
        .context("opening SOURCE")?;
    refuse_dest_in_aws_logs(&source, &args.dest)?;
    let dest = Location::parse(&args.dest, true, &s3)
        .await
        .context("opening DEST")?;
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
    } else if summary.failed_on_bad_input() {
        if !json {
            eprintln!(
                "error: {} day(s) not written because of bad input (see above); fix or remove the files, or pass --skip-bad-files",
                summary.failed_days.len()
            );
        }
        exit::code(exit::BAD_INPUT)
    } else {
        if !json {
            eprintln!(
                "error: {} day(s) not written: another run was writing them (see above); run again once it is done",
                summary.failed_days.len()
            );
        }
        exit::code(exit::FAILURE)
    })
}

/// DEST inside SOURCE's `AWSLogs/` would be listed with the trails and mistaken for them. Checked
/// before DEST is made. (DEST beside `AWSLogs/`, in the bucket CloudTrail delivers to, is fine:
/// only `AWSLogs/` is read.)
fn refuse_dest_in_aws_logs(source: &Location, dest: &str) -> Result<()> {
    let aws_logs = source.join("AWSLogs");
    let inside = match aws_logs.local_path(&aws_logs.prefix) {
        Some(logs) if !dest.contains("://") || dest.starts_with("file://") => {
            let dest = dest.trim_start_matches("file://");
            std::path::absolute(dest).is_ok_and(|d| normalize(&d).starts_with(&logs))
        }
        Some(_) => false,
        None => {
            let logs = aws_logs.display.trim_end_matches('/');
            dest == logs || dest.starts_with(&format!("{logs}/"))
        }
    };
    if inside {
        return Err(exit::usage(anyhow::anyhow!(
            "DEST {dest} is inside {}, where CloudTrail delivers and SOURCE is read: choose a folder outside AWSLogs/ (beside it is fine)",
            aws_logs.display
        )));
    }
    Ok(())
}

/// A path without `.` and `..` segments (without touching the disk: DEST may not exist yet).
fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

async fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let dest = Location::parse(&args.dest, false, &args.s3.to_options())
        .await
        .context("opening DEST")?;
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
    let opts = args.to_options().map_err(exit::usage)?;
    let stats = ctparquet_gen::generate(std::path::Path::new(&args.dest), &opts)
        .with_context(|| format!("writing {}", args.dest))?;
    let unique: u64 = stats.events_by_day.values().sum();
    println!(
        "wrote {} delivery files, {} records ({} distinct events, {} duplicates), {} bytes gzip under {}",
        stats.files, stats.records, unique, stats.duplicates, stats.bytes, args.dest
    );
    Ok(ExitCode::SUCCESS)
}

async fn ddl(args: DdlArgs) -> Result<ExitCode> {
    use args::AccountProjectionArg;
    let dest = args.dest.get();
    use ctparquet::ddl::{AWS_REGIONS, AccountProjection, AthenaTable, duckdb_view, polars_scan};
    let athena_table = matches!(args.engine.as_str(), "athena" | "glue");
    if athena_table && !dest.starts_with("s3://") {
        anyhow::bail!(
            "Athena reads S3: DEST must be s3://BUCKET/PREFIX, not {}",
            dest
        );
    }
    let accounts = match (args.account_projection, &args.accounts) {
        (AccountProjectionArg::Injected, _) => AccountProjection::Injected,
        (AccountProjectionArg::Enum, Some(list)) => AccountProjection::Enum(clean_list(list)),
        (AccountProjectionArg::Enum, None) if athena_table => {
            let location = Location::parse(&dest, false, &args.s3.to_options())
                .await
                .context("listing the accounts under DEST")?;
            let found = ctparquet::inspect::accounts(&location).await?;
            if found.is_empty() {
                anyhow::bail!(
                    "no account= folder under {} yet: convert first, or name the accounts of the \
                     account enum with --accounts A,B (or choose --account-projection injected, \
                     with which every query must name its accounts)",
                    dest
                );
            }
            AccountProjection::Enum(found)
        }
        (AccountProjectionArg::Enum, None) => AccountProjection::Injected,
    };
    let athena = || AthenaTable {
        kind: args.kind.table(),
        database: args.database.clone(),
        table: args.table.clone(),
        location: dest.clone(),
        accounts: accounts.clone(),
        regions: args
            .regions
            .clone()
            .unwrap_or_else(|| AWS_REGIONS.iter().map(|r| r.to_string()).collect()),
        first_year: args.first_year,
        last_year: args.last_year,
    };
    let text = match args.engine.as_str() {
        "athena" => athena().create_table(),
        "glue" => format!(
            "{}\n",
            serde_json::to_string_pretty(&ctparquet::ddl::glue_table_json(&athena()))?
        ),
        "duckdb" => duckdb_view(&dest, &args.table),
        _ => polars_scan(&dest),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// ctparquet.1 and ctparquet-COMMAND.1 for each command.
fn man_pages(out_dir: &std::path::Path) -> Result<ExitCode> {
    use clap::CommandFactory;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let command = Cli::command();
    let mut written = Vec::new();
    let mut write = |name: String, page: &clap::Command| -> Result<()> {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(page.clone().name(name.clone())).render(&mut bytes)?;
        let path = out_dir.join(format!("{name}.1"));
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    write("ctparquet".into(), &command)?;
    for sub in command.get_subcommands() {
        write(format!("ctparquet-{}", sub.get_name()), sub)?;
    }
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn retention(args: RetentionArgs) -> Result<ExitCode> {
    let dest = Location::parse(&args.dest.get(), false, &args.s3.to_options())
        .await
        .context("opening DEST")?;
    let today = args
        .today
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let report = ctparquet::retention::expire(&dest, args.keep_days, today, args.apply).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if report.applied {
        "removed"
    } else {
        "would remove (dry run; --apply to remove)"
    };
    println!(
        "days before {}: {} partition(s) {verb}",
        report.cutoff,
        report.expired.len()
    );
    for d in &report.expired {
        println!(
            "  {} {:<15} {}  {} file(s)  {} bytes",
            d.account, d.region, d.date, d.files, d.bytes
        );
    }
    if !report.abandoned_states.is_empty() {
        println!(
            "saved conversions that will not be resumed: {} {verb}",
            report.abandoned_states.len()
        );
        for s in &report.abandoned_states {
            println!(
                "  {}  {} file(s)  {} bytes  ({})",
                s.path, s.files, s.bytes, s.reason
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Send the days a dry run found to the Lambda's queue, one `{"upgrade": ...}` message each.
async fn enqueue_upgrades(
    report: &ctparquet::upgrade::UpgradeReport,
    url: &str,
    args: &UpgradeArgs,
) -> Result<ExitCode> {
    use ctparquet::upgrade::DayOutcome;
    use ctparquet_jobs::{JobQueue, SqsQueue, Task, Unit};
    let tasks: Vec<Task> = report
        .days
        .iter()
        .filter(|d| d.outcome == DayOutcome::WouldUpgrade)
        .map(|d| -> Result<Task> {
            let unit = Unit::day(d.date.parse()?, &d.account, &d.region);
            Ok(Task::Upgrade(unit.job()))
        })
        .collect::<Result<_>>()?;
    let queue = SqsQueue::from_env(url, args.s3.profile.as_deref()).await;
    queue.send(&tasks).await?;
    let refused: Vec<_> = report.not_upgraded().collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"enqueued": tasks.len(), "queue": url, "not_upgradable": refused})
        );
    } else {
        for day in &refused {
            println!(
                "{:?} {} {} {}: {}",
                day.outcome,
                day.account,
                day.region,
                day.date,
                day.reason.as_deref().unwrap_or("")
            );
        }
        println!(
            "sent {} upgrade message(s) to {url}; {} day(s) current, {} not upgradable",
            tasks.len(),
            report.count(DayOutcome::Current),
            refused.len()
        );
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit::code(exit::BAD_INPUT)
    })
}

async fn backfill(args: BackfillArgs) -> Result<ExitCode> {
    use ctparquet_jobs::{Job, JobQueue, Runner, SqsQueue};
    let scope = args.days.scope().map_err(exit::usage)?;
    let (from, to) = (scope.from(), scope.to());
    let job = Job {
        accounts: scope.accounts.clone(),
        regions: scope.regions.clone(),
        ..Job::range(from, to)
    };
    if let (Some(url), None) = (&args.enqueue, &args.source) {
        let jobs = job.split_days()?;
        let queue = SqsQueue::from_env(url, args.s3.profile.as_deref()).await;
        queue.send(&jobs).await?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"enqueued": jobs.len(), "queue": url})
            );
        } else {
            println!(
                "sent {} job message(s) ({from} .. {to}) to {url}",
                jobs.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.plan || args.enqueue.is_some() {
        return plan_backfill(&args, &scope).await;
    }
    let (Some(source), Some(dest)) = (&args.source, &args.dest) else {
        anyhow::bail!("give SOURCE and DEST to convert here, or --enqueue QUEUE_URL");
    };
    // Check the settings before listing anything.
    let options = args::convert_options(scope, &args.tuning).map_err(exit::usage)?;
    let s3 = args.s3.with_writes(&args.s3_writes);
    let source = Location::parse(source, false, &s3)
        .await
        .context("opening SOURCE")?;
    refuse_dest_in_aws_logs(&source, dest)?;
    let dest = Location::parse(dest, true, &s3)
        .await
        .context("opening DEST")?;
    let scope = &options.scope;
    let units = ctparquet_jobs::plan(&source, scope, args.unit_bytes)
        .await?
        .units;
    if units.is_empty() {
        let folders = scope.table.folders;
        let found = ctparquet::source::discover(
            &source,
            folders,
            scope.accounts.as_deref(),
            scope.regions.as_deref(),
        )
        .await?;
        anyhow::bail!(ctparquet::source::explain_no_trail(&source, &found, folders).await?);
    }
    let total = units.len();
    let runner = Runner {
        source: &source,
        dest: &dest,
        options: &options,
        deadline: None,
    };
    let outcome = runner.run(units).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        println!(
            "{total} unit(s) of days of an account and region: {} converted, {} failed; {} events written, {} files read",
            outcome.done.len(),
            outcome.failed.len(),
            outcome.totals.events_written,
            outcome.totals.files_read
        );
        for f in &outcome.failed {
            println!("failed {}: {}", f.unit, f.error);
        }
    }
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit::code(exit::BAD_INPUT)
    })
}

/// `backfill SOURCE --plan` and `backfill SOURCE --enqueue URL`: the units planned here from the
/// source's listings (counted), printed or sent one message each.
async fn plan_backfill(args: &BackfillArgs, scope: &ctparquet::Scope) -> Result<ExitCode> {
    use ctparquet_jobs::{JobQueue, SqsQueue, Task};
    let source = args.source.as_deref().expect("clap requires SOURCE");
    let source = Location::parse(source, false, &args.s3.with_writes(&args.s3_writes))
        .await
        .context("opening SOURCE")?;
    let (counted, requests) = source.counted();
    let plan = ctparquet_jobs::plan(&counted, scope, args.unit_bytes).await?;
    let requests = requests.counts();
    if let Some(url) = &args.enqueue {
        let tasks: Vec<Task> = plan.units.iter().map(|u| Task::Convert(u.job())).collect();
        let queue = SqsQueue::from_env(url, args.s3.profile.as_deref()).await;
        queue.send(&tasks).await?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"enqueued": tasks.len(), "queue": url, "bytes": plan.bytes})
            );
        } else {
            println!(
                "sent {} unit message(s) ({} .. {}, {}) to {url}",
                tasks.len(),
                scope.from(),
                scope.to(),
                ctparquet_jobs::plan::human_bytes(plan.bytes)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        let out = serde_json::json!({"plan": plan, "requests": requests});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", plan.describe(scope, &requests));
    Ok(ExitCode::SUCCESS)
}

async fn upgrade(args: UpgradeArgs) -> Result<ExitCode> {
    use ctparquet::upgrade::DayOutcome;
    let opts = args.to_options().map_err(exit::usage)?;
    let s3 = args.s3.with_writes(&args.s3_writes);
    let dest = Location::parse(&args.dest.get(), true, &s3)
        .await
        .context("opening DEST")?;
    let report = ctparquet::upgrade::upgrade(&dest, &opts).await?;
    if let Some(url) = &args.enqueue {
        return enqueue_upgrades(&report, url, &args).await;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for day in report
            .days
            .iter()
            .filter(|d| d.outcome != DayOutcome::Current)
        {
            println!(
                "{:?} {} {} {} ({} events){}",
                day.outcome,
                day.account,
                day.region,
                day.date,
                day.events,
                day.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
        println!(
            "{} day(s): {} upgraded ({} events), {} would be, {} current, {} not upgraded",
            report.days.len(),
            report.count(DayOutcome::Upgraded),
            report.events_upgraded,
            report.count(DayOutcome::WouldUpgrade),
            report.count(DayOutcome::Current),
            report.not_upgraded().count()
        );
    }
    let worst = report.not_upgraded().map(|d| match d.outcome {
        DayOutcome::Differs => exit::DIFFERENCES,
        DayOutcome::Refused => exit::BAD_INPUT,
        _ => exit::FAILURE,
    });
    Ok(
        match worst.max_by_key(|code| match *code {
            exit::DIFFERENCES => 3,
            exit::BAD_INPUT => 2,
            _ => 1,
        }) {
            Some(code) => exit::code(code),
            None => ExitCode::SUCCESS,
        },
    )
}

async fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let opts = args.to_options().map_err(exit::usage)?;
    let s3 = args.s3.to_options();
    let source = Location::parse(&args.source, false, &s3)
        .await
        .context("opening SOURCE")?;
    let dest = Location::parse(&args.dest, false, &s3)
        .await
        .context("opening DEST")?;
    let report = if args.parquet_source {
        ctparquet::verify::verify_parquet(&source, &dest, &opts.scope).await?
    } else {
        ctparquet::verify::verify(&source, &dest, &opts).await?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} day(s) checked: {} source event(s) in {} file(s), {} destination row(s)",
            report.days_checked, report.source_events, report.source_files, report.destination_rows
        );
        for bad in &report.bad_files {
            println!("unreadable source file (its events are not checked): {bad}");
        }
        for d in &report.differences {
            let field = d
                .field
                .as_deref()
                .map(|f| format!(" {f}"))
                .unwrap_or_default();
            if d.account.is_empty() {
                // Strays and unreadable or unsorted files: the object is the subject.
                println!("{:?} {}: {}", d.kind, d.event, d.detail);
            } else {
                println!(
                    "{:?} {} {} {} event {}{field}: {}",
                    d.kind, d.account, d.region, d.date, d.event, d.detail
                );
            }
        }
        println!(
            "{}",
            if report.passed() {
                "OK: the destination holds exactly the source events"
            } else {
                "DIFFERENCES FOUND"
            }
        );
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        exit::code(exit::DIFFERENCES)
    })
}
