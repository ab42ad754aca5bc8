"""Conversion benchmark: the same delivery files converted by ctparquet and by DuckDB (read_json of
every file, typed top-level columns, nested objects as JSON, COPY ... PARTITION_BY account, region,
year, month, day with zstd), and gunzipped by zcat as the floor, in one run: wall time, events/s,
peak RSS and output bytes side by side.

    .venv/bin/python bench/convert.py [--files-per-day 288] [--events-per-file 500]
"""

import argparse
import json
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "ctparquet"
ACCOUNT, REGION, DAY = "111122223333", "us-east-1", "2026-01-05"

DUCKDB_JOB = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
con.execute('''COPY (
    SELECT '{account}' AS account, '{region}' AS region,
           year(t) AS year, month(t) AS month, day(t) AS day, * EXCLUDE (t)
    FROM (SELECT (r->>'eventTime')::TIMESTAMPTZ AS t, {columns}
          FROM (SELECT unnest(Records) AS r
                FROM read_json('{src}/**/*.json.gz', columns = {{'Records': 'JSON[]'}}, format = 'auto')))
    WHERE t::DATE = DATE '{day}'
) TO '{dest}' (FORMAT parquet, PARTITION_BY (account, region, year, month, day), COMPRESSION zstd)''')
"""


def run_measured(cmd, **kw):
    """Run a child, return (wall seconds, peak RSS MB of the children so far)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    wall = time.perf_counter() - start
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def size(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*.parquet"))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files-per-day", type=int, default=288)
    ap.add_argument("--events-per-file", type=int, default=500)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ctparquet-cbench-"))
    try:
        src = work / "src"
        subprocess.run([BIN, "gen", src, "--accounts", ACCOUNT, "--regions", REGION, "--start", DAY, "--days", "2",
                        "--files-per-day", str(args.files_per_day), "--events-per-file", str(args.events_per_file)],
                       check=True, capture_output=True)
        files = sorted(src.rglob("*.json.gz"))
        gz = sum(f.stat().st_size for f in files)
        glue = json.loads(subprocess.run([BIN, "ddl", "glue", "--dest", "s3://x/y"], check=True, capture_output=True,
                                         text=True).stdout)
        cast = {"string": "r->>'{n}'", "boolean": "(r->>'{n}')::BOOLEAN", "timestamp": "(r->>'{n}')::TIMESTAMPTZ"}
        columns = ", ".join(cast.get(c["type"], "r->'{n}'").format(n=c["name"]) + f' AS "{c["name"]}"'
                            for c in glue["columns"] if c["name"] not in ("eventTime", "unmapped"))

        rows = []
        # Each tool runs in its own child process, so the peak RSS of each is its own.
        zcat = ["bash", "-c", f"find {src} -name '*.json.gz' -print0 | xargs -0 cat | zcat > /dev/null"]
        wall, _ = run_measured(zcat)
        rows.append(("zcat (the floor)", wall, None, None))

        out = work / "ctparquet"
        cmd = ["/usr/bin/time", "-f", "%M", BIN, "convert", src, out, "--date", DAY, "--json"]
        start = time.perf_counter()
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        events = json.loads(res.stdout)["events_written"]
        rows.append(("ctparquet", wall, int(res.stderr.strip().splitlines()[-1]) / 1024, size(out)))

        out = work / "duckdb"
        job = DUCKDB_JOB.format(account=ACCOUNT, region=REGION, columns=columns, src=src, dest=out, day=DAY)
        start = time.perf_counter()
        res = subprocess.run(["/usr/bin/time", "-f", "%M", str(ROOT / ".venv/bin/python"), "-c", job],
                             check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        rows.append((f"DuckDB", wall, int(res.stderr.strip().splitlines()[-1]) / 1024, size(out)))

        print(f"\nConversion benchmark: {len(files)} delivery files ({gz / 1e6:.0f} MB gzip), day {DAY} "
              f"({events} events) read from two date folders")
        print(f"{'tool':<18} {'wall s':>8} {'events/s':>10} {'peak RSS MB':>12} {'output MB':>10} {'vs DuckDB':>10}")
        duck = rows[-1][1]
        for name, wall, rss, out_bytes in rows:
            print(f"{name:<18} {wall:>8.2f} {events / wall:>10.0f} {rss or 0:>12.0f} "
                  f"{(out_bytes or 0) / 1e6:>10.1f} {duck / wall:>9.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
