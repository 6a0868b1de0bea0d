#!/usr/bin/env bash
# Main container of a Galera pod: finds out whether a cluster is running, joins it, or takes
# part in an election among the peers to decide who bootstraps, then runs mariadbd.
#
# Recovery rule: a node joins whenever a peer is in a Primary component with the same cluster
# UUID (or it has no data of its own). With no Primary anywhere, a node bootstraps only if it
# holds the most advanced position of the cluster, and it knows that only when either every
# configured node has reported its position, or it is the node that left a graceful shutdown
# last (safe_to_bootstrap: 1). Otherwise it waits and says what is missing; a human can force
# a named node with the galera-force-bootstrap file, which is consumed once.
#
# The election itself is galera-election.sh (pure; the tests drive it directly).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=galera-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/galera-lib.sh"
# shellcheck source-path=SCRIPTDIR source=galera-election.sh
source "$(dirname "${BASH_SOURCE[0]}")/galera-election.sh"

SST_METHOD=
RESTART_ELECTION=0

# --- this node's position ---------------------------------------------------------------

# Sets POS_UUID, POS_SEQNO, POS_SAFE, POS_EMPTY from grastate.dat, running
# `mariadbd --wsrep-recover` when the seqno was not saved (after a crash).
find_position() {
  POS_EMPTY=0
  if data_is_empty; then
    POS_EMPTY=1 POS_UUID=$ZERO_UUID POS_SEQNO=-1 POS_SAFE=0
    log_info "position: the data directory is empty"
    return 0
  fi
  read_grastate
  POS_UUID=$GRA_UUID POS_SEQNO=$GRA_SEQNO POS_SAFE=$GRA_SAFE
  if [[ $POS_SEQNO == -1 ]]; then
    local recovered
    recovered=$(recover_position) || die "mariadbd --wsrep-recover failed; see $NODE_RUNTIME_DIR/wsrep-recover.log above"
    POS_UUID=${recovered%%:*}
    POS_SEQNO=${recovered#*:}
    log_info "position: recovered $POS_UUID:$POS_SEQNO with --wsrep-recover (grastate.dat had seqno -1, unclean stop)"
  else
    log_info "position: $POS_UUID:$POS_SEQNO from grastate.dat (safe_to_bootstrap: $POS_SAFE)"
  fi
}

# Prints uuid:seqno as recovered from the storage engine.
recover_position() {
  local logfile="$NODE_RUNTIME_DIR/wsrep-recover.log" line pos
  rm -f "$logfile"
  if ! mariadbd --defaults-file="$MY_CNF" --wsrep-recover --log-error="$logfile" >/dev/null 2>&1; then
    cat "$logfile" >&2 2>/dev/null || true
    return 1
  fi
  line=$(grep 'WSREP: Recovered position:' "$logfile" | tail -n 1) || { cat "$logfile" >&2; return 1; }
  pos=${line##*Recovered position: }
  pos=${pos%%,*} # MariaDB may append ",<gtid>"
  pos=${pos// /}
  [[ $pos =~ ^[0-9a-f-]{36}:-?[0-9]+$ ]] || return 1
  printf '%s\n' "$pos"
}

# The three state lines this script publishes (docs/galera.md); galera-state.sh serves them.
# waiting: this node's position, while it takes part in the election.
publish_waiting() {
  publish_state phase=waiting uuid="$POS_UUID" seqno="$POS_SEQNO" safe="$POS_SAFE" empty="$POS_EMPTY" forced="$(cat "$FORCED_FROM_FILE" 2>/dev/null)"
}

# refused: the data belongs to another cluster or history; never a candidate.
publish_refused() {
  publish_state phase=refused uuid="$POS_UUID" seqno="$POS_SEQNO" safe=0 empty="$POS_EMPTY" forced="$(cat "$FORCED_FROM_FILE" 2>/dev/null)"
}

# running: mariadbd was started to $ACTION (until it answers, peers see "starting"), with the
# stream state transfer on its PATH, so it can donate it (run_mariadbd).
publish_running() {
  publish_state phase=running role="$ACTION" uuid="$POS_UUID" seqno="$POS_SEQNO" safe=0 empty="$POS_EMPTY" forced="$(cat "$FORCED_FROM_FILE" 2>/dev/null)" \
    donates=stream
}

# --- the peers' state ---------------------------------------------------------------------

# The peers' state lines: the configured peers' (collect_peer_states), and beyond them every
# ordinal up to the largest membership an answer names. During a scale-up a node of the old,
# smaller template must hear the new pods too: asking only its own peers, a node left
# non-Primary counted the new pods as silent, so its watchdog never restarted it into the
# election, while the others (which count a running non-Primary node as missing) waited for it:
# a stall of the whole rollout.
collect_states() {
  local states line n own most i
  own=$(peer_count)
  most=$own
  states=$(collect_peer_states)
  while IFS= read -r line; do
    n=$(field "$line" peers)
    [[ -n $n ]] && ((n > most)) && most=$n
  done <<<"$states"
  [[ -z $states ]] || printf '%s\n' "$states"
  ((most > own)) || return 0
  for ((i = own; i < most; i++)); do host_of_ordinal "$i"; done | query_peers
}

expected_names() {
  local host names=()
  while IFS= read -r host; do names+=("$(pod_of_host "$host")"); done < <(peer_hosts)
  local IFS=,
  printf '%s\n' "${names[*]}"
}

# --- the wait loop -----------------------------------------------------------------------

# Sets ACTION and REASON once this node may start mariadbd; logs why it waits meanwhile.
elect() {
  local decision lines last_reason="" last_log=0 now expected
  expected=$(expected_names)
  publish_waiting
  while ((STOPPING == 0)); do
    heartbeat
    if [[ -f $FORCE_BOOTSTRAP_FILE ]] && handle_override; then
      return 0
    fi
    lines=$(head -n 1 "$STATE_FILE"; collect_states)
    decision=$(decide "$expected" <<<"$lines")
    ACTION=${decision%% *}
    REASON=${decision#* }
    SST_METHOD='' SST_DONORS=''
    case $ACTION in
      join | bootstrap)
        [[ $ACTION == join ]] && adopt_forced_position <<<"$lines"
        log_info "decision: $ACTION: $REASON"
        if [[ $ACTION == join ]]; then
          consume_override "a Primary component exists"
          plan_state_transfer "$(sst_plan <<<"$lines")" "$(sst_method <<<"$lines")"
        fi
        return 0
        ;;
      refuse)
        refuse_forever
        ;;
    esac
    now=$SECONDS
    if [[ $REASON != "$last_reason" ]] || ((now - last_log >= NODE_WAIT_LOG_SECONDS)); then
      log_info "decision: wait: $REASON"
      last_reason=$REASON last_log=$now
    fi
    sleep "$NODE_POLL_SECONDS"
  done
  return 1
}

# Data of another cluster is never merged or bootstrapped: stay up, say why, and keep answering
# peers (so they know this node holds nothing of their cluster) until a human moves the data.
refuse_forever() {
  publish_refused
  consume_override "this node refuses its data"
  while ((STOPPING == 0)); do
    heartbeat
    log_error "decision: refuse: $REASON"
    sleep "$NODE_WAIT_LOG_SECONDS" &
    wait $! || true
  done
  exit 1
}

# The human override: bootstrap from this node's data whatever the missing nodes hold, but
# never next to a peer that is starting, bootstrapping or running.
handle_override() {
  local p phase
  while IFS= read -r p; do
    phase=$(field "$p" phase)
    if [[ $phase == running && $(field "$p" primary) == 1 ]]; then
      consume_override "$(field "$p" name) is already Primary; joining instead"
      return 1
    elif [[ $phase == running || $phase == starting ]]; then
      log_info "override deferred: $(field "$p" name) is $phase; waiting until it is Primary or stopped"
      return 1
    fi
  done < <(collect_states)
  if ((POS_EMPTY == 1)); then
    consume_override "this node has no data to bootstrap from"
    return 1
  fi
  rm -f "$FORCE_BOOTSTRAP_FILE" # consumed before acting, so it can never fire twice
  printf '%s:%s\n' "$POS_UUID" "$POS_SEQNO" >"$FORCED_FROM_FILE"
  ACTION=bootstrap
  REASON="forced by $FORCE_BOOTSTRAP_FILE (human override) from local position $POS_UUID:$POS_SEQNO; writes only other nodes had are lost, and nodes beyond this position will refuse to join"
  log_info "decision: bootstrap: $REASON"
  return 0
}

# Removes a pending override file that must not fire later (at the next full outage).
consume_override() {
  if [[ -f $FORCE_BOOTSTRAP_FILE ]]; then
    rm -f "$FORCE_BOOTSTRAP_FILE"
    log_info "override file $FORCE_BOOTSTRAP_FILE removed: $1"
  fi
}

# Joining a Primary component that carries a forced-bootstrap position: the election found this
# node's data not beyond it (or none), so from here on its history is the forced cluster's own.
# Recorded before mariadbd starts, so a node that is stopped right after its state transfer,
# before the watchdog's first look at its peers, is not taken for a diverged one at its next start.
adopt_forced_position() {
  local p forced
  while IFS= read -r p; do
    forced=$(field "$p" forced)
    if [[ $(field "$p" phase) == running && $(field "$p" primary) == 1 && -n $forced ]]; then
      printf '%s\n' "$forced" >"$FORCED_FROM_FILE"
      return 0
    fi
  done
  return 0
}

# Once Primary, keeps the forced-bootstrap position of the cluster this node is part of, so the
# rule travels with the cluster even when the forced node itself is down, and marks this node's
# history as the forced cluster's own.
remember_forced_position() {
  local p forced
  while IFS= read -r p; do
    forced=$(field "$p" forced)
    if [[ $(field "$p" primary) == 1 && -n $forced ]]; then
      printf '%s\n' "$forced" >"$FORCED_FROM_FILE"
      return 0
    fi
  done < <(collect_states)
}

# --- running mariadbd ----------------------------------------------------------------------

# The first bootstrap of a new cluster: a new data directory with the accounts of the Secret
# (initialize_datadir in node-lib.sh; the server runs without wsrep).
initialize_galera_datadir() {
  initialize_datadir galera_accounts_sql --wsrep-on=OFF
  log_info "accounts created: root@%, $NODE_APP_USER@% (database $NODE_APP_DATABASE), sst@localhost, monitor@%"
  if source_configured; then seed_galera_cluster; fi
}

# The copy of the external source by the node that creates the cluster, on a local server without
# Galera, before the cluster exists: the nodes that join copy it by state transfer. Until it is
# done the volume is marked like an unfinished initialization, so an interrupted copy starts again
# from a new data directory.
seed_galera_cluster() {
  touch "$INIT_INCOMPLETE_FILE"
  seed_new_cluster --wsrep-on=OFF
  rm -f "$INIT_INCOMPLETE_FILE"
}

# The accounts of a new or restored data directory: those of every topology, and sst@localhost
# for the state transfers. Not binlogged: every node that joins gets them by state transfer.
galera_accounts_sql() {
  local shared
  shared=$(accounts_sql USAGE) || return 1
  cat <<SQL
SET SQL_LOG_BIN=0;
$shared
CREATE OR REPLACE USER 'sst'@'localhost' IDENTIFIED BY $(sql_quote "$(secret sst-password)");
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'sst'@'localhost';
FLUSH PRIVILEGES;
SQL
}

run_mariadbd() {
  local args=(--defaults-file="$MY_CNF")
  if [[ $ACTION == bootstrap ]]; then
    if ((POS_EMPTY == 1)); then
      initialize_galera_datadir
    else
      set_safe_to_bootstrap
      args+=(--wsrep-start-position="$POS_UUID:$POS_SEQNO")
    fi
    args+=(--wsrep-new-cluster)
  elif ((POS_EMPTY == 0)) && [[ $POS_UUID != "$ZERO_UUID" ]]; then
    args+=(--wsrep-start-position="$POS_UUID:$POS_SEQNO")
  fi
  [[ -n ${SST_METHOD:-} ]] && args+=(--wsrep-sst-method="$SST_METHOD")
  [[ -n ${SST_DONORS:-} ]] && args+=(--wsrep-sst-donor="$SST_DONORS")
  # Leftovers of an interrupted transfer; the data directory counted as empty above.
  rm -f "$NODE_DATA_DIR/sst_in_progress" "$NODE_DATA_DIR/wsrep_sst.pid" "$FOLLOW_FILE"
  # a new mariadbd starts read-only again with a source (my.cnf): its watch decides anew
  CLIENT_WRITES=''
  publish_running
  log_info "starting mariadbd ($ACTION)"
  PATH="$(sst_methods_dir):$PATH" mariadbd "${args[@]}" &
  MARIADBD_PID=$!
  ((STOPPING == 0)) || leave_on_term # a SIGTERM that came while this node was still preparing
  watch_primary
  wait_for_mariadbd
}

# mariadbd runs a state transfer as wsrep_sst_<method>, found on its PATH: this directory of the
# runtime volume holds wsrep_sst_stream, a link to galera-sst.sh (wsrep_sst_method=stream).
sst_methods_dir() {
  local dir="$NODE_RUNTIME_DIR/sst-methods"
  mkdir -p "$dir"
  ln -sfn "$NODE_CONFIG_DIR/galera-sst.sh" "$dir/wsrep_sst_stream"
  printf '%s\n' "$dir"
}

# While mariadbd runs: a node that stays out of a Primary component cannot always get back on its
# own: a join may have failed after the state transfer (mariadbd left Disconnected next to a
# Primary), or its partners crashed while it was partitioned and now wait in the election for
# it. In those two cases, after GALERA_NON_PRIMARY_RESTART_SECONDS, it shuts mariadbd down and
# goes through the election again (join a Primary if there is one, never bootstrap alone).
# Otherwise it stays: nodes that were the whole last Primary component restore it by
# themselves once they can talk again. Inside a Primary component, a donor that Galera left
# desynced after its transfer (desync_unexplained) is restarted the same way after
# GALERA_STUCK_DESYNC_RESTART_SECONDS, and rejoins by IST.
watch_primary() {
  local since="" desynced_since="" status cluster local_state remembered=0 exporter=0 accounts_next=0 followed
  while ((STOPPING == 0)) && kill -0 "$MARIADBD_PID" 2>/dev/null; do
    sleep "$NODE_POLL_SECONDS" &
    wait $! || true
    status=$(SQL_TIMEOUT=3 wsrep_status 2>/dev/null) || continue # state transfer or start-up
    cluster=$(status_value wsrep_cluster_status <<<"$status")
    # a renewed certificate (node-lib.sh): the server's and Galera's, for new connections
    reload_tls_when_renewed "SET GLOBAL wsrep_provider_options='socket.ssl_reload=1'" socket.ssl_reload
    if [[ $cluster == Primary ]]; then
      since=""
      remember_view "$(status_value wsrep_cluster_size <<<"$status")"
      local_state=$(status_value wsrep_local_state <<<"$status")
      if [[ $local_state == 4 ]]; then
        restore_sst_mode
        ((exporter == 1)) || { ensure_exporter_account && exporter=1; }
        followed=$FOLLOWING_SOURCE
        follow_source_when_due
        # the declared databases, left to the source while the cluster follows it, after the cutover
        ((followed == 1 && FOLLOWING_SOURCE == 0)) && accounts_next=0
        # every node, once Synced: idempotent, and the cluster replicates it (a failure, such as
        # a certification conflict with a peer applying it at the same time, is retried)
        if ((accounts_next >= 0 && SECONDS >= accounts_next)); then
          if ACCOUNTS_SKIP_DATABASES=$FOLLOWING_SOURCE SQL_TIMEOUT=60 apply_declared_accounts; then
            accounts_next=-1
          else
            accounts_next=$((SECONDS + 10))
          fi
        fi
        [[ -f $GTID_SEED_FILE ]] && seed_gtid_after_restore
      fi
      consume_override "this node is Primary"
      ((remembered == 1)) || { remember_forced_position; remembered=1; }
      if [[ $local_state == 2 ]] && desync_unexplained 2 "$(status_value wsrep_cluster_size <<<"$status")" "$(desync_setting)" "$(sst_script_running)"; then
        desynced_since=${desynced_since:-$SECONDS}
        ((SECONDS - desynced_since >= ${GALERA_STUCK_DESYNC_RESTART_SECONDS:-600})) || continue
        log_warn "mariadbd has been Donor/Desynced for $((SECONDS - desynced_since))s with no state transfer running, no wsrep_desync and Synced peers (Galera lost the end of a transfer); restarting it to rejoin"
        stop_for_restart
        return 0
      fi
      desynced_since=""
      continue
    fi
    desynced_since=""
    [[ -f $FOLLOW_FILE ]] && stop_following_here "this node left the Primary component"
    since=${since:-$SECONDS}
    ((SECONDS - since >= ${GALERA_NON_PRIMARY_RESTART_SECONDS:-60})) || continue
    rejoin_would_help || continue
    log_info "mariadbd has been ${cluster:-out of the cluster} for $((SECONDS - since))s; restarting it to take part in the election"
    stop_for_restart
    return 0
  done
}

# --- an external source (source.sh) --------------------------------------------------------------
# While the follow record (FOLLOW_TABLE, replicated) says the cluster follows its source, every
# node is read-only for clients and one node replicates from the source: the lowest ordinal that
# is Synced in the Primary component. Galera carries each transaction that node applies to every
# node with the source's GTID and its mysql.gtid_slave_pos row, so whichever node follows next
# starts where the last one stopped. A node starts only once no peer's state line says it
# follows (two connections would apply the source's transactions twice), and a follower hands
# over when a lower ordinal is Synced again; both are checked every GALERA_FOLLOW_CHECK_SECONDS.
# FOLLOWING_SOURCE is 1 while the record says the cluster follows (until read: 1 with a source).
GALERA_FOLLOW_CHECK_SECONDS=${GALERA_FOLLOW_CHECK_SECONDS:-5}
FOLLOW_CHECKED=-1000 CLIENT_WRITES='' FOLLOW_WAIT_LOGGED=''
FOLLOWING_SOURCE=0
source_configured && FOLLOWING_SOURCE=1
follow_source_when_due() {
  source_configured || return 0
  # open for clients: the record said 'promoted' or nothing, and neither changes again
  [[ $CLIENT_WRITES == on ]] && return 0
  local record
  record=$(follow_record) || return 0
  if [[ $record != following\ * ]]; then
    [[ -f $FOLLOW_FILE ]] && stop_following_here "the cluster no longer follows its source (${record:-it was not created from it})"
    client_writes on || return 0
    if ((FOLLOWING_SOURCE == 1)) && [[ -z $record ]]; then
      log_error "source $(source_address) is configured, but this cluster was not created from it: it does not follow it (a cluster copies its source only when it is created)"
    fi
    FOLLOWING_SOURCE=0
    return 0
  fi
  FOLLOWING_SOURCE=1
  client_writes off
  if [[ -f $FOLLOW_FILE ]]; then report_following; fi
  ((SECONDS - FOLLOW_CHECKED >= GALERA_FOLLOW_CHECK_SECONDS)) || return 0
  FOLLOW_CHECKED=$SECONDS
  local peers lower others
  peers=$(collect_peer_states)
  lower=$(lower_synced_peer <<<"$peers")
  if [[ -f $FOLLOW_FILE ]]; then
    [[ -z $lower ]] || stop_following_here "$lower, a lower ordinal, is Synced: it follows the source from here"
    return 0
  fi
  [[ -z $lower ]] || return 0
  others=$(following_nodes <<<"$peers")
  if [[ -n $others ]]; then
    [[ $FOLLOW_WAIT_LOGGED == "$others" ]] || log_info "decision: follow: waiting until $others stops following the source $(source_address)"
    FOLLOW_WAIT_LOGGED=$others
    return 0
  fi
  FOLLOW_WAIT_LOGGED=''
  if start_following; then
    : >"$FOLLOW_FILE"
    FOLLOW_REPORTED=''
    log_info "decision: follow: replicating from the source $(source_address) (connection '$SOURCE_CONNECTION', from GTID $(local_sql -e 'SELECT @@GLOBAL.gtid_slave_pos')); clients may not write until the cutover"
  else
    log_warn "could not start replicating from the source $(source_address); retrying"
  fi
}

# The name of a running, Primary, Synced peer of a lower ordinal than this node (state lines on
# stdin); empty when there is none.
lower_synced_peer() {
  local line own name
  own=$(ordinal_of "$POD_NAME")
  while IFS= read -r line; do
    name=$(field "$line" name)
    [[ -n $name && $(ordinal_of "$name") -lt $own ]] || continue
    [[ $(field "$line" phase) == running && $(field "$line" primary) == 1 && $(field "$line" local_state) == 4 ]] || continue
    printf '%s\n' "$name"
    return 0
  done
}

stop_following_here() {
  stop_following || { log_warn "could not stop the connection to the source $(source_address); retrying"; return 0; }
  rm -f "$FOLLOW_FILE"
  log_info "decision: follow: this node stopped replicating from the source $(source_address): $1"
}

# client_writes on|off: read_only off or on on this node (root and the node scripts write either way).
client_writes() {
  [[ $1 == "$CLIENT_WRITES" ]] && return 0
  local value=1
  [[ $1 == on ]] && value=0
  local_sql -e "SET GLOBAL read_only = $value" || return 1
  if [[ $1 == off ]]; then
    log_info "clients may not write (read_only): the cluster follows its source $(source_address) until the cutover"
  elif [[ -n $CLIENT_WRITES ]]; then
    log_info "clients may write again (read_only off): the cluster no longer follows its source"
  fi
  CLIENT_WRITES=$1
}

# The watchdog's restart: a graceful stop, which keeps the position in grastate.dat. A node
# whose provider is paused (a client holding a backup lock or FLUSH TABLES WITH READ LOCK) never
# finishes one, so after GALERA_WATCHDOG_STOP_SECONDS it is killed, before the liveness probe
# restarts the container for it; its position is then recovered from InnoDB at the next start.
stop_for_restart() {
  local deadline=$((SECONDS + ${GALERA_WATCHDOG_STOP_SECONDS:-45}))
  RESTART_ELECTION=1
  kill -TERM "$MARIADBD_PID"
  while kill -0 "$MARIADBD_PID" 2>/dev/null && ((SECONDS < deadline && STOPPING == 0)); do
    sleep 1 &
    wait $! || true
  done
  if ((STOPPING == 0)) && kill -0 "$MARIADBD_PID" 2>/dev/null; then
    log_warn "mariadbd did not stop within ${GALERA_WATCHDOG_STOP_SECONDS:-45}s (a paused provider: a client holding a backup lock?); killing it"
    kill -KILL "$MARIADBD_PID"
  fi
}

# The value of one "name value" line of wsrep_status on stdin (the shell's own parsing: every second).
status_value() {
  local name value
  while read -r name value; do
    [[ $name == "$1" ]] && { printf '%s\n' "$value"; return 0; }
  done
  return 0
}

desync_setting() { local_sql -N -e 'SELECT @@GLOBAL.wsrep_desync' 2>/dev/null | sed 's/^1$/ON/; s/^0$/OFF/'; }

# Prints 1 when an SST script (wsrep_sst_<method>) runs as a child of this pod's mariadbd.
sst_script_running() {
  local stat rest ppid
  for stat in /proc/[0-9]*/stat; do
    rest=$(cat "$stat" 2>/dev/null) || continue
    rest=${rest##*) } # past "pid (comm) ", comm may hold spaces
    read -r _ ppid _ <<<"$rest"
    [[ $ppid == "$MARIADBD_PID" ]] || continue
    tr '\0' ' ' <"${stat%/stat}/cmdline" 2>/dev/null | grep -q 'wsrep_sst_' && { echo 1; return 0; }
  done
  echo 0
}

rejoin_would_help() {
  local lines
  lines=$(state_line phase=running primary=0; collect_states)
  rejoin_helps "$(expected_names)" <<<"$lines"
}

# The join's state transfer, from sst_plan ("MODE DONORS") and sst_method: while a rollout turns
# TLS on, the joiner may have to receive in the mode of the running nodes, from those nodes only.
# The mode lives in the [sst] section of the runtime my.cnf, which the SST script reads when the
# transfer starts; restore_sst_mode puts this node's own mode back once it is Synced (before it
# donates). The method is my.cnf's (stream) unless a running node cannot donate it (an upgrade
# from an older version is rolling out): then mariabackup, which every node can donate.
SST_DONORS='' SST_RESTORE=0
plan_state_transfer() {
  local mode=${1%% *} donors='' method=${2:-stream}
  [[ $1 == *' '* ]] && donors=${1#* }
  SST_DONORS=$donors
  if [[ $method != stream ]]; then
    SST_METHOD=$method
    log_warn "state transfer: a running node cannot donate the stream method (an older version of this project: an upgrade is rolling out); this join uses $method"
  fi
  restore_sst_mode # a join before this one that did not finish
  if [[ $mode != "$(own_sst_mode)" ]]; then
    set_sst_mode "$mode"
    SST_RESTORE=1
    log_warn "state transfer: the running nodes ($donors) send state transfers $([[ $mode == tls ]] && echo 'with TLS' || echo 'in plain text'); this join receives so, from them only (a rollout of the TLS settings is under way: finish it)"
  elif [[ -n $donors ]]; then
    log_info "state transfer: donors limited to $donors (the running nodes that send as this node receives)"
  fi
}

# Rewrites the [sst] section of $MY_CNF: ssl-mode VERIFY_CA (tls) or DISABLED (plain).
set_sst_mode() {
  local ssl_mode=DISABLED tmp="$MY_CNF.tmp"
  [[ $1 == tls ]] && ssl_mode=VERIFY_CA
  awk '/^\[/ { skip = ($0 == "[sst]") } !skip' "$MY_CNF" >"$tmp"
  printf '[sst]\nssl-mode=%s\n' "$ssl_mode" >>"$tmp"
  mv -f "$tmp" "$MY_CNF"
}

# After a restore to a point (after_replay in backup-galera.sh): the node that bootstrapped makes
# the cluster's first transaction carry the seq after the replayed ones (a session's
# wsrep_gtid_seq_no moves Galera's GTID counter on every node that applies it), then drops the
# table; every node keeps its seed file, and stays unready, until the table is gone. (A retry after
# a seed whose DROP failed finds its row: IGNORE makes the INSERT a no-op, and the DROP goes on.)
seed_gtid_after_restore() {
  local seq present
  seq=$(<"$GTID_SEED_FILE")
  present=$(local_sql -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'mysql' AND table_name = '${GTID_SEED_TABLE#mysql.}'") ||
    return 0
  if ((present == 1)); then
    [[ $ACTION == bootstrap ]] || return 0
    local_sql -e "SET SESSION wsrep_gtid_seq_no = $((seq + 1)); INSERT IGNORE INTO $GTID_SEED_TABLE VALUES ($((seq + 1))); DROP TABLE $GTID_SEED_TABLE" || {
      log_warn "restore: making the first transaction after the restore carry GTID seq $((seq + 1)) failed; retrying"
      return 0
    }
    log_info "restore: the cluster's GTIDs go on from the replayed ones: seq $((seq + 1)) is its first transaction ($(local_sql -e 'SELECT @@gtid_binlog_pos'))"
  fi
  rm -f "$GTID_SEED_FILE"
}

restore_sst_mode() {
  ((SST_RESTORE == 1)) || return 0
  set_sst_mode "$(own_sst_mode)"
  SST_RESTORE=0
  log_info "state transfer: this node sends and receives state transfers $([[ $(own_sst_mode) == tls ]] && echo 'with TLS' || echo 'in plain text') again, as configured"
}

# SIGTERM: leave the cluster gracefully, once the view has dropped the members already gone.
leave_on_term() {
  STOPPING=1
  if [[ -n $MARIADBD_PID ]] && kill -0 "$MARIADBD_PID" 2>/dev/null; then
    leave_in_turn
    wait_for_departed_members
    log_info "SIGTERM: shutting mariadbd down gracefully"
    stop_mariadbd
  fi
}

# The hosts of every member this node's view may count: each ordinal up to the larger of the
# view's size and the configured count (during a scale rollout they differ).
view_hosts() {
  local size=$1 i
  for ((i = 0; i < (size > $(peer_count) ? size : $(peer_count)); i++)); do host_of_ordinal "$i"; done
}

# One leave at a time (leave_turn in galera-election.sh): raise this node's leaving= flag, and
# leave once a read of the peers made after raising it shows no other flag up; a higher ordinal
# goes first (this node lowers its flag meanwhile, and raises it again before the next read that
# may decide). The flag stays up until this node is gone. Bounded by GALERA_LEAVE_WAIT_SECONDS,
# then it leaves anyway.
leave_in_turn() {
  local deadline=$((SECONDS + ${GALERA_LEAVE_WAIT_SECONDS:-30})) status size host line turn='' logged=''
  local -a lines
  : >"$LEAVING_FILE"
  while ((SECONDS < deadline)); do
    status=$(SQL_TIMEOUT=2 wsrep_status 2>/dev/null) || return 0
    [[ $status == *$'wsrep_cluster_status\tPrimary'* ]] || return 0
    size=$(status_value wsrep_cluster_size <<<"$status")
    lines=()
    # one peer after the other, as in wait_for_departed_members (parallel queries from this trap came back empty)
    while IFS= read -r host; do
      [[ $(pod_of_host "$host") == "$POD_NAME" ]] && continue
      line=$(query_peer "$host")
      [[ -n $line ]] && lines+=("$line")
    done < <(view_hosts "$size")
    turn=$({ state_line phase=running primary=1; ((${#lines[@]} == 0)) || printf '%s\n' "${lines[@]}"; } | leave_turn)
    if [[ ! -e $LEAVING_FILE ]]; then
      # yielded: raise the flag again once the higher ordinals are gone, and read again before going
      [[ $turn == yield* ]] || : >"$LEAVING_FILE"
    elif [[ $turn == go ]]; then
      return 0
    elif [[ $turn == yield* ]]; then
      rm -f "$LEAVING_FILE"
      [[ $logged == "$turn" ]] || log_info "SIGTERM: ${turn#yield } of a higher ordinal leaves too; waiting for it to go first (one leave at a time)"
    else
      [[ $logged == "$turn" ]] || log_info "SIGTERM: ${turn#wait } leaves too and yields to this node; waiting for it to step back (one leave at a time)"
    fi
    logged=$turn
    sleep 0.5
  done
  : >"$LEAVING_FILE"
  log_info "SIGTERM: other members still leaving after ${GALERA_LEAVE_WAIT_SECONDS:-30}s (${turn:-no answer}); leaving anyway"
}

# Leaving while the view still counts members that are already gone turns this graceful leave
# into a partition of several members at once, which can cost the survivors their quorum (seen
# when a scale-down and a rolling update follow each other). So before leaving, wait (bounded)
# until every member of the view has answered on its state port, running and Primary. A member
# counts once it answered in any round of this wait: on a loaded node a peer's answer can take
# longer than the query's timeout, and asking for every answer in the same round left the wait
# to run out on a healthy view.
wait_for_departed_members() {
  local deadline=$((SECONDS + ${GALERA_LEAVE_WAIT_SECONDS:-30})) size status line host logged=0
  local -A answered=()
  while ((SECONDS < deadline)); do
    status=$(SQL_TIMEOUT=2 wsrep_status 2>/dev/null) || return 0
    [[ $status == *$'wsrep_cluster_status\tPrimary'* ]] || return 0
    size=$(status_value wsrep_cluster_size <<<"$status")
    # one peer after the other: run from this SIGTERM trap, query_peers' parallel queries came
    # back empty while each peer answered a direct query (seen in the lifecycle tests)
    while IFS= read -r host; do
      [[ $(pod_of_host "$host") == "$POD_NAME" || -n ${answered[$(pod_of_host "$host")]:-} ]] && continue
      line=$(query_peer "$host")
      [[ $(field "$line" phase) == running && $(field "$line" primary) == 1 ]] && answered[$(field "$line" name)]=1
    done < <(view_hosts "$size")
    ((size <= ${#answered[@]} + 1)) && return 0
    if ((logged == 0)); then
      log_info "SIGTERM: the view has $size members but only $((${#answered[@]} + 1)) answered; waiting for it to drop the departed ones before leaving"
      logged=1
    fi
    sleep 0.5
  done
  log_info "SIGTERM: the view still counts departed members after ${GALERA_LEAVE_WAIT_SECONDS:-30}s (answered: this node${answered[*]:+ and ${!answered[*]}}); leaving anyway"
}

main() {
  [[ -f $MY_CNF ]] || die "$MY_CNF is missing: the init container (galera-init.sh) did not run"
  trap_signals leave_on_term
  rm -f "$LEAVING_FILE" # a leave of an earlier container of this pod (the emptyDir outlives it)
  find_position
  start_state_server galera-state.sh
  if ! elect; then
    log_info "stopped while waiting"
    exit 0
  fi
  local rc
  while true; do
    rc=0
    run_mariadbd || rc=$?
    ((RESTART_ELECTION == 1 && STOPPING == 0)) || exit "$rc"
    RESTART_ELECTION=0
    # It was not the last member of a Primary component, whatever the shutdown wrote.
    sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 0/' "$GRASTATE"
    find_position
    elect || exit 0
  done
}

# Sourced (by the tests), it only defines the functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
