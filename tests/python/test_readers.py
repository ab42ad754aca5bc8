"""DuckDB, Polars and pyarrow read ctparquet output with hive partitioning, the right types and
partition pruning, using the query shapes users write."""

import datetime as dt

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from conftest import ACCOUNTS, REGIONS

HIVE_TYPES = "hive_types={'year': BIGINT, 'month': BIGINT, 'day': BIGINT}"
POLARS_HIVE = {"account": pl.String, "region": pl.String, "year": pl.Int16, "month": pl.Int8, "day": pl.Int8}


def days_written(summary):
    out = {}
    for d in summary["days"]:
        out[d["date"]] = out.get(d["date"], 0) + d["events"]
    return out


def duck_scan(dest):
    return f"read_parquet('{dest}/**/*.parquet', hive_partitioning=true, {HIVE_TYPES})"


def test_duckdb_reads_types_and_counts(converted):
    dest, summary = converted
    con = duckdb.connect()
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {duck_scan(dest)}").fetchall()}
    assert types["account"] == "VARCHAR" and types["region"] == "VARCHAR"
    assert types["year"] == types["month"] == types["day"] == "BIGINT"
    assert types["eventTime"] == "TIMESTAMP WITH TIME ZONE"
    assert types["readOnly"] == "BOOLEAN" and types["managementEvent"] == "BOOLEAN"
    # JSON-valued columns are plain text by default: DuckDB's ->> takes VARCHAR as it takes JSON.
    assert types["requestParameters"] == "VARCHAR" and types["unmapped"] == "VARCHAR"
    assert types["userIdentity"].startswith("STRUCT(")
    total = con.execute(f"SELECT count(*) FROM {duck_scan(dest)}").fetchone()[0]
    assert total == summary["events_written"]
    # Accounts keep their leading zero: they are strings.
    accounts = {r[0] for r in con.execute(f"SELECT DISTINCT account FROM {duck_scan(dest)}").fetchall()}
    assert accounts == set(ACCOUNTS)
    # Every row is in the partition of its eventTime's UTC day; ids are unique.
    wrong = con.execute(f"""SELECT count(*) FROM {duck_scan(dest)}
        WHERE make_date(year::INT, month::INT, day::INT) <> (eventTime AT TIME ZONE 'UTC')::DATE""").fetchone()[0]
    assert wrong == 0
    dups = con.execute(f"SELECT count(*) - count(DISTINCT (account, region, eventID)) FROM {duck_scan(dest)}").fetchone()[0]
    assert dups == 0
    # JSON columns are queryable as JSON.
    buckets = con.execute(f"""SELECT count(*) FROM {duck_scan(dest)}
        WHERE eventName = 'GetObject' AND requestParameters->>'bucketName' LIKE 'data-%'""").fetchone()[0]
    assert buckets > 0
    # Nested struct fields.
    arns = con.execute(f"SELECT count(*) FROM {duck_scan(dest)} WHERE userIdentity.arn LIKE 'arn:aws:%'").fetchone()[0]
    assert arns > 0


def test_duckdb_prunes_partitions_and_filters_across_month_end(with_garbage):
    dest, summary = with_garbage
    con = duckdb.connect()
    per_day = days_written(summary)
    with pytest.raises(duckdb.Error):
        con.execute(f"SELECT count(*) FROM {duck_scan(dest)}").fetchone()
    n = con.execute(f"SELECT count(*) FROM {duck_scan(dest)} WHERE year = 2026 AND month = 2 AND day = 1").fetchone()[0]
    assert n == per_day["2026-02-01"]
    # The date-range filter users should write across a month end (Jan 30 .. Feb 1, skipping
    # the poisoned Jan 31 shows the files outside the range are never opened).
    n = con.execute(f"""SELECT count(*) FROM {duck_scan(dest)}
        WHERE make_date(year::INT, month::INT, day::INT) IN (DATE '2026-01-30', DATE '2026-02-01')""").fetchone()[0]
    assert n == per_day["2026-01-30"] + per_day["2026-02-01"]
    n = con.execute(f"""SELECT count(*) FROM {duck_scan(dest)}
        WHERE account = '{ACCOUNTS[0]}' AND region = '{REGIONS[0]}' AND year = 2026 AND month = 1 AND day = 30""").fetchone()[0]
    assert n == sum(d["events"] for d in summary["days"]
                    if d["date"] == "2026-01-30" and d["account"] == ACCOUNTS[0] and d["region"] == REGIONS[0])


def test_month_end_range_filter_is_correct(converted):
    dest, summary = converted
    per_day = days_written(summary)
    con = duckdb.connect()
    # Right: compare whole dates. (Wrong, and a common mistake: month BETWEEN 1 AND 2 AND day BETWEEN 30 AND 1.)
    right = con.execute(f"""SELECT count(*) FROM {duck_scan(dest)}
        WHERE make_date(year::INT, month::INT, day::INT) BETWEEN DATE '2026-01-31' AND DATE '2026-02-01'""").fetchone()[0]
    assert right == per_day["2026-01-31"] + per_day["2026-02-01"]
    by_time = con.execute(f"""SELECT count(*) FROM {duck_scan(dest)}
        WHERE eventTime >= TIMESTAMPTZ '2026-01-31 00:00:00+00' AND eventTime < TIMESTAMPTZ '2026-02-02 00:00:00+00'""").fetchone()[0]
    assert by_time == right


def test_polars_reads_with_hive_schema_and_prunes(converted, with_garbage):
    dest, summary = converted
    lf = pl.scan_parquet(dest, hive_partitioning=True, hive_schema=POLARS_HIVE)
    df = lf.collect()
    assert df.height == summary["events_written"]
    assert df.schema["account"] == pl.String and df.schema["day"] == pl.Int8
    assert df.schema["eventTime"] == pl.Datetime("ms", "UTC")
    assert df.schema["readOnly"] == pl.Boolean
    assert isinstance(df.schema["userIdentity"], pl.Struct)
    assert set(df["account"].unique()) == set(ACCOUNTS)
    poisoned, _ = with_garbage
    per_day = days_written(summary)
    n = (pl.scan_parquet(poisoned, hive_partitioning=True, hive_schema=POLARS_HIVE)
         .filter((pl.col("year") == 2026) & (pl.col("month") == 2) & (pl.col("day") == 1))
         .select(pl.len()).collect().item())
    assert n == per_day["2026-02-01"]
    with pytest.raises(Exception):
        pl.scan_parquet(poisoned, hive_partitioning=True, hive_schema=POLARS_HIVE).select(pl.len()).collect()


def test_pyarrow_dataset_reads_and_prunes(converted, with_garbage):
    import pyarrow as pa
    dest, summary = converted
    part = ds.partitioning(pa.schema([("account", pa.string()), ("region", pa.string()), ("year", pa.int16()),
                                      ("month", pa.int8()), ("day", pa.int8())]), flavor="hive")
    table = ds.dataset(dest, format="parquet", partitioning=part).to_table()
    assert table.num_rows == summary["events_written"]
    assert table.schema.field("eventTime").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("account").type == pa.string()
    poisoned, _ = with_garbage
    per_day = days_written(summary)
    n = ds.dataset(poisoned, format="parquet", partitioning=part).count_rows(
        filter=(ds.field("month") == 2) & (ds.field("day") == 1))
    assert n == per_day["2026-02-01"]


def test_files_carry_statistics_sort_order_bloom_filters_and_no_partition_columns(converted):
    dest, _ = converted
    files = sorted(dest.glob("account=*/region=*/year=*/month=*/day=*/part-*.parquet"))
    assert files
    f = pq.ParquetFile(files[0])
    names = f.schema_arrow.names
    for col in ("account", "region", "year", "month", "day"):
        assert col not in names
    md = f.metadata
    assert md.created_by.startswith("ctparquet version")
    kv = {k.decode(): v.decode() for k, v in md.metadata.items()}
    assert kv["ctparquet.cloudtrail_event_version"] == "1.11"
    rg = md.row_group(0)
    sorting = rg.sorting_columns
    assert [md.schema.column(s.column_index).path for s in sorting] == ["eventTime", "eventID"]
    time_idx = [md.schema.column(i).path for i in range(md.num_columns)].index("eventTime")
    stats = rg.column(time_idx).statistics
    assert stats.has_min_max and stats.min <= stats.max
    # Rows are sorted by eventTime.
    times = f.read(columns=["eventTime"]).column(0).to_pylist()
    assert times == sorted(times)
    # Bloom filters are written for the default columns (their answers are checked in the Rust
    # tests with parquet-rs; DuckDB 2.0's parquet_bloom_probe does not exclude values in files
    # whose probed column follows nested columns, so it cannot serve as the check here).
    con = duckdb.connect()
    with_bloom = {r[0] for r in con.execute(
        f"SELECT path_in_schema FROM parquet_metadata('{files[0]}') WHERE bloom_filter_length > 0").fetchall()}
    for col in ("eventName", "eventSource", "eventID", "sourceIPAddress"):
        assert col in with_bloom, with_bloom
    assert any("arn" in c and "userIdentity" in c for c in with_bloom), with_bloom
    # The page index (column index) is written.
    assert rg.column(time_idx).has_column_index


def test_inspect_reports_what_is_there(converted):
    import json
    from conftest import run
    dest, summary = converted
    inv = json.loads(run("inspect", dest, "--json"))
    assert inv["rows"] == summary["events_written"]
    assert len(inv["partitions"]) == len(summary["days"])
    assert inv["stray_files"] == []


def test_a_time_range_reads_only_the_row_groups_it_needs(tmp_path):
    """Rows are sorted by eventTime, so each row group covers a slice of the day and its min/max
    statistics let a reader skip the others (pyarrow's row-group pruning shown here; filters on
    eventName, eventSource or a user ARN are served by the bloom filters, whose answers
    `parquet_output.rs` checks)."""
    from conftest import run
    src, dest = tmp_path / "src", tmp_path / "out"
    run("gen", src, "--accounts", ACCOUNTS[0], "--regions", REGIONS[0], "--start", "2026-03-01",
        "--days", 2, "--files-per-day", 96, "--events-per-file", 20)
    run("convert", src, dest, "--date", "2026-03-01", "--row-group-rows", 200)
    (part,) = dest.glob("account=*/region=*/year=*/month=*/day=*/part-*.parquet")
    groups = pq.ParquetFile(part).metadata.num_row_groups
    assert groups >= 8
    hour = (ds.field("eventTime") >= dt.datetime(2026, 3, 1, 10, tzinfo=dt.timezone.utc)) & (
        ds.field("eventTime") < dt.datetime(2026, 3, 1, 11, tzinfo=dt.timezone.utc))
    (fragment,) = ds.dataset(part, format="parquet").get_fragments()
    needed = fragment.split_by_row_group(hour)
    assert 1 <= len(needed) <= 2, (len(needed), groups)
    # The row groups kept hold every row of the hour.
    rows = ds.dataset(part, format="parquet").to_table(filter=hour).num_rows
    assert rows > 0
    assert sum(g.to_table(filter=hour).num_rows for g in needed) == rows


def bucket_counts_from_source(summary_dest):
    """{bucketName: GetObject events} by DuckDB's ->> (the reference the other readers match)."""
    con = duckdb.connect()
    rows = con.execute(f"""SELECT requestParameters->>'bucketName' AS b, count(*) FROM {duck_scan(summary_dest)}
        WHERE eventName = 'GetObject' GROUP BY 1""").fetchall()
    return {b: n for b, n in rows if b is not None}


def test_json_columns_are_text_every_reader_queries_by_json_path(converted):
    """The default JSON-valued columns are plain UTF-8: Polars' .str.json_path_match (as a user
    of the README's scan would write it), DuckDB's ->> and pyarrow (strings to json.loads) answer
    the same JSON-path question, and each agrees with the others."""
    import json
    import pyarrow as pa
    dest, _ = converted
    expected = bucket_counts_from_source(dest)
    assert expected and sum(expected.values()) > 0
    lf = pl.scan_parquet(dest, hive_partitioning=True, hive_schema=POLARS_HIVE)
    assert lf.collect_schema()["requestParameters"] == pl.String
    polars = (lf.filter(pl.col("eventName") == "GetObject")
              .select(pl.col("requestParameters").str.json_path_match("$.bucketName").alias("b"))
              .group_by("b").len().collect())
    assert {r["b"]: r["len"] for r in polars.iter_rows(named=True) if r["b"] is not None} == expected
    table = ds.dataset(dest, format="parquet", partitioning="hive").to_table(
        columns=["eventName", "requestParameters"], filter=ds.field("eventName") == "GetObject")
    assert table.schema.field("requestParameters").type == pa.string()
    counts = {}
    for doc in table.column("requestParameters").to_pylist():
        b = json.loads(doc).get("bucketName") if doc else None
        if b is not None:
            counts[b] = counts.get(b, 0) + 1
    assert counts == expected


def test_json_columns_json_is_typed_json_for_duckdb(converted, tmp_path):
    """--json-columns json writes Parquet's JSON logical type: DuckDB types the columns JSON and
    answers the same question; Polars 2.1 reads them as an extension type (its .str functions
    refuse it), which is why text is the default."""
    from conftest import run
    dest, _ = converted
    src = dest.parent / "src"
    typed = tmp_path / "typed"
    run("convert", src, typed, "--from", "2026-01-30", "--to", "2026-02-01", "--json-columns", "json")
    con = duckdb.connect()
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {duck_scan(typed)}").fetchall()}
    assert types["requestParameters"] == "JSON" and types["unmapped"] == "JSON"
    assert bucket_counts_from_source(typed) == bucket_counts_from_source(dest)
    dtype = pl.scan_parquet(typed, hive_partitioning=True, hive_schema=POLARS_HIVE).collect_schema()["requestParameters"]
    assert dtype != pl.String


def test_json_columns_variant_duckdb_queries_paths_pyarrow_sees_the_shredding_polars_refuses(converted, tmp_path):
    """--json-columns variant writes Parquet VARIANT with common members shredded: DuckDB types
    the columns VARIANT and answers the same path question (with pruning on the shredded member's
    statistics); pyarrow reads the physical struct, where a shredded member is a plain column;
    Polars 2.1 refuses the files (no VARIANT logical type yet). `verify` proves every record."""
    from conftest import run
    dest, summary = converted
    src = dest.parent / "src"
    lake = tmp_path / "variant"
    run("convert", src, lake, "--from", "2026-01-30", "--to", "2026-02-01", "--json-columns", "variant")
    run("verify", src, lake, "--from", "2026-01-30", "--to", "2026-02-01")
    con = duckdb.connect()
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {duck_scan(lake)}").fetchall()}
    assert types["requestParameters"] == "VARIANT" and types["unmapped"] == "VARCHAR"
    rows = con.execute(f"""SELECT requestParameters.bucketName::VARCHAR AS b, count(*) FROM {duck_scan(lake)}
        WHERE eventName = 'GetObject' GROUP BY 1""").fetchall()
    expected = bucket_counts_from_source(dest)
    assert {b: n for b, n in rows if b is not None} == expected
    # A member that is not shredded reads the same way, from the binary value.
    text = con.execute(f"SELECT count(*) FROM {duck_scan(dest)} WHERE requestParameters->>'userName' IS NOT NULL").fetchone()
    variant = con.execute(f"SELECT count(*) FROM {duck_scan(lake)} WHERE requestParameters.userName IS NOT NULL").fetchone()
    assert text == variant and text[0] > 0
    # pyarrow: the shredded member is a column of its own, no decoding needed.
    table = ds.dataset(lake, format="parquet", partitioning="hive").to_table(
        columns=["eventName", "requestParameters"], filter=ds.field("eventName") == "GetObject")
    counts = {}
    for doc in table.column("requestParameters").to_pylist():
        b = doc["typed_value"]["bucketName"]["typed_value"]
        if b is not None:
            counts[b] = counts.get(b, 0) + 1
    assert counts == expected
    with pytest.raises(Exception, match="(?i)logicaltype|variant"):
        pl.scan_parquet(lake, hive_partitioning=True, hive_schema=POLARS_HIVE).collect()


def test_a_lone_surrogate_leaves_the_day_readable_and_its_text_kept(tmp_path):
    """JSON allows "\\ud800" alone; DuckDB's and Athena's JSON parsers refuse it. Such a record is
    written with U+FFFD in its place, every reader reads the day (DuckDB's ->> included), the exact
    text is kept in unmapped's ctparquet:raw, and verify proves the record."""
    import gzip
    import json
    import subprocess
    from conftest import BIN
    folder = tmp_path / "src" / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2026" / "01" / "04"
    folder.mkdir(parents=True)
    text = ('{"Records":[{"eventVersion":"1.11","eventID":"s1","eventTime":"2026-01-04T10:00:00Z",'
            '"eventName":"Put\\ud800X","requestParameters":{"key":"a\\udc00b","emoji":"\\ud83d\\ude00"}},'
            '{"eventVersion":"1.11","eventID":"s2","eventTime":"2026-01-04T11:00:00Z","eventName":"Fine",'
            '"requestParameters":{"key":"k"}}]}')
    (folder / "111122223333_CloudTrail_us-east-1_20260104T0000Z_s.json.gz").write_bytes(gzip.compress(text.encode()))
    dest = tmp_path / "out"
    out = subprocess.run([str(BIN), "convert", tmp_path / "src", dest, "--date", "2026-01-04", "--json"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["lone_surrogate_events"] == 1
    rows = duckdb.sql(f"SELECT eventID, eventName, requestParameters->>'key' AS k, unmapped "
                      f"FROM {duck_scan(dest)} ORDER BY eventID").fetchall()
    assert [r[:3] for r in rows] == [("s1", "Put\ufffdX", "a\ufffdb"), ("s2", "Fine", "k")]
    raw = json.loads(rows[0][3])["ctparquet:raw"]
    # Python's json keeps lone surrogates: the kept text is the source's, exactly.
    assert json.loads(raw["eventName"]) == "Put\ud800X"
    assert json.loads(raw["requestParameters"]) == {"key": "a\udc00b", "emoji": "\U0001F600"}
    polars = pl.scan_parquet(dest, hive_partitioning=True, hive_schema=POLARS_HIVE).select(
        pl.col("requestParameters").str.json_path_match("$.key")).collect()
    assert sorted(polars.to_series().to_list()) == ["a\ufffdb", "k"]
    table = ds.dataset(dest, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 2
    check = subprocess.run([str(BIN), "verify", tmp_path / "src", dest, "--date", "2026-01-04"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
