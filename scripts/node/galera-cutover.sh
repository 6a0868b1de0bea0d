#!/usr/bin/env bash
# The cutover from the external source (the source prop) of a Galera cluster: the cluster stops
# following it and takes the application's writes. Run it on the node that replicates from the
# source (the status command names it; on another node this says which), while the application
# still writes to the source:
#
#   kubectl exec <node> -c mariadb -- bash /opt/mariadb/galera-cutover.sh [--source-is-read-only | --force] [--seconds N]
#
# The node catches up, makes the source read-only (its account needs READ_ONLY ADMIN; with
# --source-is-read-only a human did it, on every node of a Galera source), applies everything up
# to the source's final GTID position, records that the cluster no longer follows (the follow
# record says 'promoted', replicated to every node: none follows again, after any restart) and
# takes writes; every other node opens for clients within a second, when its watch reads the
# record. Then this prints what the application must change, and how the old server can follow
# this cluster (failback). Exits 0 once the cluster takes writes; 1 when it did not, and then the
# source takes writes again (unless a human made it read-only) and the cluster still follows it.
#
# --force: a forced promotion, when the source is gone (a standby cluster whose primary cluster is
# lost): the source is not contacted; the node applies what it received and the cluster takes
# writes, and this prints the last GTID of the source it holds: everything after it may be lost.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=galera-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/galera-lib.sh"

# The node that follows the source, by the peers' state lines; empty when none says so.
follower() {
  collect_peer_states | following_nodes | head -n 1
}

check_follower() {
  local record status other
  source_configured || die "$POD_NAME has no source (the source prop): nothing to cut over from"
  record=$(follow_record) || die "the server of $POD_NAME does not answer"
  [[ $record == following\ * ]] || die "this cluster does not follow the source $(source_address) (${record:-it was not created from it}): the cutover is done, or following never started"
  if [[ ! -f $FOLLOW_FILE ]]; then
    other=$(follower)
    die "$POD_NAME does not replicate from the source; ${other:+run this on $other}${other:-no node does now (see the status command)}"
  fi
  status=$(source_status)
  [[ $(slave_status_value Slave_SQL_Running <<<"$status") == Yes ]] ||
    die "following the source $(source_address) is stopped ($(slave_status_value Last_SQL_Error <<<"$status")): nothing can be cut over until it is repaired (docs/migration.md)"
}

# Writes open on this node (the others open when they read the record), the record first: from
# then on no node follows again.
open_writes() {
  record_promoted || return 1
  FAILBACK_GTID=$(local_sql -e 'SELECT @@GLOBAL.gtid_binlog_pos') || return 1
  local_sql -e 'SET GLOBAL read_only = 0'
}

cut_over_here() {
  local seconds=$1 by_hand=$2 pos t0 t1 after
  log_info "cutover from the source $(source_address): catching up, then stopping its writes"
  pos=$(source_position) || die "cutover failed: the source $(source_address) does not answer"
  applied_up_to "$pos" "$seconds" || die "cutover failed: this node did not catch up with the source (up to $pos) within ${seconds}s"
  t0=$(now_ms)
  if ((by_hand == 0)); then
    source_read_only 1 2>"$NODE_RUNTIME_DIR/source.err" ||
      die "cutover failed: could not make the source read-only ($(tail -n 1 "$NODE_RUNTIME_DIR/source.err")): its account needs READ_ONLY ADMIN, or make it read-only yourself and pass --source-is-read-only"
  fi
  if ! pos=$(source_position) || ! applied_up_to "$pos" "$seconds"; then
    give_source_writes_back "$by_hand"
    die "cutover failed: this node did not apply the source up to its final position ${pos:-(unread)} within ${seconds}s; the source takes writes again"
  fi
  if ! open_writes; then
    give_source_writes_back "$by_hand"
    die "cutover failed: could not open writes on $POD_NAME; the cluster follows the source again"
  fi
  t1=$(now_ms)
  after=$(source_position 2>/dev/null) || after=unknown
  log_info "cutover done: $POD_NAME takes writes (the other nodes within a second); the source's writes stopped at GTID $pos, $((t1 - t0)) ms before"
  [[ $after == "$pos" ]] ||
    log_error "the source $(source_address) took writes after it was made read-only (accounts with READ_ONLY ADMIN, or other nodes of a Galera source): its GTID moved from $pos to $after; those transactions are not in this cluster"
  print_cutover_next_steps "to one node at a time, the same as before the cluster followed a source"
  print_galera_failback
}

# A forced promotion: what this node received of the source (the connection's Gtid_IO_Pos, the IO
# thread stopped first) is applied, and that is the end of what the cluster keeps.
promote_here_without_source() {
  local seconds=$1 pos
  log_info "forced promotion: the source $(source_address) is not contacted; applying what this node received of it"
  local_sql -e "STOP SLAVE '$SOURCE_CONNECTION' IO_THREAD" || die "forced promotion failed: could not stop reading the source"
  pos=$(slave_status_value Gtid_IO_Pos <<<"$(source_status)")
  applied_up_to "$pos" "$seconds" || die "forced promotion failed: this node did not apply what it received (up to ${pos:-nothing}) within ${seconds}s"
  open_writes || die "forced promotion failed: could not open writes on $POD_NAME"
  print_forced_promotion "$pos" "to one node at a time, the same as before the cluster followed a source"
}

# How the old server follows this cluster (failback), from the position the cutover recorded. A
# Galera cluster has no replication account of its own: its administrator makes one.
print_galera_failback() {
  local ssl='MASTER_SSL=0'
  [[ ${NODE_TLS:-off} == off ]] || ssl="MASTER_SSL=1, MASTER_SSL_CA='<the CA of this cluster's certificates>', MASTER_SSL_VERIFY_SERVER_CERT=1"
  cat <<EOF
  - The source stays read-only. Do not open it again unless it follows this cluster (below).
Failback: the old server can follow this cluster. Make an account for it on the cluster, as its administrator
(kubectl exec -it $POD_NAME -c mariadb -- mariadb; the statement replicates to every node):
  CREATE USER 'failback'@'%' IDENTIFIED BY <a password, quoted>; GRANT REPLICATION SLAVE ON *.* TO 'failback'@'%';
then run on the old server, as its administrator:
  STOP SLAVE;
  SET GLOBAL replicate_wild_ignore_table = 'mysql.%';
  SET GLOBAL gtid_slave_pos = '$FAILBACK_GTID';
  CHANGE MASTER TO MASTER_HOST='$(host_of_pod "$POD_NAME")', MASTER_PORT=3306, MASTER_USER='failback',
    MASTER_PASSWORD=<that password, quoted>, MASTER_USE_GTID=slave_pos, $ssl;
  START SLAVE;
  (every node of this cluster holds the same GTIDs and can be its master; its NetworkPolicy must let the old server in)
EOF
}

main() {
  parse_cutover_args galera-cutover.sh "$@"
  check_follower
  if ((CUTOVER_MODE == 2)); then
    promote_here_without_source "$CUTOVER_SECONDS"
  else
    cut_over_here "$CUTOVER_SECONDS" "$CUTOVER_MODE"
  fi
}

FAILBACK_GTID=''
main "$@"
