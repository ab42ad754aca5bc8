//! A day is published whole or not at all: one writer at a time (the day's lease), and a day of
//! several part files switched by a commit record that the next run completes when a run dies in
//! the switch.

mod common;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use ctparquet::publish::{COMMIT_NAME, LOCK_NAME, pending_name};
use ctparquet::verify::{DifferenceKind, VerifyOptions};
use ctparquet::{ConvertOptions, Location, NoProgress};
use ctparquet_gen::{GenOptions, generate};
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

const A: &str = "111122223333";

fn day() -> chrono::NaiveDate {
    date("2026-01-04")
}

/// Options of a day written as several part files.
fn several_parts() -> ConvertOptions {
    let mut opts = ConvertOptions::days(day(), day());
    opts.parquet.target_file_bytes = 32 * 1024;
    opts.parquet.row_group_rows = 1024;
    opts
}

fn source(dir: &Path, seed: u64) {
    generate(
        dir,
        &GenOptions {
            accounts: vec![A.into()],
            regions: vec!["us-east-1".into()],
            days: 2,
            files_per_day: 24,
            events_per_file: 200,
            seed,
            ..Default::default()
        },
    )
    .unwrap();
}

fn day_folder(dest: &Path) -> std::path::PathBuf {
    dest.join(format!(
        "account={A}/region=us-east-1/year=2026/month=01/day=04"
    ))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn lease(host: &str, pid: u32, expires_ms: u64) -> String {
    format!(
        r#"{{"host":"{host}","pid":{pid},"start":0,"acquired_ms":{},"expires_ms":{expires_ms}}}"#,
        now_ms()
    )
}

/// An old and a new source of the day; the old one converted into `dest`, the new one into
/// `reference`, both as several parts.
struct Generations {
    _work: tempfile::TempDir,
    old: std::path::PathBuf,
    new: std::path::PathBuf,
    dest: std::path::PathBuf,
    reference: std::path::PathBuf,
}

fn generations() -> Generations {
    let work = tempfile::tempdir().unwrap();
    let path = |name: &str| work.path().join(name);
    let (old, new, dest, reference) = (path("old"), path("new"), path("out"), path("ref"));
    source(&old, 1);
    source(&new, 2);
    convert(&old, &dest, &several_parts());
    convert(&new, &reference, &several_parts());
    assert!(parquet_files(&dest).len() >= 3 && parquet_files(&reference).len() >= 3);
    Generations {
        _work: work,
        old,
        new,
        dest,
        reference,
    }
}

/// Copy part files into a day folder under their pending names, as a run publishing them does
/// before its commit; their names.
fn stage_pending(parts: &[std::path::PathBuf], folder: &Path) -> Vec<String> {
    parts
        .iter()
        .map(|part| {
            let name = part.file_name().unwrap().to_str().unwrap().to_string();
            std::fs::copy(part, folder.join(pending_name(&name))).unwrap();
            name
        })
        .collect()
}

#[test]
fn a_day_whose_lease_is_held_is_not_written_and_said() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    source(&src, 1);
    let dest = work.path().join("out");
    convert(&src, &dest, &ConvertOptions::days(day(), day()));
    let before = snapshot(&dest);
    // A live holder: this test process, on this host, with an hour to go.
    let lock = day_folder(&dest).join(LOCK_NAME);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    std::fs::write(
        &lock,
        lease(&host, std::process::id(), now_ms() + 3_600_000),
    )
    .unwrap();

    let other = work.path().join("src2");
    source(&other, 2);
    let mut opts = ConvertOptions::days(day(), day());
    opts.lock_wait = Duration::from_millis(300);
    let summary = convert(&other, &dest, &opts);
    assert_eq!(summary.failed_days.len(), 1, "{summary}");
    let reason = &summary.failed_days[0].reason;
    assert!(
        reason.contains("another run") && reason.contains(&std::process::id().to_string()),
        "{reason}"
    );
    assert!(summary.accounted_for());
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(snapshot(&dest), before, "the held day was touched");
}

#[test]
fn a_stale_lease_is_taken_over() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    source(&src, 1);
    let reference = work.path().join("ref");
    convert(&src, &reference, &ConvertOptions::days(day(), day()));
    for (name, holder) in [
        // Expired, held on another machine.
        ("expired", lease("elsewhere", 1, now_ms() - 1)),
        // Within its lease, held by a process of this machine that is gone.
        ("dead", {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default();
            lease(&host, u32::MAX - 1, now_ms() + 3_600_000)
        }),
        // Not a lease of ours at all: judged by its age.
        ("garbage", "not json".to_string()),
    ] {
        let dest = work.path().join(name);
        std::fs::create_dir_all(day_folder(&dest)).unwrap();
        std::fs::write(day_folder(&dest).join(LOCK_NAME), holder).unwrap();
        let mut opts = ConvertOptions::days(day(), day());
        opts.lock_wait = Duration::from_millis(300);
        let summary = convert(&src, &dest, &opts);
        if name == "garbage" {
            // Written just now, so still within a lease's length: the day waits.
            assert_eq!(summary.failed_days.len(), 1, "{name}: {summary}");
            continue;
        }
        assert!(summary.succeeded(), "{name}: {summary}");
        assert_eq!(snapshot(&dest), snapshot(&reference), "{name}");
    }
}

#[test]
fn a_day_of_several_parts_leaves_no_pending_object_and_replaces_all_parts() {
    let Generations {
        _work,
        new,
        dest,
        reference,
        ..
    } = generations();
    let mut opts = several_parts();
    opts.allow_shrink = true;
    convert(&new, &dest, &opts);
    assert_eq!(snapshot(&dest), snapshot(&reference));
}

#[test]
fn a_switch_killed_after_its_commit_is_reported_then_completed_by_the_next_run() {
    let Generations {
        _work,
        new,
        dest,
        reference,
        ..
    } = generations();
    // The state a run leaves when killed in the switch: the old day, the new parts pending, the
    // commit record, and the first part already moved.
    let folder = day_folder(&dest);
    let names = stage_pending(&parquet_files(&reference), &folder);
    std::fs::write(
        folder.join(COMMIT_NAME),
        serde_json::json!({ "parts": names }).to_string(),
    )
    .unwrap();
    std::fs::rename(folder.join(pending_name(&names[0])), folder.join(&names[0])).unwrap();

    let report = verify_local(&new, &dest, &VerifyOptions::days(day(), day()));
    let interrupted: Vec<_> = report
        .differences
        .iter()
        .filter(|d| d.kind == DifferenceKind::Stray && d.event.ends_with(COMMIT_NAME))
        .collect();
    assert_eq!(interrupted.len(), 1, "{:#?}", report.differences);
    assert!(interrupted[0].detail.contains("interrupted"));

    // The next run of the day completes the switch first, then publishes its own (the same).
    convert(&new, &dest, &several_parts());
    assert_eq!(snapshot(&dest), snapshot(&reference));
    assert!(verify_local(&new, &dest, &VerifyOptions::days(day(), day())).passed());
}

#[test]
fn pending_parts_of_a_run_killed_before_its_commit_leave_the_old_day_and_are_removed() {
    let Generations {
        _work,
        old,
        dest,
        reference,
        ..
    } = generations();
    let old_state = snapshot(&dest);
    let folder = day_folder(&dest);
    stage_pending(&parquet_files(&reference)[..2], &folder);
    // Readers and verify see the old day whole: pending parts are hidden.
    assert_eq!(
        read_output(&dest).len(),
        verify_local(&old, &dest, &VerifyOptions::days(day(), day())).source_events as usize
    );
    assert!(verify_local(&old, &dest, &VerifyOptions::days(day(), day())).passed());
    // The next publication of the day removes them.
    convert(&old, &dest, &several_parts());
    assert_eq!(snapshot(&dest), old_state);
}

/// A local destination whose disk fills up: puts of pending parts fail once `room` of them were
/// written.
#[derive(Debug)]
struct FillingDisk {
    inner: LocalFileSystem,
    room: AtomicU64,
}

impl fmt::Display for FillingDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FillingDisk({})", self.inner)
    }
}

impl FillingDisk {
    fn check(&self, key: &Key) -> Result<()> {
        let pending = key.filename().is_some_and(|n| n.ends_with(".pending"));
        if pending
            && self
                .room
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
        {
            return Err(object_store::Error::Generic {
                store: "FillingDisk",
                source: "No space left on device (os error 28)".into(),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectStore for FillingDisk {
    async fn put_opts(&self, l: &Key, p: PutPayload, o: PutOptions) -> Result<PutResult> {
        self.check(l)?;
        self.inner.put_opts(l, p, o).await
    }
    async fn put_multipart_opts(
        &self,
        l: &Key,
        o: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.check(l)?;
        self.inner.put_multipart_opts(l, o).await
    }
    async fn get_opts(&self, l: &Key, o: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(l, o).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Key>>,
    ) -> BoxStream<'static, Result<Key>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Key>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Key>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Key, to: &Key, o: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, o).await
    }
}

#[test]
fn a_disk_that_fills_during_the_upload_leaves_the_old_day_whole() {
    let Generations {
        _work,
        old,
        new,
        dest,
        reference,
        ..
    } = generations();
    let old_rows = read_output(&dest).len();
    let old_parts: Vec<_> = parquet_files(&dest)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();

    let full = Arc::new(FillingDisk {
        inner: LocalFileSystem::new_with_prefix(&dest).unwrap(),
        room: AtomicU64::new(1),
    });
    let source = Location::local(new.to_str().unwrap(), false).unwrap();
    let faulty = Location::in_store(full, Key::default(), "filling disk");
    let error = ctparquet::runtime()
        .unwrap()
        .block_on(ctparquet::convert(
            &source,
            &faulty,
            &several_parts(),
            &NoProgress,
        ))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("No space left") && error.contains("2026-01-04"),
        "{error}"
    );
    // Readers see the old day, whole: its part files as they were (the pending part written
    // before the disk filled is hidden from them), verify agrees with the old source.
    let parts: Vec<_> = parquet_files(&dest)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(parts, old_parts);
    assert_eq!(read_output(&dest).len(), old_rows);
    assert!(verify_local(&old, &dest, &VerifyOptions::days(day(), day())).passed());
    assert!(
        !day_folder(&dest).join(LOCK_NAME).exists(),
        "the lease is released"
    );
    let left: Vec<_> = std::fs::read_dir(day_folder(&dest))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".parquet"))
        .collect();
    assert!(left.is_empty(), "the failed run left {left:?}");
    // With room again, the next run publishes the new day and leaves nothing else.
    convert(&new, &dest, &several_parts());
    assert_eq!(snapshot(&dest), snapshot(&reference));
}

#[test]
fn a_day_rewritten_since_it_was_read_is_not_replaced() {
    use ctparquet::publish::{Publication, PublishOptions, day_parts, publish};
    use ctparquet::sink::StagedPart;
    let g = generations();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dest = Location::local(g.dest.to_str().unwrap(), false).unwrap();
    let partition = ctparquet::layout::partition_dir(&dest.prefix, A, "us-east-1", day());
    // What an upgrade read of the day, before another run rewrote it from the new source.
    let read = rt.block_on(day_parts(&dest, &partition)).unwrap();
    assert!(read.len() >= 3);
    let old = snapshot(&g.dest);
    // The parts made from what was read (here: the old day's own), staged elsewhere.
    let staged_dir = tempfile::tempdir().unwrap();
    let staged: Vec<StagedPart> = parquet_files(&day_folder(&g.dest))
        .iter()
        .map(|p| {
            let path = staged_dir.path().join(p.file_name().unwrap());
            std::fs::copy(p, &path).unwrap();
            StagedPart {
                bytes: std::fs::metadata(&path).unwrap().len(),
                path,
                rows: 1_000_000,
            }
        })
        .collect();
    convert(&g.new, &g.dest, &several_parts());
    let rewritten = snapshot(&g.dest);
    assert_eq!(rewritten, snapshot(&g.reference));
    let opts = |only_replacing| PublishOptions {
        allow_shrink: true,
        lock_wait: std::time::Duration::from_secs(5),
        only_replacing,
    };
    let got = rt
        .block_on(publish(&dest, &partition, &staged, opts(Some(read))))
        .unwrap();
    assert_eq!(got, Publication::Changed);
    assert_eq!(
        snapshot(&g.dest),
        rewritten,
        "the other run's day is left as it was"
    );
    // Against what is there now, the same parts are published.
    let now = rt.block_on(day_parts(&dest, &partition)).unwrap();
    let got = rt
        .block_on(publish(&dest, &partition, &staged, opts(Some(now))))
        .unwrap();
    assert!(matches!(got, Publication::Published(_)), "{got:?}");
    assert_eq!(snapshot(&g.dest), old);
}
