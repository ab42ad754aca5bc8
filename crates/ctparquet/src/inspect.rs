//! What a destination holds: partitions, rows, files, row groups and sizes, read from the
//! Parquet footers only.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};
use serde::Serialize;

use crate::layout;
use crate::scope::Scope;
use crate::store::Location;

/// One partition of the destination.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PartitionInfo {
    pub account: String,
    pub region: String,
    pub date: String,
    pub files: u64,
    pub rows: u64,
    pub row_groups: u64,
    pub bytes: u64,
}

/// The whole destination.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    pub partitions: Vec<PartitionInfo>,
    pub files: u64,
    pub rows: u64,
    pub row_groups: u64,
    pub bytes: u64,
    /// `.parquet` files outside any `account=/region=/year=/month=/day=` folder.
    pub stray_files: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct InspectError {
    pub file: String,
    pub reason: String,
}

/// The accounts with an `account=` folder directly under `dest` (one delimiter listing), sorted:
/// what an Athena account enum lists.
pub async fn accounts(dest: &Location) -> Result<Vec<String>, InspectError> {
    let listing = dest
        .store
        .list_with_delimiter(Some(&dest.prefix))
        .await
        .map_err(|e| InspectError {
            file: dest.display.clone(),
            reason: e.to_string(),
        })?;
    let mut found: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename()?.strip_prefix("account="))
        .filter(|a| layout::is_account_id(a))
        .map(str::to_string)
        .collect();
    found.sort();
    Ok(found)
}

/// Read the footers of every Parquet file under `dest`.
pub async fn inspect(dest: &Location) -> Result<Inventory, InspectError> {
    let prefix = (!dest.prefix.as_ref().is_empty()).then_some(&dest.prefix);
    let objects: Vec<_> =
        dest.store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| InspectError {
                file: dest.display.clone(),
                reason: e.to_string(),
            })?;
    let mut partitions: BTreeMap<(String, String, String), PartitionInfo> = BTreeMap::new();
    let mut inventory = Inventory::default();
    for object in objects {
        if !object.location.as_ref().ends_with(".parquet") {
            continue;
        }
        let relative = dest.relative(&object.location).to_string();
        let Some((account, region, day)) = layout::parse_partition(&relative) else {
            inventory.stray_files.push(relative);
            continue;
        };
        let meta = read_footer(dest.store.as_ref(), &object.location, object.size)
            .await
            .map_err(|reason| InspectError {
                file: dest.describe(&object.location),
                reason,
            })?;
        let date = layout::iso_date(day);
        let entry = partitions
            .entry((account.clone(), region.clone(), date.clone()))
            .or_insert_with(|| PartitionInfo {
                account,
                region,
                date,
                ..Default::default()
            });
        let rows = meta.file_metadata().num_rows() as u64;
        let groups = meta.num_row_groups() as u64;
        entry.files += 1;
        entry.rows += rows;
        entry.row_groups += groups;
        entry.bytes += object.size;
        inventory.files += 1;
        inventory.rows += rows;
        inventory.row_groups += groups;
        inventory.bytes += object.size;
    }
    inventory.partitions = partitions.into_values().collect();
    Ok(inventory)
}

/// The metadata of a Parquet file, fetched with two ranged reads (tail, then footer).
pub async fn read_footer(
    store: &dyn ObjectStore,
    key: &Path,
    size: u64,
) -> Result<ParquetMetaData, String> {
    if size < 12 {
        return Err(format!("{size} bytes is too small for a Parquet file"));
    }
    let tail = store
        .get_range(key, size - 8..size)
        .await
        .map_err(|e| e.to_string())?;
    let tail: [u8; 8] = tail
        .as_ref()
        .try_into()
        .map_err(|_| "short read".to_string())?;
    let footer = FooterTail::try_new(&tail).map_err(|e| e.to_string())?;
    let len = footer.metadata_length() as u64;
    if len + 8 > size {
        return Err("footer length exceeds the file".into());
    }
    let bytes = store
        .get_range(key, size - 8 - len..size - 8)
        .await
        .map_err(|e| e.to_string())?;
    ParquetMetaDataReader::decode_metadata(&bytes).map_err(|e| e.to_string())
}

/// The (account, region, day) partitions of `dest` within `scope` (its days, accounts and
/// regions), sorted, found by delimiter listing level by level: years and months outside the
/// scope's days are not listed.
pub async fn days(
    dest: &Location,
    scope: &Scope,
) -> Result<Vec<(String, String, NaiveDate)>, InspectError> {
    let wanted = |list: &Option<Vec<String>>, name: &str| {
        list.as_ref().is_none_or(|l| l.iter().any(|x| x == name))
    };
    let (from, to) = (scope.from(), scope.to());
    let mut found = Vec::new();
    for (account, account_dir) in children(dest, &dest.prefix, "account=").await? {
        if !layout::is_account_id(&account) || !wanted(&scope.accounts, &account) {
            continue;
        }
        for (region, region_dir) in children(dest, &account_dir, "region=").await? {
            if !layout::is_region(&region) || !wanted(&scope.regions, &region) {
                continue;
            }
            for (year, year_dir) in children(dest, &region_dir, "year=").await? {
                let Ok(year) = year.parse::<i32>() else {
                    continue;
                };
                if year < from.year() || year > to.year() {
                    continue;
                }
                for (month, month_dir) in children(dest, &year_dir, "month=").await? {
                    let Ok(month) = month.parse::<u32>() else {
                        continue;
                    };
                    for (day, _) in children(dest, &month_dir, "day=").await? {
                        let date = day
                            .parse::<u32>()
                            .ok()
                            .and_then(|d| NaiveDate::from_ymd_opt(year, month, d));
                        if let Some(date) = date.filter(|d| scope.contains(*d)) {
                            found.push((account.clone(), region.clone(), date));
                        }
                    }
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The folders `KEY=VALUE` directly under `parent`: (VALUE, folder).
async fn children(
    dest: &Location,
    parent: &Path,
    key: &str,
) -> Result<Vec<(String, Path)>, InspectError> {
    let prefix = (!parent.as_ref().is_empty()).then_some(parent);
    let listing = dest
        .store
        .list_with_delimiter(prefix)
        .await
        .map_err(|e| InspectError {
            file: dest.describe(parent),
            reason: e.to_string(),
        })?;
    Ok(listing
        .common_prefixes
        .into_iter()
        .filter_map(|p| {
            let value = p.filename()?.strip_prefix(key)?.to_string();
            Some((value, p))
        })
        .collect())
}
