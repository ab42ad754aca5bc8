"""The Lambda end to end: the real ctparquet-lambda binary under cargo-lambda's emulator,
invoked with an EventBridge scheduled event, SQS batches and direct jobs, reading from and
writing to an S3-compatible server (moto, HTTP on 127.0.0.1) that also serves SQS; DuckDB reads
what it wrote."""

import datetime
import json
import os
import shutil
import subprocess

import boto3
import pytest

from conftest import BIN, ROOT, run as ctparquet
from support.lambda_emulator import LAMBDA_BIN, metrics, scheduled_event, sqs_event
from support.s3 import CREDENTIALS, download_prefix, duckdb_s3, hive_scan, upload_tree

REAL_ORG_TREE = ROOT / "tests/data/real-cloudtrail/cloud-snitch/backend/report/testdata/aws-cloudtrail-logs"
ACCOUNTS = ["111122223333", "012345678901"]
REGIONS = ["us-east-1", "eu-west-1"]


def sqs(server):
    return boto3.client("sqs", endpoint_url=server.endpoint, aws_access_key_id="test",
                        aws_secret_access_key="test", region_name="us-east-1")


@pytest.fixture(scope="module")
def trail(tmp_path_factory, server):
    """Generated trails (Jan 30 .. Feb 2 folders) and the real organization trail, under
    s3://logs/trail, and a copy with one corrupt delivery file under s3://logs/badtrail."""
    base = tmp_path_factory.mktemp("lambda")
    src = base / "src"
    ctparquet("gen", src, "--accounts", ",".join(ACCOUNTS), "--regions", ",".join(REGIONS),
              "--start", "2026-01-30", "--days", 4, "--files-per-day", 12, "--events-per-file", 10)
    shutil.copytree(REAL_ORG_TREE / "AWSLogs", src / "AWSLogs", dirs_exist_ok=True)
    client = server.client()
    for bucket in ("logs", "lake"):
        client.create_bucket(Bucket=bucket)
    upload_tree(client, src, "logs", "trail")
    upload_tree(client, src, "logs", "badtrail")
    client.put_object(Bucket="logs", Body=b"\x1f\x8b this is not gzip",
                      Key="badtrail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/30/bad.json.gz")
    return {"src": src, "base": base}


def expected(trail, first, last, **filters):
    """events written by the CLI for the same days (the reference), per (account, region, date)."""
    dest = trail["base"] / f"ref-{first}-{last}"
    summary = json.loads(ctparquet("convert", trail["src"], dest, "--from", first, "--to", last, "--json"))
    return {(d["account"], d["region"], d["date"]): d["events"] for d in summary["days"]
            if all(d[k] in v for k, v in filters.items())}


def env(server, dest, **extra):
    e = dict(CREDENTIALS)
    e.update({
        "AWS_ENDPOINT_URL": server.endpoint,
        "CTPARQUET_SOURCE": "s3://logs/trail",
        "CTPARQUET_DEST": dest,
        "CTPARQUET_S3_ALLOW_HTTP": "true",
        "CTPARQUET_DEADLINE_MARGIN_SECS": "5",
        "RUST_LOG": "info",
    })
    e.update({k: str(v) for k, v in extra.items()})
    return e


def counts_by_day(server, url):
    rows = duckdb_s3(server.endpoint, {"days": f"""
        SELECT account, region, printf('%04d-%02d-%02d', year, month, day) AS date, count(*)
        FROM {hive_scan(url)} GROUP BY ALL ORDER BY ALL"""})["days"]
    return {(a, r, d): n for a, r, d, n in rows}


def queue(server, name):
    client = sqs(server)
    return client, client.create_queue(QueueName=name)["QueueUrl"]


def drain(client, url):
    """Every message now in the queue (received, left undeleted)."""
    out = []
    while True:
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages", [])
        if not got:
            return out
        out.extend(got)


def test_scheduled_event_converts_yesterday(server, emulator, trail):
    want = expected(trail, "2026-01-31", "2026-01-31")
    with emulator.function(env(server, "s3://lake/scheduled")) as log:
        ok, body = emulator.invoke(scheduled_event("2026-02-01T01:15:00Z"))
    assert ok, body
    assert body["failed"] == [] and body["fanned_out"] == 0
    assert {(u["account"], u["region"]) for u in body["converted"]} >= {(a, r) for a in ACCOUNTS for r in REGIONS}
    assert {(u["from"], u["to"]) for u in body["converted"]} == {("2026-01-31", "2026-01-31")}
    # DuckDB over S3 sees exactly the CLI's events for that day, and nothing else.
    assert counts_by_day(server, "s3://lake/scheduled") == want
    # One EMF line with the numbers, and JSON log lines carrying the request id.
    [m] = metrics(log)
    assert m["Trigger"] == "schedule" and m["EventsWritten"] == sum(want.values())
    assert m["FilesRead"] > 0 and m["LateEventsMoved"] >= 0 and m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ctparquet"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("span", {}).get("requestId") for line in lines if "fields" in line)


def test_sqs_batch_fails_only_its_bad_messages(server, emulator, trail):
    messages = [
        ("m-good-1", json.dumps({"date": "2026-01-31", "accounts": ["012345678901"]})),
        ("m-malformed", json.dumps({"day": "2026-01-31"})),
        # A day with a corrupt delivery file: converting it fails (a poison message).
        ("m-poison", json.dumps({"date": "2026-01-30", "accounts": ["111122223333"], "regions": ["us-east-1"]})),
        ("m-good-2", json.dumps({"date": "2026-02-01", "regions": ["eu-west-1"], "accounts": ACCOUNTS})),
    ]
    with emulator.function(env(server, "s3://lake/sqs", CTPARQUET_SOURCE="s3://logs/badtrail")) as log:
        ok, body = emulator.invoke(sqs_event(messages))
    assert ok, body
    assert sorted(f["itemIdentifier"] for f in body["batchItemFailures"]) == ["m-malformed", "m-poison"]
    text = log.read_text()
    assert "unknown field `day`" in text and "bad.json.gz" in text
    want = expected(trail, "2026-01-31", "2026-01-31", account=["012345678901"])
    want.update(expected(trail, "2026-02-01", "2026-02-01", region=["eu-west-1"], account=ACCOUNTS))
    assert counts_by_day(server, "s3://lake/sqs") == want
    [m] = metrics(log)
    assert m["Trigger"] == "sqs" and m["FailedMessages"] == 2 and m["BadFiles"] == 1


def test_a_large_job_fans_out_and_its_messages_convert(server, emulator, trail):
    client, url = queue(server, "fanout")
    job = {"from": "2026-01-30", "to": "2026-02-01", "accounts": ACCOUNTS}
    with emulator.function(env(server, "s3://lake/fanout", CTPARQUET_QUEUE_URL=url, CTPARQUET_INLINE_MAX_UNITS=2)):
        ok, body = emulator.invoke(job)
        assert ok, body
        # A unit per account and region, its three days together (one run reads each folder once).
        units = len(ACCOUNTS) * len(REGIONS)
        assert body["units"] == units and body["fanned_out"] == units and body["converted"] == []
        received = drain(client, url)
        assert len(received) == units
        jobs = [json.loads(m["Body"]) for m in received]
        assert all(len(j["accounts"]) == 1 and len(j["regions"]) == 1 for j in jobs)
        assert all((j["from"], j["to"]) == ("2026-01-30", "2026-02-01") for j in jobs)
        # The queue's messages, delivered as SQS events, convert every unit.
        for i in range(0, len(received), 10):
            ok, body = emulator.invoke(sqs_event(received[i:i + 10]))
            assert ok and body["batchItemFailures"] == [], body
    assert counts_by_day(server, "s3://lake/fanout") == expected(trail, "2026-01-30", "2026-02-01", account=ACCOUNTS)


def test_work_left_at_the_deadline_is_handed_back_not_cut_off(server, emulator, trail):
    client, url = queue(server, "handback")
    # A margin longer than the invocation's time: no unit may start.
    with emulator.function(env(server, "s3://lake/late", CTPARQUET_QUEUE_URL=url,
                               CTPARQUET_DEADLINE_MARGIN_SECS=100000)):
        ok, body = emulator.invoke({"date": "2026-01-31", "accounts": ACCOUNTS, "fanout": False})
        assert ok, body
        assert body["handed_back"] == 4 and body["converted"] == [] and body["failed"] == []
        # An SQS message that cannot start is re-sent as it is, not failed (no receive spent).
        ok, sqs_body = emulator.invoke(sqs_event([("m1", json.dumps({"date": "2026-02-01"}))]))
        assert ok and sqs_body["batchItemFailures"] == []
    bodies = sorted(json.dumps(json.loads(m["Body"]), sort_keys=True) for m in drain(client, url))
    assert len(bodies) == 5 and json.dumps({"date": "2026-02-01"}) in bodies
    listed = server.client().list_objects_v2(Bucket="lake", Prefix="late/")
    assert listed.get("KeyCount", 0) == 0


def test_a_day_longer_than_an_invocation_is_saved_and_resumed(server, emulator, tmp_path):
    """Invocations with about a second each (the emulator gives 600 s; the margin takes 599):
    each starts the day, saves it at its deadline and hands the rest back over the queue; the
    messages resume it until it is written, byte for byte as by one invocation with time."""
    src = tmp_path / "src"
    ctparquet("gen", src, "--accounts", "222233334444", "--regions", "eu-west-1", "--start", "2026-03-10",
              "--days", 1, "--files-per-day", 400, "--events-per-file", 40)
    client = server.client()
    for bucket in ("logs", "lake"):
        if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
            client.create_bucket(Bucket=bucket)
    upload_tree(client, src, "logs", "bigday")
    job = {"date": "2026-03-10", "fanout": False}
    with emulator.function(env(server, "s3://lake/bigday-ref", CTPARQUET_SOURCE="s3://logs/bigday")):
        ok, body = emulator.invoke(job)
        assert ok and body["handed_back"] == 0 and len(body["converted"]) == 1, body
    queue_client, url = queue(server, "resume")
    short = env(server, "s3://lake/bigday", CTPARQUET_SOURCE="s3://logs/bigday", CTPARQUET_QUEUE_URL=url,
                CTPARQUET_DEADLINE_MARGIN_SECS=599)
    invocations, saved = 0, 0
    with emulator.function(short):
        ok, body = emulator.invoke(job)
        assert ok and body["failed"] == [], body
        while True:
            invocations += 1
            # Each invocation routes at least a file (400 files, a late folder, the last finishes).
            assert invocations < 450, "no progress"
            saved += any(k.startswith("_ctparquet/resume/") for k in download_keys(client, "lake", "bigday"))
            received = drain(queue_client, url)
            if not received:
                break
            # What was handed back is the rest of the unit, from its first day not written.
            assert [json.loads(m["Body"])["date"] for m in received] == ["2026-03-10"]
            ok, body = emulator.invoke(sqs_event(received))
            assert ok and body["batchItemFailures"] == [], body
    assert invocations > 2 and saved > 0, (invocations, saved)
    written = download_prefix(client, "lake", "bigday")
    assert written == download_prefix(client, "lake", "bigday-ref")
    assert not [k for k in written if k.startswith("_ctparquet")]


def download_keys(client, bucket, prefix):
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    return [o["Key"][len(prefix) + 1:] for o in listed.get("Contents", [])]


def test_bad_events_and_settings_are_named(server, emulator, trail, tmp_path):
    with emulator.function(env(server, "s3://lake/bad")):
        ok, body = emulator.invoke({"from": "2026-02-01", "to": "2026-01-01"})
        assert not ok and body["errorType"] == "InvalidEvent" and "after it ends" in body["errorMessage"]
        ok, body = emulator.invoke({"date": "2026-01-31", "fanout": True})
        assert not ok and "CTPARQUET_QUEUE_URL" in body["errorMessage"]
    # A bad setting stops the function at start, naming the variable.
    bad = dict(os.environ, **env(server, "s3://lake/bad", CTPARQUET_COMPRESSION="zip"))
    out = subprocess.run([str(LAMBDA_BIN)], env=bad, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "CTPARQUET_COMPRESSION" in out.stderr + out.stdout


def test_backfill_enqueues_one_message_per_day(server, trail):
    client, url = queue(server, "backfill")
    e = dict(os.environ, **CREDENTIALS, AWS_ENDPOINT_URL=server.endpoint)
    out = subprocess.run([str(BIN), "backfill", "--from", "2026-01-01", "--to", "2026-01-31",
                          "--accounts", "111122223333", "--enqueue", url], env=e, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    jobs = sorted((json.loads(m["Body"]) for m in drain(client, url)), key=lambda j: j["date"])
    assert len(jobs) == 31
    assert jobs[0] == {"date": "2026-01-01", "accounts": ["111122223333"]}
    assert jobs[-1]["date"] == "2026-01-31"


def test_backfill_plans_units_of_consecutive_days_from_the_source(server, trail):
    """`backfill SOURCE --plan` lists the source once (years, months, the folders that exist, for
    their sizes) and cuts each trail's days into units; `--enqueue` sends one message per unit."""
    e = dict(os.environ, **CREDENTIALS, AWS_ENDPOINT_URL=server.endpoint, AWS_ALLOW_HTTP="true")
    account = ACCOUNTS[0]
    args = [str(BIN), "backfill", "s3://logs/trail", "--from", "2025-12-01", "--to", "2026-03-31",
            "--accounts", account]
    out = subprocess.run(args + ["--plan", "--json"], env=e, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    planned = json.loads(out.stdout)
    plan, requests = planned["plan"], planned["requests"]
    assert plan["trails"] == len(REGIONS)
    # The generated folders (Jan 30 .. Feb 2, and late deliveries after) follow one another: one
    # unit per trail, from the day before the first folder, sized by the bytes it reads.
    sizes = {}
    for path in (trail["src"] / "AWSLogs" / account / "CloudTrail").rglob("*.json.gz"):
        region = path.relative_to(trail["src"] / "AWSLogs" / account / "CloudTrail").parts[0]
        sizes[region] = sizes.get(region, 0) + path.stat().st_size
    units = {u["region"]: u for u in plan["units"]}
    assert set(units) == set(REGIONS) and len(plan["units"]) == len(REGIONS)
    for region, unit in units.items():
        assert unit["from"] == "2026-01-29" and unit["account"] == account
        assert unit["bytes"] == sizes[region]
    assert plan["bytes"] == sum(sizes.values())
    # Discovery (AWSLogs, organization, accounts, their folders), then per trail its region root,
    # one year (2026; 2025 has no folder), one month, and each date folder: far from a listing
    # per day and trail (2 x 121).
    assert requests["list"] <= 12 + len(REGIONS) * (1 + 1 + 1 + plan["folders"] // len(REGIONS)), requests
    assert requests["get"] == 0

    # Units of one byte: a day that reads a folder the unit does not already read starts a unit;
    # every day of the large unit is in exactly one small one.
    out = subprocess.run(args + ["--plan", "--json", "--unit-bytes", "1"], env=e, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    small = json.loads(out.stdout)["plan"]["units"]
    east = [u for u in small if u["region"] == "us-east-1"]
    assert len(east) > 1

    def days(unit):
        first, last = (datetime.date.fromisoformat(unit[k]) for k in ("from", "to"))
        return [first + datetime.timedelta(n) for n in range((last - first).days + 1)]
    assert [d for u in east for d in days(u)] == days(units["us-east-1"])

    client, url = queue(server, "backfill-units")
    out = subprocess.run(args + ["--enqueue", url], env=e, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    jobs = sorted((json.loads(m["Body"]) for m in drain(client, url)), key=lambda j: j["regions"])
    assert jobs == [{"from": units[r]["from"], "to": units[r]["to"], "accounts": [account], "regions": [r]}
                    for r in sorted(REGIONS)]


def footer_values(files, key):
    """{relative key: value of `key` in the Parquet footer} of downloaded part files."""
    import io
    import pyarrow.parquet as pq
    return {rel: (pq.ParquetFile(io.BytesIO(body)).metadata.metadata or {}).get(key.encode(), b"").decode()
            for rel, body in files.items() if rel.endswith(".parquet")}


@pytest.fixture()
def old_lake(server, trail, tmp_path):
    """s3://lake/<name>: a day written by a release before schema revisions (no source JSON
    anywhere) beside days this release converted."""
    def make(name):
        client = server.client()
        upload_tree(client, ROOT / "tests/data/upgrade/revision-0", "lake", name)
        ctparquet("convert", trail["src"], tmp_path / name, "--from", "2026-01-31", "--to", "2026-01-31",
                  "--accounts", ACCOUNTS[1], "--regions", REGIONS[0])
        upload_tree(client, tmp_path / name, "lake", name)
        return f"s3://lake/{name}"
    return make


def test_an_upgrade_fans_out_over_the_queue_and_rewrites_only_old_days(server, emulator, old_lake):
    lake = old_lake("upgrade")
    client, url = queue(server, "upgrades")
    before = download_prefix(server.client(), "lake", "upgrade")
    assert sorted(footer_values(before, "ctparquet.schema_revision").values()) == ["", "1"]
    rows_before = counts_by_day(server, lake)
    upgrade = {"upgrade": {"from": "2026-01-01", "to": "2026-01-31", "fanout": True}}
    with emulator.function(env(server, lake, CTPARQUET_QUEUE_URL=url)) as log:
        ok, body = emulator.invoke(upgrade)
        assert ok, body
        # One message per day the lake holds (listed from the lake: there is no source).
        assert body["units"] == 2 and body["fanned_out"] == 2, body
        received = drain(client, url)
        messages = sorted((json.loads(m["Body"]) for m in received), key=lambda m: m["upgrade"]["date"])
        assert messages == [
            {"upgrade": {"date": "2026-01-04", "accounts": ["111122223333"], "regions": ["eu-west-1"]}},
            {"upgrade": {"date": "2026-01-31", "accounts": [ACCOUNTS[1]], "regions": [REGIONS[0]]}},
        ]
        ok, body = emulator.invoke(sqs_event(received))
        assert ok and body["batchItemFailures"] == [], body
        # Run again, here: every day is current, and nothing is rewritten.
        ok, body = emulator.invoke({"upgrade": {"from": "2026-01-01", "to": "2026-01-31", "fanout": False}})
        assert ok and body["upgraded"] == [] and len(body["current"]) == 2 and body["failed"] == [], body
    after = download_prefix(server.client(), "lake", "upgrade")
    assert set(footer_values(after, "ctparquet.schema_revision").values()) == {"1"}
    current = [k for k in before if "day=31" in k]
    assert current and all(after[k] == before[k] for k in current), "a current day was rewritten"
    assert counts_by_day(server, lake) == rows_before
    assert "day upgraded" in log.read_text()


def test_upgrade_enqueue_sends_only_the_days_to_upgrade(server, old_lake):
    lake = old_lake("upgrade-enqueue")
    client, url = queue(server, "upgrade-cli")
    e = dict(os.environ, **CREDENTIALS, AWS_ENDPOINT_URL=server.endpoint, CTPARQUET_S3_ALLOW_HTTP="true")
    out = subprocess.run([str(BIN), "upgrade", lake, "--enqueue", url, "--json"], env=e, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["enqueued"] == 1
    assert [json.loads(m["Body"]) for m in drain(client, url)] == [
        {"upgrade": {"date": "2026-01-04", "accounts": ["111122223333"], "regions": ["eu-west-1"]}}]


def test_the_package_holds_a_linux_x86_64_bootstrap():
    # scripts/test.sh runs these tests on the binary unzipped from `cargo lambda build`'s zip.
    if os.environ.get("CTPARQUET_LAMBDA_BIN"):
        assert LAMBDA_BIN.name == "bootstrap"
        zipped = ROOT / "target" / "lambda" / "ctparquet-lambda" / "bootstrap.zip"
        import zipfile
        assert zipfile.ZipFile(zipped).namelist() == ["bootstrap"]
    head = LAMBDA_BIN.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and head[4] == 2  # 64-bit
    assert int.from_bytes(head[18:20], "little") == 0x3E  # x86-64
    out = subprocess.run([str(LAMBDA_BIN), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "CTPARQUET_SOURCE" in out.stdout
