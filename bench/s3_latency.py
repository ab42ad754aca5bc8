"""S3 latency benchmark: one CloudTrail day of 4,000 delivery files read from an S3-compatible
server with 15 ms added to every request, sequential reading versus ctparquet's default
concurrency, side by side in one run.

Run it with `bench/s3-latency.sh` (builds the release binaries, installs the server).
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "ctparquet"
PROXY = ROOT / "target" / "release" / "delay-proxy"
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files-per-folder", type=int, default=2000,
                    help="files per date folder; the day reads its folder and the next")
    ap.add_argument("--events-per-file", type=int, default=5)
    ap.add_argument("--latency-ms", type=int, default=15)
    ap.add_argument("--skip-sequential", action="store_true")
    ap.add_argument("--extra", default="", help="more convert options for the default run, e.g. '--concurrency 512'")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ctparquet-s3bench-"))
    procs = []
    try:
        data = work / "s3"
        (data / "lake").mkdir(parents=True)
        subprocess.run([BIN, "gen", data / "logs" / "trail", "--start", "2026-01-05", "--days", "2",
                        "--files-per-day", str(args.files_per_folder), "--events-per-file", str(args.events_per_file)],
                       check=True, capture_output=True)
        files = sum(1 for _ in (data / "logs").rglob("*.json.gz"))
        server_port = free_port()
        server = shutil.which("s3s-fs")
        if not server:
            sys.exit("s3s-fs is not installed: run bench/s3-latency.sh")
        procs.append(subprocess.Popen([server, "--host", "127.0.0.1", "--port", str(server_port),
                                       "--access-key", "test", "--secret-key", "test", "--domain", "localhost", str(data)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(server_port)
        proxy_port = free_port()
        procs.append(subprocess.Popen([PROXY, str(proxy_port), str(server_port), str(args.latency_ms)],
                                      stdout=subprocess.DEVNULL))
        wait_port(proxy_port)
        endpoint = f"http://127.0.0.1:{proxy_port}"

        rows = []
        modes = [("sequential (--concurrency 1)", ["--concurrency", "1"]),
                 ("ctparquet default" + (f" {args.extra}" if args.extra else ""), args.extra.split())]
        if args.skip_sequential:
            modes = modes[1:]
        for i, (name, extra) in enumerate(modes):
            started = time.perf_counter()
            out = subprocess.run([BIN, "convert", "s3://logs/trail", f"s3://lake/run{i}", "--date", "2026-01-05",
                                  "--json", "--s3-endpoint", endpoint, "--s3-allow-http", *extra],
                                 env=ENV, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if out.returncode != 0:
                sys.exit(f"{name} failed:\n{out.stderr}")
            s = json.loads(out.stdout)
            rows.append((name, s["source_files_read"], s["events_written"], wall, s["source_files_read"] / wall))

        print(f"\nS3 latency benchmark: {files} delivery files in two date folders, {args.latency_ms} ms added per "
              f"request (delay proxy in front of s3s-fs on 127.0.0.1), day 2026-01-05, {os.cpu_count()} cores")
        print(f"{'reader':<30} {'files read':>10} {'events':>8} {'wall s':>8} {'files/s':>9}")
        for name, n, ev, wall, fps in rows:
            print(f"{name:<30} {n:>10} {ev:>8} {wall:>8.2f} {fps:>9.0f}")
        if len(rows) == 2:
            print(f"speed-up of the default over sequential: {rows[0][3] / rows[1][3]:.1f}x")
    finally:
        for p in procs:
            p.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
