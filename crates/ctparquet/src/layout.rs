//! Where CloudTrail puts its files, and where ctparquet puts Parquet.
//!
//! Source: `[prefix/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`; the date
//! folders are delivery dates. Destination: `account=A/region=R/year=YYYY/month=MM/day=DD/part-NNNNN.parquet`.

use chrono::{Datelike, NaiveDate};
use object_store::path::Path;

use crate::time::day_partition;

/// Is this listing entry under `AWSLogs/` an organization id (`o-` then lower-case letters and
/// digits; AWS documents 10 to 32 of them, sanitised real logs have fewer)?
pub fn is_org_id(name: &str) -> bool {
    name.strip_prefix("o-").is_some_and(|rest| {
        (1..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Is this an AWS account id (12 digits)?
pub fn is_account_id(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

/// The words between a region's area code and its number (`us-EAST-1`, `us-GOV-west-1`,
/// `us-ISOB-east-1`). A new region reuses them, a typo (`us-esat-1`) does not.
const REGION_WORDS: &[&str] = &[
    "east",
    "west",
    "north",
    "south",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
    "gov",
    "iso",
    "isob",
    "isoe",
    "isof",
];

/// Is this a region name (`us-east-1`, `ap-southeast-4`, `us-gov-west-1`)? A two-letter area,
/// then words of `REGION_WORDS`, then a number: regions AWS opens later pass too.
pub fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|word| REGION_WORDS.contains(word))
        && !parts[parts.len() - 1].is_empty()
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// Is this object name a CloudTrail log file? Log files end in `.json.gz`; uncompressed `.json`
/// copies (as some datasets keep them) are read too. Anything else in a date folder is skipped.
pub fn is_log_file_name(name: &str) -> bool {
    name.ends_with(".json.gz") || name.ends_with(".json")
}

/// The delivery-date folder of a trail: `REGION_ROOT/YYYY/MM/DD`.
pub fn date_folder(region_root: &Path, date: NaiveDate) -> Path {
    let (y, m, d) = day_partition(date);
    region_root.clone().join(y).join(m).join(d)
}

/// The Hive partition folder of one output day, relative to the destination.
pub fn partition_dir(dest: &Path, account: &str, region: &str, day: NaiveDate) -> Path {
    let (y, m, d) = day_partition(day);
    dest.clone()
        .join(format!("account={account}"))
        .join(format!("region={region}"))
        .join(format!("year={y}"))
        .join(format!("month={m}"))
        .join(format!("day={d}"))
}

/// The name of the `index`th part file of a day.
pub fn part_file_name(index: usize) -> String {
    format!("part-{index:05}.parquet")
}

/// Is this one of our part files (and so ours to replace)?
pub fn is_part_file_name(name: &str) -> bool {
    name.strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An output partition read back from a path: (account, region, day).
pub fn parse_partition(relative: &str) -> Option<(String, String, NaiveDate)> {
    let mut account = None;
    let mut region = None;
    let (mut y, mut m, mut d) = (None, None, None);
    for segment in relative.split('/') {
        if let Some((key, value)) = segment.split_once('=') {
            match key {
                "account" => account = Some(value.to_string()),
                "region" => region = Some(value.to_string()),
                "year" => y = value.parse::<i32>().ok(),
                "month" => m = value.parse::<u32>().ok(),
                "day" => d = value.parse::<u32>().ok(),
                _ => {}
            }
        }
    }
    let day = NaiveDate::from_ymd_opt(y?, m?, d?)?;
    Some((account?, region?, day))
}

/// `YYYY-MM-DD`.
pub fn iso_date(day: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), day.month(), day.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognised() {
        assert!(is_org_id("o-1234abcde0"));
        assert!(is_org_id("o-1234abcde"));
        assert!(!is_org_id("o-") && !is_org_id("o-ABC"));
        assert!(is_account_id("012345678901"));
        assert!(!is_account_id("01234567890a"));
        assert!(
            is_region("us-east-1") && is_region("us-gov-west-1") && is_region("ap-southeast-4")
        );
        assert!(!is_region("CloudTrail") && !is_region("us-east") && !is_region(".."));
        for name in [
            "us-esat-1",
            "us..east-1",
            "us-east-",
            "eu-west-1a",
            "US-EAST-1",
        ] {
            assert!(!is_region(name), "{name}");
        }
        for name in [
            "ap-northeast-3",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "mx-central-1",
        ] {
            assert!(is_region(name), "{name}");
        }
        assert!(is_log_file_name(
            "1_CloudTrail_us-east-1_20250306T0320Z_ZgdYr0lP8M9fWEH8.json.gz"
        ));
        assert!(!is_log_file_name("_SUCCESS"));
        assert!(is_part_file_name("part-00012.parquet") && !is_part_file_name("part-x.parquet"));
    }

    #[test]
    fn partitions_round_trip() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        let dir = partition_dir(&Path::from("lake"), "012345678901", "eu-west-1", day);
        assert_eq!(
            dir.as_ref(),
            "lake/account=012345678901/region=eu-west-1/year=2026/month=01/day=05"
        );
        assert_eq!(
            parse_partition(dir.as_ref()),
            Some(("012345678901".into(), "eu-west-1".into(), day))
        );
    }
}
