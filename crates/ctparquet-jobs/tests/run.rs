//! Planning and running units on a generated local trail: the same code path as S3.

use chrono::NaiveDate;
use ctparquet::{ConvertOptions, Location, Scope};
use ctparquet_gen::{GenOptions, generate};
use ctparquet_jobs::{DEFAULT_UNIT_BYTES, Job, Plan, Runner, plan};

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
    let units = plan(&source, &scope, DEFAULT_UNIT_BYTES)
        .await
        .unwrap()
        .units;
    // A short job: a unit per trail (an account in two regions), both days in it.
    assert_eq!(units.len(), 2, "{units:?}");
    assert!(units.iter().all(|u| u.account == "444455556666"));
    assert_eq!(
        (units[0].from, units[0].to),
        (d("2026-01-04"), d("2026-01-05"))
    );

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
    let plan = plan(
        &source,
        &year.scope(&configured()).unwrap(),
        DEFAULT_UNIT_BYTES,
    )
    .await
    .unwrap();
    let units = &plan.units;
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
    // One unit per run of consecutive days (the folders are small), sized by what it reads.
    let runs: Vec<(NaiveDate, NaiveDate)> = expected.iter().fold(Vec::new(), |mut runs, day| {
        match runs.last_mut() {
            Some((_, to)) if to.succ_opt() == Some(*day) => *to = *day,
            _ => runs.push((*day, *day)),
        }
        runs
    });
    let trail: Vec<_> = units
        .iter()
        .filter(|u| u.account == "111122223333" && u.region == "us-east-1")
        .map(|u| (u.from, u.to))
        .collect();
    assert_eq!(trail, runs);
    assert!(units.len() < 4 * 3, "{units:?}");
    let files = files_under(&src);
    let date_folders = files
        .iter()
        .map(|(name, _)| std::path::Path::new(name).parent().unwrap().to_path_buf())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let listed: u64 = files.iter().map(|(_, bytes)| bytes.len() as u64).sum();
    assert_eq!((plan.trails, plan.folders), (4, date_folders));
    assert_eq!(plan.bytes, listed);
    assert_eq!(units.iter().map(|u| u.bytes.unwrap()).sum::<u64>(), listed);
    // Ordered by day, then account, then region, as short jobs are.
    let keys: Vec<_> = units
        .iter()
        .map(|u| (u.from, u.account.clone(), u.region.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // Small units: each day's folders are more than a unit may read, so each trail's days are
    // cut into units, every needed day in exactly one.
    let small = plan_with(&source, &year, 1).await;
    let trail: Vec<_> = small
        .units
        .iter()
        .filter(|u| u.account == "111122223333" && u.region == "us-east-1")
        .collect();
    assert!(trail.len() > 1);
    let days: Vec<_> = trail.iter().flat_map(|u| u.days()).collect();
    assert_eq!(days, expected.iter().copied().collect::<Vec<_>>());
    // A short job is a unit per trail, not listed.
    let week = Job::range(d("2026-01-01"), d("2026-01-07"));
    let week = plan_with(&source, &week, DEFAULT_UNIT_BYTES).await;
    assert_eq!(week.units.len(), 4);
    assert!(
        week.units
            .iter()
            .all(|u| u.days().count() == 7 && u.bytes.is_none())
    );
}

async fn plan_with(source: &Location, job: &Job, unit_bytes: u64) -> Plan {
    plan(source, &job.scope(&configured()).unwrap(), unit_bytes)
        .await
        .unwrap()
}

/// Every file under `dir` (relative path and bytes), sorted.
fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_unit_longer_than_its_deadline_is_handed_back_until_it_finishes() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    generate(
        &src,
        &GenOptions {
            accounts: vec!["111122223333".into()],
            regions: vec!["eu-west-1".into()],
            days: 2,
            files_per_day: 200,
            events_per_file: 10,
            duplicate_fraction: 0.05,
            ..Default::default()
        },
    )
    .unwrap();
    let source = Location::local(src.to_str().unwrap(), false).unwrap();
    let job = Job::range(d("2026-01-04"), d("2026-01-05"));
    let scope = job.scope(&configured()).unwrap();
    let units = plan(&source, &scope, DEFAULT_UNIT_BYTES)
        .await
        .unwrap()
        .units;
    assert_eq!(units.len(), 1);
    let options = ConvertOptions::new(scope);

    // One run with time enough: the reference.
    let one = work.path().join("one");
    let runner_dest = Location::local(one.to_str().unwrap(), true).unwrap();
    let runner = Runner {
        source: &source,
        dest: &runner_dest,
        options: &options,
        deadline: None,
    };
    assert_eq!(runner.run(units.clone()).await.done, units);

    // Invocations of a few milliseconds each: every one starts the unit (its deadline has not
    // passed when it starts), saves what it has open and hands back the rest, which the next
    // one resumes.
    let many = work.path().join("many");
    let dest = Location::local(many.to_str().unwrap(), true).unwrap();
    let (mut pending, mut invocations) = (units.clone(), 0);
    while !pending.is_empty() {
        invocations += 1;
        // An invocation that starts the unit routes at least one file; one may not start it.
        assert!(invocations < 4 * 400, "no progress: {pending:?}");
        let runner = Runner {
            source: &source,
            dest: &dest,
            options: &options,
            deadline: Some(std::time::Instant::now() + std::time::Duration::from_millis(5)),
        };
        let outcome = runner.run(pending).await;
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        pending = outcome.left;
    }
    assert!(invocations > 2, "{invocations} invocations");
    // The same Parquet, byte for byte, and nothing else left behind.
    assert_eq!(files_under(&many), files_under(&one));
}
