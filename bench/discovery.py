"""Discovery benchmark: a sparse range over years costs what exists, not what the calendar spans.

The real events of tests/data/real-cloudtrail are placed in a delivery tree by each event's own
account, region and eventTime (one delivery file per account, region and day: hundreds of
trails, a few hundred date folders, from 2014 to today), and the whole range of years is then
converted as one range by ctparquet, planned by `ctparquet backfill --plan` (with its LIST
requests), and converted by DuckDB by hand (read_json of the tree's files, unnested, typed,
COPY ... PARTITION_BY account, region, year, month, day with zstd), side by side:

    .venv/bin/python bench/discovery.py [--runs N]

Events without a usable eventTime, account or region go to placeholders (day 2014-01-01,
account 123456789012, us-east-1): what matters here is the shape of the tree.
"""

import argparse
import gzip
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "ctparquet"
CORPUS = ROOT / "tests" / "data" / "real-cloudtrail"
ACCOUNT = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")

DUCKDB_JOB = """
import duckdb
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
con.execute('''COPY (
    SELECT regexp_extract(filename, 'AWSLogs/(\\\\d{{12}})/', 1) AS account,
           regexp_extract(filename, 'CloudTrail/([a-z0-9-]+)/', 1) AS region,
           year(t) AS year, month(t) AS month, day(t) AS day, t AS "eventTime", * EXCLUDE (t, filename)
    FROM (SELECT filename, TRY_CAST(r->>'eventTime' AS TIMESTAMPTZ) AS t, {columns}
          FROM (SELECT filename, unnest(Records) AS r
                FROM read_json('{glob}', columns = {{'Records': 'JSON[]'}}, format = 'auto',
                               filename = true)))
) TO '{dest}' (FORMAT parquet, PARTITION_BY (account, region, year, month, day), COMPRESSION zstd)''')
"""


def records(path):
    """The CloudTrail records a corpus file holds (whatever its format), as dicts."""
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return []
    found = []
    if path.suffix == ".ndjson":
        for line in text.splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    else:
        try:
            doc = json.loads(text)
        except ValueError:
            return []
        if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
            found = doc["Records"]
        elif isinstance(doc, list):
            found = doc
        elif isinstance(doc, dict):
            found = [doc]
    return [r for r in found if isinstance(r, dict) and ("eventName" in r or "eventTime" in r)]


def place(record):
    """(account, region, day) the event is delivered to in the tree."""
    identity = record.get("userIdentity") if isinstance(record.get("userIdentity"), dict) else {}
    account = next((a for a in (record.get("recipientAccountId"), identity.get("accountId"))
                    if isinstance(a, str) and ACCOUNT.match(a)), "123456789012")
    region = record.get("awsRegion")
    region = region if isinstance(region, str) and REGION.match(region) else "us-east-1"
    when = record.get("eventTime")
    try:
        day = date.fromisoformat(when[:10]) if isinstance(when, str) else date(2014, 1, 1)
    except ValueError:
        day = date(2014, 1, 1)
    return account, region, day


def build(src):
    """Write the tree; return (events, trails, date folders, first day, last day)."""
    by_place = defaultdict(list)
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.name.endswith((".json", ".json.gz", ".ndjson")):
            for record in records(path):
                by_place[place(record)].append(record)
    for (account, region, day), events in by_place.items():
        folder = src / "AWSLogs" / account / "CloudTrail" / region / f"{day:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{account}_CloudTrail_{region}_{day:%Y%m%d}T0000Z_discoverybench.json.gz"
        (folder / name).write_bytes(gzip.compress(json.dumps({"Records": events}).encode()))
    days = [d for (_, _, d) in by_place]
    trails = {(a, r) for (a, r, _) in by_place}
    return sum(map(len, by_place.values())), len(trails), len(by_place), min(days), max(days)


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3, help="rounds; the fastest of each tool is shown")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ctparquet-discovery-"))
    try:
        src = work / "src"
        events, trails, folders, first, last = build(src)
        span = (last - first).days + 1
        print(f"{events} events in {trails} trails (account, region) and {folders} date folders, "
              f"{first} .. {last} ({span} days: {trails * span} (trail, day) pairs)")

        glue = json.loads(subprocess.run([BIN, "ddl", "glue", "s3://x/y", "--account-projection", "injected"],
                                         check=True, capture_output=True, text=True).stdout)
        cast = {"string": "r->>'{n}'", "boolean": "TRY_CAST(r->>'{n}' AS BOOLEAN)",
                "timestamp": "TRY_CAST(r->>'{n}' AS TIMESTAMPTZ)"}
        columns = ", ".join(cast.get(c["type"], "r->'{n}'").format(n=c["name"]) + f' AS "{c["name"]}"'
                            for c in glue["columns"] if c["name"] not in ("eventTime", "unmapped"))
        duck_out = work / "duckdb"
        job = DUCKDB_JOB.format(columns=columns, glob=f"{src}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz", dest=duck_out)

        scope = ["--from", str(first), "--to", str(last)]
        best = defaultdict(lambda: float("inf"))
        notes = {}
        for _ in range(args.runs):
            out = work / "ctparquet"
            shutil.rmtree(out, ignore_errors=True)
            wall, stdout = timed([BIN, "convert", src, out, *scope, "--skip-bad-files", "--json"])
            summary = json.loads(stdout)
            best["ctparquet convert"] = min(best["ctparquet convert"], wall)
            notes["ctparquet convert"] = (f"{summary['events_written']} events written, {len(summary['days'])} days, "
                                          f"{summary['source_files_read']} files read")
            wall, stdout = timed([BIN, "backfill", src, *scope, "--plan", "--json"])
            plan = json.loads(stdout)
            best["ctparquet backfill --plan"] = min(best["ctparquet backfill --plan"], wall)
            notes["ctparquet backfill --plan"] = (f"{len(plan['plan']['units'])} units, "
                                                  f"{plan['requests']['list']} LIST requests")
            shutil.rmtree(duck_out, ignore_errors=True)
            wall, _ = timed([str(ROOT / ".venv/bin/python"), "-c", job])
            best["DuckDB (read_json of the tree)"] = min(best["DuckDB (read_json of the tree)"], wall)
            notes["DuckDB (read_json of the tree)"] = f"{sum(1 for _ in duck_out.rglob('*.parquet'))} files written"
        for tool, wall in best.items():
            print(f"{tool:<32} {wall:>7.2f} s   {notes[tool]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
