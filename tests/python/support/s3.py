"""A real S3-compatible server on 127.0.0.1 (moto in server mode) and a fault-injecting HTTP
proxy in front of it, for the S3 tests and the S3 benchmark."""

import http.client
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """moto's S3 in server mode, speaking HTTP on 127.0.0.1."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # moto keeps its backends per process: start each server empty.
        import urllib.request
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="test",
                            aws_secret_access_key="test", region_name="us-east-1")

    def stop(self):
        self.server.stop()


def upload_tree(client, local_root, bucket, prefix):
    """Upload every file under local_root to s3://bucket/prefix/, keeping relative paths."""
    n = 0
    for dirpath, _, files in os.walk(local_root):
        for name in files:
            path = Path(dirpath) / name
            key = f"{prefix}/{path.relative_to(local_root).as_posix()}".lstrip("/")
            client.upload_file(str(path), bucket, key)
            n += 1
    return n


def download_prefix(client, bucket, prefix):
    """{relative key: bytes} of every object under s3://bucket/prefix/."""
    out = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix.rstrip("/")) + 1:]
            out[rel] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


class Rule:
    """Inject `action` into requests matching method and path regex, `times` times (None: always).

    actions: "503" (SlowDown), "500", "drop" (close the connection without answering),
    "midway" (read half of the request body, then close the connection)."""

    def __init__(self, action, method=None, path=".*", times=1):
        self.action, self.method, self.path, self.times = action, method, re.compile(path), times
        self.hits = 0

    def take(self, method, path):
        if self.method and self.method != method:
            return False
        if not self.path.search(path):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


class FaultProxy:
    """An HTTP/1.1 reverse proxy to the S3 server that adds latency and injects faults."""

    def __init__(self, upstream_port, latency=0.0):
        self.upstream_port = upstream_port
        self.latency = latency
        self.rules = []
        self.lock = threading.Lock()
        self.requests = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                with proxy.lock:
                    proxy.requests.append((self.command, self.path))
                    rule = next((r for r in proxy.rules if r.take(self.command, self.path)), None)
                if proxy.latency:
                    time.sleep(proxy.latency)
                if rule and rule.action == "midway":
                    self.rfile.read(length // 2)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = self.rfile.read(length) if length else b""
                if rule and rule.action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if rule and rule.action in ("503", "500"):
                    code = "SlowDown" if rule.action == "503" else "InternalError"
                    payload = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                               f"<Message>injected</Message></Error>").encode()
                    self.send_response(int(rule.action))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, rule):
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self):
        with self.lock:
            self.rules.clear()
            self.requests.clear()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


DUCKDB_S3_PYTHON = Path(__file__).resolve().parents[3] / ".venv-duckdb-s3" / "bin" / "python"


def duckdb_s3(endpoint, queries):
    """Run SQL `queries` ({name: sql}) with DuckDB's httpfs against the server; `{scan}` in a
    query is the Hive-partitioned scan of its s3:// glob given as `{scan:s3://...}`. DuckDB's
    httpfs is only installable offline for DuckDB 1.4.4 (PyPI duckdb-ext-httpfs), so this runs in
    its own venv (scripts/test.sh makes it). The progress bar is off: a query slower than two
    seconds would print it to the standard output the answer is read from."""
    import json as _json
    import subprocess as _subprocess

    assert DUCKDB_S3_PYTHON.exists(), f"missing {DUCKDB_S3_PYTHON}: run scripts/test.sh"
    host = endpoint.removeprefix("http://")
    script = f"""
import duckdb, duckdb_ext, os, json, sys
ext = os.path.join(os.path.dirname(duckdb_ext.__path__[0]), "duckdb_ext", "extensions")
con = duckdb.connect(config={{"extension_directory": ext, "autoinstall_known_extensions": False}})
con.execute("SET enable_progress_bar = false")
con.execute("LOAD httpfs")
con.execute("CREATE SECRET (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1', ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
out = {{}}
for name, sql in json.loads(sys.argv[1]).items():
    out[name] = [list(r) for r in con.execute(sql).fetchall()]
print(json.dumps(out, default=str))
"""
    out = _subprocess.run([str(DUCKDB_S3_PYTHON), "-c", script, _json.dumps(queries)],
                          capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return _json.loads(out.stdout)


def hive_scan(url):
    """DuckDB's scan of ctparquet output under an s3:// prefix."""
    return (f"read_parquet('{url.rstrip('/')}/**/*.parquet', hive_partitioning=true, "
            "hive_types={'year': BIGINT, 'month': BIGINT, 'day': BIGINT})")
