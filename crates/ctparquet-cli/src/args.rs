//! Command-line arguments, parsed once into the library's typed options.

use anyhow::{Result, bail};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use ctparquet::sink::{Codec, Statistics};
use ctparquet::store::S3Options;
use ctparquet::{ConvertOptions, ParquetOptions};
use ctparquet_gen::GenOptions;

#[derive(Parser, Debug)]
#[command(
    name = "ctparquet",
    version,
    about = "Convert AWS CloudTrail logs into day-collated, Hive-partitioned Parquet",
    long_about = "Convert AWS CloudTrail logs into day-collated, Hive-partitioned Parquet.\n\n\
        Reads SOURCE/AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz and writes\n\
        DEST/account=ACCOUNT/region=REGION/year=YYYY/month=MM/day=DD/part-NNNNN.parquet,\n\
        each day holding exactly the events whose eventTime falls on it, once each."
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
}

#[derive(Args, Debug)]
pub struct DdlArgs {
    /// athena (CREATE EXTERNAL TABLE with partition projection), glue (the same table as JSON, for
    /// infrastructure code), duckdb (a view) or polars (a scan).
    #[arg(value_parser = ["athena", "glue", "duckdb", "polars"])]
    pub engine: String,
    /// Where the output is: s3://BUCKET/PREFIX for Athena, a folder or URL for DuckDB and Polars.
    #[arg(long)]
    pub dest: String,
    /// Glue database (athena).
    #[arg(long, default_value = "cloudtrail")]
    pub database: String,
    /// Table (athena) or view (duckdb) name.
    #[arg(long, default_value = "cloudtrail")]
    pub table: String,
    /// Project these accounts as an enum; without it the account is injected (queries name it).
    #[arg(long, value_delimiter = ',')]
    pub accounts: Option<Vec<String>>,
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
}

#[derive(Args, Debug)]
pub struct RetentionArgs {
    /// The destination folder or s3:// prefix given to `convert`.
    #[arg(long)]
    pub dest: String,
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
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

/// Which table a command works on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum TableArg {
    /// Management, data and network activity events (CloudTrail/, CloudTrail-NetworkActivity/).
    #[default]
    Events,
    /// Insights events (CloudTrail-Insight/).
    Insights,
    /// Aggregated data events (CloudTrail-Aggregated/).
    Aggregated,
}

impl TableArg {
    pub fn table(self) -> &'static ctparquet::schema::Table {
        match self {
            TableArg::Events => &ctparquet::schema::EVENTS,
            TableArg::Insights => &ctparquet::schema::INSIGHTS,
            TableArg::Aggregated => &ctparquet::schema::AGGREGATED,
        }
    }
}

/// `256MiB`, `1GiB`, `64MB`, `1000000`.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 256MiB)"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "unknown size unit in {text:?} (use B, KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    Ok((number * factor) as u64)
}

/// A comma-separated list as clap splits it, without blanks ("" means none).
fn clean_list(items: &[String]) -> Vec<String> {
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// How to reach S3 (for `s3://` SOURCE or DEST). Otherwise credentials, region and endpoint come
/// from the standard AWS environment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
/// AWS_SESSION_TOKEN, web identity, container and instance credentials, AWS_REGION,
/// AWS_ENDPOINT_URL. Named profiles in ~/.aws/config are not read.
#[derive(Args, Debug)]
pub struct S3Args {
    /// S3-compatible endpoint URL (e.g. http://127.0.0.1:9000).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long)]
    pub s3_region: Option<String>,
    /// Allow plain-HTTP endpoints.
    #[arg(long)]
    pub s3_allow_http: bool,
    /// Retries of a failed S3 request (with exponential backoff and jitter).
    #[arg(long, default_value_t = S3Options::default().max_retries)]
    pub s3_max_retries: usize,
    /// Give up retrying a request this many seconds after its first attempt.
    #[arg(long, default_value_t = S3Options::default().retry_timeout.as_secs())]
    pub s3_retry_timeout_secs: u64,
    /// Timeout of one S3 request, in seconds.
    #[arg(long, default_value_t = S3Options::default().request_timeout.as_secs())]
    pub s3_request_timeout_secs: u64,
    /// Encrypt written objects with this KMS key (SSE-KMS).
    #[arg(long)]
    pub sse_kms_key_id: Option<String>,
    /// Written objects: grant the bucket owner full control (cross-account destinations).
    #[arg(long)]
    pub bucket_owner_full_control: bool,
    /// Fail unless buckets belong to this account id.
    #[arg(long)]
    pub expected_bucket_owner: Option<String>,
}

impl S3Args {
    pub fn to_options(&self) -> S3Options {
        let d = S3Options::default();
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            allow_http: self.s3_allow_http,
            max_retries: self.s3_max_retries,
            retry_timeout: std::time::Duration::from_secs(self.s3_retry_timeout_secs),
            request_timeout: std::time::Duration::from_secs(self.s3_request_timeout_secs),
            sse_kms_key_id: self.sse_kms_key_id.clone(),
            bucket_owner_full_control: self.bucket_owner_full_control,
            expected_bucket_owner: self.expected_bucket_owner.clone(),
            ..d
        }
    }
}

/// Which days, accounts and regions a command works on (the same for convert and verify).
#[derive(Args, Debug)]
pub struct DaysArgs {
    /// One UTC day (YYYY-MM-DD).
    #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present = "from")]
    pub date: Option<NaiveDate>,
    /// First day of a range (YYYY-MM-DD).
    #[arg(long, requires = "to")]
    pub from: Option<NaiveDate>,
    /// Last day of a range, inclusive.
    #[arg(long, requires = "from")]
    pub to: Option<NaiveDate>,
    /// Only these accounts (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub accounts: Option<Vec<String>>,
    /// Only these regions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub regions: Option<Vec<String>>,
    /// Date folders after a day that are read for its late events.
    #[arg(long, default_value_t = 1)]
    pub lateness_days: u32,
    /// The table: events, insights or aggregated.
    #[arg(long, value_enum, default_value_t = TableArg::Events)]
    pub table: TableArg,
}

impl DaysArgs {
    /// (first day, last day), inclusive.
    pub fn range(&self) -> Result<(NaiveDate, NaiveDate)> {
        let (from, to) = match (self.date, self.from, self.to) {
            (Some(d), _, _) => (d, d),
            (None, Some(f), Some(t)) => (f, t),
            _ => bail!("give --date DAY, or --from DAY --to DAY"),
        };
        if from > to {
            bail!("--from {from} is after --to {to}");
        }
        Ok((from, to))
    }

    pub fn accounts(&self) -> Option<Vec<String>> {
        self.accounts.as_deref().map(clean_list)
    }

    pub fn regions(&self) -> Option<Vec<String>> {
        self.regions.as_deref().map(clean_list)
    }
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Folder (or bucket prefix) that holds AWSLogs/.
    pub source: String,
    /// Folder (or bucket prefix) to write the Hive-partitioned Parquet under.
    pub dest: String,
    #[command(flatten)]
    pub days: DaysArgs,
    /// Report bad files and go on, instead of leaving the days they may hold events of unwritten.
    #[arg(long)]
    pub skip_bad_files: bool,
    /// Delivery files read at once (reads overlap so per-request latency is hidden).
    #[arg(long, default_value_t = ConvertOptions::days(NaiveDate::MIN, NaiveDate::MIN).concurrency)]
    pub concurrency: usize,
    /// Compressed bytes of delivery files read ahead at most.
    #[arg(long, default_value = "32MiB", value_parser = parse_size)]
    pub read_ahead: u64,
    /// Memory for rows in flight; beyond it, sorted runs spill to the work folder.
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub memory_budget: u64,
    /// A delivery file that inflates beyond this is reported bad.
    #[arg(long, default_value = "512MiB", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Folder for spill runs and staged part files (default: the system temp folder).
    #[arg(long)]
    pub work_dir: Option<std::path::PathBuf>,
    /// Compression: zstd[:LEVEL], gzip[:LEVEL], snappy, lz4 or none.
    #[arg(long, default_value = "zstd:3")]
    pub compression: Codec,
    /// Rows per row group at most.
    #[arg(long, default_value_t = ParquetOptions::default().row_group_rows)]
    pub row_group_rows: usize,
    /// Start a new part file once one reaches this size.
    #[arg(long, default_value = "512MiB", value_parser = parse_size)]
    pub target_file_size: u64,
    /// Statistics: none, chunk (per row group) or page (also the page index).
    #[arg(long, default_value = "page")]
    pub statistics: Statistics,
    /// Columns with a bloom filter (comma-separated leaf paths, e.g. userIdentity.arn; "" for none).
    #[arg(long, value_delimiter = ',')]
    pub bloom_filter_columns: Option<Vec<String>>,
    /// False-positive probability of the bloom filters.
    #[arg(long, default_value_t = ParquetOptions::default().bloom_filter_fpp)]
    pub bloom_filter_fpp: f64,
    /// Turn dictionary encoding off.
    #[arg(long)]
    pub no_dictionary: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,

    #[command(flatten)]
    pub s3: S3Args,
}

impl ConvertArgs {
    pub fn to_options(&self) -> Result<ConvertOptions> {
        let (from, to) = self.days.range()?;
        let mut opts = ConvertOptions::days(from, to);
        opts.lateness_days = self.days.lateness_days;
        opts.accounts = self.days.accounts();
        opts.regions = self.days.regions();
        opts.table = self.days.table.table();
        opts.skip_bad_files = self.skip_bad_files;
        opts.concurrency = self.concurrency.max(1);
        opts.read_ahead_bytes = self.read_ahead;
        opts.memory_budget_bytes = self.memory_budget as usize;
        opts.max_file_bytes = self.max_file_size;
        opts.work_dir = self.work_dir.clone();
        opts.parquet = ParquetOptions {
            compression: self.compression,
            row_group_rows: self.row_group_rows,
            target_file_bytes: self.target_file_size,
            statistics: self.statistics,
            bloom_filter_columns: self.bloom_filter_columns.as_deref().map(clean_list),
            bloom_filter_fpp: self.bloom_filter_fpp,
            dictionary: !self.no_dictionary,
        };
        // Fail on bad Parquet options before any work is done.
        opts.parquet
            .writer_properties(opts.table)
            .map_err(anyhow::Error::msg)?;
        Ok(opts)
    }
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Folder (or bucket prefix) that holds AWSLogs/.
    pub source: String,
    /// The destination given to `convert`.
    pub dest: String,
    /// The same days, accounts, regions, lateness and table as given to `convert`.
    #[command(flatten)]
    pub days: DaysArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

impl VerifyArgs {
    pub fn to_options(&self) -> Result<ctparquet::verify::VerifyOptions> {
        let (from, to) = self.days.range()?;
        let mut opts = ctparquet::verify::VerifyOptions::days(from, to);
        opts.lateness_days = self.days.lateness_days;
        opts.accounts = self.days.accounts();
        opts.regions = self.days.regions();
        opts.table = self.days.table.table();
        Ok(opts)
    }
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The destination folder given to `convert`.
    pub dest: String,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

#[derive(Args, Debug)]
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
    fn sizes_parse() {
        assert_eq!(parse_size("256MiB"), Ok(256 * 1024 * 1024));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("12 parsecs").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
