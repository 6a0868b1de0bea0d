#!/usr/bin/env bash
# Benchmarks (not tests): they print medians of repeated runs. Root and the same Debian packages
# as the tests are needed (installed here).
#   bench/run.sh [RUNS]                 Galera lifecycle timings (npm run bench)
#   bench/run.sh proxysql [OPTIONS]     ProxySQL throughput and failover (npm run bench:proxysql; needs PROXYSQL_BIN)
#   bench/run.sh tls [OPTIONS]          TLS and NetworkPolicy cost (npm run bench:tls)
#   bench/run.sh backup [OPTIONS]       backup and restore against mariadb-dump (npm run bench:backup)
#   bench/run.sh pitr [OPTIONS]         archive lag, restore time to a point, RPO (npm run bench:pitr)
#   bench/run.sh idle [OPTIONS]         what an idle cluster's pods cost: CPU, processes started (npm run bench:idle)
#   bench/run.sh faults [SECONDS]       the list-append fault mixes of both topologies for SECONDS each
#                                       (default 1800; npm run bench:faults; needs PROXYSQL_BIN)
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/run-all.sh --install-only
case ${1:-} in
  proxysql) shift; exec npx ts-node --transpile-only bench/proxysql-bench.ts "$@" ;;
  tls) shift; exec npx ts-node --transpile-only bench/tls-bench.ts "$@" ;;
  backup) shift; exec npx ts-node --transpile-only bench/backup-bench.ts "$@" ;;
  pitr) shift; exec npx ts-node --transpile-only bench/pitr-bench.ts "$@" ;;
  idle) shift; exec npx ts-node --transpile-only bench/idle-bench.ts "$@" ;;
  replication) shift; exec npx ts-node --transpile-only bench/replication-bench.ts "$@" ;;
  faults)
    FAULT_SECONDS=${2:-1800} exec npx jest --selectProjects cluster --runInBand \
      test/cluster/consistency/galera-faults.test.ts test/cluster/consistency/replication-faults.test.ts
    ;;
  *) exec npx ts-node --transpile-only bench/galera-bench.ts "${1:-5}" ;;
esac
