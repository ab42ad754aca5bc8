//! The plan of a year's backfill of a generated organization: 500 accounts x 17 regions, most
//! regions empty, a few accounts with S3 data events in their home region, planned by the same
//! code as `ctparquet backfill SOURCE --plan` through a store that counts its requests.
//!
//!   cargo run --release -p ctparquet-bench --bin org-plan [-- ACCOUNTS DAYS]
//!
//! The organization is a listing computed from the key asked for (nothing is stored): what a
//! planner sees of S3, at a scale no test folder holds. Its shape (a delivery every five minutes
//! per active region, sizes per account tier) is in `OrgStore`.

use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use ctparquet::{Location, Scope};
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

const ORG: &str = "o-exampleorg1";
const REGIONS: [&str; 17] = [
    "us-east-1",
    "eu-west-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "sa-east-1",
];

/// A generated organization's CloudTrail bucket, listed from its keys.
///
/// Every account delivers every day to `us-east-1` (global services) and to its home region
/// (`eu-west-1`); three more regions see a delivery on a few days a month; the other twelve hold
/// only a year folder from before the backfill (an old experiment). Daily bytes per active
/// region depend on the account: most 5-40 MiB, one in twenty 0.3-1.5 GiB, one in a hundred
/// (S3 data events) 8-24 GiB in its home region.
#[derive(Debug)]
struct OrgStore {
    accounts: usize,
    first_day: NaiveDate,
    days: u32,
}

/// A cheap deterministic hash (splitmix64) for sizes and sparse days.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl OrgStore {
    fn account(&self, index: usize) -> String {
        format!("{:012}", 100_000_000_000u64 + index as u64 * 7919)
    }

    /// Bytes delivered to (account, region) on `date` (0: no folder).
    fn bytes(&self, account: usize, region: usize, date: NaiveDate) -> u64 {
        const MIB: u64 = 1 << 20;
        let seed =
            mix((account as u64) << 32 ^ (region as u64) << 24 ^ date.num_days_from_ce() as u64);
        let in_range =
            date >= self.first_day && date < self.first_day + chrono::Days::new(self.days.into());
        if !in_range {
            return 0;
        }
        match region {
            0 | 1 => {
                let tier = mix(account as u64) % 100;
                let (low, high) = match tier {
                    0 if region == 1 => (8 * 1024 * MIB, 24 * 1024 * MIB),
                    0..=5 => (300 * MIB, 1536 * MIB),
                    _ => (5 * MIB, 40 * MIB),
                };
                low + seed % (high - low)
            }
            // A delivery on about three days a month.
            2..=4 if seed.is_multiple_of(10) => 20_000 + seed % 200_000,
            _ => 0,
        }
    }

    /// Files of a folder holding `bytes`: a delivery every five minutes, more past 4 MiB each.
    fn files(bytes: u64) -> u64 {
        (bytes / (4 << 20)).max(288.min(bytes / 2_000).max(1))
    }

    fn listing(&self, prefix: &str) -> (Vec<String>, Vec<ObjectMeta>) {
        let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
        let dirs = |names: Vec<String>| (names, Vec::new());
        match parts.as_slice() {
            [] => dirs(vec!["AWSLogs".into()]),
            ["AWSLogs"] => dirs(vec![ORG.into()]),
            ["AWSLogs", ORG] => dirs((0..self.accounts).map(|a| self.account(a)).collect()),
            ["AWSLogs", ORG, _] => dirs(vec!["CloudTrail".into(), "CloudTrail-Digest".into()]),
            ["AWSLogs", ORG, _, "CloudTrail"] => {
                dirs(REGIONS.iter().map(|r| r.to_string()).collect())
            }
            ["AWSLogs", ORG, account, "CloudTrail", region] => {
                // The years with deliveries, and an old one before the range.
                let mut years = vec!["2019".to_string()];
                years.extend(
                    self.dates(account, region, |_| true)
                        .iter()
                        .map(|d| d.year().to_string()),
                );
                years.dedup();
                dirs(years)
            }
            ["AWSLogs", ORG, account, "CloudTrail", region, year] => {
                let days = self.dates(account, region, |d| d.year().to_string() == *year);
                let mut months: Vec<String> =
                    days.iter().map(|d| format!("{:02}", d.month())).collect();
                months.dedup();
                dirs(months)
            }
            ["AWSLogs", ORG, account, "CloudTrail", region, year, month] => {
                let days = self.dates(account, region, |d| {
                    d.year().to_string() == *year && format!("{:02}", d.month()) == *month
                });
                dirs(days.iter().map(|d| format!("{:02}", d.day())).collect())
            }
            [
                "AWSLogs",
                ORG,
                account,
                "CloudTrail",
                region,
                year,
                month,
                day,
            ] => {
                let Some((a, r)) = self.trail(account, region) else {
                    return dirs(Vec::new());
                };
                let date = format!("{year}-{month}-{day}").parse::<NaiveDate>();
                let bytes = date.map_or(0, |d| self.bytes(a, r, d));
                let files = if bytes == 0 { 0 } else { Self::files(bytes) };
                let objects = (0..files)
                    .map(|i| {
                        let minute = i * 5 % 1440;
                        let name = format!(
                            "{account}_CloudTrail_{region}_{year}{month}{day}T{:02}{:02}Z_{i:016x}.json.gz",
                            minute / 60,
                            minute % 60
                        );
                        ObjectMeta {
                            location: Path::from(format!("{prefix}/{name}")),
                            last_modified: chrono::Utc::now(),
                            size: bytes / files + u64::from(i < bytes % files),
                            e_tag: None,
                            version: None,
                        }
                    })
                    .collect();
                (Vec::new(), objects)
            }
            _ => dirs(Vec::new()),
        }
    }

    /// The (account, region) indexes of a trail's names.
    fn trail(&self, account: &str, region: &str) -> Option<(usize, usize)> {
        let n: u64 = account.parse().ok()?;
        let offset = n.checked_sub(100_000_000_000)?;
        let account = (offset % 7919 == 0).then_some((offset / 7919) as usize)?;
        Some((account, REGIONS.iter().position(|r| *r == region)?))
    }

    fn dates(
        &self,
        account: &str,
        region: &str,
        keep: impl Fn(&NaiveDate) -> bool,
    ) -> Vec<NaiveDate> {
        let Some((a, r)) = self.trail(account, region) else {
            return Vec::new();
        };
        self.first_day
            .iter_days()
            .take(self.days as usize)
            .filter(|d| keep(d) && self.bytes(a, r, *d) > 0)
            .collect()
    }
}

impl fmt::Display for OrgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgStore({} accounts)", self.accounts)
    }
}

fn read_only() -> object_store::Error {
    object_store::Error::NotImplemented {
        operation: "anything but listing".into(),
        implementer: "OrgStore".into(),
    }
}

#[async_trait::async_trait]
impl ObjectStore for OrgStore {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(read_only())
    }
    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(read_only())
    }
    async fn get_opts(&self, _: &Path, _: GetOptions) -> Result<GetResult> {
        Err(read_only())
    }
    fn delete_stream(
        &self,
        _: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        Box::pin(futures::stream::once(async { Err(read_only()) }))
    }
    fn list(&self, _: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        Box::pin(futures::stream::once(async { Err(read_only()) }))
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let prefix = prefix.map(|p| p.as_ref().to_string()).unwrap_or_default();
        let (dirs, objects) = self.listing(&prefix);
        let join = |name: &str| {
            if prefix.is_empty() {
                Path::from(name)
            } else {
                Path::from(format!("{prefix}/{name}"))
            }
        };
        Ok(ListResult {
            common_prefixes: dirs.iter().map(|d| join(d)).collect(),
            objects,
            extensions: Default::default(),
        })
    }
    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(read_only())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().map_or(Ok(500), |a| a.parse())?;
    let days: u32 = args.next().map_or(Ok(365), |a| a.parse())?;
    let first_day = NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date");
    let store = OrgStore {
        accounts,
        first_day,
        days,
    };
    let source = Location::in_store(Arc::new(store), Path::default(), "org://generated");
    let (counted, requests) = source.counted();
    let last = first_day + chrono::Days::new(u64::from(days) - 1);
    let scope = Scope::days(first_day, last)?;
    let started = std::time::Instant::now();
    let plan = ctparquet_jobs::plan(&counted, &scope, ctparquet_jobs::DEFAULT_UNIT_BYTES).await?;
    let took = started.elapsed();
    println!(
        "generated organization: {accounts} accounts x {} regions, {days} days from {first_day}",
        REGIONS.len()
    );
    print!("{}", plan.describe(&scope, &requests.counts()));
    let per_day = (accounts * REGIONS.len()) as u64 * u64::from(days);
    println!(
        "one unit per (account, region, day) would be {per_day} units; planned in {:.1} s here",
        took.as_secs_f64()
    );
    Ok(())
}
