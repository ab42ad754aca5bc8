"""The query pack (queries/duckdb) run by DuckDB against real CloudTrail converted by ctparquet,
each answer checked against the same question asked of the source JSON directly."""

import collections
import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import BIN, ROOT

REAL = ROOT / "tests/data/real-cloudtrail"
QUERIES = ROOT / "queries"
ACCOUNT = "123456789012"
EVERYTHING = {"from": "1970-01-01", "to": "2999-12-31"}


def event_day(record):
    t = record.get("eventTime")
    # ISO UTC, or the zone-less form some pipelines write (ctparquet reads both as UTC).
    if isinstance(t, str) and re.fullmatch(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,9})?Z?", t):
        return t[:10]
    return None


def deliver(root, account, day, name, records):
    y, m, d = day.split("-")
    folder = root / "AWSLogs" / account / "CloudTrail" / "us-east-1" / y / m / d
    folder.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"Records": records}).encode()
    (folder / f"{account}_CloudTrail_us-east-1_{y}{m}{d}T0000Z_{name}.json.gz").write_bytes(gzip.compress(body))


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Real events (invictus attack simulation, AWS documentation examples, Panther's rule-test
    events, a real organization trail) delivered on their own days, converted, with (partition
    account, record) pairs."""
    base = tmp_path_factory.mktemp("queries")
    src, dest = base / "src", base / "out"
    placed = []  # (account, record)
    sources = [json.loads(p.read_text())["Records"] for p in sorted((REAL / "invictus-aws_dataset/CloudTrail").glob("*.json"))]
    for p in sorted((REAL / "awsdocs-examples").glob("*.ndjson")) + [REAL / "panther-analysis/panther_cloudtrail_test_events.ndjson"]:
        sources.append([json.loads(line) for line in p.read_text().splitlines() if line.strip()])
    for i, records in enumerate(sources):
        by_day = collections.defaultdict(list)
        for r in records:
            if event_day(r):
                by_day[event_day(r)].append(r)
        for day, rs in by_day.items():
            deliver(src, ACCOUNT, day, f"s{i:03d}", rs)
            placed += [(ACCOUNT, r) for r in rs]
    org = REAL / "cloud-snitch/backend/report/testdata/aws-cloudtrail-logs/AWSLogs"
    shutil.copytree(org, src / "AWSLogs", dirs_exist_ok=True)
    for p in org.rglob("*.json.gz"):
        account = p.relative_to(org).parts[-7]
        placed += [(account, r) for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]
    days = sorted(event_day(r) for _, r in placed)
    out = subprocess.run([BIN, "convert", src, dest, "--from", days[0], "--to", days[-1], "--json"],
                         check=True, capture_output=True, text=True)
    summary = json.loads(out.stdout)
    # Exactly once: the expected answers are over distinct events; a record that reuses an
    # (eventID, eventTime) with other content (rule-test events share example ids) is another event.
    seen, unique = set(), []
    for account, r in placed:
        key = (r.get("eventID"), r.get("eventTime"), json.dumps(r, sort_keys=True))
        if key[0] is None or key not in seen:
            seen.add(key)
            unique.append((account, r))
    assert summary["events_written"] == len(unique)
    con = duckdb.connect()
    view = subprocess.run([BIN, "ddl", "duckdb", dest], check=True, capture_output=True, text=True).stdout
    con.execute(view)
    return con, unique


def run(con, name, **params):
    sql = (QUERIES / "duckdb" / f"{name}.sql").read_text()
    return con.execute(sql, {**EVERYTHING, **params}).fetchall()


def ui(r):
    return r.get("userIdentity") or {}


def test_console_logins_without_mfa(real):
    con, events = real
    want = sorted(r["eventTime"][:19].replace(" ", "T") + "Z" for _, r in events if r.get("eventName") == "ConsoleLogin"
                  and (r.get("additionalEventData") or {}).get("MFAUsed") == "No")
    got = sorted(row[0].strftime("%Y-%m-%dT%H:%M:%SZ") for row in run(con, "console_logins_without_mfa"))
    assert got == want and want


def test_root_activity(real):
    con, events = real
    want = sum(1 for _, r in events if ui(r).get("type") == "Root" and not ui(r).get("invokedBy")
               and r.get("eventType") != "AwsServiceEvent")
    assert len(run(con, "root_activity")) == want and want


def test_access_denied_by_principal(real):
    con, events = real
    codes = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation",
             "UnauthorizedAccess"}
    want = collections.Counter(
        ui(r).get("arn") or ui(r).get("principalId") or ui(r).get("invokedBy") or "(unknown)"
        for _, r in events if isinstance(r.get("errorCode"), str)
        and (r["errorCode"] in codes or "AccessDenied" in r["errorCode"]))
    got = {row[0]: row[1] for row in run(con, "access_denied_by_principal")}
    assert got == dict(want) and want


def test_iam_changes(real):
    con, events = real
    def change(r):
        if r.get("eventSource") != "iam.amazonaws.com" or r.get("errorCode") is not None:
            return False
        ro = r.get("readOnly")
        return ro is False or (ro is None and not re.match(r"^(Get|List|Generate|Simulate)", r.get("eventName", "")))
    want = sorted(r["eventName"] for _, r in events if change(r))
    got = sorted(row[2] for row in run(con, "iam_changes"))
    assert got == want and want


def test_sso_role_assumptions(real):
    con, events = real
    want = collections.Counter()
    for account, r in events:
        issuer = ((ui(r).get("sessionContext") or {}).get("sessionIssuer") or {}).get("userName") or ""
        if ui(r).get("type") == "AssumedRole" and issuer.startswith("AWSReservedSSO_"):
            user = ui(r).get("principalId", "").split(":")[1] if ":" in ui(r).get("principalId", "") else ""
            want[(user, issuer, account)] += 1
    got = {(row[0], row[1], row[2]): row[3] for row in run(con, "sso_role_assumptions")}
    assert got == dict(want) and want


def test_s3_bucket_policy_changes(real):
    con, events = real
    names = {"PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "PutBucketPublicAccessBlock",
             "DeleteBucketPublicAccessBlock", "PutBucketOwnershipControls"}
    want = sorted((r["eventName"], (r.get("requestParameters") or {}).get("bucketName") or "") for _, r in events
                  if r.get("eventSource") == "s3.amazonaws.com" and r.get("eventName") in names)
    got = sorted((row[2], row[3] or "") for row in run(con, "s3_bucket_policy_changes"))
    assert got == want and want


def test_new_access_keys(real):
    con, events = real
    want = sorted(((r.get("responseElements") or {}).get("accessKey") or {}).get("accessKeyId") or ""
                  for _, r in events if r.get("eventName") == "CreateAccessKey" and r.get("errorCode") is None)
    got = sorted(row[4] or "" for row in run(con, "new_access_keys"))
    assert got == want and want


def test_unusual_regions(real):
    con, events = real
    usual = ["us-east-1"]
    want = collections.Counter(r["awsRegion"] for _, r in events
                               if isinstance(r.get("awsRegion"), str) and r["awsRegion"] not in usual)
    got = {row[0]: row[1] for row in run(con, "unusual_regions", usual_regions=usual)}
    assert got == dict(want) and want


def test_date_predicate_prunes_across_a_month_end(with_garbage):
    # Day 2026-01-31 is garbage: a query whose range stops before or starts after it must not open it.
    dest, summary = with_garbage
    con = duckdb.connect()
    con.execute(subprocess.run([BIN, "ddl", "duckdb", dest], check=True, capture_output=True,
                               text=True).stdout)
    per_day = collections.Counter()
    for d in summary["days"]:
        per_day[d["date"]] += d["events"]
    for lo, hi, days in [("2025-12-01", "2026-01-30", ["2026-01-30"]), ("2026-02-01", "2026-03-31", ["2026-02-01"])]:
        n = con.execute("""SELECT count(*) FROM cloudtrail WHERE (year, month, day)
            BETWEEN (year($from::DATE), month($from::DATE), day($from::DATE)) AND (year($to::DATE), month($to::DATE), day($to::DATE))""",
                        {"from": lo, "to": hi}).fetchone()[0]
        assert n == sum(per_day[d] for d in days)
        for name in ("console_logins_without_mfa", "iam_changes", "unusual_regions"):
            sql = (QUERIES / "duckdb" / f"{name}.sql").read_text()
            params = {"from": lo, "to": hi, **({"usual_regions": ["us-east-1"]} if name == "unusual_regions" else {})}
            con.execute(sql, params).fetchall()
    # A range that includes the garbage day does open it (so the check above is not vacuous).
    with pytest.raises(duckdb.Error):
        con.execute("SELECT count(*) FROM cloudtrail WHERE (year, month, day) BETWEEN (2026, 1, 30) AND (2026, 2, 1)").fetchall()


def test_athena_pack_mirrors_the_duckdb_pack():
    duck = sorted(p.name for p in (QUERIES / "duckdb").glob("*.sql"))
    athena = sorted(p.name for p in (QUERIES / "athena").glob("*.sql"))
    assert duck == athena and len(duck) == 8
    for name in athena:
        sql = (QUERIES / "athena" / name).read_text()
        assert "year * 10000 + month * 100 + day BETWEEN ? AND ?" in sql, name
        assert "->>" not in sql and "$" not in sql.replace("'$.", ""), name


def test_athena_ddl_names_every_column_of_the_files(converted):
    import pyarrow.parquet as pq
    dest, _ = converted
    ddl = subprocess.run([BIN, "ddl", "athena", "s3://lake/ct", "--accounts", "012345678901"], check=True, capture_output=True,
                         text=True).stdout
    f = next(dest.rglob("*.parquet"))
    for name in pq.read_schema(f).names:
        assert f"`{name}` " in ddl, name


def test_glue_definition_matches_the_files(converted):
    import pyarrow.parquet as pq
    dest, _ = converted
    glue = json.loads(subprocess.run([BIN, "ddl", "glue", "s3://lake/ct", "--accounts", "012345678901"], check=True,
                                     capture_output=True, text=True).stdout)
    f = next(dest.rglob("*.parquet"))
    assert [c["name"] for c in glue["columns"]] == pq.read_schema(f).names
    assert [k["name"] for k in glue["partition_keys"]] == ["account", "region", "year", "month", "day"]
    assert glue["parameters"]["projection.enabled"] == "true"
    assert glue["parameters"]["storage.location.template"].startswith("s3://lake/ct/account=${account}/")
