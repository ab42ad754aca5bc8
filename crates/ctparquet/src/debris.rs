//! Leftovers of runs that were killed, removed by the next run that meets them.
//!
//! Two kinds exist. A local put stages its bytes in `NAME#DIGITS` beside the final name and
//! renames it at the end: killed before the rename, the staging file stays in the day folder,
//! where object_store's listing skips it but `pyarrow.dataset` and shell globs do not. And a
//! run's work folder (spilled runs, staged part files) outlives a process killed with SIGKILL.
//! Work folders are named after their process (`ctparquet-PID-START-…`, START being the
//! process's start time, so a reused pid is not mistaken for the dead run), which lets a later run
//! tell the folders of live runs from those of dead ones.

use std::path::{Path, PathBuf};

/// What work folders start with.
pub const WORK_DIR_PREFIX: &str = "ctparquet-";

/// Is `name` object_store's staging name of a local put (`part-00000.parquet#12`)?
pub fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(base, n)| {
        !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The staging files of killed puts in a local day folder (none if it does not exist).
pub fn staging_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(is_staging_name) && entry.file_type()?.is_file() {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// The prefix of this process's work folder names.
pub fn work_dir_prefix() -> String {
    let (pid, start) = this_process();
    format!("{WORK_DIR_PREFIX}{pid}-{start}-")
}

/// Removes the work folders under `parent` whose process is gone; returns them. Folders of live
/// processes, and anything not named like a work folder, are left alone.
pub fn remove_dead_work_dirs(parent: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, start)) = name.to_str().and_then(owner) else {
            continue;
        };
        if !entry.file_type().is_ok_and(|t| t.is_dir()) || alive(pid, start) {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(e) => {
                tracing::warn!(folder = %path.display(), error = %e, "could not remove the work folder of a dead run")
            }
        }
    }
    removed
}

/// (pid, start time) of a work folder's name, `ctparquet-PID-START-RANDOM`.
fn owner(name: &str) -> Option<(u32, u64)> {
    let mut parts = name.strip_prefix(WORK_DIR_PREFIX)?.splitn(3, '-');
    let pid = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((pid, start))
}

/// This process: its pid and start time (0 when unknown), as work folders and day locks name it.
pub fn this_process() -> (u32, u64) {
    let pid = std::process::id();
    (pid, process_start(pid).unwrap_or(0))
}

/// The name of this machine (empty when unknown): a lock's pid is only checked on its host.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, which is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Is process `pid`, started at `start` (0: unknown), still running?
pub fn alive(pid: u32, start: u64) -> bool {
    if pid == std::process::id() {
        return true;
    }
    match process_start(pid) {
        Some(now) => start == 0 || now == start,
        // No /proc (macOS): whether a process of that pid exists at all.
        None if !Path::new("/proc/self/stat").exists() => {
            let Ok(pid) = libc::pid_t::try_from(pid) else {
                return false;
            };
            // SAFETY: signal 0 only checks that the process exists; nothing is sent.
            let rc = unsafe { libc::kill(pid, 0) };
            rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
        None => false,
    }
}

/// The start time of a process (field 22 of /proc/PID/stat, in clock ticks since boot).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_told_from_part_files() {
        assert!(is_staging_name("part-00000.parquet#1"));
        assert!(is_staging_name("part-00003.parquet#42"));
        assert!(!is_staging_name("part-00000.parquet"));
        assert!(!is_staging_name("part-00000.parquet#"));
        assert!(!is_staging_name("#1"));
        assert!(!is_staging_name("notes#draft"));
    }

    #[test]
    fn work_folders_of_dead_processes_go_and_live_ones_stay() {
        let parent = tempfile::tempdir().unwrap();
        let mine = parent.path().join(format!("{}abc", work_dir_prefix()));
        // A child that has exited: its pid names a dead run.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dead = parent
            .path()
            .join(format!("{WORK_DIR_PREFIX}{dead_pid}-1-xyz"));
        let other = parent.path().join("ctparquet-notes");
        for dir in [&mine, &dead, &other] {
            std::fs::create_dir_all(dir.join("day-1")).unwrap();
            std::fs::write(dir.join("day-1/run-0.arrow"), b"spilled").unwrap();
        }
        assert_eq!(remove_dead_work_dirs(parent.path()), vec![dead.clone()]);
        assert!(mine.is_dir() && other.is_dir() && !dead.exists());
    }

    #[test]
    fn staging_files_are_found_in_a_day_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("part-00000.parquet"), b"x").unwrap();
        std::fs::write(dir.path().join("part-00000.parquet#7"), b"x").unwrap();
        assert_eq!(
            staging_files(dir.path()).unwrap(),
            vec![dir.path().join("part-00000.parquet#7")]
        );
        assert!(
            staging_files(&dir.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }
}
