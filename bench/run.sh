#!/usr/bin/env bash
# Benchmark (not a test): medians of the Galera lifecycle timings over N runs (default 5).
# Needs root and the same Debian packages as the tests, which it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/run-all.sh --install-only
exec npx ts-node --transpile-only bench/galera-bench.ts "${1:-5}"
