#!/usr/bin/env bash
# Serves this node's state line to a peer (run by socat for each connection on the state port).
# Before mariadbd runs it is the position the start script published; while mariadbd runs it
# is the live view of the server, so peers see whether a Primary component exists.
#
#   galera-state.sh            the state line (what the state port serves)
#   galera-state.sh --status   the state line, then "name value" lines of the wsrep status and,
#                              with an external source, its "name<TAB>value" lines (source.sh)
#                              (for the status command: kubectl exec ... -c mariadb)
set -uo pipefail
# (the directory without dirname(1): peers ask every second)
[[ ${BASH_SOURCE[0]} == */* ]] && HERE=${BASH_SOURCE[0]%/*} || HERE=.
# shellcheck source-path=SCRIPTDIR source=galera-lib.sh
source "$HERE/galera-lib.sh"

# The live view of the server; role and donates stay as galera-start.sh published them (donates:
# the mariadbd it started can donate the stream state transfer, see galera-election.sh sst_method).
galera_live_state() {
  local status name value primary=0 uuid=$ZERO_UUID seqno=-1 state=0 published forced
  status=$(SQL_TIMEOUT=2 wsrep_status 2>/dev/null) || return 1
  read_line published "$STATE_FILE"
  read_line forced "$FORCED_FROM_FILE"
  while read -r name value; do
    case $name in
      wsrep_cluster_status) [[ $value == Primary ]] && primary=1 ;;
      wsrep_cluster_state_uuid) [[ -n $value ]] && uuid=$value ;;
      wsrep_last_committed) seqno=$value ;;
      wsrep_local_state) state=$value ;;
    esac
  done <<<"$status"
  state_line phase=running role="$(field "$published" role)" primary="$primary" uuid="$uuid" seqno="$seqno" \
    local_state="$state" forced="$forced" donates="$(field "$published" donates)"
}

main() {
  # mariadbd may still be receiving a state transfer: then peers see the published line, starting.
  serve_state galera_live_state starting
  if [[ ${1:-} == --status ]]; then
    SQL_TIMEOUT=3 wsrep_status 2>/dev/null || true
    source_status_lines 2>/dev/null || true
  fi
  return 0
}

# Sourced (by the tests), it only defines the functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
