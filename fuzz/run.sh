#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 600) on the seeded corpus.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable toolchain
# accept the sanitizer flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
./seed.sh
for target in meta_webhook chatwoot_webhook signature signed_request; do
  echo "== $target for ${seconds}s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 | tail -n 12
done
