//! What a reader of the destination picks up that is not a part file this tool wrote for that
//! day: the blind spot of checking only our own files.
//!
//! Readers glob (`DEST/**/*.parquet` in DuckDB and Polars), walk folders (`pyarrow.dataset`
//! reads every file not starting with `.` or `_`), or list a prefix (Athena). So an `extra.parquet`,
//! a `.part-00009.parquet`, a `sub/part-00000.parquet` or the staging file of a killed local put
//! (`part-00000.parquet#1`) inside a day folder, a `day=5` beside `day=05`, or the folder of an
//! account or region the source has no trail for, all reach readers as data. This module finds
//! them, for the days being checked and beside them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use futures::TryStreamExt;
use object_store::path::Path;

use crate::layout;
use crate::store::Location;

/// An object under the destination that is not one of our part files in its right place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stray {
    /// The object, as the user names it (`DEST/account=.../extra.parquet`).
    pub path: String,
    pub reason: String,
}

/// Where the destination's partitions may be: the trails of the source (account to regions)
/// within the allow-lists, and the days checked.
pub struct Expected<'a> {
    pub trails: &'a BTreeMap<String, BTreeSet<String>>,
    pub days: &'a [NaiveDate],
    pub accounts: Option<&'a [String]>,
    pub regions: Option<&'a [String]>,
}

/// The strays in and beside the day folders of `expected`, sorted by path.
pub async fn find(dest: &Location, expected: &Expected<'_>) -> Result<Vec<Stray>, StrayError> {
    let mut found = Vec::new();
    let top = listing(dest, &dest.prefix).await?;
    for object in &top.objects {
        if reader_visible(object) {
            found.push(stray(dest, object, "a file outside any partition folder"));
        }
    }
    for dir in &top.dirs {
        let name = dir.filename().unwrap_or_default();
        let Some(account) = name.strip_prefix("account=") else {
            parquet_below(dest, dir, "outside any account= partition", &mut found).await?;
            continue;
        };
        if !layout::is_account_id(account) {
            parquet_below(dest, dir, "not an account id", &mut found).await?;
            continue;
        }
        if excluded(expected.accounts, account) {
            continue;
        }
        for region_dir in &listing(dest, dir).await?.dirs {
            let name = region_dir.filename().unwrap_or_default();
            let Some(region) = name
                .strip_prefix("region=")
                .filter(|r| layout::is_region(r))
            else {
                parquet_below(dest, region_dir, "not a region= partition", &mut found).await?;
                continue;
            };
            if excluded(expected.regions, region) {
                continue;
            }
            let known = expected
                .trails
                .get(account)
                .is_some_and(|regions| regions.contains(region));
            check_days(dest, account, region, known, expected.days, &mut found).await?;
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Is `name` left out by an allow-list (`None` allows all)?
fn excluded(allowed: Option<&[String]>, name: &str) -> bool {
    allowed.is_some_and(|list| !list.iter().any(|n| n == name))
}

/// Why the destination could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("listing {what}: {source}")]
pub struct StrayError {
    pub what: String,
    #[source]
    pub source: object_store::Error,
}

/// The folders of the checked days of one account and region, and their misspelled twins.
async fn check_days(
    dest: &Location,
    account: &str,
    region: &str,
    known: bool,
    days: &[NaiveDate],
    found: &mut Vec<Stray>,
) -> Result<(), StrayError> {
    let months: BTreeSet<(i32, u32)> = days.iter().map(|d| (d.year(), d.month())).collect();
    for (year, month) in months {
        let year_dir = dest
            .prefix
            .clone()
            .join(format!("account={account}"))
            .join(format!("region={region}"))
            .join(format!("year={year}"));
        for dir in listing(dest, &year_dir).await?.dirs {
            let name = dir.filename().unwrap_or_default().to_string();
            let spelled = format!("month={month:02}");
            if name != spelled && number_of(&name, "month=") == Some(month) {
                parquet_below(dest, &dir, &format!("a misspelled {spelled}"), found).await?;
            }
        }
        let month_dir = year_dir.join(format!("month={month:02}"));
        for dir in listing(dest, &month_dir).await?.dirs {
            let name = dir.filename().unwrap_or_default().to_string();
            let Some(day) = number_of(&name, "day=") else {
                continue;
            };
            let checked = days
                .iter()
                .any(|d| (d.year(), d.month(), d.day()) == (year, month, day));
            if !checked {
                continue;
            }
            let spelled = format!("day={day:02}");
            if name != spelled {
                parquet_below(dest, &dir, &format!("a misspelled {spelled}"), found).await?;
            }
        }
    }
    for &day in days {
        let folder = layout::partition_dir(&dest.prefix, account, region, day);
        for object in list_all(dest, &folder).await? {
            let relative = object
                .location
                .as_ref()
                .strip_prefix(folder.as_ref())
                .unwrap_or_default()
                .trim_start_matches('/');
            let why = if relative == crate::publish::LOCK_NAME
                || crate::publish::is_pending_name(relative)
            {
                // Hidden from readers: the lease of a run publishing the day now, or what a
                // killed one left (the next publication of the day removes it).
                continue;
            } else if relative == crate::publish::COMMIT_NAME {
                "a switch to new part files was interrupted: readers may see old and new parts \
                 together until the day is converted again, which completes it"
            } else if !known {
                "a day of an account and region the source has no trail for"
            } else if relative.contains('/') {
                "a file in a sub-folder of a day folder"
            } else if relative.starts_with('.') {
                "a hidden file in a day folder (DuckDB and Polars globs read it)"
            } else if !layout::is_part_file_name(relative) {
                "not a part file of this tool"
            } else {
                continue;
            };
            found.push(stray(dest, &object.location, why));
        }
        // object_store's listing hides the staging files of killed local puts; readers do not.
        if let Some(local) = dest.local_path(&folder) {
            for path in crate::debris::staging_files(&local).unwrap_or_default() {
                found.push(Stray {
                    path: path.display().to_string(),
                    reason: "the staging file of a killed write (the next conversion of the day removes it)".into(),
                });
            }
        }
    }
    Ok(())
}

/// `NAME=N` with any spelling of the number N (`day=5`, `day=005`).
fn number_of(name: &str, key: &str) -> Option<u32> {
    let digits = name.strip_prefix(key)?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Would a reader take this object for data? Parquet-named files are read by globs; anything
/// not hidden (`.`, `_`) by folder walkers.
fn reader_visible(object: &Path) -> bool {
    let name = object.filename().unwrap_or_default();
    name.ends_with(".parquet") || !(name.starts_with('.') || name.starts_with('_'))
}

fn stray(dest: &Location, object: &Path, reason: &str) -> Stray {
    Stray {
        path: dest.describe(object),
        reason: reason.to_string(),
    }
}

/// Every Parquet file below `dir` is a stray, for `reason`.
async fn parquet_below(
    dest: &Location,
    dir: &Path,
    reason: &str,
    found: &mut Vec<Stray>,
) -> Result<(), StrayError> {
    for object in list_all(dest, dir).await? {
        if object.location.as_ref().ends_with(".parquet") {
            found.push(stray(dest, &object.location, reason));
        }
    }
    Ok(())
}

struct Listing {
    dirs: Vec<Path>,
    objects: Vec<Path>,
}

async fn listing(dest: &Location, prefix: &Path) -> Result<Listing, StrayError> {
    match dest.store.list_with_delimiter(Some(prefix)).await {
        Ok(l) => Ok(Listing {
            dirs: l.common_prefixes,
            objects: l.objects.into_iter().map(|o| o.location).collect(),
        }),
        Err(object_store::Error::NotFound { .. }) => Ok(Listing {
            dirs: Vec::new(),
            objects: Vec::new(),
        }),
        Err(source) => Err(StrayError {
            what: dest.describe(prefix),
            source,
        }),
    }
}

/// Every object below `prefix` (none if it does not exist).
async fn list_all(
    dest: &Location,
    prefix: &Path,
) -> Result<Vec<object_store::ObjectMeta>, StrayError> {
    match dest.store.list(Some(prefix)).try_collect().await {
        Ok(objects) => Ok(objects),
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(source) => Err(StrayError {
            what: dest.describe(prefix),
            source,
        }),
    }
}
