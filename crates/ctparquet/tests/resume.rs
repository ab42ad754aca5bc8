//! A day larger than one run's time still finishes: a resumable run saves its open days at the
//! deadline and the next run of the same unit resumes them, and the Parquet is byte-for-byte
//! what one run writes.

mod common;

use std::time::Instant;

use common::*;
use ctparquet::{ConvertOptions, Scope};
use ctparquet_gen::{GenOptions, generate};

const A: &str = "111122223333";
const R: &str = "eu-west-1";

fn unit(from: &str, to: &str) -> ConvertOptions {
    let scope = Scope::days(date(from), date(to))
        .unwrap()
        .unit(date(from), date(to), A, R);
    ConvertOptions::new(scope)
}

/// `days` days of the unit's trail from 2026-01-04: several chunks of files a folder (small
/// files are decoded 64 at a time), late deliveries into the next folders, duplicates.
fn generate_trail(src: &std::path::Path, days: u32) {
    generate(
        src,
        &GenOptions {
            accounts: vec![A.into()],
            regions: vec![R.into()],
            start: date("2026-01-04"),
            days,
            files_per_day: 150,
            events_per_file: 8,
            duplicate_fraction: 0.05,
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn a_unit_stopped_at_every_chunk_finishes_byte_identical_to_one_run() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate_trail(&src, 2);

    let one = work.path().join("one");
    let single = convert(&src, &one, &unit("2026-01-04", "2026-01-05"));
    assert!(single.accounted_for() && single.days.len() == 2);

    // A deadline already past: each run routes one chunk of files, saves what is open and
    // says where to resume; the next run resumes from there, until one finishes.
    let files = all_files(&src).len();
    let many = work.path().join("many");
    let mut from = "2026-01-04".to_string();
    let (mut runs, mut written) = (0, 0);
    loop {
        runs += 1;
        // Each run routes at least one file (a chunk is what has arrived, up to 64: on a loaded
        // machine it may be one), and the last finishes the days.
        assert!(runs <= files + 2, "no progress after {runs} runs");
        let mut opts = unit(&from, "2026-01-05");
        opts.deadline = Some(Instant::now());
        opts.resumable = true;
        let summary = convert(&src, &many, &opts);
        assert!(summary.accounted_for(), "run {runs}: {summary:?}");
        assert!(summary.failed_days.is_empty());
        written += summary.events_written;
        match summary.resume_from {
            Some(day) => {
                // What it saved may hold no event: on a loaded machine a run can route one
                // file that holds only the late events of a day before its unit (reported as
                // outside its range), and it saves that progress all the same.
                from = day;
                // Nothing a reader would take for a day is there before the day is done.
                let saved = all_files(&many);
                assert!(
                    saved
                        .iter()
                        .any(|f| f.starts_with("_ctparquet/resume/events/"))
                );
                assert!(saved.iter().filter(|f| f.ends_with(".parquet")).all(|f| {
                    single
                        .days
                        .iter()
                        .any(|d| f.contains(&format!("day={}", &d.date[8..])))
                }));
            }
            None => break,
        }
    }
    assert!(runs > 5, "{runs} runs");
    assert_eq!(written, single.events_written);
    assert_eq!(snapshot(&many), snapshot(&one));
    // Once done, the saved conversion is gone.
    let left: Vec<_> = all_files(&many)
        .into_iter()
        .filter(|f| f.starts_with("_ctparquet"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_saved_conversion_is_resumed_only_by_its_own_days() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate_trail(&src, 1);
    let dest = work.path().join("dest");
    let mut opts = unit("2026-01-04", "2026-01-04");
    opts.deadline = Some(Instant::now());
    opts.resumable = true;
    let stopped = convert(&src, &dest, &opts);
    assert_eq!(stopped.resume_from.as_deref(), Some("2026-01-04"));
    let saved = |dest: &std::path::Path| {
        all_files(dest)
            .into_iter()
            .filter(|f| {
                f.starts_with("_ctparquet/resume/events/111122223333/eu-west-1/2026-01-04/")
            })
            .count()
    };
    assert!(saved(&dest) > 0);

    // A unit of the same trail ending on another day (another unit, maybe running at the same
    // time) neither resumes nor touches it.
    let mut other = unit("2026-01-04", "2026-01-06");
    other.resumable = true;
    let summary = convert(&src, &dest, &other);
    assert!(summary.resume_from.is_none() && summary.events_resumed == 0);
    assert!(summary.accounted_for());
    let reference = work.path().join("reference");
    convert(&src, &reference, &unit("2026-01-04", "2026-01-06"));
    assert_eq!(snapshot(&dest), snapshot(&reference));
    assert!(saved(&dest) > 0);

    // A run ending on its day but from another first day is not its continuation: it converts
    // from its start and clears the state.
    let mut longer = unit("2026-01-03", "2026-01-04");
    longer.resumable = true;
    let summary = convert(&src, &dest, &longer);
    assert!(summary.resume_from.is_none() && summary.events_resumed == 0);
    assert!(summary.accounted_for());
    assert_eq!(saved(&dest), 0);
    assert!(!all_files(&dest).iter().any(|f| f.starts_with("_ctparquet")));
}
