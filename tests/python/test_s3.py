"""S3 in and out against a real S3-compatible server (moto, HTTP on 127.0.0.1), with faults
injected by a proxy between the converter and the server."""

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import BIN, ROOT
from support.s3 import CREDENTIALS, FaultProxy, Rule, download_prefix, upload_tree

REAL_ORG_TREE = ROOT / "tests/data/real-cloudtrail/cloud-snitch/backend/report/testdata/aws-cloudtrail-logs"
# (from, to) ranges converted: generated days across a month end, and the real deliveries' days.
RANGES = [("2026-01-30", "2026-02-01"), ("2025-03-05", "2025-03-06")]
DUCKDB_S3_PYTHON = ROOT / ".venv-duckdb-s3" / "bin" / "python"


def ctparquet(*args, endpoint=None, check=True):
    env = dict(os.environ, **CREDENTIALS)
    extra = ["--s3-endpoint", endpoint, "--s3-allow-http"] if endpoint else []
    out = subprocess.run([str(BIN), *map(str, args), *extra], env=env, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"ctparquet {args} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def convert_all(src, dest, endpoint=None, extra=()):
    summaries = []
    for a, b in RANGES:
        out = ctparquet("convert", src, dest, "--from", a, "--to", b, "--json", *extra, endpoint=endpoint)
        summaries.append(json.loads(out.stdout))
    return summaries


def local_files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*.parquet"))}


@pytest.fixture(scope="module")
def tree(tmp_path_factory, server):
    """A delivery tree (generated account trail + real organization trail), uploaded to
    s3://logs/trail, and its local conversion for comparison."""
    base = tmp_path_factory.mktemp("s3")
    src = base / "src"
    ctparquet("gen", src, "--accounts", "111122223333,012345678901", "--regions", "us-east-1,eu-west-1",
              "--start", "2026-01-30", "--days", 3, "--files-per-day", 24, "--events-per-file", 10)
    shutil.copytree(REAL_ORG_TREE / "AWSLogs", src / "AWSLogs", dirs_exist_ok=True)
    client = server.client()
    for bucket in ("logs", "lake"):
        client.create_bucket(Bucket=bucket)
    # Something outside the source prefix that must never be read.
    client.put_object(Bucket="logs", Key="other/AWSLogs/999999999999/CloudTrail/us-east-1/2026/01/30/x.json.gz", Body=b"x")
    uploaded = upload_tree(client, src, "logs", "trail")
    local = base / "local"
    summaries = convert_all(src, local)
    assert sum(s["events_written"] for s in summaries) > 1000
    return {"src": src, "local": local, "uploaded": uploaded, "base": base, "summaries": summaries}


def test_s3_to_s3_is_byte_identical_to_local(server, tree):
    summaries = convert_all("s3://logs/trail", "s3://lake/ct", endpoint=server.endpoint)
    assert [s["events_written"] for s in summaries] == [s["events_written"] for s in tree["summaries"]]
    assert summaries[0]["source_files_read"] > 0 and summaries[0]["bad_files"] == []
    remote = download_prefix(server.client(), "lake", "ct")
    assert remote == local_files(tree["local"])
    # verify reads the S3 source again and proves the S3 destination holds exactly it.
    for a, b in RANGES:
        out = ctparquet("verify", "s3://logs/trail", "s3://lake/ct", "--from", a, "--to", b, "--json",
                        endpoint=server.endpoint)
        report = json.loads(out.stdout)
        assert report["differences"] == [] and report["destination_rows"] > 0


def test_mixed_s3_and_local(server, tree):
    out = tree["base"] / "from-s3"
    convert_all("s3://logs/trail", out, endpoint=server.endpoint)
    assert local_files(out) == local_files(tree["local"])
    convert_all(tree["src"], "s3://lake/from-local", endpoint=server.endpoint)
    assert download_prefix(server.client(), "lake", "from-local") == local_files(tree["local"])


def test_polars_reads_the_s3_output(server, tree):
    convert_all("s3://logs/trail", "s3://lake/polars", endpoint=server.endpoint)
    storage = {"aws_endpoint_url": server.endpoint, "aws_access_key_id": "test", "aws_secret_access_key": "test",
               "aws_region": "us-east-1", "aws_allow_http": "true"}
    lf = pl.scan_parquet("s3://lake/polars/", hive_partitioning=True, storage_options=storage, hive_schema={
        "account": pl.String, "region": pl.String, "year": pl.Int16, "month": pl.Int8, "day": pl.Int8})
    total = sum(s["events_written"] for s in tree["summaries"])
    assert lf.select(pl.len()).collect().item() == total
    n = lf.filter((pl.col("account") == "012345678901") & (pl.col("day") == 31)).select(pl.len()).collect().item()
    assert n == sum(d["events"] for s in tree["summaries"] for d in s["days"]
                    if d["account"] == "012345678901" and d["date"].endswith("-31"))


def test_duckdb_reads_the_s3_output(server, tree):
    # DuckDB reads S3 through its httpfs extension; the only one installable offline is built for
    # DuckDB 1.4.4 (PyPI duckdb-ext-httpfs), so this reader runs in its own venv (scripts/test.sh).
    assert DUCKDB_S3_PYTHON.exists(), f"missing {DUCKDB_S3_PYTHON}: run scripts/test.sh"
    convert_all("s3://logs/trail", "s3://lake/duck", endpoint=server.endpoint)
    host = server.endpoint.removeprefix("http://")
    script = f"""
import duckdb, duckdb_ext, os, json
ext = os.path.join(os.path.dirname(duckdb_ext.__path__[0]), "duckdb_ext", "extensions")
con = duckdb.connect(config={{"extension_directory": ext, "autoinstall_known_extensions": False}})
con.execute("SET enable_progress_bar = false")
con.execute("LOAD httpfs")
con.execute("CREATE SECRET (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1', ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
scan = "read_parquet('s3://lake/duck/**/*.parquet', hive_partitioning=true, hive_types={{'year': BIGINT, 'month': BIGINT, 'day': BIGINT}})"
total = con.execute(f"SELECT count(*) FROM {{scan}}").fetchone()[0]
types = dict((r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {{scan}}").fetchall())
day = con.execute(f"SELECT count(*) FROM {{scan}} WHERE year = 2025 AND month = 3 AND day = 6").fetchone()[0]
print(json.dumps({{"total": total, "account": types["account"], "year": types["year"], "day": day}}))
"""
    out = subprocess.run([str(DUCKDB_S3_PYTHON), "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["total"] == sum(s["events_written"] for s in tree["summaries"])
    assert got["account"] == "VARCHAR" and got["year"] == "BIGINT"
    assert got["day"] == sum(d["events"] for d in tree["summaries"][1]["days"] if d["date"] == "2025-03-06")


@pytest.fixture
def proxy(server):
    p = FaultProxy(server.port, latency=0.002)
    yield p
    p.stop()


def test_transient_faults_are_retried(server, tree, proxy):
    # 503 SlowDown on listings and reads, dropped connections, a write cut off midway.
    proxy.add(Rule("503", method="GET", path=r"list-type=2|delimiter", times=3))
    proxy.add(Rule("503", method="GET", path=r"\.json\.gz", times=5))
    proxy.add(Rule("500", method="GET", path=r"\.json\.gz", times=2))
    proxy.add(Rule("drop", method="GET", path=r"\.json\.gz", times=3))
    midway = proxy.add(Rule("midway", method="PUT", path=r"\.parquet", times=2))
    proxy.add(Rule("503", method="PUT", path=r"\.parquet", times=2))
    convert_all("s3://logs/trail", "s3://lake/faulty", endpoint=proxy.endpoint,
                extra=["--s3-max-retries", "6"])
    assert all(r.hits == r.times for r in proxy.rules), [(r.action, r.hits) for r in proxy.rules]
    assert midway.hits == 2
    assert download_prefix(server.client(), "lake", "faulty") == local_files(tree["local"])
    # Nothing outside the source prefix was listed or read; nothing written outside the destination.
    for method, path in proxy.requests:
        if method == "GET":
            assert path.startswith("/logs") and ("prefix=trail" in path or path.startswith("/logs/trail/")) \
                or path.startswith("/lake/faulty") or "prefix=faulty" in path, path
        elif (method, path) == ("POST", "/lake?delete"):
            # object_store deletes through DeleteObjects: the day's released lease.
            continue
        else:
            assert path.startswith("/lake/faulty/"), (method, path)


def test_exhausted_retries_leave_the_day_as_it_was(server, tree, proxy):
    a, b = RANGES[0]
    ctparquet("convert", "s3://logs/trail", "s3://lake/keep", "--from", a, "--to", b, endpoint=server.endpoint)
    before = download_prefix(server.client(), "lake", "keep")
    assert before
    # Every write to the destination fails: the run must fail, name the object, and change nothing.
    proxy.add(Rule("503", method="PUT", path=r"^/lake/keep/.*\.parquet", times=None))
    out = ctparquet("convert", "s3://logs/trail", "s3://lake/keep", "--from", a, "--to", b,
                    "--s3-max-retries", "2", endpoint=proxy.endpoint, check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "s3://lake/keep/account=" in out.stderr and "part-00000.parquet" in out.stderr, out.stderr
    assert download_prefix(server.client(), "lake", "keep") == before
    # A fresh destination gets nothing at all.
    proxy.add(Rule("503", method="PUT", path=r"^/lake/fresh/", times=None))
    out = ctparquet("convert", "s3://logs/trail", "s3://lake/fresh", "--from", a, "--to", b,
                    "--s3-max-retries", "1", endpoint=proxy.endpoint, check=False)
    assert out.returncode == 1
    assert download_prefix(server.client(), "lake", "fresh") == {}


def test_a_key_with_dot_dot_is_refused_by_name(server, tmp_path):
    # S3 allows a key with a ".." segment; object_store refuses to turn it into a path. The run
    # stops with an error naming the folder and the key, before writing anything of that day.
    client = server.client()
    client.create_bucket(Bucket="dots")
    folder = "t/AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/30/"
    body = gzip.compress(json.dumps({"Records": [{"eventID": "a", "eventTime": "2026-01-30T01:00:00Z"}]}).encode())
    client.put_object(Bucket="dots", Key=folder + "ok.json.gz", Body=body)
    client.put_object(Bucket="dots", Key=folder + "../evil.json.gz", Body=body)
    out = ctparquet("convert", "s3://dots/t", tmp_path / "out", "--date", "2026-01-30", endpoint=server.endpoint, check=False)
    assert out.returncode == 1
    assert "listing s3://dots/t/AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/30" in out.stderr
    assert '".."' in out.stderr
    assert not list((tmp_path / "out").rglob("*.parquet"))


def test_a_day_another_run_holds_is_left_to_it(server, tree):
    """Two writers of one day on S3: the second finds the day's lease (created with If-None-Match)
    held, waits, and reports the day not written without touching it."""
    a, _ = RANGES[0]
    client = server.client()
    ctparquet("convert", "s3://logs/trail", "s3://lake/held", "--date", a, endpoint=server.endpoint)
    before = download_prefix(client, "lake", "held")
    day = next(k for k in before if k.endswith("part-00000.parquet")).rsplit("/", 1)[0]
    lease = {"host": "another-machine", "pid": 4242, "start": 0,
             "acquired_ms": int(time.time() * 1000), "expires_ms": int(time.time() * 1000) + 3_600_000}
    client.put_object(Bucket="lake", Key=f"held/{day}/_ctparquet.lock", Body=json.dumps(lease).encode())
    out = ctparquet("convert", "s3://logs/trail", "s3://lake/held", "--date", a, "--lock-wait", "1",
                    "--allow-shrink", "--json", endpoint=server.endpoint, check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    failed = json.loads(out.stdout)["failed_days"]
    assert len(failed) == 1 and "pid 4242 on another-machine" in failed[0]["reason"], failed
    after = download_prefix(client, "lake", "held")
    assert {k: v for k, v in after.items() if not k.endswith(".lock")} == before
    # Once the lease ends (released here), the day converts again, and the lease is gone after.
    client.delete_object(Bucket="lake", Key=f"held/{day}/_ctparquet.lock")
    ctparquet("convert", "s3://logs/trail", "s3://lake/held", "--date", a, endpoint=server.endpoint)
    assert download_prefix(client, "lake", "held") == before
