#!/usr/bin/env bash
# Fuzz the delivery-file decoder for a fixed number of runs with a fixed seed (reproducible), its
# corpus seeded from the real CloudTrail files in tests/data/real-cloudtrail.
#   scripts/fuzz.sh                 # FUZZ_RUNS (default 20000) runs
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP lets the machine's stable
# toolchain accept them (no other toolchain can be installed here).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz@0.13.2 --locked --debug
# A fresh corpus of the seeds every time: the same runs, seed and corpus give the same inputs, so
# a pass here is a pass in CI. FUZZ_CORPUS keeps one across runs instead, for longer campaigns.
corpus="${FUZZ_CORPUS:-$(mktemp -d)}"
corpus="$(cd "$corpus" && pwd)"
find tests/data/real-cloudtrail -type f \( -name '*.json' -o -name '*.json.gz' -o -name '*.ndjson' \) -size -256k -print0 |
  while IFS= read -r -d '' f; do cp "$f" "$corpus/seed-$(sha1sum < "$f" | cut -c1-16)"; done
cd fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run decode "$corpus" -- \
  -runs="${FUZZ_RUNS:-20000}" -seed=1 -max_len=262144 -rss_limit_mb=2048 -print_final_stats=1
