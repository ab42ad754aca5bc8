"""AWS credentials and region as every AWS tool reads them: a profile in ~/.aws (of a temporary
HOME), `--profile`, `credential_process`, and a clear error when nothing is found.

S3 is s3s-fs, an S3-compatible server that checks every request's SigV4 signature against the
one key it is given: a conversion that succeeds proves which credentials signed it. SQS is moto
(which accepts any key): there a `credential_process` that counts its calls proves the profile
was read."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest

from conftest import BIN, ROOT
from support.s3 import free_port

DAY = "2026-01-04"
KEY_ID, SECRET = "AKIACTPARQUETTEST01", "s3cr3t/for+the/test"


def wait_for(url):
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """s3s-fs on 127.0.0.1 with one key; bucket `lake` holding the sample trail under trail/."""
    exe = shutil.which("s3s-fs")
    assert exe, "s3s-fs is not installed (scripts/test.sh installs it)"
    root = tmp_path_factory.mktemp("s3s")
    shutil.copytree(ROOT / "examples/sample-trail", root / "lake" / "trail")
    port = free_port()
    server = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", str(port), "--access-key", KEY_ID,
                               "--secret-key", SECRET, str(root)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    wait_for(endpoint)
    yield {"endpoint": endpoint, "root": root}
    server.terminate()
    server.wait()


def clean_env(home, **extra):
    """No AWS_* or CTPARQUET_* variable of the caller's, a HOME of the test's, no instance
    metadata service (it would be tried last, after a timeout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CTPARQUET_"))}
    env.update(HOME=str(home), AWS_EC2_METADATA_DISABLED="true", **extra)
    return env


def write_aws_files(home, config, credentials=""):
    aws = home / ".aws"
    aws.mkdir(parents=True, exist_ok=True)
    (aws / "config").write_text(config)
    (aws / "credentials").write_text(credentials)


def convert(env, dest, *extra):
    return subprocess.run([str(BIN), "convert", "s3://lake/trail", dest, "--date", DAY, "--json", *extra],
                          env=env, capture_output=True, text=True)


def written(s3, prefix):
    return sorted(p.relative_to(s3["root"] / "lake" / prefix).as_posix()
                  for p in (s3["root"] / "lake" / prefix).rglob("*.parquet"))


def test_a_profile_in_the_shared_files_signs_s3(s3, tmp_path):
    # The region is only in the config file; the keys only in the credentials file.
    write_aws_files(tmp_path, "[profile sec]\nregion = eu-west-1\n",
                    f"[sec]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
    env = clean_env(tmp_path, AWS_PROFILE="sec", AWS_ENDPOINT_URL=s3["endpoint"], AWS_ALLOW_HTTP="true")
    out = convert(env, "s3://lake/profile")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["events_written"] > 0
    assert written(s3, "profile")
    # --profile chooses it without AWS_PROFILE; the output is the same.
    env.pop("AWS_PROFILE")
    out = convert(env, "s3://lake/flag", "--profile", "sec")
    assert out.returncode == 0, out.stderr
    assert written(s3, "flag") == written(s3, "profile")


def test_credential_process_runs_once_for_a_whole_run(s3, tmp_path):
    calls = tmp_path / "calls"
    helper = tmp_path / "helper.py"
    helper.write_text(
        "import json\n"
        f"open({str(calls)!r}, 'a').write('x')\n"
        f"print(json.dumps({{'Version': 1, 'AccessKeyId': {KEY_ID!r}, 'SecretAccessKey': {SECRET!r}}}))\n")
    write_aws_files(tmp_path, f"[profile proc]\nregion = eu-west-1\ncredential_process = {sys.executable} {helper}\n")
    env = clean_env(tmp_path, AWS_ENDPOINT_URL=s3["endpoint"], AWS_ALLOW_HTTP="true")
    out = convert(env, "s3://lake/process", "--profile", "proc")
    assert out.returncode == 0, out.stderr
    assert written(s3, "process")
    # SOURCE and DEST each resolve the chain once; their credentials, without an expiry, are kept
    # for every request after (the process does not run per request).
    assert len(calls.read_text()) == 2


def test_keys_the_server_does_not_know_are_refused(s3, tmp_path):
    write_aws_files(tmp_path, "[default]\nregion = eu-west-1\n",
                    "[default]\naws_access_key_id = AKIAWRONGWRONGWRONG1\naws_secret_access_key = nope\n")
    env = clean_env(tmp_path, AWS_ENDPOINT_URL=s3["endpoint"], AWS_ALLOW_HTTP="true")
    out = convert(env, "s3://lake/wrong")
    assert out.returncode != 0
    assert "403" in out.stderr or "InvalidAccessKeyId" in out.stderr or "SignatureDoesNotMatch" in out.stderr, out.stderr
    assert not (s3["root"] / "lake" / "wrong").exists()


def test_no_credentials_is_one_clear_error(s3, tmp_path):
    env = clean_env(tmp_path, AWS_ENDPOINT_URL=s3["endpoint"], AWS_ALLOW_HTTP="true", AWS_REGION="eu-west-1")
    start = time.monotonic()
    out = convert(env, "s3://lake/none")
    assert out.returncode != 0
    for said in ("no AWS credentials found", "AWS_PROFILE", "SSO", "credential_process", "--profile"):
        assert said in out.stderr, out.stderr
    # Said once, not once per retry.
    assert out.stderr.count("no AWS credentials found") == 1
    assert time.monotonic() - start < 30
    # A profile that does not exist is named.
    out = convert(env, "s3://lake/none", "--profile", "missing")
    assert out.returncode != 0 and "`missing`" in out.stderr, out.stderr
    # An SSO profile is read (not "requires cargo feature sso"): without a login, the error says
    # its cached token is missing and how to sign in.
    write_aws_files(tmp_path, "[profile sso]\nsso_session = corp\nsso_account_id = 111122223333\n"
                    "sso_role_name = ReadOnly\nregion = eu-west-1\n[sso-session corp]\n"
                    "sso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n")
    out = convert(env, "s3://lake/none", "--profile", "sso")
    assert out.returncode != 0
    assert "SSO token" in out.stderr and "aws sso login" in out.stderr and "feature" not in out.stderr, out.stderr
    assert " WARN " not in out.stderr, out.stderr


def test_backfill_enqueue_reads_the_same_profile(server, tmp_path):
    queue = boto3.client("sqs", endpoint_url=server.endpoint, aws_access_key_id="test",
                         aws_secret_access_key="test", region_name="eu-west-1").create_queue(QueueName="jobs")["QueueUrl"]
    calls = tmp_path / "calls"
    helper = tmp_path / "helper.py"
    helper.write_text(
        "import json\n"
        f"open({str(calls)!r}, 'a').write('x')\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAFROMPROCESS0001', 'SecretAccessKey': 'x'}))\n")
    write_aws_files(tmp_path, f"[profile proc]\nregion = eu-west-1\ncredential_process = {sys.executable} {helper}\n")
    env = clean_env(tmp_path, AWS_ENDPOINT_URL=server.endpoint)
    out = subprocess.run([str(BIN), "backfill", "--from", "2026-01-01", "--to", "2026-01-03", "--enqueue", queue,
                          "--profile", "proc", "--json"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["enqueued"] == 3
    assert calls.read_text() == "x"
