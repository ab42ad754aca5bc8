//! A unit's conversion saved at its deadline, to be resumed by the next run of the same unit:
//! how a day larger than one Lambda invocation converts still finishes.
//!
//! At the deadline, every open day's rows are spilled as sorted runs (as past the memory
//! budget), the runs not saved before are uploaded under the destination's
//! `_ctparquet/resume/TABLE/ACCOUNT/REGION/LAST-DAY/`, and a manifest is written last: the days still
//! open with their runs, the source files read so far in order (a file's place is its sequence
//! number, which breaks ties in the merge) and where the run stopped. A run of the same trail
//! from that day to the same last day restores the runs, skips the files already read, numbers
//! the rest as one run would have, and finishes the days: the merge does not depend on where
//! rows were spilled, so the day's Parquet is byte-for-byte a single run's. Once the trail is
//! done the manifest and its runs are deleted.
//!
//! A reader of the lake never sees any of it: `_ctparquet/` is outside every partition, and
//! holds no Parquet. A run killed between the manifest and the upload of runs it names cannot
//! happen (the runs go first); runs uploaded by a run killed before its manifest are left (under
//! `_ctparquet/resume/`, named by the process that wrote them) until `retention` removes them
//! with the other states that will not be resumed (see `crate::retention::AbandonedState`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use chrono::NaiveDate;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::ConvertError;
use super::open_day::OpenDay;
use crate::day::SpilledRun;
use crate::scope::Scope;
use crate::source::Trail;
use crate::store::Location;

/// The folder of saved conversions under a destination.
pub const AREA: &str = "_ctparquet/resume";

const MANIFEST: &str = "manifest.json";
const VERSION: u32 = 1;

/// What a stopped conversion of one trail left to do.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    table: String,
    account: String,
    region: String,
    /// The first day still open: where the run resumes.
    from: NaiveDate,
    /// The run's last day; a resuming run must end there too.
    to: NaiveDate,
    lateness_days: u32,
    /// Source keys read, in order: a file's place is its sequence number.
    files_read: Vec<String>,
    days: Vec<SavedDay>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedDay {
    date: NaiveDate,
    /// Events routed to it (duplicates included).
    events: u64,
    /// Rows in its runs, and the bytes they took in memory.
    rows: usize,
    pushed_bytes: usize,
    /// Why a bad file failed it, if one did.
    failed: Option<String>,
    runs: Vec<SavedRun>,
}

/// A run's two files, as keys relative to the destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedRun {
    rows: String,
    keys: String,
}

impl SavedRun {
    fn objects(&self) -> [String; 2] {
        [self.rows.clone(), self.keys.clone()]
    }
}

/// A conversion of one trail restored from its manifest.
pub(super) struct Restored {
    pub days: BTreeMap<NaiveDate, OpenDay>,
    pub files_read: Vec<Path>,
}

/// What a trail's run knows of its saved state: the manifest found when it started (to be
/// deleted when it is done), and the runs already saved (not uploaded again).
#[derive(Default)]
pub(super) struct Saved {
    manifest: Option<Manifest>,
    uploaded: HashMap<PathBuf, SavedRun>,
}

/// Where the state of a run of `trail` ending on `scope`'s last day is kept: units of one trail
/// end on different days, so two of them running at once keep theirs apart.
fn folder(dest: &Location, scope: &Scope, trail: &Trail) -> Path {
    dest.key(AREA)
        .join(scope.table.name)
        .join(trail.account.as_str())
        .join(trail.region.as_str())
        .join(crate::layout::iso_date(scope.to()))
}

fn failed(what: &str, error: impl std::fmt::Display) -> ConvertError {
    ConvertError::Checkpoint(format!("{what}: {error}"))
}

/// The saved state of `trail` up to `scope`'s last day in `dest`, restored into `work` when it
/// is the state of this run (same table, first day and lateness); a state of another run is
/// kept to be deleted when this one is done.
pub(super) async fn load(
    dest: &Location,
    scope: &Scope,
    trail: &Trail,
    work: &std::path::Path,
) -> Result<(Saved, Option<Restored>), ConvertError> {
    let path = folder(dest, scope, trail).join(MANIFEST);
    let bytes = match dest.store.get(&path).await {
        Ok(found) => found
            .bytes()
            .await
            .map_err(|e| failed(&dest.describe(&path), e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok((Saved::default(), None)),
        Err(e) => return Err(failed(&dest.describe(&path), e)),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        failed(
            &format!("{} is not a saved conversion", dest.describe(&path)),
            e,
        )
    })?;
    let ours = manifest.version == VERSION
        && manifest.table == scope.table.name
        && (manifest.account.as_str(), manifest.region.as_str())
            == (trail.account.as_str(), trail.region.as_str())
        && manifest.from == scope.from()
        && manifest.to == scope.to()
        && manifest.lateness_days == scope.lateness_days;
    if !ours {
        tracing::info!(manifest = %dest.describe(&path), "a saved conversion of other days: converting from the start");
        let saved = Saved {
            manifest: Some(manifest),
            uploaded: HashMap::new(),
        };
        return Ok((saved, None));
    }
    let mut restored = Restored {
        days: BTreeMap::new(),
        files_read: manifest
            .files_read
            .iter()
            .map(|k| Path::from(k.as_str()))
            .collect(),
    };
    let mut uploaded = HashMap::new();
    for saved in &manifest.days {
        let mut day = OpenDay::new(scope.table);
        let mut runs = Vec::with_capacity(saved.runs.len());
        for run in &saved.runs {
            let rows = download(dest, &dest.key(&run.rows), work).await?;
            let keys = download(dest, &dest.key(&run.keys), work).await?;
            let local = rows.path().to_path_buf();
            runs.push(
                SpilledRun::restored(scope.table, rows, keys)
                    .map_err(|e| failed(&dest.describe(&dest.key(&run.rows)), e))?,
            );
            uploaded.insert(local, run.clone());
        }
        day.buffer.restore(runs, saved.rows, saved.pushed_bytes);
        day.events = saved.events;
        day.failed = saved.failed.clone();
        restored.days.insert(saved.date, day);
    }
    tracing::info!(from = %manifest.from, days = manifest.days.len(), files = manifest.files_read.len(), "resuming a saved conversion");
    let saved = Saved {
        manifest: Some(manifest),
        uploaded,
    };
    Ok((saved, Some(restored)))
}

/// An object of `dest` into a new file of `work`.
async fn download(
    dest: &Location,
    key: &Path,
    work: &std::path::Path,
) -> Result<tempfile::NamedTempFile, ConvertError> {
    let what = dest.describe(key);
    let file = tempfile::Builder::new()
        .prefix("ctparquet-run-")
        .suffix(".arrow")
        .tempfile_in(work)?;
    let mut out = tokio::fs::File::from_std(file.reopen()?);
    let mut body = dest
        .store
        .get(key)
        .await
        .map_err(|e| failed(&what, e))?
        .into_stream();
    while let Some(chunk) = body.next().await {
        out.write_all(&chunk.map_err(|e| failed(&what, e))?).await?;
    }
    out.flush().await?;
    Ok(file)
}

/// Save the open `days` of `trail` (every row already in runs: see `Conversion::stop`) and
/// the files read so far, so that a run from the first of them resumes here.
pub(super) async fn save(
    dest: &Location,
    scope: &Scope,
    trail: &Trail,
    saved: &mut Saved,
    days: &BTreeMap<NaiveDate, OpenDay>,
    files_read: &[Path],
) -> Result<(), ConvertError> {
    let Some(&from) = days.keys().next() else {
        return Ok(());
    };
    let folder = folder(dest, scope, trail);
    // Runs of this process are told apart from those of earlier runs of the unit.
    let writer = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let mut manifest = Manifest {
        version: VERSION,
        table: scope.table.name.to_string(),
        account: trail.account.clone(),
        region: trail.region.clone(),
        from,
        to: scope.to(),
        lateness_days: scope.lateness_days,
        files_read: files_read.iter().map(|p| p.to_string()).collect(),
        days: Vec::new(),
    };
    let mut n = 0;
    for (date, day) in days {
        if day.events == 0 && day.failed.is_none() {
            continue;
        }
        let mut runs = Vec::new();
        for run in day.buffer.runs() {
            let (rows, keys) = run.files();
            if let Some(known) = saved.uploaded.get(rows) {
                runs.push(known.clone());
                continue;
            }
            n += 1;
            let name = |what: &str| folder.clone().join(format!("{writer}-{n}.{what}.arrow"));
            let (rows_key, keys_key) = (name("rows"), name("keys"));
            for (key, file) in [(&rows_key, rows), (&keys_key, keys)] {
                crate::publish::upload(dest, key, file)
                    .await
                    .map_err(|e| failed("saving a run", e))?;
            }
            let run = SavedRun {
                rows: dest.relative(&rows_key).to_string(),
                keys: dest.relative(&keys_key).to_string(),
            };
            saved.uploaded.insert(rows.to_path_buf(), run.clone());
            runs.push(run);
        }
        manifest.days.push(SavedDay {
            date: *date,
            events: day.events,
            rows: day.buffer.rows(),
            pushed_bytes: day.buffer.pushed_bytes(),
            failed: day.failed.clone(),
            runs,
        });
    }
    let path = folder.join(MANIFEST);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| failed("the manifest", e))?;
    dest.put(&path, json)
        .await
        .map_err(|e| failed(&dest.describe(&path), e))?;
    tracing::info!(%from, days = manifest.days.len(), files = files_read.len(), "saved the conversion to resume it");
    // The manifest found at the start is replaced: the runs it named for days finished since
    // are no longer needed.
    let kept = run_keys(&manifest);
    if let Some(old) = saved.manifest.replace(manifest) {
        let gone: Vec<String> = run_keys(&old).difference(&kept).cloned().collect();
        delete(dest, gone.iter().map(|k| dest.key(k))).await?;
    }
    Ok(())
}

/// The keys (relative to the destination) of the runs a manifest names.
fn run_keys(manifest: &Manifest) -> HashSet<String> {
    manifest
        .days
        .iter()
        .flat_map(|d| &d.runs)
        .flat_map(SavedRun::objects)
        .collect()
}

async fn delete(dest: &Location, keys: impl Iterator<Item = Path>) -> Result<(), ConvertError> {
    for key in keys {
        match dest.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(failed(&dest.describe(&key), e)),
        }
    }
    Ok(())
}

/// Delete the saved state found or written for `trail` (its manifest first, then its runs),
/// once its days are done.
pub(super) async fn clear(
    dest: &Location,
    scope: &Scope,
    trail: &Trail,
    saved: Saved,
) -> Result<(), ConvertError> {
    let Some(manifest) = saved.manifest else {
        return Ok(());
    };
    let path = folder(dest, scope, trail).join(MANIFEST);
    let mut runs = run_keys(&manifest);
    runs.extend(saved.uploaded.values().flat_map(SavedRun::objects));
    delete(dest, std::iter::once(path)).await?;
    delete(dest, runs.iter().map(|k| dest.key(k))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_area_is_outside_every_partition_and_hidden() {
        // Hive-style readers skip names starting with `_`; no partition is named so.
        assert!(AREA.starts_with('_'));
        assert!(!AREA.contains('='));
    }
}
