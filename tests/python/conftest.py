"""Fixtures: a generated CloudTrail tree converted by the real ctparquet binary."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CTPARQUET_BIN", ROOT / "target" / "debug" / "ctparquet"))

# Jan 30 .. Feb 1 crosses a month end; folders Jan 30 .. Feb 2 are generated.
FROM, TO = "2026-01-30", "2026-02-01"
ACCOUNTS = ["012345678901", "444455556666"]
REGIONS = ["us-east-1", "eu-west-1"]


def run(*args):
    out = subprocess.run([str(BIN), *map(str, args)], check=True, capture_output=True, text=True)
    return out.stdout


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """(dest, summary) of a converted 3-day, 2-account, 2-region tree."""
    assert BIN.is_file(), f"build the binary first: {BIN}"
    base = tmp_path_factory.mktemp("ct")
    src, dest = base / "src", base / "out"
    run("gen", src, "--accounts", ",".join(ACCOUNTS), "--regions", ",".join(REGIONS),
        "--start", FROM, "--days", 4, "--files-per-day", 48, "--events-per-file", 20,
        "--duplicate-fraction", 0.02)
    summary = json.loads(run("convert", src, dest, "--from", FROM, "--to", TO, "--json"))
    assert summary["failed_days"] == [] and summary["events_written"] > 0
    return dest, summary


@pytest.fixture
def with_garbage(converted, tmp_path):
    """A copy of the output where every file of day 2026-01-31 is replaced by garbage: a reader
    that opens any of them fails, so a query that succeeds proves those files were pruned."""
    dest, summary = converted
    copy = tmp_path / "out"
    shutil.copytree(dest, copy)
    poisoned = list(copy.glob("account=*/region=*/year=2026/month=01/day=31/*.parquet"))
    assert poisoned
    for f in poisoned:
        f.write_bytes(b"this is not parquet")
    return copy, summary


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """cargo-lambda's Lambda emulator on 127.0.0.1, one per test module."""
    from support.lambda_emulator import Emulator

    e = Emulator(tmp_path_factory.mktemp("emulator"))
    yield e
    e.stop()


@pytest.fixture(scope="module")
def server():
    """moto in server mode (S3, SQS, Firehose) on 127.0.0.1, one per test module."""
    from support.s3 import MotoServer

    s = MotoServer()
    yield s
    s.stop()
