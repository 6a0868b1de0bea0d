#!/usr/bin/env bash
# Serves this node's state line to a peer (socat runs it for each connection on the state port).
# Before mariadbd runs it is what the start script published (waiting, cloning, refused); while
# mariadbd runs it is the live view of the server: role, writable, GTID position (received
# events included), replication threads and lag.
#
#   repl-state.sh            the state line (what the state port serves)
#   repl-state.sh --status   the state line, then "name<TAB>value" lines of the replication
#                            status (for the status command: kubectl exec ... -c mariadb)
set -uo pipefail
# (the directory without dirname(1): peers ask every second)
[[ ${BASH_SOURCE[0]} == */* ]] && HERE=${BASH_SOURCE[0]%/*} || HERE=.
# shellcheck source-path=SCRIPTDIR source=repl-lib.sh
source "$HERE/repl-lib.sh"

# The live view of the running server: role, writable, GTID position, replication threads, lag.
# Peers ask every second: one client run and the shell's own parsing, no other process (slow
# answers on a loaded node look like a partition).
replication_live_state() {
  local out role='' source switchover='' read_only current io_pos io sql lag seq io_seq ready=0 writable=0
  local -A s=()
  out=$(SQL_TIMEOUT=3 local_sql --column-names -E \
    -e 'SELECT @@GLOBAL.read_only AS Read_only, @@GLOBAL.gtid_current_pos AS Gtid_current_pos; SHOW SLAVE STATUS' 2>/dev/null) ||
    return 1
  read_vertical s <<<"$out"
  read_only=${s[Read_only]:-}
  [[ -n $read_only ]] || return 1
  current=${s[Gtid_current_pos]:-}
  read_line role "$ROLE_FILE"
  io_pos=${s[Gtid_IO_Pos]:-}
  [[ ${s[Slave_IO_Running]:-} == Yes ]] && io=1 || io=0
  [[ ${s[Slave_SQL_Running]:-} == Yes ]] && sql=1 || sql=0
  lag=${s[Seconds_Behind_Master]:-}
  [[ $lag =~ ^[0-9]+$ ]] || lag=''
  source=${s[Master_Host]:-}
  gtid_seq_into seq "$current"
  gtid_seq_into io_seq "$io_pos"
  # received events count only while the SQL thread can still apply them
  [[ $sql == 1 ]] && ((io_seq > seq)) && seq=$io_seq
  # read_only reads 0/1, or OFF/ON where it is an enum (MariaDB 10.11 and later); the primary of a
  # cluster that follows its external source takes the source's writes (clients may not write)
  [[ $read_only == 0 || $read_only == OFF || ($role == primary && -f $FOLLOW_FILE) ]] && writable=1
  if [[ $role == handover ]]; then
    read_line switchover "$SWITCHOVER_FILE"
    source=$(host_of_pod "$switchover")
  fi
  case $role in
    primary) ((writable == 1)) && ready=1 ;;
    replica) ((io == 1 && sql == 1)) && [[ -n $lag ]] && ((lag <= REPL_MAX_LAG_SECONDS)) && ready=1 ;;
  esac
  state_line phase=running role="$role" writable="$writable" gtid="${current// /}" seq="$seq" \
    io="$io" sql="$sql" lag="$lag" source="${source%%.*}" ready="$ready"
}

# "name<TAB>value" lines: the GTID positions, read_only, the semi-sync status and, on a replica,
# the fields of STATUS_SLAVE_FIELDS; on a cluster with an external source, its lines
# (source_status_lines: source.sh).
# A value may hold spaces (an error message), never a tab.
replication_status() {
  local status
  SQL_TIMEOUT=3 local_sql -e "SELECT 'gtid_current_pos', @@GLOBAL.gtid_current_pos
    UNION ALL SELECT 'gtid_slave_pos', @@GLOBAL.gtid_slave_pos
    UNION ALL SELECT 'gtid_binlog_pos', @@GLOBAL.gtid_binlog_pos
    UNION ALL SELECT 'read_only', @@GLOBAL.read_only
    UNION ALL SELECT LOWER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
      WHERE VARIABLE_NAME IN ('RPL_SEMI_SYNC_MASTER_STATUS', 'RPL_SEMI_SYNC_MASTER_CLIENTS', 'RPL_SEMI_SYNC_SLAVE_STATUS')" || return 1
  status=$(slave_status)
  status_fields '' "$status"
  source_status_lines
}

main() {
  # while mariadbd does not answer (start-up), peers see the published line: running, no role
  serve_state replication_live_state running
  if [[ ${1:-} == --status ]]; then
    replication_status 2>/dev/null || true
  fi
  return 0
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
