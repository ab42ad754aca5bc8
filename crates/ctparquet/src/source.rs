//! Finding and reading delivery files. Everything is found by delimiter listing, level by level
//! (`AWSLogs/`, organization, account, `CloudTrail/`, region, date folder): never a scan of the
//! whole bucket, and never outside the source prefix.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};

use crate::layout;
use crate::store::Location;

/// One account and region, with every `.../CloudTrail/REGION` folder that holds its logs (an
/// account can be logged by an organization trail and by its own trail side by side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trail {
    pub account: String,
    pub region: String,
    pub region_roots: Vec<Path>,
}

/// A listing failure, naming what was being listed or read.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct SourceError {
    pub what: String,
    #[source]
    pub source: object_store::Error,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The table's trails, sorted by account, then region.
    pub trails: Vec<Trail>,
    /// Folders under the accounts that are not the table's (`ACCOUNT/CloudTrail-Digest`, ...),
    /// and folders under `AWSLogs/` or a trail that are not an account or region.
    pub skipped_folders: Vec<String>,
    /// Every account and region seen, before the allow-lists (to say what an allow-list
    /// entry that matches nothing could have been).
    pub accounts_found: BTreeSet<String>,
    pub regions_found: BTreeSet<String>,
}

impl Discovery {
    /// Warnings for allow-list entries that match nothing found.
    pub fn unmatched(
        &self,
        accounts: Option<&[String]>,
        regions: Option<&[String]>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (flag, allowed, found) in [
            ("--accounts", accounts, &self.accounts_found),
            ("--regions", regions, &self.regions_found),
        ] {
            for entry in allowed.unwrap_or_default() {
                if !found.contains(entry) {
                    out.push(format!(
                        "{flag} {entry} matches nothing in the source (found: {})",
                        list_or_none(found)
                    ));
                }
            }
        }
        out
    }
}

fn list_or_none(items: &BTreeSet<String>) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Why a source yielded no trail, with the likely fix: SOURCE given one level too deep (the
/// `AWSLogs` folder itself, an account or a trail folder), no `AWSLogs/` at all, or allow-lists
/// that exclude everything found.
pub async fn explain_no_trail(
    source: &Location,
    found: &Discovery,
    folders: &[&str],
) -> Result<String, SourceError> {
    let shown = source.display.trim_end_matches('/');
    if !found.accounts_found.is_empty() {
        return Ok(format!(
            "no {} trail under {shown}/AWSLogs matches the accounts and regions asked for (accounts found: {}; regions found: {})",
            folders.join(" or "),
            list_or_none(&found.accounts_found),
            list_or_none(&found.regions_found)
        ));
    }
    let top = list_dirs(source, &source.prefix).await?;
    let parent = shown.rsplit_once('/').map_or(".", |(p, _)| p);
    let inside = if top
        .iter()
        .any(|d| layout::is_account_id(d) || layout::is_org_id(d))
    {
        Some("the AWSLogs folder itself")
    } else if top.iter().any(|d| folders.contains(&d.as_str())) {
        Some("an account folder inside AWSLogs/")
    } else if top.iter().any(|d| layout::is_region(d)) {
        Some("a CloudTrail folder inside AWSLogs/")
    } else {
        None
    };
    Ok(match inside {
        Some(what) => format!(
            "SOURCE {shown} looks like {what}: give the folder that holds AWSLogs/ (for `{shown}` that is `{parent}` or above), and choose accounts and regions with --accounts and --regions"
        ),
        None if found.skipped_folders.is_empty() && top.is_empty() => format!(
            "SOURCE {shown} is empty or does not exist: give the folder (or s3://BUCKET/PREFIX) that holds AWSLogs/"
        ),
        None => format!(
            "no AWSLogs/ folder with an account in it under {shown}: give the folder (or s3://BUCKET/PREFIX) that holds AWSLogs/ (found: {})",
            if top.is_empty() {
                "nothing".to_string()
            } else {
                top.join(", ")
            }
        ),
    })
}

/// What a date folder holds.
#[derive(Debug, Default)]
pub struct FolderListing {
    /// Log files, sorted by key.
    pub files: Vec<ObjectMeta>,
    /// Other objects (not `.json`/`.json.gz`), skipped.
    pub ignored: Vec<Path>,
    /// Local entries named like log files that are not regular files (FIFOs, sockets, devices,
    /// links to nothing): skipped without being opened (a FIFO would block the run forever).
    pub not_regular: Vec<String>,
}

async fn list_dirs(source: &Location, prefix: &Path) -> Result<Vec<String>, SourceError> {
    match source.store.list_with_delimiter(Some(prefix)).await {
        Ok(listing) => Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect()),
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(source_err) => Err(SourceError {
            what: format!("listing {}", source.describe(prefix)),
            source: source_err,
        }),
    }
}

/// Find the trails under `SOURCE/AWSLogs/` (the `folders` under each account, e.g.
/// `CloudTrail`), with or without organization levels, keeping only
/// the allowed accounts and regions (`None` allows all). Sorted by account, then region.
pub async fn discover(
    source: &Location,
    folders: &[&str],
    accounts: Option<&[String]>,
    regions: Option<&[String]>,
) -> Result<Discovery, SourceError> {
    let aws_logs = source.prefix.clone().join("AWSLogs");
    let mut account_roots: Vec<(String, Path)> = Vec::new();
    let mut found = Discovery::default();
    let mut skipped_folders = Vec::new();
    let mut skip = |path: Path| skipped_folders.push(source.relative(&path).to_string());
    for name in list_dirs(source, &aws_logs).await? {
        if layout::is_account_id(&name) {
            account_roots.push((name.clone(), aws_logs.clone().join(name)));
        } else if layout::is_org_id(&name) {
            let org = aws_logs.clone().join(name);
            for account in list_dirs(source, &org).await? {
                if layout::is_account_id(&account) {
                    account_roots.push((account.clone(), org.clone().join(account)));
                } else {
                    skip(org.clone().join(account.as_str()));
                }
            }
        } else {
            skip(aws_logs.clone().join(name.as_str()));
        }
    }
    let mut trails: BTreeMap<(String, String), Vec<Path>> = BTreeMap::new();
    for (account, root) in account_roots {
        found.accounts_found.insert(account.clone());
        if accounts.is_some_and(|allowed| !allowed.contains(&account)) {
            continue;
        }
        for folder in list_dirs(source, &root).await? {
            if !folders.contains(&folder.as_str()) {
                // Digests, other tables, Config snapshots...: never read as this table's records.
                skip(root.clone().join(folder.as_str()));
                continue;
            }
            let events = root.clone().join(folder.as_str());
            for region in list_dirs(source, &events).await? {
                if !layout::is_region(&region) {
                    skip(events.clone().join(region.as_str()));
                    continue;
                }
                found.regions_found.insert(region.clone());
                if regions.is_some_and(|allowed| !allowed.contains(&region)) {
                    continue;
                }
                trails
                    .entry((account.clone(), region.clone()))
                    .or_default()
                    .push(events.clone().join(region));
            }
        }
    }
    skipped_folders.sort();
    let trails = trails
        .into_iter()
        .map(|((account, region), mut region_roots)| {
            region_roots.sort();
            Trail {
                account,
                region,
                region_roots,
            }
        })
        .collect();
    found.trails = trails;
    found.skipped_folders = skipped_folders;
    Ok(found)
}

/// Ranges longer than this many date folders find their folders by listing years and months
/// ([`date_folders`]) instead of probing each date: a sparse year of a quiet region is a few
/// listings, not 365 (on S3 each is a LIST request).
pub const PROBE_DAYS_AT_MOST: u64 = 8;

/// The dates in `from ..= to` that have a date folder under any of a trail's region roots,
/// found level by level with delimiter listings: one per region root, one per year in the range
/// that exists, one per month in the range that exists.
pub async fn date_folders(
    source: &Location,
    trail: &Trail,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeSet<NaiveDate>, SourceError> {
    use chrono::Datelike;
    let mut found = BTreeSet::new();
    let number = |name: &str, digits: usize| {
        (name.len() == digits && name.bytes().all(|b| b.is_ascii_digit()))
            .then(|| name.parse::<u32>().ok())
            .flatten()
    };
    for root in &trail.region_roots {
        for year_name in list_dirs(source, root).await? {
            let Some(year) = number(&year_name, 4).and_then(|y| i32::try_from(y).ok()) else {
                continue;
            };
            if year < from.year() || year > to.year() {
                continue;
            }
            let year_dir = root.clone().join(year_name.as_str());
            for month_name in list_dirs(source, &year_dir).await? {
                let Some(month) = number(&month_name, 2) else {
                    continue;
                };
                let first = NaiveDate::from_ymd_opt(year, month, 1);
                let last = first.and_then(|f| {
                    f.checked_add_months(chrono::Months::new(1))
                        .and_then(|n| n.pred_opt())
                });
                let (Some(first), Some(last)) = (first, last) else {
                    continue;
                };
                if last < from || first > to {
                    continue;
                }
                let month_dir = year_dir.clone().join(month_name.as_str());
                for day_name in list_dirs(source, &month_dir).await? {
                    if let Some(date) = number(&day_name, 2)
                        .and_then(|d| NaiveDate::from_ymd_opt(year, month, d))
                        .filter(|d| (from..=to).contains(d))
                    {
                        found.insert(date);
                    }
                }
            }
        }
    }
    Ok(found)
}

/// The date folders of `folders` to look into for a trail: every date of a short range
/// (probing each costs no more than finding which exist), only the existing ones of a long one.
pub async fn dates_to_list(
    source: &Location,
    trail: &Trail,
    folders: std::ops::RangeInclusive<NaiveDate>,
) -> Result<Vec<NaiveDate>, SourceError> {
    let (from, to) = folders.into_inner();
    let days = u64::try_from((to - from).num_days() + 1).unwrap_or(0);
    if days <= PROBE_DAYS_AT_MOST {
        return Ok(from.iter_days().take_while(|d| *d <= to).collect());
    }
    Ok(date_folders(source, trail, from, to)
        .await?
        .into_iter()
        .collect())
}

/// The files delivered to one trail on one date (all its region roots), sorted by key.
pub async fn list_folder(
    source: &Location,
    trail: &Trail,
    date: NaiveDate,
) -> Result<FolderListing, SourceError> {
    let mut out = FolderListing::default();
    for root in &trail.region_roots {
        let folder = layout::date_folder(root, date);
        let local = source.local_path(&folder);
        // A date folder that is a link to nothing lists as empty: say so instead of writing an
        // almost empty day.
        if let Some(local) = &local
            && local.symlink_metadata().is_ok()
            && let Err(e) = std::fs::metadata(local)
        {
            return Err(SourceError {
                what: format!(
                    "reading the date folder {} (a link to something that cannot be read)",
                    source.describe(&folder)
                ),
                source: local_store_error(e),
            });
        }
        let listing_failed = |e| SourceError {
            what: format!("listing {}", source.describe(&folder)),
            source: e,
        };
        // Each entry, and whether it is a regular file when the listing knows.
        // A local folder lists itself; a store's folder (or a local name the store keys its
        // own way) is listed by the store.
        let listed = match local {
            Some(path) => {
                let key = folder.clone();
                tokio::task::spawn_blocking(move || list_local_folder(&path, &key))
                    .await
                    .map_err(|e| listing_failed(object_store::Error::JoinError { source: e }))?
            }
            None => None,
        };
        // Each entry, and whether it is a regular file when the listing knows.
        let entries: Vec<(ObjectMeta, Option<bool>)> = match listed {
            Some(Ok(entries)) => entries
                .into_iter()
                .map(|(meta, regular)| (meta, Some(regular)))
                .collect(),
            // Nothing there, or a file where the folder would be: nothing listed (as the store
            // lists them).
            Some(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue;
            }
            Some(Err(e)) => {
                return Err(listing_failed(local_store_error(e)));
            }
            None => match source.store.list_with_delimiter(Some(&folder)).await {
                Ok(listing) => listing.objects.into_iter().map(|o| (o, None)).collect(),
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(listing_failed(e)),
            },
        };
        for (object, regular) in entries {
            if object
                .location
                .filename()
                .is_some_and(layout::is_log_file_name)
            {
                let regular = regular.unwrap_or_else(|| {
                    source
                        .local_path(&object.location)
                        .is_none_or(|local| std::fs::metadata(local).is_ok_and(|m| m.is_file()))
                });
                if !regular {
                    out.not_regular.push(source.describe(&object.location));
                    continue;
                }
                out.files.push(object);
            } else {
                out.ignored.push(object.location);
            }
        }
    }
    out.files.sort_by(|a, b| a.location.cmp(&b.location));
    out.ignored.sort();
    out.not_regular.sort();
    Ok(out)
}

/// The entries of a local date folder as the object store lists them (files and links to
/// files; not folders, links to nothing or the store's own staging files), each with whether it
/// is a regular file (a FIFO is listed, and must not be opened). One `stat` of the entry's name
/// in its folder each, where the store's listing and the regular-file check make three of its
/// whole path: on a day of thousands of tiny files, listing was a large share of the run. `None`
/// when a name is outside what delivery folders hold (the store's own listing then decides how
/// it is keyed).
fn list_local_folder(
    path: &std::path::Path,
    folder: &Path,
) -> Option<std::io::Result<Vec<(ObjectMeta, bool)>>> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return Some(Err(e)),
    };
    let mut objects = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return Some(Err(e)),
        };
        let name = entry.file_name();
        let name = name.to_str()?;
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return None;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        // A link is listed as what it points to (a folder, or nothing: skipped).
        let meta = if kind.is_symlink() {
            std::fs::metadata(entry.path())
        } else {
            entry.metadata()
        };
        let Ok(meta) = meta else {
            continue;
        };
        if meta.is_dir() {
            continue;
        }
        let object = ObjectMeta {
            location: folder.clone().join(name),
            last_modified: meta
                .modified()
                .map(chrono::DateTime::<chrono::Utc>::from)
                .unwrap_or_default(),
            size: meta.len(),
            e_tag: None,
            version: None,
        };
        objects.push((object, meta.is_file()));
    }
    Some(Ok(objects))
}

/// Read a listed object whole (delivery files are small; the decoder bounds what they inflate
/// to). The size from the listing makes it one ranged read: on local disk one trip to the
/// blocking pool instead of two (open, then read), which is most of a tiny file's cost.
/// Delivery files are never rewritten in place; one that shrank since it was listed fails.
pub async fn read(source: &Location, meta: &ObjectMeta) -> Result<bytes::Bytes, SourceError> {
    let fail = |e| SourceError {
        what: format!("reading {}", source.describe(&meta.location)),
        source: e,
    };
    if meta.size == 0 {
        return source
            .store
            .get(&meta.location)
            .await
            .map_err(fail)?
            .bytes()
            .await
            .map_err(fail);
    }
    // `get_ranges`, not `get_range`: the local store reads ranges in one blocking call, where
    // `get_range` opens the file in one and reads it in another.
    let mut ranges = source
        .store
        .get_ranges(&meta.location, std::slice::from_ref(&(0..meta.size)))
        .await
        .map_err(fail)?;
    Ok(ranges.pop().unwrap_or_default())
}

/// Read listed objects whole, each as [`read`] reads it (its listed size; one that shrank since
/// it was listed fails). The files of a local folder are read in one trip to the blocking pool:
/// on a day of thousands of tiny files, a trip per file (a pool thread woken, then the waiting
/// task) cost more than the reads. Other stores: a request per object, in turn.
pub async fn read_many(
    source: &Location,
    metas: Vec<ObjectMeta>,
) -> Vec<(ObjectMeta, Result<bytes::Bytes, SourceError>)> {
    let paths: Option<Vec<_>> = metas
        .iter()
        .map(|meta| source.local_path(&meta.location))
        .collect();
    let Some(paths) = paths else {
        let mut read_all = Vec::with_capacity(metas.len());
        for meta in metas {
            let bytes = read(source, &meta).await;
            read_all.push((meta, bytes));
        }
        return read_all;
    };
    let source = source.clone();
    let read = tokio::task::spawn_blocking(move || {
        metas
            .into_iter()
            .zip(paths)
            .map(|(meta, path)| {
                let bytes = read_local_file(&path, meta.size).map_err(|e| SourceError {
                    what: format!("reading {}", source.describe(&meta.location)),
                    source: local_error(&path, e),
                });
                (meta, bytes)
            })
            .collect()
    });
    read.await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
}

/// The first `size` bytes of a local file, which must have at least that many.
fn read_local_file(path: &std::path::Path, size: u64) -> std::io::Result<bytes::Bytes> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(size).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("{} bytes where {size} were listed", bytes.len()),
        ));
    }
    Ok(bytes.into())
}

/// A local read's error as the object store reports one.
fn local_error(path: &std::path::Path, error: std::io::Error) -> object_store::Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        object_store::Error::NotFound {
            path: path.display().to_string(),
            source: Box::new(error),
        }
    } else {
        local_store_error(error)
    }
}

/// A local file-system error as the local object store reports one it has no kind for.
fn local_store_error(error: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local listing lists what the object store's own listing lists: files and links to
    /// files, with their sizes; not folders, links to folders or to nothing.
    #[test]
    fn a_local_folder_lists_as_the_store_lists_it() {
        let work = tempfile::tempdir().unwrap();
        let folder = work
            .path()
            .join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05");
        std::fs::create_dir_all(folder.join("sub")).unwrap();
        std::fs::write(folder.join("a_CloudTrail_x.json.gz"), b"12345").unwrap();
        std::fs::write(folder.join("b.json"), b"{}").unwrap();
        std::fs::write(folder.join("notes.txt"), b"x").unwrap();
        std::fs::write(work.path().join("target.json.gz"), b"123").unwrap();
        std::os::unix::fs::symlink(
            work.path().join("target.json.gz"),
            folder.join("link.json.gz"),
        )
        .unwrap();
        std::os::unix::fs::symlink(work.path().join("gone"), folder.join("broken.json.gz"))
            .unwrap();
        std::os::unix::fs::symlink(folder.join("sub"), folder.join("dirlink")).unwrap();

        let source = Location::local(work.path().to_str().unwrap(), false).unwrap();
        let key = Path::from("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05");
        let shown = |objects: Vec<ObjectMeta>| {
            let mut out: Vec<(String, u64)> = objects
                .into_iter()
                .map(|o| (o.location.to_string(), o.size))
                .collect();
            out.sort();
            out
        };
        let listed = list_local_folder(&folder, &key).unwrap().unwrap();
        assert!(listed.iter().all(|(_, regular)| *regular));
        let ours = shown(listed.into_iter().map(|(o, _)| o).collect());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let store = runtime
            .block_on(source.store.list_with_delimiter(Some(&key)))
            .unwrap();
        assert_eq!(ours, shown(store.objects));
        assert_eq!(ours.len(), 4, "{ours:?}");

        // A name the store keys its own way: left to the store.
        std::fs::write(folder.join("c.json.gz#1"), b"").unwrap();
        assert!(list_local_folder(&folder, &key).is_none());
    }

    /// A local read gives what the store's ranged read gives, and fails where it fails.
    #[test]
    fn local_files_read_as_the_store_reads_them() {
        let work = tempfile::tempdir().unwrap();
        let source = Location::local(work.path().to_str().unwrap(), false).unwrap();
        std::fs::write(work.path().join("a.json.gz"), b"12345").unwrap();
        std::fs::write(work.path().join("b.json.gz"), b"123").unwrap();
        let meta = |name: &str, size| ObjectMeta {
            location: source.key(name),
            last_modified: Default::default(),
            size,
            e_tag: None,
            version: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let listed = vec![
            meta("a.json.gz", 5),
            meta("a.json.gz", 4),
            meta("b.json.gz", 5),
            meta("gone.json.gz", 5),
        ];
        let ours = runtime.block_on(read_many(&source, listed.clone()));
        for ((meta, ours), listed) in ours.into_iter().zip(listed) {
            assert_eq!(meta.location, listed.location);
            let store = runtime.block_on(read(&source, &listed));
            match (ours, store) {
                (Ok(ours), Ok(store)) => assert_eq!(ours, store),
                (Err(ours), Err(_)) => {
                    assert!(ours.to_string().starts_with("reading "), "{ours}")
                }
                (ours, store) => panic!("{}: {ours:?} vs {store:?}", listed.location),
            }
        }
        let memory = runtime.block_on(read_many(&Location::memory(), vec![meta("a.json.gz", 5)]));
        assert!(memory[0].1.is_err(), "not in that store");
    }
}
