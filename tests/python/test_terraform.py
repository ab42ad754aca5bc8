"""The Terraform module, checked offline: it parses (python-hcl2), every reference resolves,
checkov finds nothing unexplained, the function is only given settings the code reads, the
schedule sends what the handler accepts, no IAM statement grants "*", and the Glue columns are the
code's schema."""

import json
import re
import subprocess
from pathlib import Path

import hcl2
import pytest

from conftest import BIN, ROOT
from support.lambda_emulator import LAMBDA_BIN

MODULE = ROOT / "deploy" / "terraform"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
TF_FILES = sorted(MODULE.rglob("*.tf"))


def unq(value):
    """A parsed HCL value without python-hcl2's quotes."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unq(v) for v in value]
    return value


def parsed():
    out = {}
    for f in TF_FILES:
        with open(f) as fh:
            out[f] = hcl2.load(fh)
    return out


def module_text():
    return {f: f.read_text() for f in TF_FILES if MODULE / "examples" not in f.parents}


def blocks(kind):
    """{(type, name): body} of resource or data blocks of the module (examples excluded)."""
    out = {}
    for f, doc in parsed().items():
        if MODULE / "examples" in f.parents:
            continue
        for block in doc.get(kind, []):
            for typ, named in block.items():
                for name, body in named.items():
                    out[(typ.strip('"'), name.strip('"'))] = body
    return out


def test_every_file_parses():
    assert len(TF_FILES) >= 8
    for f, doc in parsed().items():
        assert isinstance(doc, dict), f


def test_every_reference_resolves():
    variables, locals_, outputs = set(), set(), set()
    for f, doc in parsed().items():
        if MODULE / "examples" in f.parents:
            continue
        for v in doc.get("variable", []):
            variables.update(k.strip('"') for k in v)
        for block in doc.get("locals", []):
            locals_.update(block)
    resources, data = blocks("resource"), blocks("data")
    text = "\n".join(module_text().values())
    for name in set(re.findall(r"\bvar\.([A-Za-z0-9_]+)", text)):
        assert name in variables, f"var.{name} is not declared"
    for name in set(re.findall(r"\blocal\.([A-Za-z0-9_]+)", text)):
        assert name in locals_, f"local.{name} is not declared"
    for typ, name in set(re.findall(r"(?<![\w.])data\.([a-z0-9_]+)\.([A-Za-z0-9_]+)", text)):
        assert (typ, name) in data, f"data.{typ}.{name} is not declared"
    for typ, name in set(re.findall(r"(?<![\w.\"])(aws_[a-z0-9_]+)\.([A-Za-z0-9_]+)\b", text)):
        assert (typ, name) in resources, f"{typ}.{name} is not declared"
    # Every variable is used and described.
    for name in variables:
        assert f"var.{name}" in text, f"variable {name} is never used"
    for f, doc in parsed().items():
        for v in doc.get("variable", []) + doc.get("output", []):
            for name, body in v.items():
                assert body.get("description"), f"{name} in {f.name} has no description"


def test_the_function_gets_only_settings_the_code_reads():
    assert LAMBDA_BIN.is_file(), f"build the Lambda first: {LAMBDA_BIN}"
    known = {v["name"] for v in json.loads(subprocess.run([str(LAMBDA_BIN), "--print-env"],
                                                          capture_output=True, text=True, check=True).stdout)}
    set_by_module = set()
    for text in module_text().values():
        set_by_module.update(re.findall(r"\b(CTPARQUET_[A-Z0-9_]+)\s*=", text))
    assert {"CTPARQUET_SOURCE", "CTPARQUET_DEST", "CTPARQUET_QUEUE_URL", "CTPARQUET_FIREHOSE_MODE"} <= set_by_module
    unknown = set_by_module - known
    assert not unknown, f"the module sets variables the code does not read: {sorted(unknown)}"
    # Both functions take their environment from those maps.
    functions = {k: v for k, v in blocks("resource").items() if k[0] == "aws_lambda_function"}
    assert set(functions) == {("aws_lambda_function", "converter"), ("aws_lambda_function", "transformer")}
    for body in functions.values():
        assert unq(body["runtime"]) == "provided.al2023" and unq(body["handler"]) == "bootstrap"
        variables = unq(body["environment"][0]["variables"])
        assert variables in ("${local.environment}", "${local.firehose_environment}")


def test_the_schedule_sends_the_scheduled_event_to_the_converter():
    resources = blocks("resource")
    rule = resources[("aws_cloudwatch_event_rule", "daily")]
    assert unq(rule["schedule_expression"]) == "${var.schedule_expression}"
    target = resources[("aws_cloudwatch_event_target", "daily")]
    assert unq(target["arn"]) == "${aws_lambda_function.converter.arn}"
    # No input override: the handler gets EventBridge's "Scheduled Event", the payload the
    # end-to-end test (test_lambda.py) invokes it with.
    assert not {"input", "input_path", "input_transformer"} & set(target)
    mapping = resources[("aws_lambda_event_source_mapping", "jobs")]
    assert unq(mapping["function_response_types"]) == ["ReportBatchItemFailures"]
    queue = resources[("aws_sqs_queue", "jobs")]
    assert "deadLetterTargetArn" in queue["redrive_policy"] and "maxReceiveCount" in queue["redrive_policy"]


def test_no_iam_statement_grants_every_resource():
    for f, text in module_text().items():
        assert not re.search(r'resources\s*=\s*\[[^\]]*"\*"', text), f
        assert not re.search(r'Resource\s*=\s*"\*"', text), f
        assert not re.search(r'actions\s*=\s*\[[^\]]*"[a-z0-9]+:\*"', text), f


def test_checkov_finds_nothing_unexplained():
    assert CHECKOV.exists(), f"missing {CHECKOV}: run scripts/test.sh"
    out = subprocess.run([str(CHECKOV), "-d", str(MODULE), "--framework", "terraform", "--skip-download",
                          "-o", "json"], capture_output=True, text=True)
    report = json.loads(out.stdout)
    reports = report if isinstance(report, list) else [report]
    results = [r["results"] for r in reports if "results" in r]
    assert results, out.stdout[:2000] + out.stderr[-2000:]
    failed = [c for r in results for c in r["failed_checks"]]
    assert not failed, [(c["check_id"], c["resource"], c["check_name"]) for c in failed]
    skipped = [c for r in results for c in r["skipped_checks"]]
    for c in skipped:
        assert len(c.get("check_result", {}).get("suppress_comment", "")) > 20, f"{c['check_id']} on {c['resource']} skipped without a reason"
    assert sum(r["summary"]["passed"] for r in reports if "summary" in r) > 50
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports if "summary" in r)


def test_glue_columns_are_the_code_schema():
    out = subprocess.run([str(BIN), "ddl", "glue", "s3://BUCKET/PREFIX",
                          "--account-projection", "injected"], capture_output=True,
                         text=True, check=True).stdout
    committed = (MODULE / "generated" / "glue-table.json").read_text()
    assert json.loads(out) == json.loads(committed), "run scripts/gen-terraform.sh"
    assert [k["name"] for k in json.loads(committed)["partition_keys"]] == ["account", "region", "year", "month", "day"]


def test_the_module_readme_lists_every_input_and_output():
    readme = (MODULE / "README.md").read_text()
    for f, doc in parsed().items():
        if MODULE / "examples" in f.parents:
            continue
        for kind in ("variable", "output"):
            for block in doc.get(kind, []):
                for name in block:
                    assert f"`{name.strip(chr(34))}`" in readme, f"{kind} {name} missing from the module README"
