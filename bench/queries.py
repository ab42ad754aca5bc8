"""Query benchmark: the same four questions asked by DuckDB of raw CloudTrail JSON (read_json over
the delivery files, restricted to the date folders a question needs) and of ctparquet's output
(read_parquet with Hive partitions), side by side: wall time and bytes read from disk.

    .venv/bin/python bench/queries.py [--days 31] [--files-per-day 96] [--events-per-file 20]
"""

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "ctparquet"


def read_bytes():
    """Bytes this process has read through read()/pread() so far (page cache included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def timed(con, sql):
    before, start = read_bytes(), time.perf_counter()
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - start, read_bytes() - before, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=31)
    ap.add_argument("--files-per-day", type=int, default=96)
    ap.add_argument("--events-per-file", type=int, default=20)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ctparquet-qbench-"))
    try:
        src, dest = work / "src", work / "out"
        subprocess.run([BIN, "gen", src, "--start", "2026-01-01", "--days", str(args.days + 1),
                        "--files-per-day", str(args.files_per_day), "--events-per-file", str(args.events_per_file),
                        "--regions", "us-east-1,eu-west-1"], check=True, capture_output=True)
        last = f"2026-01-{args.days:02d}" if args.days <= 31 else None
        out = subprocess.run([BIN, "convert", src, dest, "--from", "2026-01-01", "--to", last, "--json"],
                             check=True, capture_output=True, text=True)
        summary = json.loads(out.stdout)
        raw = lambda glob: (f"(SELECT unnest(Records) AS r FROM read_json('{src}/AWSLogs/*/CloudTrail/*/{glob}/*.json.gz', "
                            f"columns={{'Records': 'JSON[]'}}, format='auto'))")
        pq = (f"read_parquet('{dest}/**/*.parquet', hive_partitioning=true, "
              f"hive_types={{'year': BIGINT, 'month': BIGINT, 'day': BIGINT}})")
        t = "CAST(r->>'eventTime' AS TIMESTAMP)"
        questions = [
            ("count(*)",
             f"SELECT count(*) FROM {raw('2026/01/*')} WHERE {t} >= TIMESTAMP '2026-01-01' AND {t} < TIMESTAMP '2026-02-01'",
             f"SELECT count(*) FROM {pq}"),
            ("count per day",
             f"SELECT {t}::DATE AS d, count(*) FROM {raw('2026/*/*')} WHERE {t} >= TIMESTAMP '2026-01-01' AND {t} < TIMESTAMP '2026-02-01' GROUP BY d ORDER BY d",
             f"SELECT make_date(year::INT, month::INT, day::INT) AS d, count(*) FROM {pq} GROUP BY d ORDER BY d"),
            ("one day, one eventSource+eventName",
             f"SELECT r->>'eventID', r->>'eventTime' FROM {raw('2026/01/1[56]')} WHERE {t}::DATE = DATE '2026-01-15' "
             f"AND r->>'eventSource' = 's3.amazonaws.com' AND r->>'eventName' = 'PutBucketPolicy'",
             f"SELECT eventID, eventTime FROM {pq} WHERE (year, month, day) = (2026, 1, 15) "
             f"AND eventSource = 's3.amazonaws.com' AND eventName = 'PutBucketPolicy'"),
            ("a month's CreateBucket by user ARN",
             f"SELECT r->'userIdentity'->>'arn' AS arn, count(*) FROM {raw('2026/*/*')} WHERE {t} >= TIMESTAMP '2026-01-01' AND {t} < TIMESTAMP '2026-02-01' "
             f"AND r->>'eventName' = 'CreateBucket' GROUP BY arn ORDER BY arn",
             f"SELECT userIdentity.arn AS arn, count(*) FROM {pq} WHERE year = 2026 AND month = 1 "
             f"AND eventName = 'CreateBucket' GROUP BY arn ORDER BY arn"),
        ]
        raw_bytes = sum(p.stat().st_size for p in src.rglob("*.json.gz"))
        out_bytes = sum(p.stat().st_size for p in dest.rglob("*.parquet"))
        print(f"\nQuery benchmark, DuckDB {duckdb.__version__}: {summary['events_written']} events over {args.days} days, "
              f"2 regions; raw JSON {raw_bytes / 1e6:.1f} MB gzip in {sum(1 for _ in src.rglob('*.json.gz'))} files, "
              f"ctparquet {out_bytes / 1e6:.1f} MB in {sum(1 for _ in dest.rglob('*.parquet'))} files")
        print(f"{'question':<36} {'raw s':>8} {'raw MB read':>12} {'parquet s':>10} {'pq MB read':>11} {'speed-up':>9} {'rows':>11}")
        for name, raw_sql, pq_sql in questions:
            con = duckdb.connect()
            rt, rb, rr = timed(con, raw_sql)
            con = duckdb.connect()
            pt, pb, pr = timed(con, pq_sql)
            print(f"{name:<36} {rt:>8.2f} {rb / 1e6:>12.1f} {pt:>10.3f} {pb / 1e6:>11.2f} {rt / pt:>8.0f}x "
                  f"{len(rr):>5}/{len(pr):<5}")
        print("(raw JSON counts include the duplicate deliveries that ctparquet writes once)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
