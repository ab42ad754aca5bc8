"""The Athena pack runs on the table the tool and the Terraform module create by default.

Athena cannot run here, so its documented rules for partition projection are checked against the
generated DDL's projection properties, query by query
(docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html and
.../partition-projection-dynamic-id-partitioning.html):
- a column projected `injected` needs, in the WHERE clause, at least one static equality
  condition (`col = 'literal'` or `col IN ('a', 'b')`), or the query fails with
  CONSTRAINT_VIOLATION;
- `enum` columns take only their listed values; `integer` columns a `range` and, for zero-padded
  folders, `digits`;
- every projected column is in `storage.location.template`, and every partition column is
  projected.
"""

import json
import os
import re
import subprocess

import pytest

from conftest import BIN, ROOT
from support.s3 import CREDENTIALS

QUERIES = sorted((ROOT / "queries" / "athena").glob("*.sql"))
PARTITIONS = ["account", "region", "year", "month", "day"]


def ddl(*args, env=None):
    out = subprocess.run([str(BIN), "ddl", "athena", "s3://lake/ct", *args], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def properties(text):
    return dict(re.findall(r"'([^']+)' = '([^']*)'", text.split("TBLPROPERTIES", 1)[1]))


def where_clause(sql):
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    m = re.search(r"\bWHERE\b(.*?)(\bGROUP BY\b|\bORDER BY\b|\bLIMIT\b|$)", body, re.S | re.I)
    return m.group(1) if m else ""


def violations(sql, props):
    """What Athena would refuse in this query on a table with these projection properties."""
    found = []
    where = where_clause(sql)
    for col in PARTITIONS:
        kind = props.get(f"projection.{col}.type")
        if kind is None:
            found.append(f"{col} is not projected")
        elif kind == "injected":
            static = re.search(rf"\b{col}\s*=\s*'[^']*'|\b{col}\s+IN\s*\(\s*'[^']*'(\s*,\s*'[^']*')*\s*\)", where, re.I)
            if not static:
                found.append(f"{col} is injected: the WHERE clause needs {col} = '...' or {col} IN (...)")
        elif kind == "enum":
            if not props.get(f"projection.{col}.values"):
                found.append(f"{col} is an enum without values")
        elif kind == "integer":
            if not re.fullmatch(r"\d+,\d+", props.get(f"projection.{col}.range", "")):
                found.append(f"{col} is an integer without a range")
        else:
            found.append(f"{col}: unknown projection type {kind}")
        if f"${{{col}}}" not in props.get("storage.location.template", ""):
            found.append(f"{col} is not in storage.location.template")
    return found


def test_every_query_runs_on_the_default_table():
    props = properties(ddl("--accounts", "012345678901,111122223333"))
    assert props["projection.account.type"] == "enum"
    assert props["projection.month.digits"] == props["projection.day.digits"] == "2"
    assert len(QUERIES) == 8
    for q in QUERIES:
        assert violations(q.read_text(), props) == [], q.name


def test_the_rules_catch_an_injected_account_without_a_condition():
    """The check is not vacuous: on an injected account (the old default) every query of the pack
    breaks Athena's rule, and naming the account mends it."""
    props = properties(ddl("--account-projection", "injected"))
    assert props["projection.account.type"] == "injected"
    for q in QUERIES:
        sql = q.read_text()
        assert any("account is injected" in v for v in violations(sql, props)), q.name
        named = re.sub(r"\bWHERE\b", "WHERE account = '012345678901' AND", sql, count=1)
        assert violations(named, props) == [], q.name
        listed = re.sub(r"\bWHERE\b", "WHERE account IN ('012345678901', '111122223333') AND", sql, count=1)
        assert violations(listed, props) == [], q.name


def test_ddl_lists_the_accounts_found_under_dest(server):
    """Without --accounts, the account enum is what DEST holds (one delimiter listing)."""
    client = server.client()
    client.create_bucket(Bucket="lake")
    for account in ("111122223333", "012345678901"):
        client.put_object(Bucket="lake", Key=f"ct/account={account}/region=us-east-1/year=2026/month=01/day=05/part-00000.parquet",
                          Body=b"x")
    client.put_object(Bucket="lake", Key="ct/account=notanaccount/x.parquet", Body=b"x")
    env = dict(os.environ, **CREDENTIALS)
    props = properties(ddl("--s3-endpoint", server.endpoint, "--s3-allow-http", env=env))
    assert props["projection.account.values"] == "012345678901,111122223333"
    out = subprocess.run([str(BIN), "ddl", "athena", "s3://lake/empty", "--s3-endpoint", server.endpoint,
                          "--s3-allow-http"], capture_output=True, text=True, env=env)
    assert out.returncode != 0 and "--accounts" in out.stderr and "injected" in out.stderr, out.stderr


def test_the_terraform_module_projects_an_account_enum_by_default():
    """The module's table: enum by default, of glue_accounts or accounts, and a plan without
    either fails with a message instead of creating a table the pack cannot query."""
    import hcl2
    module = ROOT / "deploy" / "terraform"
    variables = hcl2.loads((module / "variables.tf").read_text())
    default = next(v['"glue_account_projection"']["default"] for v in variables["variable"]
                   if '"glue_account_projection"' in v)
    assert default.strip('"') == "enum"
    glue = (module / "glue.tf").read_text()
    assert '"projection.account.type"   = "enum"' in glue
    assert "precondition" in glue and "length(local.glue_enum_accounts) > 0" in glue
    # The rest of the module's projection is the generator's (checked in test_terraform.py).
    generated = json.loads((module / "generated" / "glue-table.json").read_text())["parameters"]
    props = {k: v for k, v in generated.items() if not k.startswith("projection.account")}
    props.update({"projection.account.type": "enum", "projection.account.values": "012345678901"})
    for q in QUERIES:
        assert violations(q.read_text(), props) == [], q.name
