//! Command-line arguments, parsed once into the library's typed options.

use anyhow::{Result, bail};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use ctparquet::ConvertOptions;
pub use ctparquet_config::convert_options;
use ctparquet_config::{
    DaysArgs, S3Args, S3WriteArgs, ScopeArgs, TableArg, TuningArgs, clean_list, parse_nonzero_size,
};
use ctparquet_gen::GenOptions;

#[derive(Parser, Debug)]
#[command(
    name = "ctparquet",
    version,
    about = "Convert AWS CloudTrail logs into day-collated, Hive-partitioned Parquet",
    long_about = "Convert AWS CloudTrail logs into day-collated, Hive-partitioned Parquet.\n\n\
        Reads SOURCE/AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz and writes\n\
        DEST/account=ACCOUNT/region=REGION/year=YYYY/month=MM/day=DD/part-NNNNN.parquet,\n\
        each day holding exactly the events whose eventTime falls on it, once each.",
    after_help = "Examples:\n  \
        ctparquet convert ./trail ./lake --date 2026-01-05\n  \
        ctparquet convert s3://logs/org s3://lake/cloudtrail --from 2026-01-01 --to 2026-01-31 --profile sec\n  \
        ctparquet verify ./trail ./lake --date 2026-01-05\n  \
        ctparquet ddl athena s3://lake/cloudtrail --database security\n\n\
        AWS credentials and region come from the standard AWS chain (AWS_PROFILE or --profile, SSO, \
        credential_process, environment, instance roles).\n\
        Exit codes: 0 done; 1 failure (I/O, S3, credentials, no trail found); 2 usage error; \
        3 verify found differences; 4 days not written because of bad input files."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Convert one day or a range of days.
    Convert(ConvertArgs),
    /// Show the partitions, rows, files, row groups and sizes of a destination.
    Inspect(InspectArgs),
    /// Check that converted days hold exactly the source events (re-reads the source).
    Verify(VerifyArgs),
    /// Write a synthetic CloudTrail delivery tree (for trying things out, tests and benchmarks).
    Gen(GenArgs),
    /// Print the table definition of the output for a query engine (from the one schema).
    Ddl(DdlArgs),
    /// Remove whole day partitions older than --keep-days (a dry run unless --apply).
    Retention(RetentionArgs),
    /// Rewrite the days of a destination written by an older schema (or in another form of JSON
    /// columns) from their own Parquet, proved equal before each day is replaced.
    Upgrade(UpgradeArgs),
    /// Rebuild a range of days: send one job per day to the Lambda's queue (--enqueue), or
    /// convert here, one account, region and day at a time.
    Backfill(BackfillArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:\n  \
        ctparquet completions bash > ~/.local/share/bash-completion/completions/ctparquet\n  \
        ctparquet completions zsh > \"${fpath[1]}/_ctparquet\"\n  \
        ctparquet completions fish > ~/.config/fish/completions/ctparquet.fish")]
    Completions { shell: clap_complete::Shell },
    /// Write man pages (ctparquet.1 and one per command) into a folder.
    #[command(after_help = "Example:\n  ctparquet man ~/.local/share/man/man1 && man ctparquet")]
    Man {
        /// Folder to write the pages into (made if missing).
        out_dir: std::path::PathBuf,
    },
}

/// The DEST of a command: positional, as in every command; `--dest` is the old spelling.
#[derive(Args, Debug)]
pub struct DestArg {
    /// The destination given to `convert`: a folder or s3://BUCKET/PREFIX.
    #[arg(required_unless_present = "dest_flag", value_name = "DEST")]
    pub dest: Option<String>,
    /// Deprecated spelling of DEST (kept so old scripts work).
    #[arg(long = "dest", hide = true, conflicts_with = "dest")]
    pub dest_flag: Option<String>,
}

impl DestArg {
    /// DEST, with a note on stderr when the old `--dest` spelling was used.
    pub fn get(&self) -> String {
        if let Some(dest) = &self.dest_flag {
            eprintln!(
                "note: --dest DEST is deprecated; give DEST as an argument, as in every command"
            );
            return dest.clone();
        }
        self.dest.clone().expect("clap requires DEST or --dest")
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    ctparquet backfill s3://trail-bucket --from 2025-01-01 --to 2025-12-31 --plan\n  \
    ctparquet backfill s3://trail-bucket --from 2025-01-01 --to 2025-12-31 --enqueue https://sqs.eu-west-1.amazonaws.com/111122223333/ctparquet-jobs\n  \
    ctparquet backfill --from 2025-01-01 --to 2025-12-31 --enqueue https://sqs.eu-west-1.amazonaws.com/111122223333/ctparquet-jobs\n  \
    ctparquet backfill ./trail ./lake --from 2026-01-01 --to 2026-01-31 --accounts 111122223333")]
pub struct BackfillArgs {
    /// Folder (or bucket prefix) that holds AWSLogs/: planned here (units of consecutive days of
    /// an account and region, sized by the bytes they read). Without it, --enqueue sends a
    /// message per day and the Lambda plans each.
    #[arg(required_unless_present = "enqueue")]
    pub source: Option<String>,
    /// Folder (or bucket prefix) to write under (to convert here).
    #[arg(required_unless_present_any = ["enqueue", "plan"], conflicts_with_all = ["enqueue", "plan"])]
    pub dest: Option<String>,
    #[command(flatten)]
    pub days: DaysArgs,
    /// SQS queue URL of the ctparquet Lambda: send the units (or, without SOURCE, one message
    /// per day) instead of converting here. Lateness and table are the Lambda's.
    #[arg(long)]
    pub enqueue: Option<String>,
    /// Print the plan (units, their bytes, the requests planning took) and convert nothing.
    #[arg(long, requires = "source", conflicts_with = "enqueue")]
    pub plan: bool,
    /// Compressed delivery bytes a unit reads at most (a day that alone reads more is a unit of
    /// its own).
    #[arg(long, default_value = "4GiB", value_parser = parse_nonzero_size, value_name = "SIZE")]
    pub unit_bytes: u64,
    #[command(flatten)]
    pub tuning: TuningArgs,
    /// Print the outcome as JSON on stdout.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub s3_writes: S3WriteArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    ctparquet ddl athena s3://lake/cloudtrail --database security   # accounts: the account= folders found\n  \
    ctparquet ddl athena s3://lake/cloudtrail --accounts 111122223333,444455556666\n  \
    ctparquet ddl duckdb ./lake\n  \
    ctparquet ddl polars ./lake")]
pub struct DdlArgs {
    /// athena (CREATE EXTERNAL TABLE with partition projection), glue (the same table as JSON, for
    /// infrastructure code), duckdb (a view) or polars (a scan).
    #[arg(value_parser = ["athena", "glue", "duckdb", "polars"])]
    pub engine: String,
    /// Where the output is: s3://BUCKET/PREFIX for Athena, a folder or URL for DuckDB and Polars.
    #[command(flatten)]
    pub dest: DestArg,
    /// Glue database (athena).
    #[arg(long, default_value = "cloudtrail")]
    pub database: String,
    /// Table (athena) or view (duckdb) name.
    #[arg(long, default_value = "cloudtrail")]
    pub table: String,
    /// Accounts of the account enum (default: the account= folders found under --dest).
    #[arg(long, value_delimiter = ',', value_parser = ctparquet_config::parse_account)]
    pub accounts: Option<Vec<String>>,
    /// How Athena projects the account: enum (queries may leave the account out: every query of
    /// queries/athena runs) or injected (no list to keep, but every query must name its
    /// accounts: `WHERE account = '...'` or `IN (...)`).
    #[arg(long, value_enum, default_value_t = AccountProjectionArg::Enum)]
    pub account_projection: AccountProjectionArg,
    /// Regions of the region enum (default: every AWS region).
    #[arg(long, value_delimiter = ',')]
    pub regions: Option<Vec<String>>,
    /// First year of the year projection.
    #[arg(long, default_value_t = 2013)]
    pub first_year: u32,
    /// Last year of the year projection.
    #[arg(long, default_value_t = 2099)]
    pub last_year: u32,
    /// The table described.
    #[arg(long, value_enum, default_value_t = TableArg::Events)]
    pub kind: TableArg,
    #[command(flatten)]
    pub s3: S3Args,
}

/// How the Athena table projects the account partition.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountProjectionArg {
    Enum,
    Injected,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    ctparquet upgrade s3://lake/cloudtrail --dry-run            # lists the days to upgrade\n  \
    ctparquet upgrade s3://lake/cloudtrail\n  \
    ctparquet upgrade ./lake --from 2025-01-01 --to 2025-12-31 --json-columns json\n  \
    ctparquet upgrade s3://lake/cloudtrail --enqueue https://sqs.eu-west-1.amazonaws.com/111122223333/ctparquet-jobs\n\n\
    No source JSON is read: each day's rows are rebuilt into their records, converted again, \
    checked against the old day and published as convert publishes. Days already current are \
    left alone. Give the same Parquet options as convert (they apply to the rewritten days).\n\
    Exit codes: 0 every day current or upgraded; 1 failure, or a day held or rewritten by another \
    run meanwhile; 2 usage error; 3 a rewritten day differed from the old one (left as it was); \
    4 a day with files this tool did not write (left as it was).")]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub dest: DestArg,
    /// First day to upgrade (default: the first the destination holds).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last day to upgrade, inclusive (default: the last the destination holds).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub tuning: TuningArgs,
    /// Only list the days that would be upgraded.
    #[arg(long)]
    pub dry_run: bool,
    /// SQS queue URL of the ctparquet Lambda: send one `{"upgrade": ...}` message per day that
    /// needs upgrading instead of upgrading here (the Lambda's Parquet settings apply).
    #[arg(long, conflicts_with = "dry_run")]
    pub enqueue: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub s3_writes: S3WriteArgs,
}

impl UpgradeArgs {
    pub fn to_options(&self) -> Result<ctparquet::upgrade::UpgradeOptions> {
        let from = self
            .from
            .unwrap_or(NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date"));
        let to = self
            .to
            .unwrap_or(NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date"));
        let convert = convert_options(self.scope.scope(from, to)?, &self.tuning)?;
        let mut opts = ctparquet::upgrade::UpgradeOptions::following(&convert);
        opts.dry_run = self.dry_run || self.enqueue.is_some();
        Ok(opts)
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    ctparquet retention s3://lake/cloudtrail --keep-days 365            # lists what would go\n  \
    ctparquet retention s3://lake/cloudtrail --keep-days 365 --apply")]
pub struct RetentionArgs {
    #[command(flatten)]
    pub dest: DestArg,
    /// Keep this many days before today (UTC); older day partitions are removed.
    #[arg(long)]
    pub keep_days: u32,
    /// Really remove (without it, only list what would be removed).
    #[arg(long)]
    pub apply: bool,
    /// Count from this day instead of today (UTC).
    #[arg(long)]
    pub today: Option<NaiveDate>,
    /// Print JSON on stdout.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    ctparquet convert ./trail ./lake --date 2026-01-05\n  \
    ctparquet convert ./trail ./lake --from 2026-01-01 --to 2026-01-31 --accounts 111122223333 --regions us-east-1\n  \
    ctparquet convert s3://logs/org s3://lake/cloudtrail --date 2026-01-05 --profile sec\n  \
    ctparquet convert ./trail ./lake --date 2026-01-05 --json > summary.json\n\n\
    SOURCE holds AWSLogs/ (not AWSLogs/ itself). Every option also reads CTPARQUET_<NAME> \
    (--memory-budget: CTPARQUET_MEMORY_BUDGET).\n\
    Exit codes: 0 done; 1 failure (I/O, S3, credentials, no trail found); 2 usage error; \
    4 days not written because of bad input files.")]
pub struct ConvertArgs {
    /// Folder (or bucket prefix) that holds AWSLogs/.
    pub source: String,
    /// Folder (or bucket prefix) to write the Hive-partitioned Parquet under.
    pub dest: String,
    #[command(flatten)]
    pub days: DaysArgs,
    #[command(flatten)]
    pub tuning: TuningArgs,
    /// Print the summary as JSON on stdout.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, help_heading = "Output")]
    pub quiet: bool,

    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub s3_writes: S3WriteArgs,
}

impl ConvertArgs {
    pub fn to_options(&self) -> Result<ConvertOptions> {
        convert_options(self.days.scope()?, &self.tuning)
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    ctparquet verify ./trail ./lake --date 2026-01-05\n  \
    ctparquet verify s3://logs/org s3://lake/cloudtrail --from 2026-01-01 --to 2026-01-31 --json\n\n\
    Give the days, accounts, regions, lateness and table given to convert.\n\
    Exit codes: 0 the destination holds exactly the source events; 1 error; 2 usage error; \
    3 differences found (listed).")]
pub struct VerifyArgs {
    /// Folder (or bucket prefix) that holds AWSLogs/.
    pub source: String,
    /// The destination given to `convert`.
    pub dest: String,
    /// The same days, accounts, regions, lateness and table as given to `convert`.
    #[command(flatten)]
    pub days: DaysArgs,
    /// SOURCE is a destination of this tool (a copy of the lake, or the lake before an upgrade):
    /// DEST must hold exactly the rows of its days, each rebuilt JSON-equal.
    #[arg(long)]
    pub parquet_source: bool,
    /// Print the report as JSON on stdout.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

impl VerifyArgs {
    pub fn to_options(&self) -> Result<ctparquet::verify::VerifyOptions> {
        Ok(ctparquet::verify::VerifyOptions::new(self.days.scope()?))
    }
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  ctparquet inspect ./lake\n  ctparquet inspect s3://lake/cloudtrail --json"
)]
pub struct InspectArgs {
    /// The destination folder given to `convert`.
    pub dest: String,
    /// Print JSON on stdout.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  \
    ctparquet gen ./trail --accounts 111122223333 --regions us-east-1,eu-west-1 --start 2026-01-04 --days 3")]
pub struct GenArgs {
    /// Folder to write AWSLogs/ under.
    pub dest: String,
    /// Accounts (comma-separated 12-digit ids).
    #[arg(long, default_value = "111122223333", value_delimiter = ',')]
    pub accounts: Vec<String>,
    /// Regions (comma-separated).
    #[arg(long, default_value = "us-east-1", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Write an organization trail layout (AWSLogs/ORG_ID/ACCOUNT/...).
    #[arg(long)]
    pub org_id: Option<String>,
    /// First delivery date.
    #[arg(long, default_value = "2026-01-04")]
    pub start: NaiveDate,
    #[arg(long, default_value_t = 2)]
    pub days: u32,
    /// Delivery files per account, region and day (CloudTrail writes about 288).
    #[arg(long, default_value_t = 288)]
    pub files_per_day: u32,
    #[arg(long, default_value_t = 20)]
    pub events_per_file: u32,
    /// Share of events delivered hours late.
    #[arg(long, default_value_t = 0.02)]
    pub late_fraction: f64,
    /// Share of events delivered days late.
    #[arg(long, default_value_t = 0.001)]
    pub very_late_fraction: f64,
    /// Share of events delivered twice.
    #[arg(long, default_value_t = 0.01)]
    pub duplicate_fraction: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl GenArgs {
    pub fn to_options(&self) -> Result<GenOptions> {
        for a in &clean_list(&self.accounts) {
            if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                bail!("account {a:?} is not a 12-digit AWS account id");
            }
        }
        Ok(GenOptions {
            accounts: clean_list(&self.accounts),
            regions: clean_list(&self.regions),
            org_id: self.org_id.clone(),
            start: self.start,
            days: self.days,
            files_per_day: self.files_per_day,
            events_per_file: self.events_per_file,
            late_fraction: self.late_fraction,
            very_late_fraction: self.very_late_fraction,
            duplicate_fraction: self.duplicate_fraction,
            seed: self.seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn backfill_units_default_to_the_planners_size() {
        let cli = Cli::parse_from([
            "ctparquet",
            "backfill",
            "src",
            "--plan",
            "--date",
            "2026-01-05",
        ]);
        let Command::Backfill(args) = cli.command else {
            panic!("backfill")
        };
        assert_eq!(args.unit_bytes, ctparquet_jobs::DEFAULT_UNIT_BYTES);
    }
}
