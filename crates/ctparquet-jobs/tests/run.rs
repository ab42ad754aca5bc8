//! Planning and running units on a generated local trail: the same code path as S3.

use chrono::NaiveDate;
use clap::Parser;
use ctparquet::Location;
use ctparquet_config::{ScopeArgs, TuningArgs};
use ctparquet_gen::{GenOptions, generate};
use ctparquet_jobs::{Job, Runner, plan};

#[derive(Parser)]
struct Settings {
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    tuning: TuningArgs,
}

fn settings(args: &[&str]) -> Settings {
    Settings::try_parse_from(std::iter::once("t").chain(args.iter().copied())).unwrap()
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
    let s = settings(&["--accounts", "444455556666"]);
    let job = Job {
        accounts: Some(vec!["111122223333".into(), "444455556666".into()]),
        ..Job::range(d("2026-01-04"), d("2026-01-05"))
    };
    let units = plan(&source, &job, &s.scope).await.unwrap();
    assert_eq!(units.len(), 4, "{units:?}");
    assert!(units.iter().all(|u| u.account == "444455556666"));
    assert_eq!(units[0].date, d("2026-01-04"));

    // A deadline already passed: nothing runs, everything is handed back, nothing written.
    let runner = Runner {
        source: &source,
        dest: &dest,
        scope: &s.scope,
        tuning: &s.tuning,
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
