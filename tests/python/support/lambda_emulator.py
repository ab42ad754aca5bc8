"""cargo-lambda's Lambda emulator (`cargo lambda watch --only-lambda-apis`) serving the Lambda
runtime API on 127.0.0.1, with the real ctparquet-lambda binary polling it, and invocations
through the Lambda Invoke API path it serves."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from support.s3 import free_port

ROOT = Path(__file__).resolve().parents[3]
LAMBDA_BIN = Path(os.environ.get("CTPARQUET_LAMBDA_BIN", ROOT / "target" / "debug" / "ctparquet-lambda"))


def cargo_lambda():
    """The cargo-lambda executable: from the test venv, else PATH."""
    venv = ROOT / ".venv" / "bin" / "cargo-lambda"
    return str(venv) if venv.exists() else shutil.which("cargo-lambda")


def wait_for_port(port, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


class Emulator:
    def __init__(self, log_dir):
        exe = cargo_lambda()
        assert exe, "cargo-lambda is not installed (scripts/test.sh installs it into .venv)"
        self.port = free_port()
        self.log = open(Path(log_dir) / "emulator.log", "w")
        # The cargo subcommand called directly: `cargo-lambda lambda watch ...`.
        self.proc = subprocess.Popen(
            [exe, "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(self.port)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port)
        self.log_dir = Path(log_dir)

    @contextmanager
    def function(self, env, name="fn"):
        """The real binary as the function, with `env` as its configuration; yields the path of
        its log (JSON lines and EMF metrics on stdout)."""
        assert LAMBDA_BIN.is_file(), f"build the Lambda first: {LAMBDA_BIN}"
        log_path = self.log_dir / f"{name}.log"
        full = {k: v for k, v in os.environ.items() if not k.startswith("CTPARQUET_")}
        full.update({
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_FUNCTION_NAME": "_",
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.port}/.rt",
        })
        full.update(env)
        with open(log_path, "w") as log:
            proc = subprocess.Popen([str(LAMBDA_BIN)], env=full, stdout=log, stderr=subprocess.STDOUT)
            try:
                yield log_path
            finally:
                proc.terminate()
                proc.wait(timeout=10)

    def invoke(self, payload, timeout=300):
        """(ok, body): ok is False when the function returned an error."""
        data = json.dumps(payload).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/_/invocations", data=data, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body = json.loads(resp.read() or b"null")
                failed = resp.headers.get("X-Amz-Function-Error") is not None
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"null")
            failed = True
        if isinstance(body, dict) and "errorType" in body:
            failed = True
        return (not failed), body

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def metrics(log_path):
    """The Embedded Metric Format lines the function printed."""
    out = []
    for line in Path(log_path).read_text().splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "_aws" in obj:
            out.append(obj)
    return out


def scheduled_event(time_iso, account="123456789012", region="us-east-1"):
    """An EventBridge scheduled event, as a rule target receives it."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": time_iso,
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/ctparquet-daily"],
        "detail": {},
    }


def sqs_event(messages, queue_arn="arn:aws:sqs:us-east-1:123456789012:ctparquet-jobs"):
    """An SQS event as the event source mapping delivers it, from real received messages
    (dicts with MessageId, ReceiptHandle, Body, MD5OfBody) or (id, body) pairs."""
    records = []
    for m in messages:
        if isinstance(m, tuple):
            m = {"MessageId": m[0], "ReceiptHandle": "rh-" + m[0], "Body": m[1], "MD5OfBody": ""}
        records.append({
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1767225600000",
                           "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1767225600000"},
            "messageAttributes": {},
            "md5OfBody": m.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1",
        })
    return {"Records": records}
