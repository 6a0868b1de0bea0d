#!/usr/bin/env bash
# The cutover from the external source (the source prop): the cluster stops following it and
# takes the application's writes. Run it on the primary, while the application still writes to
# the source:
#
#   kubectl exec <primary> -c mariadb -- bash /opt/mariadb/repl-cutover.sh [--source-is-read-only] [--seconds N]
#
# The primary catches up, makes the source read-only (its account needs READ_ONLY ADMIN; with
# --source-is-read-only a human did it, on every node of a Galera source), applies everything up
# to the source's final GTID position, stops following for good (the follow record says
# 'promoted': no later primary follows again) and takes writes. Then this prints what the
# application must change, and how the old server can follow this cluster (failback).
# Exits 0 once the cluster takes writes; 1 when it did not, and then the source takes writes again
# (unless a human made it read-only) and the cluster still follows it.
#
# --force: a forced promotion, when the source is gone (a standby cluster whose primary cluster is
# lost): the source is not contacted; the cluster applies what it received and takes writes, and
# this prints the last GTID of the source it holds: everything after it may be lost.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=repl-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=repl-election.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-election.sh"

check_request() {
  local self status
  source_configured || die "$POD_NAME has no source (the source prop): nothing to cut over from"
  self=$(bash "$NODE_CONFIG_DIR/repl-state.sh")
  if [[ $(field "$self" role) != primary || ! -f $FOLLOW_FILE ]]; then
    local primary
    primary=$(collect_peer_states | primary_of)
    [[ $(field "$self" role) == primary ]] && die "$POD_NAME does not follow the source $(source_address): the cutover is done, or following never started"
    die "$POD_NAME is not the primary (role '$(field "$self" role)'); ${primary:+run this on $primary}"
  fi
  status=$(source_status)
  [[ $(slave_status_value Slave_SQL_Running <<<"$status") == Yes ]] ||
    die "following the source $(source_address) is stopped ($(slave_status_value Last_SQL_Error <<<"$status")): nothing can be cut over until it is repaired (docs/migration.md)"
  [[ ! -e $CUTOVER_FILE ]] || die "a cutover is already requested"
}

# result KEY: one value of the watch's answer.
result() { awk -F= -v k="$1" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$CUTOVER_RESULT_FILE"; }

wait_for_answer() {
  local deadline=$((SECONDS + 3 * $1 + 30))
  while ((SECONDS < deadline)); do
    [[ -f $CUTOVER_RESULT_FILE ]] && return 0
    sleep 0.2
  done
  rm -f "$CUTOVER_FILE"
  die "the primary's watch did not answer the cutover request; see this pod's log (decision: lines)"
}

# How the old server follows the cluster (failback), from the position the cutover recorded.
print_failback() {
  local failback=$1 ssl='MASTER_SSL=0'
  [[ ${NODE_TLS:-off} == off ]] || ssl="MASTER_SSL=1, MASTER_SSL_CA='<the CA of this cluster's certificates>', MASTER_SSL_VERIFY_SERVER_CERT=1"
  cat <<EOF
  - The source stays read-only. Do not open it again unless it follows this cluster (below).
Failback: the old server can follow this cluster (run on it, as its administrator):
  STOP SLAVE;
  SET GLOBAL replicate_wild_ignore_table = 'mysql.%';
  SET GLOBAL gtid_slave_pos = '$failback';
  CHANGE MASTER TO MASTER_HOST='$(host_of_pod "$POD_NAME")', MASTER_PORT=$REPL_MYSQL_PORT, MASTER_USER='repl',
    MASTER_PASSWORD=<the key replication-password of Secret $NODE_SECRET_NAME, quoted>, MASTER_USE_GTID=slave_pos, $ssl;
  START SLAVE;
  (the accounts stay each side's own, as while this cluster followed the old server; any node of this cluster
  can be its master: each holds the same GTIDs; its NetworkPolicy must let the old server in)
EOF
}

main() {
  parse_cutover_args repl-cutover.sh "$@"
  check_request
  rm -f "$CUTOVER_RESULT_FILE"
  printf '%s %s\n' "$CUTOVER_SECONDS" "$CUTOVER_MODE" >"$CUTOVER_FILE"
  log_info "cutover from the source $(source_address) requested; waiting for the primary's watch"
  wait_for_answer "$CUTOVER_SECONDS"
  if [[ $(result result) != "done" ]]; then
    die "cutover failed: $(result reason)"
  fi
  if [[ $(result forced) == 1 ]]; then
    print_forced_promotion "$(result source_gtid)" "to $POD_NAME now, and to the next primary after a failover"
    return 0
  fi
  log_info "cutover done: $POD_NAME takes writes; the source's writes stopped at GTID $(result source_gtid), $(result window_ms) ms before"
  [[ $(result source_gtid_after) == "$(result source_gtid)" ]] ||
    log_error "the source took writes after it was made read-only: its GTID is $(result source_gtid_after) now; those transactions are not in this cluster"
  print_cutover_next_steps "to $POD_NAME now, and to the next primary after a failover"
  print_failback "$(result failback_gtid)"
}

main "$@"
