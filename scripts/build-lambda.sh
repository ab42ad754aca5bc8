#!/usr/bin/env bash
# Build the Lambda deployment package the Terraform module takes (its lambda_zip):
#   scripts/build-lambda.sh [x86_64|arm64]      -> target/lambda/ctparquet-lambda-<arch>.zip
# It uses cargo-lambda (PyPI `cargo-lambda`, which brings zig for cross-linking): from PATH, or
# installed into .venv on first use. arm64 also needs the aarch64-unknown-linux-gnu Rust target
# (`rustup target add aarch64-unknown-linux-gnu`). Release zips of both are attached to every
# GitHub release (.github/workflows/release.yml), so most users never run this.
set -euo pipefail
cd "$(dirname "$0")/.."
arch="${1:-x86_64}"
case "$arch" in
  x86_64) flag=() ;;
  arm64) flag=(--arm64) ;;
  *) echo "usage: $0 [x86_64|arm64]" >&2; exit 2 ;;
esac
if ! command -v cargo-lambda >/dev/null; then
  if [ ! -x .venv/bin/cargo-lambda ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check cargo-lambda==1.9.2
  fi
  PATH="$PWD/.venv/bin:$PATH"
fi
cargo lambda build --profile lambda --locked "${flag[@]}" --output-format zip -p ctparquet-lambda
cp target/lambda/ctparquet-lambda/bootstrap.zip "target/lambda/ctparquet-lambda-$arch.zip"
echo "target/lambda/ctparquet-lambda-$arch.zip"
