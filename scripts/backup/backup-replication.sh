#!/usr/bin/env bash
# What backups and restores do on the primary/replica topology (sourced through backup-lib.sh when
# BACKUP_TOPOLOGY is replication; backup-galera.sh lists the functions and variables the shared
# scripts call). A backup comes from a ready replica, never from the primary: mariadb-backup's
# commit lock then stalls a replica's SQL thread for a moment, not the application's commits. The
# backup records the GTID position the copy ends at; a restore makes ordinal 0 the primary of a
# new cluster at that position, and every other pod restores the same backup and replicates from
# that position (no clone).
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

# topology_script NAME: path of a node script of this topology (one flat ConfigMap directory in
# the pods, ../replication in the repository).
topology_script() {
  local dir
  dir=$(dirname "${BASH_SOURCE[0]}")
  if [[ -f $dir/$1 ]]; then printf '%s\n' "$dir/$1"; else printf '%s\n' "$dir/../replication/$1"; fi
}
# shellcheck source-path=SCRIPTDIR source=../replication/repl-lib.sh
source "$(topology_script repl-lib.sh)"

NO_SOURCE='no replica is ready (a backup never comes from the primary)'
BACKUP_STREAM_ARGS=()
RESTORED_MARKER="$NODE_DATA_DIR/.replication-restored-from"
RESTORE_STAGING="$NODE_DATA_DIR/.replication-restore"
RESTORE_OTHERS='restores it too and replicates from the first pod'
RESTORE_EVERY_NODE=1
STATE_SCRIPT=repl-state.sh
START_SCRIPT=repl-start.sh
POSITION='' MANIFEST_POSITION='' RESTORE_GTID=''
# How long the endpoint waits for this replica to apply what its primary had committed.
BACKUP_CATCH_UP_SECONDS=${BACKUP_CATCH_UP_SECONDS:-60}

# The ready replica of the highest ordinal (running, both replication threads up, lag under the
# bound: its state line says ready=1); never the primary. Pure: the unit tests drive it.
pick_source() {
  local line ready=() name
  local -A lag=()
  while IFS= read -r line; do
    [[ -n $line && $(field "$line" phase) == running && $(field "$line" role) == replica && $(field "$line" ready) == 1 ]] || continue
    name=$(field "$line" name)
    ready+=("$name")
    lag[$name]=$(field "$line" lag)
  done
  ((${#ready[@]} > 0)) || return 1
  mapfile -t ready < <(printf '%s\n' "${ready[@]}" | sort -t- -k2 -n)
  echo "${ready[-1]} a ready replica (lag ${lag[${ready[-1]}]}s), not the primary; ready replicas: ${ready[*]}"
}

# The endpoint serves only while this node is a ready replica (its own state line: the role
# files of the mariadb container, the live replication status).
endpoint_refusal() {
  local line
  line=$(bash "$(topology_script repl-state.sh)" 2>/dev/null)
  [[ $(field "$line" phase) == running ]] || { echo "$POD_NAME: mariadbd does not answer ($(field "$line" phase))"; return 0; }
  [[ $(field "$line" role) == replica && $(field "$line" ready) == 1 ]] ||
    echo "$POD_NAME is not a ready replica (role $(field "$line" role), ready $(field "$line" ready), lag $(field "$line" lag)); a backup comes from a ready replica only"
}

# Before the copy, the replica applies everything its primary had committed when the request
# came (the primary's state line, gtid=): a commit is acknowledged once ONE replica has received
# it, maybe not this one, and received is not applied. So every write acknowledged before the
# backup started is in the backup. Prints why not when it cannot (the endpoint refuses then).
endpoint_catch_up() {
  local line source primary gtid waited
  line=$(bash "$(topology_script repl-state.sh)" 2>/dev/null)
  source=$(field "$line" source)
  primary=$(query_peer "$(host_of_pod "$source")")
  [[ -n $source && $(field "$primary" role) == primary && $(field "$primary" writable) == 1 ]] ||
    { echo "$POD_NAME's primary ${source:-?} does not answer as the primary; no backup now"; return 1; }
  gtid=$(field "$primary" gtid)
  waited=$(SQL_TIMEOUT=$((BACKUP_CATCH_UP_SECONDS + 5)) local_sql -e "SELECT MASTER_GTID_WAIT($(sql_quote "$gtid"), $BACKUP_CATCH_UP_SECONDS)" 2>/dev/null)
  [[ $waited == 0 ]] || { echo "$POD_NAME did not apply its primary's position $gtid within ${BACKUP_CATCH_UP_SECONDS}s"; return 1; }
  log_info "applied everything $source had committed when the backup was requested (GTID $gtid)"
}

# The position of a replica's backup: the GTID it ends at (gtid_current_pos under the commit lock).
read_position() {
  local gtid
  gtid=$(backup_gtid "$1")
  [[ $gtid =~ ^[0-9]+-[0-9]+-[0-9]+(,[0-9]+-[0-9]+-[0-9]+)*$ ]] || { echo "no GTID position in the backup ('$gtid')"; return 1; }
  POSITION="GTID $gtid"
  MANIFEST_POSITION=$(printf '  "gtid": %s,' "$(json_string "$gtid")")
}

manifest_position_text() { echo "GTID $(manifest_value gtid)"; }

# The prepared backup ends at the manifest's GTID.
check_restored_position() {
  local gtid
  gtid=$(backup_gtid "$1")
  [[ -n $gtid && $gtid == "$(manifest_value gtid)" ]] || { echo "ends at GTID '$gtid', its manifest says '$(manifest_value gtid)'"; return 1; }
  printf '%s\n' "$gtid"
}

# The line a restoring pod's state port serves (announce_restore): the backup's GTID, no data yet.
publish_restoring() { publish_state phase=restoring gtid="$(manifest_value gtid)" data=0; }

# A peer restores this backup with this pod (phase=restoring at its GTID). Every pod restores at
# the same time; a peer that already runs or holds data is refused (peer_holds_data), also when it
# came from this backup: it may be a primary that took writes the replicas of this restore would
# never see as a divergence.
peer_restores_same() { [[ $(field "$1" phase) == restoring && $(field "$1" gtid) == "$(manifest_value gtid)" ]]; }

# A peer runs, holds a dataset (data=1; lines of older versions lack it), or has a position.
peer_holds_data() { [[ $(field "$1" phase) =~ ^(running|cloning|refused)$ || $(field "$1" data) == 1 || $(field "$1" seq) =~ ^[0-9]+$ ]]; }

# Ordinal 0 becomes the primary; every other pod a replica of it, from the backup's GTID.
finish_restore() {
  RESTORE_GTID=$1
  if [[ $(ordinal_of "$POD_NAME") == 0 ]]; then finish_restore_primary; else finish_restore_replica; fi
}

# The restored primary continues the backup's GTID history: its binlog (a backup has none) starts
# at the backup's position, so its next commit follows it and the replicas, restored at that
# position, ask for what comes after it. The accounts are reset to the Secret's passwords
# (binlogged after that position: the replicas apply them). The data marker tells repl-start.sh
# that this node is the restored primary. With a point to replay to, the accounts wait for the
# replay (after_replay): binlogged first they would take the seqs after the backup's, which the
# archived transactions carry, and the replay, which goes on from the binlog's position, would
# pass over as many of those. The binlog state is set once (a resumed restore keeps what the
# replay wrote).
finish_restore_primary() {
  if point_text >/dev/null; then
    if [[ ! -f $STAGING/binlog-state-set ]]; then
      create_accounts restored_binlog_state_sql restore-server
      touch "$STAGING/binlog-state-set"
    fi
    log_info "restore: binlog state set to GTID $RESTORE_GTID; the accounts are reset after the replay"
  else
    create_accounts restored_replication_sql restore-server
    log_info "restore: binlog state set to GTID $RESTORE_GTID; $(accounts_reset_text)"
  fi
  printf 'restored %s\n' "$RESTORE_GTID" >"$DATA_MARKER"
  RESTORED_AT="GTID $RESTORE_GTID; this node becomes the primary, the others replicate from it from the same backup"
}

accounts_reset_text() {
  echo "accounts root@%, $NODE_APP_USER@%, repl@% and monitor@% reset to the passwords of Secret '$NODE_SECRET_NAME'"
}

# A restored replica is what a clone leaves (repl-clone.sh): the data and "cloned <gtid>", from
# which repl-start.sh starts replication (gtid_slave_pos). It writes nothing itself: the
# primary's account reset reaches it through replication, so its history is the primary's.
finish_restore_replica() {
  printf 'cloned %s\n' "$RESTORE_GTID" >"$DATA_MARKER"
  RESTORED_AT="GTID $RESTORE_GTID; this node replicates from ${POD_NAME%-*}-0 from that position (no clone)"
}

# A restored replica starts only once ordinal 0 is the primary: started earlier it could find no
# primary and, with the other replica, elect one of the two (both at the backup's GTID), a primary
# without the restored primary's account reset. The restore init container waits for it (its
# state port still says restoring).
before_first_start() {
  [[ $(ordinal_of "$POD_NAME") != 0 ]] || return 0
  local first line deadline=$((SECONDS + RESTORE_PEER_WAIT_SECONDS)) logged=0
  first=$(host_of_ordinal 0)
  while true; do
    line=$(query_peer "$first")
    [[ $(field "$line" phase) == running && $(field "$line" role) == primary && $(field "$line" writable) == 1 ]] && break
    ((SECONDS < deadline)) || die "restore: $(pod_of_host "$first") did not become the restored primary in ${RESTORE_PEER_WAIT_SECONDS}s; this replica waits for it (the container restarts and waits again)"
    if ((logged == 0)); then log_info "restore: waiting for $(pod_of_host "$first") to be the primary before this replica starts"; logged=1; fi
    sleep 1
  done
  log_info "restore: $(pod_of_host "$first") is the primary; this replica starts"
}

restored_binlog_state_sql() {
  cat <<SQL
RESET MASTER;
SET GLOBAL gtid_binlog_state = $(sql_quote "$RESTORE_GTID");
SET GLOBAL gtid_slave_pos = $(sql_quote "$RESTORE_GTID");
SQL
}

restored_replication_sql() {
  restored_binlog_state_sql && replication_accounts_sql
}

# The binlog endpoint serves from a running replica: every node binlogs what it commits or
# applies, with the primary's GTIDs (the archiver checks that the chain has no gap). Not from the
# primary while a replica acknowledges its commits: its binlog holds each commit before a replica
# has it, and one that no replica received is lost when the primary fails over, its seq then
# given to another transaction. Once no replica acknowledges (semi-sync fell back to
# asynchronous), the primary's binlog is all the cluster has, and it serves.
binlog_refusal() {
  local line clients
  line=$(bash "$(topology_script repl-state.sh)" 2>/dev/null)
  [[ $(field "$line" phase) == running ]] || { echo "$POD_NAME: mariadbd does not answer ($(field "$line" phase))"; return 0; }
  [[ $(field "$line" role) == primary ]] || return 0
  clients=$(local_sql -e "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'" | cut -f2) || clients=''
  [[ ${clients:-0} == 0 ]] ||
    echo "$POD_NAME is the primary and $clients replica(s) acknowledge its commits: its binlog may hold a commit no replica has yet; the archive comes from a replica"
}

# A restore to a point replays the archived binlogs on the primary (ordinal 0); the replicas,
# which start from the backup's GTID, receive the replayed transactions by replication, then the
# accounts reset after them (finish_restore_primary). The primary's own binlog gives its next GTID.
REPLAY_EVERY_NODE=0
REPLAY_SERVER_ARGS=()
after_replay() {
  local sql
  sql=$(replication_accounts_sql) || die "reading the passwords from Secret '$NODE_SECRET_NAME' failed"
  local_sql <<<"$sql" || die "resetting the accounts after the replay failed"
  log_info "restore: $(accounts_reset_text), after the replayed transactions"
}
