#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a bounded time ($FUZZ_SECONDS, default 10).
# cargo-fuzz needs nightly-only flags (sanitizers); RUSTC_BOOTSTRAP lets the pinned stable
# toolchain accept them, so no second toolchain has to be fetched.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
secs=${FUZZ_SECONDS:-10}
targets=$(cargo fuzz list)
[ -n "$targets" ] || { echo "no fuzz targets"; exit 1; }
cargo fuzz build -O --debug-assertions
for t in $targets; do
  mkdir -p "corpus/$t"
  seeds="seeds/$t"; [ -d "$seeds" ] || seeds=""
  echo "== fuzz $t for ${secs}s"
  cargo fuzz run -O --debug-assertions "$t" "corpus/$t" $seeds -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 4
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz target $t failed"; exit 1; }
done
echo "fuzzed $(echo "$targets" | wc -l) targets"
