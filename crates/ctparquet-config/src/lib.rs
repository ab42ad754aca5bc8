//! The settings of ctparquet, defined once.
//!
//! Every setting shared by the command line and the Lambda is a clap argument with an
//! environment variable (`CTPARQUET_*`): the CLI takes the flag or the variable, the Lambda takes
//! the variable (it parses its environment with the same definitions, see
//! [`LambdaSettings`]). `ctparquet-lambda --help` and [`env_vars`] list every variable with its
//! meaning; nothing else reads `CTPARQUET_*` variables.
//!
//! Each group converts into the library's typed options (`ConvertOptions`, `S3Options`) in one
//! place, so the two front ends cannot drift.

use anyhow::{Result, bail};
use chrono::NaiveDate;
use clap::{Args, Parser};
use ctparquet::sink::{Codec, Statistics};
use ctparquet::store::S3Options;
use ctparquet::{ConvertOptions, ParquetOptions, Scope};

/// Which table a command works on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
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
pub fn parse_size(text: &str) -> Result<u64, String> {
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

/// An AWS account id: 12 digits (leading zeros kept). Empty is allowed: `--accounts ""` is none.
pub fn parse_account(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() || ctparquet::layout::is_account_id(t) {
        Ok(t.to_string())
    } else {
        Err(format!(
            "{t:?} is not an AWS account id (12 digits, e.g. 012345678901; {} given)",
            t.len()
        ))
    }
}

/// An AWS region name (`us-east-1`). Empty is allowed: `--regions ""` is none.
pub fn parse_region(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() || ctparquet::layout::is_region(t) {
        Ok(t.to_string())
    } else {
        Err(format!(
            "{t:?} is not an AWS region name (e.g. us-east-1, eu-west-1, ap-southeast-2)"
        ))
    }
}

/// A size that must not be zero (a budget, a limit, a read-ahead).
pub fn parse_nonzero_size(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err(format!("{text:?}: must be more than zero")),
        n => Ok(n),
    }
}

/// A count that must not be zero.
pub fn parse_nonzero_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{text:?} is not a count: {e}")),
    }
}

/// A comma-separated list as clap splits it, without blanks ("" means none).
pub fn clean_list(items: &[String]) -> Vec<String> {
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// How to reach S3 (for `s3://` SOURCE or DEST). Otherwise credentials and region come from the
/// standard AWS chain, as the AWS CLI reads them: environment, AWS_PROFILE's config and
/// credentials files (keys, SSO, credential_process, assumed roles), web identity, container
/// and instance credentials; the endpoint from AWS_ENDPOINT_URL(_S3).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "S3")]
pub struct S3Args {
    /// AWS profile of ~/.aws/config to sign in with (default: AWS_PROFILE, else `default`).
    #[arg(long, env = "CTPARQUET_PROFILE")]
    pub profile: Option<String>,
    /// S3-compatible endpoint URL (e.g. http://127.0.0.1:9000).
    #[arg(long, env = "CTPARQUET_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "CTPARQUET_S3_REGION")]
    pub s3_region: Option<String>,
    /// Allow plain-HTTP endpoints.
    #[arg(long, env = "CTPARQUET_S3_ALLOW_HTTP")]
    pub s3_allow_http: bool,
    /// Retries of a failed S3 request (with exponential backoff and jitter).
    #[arg(long, env = "CTPARQUET_S3_MAX_RETRIES", default_value_t = S3Options::default().max_retries)]
    pub s3_max_retries: usize,
    /// Give up retrying a request this many seconds after its first attempt.
    #[arg(long, env = "CTPARQUET_S3_RETRY_TIMEOUT_SECS", default_value_t = S3Options::default().retry_timeout.as_secs())]
    pub s3_retry_timeout_secs: u64,
    /// Timeout of one S3 request, in seconds.
    #[arg(long, env = "CTPARQUET_S3_REQUEST_TIMEOUT_SECS", default_value_t = S3Options::default().request_timeout.as_secs())]
    pub s3_request_timeout_secs: u64,
    /// Fail unless buckets belong to this account id.
    #[arg(long, env = "CTPARQUET_EXPECTED_BUCKET_OWNER")]
    pub expected_bucket_owner: Option<String>,
}

/// How written S3 objects are encrypted and owned (commands that write only).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "S3")]
pub struct S3WriteArgs {
    /// Encrypt written objects with this KMS key (SSE-KMS).
    #[arg(long, env = "CTPARQUET_SSE_KMS_KEY_ID")]
    pub sse_kms_key_id: Option<String>,
    /// Written objects: grant the bucket owner full control (cross-account destinations).
    #[arg(long, env = "CTPARQUET_BUCKET_OWNER_FULL_CONTROL")]
    pub bucket_owner_full_control: bool,
}

impl S3Args {
    /// The options of a command that only reads.
    pub fn to_options(&self) -> S3Options {
        self.with_writes(&S3WriteArgs::default())
    }

    /// The options of a command that writes.
    pub fn with_writes(&self, writes: &S3WriteArgs) -> S3Options {
        let d = S3Options::default();
        S3Options {
            profile: self.profile.clone(),
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            allow_http: self.s3_allow_http,
            max_retries: self.s3_max_retries,
            retry_timeout: std::time::Duration::from_secs(self.s3_retry_timeout_secs),
            request_timeout: std::time::Duration::from_secs(self.s3_request_timeout_secs),
            sse_kms_key_id: writes.sse_kms_key_id.clone(),
            bucket_owner_full_control: writes.bucket_owner_full_control,
            expected_bucket_owner: self.expected_bucket_owner.clone(),
            ..d
        }
    }
}

/// Which trails and table a run covers, and how late events may come.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Scope")]
pub struct ScopeArgs {
    /// Only these accounts (comma-separated 12-digit ids).
    #[arg(long, env = "CTPARQUET_ACCOUNTS", value_delimiter = ',', value_parser = parse_account)]
    pub accounts: Option<Vec<String>>,
    /// Only these regions (comma-separated, e.g. us-east-1,eu-west-1).
    #[arg(long, env = "CTPARQUET_REGIONS", value_delimiter = ',', value_parser = parse_region)]
    pub regions: Option<Vec<String>>,
    /// Date folders after a day that are read for its late events.
    #[arg(long, env = "CTPARQUET_LATENESS_DAYS", default_value_t = ctparquet::scope::DEFAULT_LATENESS_DAYS)]
    pub lateness_days: u32,
    /// The table: events, insights or aggregated.
    #[arg(long, env = "CTPARQUET_TABLE", value_enum, default_value_t = TableArg::Events)]
    pub table: TableArg,
}

impl ScopeArgs {
    /// The scope of the days `from ..= to` with these settings.
    pub fn scope(&self, from: NaiveDate, to: NaiveDate) -> Result<Scope> {
        let mut scope = Scope::days(from, to)?;
        scope.lateness_days = self.lateness_days;
        scope.accounts = self.accounts();
        scope.regions = self.regions();
        scope.table = self.table.table();
        Ok(scope)
    }

    pub fn accounts(&self) -> Option<Vec<String>> {
        self.accounts
            .as_deref()
            .map(clean_list)
            .filter(|l| !l.is_empty())
    }

    pub fn regions(&self) -> Option<Vec<String>> {
        self.regions
            .as_deref()
            .map(clean_list)
            .filter(|l| !l.is_empty())
    }
}

/// Which days a command works on (the same for convert, verify and backfill).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Scope")]
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
    #[command(flatten)]
    pub scope: ScopeArgs,
}

impl DaysArgs {
    /// The days and the rest of the scope given.
    pub fn scope(&self) -> Result<Scope> {
        let (from, to) = match (self.date, self.from, self.to) {
            (Some(d), _, _) => (d, d),
            (None, Some(f), Some(t)) => (f, t),
            _ => bail!("give --date DAY, or --from DAY --to DAY"),
        };
        self.scope.scope(from, to)
    }
}

/// How a conversion reads, holds and writes: everything but what and where.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Performance")]
pub struct TuningArgs {
    /// Report bad files and go on, instead of leaving the days they may hold events of unwritten.
    #[arg(long, help_heading = "Scope", env = "CTPARQUET_SKIP_BAD_FILES")]
    pub skip_bad_files: bool,
    /// Replace a day even when the source now brings fewer events than the destination holds
    /// (without it such a day is kept and reported: its source JSON was likely expired).
    #[arg(long, help_heading = "Scope", env = "CTPARQUET_ALLOW_SHRINK")]
    pub allow_shrink: bool,
    /// Seconds to wait for a day another run is writing (it holds the day's lease) before
    /// reporting the day not written.
    #[arg(long, value_name = "SECONDS", env = "CTPARQUET_LOCK_WAIT", default_value_t = ctparquet::publish::DEFAULT_LOCK_WAIT.as_secs())]
    pub lock_wait: u64,
    /// Delivery files read at once (reads overlap so per-request latency is hidden).
    #[arg(long, env = "CTPARQUET_CONCURRENCY", value_parser = parse_nonzero_count, default_value_t = ctparquet::convert::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Compressed bytes of delivery files read ahead at most.
    #[arg(long, env = "CTPARQUET_READ_AHEAD", default_value = "32MiB", value_parser = parse_nonzero_size)]
    pub read_ahead: u64,
    /// Memory for rows in flight; beyond it, sorted runs spill to the work folder.
    #[arg(long, env = "CTPARQUET_MEMORY_BUDGET", default_value = "256MiB", value_parser = parse_nonzero_size)]
    pub memory_budget: u64,
    /// A delivery file that inflates beyond this is reported bad.
    #[arg(long, env = "CTPARQUET_MAX_FILE_SIZE", default_value = "512MiB", value_parser = parse_nonzero_size)]
    pub max_file_size: u64,
    /// Folder for spill runs and staged part files (default: the system temp folder).
    #[arg(long, env = "CTPARQUET_WORK_DIR")]
    pub work_dir: Option<std::path::PathBuf>,
    /// Compression: zstd[:LEVEL], gzip[:LEVEL], snappy, lz4 or none.
    #[arg(
        long,
        help_heading = "Parquet",
        env = "CTPARQUET_COMPRESSION",
        default_value = "zstd:1"
    )]
    pub compression: Codec,
    /// Rows per row group at most.
    #[arg(long, help_heading = "Parquet", env = "CTPARQUET_ROW_GROUP_ROWS", value_parser = parse_nonzero_count, default_value_t = ParquetOptions::default().row_group_rows)]
    pub row_group_rows: usize,
    /// Split a day into part files of about this size (default: one file per day, which readers
    /// see replaced at once; a day of several parts is switched by a commit record).
    #[arg(long, help_heading = "Parquet", env = "CTPARQUET_TARGET_FILE_SIZE", value_parser = parse_nonzero_size)]
    pub target_file_size: Option<u64>,
    /// Statistics: none, chunk (per row group) or page (also the page index).
    #[arg(
        long,
        help_heading = "Parquet",
        env = "CTPARQUET_STATISTICS",
        default_value = "page"
    )]
    pub statistics: Statistics,
    /// Columns with a bloom filter (comma-separated leaf paths, e.g. userIdentity.arn; "" for none).
    #[arg(
        long,
        help_heading = "Parquet",
        env = "CTPARQUET_BLOOM_FILTER_COLUMNS",
        value_delimiter = ','
    )]
    pub bloom_filter_columns: Option<Vec<String>>,
    /// False-positive probability of the bloom filters.
    #[arg(long, help_heading = "Parquet", env = "CTPARQUET_BLOOM_FILTER_FPP", default_value_t = ParquetOptions::default().bloom_filter_fpp)]
    pub bloom_filter_fpp: f64,
    /// Turn dictionary encoding off.
    #[arg(long, help_heading = "Parquet", env = "CTPARQUET_NO_DICTIONARY")]
    pub no_dictionary: bool,
    /// JSON-valued columns (requestParameters, ...): text (plain strings every reader's string
    /// and JSON functions take), json (Parquet's JSON logical type) or variant (Parquet VARIANT,
    /// common members such as requestParameters.bucketName shredded into typed columns).
    #[arg(long, help_heading = "Parquet", env = "CTPARQUET_JSON_COLUMNS", value_enum, default_value_t = JsonColumnsArg::Text)]
    pub json_columns: JsonColumnsArg,
}

/// How JSON-valued columns are typed in the files.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JsonColumnsArg {
    /// Plain UTF-8 text (Polars .str, DuckDB ->>, pyarrow, Athena json_extract).
    #[default]
    Text,
    /// Parquet's JSON logical type (DuckDB: JSON; Polars 2.1: an extension type, not text).
    Json,
    /// Parquet VARIANT, shredded for common members (DuckDB: VARIANT; see the README for others).
    Variant,
}

impl From<JsonColumnsArg> for ctparquet::schema::JsonColumns {
    fn from(arg: JsonColumnsArg) -> Self {
        match arg {
            JsonColumnsArg::Text => ctparquet::schema::JsonColumns::Text,
            JsonColumnsArg::Json => ctparquet::schema::JsonColumns::Json,
            JsonColumnsArg::Variant => ctparquet::schema::JsonColumns::Variant,
        }
    }
}

/// The options of a conversion of `scope`: the one place settings become `ConvertOptions`.
pub fn convert_options(scope: Scope, tuning: &TuningArgs) -> Result<ConvertOptions> {
    let mut opts = ConvertOptions::new(scope);
    opts.skip_bad_files = tuning.skip_bad_files;
    opts.allow_shrink = tuning.allow_shrink;
    opts.lock_wait = std::time::Duration::from_secs(tuning.lock_wait);
    opts.concurrency = tuning.concurrency;
    opts.read_ahead_bytes = tuning.read_ahead;
    opts.memory_budget_bytes = tuning.memory_budget as usize;
    opts.max_file_bytes = tuning.max_file_size;
    opts.work_dir = tuning.work_dir.clone();
    opts.parquet = ParquetOptions {
        compression: tuning.compression,
        row_group_rows: tuning.row_group_rows,
        target_file_bytes: tuning.target_file_size.unwrap_or(u64::MAX),
        statistics: tuning.statistics,
        bloom_filter_columns: tuning.bloom_filter_columns.as_deref().map(clean_list),
        bloom_filter_fpp: tuning.bloom_filter_fpp,
        dictionary: !tuning.no_dictionary,
        json_columns: tuning.json_columns.into(),
    };
    // Fail on bad Parquet options before any work is done.
    opts.parquet
        .writer_properties(opts.scope.table)
        .map_err(anyhow::Error::msg)?;
    Ok(opts)
}

/// The Lambda's settings, read from its environment once at start (the same definitions as the
/// command line's flags). `ctparquet-lambda --help` prints them.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ctparquet-lambda",
    version,
    about = "The ctparquet AWS Lambda: configured by environment variables (listed below), run by the Lambda runtime",
    long_about = "The ctparquet AWS Lambda (provided.al2023). Configured by the environment \
        variables listed below, each the same setting as the `ctparquet` command line's flag of the \
        same name. It handles EventBridge scheduled events (convert yesterday), SQS batches of \
        conversion jobs (partial batch responses), direct invocations with a job, and Firehose \
        transformation records."
)]
pub struct LambdaSettings {
    /// Folder or s3://BUCKET/PREFIX that holds AWSLogs/ (needed by every event but Firehose's).
    #[arg(long, env = "CTPARQUET_SOURCE")]
    pub source: Option<String>,
    /// s3://BUCKET/PREFIX (or folder) the Hive-partitioned Parquet is written under.
    #[arg(long, env = "CTPARQUET_DEST", requires = "source")]
    pub dest: Option<String>,
    /// SQS queue URL for fan-out and for re-enqueueing work left when time runs out.
    #[arg(long, env = "CTPARQUET_QUEUE_URL")]
    pub queue_url: Option<String>,
    /// A scheduled run converts the day this many days before the event's time (1: yesterday).
    #[arg(long, env = "CTPARQUET_SCHEDULE_OFFSET_DAYS", default_value_t = 1)]
    pub schedule_offset_days: u32,
    /// A scheduled run converts this many days, ending at the offset day (2 also redoes the day
    /// before, picking up events delivered after its first conversion).
    #[arg(long, env = "CTPARQUET_SCHEDULE_DAYS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=31))]
    pub schedule_days: u32,
    /// A job of more units (consecutive days of an account and region) than this is fanned out
    /// over the queue, one message per unit, instead of run in the invocation (needs
    /// CTPARQUET_QUEUE_URL).
    #[arg(long, env = "CTPARQUET_INLINE_MAX_UNITS", default_value_t = 8)]
    pub inline_max_units: usize,
    /// Compressed delivery bytes a planned unit reads at most (a day that alone reads more is a
    /// unit of its own): what one invocation converts with margin. Larger functions take more.
    #[arg(long, env = "CTPARQUET_UNIT_BYTES", default_value = "4GiB", value_parser = parse_nonzero_size)]
    pub unit_bytes: u64,
    /// Seconds kept in hand before the invocation's deadline: no unit starts, and no day is
    /// written, later than this; what is left is re-enqueued.
    #[arg(long, env = "CTPARQUET_DEADLINE_MARGIN_SECS", default_value_t = 60)]
    pub deadline_margin_secs: u64,
    /// CloudWatch namespace of the Embedded Metric Format lines.
    #[arg(long, env = "CTPARQUET_METRICS_NAMESPACE", default_value = "ctparquet")]
    pub metrics_namespace: String,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub tuning: TuningArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub s3_writes: S3WriteArgs,
    #[command(flatten)]
    pub firehose: FirehoseArgs,
}

/// The Firehose transformation of CloudWatch Logs subscription records.
#[derive(Args, Debug, Clone)]
pub struct FirehoseArgs {
    /// What the subscribed log groups hold: cloudtrail (each message one CloudTrail event),
    /// logs (anything else), or auto (a record is CloudTrail when its first message is a
    /// CloudTrail event). A stream's S3 prefix names the keys of one kind: choose it.
    #[arg(long, env = "CTPARQUET_FIREHOSE_MODE", value_enum, default_value_t = FirehoseMode::Auto)]
    pub firehose_mode: FirehoseMode,
    /// Partition keys of other log groups, in order: any of owner, group, stream, year, month,
    /// day, hour (stream is the log stream, e.g. an instance id; times are the log event's, UTC).
    #[arg(
        long,
        env = "CTPARQUET_FIREHOSE_LOG_KEYS",
        value_delimiter = ',',
        default_value = "stream,year,month,day,hour"
    )]
    pub firehose_log_keys: Vec<String>,
    /// Attempts of a PutRecordBatch that re-ingests records (exponential backoff between).
    #[arg(long, env = "CTPARQUET_FIREHOSE_REINGEST_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub firehose_reingest_attempts: u32,
}

/// What a Firehose transformation takes its records for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FirehoseMode {
    /// Per record: CloudTrail when its first message is a CloudTrail event.
    #[default]
    Auto,
    /// Every message is a CloudTrail event (keys account, region, year, month, day).
    Cloudtrail,
    /// Log lines of any kind (keys from CTPARQUET_FIREHOSE_LOG_KEYS).
    Logs,
}

/// One environment variable a settings struct reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub help: String,
    pub default: Option<String>,
}

/// Every environment variable of a clap command, in definition order.
pub fn env_vars(command: &clap::Command) -> Vec<EnvVar> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_env()?.to_str()?.to_string();
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let default = (!arg.get_default_values().is_empty()).then(|| {
                arg.get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            Some(EnvVar {
                name,
                help,
                default,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn zero_is_refused_where_it_means_nothing() {
        assert!(parse_nonzero_size("0").is_err() && parse_nonzero_size("0MiB").is_err());
        assert_eq!(parse_nonzero_size("1KiB"), Ok(1024));
        assert!(parse_nonzero_count("0").is_err());
        assert_eq!(parse_nonzero_count("16"), Ok(16));
    }

    /// The flags' defaults are the library's: a conversion with no flags is `ConvertOptions::days`.
    #[test]
    fn flag_defaults_are_the_library_defaults() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            scope: ScopeArgs,
            #[command(flatten)]
            tuning: TuningArgs,
        }
        use clap::Parser;
        let flags = Flags::try_parse_from(["test"]).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 1, 4).unwrap();
        let got = convert_options(flags.scope.scope(day, day).unwrap(), &flags.tuning).unwrap();
        let want = ConvertOptions::days(day, day);
        assert_eq!(got.scope, want.scope);
        assert_eq!(
            (
                got.lock_wait,
                got.concurrency,
                got.read_ahead_bytes,
                got.memory_budget_bytes,
                got.max_file_bytes,
            ),
            (
                want.lock_wait,
                want.concurrency,
                want.read_ahead_bytes,
                want.memory_budget_bytes,
                want.max_file_bytes,
            )
        );
        assert_eq!(got.parquet, want.parquet);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("256MiB"), Ok(256 * 1024 * 1024));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("12 parsecs").is_err());
    }

    #[test]
    fn lambda_settings_are_well_formed() {
        LambdaSettings::command().debug_assert();
    }

    #[test]
    fn every_lambda_setting_has_a_distinct_ctparquet_variable() {
        let vars = env_vars(&LambdaSettings::command());
        let args = LambdaSettings::command()
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .count();
        assert_eq!(vars.len(), args, "an argument without env");
        let mut names: Vec<_> = vars.iter().map(|v| v.name.as_str()).collect();
        assert!(names.iter().all(|n| n.starts_with("CTPARQUET_")));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), vars.len(), "a variable given twice");
    }
}
