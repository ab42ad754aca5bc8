//! Publication: a day's staged part files put under its partition so that readers see the old
//! day or the new day, never a mix, and never a day two runs wrote at once.
//!
//! - **One writer per day.** Publishing holds a lease, the object `_ctparquet.lock` in the day
//!   folder, created with a conditional put (S3's `If-None-Match: *`; an exclusive create on local
//!   disk). A run that finds the lease held waits a while, then reports the day as not written.
//!   A lease past its expiry, or held by a dead process of this machine, is taken over (S3:
//!   `If-Match` on the lease it read, so two runs cannot both take it).
//! - **A day of one file** (the default) is one put, atomic on every backend: a reader sees the
//!   old file or the new one.
//! - **A day of several files** (`--target-file-size`) is switched by a commit protocol. The new
//!   parts are uploaded under hidden names (`_part-00000.parquet.pending`: the leading `_` hides
//!   them from Athena, Spark and pyarrow, the suffix from `*.parquet` globs); a run that fails
//!   here (disk full, S3 errors) leaves the old day untouched and removes what it uploaded; one
//!   killed here leaves pending objects that the next publication of the day removes. Then the commit record `_ctparquet.commit`, naming the new parts, is
//!   written: the commit point. Then each pending part is renamed to its final name (a file
//!   rename locally, a copy and delete on S3), the old parts beyond the new ones are removed, and
//!   the commit record last. Only during this switch (a rename or copy per part) can a listing see
//!   some new parts beside old ones; a run killed in it leaves the commit record, and the next
//!   publication of the day completes the switch before anything else.
//!
//! Leftovers of killed runs (pending parts, staging files of local puts, a commit record) are
//! removed or completed by the next publication of the same day, under its lease.

use std::path::Path as FsPath;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::layout;
use crate::sink::{SinkError, StagedPart};
use crate::store::Location;

/// The day's lease object.
pub const LOCK_NAME: &str = "_ctparquet.lock";
/// The commit record of a several-file switch in progress.
pub const COMMIT_NAME: &str = "_ctparquet.commit";
/// How long a lease lasts unless released: far longer than a day's publication (an upload of
/// its Parquet), short enough that a killed run's day can be re-run the same hour.
pub const LOCK_LEASE: Duration = Duration::from_secs(15 * 60);
/// How long a run waits for a day another run is publishing, by default.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(120);

/// The hidden name a part is uploaded under before the switch.
pub fn pending_name(part: &str) -> String {
    format!("_{part}.pending")
}

/// Is this the hidden name of a part uploaded before a switch?
pub fn is_pending_name(name: &str) -> bool {
    name.strip_prefix('_')
        .and_then(|n| n.strip_suffix(".pending"))
        .is_some_and(layout::is_part_file_name)
}

/// What publishing a day did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub bytes: u64,
    /// Part files of an earlier run removed.
    pub removed: u64,
}

/// What became of a day given to [`publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publication {
    Published(Published),
    /// Not replaced: the destination holds more rows for the day (`existing`) than the new
    /// parts, and shrinking was not allowed.
    Kept {
        existing: u64,
    },
    /// Not written: another run holds the day's lease (described).
    Locked {
        holder: String,
    },
    /// Not written: the day's part files are no longer those the new ones were made from
    /// ([`PublishOptions::only_replacing`]); another run wrote the day meanwhile.
    Changed,
}

/// How a day is published.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Replace a day whose part files hold more rows than the new ones (see [`publish`]).
    pub allow_shrink: bool,
    /// How long to wait for a day whose lease another run holds.
    pub lock_wait: Duration,
    /// Publish only if the day's part files are still these (same names, sizes and ETags): for
    /// a day rewritten from its own files (`upgrade`), which must not replace what another run
    /// wrote after they were read. `None`: whatever is there is replaced.
    pub only_replacing: Option<Vec<ObjectMeta>>,
}

/// Put the staged parts of a day under `partition` and remove part files an earlier run left
/// there that this run did not write, holding the day's lease. Unless `allow_shrink`, a day whose
/// part files hold more rows than `parts` is left as it is: users expire the source JSON once
/// converted, and a re-run over an expired (or partly expired) folder must not replace their only
/// copy with less.
pub async fn publish(
    dest: &Location,
    partition: &Path,
    parts: &[StagedPart],
    opts: PublishOptions,
) -> Result<Publication, SinkError> {
    let lock = match DayLock::acquire(dest, partition, opts.lock_wait).await? {
        Ok(lock) => lock,
        Err(holder) => return Ok(Publication::Locked { holder }),
    };
    let result = publish_locked(dest, partition, parts, &opts).await;
    // Released whatever happened: a failed publication left the old day (or a commit record the
    // next run completes), and holding the day for the rest of the lease would only delay that.
    lock.release(dest).await;
    result
}

async fn publish_locked(
    dest: &Location,
    partition: &Path,
    parts: &[StagedPart],
    opts: &PublishOptions,
) -> Result<Publication, SinkError> {
    // A local put killed before its rename left `part-NNNNN.parquet#N` here: invisible to
    // object_store's listing, read (and failed on) by pyarrow.dataset and shell globs.
    if let Some(folder) = dest.local_path(partition) {
        for debris in crate::debris::staging_files(&folder)? {
            std::fs::remove_file(&debris)?;
            tracing::info!(file = %debris.display(), "removed the staging file of a killed write");
        }
    }
    let mut existing = list(dest, partition).await?;
    if existing.iter().any(|o| name_of(o) == COMMIT_NAME) {
        complete_switch(dest, partition).await?;
        existing = list(dest, partition).await?;
    }
    // Pending parts without a commit record: an upload that failed or was killed.
    for object in existing.iter().filter(|o| is_pending_name(name_of(o))) {
        delete(dest, &object.location, "removing the pending part").await?;
        tracing::info!(object = %dest.describe(&object.location), "removed a pending part of a failed run");
    }
    let existing: Vec<ObjectMeta> = existing
        .into_iter()
        .filter(|o| layout::is_part_file_name(name_of(o)))
        .collect();
    if let Some(expected) = &opts.only_replacing
        && !same_objects(expected, &existing)
    {
        return Ok(Publication::Changed);
    }
    if !opts.allow_shrink {
        let rows = rows_of_parts(dest, &existing).await;
        if rows > parts.iter().map(|p| p.rows).sum() {
            return Ok(Publication::Kept { existing: rows });
        }
    }
    let mut done = Published {
        bytes: parts.iter().map(|p| p.bytes).sum(),
        removed: 0,
    };
    let names: Vec<String> = (0..parts.len()).map(layout::part_file_name).collect();
    if parts.len() <= 1 {
        // One put: the switch itself.
        if let (Some(part), Some(name)) = (parts.first(), names.first()) {
            put_staged(dest, &partition.clone().join(name.as_str()), &part.path).await?;
        }
    } else {
        let mut uploaded = Vec::with_capacity(parts.len());
        for (part, name) in parts.iter().zip(&names) {
            let pending = partition.clone().join(pending_name(name));
            if let Err(e) = put_staged(dest, &pending, &part.path).await {
                // The old day is untouched; what this run wrote goes (or, if that fails too, the
                // next publication of the day removes it).
                for key in uploaded {
                    if let Err(e) = delete(dest, &key, "removing the pending part").await {
                        tracing::warn!(error = %e, "could not remove a pending part of a failed publication");
                    }
                }
                return Err(e);
            }
            uploaded.push(pending);
        }
        let record = serde_json::to_vec(&CommitRecord {
            parts: names.clone(),
        })
        .expect("a commit record serialises");
        let key = partition.clone().join(COMMIT_NAME);
        dest.store
            .put(&key, record.into())
            .await
            .map_err(store_err(dest, "writing", &key))?;
    }
    done.removed = switch(dest, partition, &names, parts.len() > 1, &existing).await?;
    Ok(Publication::Published(done))
}

/// Whether two listings name the same objects in the same versions.
fn same_objects(a: &[ObjectMeta], b: &[ObjectMeta]) -> bool {
    let key = |o: &ObjectMeta| (o.location.clone(), o.size, o.e_tag.clone());
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// The part files of a day (their names, sizes and versions), sorted by name: what
/// [`PublishOptions::only_replacing`] compares with.
pub async fn day_parts(dest: &Location, partition: &Path) -> Result<Vec<ObjectMeta>, SinkError> {
    let mut parts: Vec<ObjectMeta> = list(dest, partition)
        .await?
        .into_iter()
        .filter(|o| layout::is_part_file_name(name_of(o)))
        .collect();
    parts.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(parts)
}

/// The new parts of a several-file switch, by final name.
#[derive(Serialize, Deserialize)]
struct CommitRecord {
    parts: Vec<String>,
}

/// Finish the switch a killed run committed: its record names the new parts.
async fn complete_switch(dest: &Location, partition: &Path) -> Result<(), SinkError> {
    let key = partition.clone().join(COMMIT_NAME);
    let bytes = dest
        .store
        .get(&key)
        .await
        .map_err(store_err(dest, "reading", &key))?
        .bytes()
        .await
        .map_err(store_err(dest, "reading", &key))?;
    let Ok(record) = serde_json::from_slice::<CommitRecord>(&bytes) else {
        // Not ours to interpret: left for the user, and the day is not touched.
        return Err(SinkError::Store {
            what: format!("{} is not a commit record", dest.describe(&key)),
            source: object_store::Error::Generic {
                store: "ctparquet",
                source: "unreadable commit record".into(),
            },
        });
    };
    let existing: Vec<ObjectMeta> = list(dest, partition)
        .await?
        .into_iter()
        .filter(|o| layout::is_part_file_name(name_of(o)))
        .collect();
    tracing::info!(day = %dest.describe(partition), parts = record.parts.len(), "completing the switch of a killed run");
    switch(dest, partition, &record.parts, true, &existing).await?;
    Ok(())
}

/// Move the pending parts named `names` to their final names (when `pending`; those already
/// moved are skipped), remove the part files of `existing` that are not among them, then the
/// commit record. Returns the part files removed.
async fn switch(
    dest: &Location,
    partition: &Path,
    names: &[String],
    pending: bool,
    existing: &[ObjectMeta],
) -> Result<u64, SinkError> {
    for name in names.iter().filter(|_| pending) {
        let from = partition.clone().join(pending_name(name));
        let to = partition.clone().join(name.as_str());
        match dest.store.rename(&from, &to).await {
            // Moved by an earlier attempt of this switch.
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_err(dest, "renaming", &from)(e)),
        }
    }
    let mut removed = 0;
    for stale in existing {
        if !names.iter().any(|n| n == name_of(stale)) {
            delete(dest, &stale.location, "removing stale").await?;
            removed += 1;
        }
    }
    if pending {
        delete(dest, &partition.clone().join(COMMIT_NAME), "removing").await?;
    }
    Ok(removed)
}

/// The objects directly in a day folder (none when it does not exist).
async fn list(dest: &Location, partition: &Path) -> Result<Vec<ObjectMeta>, SinkError> {
    match dest.store.list_with_delimiter(Some(partition)).await {
        Ok(listing) => Ok(listing.objects),
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(store_err(dest, "listing", partition)(e)),
    }
}

async fn delete(dest: &Location, key: &Path, what: &str) -> Result<(), SinkError> {
    match dest.store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(store_err(dest, what, key)(e)),
    }
}

fn name_of(object: &ObjectMeta) -> &str {
    object.location.filename().unwrap_or_default()
}

fn store_err<'a>(
    dest: &'a Location,
    what: &'a str,
    key: &'a Path,
) -> impl FnOnce(object_store::Error) -> SinkError + 'a {
    move |source| SinkError::Store {
        what: format!("{what} {}", dest.describe(key)),
        source,
    }
}

/// Rows of the part files among `objects`, from their footers.
async fn rows_of_parts(dest: &Location, objects: &[ObjectMeta]) -> u64 {
    let mut rows = 0;
    for object in objects {
        // A part file that cannot be read holds nothing worth keeping over a fresh conversion.
        if let Ok(meta) =
            crate::inspect::read_footer(dest.store.as_ref(), &object.location, object.size).await
        {
            rows += meta.file_metadata().num_rows().max(0) as u64;
        }
    }
    rows
}

/// Who holds a day's lease, and until when.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    host: String,
    pid: u32,
    /// The process's start time (0: unknown), so that a reused pid is not taken for the holder.
    start: u64,
    /// Milliseconds since the Unix epoch.
    acquired_ms: u64,
    expires_ms: u64,
}

impl Holder {
    fn this_process() -> Holder {
        let (pid, start) = crate::debris::this_process();
        let now = now_ms();
        Holder {
            host: crate::debris::host_name(),
            pid,
            start,
            acquired_ms: now,
            expires_ms: now + LOCK_LEASE.as_millis() as u64,
        }
    }

    /// A lease its holder can no longer be using: expired, or of a dead process of this host.
    fn is_stale(&self) -> bool {
        self.expires_ms <= now_ms()
            || (!self.host.is_empty()
                && self.host == crate::debris::host_name()
                && !crate::debris::alive(self.pid, self.start))
    }

    fn describe(&self) -> String {
        let left = self.expires_ms.saturating_sub(now_ms()) / 1000;
        format!(
            "another run (pid {} on {}) is writing this day; its lease ends in {left} s unless released",
            self.pid,
            if self.host.is_empty() {
                "an unknown host"
            } else {
                &self.host
            }
        )
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A day's lease, held.
struct DayLock {
    key: Path,
}

impl DayLock {
    /// Take the lease of the day at `partition`, waiting up to `wait` for another holder;
    /// `Ok(Err(holder))` when it is still held then.
    async fn acquire(
        dest: &Location,
        partition: &Path,
        wait: Duration,
    ) -> Result<Result<DayLock, String>, SinkError> {
        let key = partition.clone().join(LOCK_NAME);
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let body = serde_json::to_vec(&Holder::this_process()).expect("a holder serialises");
            let create = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            let held = match dest.store.put_opts(&key, body.clone().into(), create).await {
                Ok(_) => return Ok(Ok(DayLock { key })),
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => {
                    match Self::take_over_if_stale(dest, &key, body).await? {
                        Takeover::Taken => return Ok(Ok(DayLock { key })),
                        Takeover::Gone => continue,
                        Takeover::Held(holder) => holder,
                    }
                }
                Err(object_store::Error::NotImplemented { .. }) => {
                    // A store without conditional writes (an S3-compatible server that ignores
                    // If-None-Match answers as AWS does): no guard against a second writer.
                    tracing::warn!(day = %dest.describe(partition), "the store cannot create objects conditionally: publishing without a lease");
                    return Ok(Ok(DayLock { key }));
                }
                Err(e) => return Err(store_err(dest, "taking the lease", &key)(e)),
            };
            if started.elapsed() >= wait {
                return Ok(Err(held));
            }
            tokio::time::sleep(pause.min(wait.saturating_sub(started.elapsed()))).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    async fn take_over_if_stale(
        dest: &Location,
        key: &Path,
        body: Vec<u8>,
    ) -> Result<Takeover, SinkError> {
        let got = match dest.store.get(key).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(Takeover::Gone),
            Err(e) => return Err(store_err(dest, "reading the lease", key)(e)),
        };
        let version = UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        let modified = got.meta.last_modified;
        let bytes = got
            .bytes()
            .await
            .map_err(store_err(dest, "reading the lease", key))?;
        let holder = serde_json::from_slice::<Holder>(&bytes).unwrap_or_else(|_| {
            // Unreadable: a lease from when it was written.
            let at = modified.timestamp_millis().max(0) as u64;
            Holder {
                host: String::new(),
                pid: 0,
                start: 0,
                acquired_ms: at,
                expires_ms: at + LOCK_LEASE.as_millis() as u64,
            }
        });
        if !holder.is_stale() {
            return Ok(Takeover::Held(holder.describe()));
        }
        tracing::warn!(lease = %dest.describe(key), pid = holder.pid, host = %holder.host, "taking over the stale lease of a run that is gone");
        let update = PutOptions {
            mode: PutMode::Update(version),
            ..Default::default()
        };
        match dest.store.put_opts(key, body.into(), update).await {
            Ok(_) => Ok(Takeover::Taken),
            // Another run took it first, or it was released: try again from the start.
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::NotFound { .. }) => Ok(Takeover::Gone),
            // Local disk has no compare-and-swap: the stale lease is removed and created anew
            // (the create is exclusive, so of two runs doing this only one gets it).
            Err(object_store::Error::NotImplemented { .. }) => {
                delete(dest, key, "removing the stale lease").await?;
                Ok(Takeover::Gone)
            }
            Err(e) => Err(store_err(dest, "taking over the lease", key)(e)),
        }
    }

    async fn release(self, dest: &Location) {
        if let Err(e) = dest.store.delete(&self.key).await {
            tracing::warn!(lease = %dest.describe(&self.key), error = %e, "could not release the day's lease; it expires on its own");
        }
    }
}

enum Takeover {
    Taken,
    /// Released or taken by another meanwhile: try to create it again.
    Gone,
    Held(String),
}

/// Multipart upload part size, at least: S3 takes at most 10,000 parts, so a file of more than
/// ~80 GB gets larger parts (see [`part_size`]).
const UPLOAD_CHUNK: usize = 8 * 1024 * 1024;
/// Parts per upload at most, with margin under S3's 10,000.
const MAX_PARTS: u64 = 9_000;

/// The part size of a multipart upload of `len` bytes.
fn part_size(len: u64) -> usize {
    let needed = len.div_ceil(MAX_PARTS);
    usize::try_from(needed)
        .unwrap_or(usize::MAX)
        .max(UPLOAD_CHUNK)
}

/// Put a staged part (a file of this run's, not needed afterwards) at `key`. A local destination
/// on the staging folder's file system takes the file itself by a rename: atomic like the
/// object store's local put (which copies the file beside the key and renames the copy), without
/// writing every byte of the day a second time.
async fn put_staged(dest: &Location, key: &Path, file: &FsPath) -> Result<(), SinkError> {
    if let Some(target) = dest.local_path(key) {
        let (file, moved) = (file.to_path_buf(), target.clone());
        let renamed = tokio::task::spawn_blocking(move || {
            if let Some(parent) = moved.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(&file, &moved)
        })
        .await
        .map_err(std::io::Error::other)?;
        match renamed {
            Ok(()) => return Ok(()),
            // Another file system (or anything else a rename refuses): copied, as any store.
            Err(e) => {
                tracing::debug!(target = %target.display(), error = %e, "staged part not renamed: copied")
            }
        }
    }
    upload(dest, key, file).await
}

pub(crate) async fn upload(dest: &Location, key: &Path, file: &FsPath) -> Result<(), SinkError> {
    let store_err = |source| store_err(dest, "writing", key)(source);
    let mut reader = tokio::fs::File::open(file).await?;
    let len = reader.metadata().await?.len();
    if len as usize <= UPLOAD_CHUNK {
        // One PUT: atomic on every backend.
        let mut buf = Vec::with_capacity(len as usize);
        reader.read_to_end(&mut buf).await?;
        dest.store.put(key, buf.into()).await.map_err(store_err)?;
        return Ok(());
    }
    // Multipart: the object appears only when the upload completes; on failure the upload is
    // aborted so no parts are left behind (and billed).
    let mut upload = dest.store.put_multipart(key).await.map_err(store_err)?;
    let chunk = part_size(len);
    let result: Result<(), SinkError> = async {
        loop {
            let mut buf = Vec::with_capacity(chunk);
            (&mut reader)
                .take(chunk as u64)
                .read_to_end(&mut buf)
                .await?;
            if buf.is_empty() {
                break;
            }
            upload.put_part(buf.into()).await.map_err(store_err)?;
        }
        upload.complete().await.map_err(store_err)?;
        Ok(())
    }
    .await;
    if result.is_err()
        && let Err(e) = upload.abort().await
    {
        tracing::warn!(key = %dest.describe(key), error = %e, "could not abort a failed multipart upload");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_stay_under_the_s3_limit() {
        assert_eq!(part_size(1), UPLOAD_CHUNK);
        assert_eq!(part_size(50 * 1024 * 1024 * 1024), UPLOAD_CHUNK);
        let huge = 200 * 1024 * 1024 * 1024_u64;
        assert!(huge.div_ceil(part_size(huge) as u64) <= MAX_PARTS);
    }

    #[test]
    fn pending_names_are_hidden_and_told_apart() {
        let name = pending_name("part-00003.parquet");
        assert_eq!(name, "_part-00003.parquet.pending");
        assert!(is_pending_name(&name));
        assert!(!layout::is_part_file_name(&name));
        assert!(!is_pending_name("part-00003.parquet"));
        assert!(!is_pending_name("_notes.pending"));
    }
}
