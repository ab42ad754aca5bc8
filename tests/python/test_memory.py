"""--memory-budget bounds what is inflated, not only what is compressed: a day of delivery files
that each hold one huge record (a tiny gzip inflating to 100 MiB) converts in less memory than
those records take together. Files are decoded one at a time once their inflated sizes (from the
gzip trailer) fill the budget, each huge row is spilled, merged and encoded alone."""

import gzip
import json
import subprocess
import sys

import pyarrow.parquet as pq

from conftest import BIN

RECORD = 100 * 1024 * 1024
FILES = 5


def peak_rss_mb(args):
    """Run ctparquet in a fresh Python whose only child it is; return (exit code, peak RSS MB)."""
    probe = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
             "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")
    out = subprocess.run([sys.executable, "-c", probe, str(BIN), *map(str, args)],
                         capture_output=True, text=True, check=True)
    rc, peak = out.stdout.split()[-2:]
    return int(rc), int(peak)


def test_huge_records_stay_within_the_budget_plus_one_record(tmp_path):
    folder = tmp_path / "src" / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2026" / "01" / "04"
    folder.mkdir(parents=True)
    for i in range(FILES):
        record = {"eventVersion": "1.11", "eventID": f"g{i}", "eventTime": f"2026-01-04T10:00:0{i}Z",
                  "eventName": "Big", "requestParameters": {"blob": str(i) * RECORD}}
        name = f"111122223333_CloudTrail_us-east-1_20260104T0000Z_g{i}.json.gz"
        (folder / name).write_bytes(gzip.compress(json.dumps({"Records": [record]}).encode(), compresslevel=1))
    dest = tmp_path / "out"
    rc, peak = peak_rss_mb(["convert", tmp_path / "src", dest, "--date", "2026-01-04",
                            "--memory-budget", "32MiB", "--quiet"])
    assert rc == 0
    # Before inflation was budgeted, the five records were inflated, held and merged together:
    # 3.3x their size at peak. Now one at a time.
    assert peak < FILES * RECORD / 2**20, f"peak RSS {peak} MB"
    [part] = list(dest.rglob("*.parquet"))
    table = pq.read_table(part, columns=["eventID", "requestParameters"])
    assert table.column("eventID").to_pylist() == [f"g{i}" for i in range(FILES)]
    lengths = [len(v) for v in table.column("requestParameters").to_pylist()]
    assert lengths == [RECORD + len('{"blob":""}')] * FILES
