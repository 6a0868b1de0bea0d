#!/usr/bin/env bash
# Main process of a primary/replica pod (the mariadb container's command). It gets a dataset
# (initializes a new cluster, or clones one from a ready peer), starts mariadbd read-only, and
# takes a role: replica of the running primary, or primary by initialization or by election.
# Then it watches: a replica whose primary stays unreachable for REPL_FAILOVER_SECONDS runs the
# failover election; a primary that cannot reach a majority for REPL_FENCE_SECONDS fences
# itself (read-only, client connections killed). Every decision is one "decision:" log line.
# With an external source (source.sh) the first node copies it when it initializes the cluster,
# and the primary follows it, read-only for clients, until the cutover.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=repl-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=repl-election.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-election.sh"

REPL_FAILOVER_SECONDS=${REPL_FAILOVER_SECONDS:-30}
REPL_FENCE_SECONDS=${REPL_FENCE_SECONDS:-15}
STOP_REQUESTED=0 ACKS=ON EXPORTER_ACCOUNT=0
# A primary asked to stop (SIGTERM: rolling update, drain) first hands its role over, within this many seconds.
REPL_STOP_HANDOVER_SECONDS=${REPL_STOP_HANDOVER_SECONDS:-20}

decision() { log_info "decision: $1: $2"; }

# The state port, the clone port a new node copies the data of a ready one from, and (TLS on)
# the watch that reloads a renewed certificate.
start_servers() {
  start_state_server repl-state.sh
  bash "$NODE_CONFIG_DIR/repl-clone.sh" listen &
  SERVER_PIDS+=($!)
  if [[ $NODE_TLS != off ]]; then
    watch_tls_renewal &
    SERVER_PIDS+=($!)
  fi
}

# A renewed certificate is served without a restart (reload_tls_when_renewed, node-lib.sh): the
# server's for clients and replicas; a replica's IO thread reads its client certificate at every
# connection. The first round notes the certificate mariadbd is about to start with.
watch_tls_renewal() {
  trap - EXIT
  while true; do
    reload_tls_when_renewed '' ''
    sleep 5 &
    wait $! || true
  done
}

has_data() { [[ -f $DATA_MARKER ]]; }

# --- getting a dataset --------------------------------------------------------------------

# A new cluster's data directory (initialize_datadir in node-lib.sh). The accounts are binlogged,
# so each has a GTID like every later write; semi-sync waits for no replica yet (none exists):
# every replica gets them in its clone.
initialize_replication_datadir() {
  initialize_datadir replication_accounts_sql
  log_info "accounts created: root@%, $NODE_APP_USER@% (database $NODE_APP_DATABASE), repl@%, monitor@%"
  if source_configured; then
    publish_state phase=cloning
    seed_new_cluster --skip-slave-start
  fi
  printf 'initialized\n' >"$DATA_MARKER"
}

# The accounts of every topology, monitor@% allowed to read the replication status, and repl@%
# for the replicas.
replication_accounts_sql() {
  local shared
  shared=$(accounts_sql 'USAGE, SLAVE MONITOR, BINLOG MONITOR') || return 1
  cat <<SQL
$shared
CREATE OR REPLACE USER 'repl'@'%' IDENTIFIED BY $(sql_quote "$(secret replication-password)") REQUIRE $(repl_require);
GRANT REPLICATION SLAVE, REPLICATION SLAVE ADMIN, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'repl'@'%';
SQL
}

# What the primary requires of a replica's connection: with TLS on, TLS and a client certificate
# of the cluster CA (so the primary itself refuses a replication stream in plain text); TLS off or
# transitional (old pods replicate in plain text): nothing.
repl_require() {
  if [[ $NODE_TLS == on ]]; then echo X509; else echo NONE; fi
}

# The replication channel's TLS options (CHANGE MASTER): with TLS on, the node certificate as the
# client's, the primary's verified by the CA and by its pod name (MASTER_HOST, which the node
# certificates carry); otherwise plain text, stated explicitly (CHANGE MASTER keeps what it is not told).
master_tls_options() {
  if [[ $NODE_TLS == on ]]; then
    printf ', MASTER_SSL=1, MASTER_SSL_CA=%s, MASTER_SSL_CERT=%s, MASTER_SSL_KEY=%s, MASTER_SSL_VERIFY_SERVER_CERT=1' \
      "$(sql_quote "$NODE_TLS_DIR/ca.crt")" "$(sql_quote "$NODE_TLS_DIR/tls.crt")" "$(sql_quote "$NODE_TLS_DIR/tls.key")"
  else
    printf ', MASTER_SSL=0, MASTER_SSL_VERIFY_SERVER_CERT=0'
  fi
}

# A cluster whose TLS setting changed since its accounts were made (TLS turned on by a rollout, or
# off): the primary brings repl@%'s requirement in line, once; the statement replicates. In the
# background: like every commit it waits for a replica's acknowledgement, and the replicas are
# only now turning to this primary.
align_repl_require() {
  local want current
  want=$(repl_require)
  current=$(local_sql -e "SHOW CREATE USER 'repl'@'%'" 2>/dev/null) || return 0
  [[ $current == *"REQUIRE $want"* || ($want == NONE && $current != *REQUIRE*) ]] && return 0
  log_info "replication account: requiring $want of replicas' connections (TLS is $NODE_TLS)"
  (SQL_TIMEOUT=600 local_sql -e "ALTER USER 'repl'@'%' REQUIRE $want" ||
    log_warn "could not set REQUIRE $want on 'repl'@'%'; the next primary tries again") &
}

# Clones from the best ready peer (clone_source), retrying until one serves a complete copy.
clone_from_peer() {
  local source logged=0
  while ((STOPPING == 0)); do
    source=$(collect_peer_states | clone_source)
    if [[ -n $source ]]; then
      decision clone "$source is the most advanced ready node"
      publish_state phase=cloning
      # the transfer may take long: the heartbeat says the script lives (liveness never kills a clone)
      (while sleep 10; do heartbeat; done) &
      local beat=$! rc=0
      bash "$NODE_CONFIG_DIR/repl-clone.sh" receive "$(host_of_pod "$source")" || rc=$?
      kill "$beat" 2>/dev/null
      ((rc == 0)) && return 0
      log_warn "clone from $source failed; choosing a source again"
    elif ((logged == 0)); then
      log_info "waiting for a ready peer to clone from"
      logged=1
    fi
    publish_state phase=waiting
    heartbeat
    sleep 2
  done
  return 1
}

# --- mariadbd -------------------------------------------------------------------------------

start_mariadbd() {
  rm -f "$ROLE_FILE" "$SOURCE_FILE" "$FOLLOW_FILE" "$CUTOVER_FILE"
  mariadbd --defaults-file="$MY_CNF" &
  MARIADBD_PID=$!
  local i
  for ((i = 0; i < 600; i++)); do
    local_sql -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$MARIADBD_PID" 2>/dev/null || return 1
    heartbeat
    sleep 1
  done
  publish_state phase=running
}

# A clone's first start: replication starts where the copy ends.
apply_cloned_position() {
  local gtid
  gtid=$(awk '$1 == "cloned" { print $2 }' "$DATA_MARKER")
  [[ -n $gtid ]] || return 0
  local_sql -e "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL gtid_slave_pos = $(sql_quote "$gtid")" || return 1
  printf 'data\n' >"$DATA_MARKER"
}

# The first start of a node restored from a backup (scripts/backup/restore.sh; on ordinal 0 its
# data marker says "restored <gtid>"): it is the primary of the new cluster, as an initialized
# node is, and the other pods, restored from the same backup at the same time, replicate from it
# (their restore waits, phase=restoring, until this node is the primary). Only while no peer
# runs or holds data, which the restore checked before it began; otherwise this node takes its
# role like any node with data.
become_restored_primary() {
  local gtid peer
  gtid=$(awk '$1 == "restored" { print $2 }' "$DATA_MARKER")
  [[ -n $gtid ]] || return 1
  peer=$(collect_peer_states | awk '/ phase=(running|cloning|refused) | data=1 / { print $2; exit }')
  if [[ -n $peer ]]; then
    log_warn "restored from a backup at GTID $gtid, but ${peer#name=} runs or holds data: taking a role like any node with data"
  else
    become_primary || return 1
    decision primary "restored from a backup at GTID $gtid; no peer holds data: the replicas, restored from it too, replicate from this node"
  fi
  # (a crash before this line makes the next start decide again, the same way)
  printf 'data\n' >"$DATA_MARKER"
  [[ -z $peer ]]
}

# Semi-sync waits are turned on before the first write is accepted, so no commit is acknowledged
# before a replica has it. A cluster that follows its external source stays read-only: its
# primary takes the source's transactions (the watch starts the connection, keep_following).
become_primary() {
  local follows=0
  follows_source
  case $? in
    0) follows=1 ;;
    2) log_warn "cannot read whether this cluster follows its source (the server does not answer): not taking writes yet"; return 1 ;;
  esac
  local_sql -e "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL rpl_semi_sync_master_enabled = ON" || return 1
  if ((follows == 1)); then
    : >"$FOLLOW_FILE"
    FOLLOW_STARTED=0
  else
    rm -f "$FOLLOW_FILE"
    local_sql -e 'SET GLOBAL read_only = 0' || return 1
  fi
  echo primary >"$ROLE_FILE"
  rm -f "$SOURCE_FILE"
  align_repl_require
  apply_declared_accounts_once_acknowledged &
}

# The following primary's connection to the source. It starts once a commit here returns at
# once: the source's transactions commit here like any other, and with noReplicaAck block and
# no replica yet they would wait, holding the lock a new replica's clone needs. Then a change of
# its state is logged, once: a stopped SQL thread (a conflict: the cluster no longer follows
# until a human repairs it) is an error, an unreachable source a warning (it retries).
FOLLOW_STARTED=0
keep_following() {
  if ((FOLLOW_STARTED == 0)); then
    commits_return_at_once || return 0
    if start_following; then
      FOLLOW_STARTED=1 FOLLOW_REPORTED=''
      decision follow "replicating from the source $(source_address) (connection '$SOURCE_CONNECTION'); clients may not write until the cutover"
    else
      log_warn "could not start replicating from the source $(source_address); retrying"
    fi
    return 0
  fi
  report_following
}

# A commit on this primary returns without waiting: it is the only node, or semi_sync_returns_at_once.
commits_return_at_once() {
  (($(peer_count) == 1)) || semi_sync_returns_at_once
}

# Semi-sync lets a commit return at once: a replica acknowledges (semi-sync clients), or the
# primary fell back to asynchronous replication.
semi_sync_returns_at_once() {
  local semi status clients
  semi=$(local_sql -e "SELECT LOWER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
    WHERE VARIABLE_NAME IN ('RPL_SEMI_SYNC_MASTER_STATUS', 'RPL_SEMI_SYNC_MASTER_CLIENTS')" 2>/dev/null) || return 1
  status=$(awk '$1 == "rpl_semi_sync_master_status" { print $2 }' <<<"$semi")
  clients=$(awk '$1 == "rpl_semi_sync_master_clients" { print $2 }' <<<"$semi")
  [[ $status == OFF ]] || ((${clients:-0} >= 1))
}

# The primary takes writes again after a switchover that did not happen: clients', or the source's.
resume_writes() {
  if [[ -f $FOLLOW_FILE ]]; then
    FOLLOW_STARTED=0
  else
    local_sql -e 'SET GLOBAL read_only = 0' || true
  fi
  echo primary >"$ROLE_FILE"
}

# The cutover (repl-cutover.sh asks for it), on the following primary: catch up while the source
# still takes writes (so the window is short), stop the source's writes, apply everything up to
# its final position, stop following, record it (no primary follows again, after any restart),
# then open writes. A failure before the following stops gives the source its writes back and
# keeps following. The answer, key=value lines, goes to CUTOVER_RESULT_FILE.
cut_over() {
  local seconds by_hand pos t0 t1 after
  read -r seconds by_hand <"$CUTOVER_FILE"
  rm -f "$CUTOVER_FILE"
  [[ -f $FOLLOW_FILE ]] || { cutover_failed "$POD_NAME does not follow a source"; return 0; }
  if ((by_hand == 2)); then
    promote_without_source "$seconds"
    return 0
  fi
  decision cutover "from the source $(source_address): catching up, then stopping its writes"
  pos=$(source_position) || { cutover_failed "the source $(source_address) does not answer"; return 0; }
  applied_up_to "$pos" "$seconds" ||
    { cutover_failed "this node did not catch up with the source (up to $pos) within ${seconds}s"; return 0; }
  t0=$(now_ms)
  if ((by_hand == 0)); then
    source_read_only 1 2>"$NODE_RUNTIME_DIR/source.err" ||
      { cutover_failed "could not make the source read-only ($(tail -n 1 "$NODE_RUNTIME_DIR/source.err")): its account needs READ_ONLY ADMIN, or make it read-only yourself and pass --source-is-read-only"; return 0; }
  fi
  if ! pos=$(source_position) || ! applied_up_to "$pos" "$seconds"; then
    give_source_writes_back "$by_hand"
    cutover_failed "this node did not apply the source up to its final position ${pos:-(unread)} within ${seconds}s; the source takes writes again"
    return 0
  fi
  if ! open_after_following; then
    give_source_writes_back "$by_hand"
    cutover_failed "could not open writes on $POD_NAME; it follows the source again"
    return 0
  fi
  t1=$(now_ms)
  after=$(source_position 2>/dev/null) || after=unknown
  decision cutover "done: $POD_NAME takes writes, $((t1 - t0)) ms after the source's stopped at GTID $pos"
  [[ $after == "$pos" ]] ||
    log_error "the source $(source_address) took writes after it was made read-only (accounts with READ_ONLY ADMIN, or other nodes of a Galera source): its GTID moved from $pos to $after; those transactions are not in this cluster"
  cutover_answer result=done "source_gtid=$pos" "source_gtid_after=$after" "failback_gtid=$FAILBACK_GTID" "window_ms=$((t1 - t0))"
}

# The following ends for good and this node takes writes: the connection removed, the follow
# record 'promoted', read_only off, then the declared databases (left to the source while the
# cluster followed it). Sets FAILBACK_GTID, the position a failback starts from (read before any
# client writes here). On a failure the node follows the source again (the watch restarts the
# connection: leave_following reset FOLLOW_STARTED in this shell, not a subshell).
FAILBACK_GTID=''
open_after_following() {
  leave_following
  rm -f "$FOLLOW_FILE"
  if ! record_promoted || ! FAILBACK_GTID=$(local_sql -e 'SELECT @@GLOBAL.gtid_binlog_pos') || ! local_sql -e 'SET GLOBAL read_only = 0'; then
    log_error "cutover: could not open writes after the following stopped; following the source again"
    : >"$FOLLOW_FILE"
    return 1
  fi
  apply_declared_accounts_once_acknowledged &
}

# A forced promotion (repl-cutover.sh --force): the source is gone and is not contacted. What
# this node received of it (the connection's Gtid_IO_Pos, the IO thread stopped first) is
# applied, and that position is the end of what the cluster keeps: whatever the source committed
# after it is missing here, and said so.
promote_without_source() {
  local seconds=$1 pos
  decision cutover "forced: the source $(source_address) is not contacted; applying what this node received of it"
  local_sql -e "STOP SLAVE '$SOURCE_CONNECTION' IO_THREAD" || { cutover_failed "could not stop reading the source"; return 0; }
  pos=$(slave_status_value Gtid_IO_Pos <<<"$(source_status)")
  if ! applied_up_to "$pos" "$seconds"; then
    local_sql -e "START SLAVE '$SOURCE_CONNECTION' IO_THREAD" || true
    cutover_failed "this node did not apply what it received of the source (up to ${pos:-(none)}) within ${seconds}s; it still follows the source"
    return 0
  fi
  open_after_following || { cutover_failed "could not open writes on $POD_NAME; it follows the source again"; return 0; }
  decision cutover "forced: $POD_NAME takes writes; of the source it holds everything up to GTID ${pos:-(nothing)}; whatever the source committed after that is not in this cluster"
  cutover_answer result=done forced=1 "source_gtid=$pos" "failback_gtid=$FAILBACK_GTID"
}

cutover_failed() {
  log_error "cutover: $1"
  cutover_answer result=failed "reason=$1"
}

# The answer to repl-cutover.sh, whole or not at all.
cutover_answer() {
  printf '%s\n' "$@" >"$CUTOVER_RESULT_FILE.tmp" && mv -f "$CUTOVER_RESULT_FILE.tmp" "$CUTOVER_RESULT_FILE"
}

# The node stops following the source (it hands its role over, is fenced, or becomes a replica).
leave_following() {
  stop_following || log_warn "could not stop the connection '$SOURCE_CONNECTION'"
  FOLLOW_STARTED=0
}

# The declared users and databases (accounts.sh), applied by the primary; the replicas get them by
# replication. Only once a commit returns at once (a replica acknowledges, or semi-sync fell
# back to asynchronous): a commit that waits for an acknowledgement holds the backup lock that a
# new replica's clone needs (the clone ends client sessions to get it, but not this one), so the
# cluster could never get its first replica.
apply_declared_accounts_once_acknowledged() {
  while [[ $(cat "$ROLE_FILE" 2>/dev/null) == primary ]]; do
    if commits_return_at_once; then
      # while the cluster follows a source, its databases are the source's (accounts.sh)
      ACCOUNTS_SKIP_DATABASES=$([[ -f $FOLLOW_FILE ]] && echo 1 || echo 0) SQL_TIMEOUT=600 apply_declared_accounts ||
        log_warn "the declared users and databases were not applied; the next primary tries again"
      return 0
    fi
    sleep 2
  done
}

# Follows SOURCE by GTID from where this node's history ends (history_position): a node that wrote
# its own transactions (a former primary) asks the new primary for what comes after them; if they
# are not in the new primary's history, the IO thread fails with 1236 and the watchdog refuses the node.
become_replica() {
  local source=$1 host vars binlog slave
  if source_configured; then
    leave_following
    rm -f "$FOLLOW_FILE"
  fi
  host=$(host_of_pod "$source")
  ACKS=$(acknowledging)
  local_sql <<SQL || return 1
SET GLOBAL read_only = 1;
SET GLOBAL rpl_semi_sync_master_enabled = OFF;
SET GLOBAL rpl_semi_sync_slave_enabled = $ACKS;
STOP SLAVE;
SQL
  # read once nothing applies any more: a replica's SQL thread may still have applied what its old
  # source relayed from the new primary (a switchover), and its position must not go back
  vars=$(local_sql -e "SELECT CONCAT(@@GLOBAL.gtid_binlog_pos, '|', @@GLOBAL.gtid_slave_pos)") || return 1
  binlog=${vars%%|*} slave=${vars#*|}
  local_sql <<SQL || return 1
SET GLOBAL gtid_slave_pos = $(sql_quote "$(history_position "$binlog" "$slave")");
CHANGE MASTER TO MASTER_HOST=$(sql_quote "$host"), MASTER_PORT=$REPL_MYSQL_PORT, MASTER_USER='repl',
  MASTER_PASSWORD=$(sql_quote "$(secret replication-password)"), MASTER_USE_GTID=slave_pos,
  MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1$(master_tls_options);
START SLAVE;
SQL
  IO_PAUSED=0
  echo replica >"$ROLE_FILE"
  echo "$source" >"$SOURCE_FILE"
}

# ON when this replica may acknowledge commits (may_acknowledge), else OFF.
acknowledging() {
  if (state_line_self; collect_peer_states) | may_acknowledge; then echo ON; else echo OFF; fi
}

# A change of acknowledging (a new size rolled out everywhere) takes effect when the IO thread reconnects.
refresh_acknowledging() {
  local now
  now=$(acknowledging)
  [[ $now == "$ACKS" ]] && return 0
  log_info "semi-sync acknowledgements from this replica: $now (the smallest configured size among the answering nodes changed)"
  local_sql -e "SET GLOBAL rpl_semi_sync_slave_enabled = $now; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD" && ACKS=$now
}

# Stops taking writes: read-only, and every client session ended. SET read_only waits for commits
# in flight, and a commit waiting for a replica's acknowledgement ends only when its session is
# killed; clients keep connecting until read_only is set, so their sessions are killed for as
# long as the setter waits (and once more for any that came between).
stop_writes() {
  local started=$SECONDS setter
  SQL_TIMEOUT=60 local_sql -e 'SET GLOBAL read_only = 1' &
  setter=$!
  while sleep 0.5 && kill -0 "$setter" 2>/dev/null; do
    kill_client_sessions
  done
  wait "$setter" || log_warn "SET GLOBAL read_only = 1 did not complete"
  kill_client_sessions
  if [[ $(local_sql -e 'SELECT @@GLOBAL.read_only' 2>/dev/null) =~ ^(1|ON)$ ]]; then
    log_info "writes stopped: read_only set and client sessions ended in $((SECONDS - started))s"
  else
    log_error "read_only is still off $((SECONDS - started))s after the node stopped taking writes"
  fi
}

# Nothing more is acknowledged here (nor applied from the source: the next primary follows it).
fence() {
  echo fenced >"$ROLE_FILE"
  stop_writes
  if [[ -f $FOLLOW_FILE ]]; then
    rm -f "$FOLLOW_FILE"
    leave_following
  fi
}

# --- taking a role and keeping it -----------------------------------------------------------

# Until this node has a role: follow the primary, or take part in the election.
take_role() {
  local verdict action reason last='' last_at=0 lines electing_since=''
  while ((STOPPING == 0)) && kill -0 "$MARIADBD_PID" 2>/dev/null; do
    heartbeat
    if [[ $(cat "$ROLE_FILE" 2>/dev/null) == fenced ]] && (state_line_self; collect_peer_states) | may_resume; then
      decision primary "fenced, but every node answers again, none is a primary and every replica still follows this node (no election can have run): taking writes again"
      become_primary && return 0
    fi
    verdict=$(collect_peer_states | choose_role 1)
    action=${verdict%% *} reason=${verdict#* }
    case $action in
      replicate)
        decision replicate "$reason"
        become_replica "${reason%% *}" && return 0
        ;;
      elect)
        lines=$( (state_line_self; collect_peer_states) )
        electing_since=${electing_since:-$SECONDS}
        verdict=$(start_election $((SECONDS - electing_since)) "$REPL_FAILOVER_SECONDS" <<<"$lines")
        action=${verdict%% *} reason=${verdict#* }
        if [[ $action == promote ]]; then
          decision promote "$reason"
          become_primary && return 0
        elif [[ $verdict != "$last" || $((SECONDS - last_at)) -ge $NODE_WAIT_LOG_SECONDS ]]; then
          decision wait "$reason"
          last=$verdict last_at=$SECONDS
        fi
        ;;
    esac
    sleep "$NODE_POLL_SECONDS"
  done
}

state_line_self() { bash "$NODE_CONFIG_DIR/repl-state.sh"; }

# The replica's watch, every NODE_POLL_SECONDS:
#  - an IO error 1236 (its history is not the primary's) refuses the node;
#  - its source hands the primary role to it (switchover): it applies everything, then promotes;
#  - its source is no longer the primary and another pod is: it follows that one;
#  - no primary anywhere for REPL_FAILOVER_SECONDS: the failover election.
watch_replica() {
  local missing_since='' status errno io source source_line lines primary verdict action reason acks_checked=$SECONDS
  local -A st
  while ((STOPPING == 0)) && kill -0 "$MARIADBD_PID" 2>/dev/null; do
    heartbeat
    sleep "$NODE_POLL_SECONDS"
    status=$(slave_status) || continue
    st=()
    read_vertical st <<<"$status"
    errno=${st[Last_IO_Errno]:-}
    if [[ $errno == 1236 ]]; then
      refuse_errant "${st[Last_IO_Error]:-}"
      return 0
    fi
    io=${st[Slave_IO_Running]:-}
    read_line source "$SOURCE_FILE"
    source_line=''
    [[ $io == Yes ]] && source_line=$(query_peer "$(host_of_pod "$source")")
    if [[ $(field "$source_line" role) == handover && $(field "$source_line" source) == "$POD_NAME" ]]; then
      take_over "$source" "$(field "$source_line" gtid)" && return 0
      continue
    fi
    if [[ $io == Yes && $(field "$source_line" role) == primary ]]; then
      missing_since=''
      ((SECONDS - acks_checked >= 10)) && { refresh_acknowledging; acks_checked=$SECONDS; }
      continue
    fi
    lines=$(collect_peer_states)
    primary=$(primary_of <<<"$lines")
    if [[ -n $primary && $primary != "$source" ]]; then
      decision replicate "$primary is the primary now"
      become_replica "$primary"
      missing_since=''
      continue
    fi
    if ((IO_PAUSED == 1)) && source_is_back "$source"; then
      decision replicate "$source runs again (role $(field "$SOURCE_LINE" role)) and no other node is a writable primary: following it again"
      local_sql -e 'START SLAVE IO_THREAD' && IO_PAUSED=0
      missing_since=''
      continue
    fi
    if [[ -n $primary || ($io == Yes && -n $source_line) ]]; then
      missing_since=''
      continue
    fi
    # the primary is missing: its IO thread gave up, or its state port stopped answering (the IO
    # thread notices a silent network only after slave_net_timeout)
    missing_since=${missing_since:-$SECONDS}
    [[ $io == Yes || $IO_PAUSED == 1 ]] || pause_following "$source"
    ((SECONDS - missing_since >= REPL_FAILOVER_SECONDS)) || continue
    verdict=$(failover_election <<<"$(state_line_self; printf '%s\n' "$lines")")
    action=${verdict%% *} reason=${verdict#* }
    case $action in
      promote)
        decision promote "the primary has been unreachable for $((SECONDS - missing_since))s; $reason"
        promote_replica && return 0
        ;;
      *) ((SECONDS % NODE_WAIT_LOG_SECONDS < NODE_POLL_SECONDS)) && decision wait "no primary for $((SECONDS - missing_since))s; $reason" ;;
    esac
  done
}

# The IO thread of a replica whose primary is missing (it cannot reach it either) is stopped: left
# to retry, it would reconnect to the old primary as soon as it is back (restarted, or a partition
# healed), before this node follows the primary the election makes, and fetch the old primary's
# last commits, which no replica acknowledged and the new primary lacks (this node is then
# refused); and its semi-sync acknowledgement would let a fenced primary finish commits waiting
# for one. It starts again when the same pod runs again as the primary or as a fenced primary
# (source_is_back); another primary is followed.
IO_PAUSED=0 SOURCE_LINE=''
pause_following() {
  local_sql -e 'STOP SLAVE IO_THREAD' || return 0
  IO_PAUSED=1
  log_info "$1 does not answer: this replica's IO thread is stopped until a primary is known (it would reconnect to $1 when it is back, whatever the election decides)"
}

# The paused replica's source ($1) runs again as the primary, or as a fenced primary (a partition
# healed before any election: the fenced primary takes writes again once every replica follows
# it, may_resume), while no other node is a writable primary (the caller checked). Its state line
# is left in SOURCE_LINE.
source_is_back() {
  SOURCE_LINE=$(query_peer "$(host_of_pod "$1")")
  [[ $(field "$SOURCE_LINE" phase) == running && $(field "$SOURCE_LINE" role) =~ ^(primary|fenced)$ ]]
}

# Applies the relay log up to GTID list $1 (what this node received), as long as the SQL thread
# runs; fails when it stopped on an error (this node then cannot be the primary).
apply_received() {
  local target=$1 status
  while ((STOPPING == 0)); do
    heartbeat
    [[ $(SQL_TIMEOUT=15 local_sql -e "SELECT MASTER_GTID_WAIT($(sql_quote "$target"), 10)") == 0 ]] && return 0
    status=$(slave_status)
    if [[ $(slave_status_value Slave_SQL_Running <<<"$status") != Yes ]]; then
      log_error "the SQL thread stopped before applying $target: $(slave_status_value Last_SQL_Error <<<"$status")"
      return 1
    fi
  done
  return 1
}

# A replica becomes the primary: it applies every event it received, then leaves replication.
promote_replica() {
  local io_pos
  local_sql -e 'STOP SLAVE IO_THREAD' || true
  io_pos=$(slave_status | slave_status_value Gtid_IO_Pos)
  if [[ -n $io_pos ]] && ! apply_received "$io_pos"; then
    log_error "not promoting: this node cannot apply what it received"
    ((IO_PAUSED == 1)) || local_sql -e 'START SLAVE IO_THREAD' || true
    return 1
  fi
  become_primary
}

# A planned switchover, on its target: the old primary ($1) stopped writes at GTID $2; once this
# node has applied all of it, it is the primary.
take_over() {
  local from=$1 gtid=$2
  if ! apply_received "$gtid"; then
    log_error "switchover from $from: cannot apply up to $gtid; staying a replica"
    return 1
  fi
  decision promote "switchover: $from handed over the primary role at GTID $gtid, all of it applied here"
  become_primary
}

# The primary's watch: it must reach a majority (itself included). The fence clock runs from the
# start of the last round that reached one (a lease: the replicas' failover clock starts only once
# they noticed the silence, later), and a fence needs two rounds in a row without one (a single
# slow round on a loaded node is not a partition). REPL_FENCE_SECONDS < REPL_FAILOVER_SECONDS:
# the primary fences itself before the others can elect a new one. Another primary seen: fenced
# at once. A switchover request (repl-switchover.sh) hands the role over.
watch_as_primary() {
  local last_majority=$SECONDS round_start misses=0 lines line answered other
  while ((STOPPING == 0)) && kill -0 "$MARIADBD_PID" 2>/dev/null; do
    heartbeat
    if ((STOP_REQUESTED == 1)); then
      hand_over_and_stop
      return 0
    fi
    sleep "$NODE_POLL_SECONDS"
    if [[ -s $SWITCHOVER_FILE ]]; then
      hand_over "$(cat "$SWITCHOVER_FILE")"
      return 0
    fi
    [[ ! -s $CUTOVER_FILE ]] || cut_over
    round_start=$SECONDS
    lines=$(collect_peer_states)
    other=$(primary_of <<<"$lines")
    if [[ -n $other ]]; then
      decision fence "$other is also a primary"
      fence
      return 0
    fi
    answered=0
    while IFS= read -r line; do [[ -z $line ]] || answered=$((answered + 1)); done <<<"$lines"
    if ((answered + 1 >= $(majority))); then
      last_majority=$round_start misses=0
      ((EXPORTER_ACCOUNT == 1)) || { exporter_account_on_primary && EXPORTER_ACCOUNT=1; }
      [[ ! -f $FOLLOW_FILE ]] || keep_following
      continue
    fi
    misses=$((misses + 1))
    if ((misses >= 2 && SECONDS - last_majority >= REPL_FENCE_SECONDS)); then
      decision fence "only $((answered + 1)) of $(peer_count) nodes reachable, no majority for $((SECONDS - last_majority))s; a majority may elect a new primary"
      fence
      return 0
    fi
  done
}

# The metrics exporter's account (ensure_exporter_account, node-lib.sh), once per mariadbd start
# of a primary that reaches a majority: written on the primary only, it replicates to every
# replica (and a clone copies it). Only while a commit returns at once: a replica acknowledges
# (semi-sync clients), or the primary has fallen back to async. With noReplicaAck block and no
# replica connected yet, the write would wait for one inside this watch loop.
exporter_account_on_primary() {
  [[ -n ${NODE_EXPORTER_USER:-} ]] || return 0
  semi_sync_returns_at_once || return 1
  ensure_exporter_account
}

# SIGTERM on the primary: hand the role to the most advanced ready replica (so a rolling update
# or a drain costs writes a switchover, not a failover), then stop mariadbd.
hand_over_and_stop() {
  local target
  target=$( (state_line_self; collect_peer_states) | handover_target)
  if [[ -n $target ]]; then
    REPL_SWITCHOVER_SECONDS=$REPL_STOP_HANDOVER_SECONDS hand_over "$target" stopping
  else
    log_warn "stopping without a ready replica to hand the primary role to: the replicas fail over after ${REPL_FAILOVER_SECONDS}s"
  fi
  STOPPING=1
  kill -TERM "$MARIADBD_PID" 2>/dev/null
}

# Planned switchover, on the primary: stop writes, publish role=handover with the final GTID
# position, wait until the target is the primary, then follow it. If the target has not taken
# over within REPL_SWITCHOVER_SECONDS, this node takes writes again (and says so).
hand_over() {
  local target=$1 stopping=${2:-} deadline
  decision switchover "${stopping:+stopping (SIGTERM): }handing the primary role to $target"
  # the source's transactions too: the position the target waits for must be final
  [[ ! -f $FOLLOW_FILE ]] || leave_following
  stop_writes
  # only now (the GTID position the target waits for is final): role=handover, source=<target>
  printf '%s\n' "$target" >"$SWITCHOVER_FILE"
  echo handover >"$ROLE_FILE"
  deadline=$((SECONDS + ${REPL_SWITCHOVER_SECONDS:-60}))
  local line silent=0
  while ((SECONDS < deadline && STOPPING == 0 && silent < 3)); do
    heartbeat
    line=$(query_peer "$(host_of_pod "$target")")
    if [[ $(primary_of <<<"$line") == "$target" ]]; then
      rm -f "$SWITCHOVER_FILE" "$FOLLOW_FILE"
      echo fenced >"$ROLE_FILE"
      return 0
    fi
    # a target that stops answering (stopping too, in a full stop) will not take over
    [[ $(field "$line" phase) == running ]] && silent=0 || silent=$((silent + 1))
    sleep "$NODE_POLL_SECONDS"
  done
  rm -f "$SWITCHOVER_FILE"
  if [[ -n $stopping ]]; then
    log_warn "switchover: $target did not take over; stopping read-only (the replicas fail over)"
    return 1
  fi
  log_error "switchover: $target did not take over; this node takes writes again"
  resume_writes
}

refuse_errant() {
  rm -f "$ROLE_FILE"
  printf '%s\n' "$1" >"$REFUSED_FILE"
  hold_refused "this node holds transactions the primary does not have ($1)"
}

# A node refused before its restart stays refused: it takes no role and no vote.
still_refused() {
  [[ -f $REFUSED_FILE ]] || return 1
  hold_refused "refused before this start ($(head -n 1 "$REFUSED_FILE"))"
}

hold_refused() {
  local_sql -e 'STOP SLAVE; SET GLOBAL read_only = 1' || true
  publish_state phase=refused
  decision refuse "$1: it is never merged. To discard its data and clone again: kubectl exec $POD_NAME -c mariadb -- touch $RECLONE_FILE"
}

# A refused node keeps mariadbd up, read-only and not replicating, until a human chooses to
# discard its data: then it stops, and the container's restart clones it again.
wait_for_reclone() {
  while ((STOPPING == 0)) && kill -0 "$MARIADBD_PID" 2>/dev/null; do
    heartbeat
    if [[ -f $RECLONE_FILE ]]; then
      log_warn "$RECLONE_FILE found: stopping mariadbd; the next start discards this node's data and clones it again"
      kill -TERM "$MARIADBD_PID"
      return 0
    fi
    sleep "$NODE_POLL_SECONDS"
  done
}

# --- the whole life ---------------------------------------------------------------------------

# SIGTERM: a primary hands its role over first (watch_as_primary does it: not from inside the trap).
hand_over_on_term() {
  if [[ $(cat "$ROLE_FILE" 2>/dev/null) == primary && $STOP_REQUESTED == 0 ]]; then
    STOP_REQUESTED=1
    return
  fi
  stop_mariadbd
}

get_dataset() {
  local verdict logged=''
  while ! has_data; do
    ((STOPPING == 0)) || return 1
    heartbeat
    verdict=$(collect_peer_states | choose_role 0)
    case ${verdict%% *} in
      initialize)
        decision initialize "${verdict#* }"
        initialize_replication_datadir
        INITIALIZED=1
        ;;
      replicate)
        clone_from_peer || return 1
        ;;
      *)
        [[ $verdict == "$logged" ]] || decision wait "${verdict#* }"
        logged=$verdict
        publish_state phase=waiting
        sleep 2
        ;;
    esac
  done
}

main() {
  [[ -f $MY_CNF ]] || die "$MY_CNF is missing: the init container (repl-init.sh) did not run"
  trap_signals hand_over_on_term
  INITIALIZED=0
  heartbeat
  publish_state phase=waiting
  start_servers
  if [[ -f $RECLONE_FILE ]]; then
    log_warn "$RECLONE_FILE found: discarding this node's data to clone it again"
    rm -f "$DATA_MARKER" "$RECLONE_FILE" "$REFUSED_FILE"
  fi
  get_dataset || exit 0
  start_mariadbd || die "mariadbd did not start"
  if ((INITIALIZED == 1)); then
    become_primary
    decision primary "initialized the new cluster"
  elif ! become_restored_primary; then
    apply_cloned_position || die "could not set the cloned GTID position"
    still_refused || take_role
  fi
  while ((STOPPING == 0)) && kill -0 "$MARIADBD_PID" 2>/dev/null; do
    if [[ $(field "$(head -n 1 "$STATE_FILE")" phase) == refused ]]; then
      wait_for_reclone
      continue
    fi
    case $(cat "$ROLE_FILE" 2>/dev/null) in
      primary) watch_as_primary ;;
      replica) watch_replica ;;
      fenced | handover | '') take_role ;;
    esac
  done
  local rc=0
  wait_for_mariadbd || rc=$?
  exit "$rc"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
