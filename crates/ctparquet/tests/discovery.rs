//! A long range over sparse data costs what exists, not what the calendar spans: the date
//! folders are found by listing years and months, counted here through the library's
//! request-counting store.

mod common;

use std::sync::Arc;

use common::*;
use ctparquet::{ConvertOptions, Location, NoProgress};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use serde_json::json;

const A: &str = "111122223333";
const B: &str = "444455556666";

fn ev(id: &str, time: &str) -> serde_json::Value {
    json!({"eventVersion": "1.11", "eventID": id, "eventTime": time, "eventName": "GetObject"})
}

#[test]
fn a_sparse_range_of_years_lists_what_exists() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    // Two trails, data on four days spread over five years (one a late delivery).
    let data = [
        (A, "us-east-1", "2021-03-04", "2021-03-04T10:00:00Z"),
        (A, "us-east-1", "2023-11-30", "2023-11-30T23:59:00Z"),
        (A, "us-east-1", "2023-12-01", "2023-11-30T23:59:30Z"),
        (B, "eu-west-1", "2025-07-14", "2025-07-14T08:00:00Z"),
    ];
    for (i, (account, region, folder, time)) in data.iter().enumerate() {
        write_delivery(
            &src,
            account,
            region,
            date(folder),
            &format!("f{i}"),
            &[ev(&format!("e{i}"), time)],
        );
    }
    let dest = work.path().join("out");
    let (from, to) = (date("2021-01-01"), date("2025-12-31"));

    let local = Arc::new(LocalFileSystem::new_with_prefix(&src).unwrap());
    let (source, requests) = Location::in_store(local, Path::default(), "counted").counted();
    let (out, dest_requests) = Location::local(dest.to_str().unwrap(), true)
        .unwrap()
        .counted();
    let summary = ctparquet::runtime()
        .unwrap()
        .block_on(ctparquet::convert(
            &source,
            &out,
            &ConvertOptions::days(from, to),
            &NoProgress,
        ))
        .unwrap();
    assert_eq!(summary.events_written, 4);
    assert_eq!(summary.events_moved, 1);
    assert!(summary.accounted_for());

    // Discovery: AWSLogs, 2 accounts, their CloudTrail folders: 5 listings. Then, per trail,
    // its region root, the years in it, the months of those years, and each date folder that
    // exists: for A 1 + 2 years + 3 months (2021-03, 2023-11, 2023-12) + 3 folders, for B
    // 1 + 1 + 1 + 1. Probing every day would take 2 x 1,826.
    let trails = 2;
    let bound = 5 + trails * (1 + 2 + 3 + 3);
    let listings = requests.counts().list;
    assert!(listings <= bound, "{listings} listings, bound {bound}");
    // The destination, too: the days it holds are listed once per trail, and only days with
    // events (or already in DEST) are published; the 1,826 empty days of each trail cost
    // nothing there.
    let at_dest = dest_requests.counts();
    let total = at_dest.list + at_dest.get + at_dest.put + at_dest.other;
    eprintln!("destination requests: {at_dest:?}");
    assert!(total < 100, "{at_dest:?}");

    // The same range converted day by day in one go gives the same output as the folders' own
    // days converted one at a time.
    let single = work.path().join("single");
    for (_, _, folder, _) in &data[..3] {
        convert(
            &src,
            &single,
            &ConvertOptions::days(date(folder), date(folder)),
        );
    }
    convert(
        &src,
        &single,
        &ConvertOptions::days(date("2025-07-14"), date("2025-07-14")),
    );
    let rows = |dir: &std::path::Path| {
        let mut r: Vec<_> = read_output(dir)
            .into_iter()
            .map(|r| (r.date, r.record.to_string()))
            .collect();
        r.sort();
        r
    };
    assert_eq!(rows(&dest), rows(&single));
}
