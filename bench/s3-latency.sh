#!/usr/bin/env bash
# The S3 latency benchmark (see bench/s3_latency.py). Installs s3s-fs, an S3-compatible server,
# with cargo on first use (about two minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v s3s-fs >/dev/null || cargo install s3s-fs@0.14.1 --locked --features binary
cargo build --release --locked -p ctparquet-cli -p ctparquet-bench
exec python3 bench/s3_latency.py "$@"
