//! Planning and running units on a generated local trail: the same code path as S3.

use chrono::NaiveDate;
use ctparquet::{ConvertOptions, Location, Scope};
use ctparquet_gen::{GenOptions, generate};
use ctparquet_jobs::{Job, Runner, plan};

/// A deployment's settings: every trail of the events table (the days are each job's).
fn configured() -> Scope {
    Scope::day(d("2026-01-01"))
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[tokio::test]
async fn units_plan_run_and_hand_back_at_the_deadline() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate(
        &src,
        &GenOptions {
            accounts: vec!["111122223333".into(), "444455556666".into()],
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            days: 3,
            files_per_day: 4,
            events_per_file: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let source = Location::local(src.to_str().unwrap(), false).unwrap();
    let dest = Location::local(work.path().join("out").to_str().unwrap(), true).unwrap();

    // The allow-list narrows what a job asks for.
    let mut settings = configured();
    settings.accounts = Some(vec!["444455556666".into()]);
    let job = Job {
        accounts: Some(vec!["111122223333".into(), "444455556666".into()]),
        ..Job::range(d("2026-01-04"), d("2026-01-05"))
    };
    let scope = job.scope(&settings).unwrap();
    let units = plan(&source, &scope).await.unwrap();
    assert_eq!(units.len(), 4, "{units:?}");
    assert!(units.iter().all(|u| u.account == "444455556666"));
    assert_eq!(units[0].date, d("2026-01-04"));

    // A deadline already passed: nothing runs, everything is handed back, nothing written.
    let runner = Runner {
        source: &source,
        dest: &dest,
        options: &ConvertOptions::new(scope),
        deadline: Some(std::time::Instant::now()),
    };
    let outcome = runner.run(units.clone()).await;
    assert_eq!(outcome.left, units);
    assert!(outcome.done.is_empty() && outcome.failed.is_empty());
    assert!(
        !work
            .path()
            .join("out")
            .join("account=444455556666")
            .exists()
    );

    // Time enough: every unit converted, and the totals add up.
    let runner = Runner {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(600)),
        ..runner
    };
    let outcome = runner.run(units.clone()).await;
    assert_eq!(outcome.done, units);
    assert!(outcome.left.is_empty() && outcome.failed.is_empty());
    assert!(outcome.totals.events_written > 0);
    assert_eq!(outcome.totals.days_written, 4);
}

#[tokio::test]
async fn a_long_job_has_units_only_where_folders_exist() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    // 3 days of folders (Jan 4-6, 2026) for 2 accounts x 2 regions, inside a job of a year.
    generate(
        &src,
        &GenOptions {
            accounts: vec!["111122223333".into(), "444455556666".into()],
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            days: 3,
            files_per_day: 2,
            events_per_file: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let source = Location::local(src.to_str().unwrap(), false).unwrap();
    let year = Job::range(d("2025-07-01"), d("2026-06-30"));
    let units = plan(&source, &year.scope(&configured()).unwrap())
        .await
        .unwrap();
    // Units for the days whose window (the day and the next folder) holds a folder: the
    // folders the generator wrote (its 3 days and the late deliveries after them), and the
    // day before each.
    let mut folders = std::collections::BTreeSet::new();
    let root = src.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01");
    for entry in std::fs::read_dir(&root).unwrap() {
        let day: u32 = entry
            .unwrap()
            .file_name()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        folders.insert(NaiveDate::from_ymd_opt(2026, 1, day).unwrap());
    }
    let expected: std::collections::BTreeSet<_> = folders
        .iter()
        .flat_map(|f| [f.pred_opt().unwrap(), *f])
        .collect();
    assert!(expected.len() < 15, "{expected:?}");
    let days: std::collections::BTreeSet<_> = units
        .iter()
        .filter(|u| u.account == "111122223333" && u.region == "us-east-1")
        .map(|u| u.date)
        .collect();
    assert_eq!(days, expected);
    assert!(units.len() < 4 * 15, "{} units", units.len());
    // Ordered by day, then account, then region, as short jobs are.
    let keys: Vec<_> = units
        .iter()
        .map(|u| (u.date, u.account.clone(), u.region.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // A short job still has a unit for every day and trail.
    let week = Job::range(d("2026-01-01"), d("2026-01-07"));
    let week = week.scope(&configured()).unwrap();
    assert_eq!(plan(&source, &week).await.unwrap().len(), 7 * 4);
}
