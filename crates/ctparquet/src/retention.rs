//! Retention: remove whole day partitions older than a number of days, and the saved states of
//! conversions that will not be resumed.

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

/// The saved state of a stopped conversion (see `convert::checkpoint`) that is (or would be)
/// removed: its days are expired, or nothing has touched it for [`ABANDONED_AFTER_DAYS`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AbandonedState {
    /// The state's folder, as the user names it.
    pub path: String,
    pub reason: String,
    pub files: u64,
    pub bytes: u64,
}

/// A saved conversion untouched for this long is not resumed: the unit that would resume it
/// came from a queue, and SQS keeps a message 14 days at most (a unit that ended in the
/// dead-letter queue and is sent again later converts from its first day, without the state).
pub const ABANDONED_AFTER_DAYS: u64 = 14;

/// What a retention run found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    /// Days before this date are expired.
    pub cutoff: String,
    pub applied: bool,
    pub expired: Vec<ExpiredDay>,
    /// Saved conversions of expired days or abandoned (their runs can be gigabytes).
    pub abandoned_states: Vec<AbandonedState>,
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
/// `today - keep_days` is kept) and the saved conversions that will not be resumed (see
/// [`AbandonedState`]) and, when `apply`, remove their files. Only objects inside
/// `account=/region=/year=/month=/day=` folders and saved conversions are considered.
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
    let mut states: std::collections::BTreeMap<String, SavedState> = Default::default();
    for object in objects {
        let relative = dest.relative(&object.location);
        if let Some(folder) = saved_state_folder(relative) {
            let state = states.entry(folder.to_string()).or_default();
            state.newest = state.newest.max(Some(object.last_modified));
            state.bytes += object.size;
            state.files.push(object.location);
            continue;
        }
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
            remove(dest, &files, bytes, &mut report).await?;
        }
        report.expired.push(ExpiredDay {
            account,
            region,
            date: layout::iso_date(day),
            files: files.len() as u64,
            bytes,
        });
    }
    let abandoned_before = today
        .checked_sub_days(Days::new(ABANDONED_AFTER_DAYS))
        .unwrap_or(NaiveDate::MIN)
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    for (folder, state) in states {
        // The folder is named after the last day of its unit.
        let last_day = folder
            .rsplit('/')
            .next()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let reason = if last_day.is_some_and(|d| d < cutoff) {
            "its days are expired".to_string()
        } else if state.newest.is_some_and(|t| t < abandoned_before) {
            format!("untouched for more than {ABANDONED_AFTER_DAYS} days")
        } else {
            continue;
        };
        if apply {
            remove(dest, &state.files, state.bytes, &mut report).await?;
        }
        report.abandoned_states.push(AbandonedState {
            path: dest.describe(&dest.key(&folder)),
            reason,
            files: state.files.len() as u64,
            bytes: state.bytes,
        });
    }
    Ok(report)
}

/// Delete `files` (`bytes` in all) and count them in `report`.
async fn remove(
    dest: &Location,
    files: &[Path],
    bytes: u64,
    report: &mut RetentionReport,
) -> Result<(), RetentionError> {
    for file in files {
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
    Ok(())
}

/// The objects of one saved conversion.
#[derive(Default)]
struct SavedState {
    files: Vec<Path>,
    bytes: u64,
    newest: Option<chrono::DateTime<chrono::Utc>>,
}

/// The folder of the saved conversion an object (relative to DEST) belongs to:
/// `_ctparquet/resume/TABLE/ACCOUNT/REGION/LAST-DAY`.
fn saved_state_folder(relative: &str) -> Option<&str> {
    let rest = relative
        .strip_prefix(crate::convert::RESUME_AREA)?
        .strip_prefix('/')?;
    // TABLE, ACCOUNT, REGION, LAST-DAY, then the object's name within the state.
    let name = rest.splitn(5, '/').nth(4)?;
    Some(&relative[..relative.len() - name.len() - 1])
}
