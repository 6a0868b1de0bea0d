#!/usr/bin/env bash
# The one command that runs every test (`npm test`): installs what the tests need (Debian
# packages, npm dependencies), runs the linters (shellcheck, typescript-eslint), then the unit
# suite (synth, schema, bad input, scripts, ProxySQL configuration) and the cluster suite (real
# MariaDB Galera nodes in network namespaces; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

# The database and its tools, the harness's (iproute2, util-linux, procps, socat), the checks'
# (shellcheck, libconfig-dev and gcc for ProxySQL's config parser), ProxySQL's run-time libraries
# (libgnutls30, libuuid1, libstdc++6), the benchmarks' load generator (sysbench), nftables (the
# harness enforces NetworkPolicies with it), openssl (the TLS tests read served certificates),
# zstd (the backup stream), rclone (the S3 upload and restore, as in the rclone image), busybox
# (the shell and applets of the rclone image: harness/images), and for monitoring: prometheus
# (promtool checks and unit-tests the alert rules), prometheus-mysqld-exporter (0.14.0, the
# version of the pinned sidecar image, scrapes the real nodes) and curl (the scrapes).
DEBIAN_PACKAGES=(mariadb-server mariadb-client mariadb-backup galera-4 socat rsync iproute2 util-linux procps shellcheck libconfig-dev gcc busybox
  libgnutls30 libuuid1 libstdc++6 sysbench nftables openssl zstd rclone prometheus prometheus-mysqld-exporter curl)

log() { printf '== %s\n' "$*"; }

install_debian_packages() {
  local missing=() pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  # The packaged server must not start on its own: the tests run their own mariadbd processes.
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_debian_packages
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
[[ ${1:-} == --install-only ]] && exit 0

# The checks (shellcheck, lint, types, dist/ freshness) are single-threaded and the unit suite
# runs in one jest worker on two cores: they run side by side, the checks' output printed once
# they end. A failed check stops the run before the cluster tests, as a failed unit test does not.
checks() {
  log "shellcheck"
  mapfile -t scripts < <(git ls-files '*.sh')
  shellcheck -x "${scripts[@]}"
  log "TypeScript lint (typescript-eslint over src, test, harness, bench, tools; no line over 140 characters)"
  npm run -s lint
  log "type check"
  npx tsc --noEmit -p .
  log "dist/ matches the code (npm run synth)"
  npm run -s synth >/dev/null
  git diff --exit-code --stat -- dist/ || { echo "dist/ is stale: run npm run synth and commit it"; return 1; }
}

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
checks >"$results/checks.log" 2>&1 &
checks_pid=$!
log "unit tests (the checks run meanwhile)"
npx jest --selectProjects unit --ci --maxWorkers=1 --forceExit --json --outputFile="$results/unit.json" || status=1
checks_status=0
wait "$checks_pid" || checks_status=$?
cat "$results/checks.log"
if ((checks_status != 0)); then
  echo "== a check failed (above): no cluster tests run"
  exit 1
fi
# Two test files at a time: each brings up its own clusters (own namespaces, subnet and volumes),
# and most of a file's time is waiting on servers, so two share 2 cores well. CLUSTER_WORKERS=1
# runs them one by one (e.g. to read one file's log without another's in between).
workers=${CLUSTER_WORKERS:-2}
log "cluster tests (real Galera nodes in network namespaces; $workers test files at a time)"
npx jest --selectProjects cluster --ci --maxWorkers="$workers" --verbose --forceExit --json --outputFile="$results/cluster.json" || status=1

# The time of each test file, then one closing line for both suites: "N passed, N failed".
# RECORD_TIMES=1 also records them in test/file-times.json (the order of a fresh clone's run).
record=()
[[ ${RECORD_TIMES:-0} == 1 ]] && record=(--record test/file-times.json)
node test/suite-report.js "${record[@]}" "$results/unit.json" "$results/cluster.json"
log "whole run: $((SECONDS / 60)) min $((SECONDS % 60)) s"
exit "$status"
