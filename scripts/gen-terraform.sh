#!/usr/bin/env bash
# Regenerate what the Terraform module takes from the code: the Glue table's columns and
# partition keys (deploy/terraform/generated/glue-table.json), from the one schema.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p ctparquet-cli -- ddl glue --dest s3://BUCKET/PREFIX \
  > deploy/terraform/generated/glue-table.json
