#!/usr/bin/env bash
# Kubernetes exec probes of a Galera pod: `galera-probe.sh startup|readiness|liveness`.
#  startup:   passes while the node waits for its peers (that may rightly last until they come
#             back) and once mariadbd answers; fails while a state transfer runs, so the
#             startup probe's budget bounds the SST time.
#  readiness: Primary component, wsrep_ready ON and Synced (or Donor when allowed); after a
#             restore to a point, not before the cluster's GTIDs go on from the replayed ones.
#  liveness:  never fails a node that waits, receives a state transfer or is non-Primary;
#             fails a hung server (no answer within the timeout) or a stuck start script.
set -uo pipefail
# (the directory without dirname(1): the kubelet runs this every few seconds)
[[ ${BASH_SOURCE[0]} == */* ]] && HERE=${BASH_SOURCE[0]%/*} || HERE=.
# shellcheck source-path=SCRIPTDIR source=galera-lib.sh
source "$HERE/galera-lib.sh"

server_answers() {
  local out
  out=$(SQL_TIMEOUT=${1:-5} local_sql -e 'SET SESSION wsrep_sync_wait=0; SHOW GLOBAL STATUS LIKE "wsrep_ready"' 2>&1) && return 0
  # Too many connections: busy, but alive; killing it would push its load onto the others.
  [[ $out == *"ERROR 1040"* ]]
}

state_transfer_running() {
  [[ -f $NODE_DATA_DIR/sst_in_progress ]]
}

probe_startup() {
  case $(phase) in
    waiting | refused) heartbeat_fresh || { echo "start script heartbeat is stale"; return 1; } ;;
    running) server_answers || { echo "mariadbd does not answer yet (state transfer or start-up in progress)"; return 1; } ;;
    *) echo "start script has not published a state yet"; return 1 ;;
  esac
}

probe_readiness() {
  [[ $(phase) == running ]] || { echo "not running: $(phase)"; return 1; }
  local status name value cluster="" ready="" state=""
  status=$(SQL_TIMEOUT=3 wsrep_status 2>&1) || { echo "no answer: $status"; return 1; }
  while read -r name value; do
    case $name in
      wsrep_cluster_status) cluster=$value ;;
      wsrep_ready) ready=$value ;;
      wsrep_local_state) state=$value ;;
    esac
  done <<<"$status"
  [[ $cluster == Primary ]] || { echo "cluster status $cluster (not Primary)"; return 1; }
  [[ $ready == ON ]] || { echo "wsrep_ready $ready"; return 1; }
  [[ ! -f $GTID_SEED_FILE ]] || { echo "restored to a point: the first GTID after the restore is not written yet"; return 1; }
  if [[ $state == 4 ]] || [[ $state == 2 && ${GALERA_READY_WHEN_DONOR:-0} == 1 ]]; then
    return 0
  fi
  echo "local state $state (4 = Synced required$([[ ${GALERA_READY_WHEN_DONOR:-0} == 1 ]] && echo ', 2 = Donor allowed'))"
  return 1
}

probe_liveness() {
  case $(phase) in
    waiting | refused) heartbeat_fresh || { echo "start script heartbeat is stale"; return 1; } ;;
    running)
      state_transfer_running && return 0
      server_answers 6 || { echo "mariadbd did not answer within 6 s"; return 1; }
      ;;
    *) return 0 ;; # init or start-up in progress; the startup probe guards this phase
  esac
}

case ${1:-} in
  startup) probe_startup ;;
  readiness) probe_readiness ;;
  liveness) probe_liveness ;;
  *) echo "usage: $0 startup|readiness|liveness" >&2; exit 2 ;;
esac
