#!/usr/bin/env bash
# Kubernetes exec probes of a primary/replica pod: `repl-probe.sh readiness|liveness`.
#  readiness: the primary is writable (and has a semi-synchronous replica unless the primary may
#             acknowledge without one); a replica runs both replication threads with its lag
#             under REPL_MAX_LAG_SECONDS.
#  liveness:  never fails a node that waits or clones (the start script's heartbeat is fresh);
#             fails a hung server (no answer within the timeout) or a stuck start script.
set -uo pipefail
# (the directory without dirname(1): the kubelet runs this every few seconds)
[[ ${BASH_SOURCE[0]} == */* ]] && HERE=${BASH_SOURCE[0]%/*} || HERE=.
# shellcheck source-path=SCRIPTDIR source=repl-lib.sh
source "$HERE/repl-lib.sh"

semi_sync_ok() {
  [[ ${REPL_NO_REPLICA_ACK:-block} == async ]] && return 0
  local clients
  read -r _ clients < <(local_sql -e "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'" 2>/dev/null)
  [[ ${clients:-} =~ ^[0-9]+$ ]] && ((clients >= 1))
}

readiness() {
  local line
  [[ $(phase) == running ]] || { echo "not running: $(phase)"; return 1; }
  line=$(bash "$HERE/repl-state.sh")
  case $(field "$line" role) in
    primary)
      [[ $(field "$line" writable) == 1 ]] || { echo "primary not writable"; return 1; }
      semi_sync_ok || { echo "primary without a semi-synchronous replica (writes wait for one)"; return 1; }
      ;;
    replica)
      [[ $(field "$line" ready) == 1 ]] || { echo "replica: io=$(field "$line" io) sql=$(field "$line" sql) lag=$(field "$line" lag) (at most $REPL_MAX_LAG_SECONDS s)"; return 1; }
      ;;
    *) echo "no role yet ($(field "$line" role))"; return 1 ;;
  esac
}

liveness() {
  heartbeat_fresh || { echo "the start script has not touched its heartbeat for over ${NODE_HEARTBEAT_MAX_AGE}s"; return 1; }
  [[ $(phase) == running ]] || return 0
  SQL_TIMEOUT=5 local_sql -e 'SELECT 1' >/dev/null 2>&1 && return 0
  echo "mariadbd does not answer"
  return 1
}

case ${1:-} in
  readiness) readiness ;;
  liveness) liveness ;;
  *) echo "usage: $0 readiness|liveness" >&2; exit 2 ;;
esac
