//! Retention: remove whole day partitions older than a number of days.

use chrono::{Days, NaiveDate};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::Serialize;

use crate::layout;
use crate::store::Location;

/// One day partition that is (or would be) removed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExpiredDay {
    pub account: String,
    pub region: String,
    pub date: String,
    pub files: u64,
    pub bytes: u64,
}

/// What a retention run found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    /// Days before this date are expired.
    pub cutoff: String,
    pub applied: bool,
    pub expired: Vec<ExpiredDay>,
    pub files_removed: u64,
    pub bytes_removed: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct RetentionError {
    pub what: String,
    #[source]
    pub source: object_store::Error,
}

/// Find the day partitions under `dest` older than `keep_days` days before `today` (the day
/// `today - keep_days` is kept) and, when `apply`, remove their files. Only objects inside
/// `account=/region=/year=/month=/day=` folders are considered.
pub async fn expire(
    dest: &Location,
    keep_days: u32,
    today: NaiveDate,
    apply: bool,
) -> Result<RetentionReport, RetentionError> {
    let cutoff = today
        .checked_sub_days(Days::new(keep_days.into()))
        .unwrap_or(NaiveDate::MIN);
    let prefix = (!dest.prefix.as_ref().is_empty()).then_some(&dest.prefix);
    let objects: Vec<_> = dest
        .store
        .list(prefix)
        .try_collect()
        .await
        .map_err(|source| RetentionError {
            what: format!("listing {}", dest.display),
            source,
        })?;
    let mut days: std::collections::BTreeMap<(String, String, NaiveDate), (Vec<Path>, u64)> =
        Default::default();
    for object in objects {
        let relative = dest.relative(&object.location);
        let Some((account, region, day)) = layout::parse_partition(relative) else {
            continue;
        };
        if day < cutoff {
            let entry = days.entry((account, region, day)).or_default();
            entry.0.push(object.location);
            entry.1 += object.size;
        }
    }
    let mut report = RetentionReport {
        cutoff: layout::iso_date(cutoff),
        applied: apply,
        ..Default::default()
    };
    for ((account, region, day), (files, bytes)) in days {
        if apply {
            for file in &files {
                dest.store
                    .delete(file)
                    .await
                    .map_err(|source| RetentionError {
                        what: format!("removing {}", dest.describe(file)),
                        source,
                    })?;
            }
            report.files_removed += files.len() as u64;
            report.bytes_removed += bytes;
        }
        report.expired.push(ExpiredDay {
            account,
            region,
            date: layout::iso_date(day),
            files: files.len() as u64,
            bytes,
        });
    }
    Ok(report)
}
