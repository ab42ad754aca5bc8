"""JSON columns benchmark: the same day converted with --json-columns text, json and variant, side
by side: conversion time, output size, and DuckDB answering two path queries on each (a group-by
on requestParameters.bucketName, a filter on requestParameters.userName). The peer: DuckDB's own
VARIANT of the same rows (COPY of the text output with the column cast to VARIANT).

    .venv/bin/python bench/json_columns.py [--src DIR --from D --to D] [--repeat 5]

Without --src it generates a day (ctparquet gen) with S3 data events among the management ones.
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
FORMS = ["text", "json", "variant"]


def size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*.parquet"))


def best(con, sql, repeat):
    """Fastest of `repeat` runs (the first warms the page cache), and the rows."""
    times, rows = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        rows = con.execute(sql).fetchall()
        times.append(time.perf_counter() - start)
    return min(times), rows


def queries(form, scan):
    """The same two questions in each form's own idiom."""
    if form.startswith("variant"):
        bucket = "requestParameters.bucketName::VARCHAR"
        user = "requestParameters.userName::VARCHAR"
    else:
        bucket = "requestParameters->>'bucketName'"
        user = "requestParameters->>'userName'"
    return {
        "count by requestParameters.bucketName":
            f"SELECT {bucket} AS b, count(*) FROM {scan} WHERE b IS NOT NULL GROUP BY ALL ORDER BY ALL",
        "filter on requestParameters.userName":
            f"SELECT count(*) FROM {scan} WHERE {user} = 'ci-runner'",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", type=Path)
    ap.add_argument("--from", dest="first", default="2026-01-04")
    ap.add_argument("--to", dest="last", default="2026-01-04")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ctparquet-jbench-"))
    try:
        src = args.src
        if src is None:
            src = work / "src"
            subprocess.run([BIN, "gen", src, "--start", args.first, "--days", "2", "--files-per-day", "288",
                            "--events-per-file", "40"], check=True, capture_output=True)
        answers = {}
        print(f"{'form':<14} {'convert s':>9} {'MB':>8}  query (DuckDB {duckdb.__version__}, best of {args.repeat})")
        for form in FORMS + ["variant-duckdb"]:
            out = work / form
            start = time.perf_counter()
            if form == "variant-duckdb":
                out.mkdir()
                duckdb.connect().execute(f"""COPY (SELECT * REPLACE (requestParameters::JSON::VARIANT AS requestParameters)
                    FROM read_parquet('{work / 'text'}/**/*.parquet')) TO '{out / 'day.parquet'}'""")
            else:
                res = subprocess.run([BIN, "convert", src, out, "--from", args.first, "--to", args.last,
                                      "--json-columns", form, "--json"], check=True, capture_output=True, text=True)
                events = json.loads(res.stdout)["events_written"]
            took = time.perf_counter() - start
            con = duckdb.connect()
            scan = f"read_parquet('{out}/**/*.parquet')"
            lines = []
            for name, sql in queries(form, scan).items():
                seconds, rows = best(con, sql, args.repeat)
                answers.setdefault(name, {})[form] = rows
                lines.append(f"{seconds * 1000:8.1f} ms  {name}")
            print(f"{form:<14} {took:9.2f} {size(out) / 1e6:8.1f}  {lines[0]}")
            for line in lines[1:]:
                print(f"{'':<14} {'':>9} {'':>8}  {line}")
        for name, by_form in answers.items():
            assert len({json.dumps(r, default=str) for r in by_form.values()}) == 1, f"forms disagree: {name}"
        print(f"{events} events; every form gives the same answers (variant-duckdb: DuckDB's own COPY "
              "of the text output, its time is the COPY's)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
