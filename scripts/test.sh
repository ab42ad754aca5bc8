#!/usr/bin/env bash
# The whole test suite: formatting, lints, Rust tests, then the Python reader tests (DuckDB,
# Polars, pyarrow) against the real binary. Installs what it needs into .venv on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
if [ ! -x .venv-duckdb-s3/bin/python ]; then
  python3 -m venv .venv-duckdb-s3
fi
.venv-duckdb-s3/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements-duckdb-s3.txt

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked
cargo test --workspace --locked
# The decoder fuzzed for a fixed number of runs (seeded from the shared real data).
scripts/fuzz.sh
CTPARQUET_BIN="$PWD/target/debug/ctparquet" .venv/bin/python -m pytest tests/python -q
