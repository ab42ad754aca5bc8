#!/usr/bin/env bash
# Regenerate what the Terraform module takes from the code: the Glue table's columns and
# partition keys (deploy/terraform/generated/glue-table.json), from the one schema. The account
# projection is the module's own (glue.tf), so none is listed here.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p ctparquet-cli -- ddl glue s3://BUCKET/PREFIX --account-projection injected \
  > deploy/terraform/generated/glue-table.json
