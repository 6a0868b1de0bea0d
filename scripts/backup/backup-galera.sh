#!/usr/bin/env bash
# What backups and restores do on the Galera topology (sourced through backup-lib.sh when
# BACKUP_TOPOLOGY is galera; backup-replication.sh is the other topology's). The shared scripts
# (backup-job.sh, backup-endpoint.sh, restore.sh) call these functions and variables:
#
#   pick_source < state lines           the node a backup comes from: "pod reason" (or fails)
#   NO_SOURCE                           why there is none, for the job's error
#   endpoint_refusal                    why this node may not serve a backup now (empty: it may)
#   endpoint_catch_up                   what the node does before the copy; prints why not and fails
#   BACKUP_STREAM_ARGS                  mariadb-backup's topology options
#   read_position DIR                   the position of a prepared backup: POSITION (what the
#                                       manifest and the logs show) and MANIFEST_POSITION (JSON lines)
#   manifest_position_text              the position as the manifest (of NAME in RESTORE_DIR) says it
#   check_restored_position DIR         the prepared backup is at the manifest's position; prints it
#   peer_holds_data LINE                a peer's state line says it runs or holds data
#   peer_restores_same LINE             a peer's state line says it restores (or restored) this backup
#   RESTORE_EVERY_NODE                  1: every pod restores the backup; 0: the first pod only
#   publish_restoring                   publishes the state line of a pod that restores this backup
#   STATE_SCRIPT                        the node script that serves the state line
#   finish_restore POSITION             the accounts reset to the Secret, the node left to start
#   before_first_start                  what a restored pod waits for before its node starts
#   RESTORED_MARKER, RESTORE_STAGING    the restore's marker and staging directory
#   RESTORE_OTHERS                      how the other pods get the data
#   REPLAY_EVERY_NODE, REPLAY_SERVER_ARGS  where and how a restore to a point replays the archive
#   after_replay SEQ                    what a pod does after its replay (the local server still up)
#   START_SCRIPT                        the node script restore.sh sources (the accounts' SQL)
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

# topology_script NAME: path of a node script of this topology (one flat ConfigMap directory in
# the pods, ../node in the repository).
topology_script() {
  local dir
  dir=$(dirname "${BASH_SOURCE[0]}")
  if [[ -f $dir/$1 ]]; then printf '%s\n' "$dir/$1"; else printf '%s\n' "$dir/../node/$1"; fi
}
# shellcheck source-path=SCRIPTDIR source=../node/galera-lib.sh
source "$(topology_script galera-lib.sh)"

NO_SOURCE='no node is Synced'
BACKUP_STREAM_ARGS=(--galera-info)
RESTORED_MARKER="$NODE_DATA_DIR/.galera-restored-from"
RESTORE_STAGING="$NODE_DATA_DIR/.galera-restore"
RESTORE_OTHERS='restores it too and joins at its position'
RESTORE_EVERY_NODE=1
STATE_SCRIPT=galera-state.sh
START_SCRIPT=galera-start.sh
POSITION='' MANIFEST_POSITION=''

# A Synced node that is not ProxySQL's writer when there is one (the highest ordinal; the writer
# is the lowest Synced ordinal, ProxySQL's server weights being 1000 - ordinal), else the only
# Synced node. Pure: the unit tests drive it.
pick_source() {
  local line synced=() writer
  while IFS= read -r line; do
    [[ -n $line && $(field "$line" phase) == running && $(field "$line" primary) == 1 && $(field "$line" local_state) == 4 ]] &&
      synced+=("$(field "$line" name)")
  done
  ((${#synced[@]} > 0)) || return 1
  mapfile -t synced < <(printf '%s\n' "${synced[@]}" | sort -t- -k2 -n)
  writer=${synced[0]}
  if ((${#synced[@]} > 1)); then
    echo "${synced[-1]} Synced, not ProxySQL's writer ($writer); Synced: ${synced[*]}"
  else
    echo "$writer the only Synced node (it is ProxySQL's writer)"
  fi
}

# The endpoint serves from a Synced node only.
endpoint_refusal() {
  local status state
  status=$(SQL_TIMEOUT=3 wsrep_status 2>/dev/null) || { echo "$POD_NAME: mariadbd does not answer"; return 0; }
  state=$(awk '$1 == "wsrep_local_state_comment" { print $2 }' <<<"$status")
  [[ $state == Synced ]] || echo "$POD_NAME is ${state:-not running}, not Synced"
}

# A Synced node holds what the cluster certified; nothing to wait for.
endpoint_catch_up() { :; }

# Galera's position: xtrabackup_galera_info (uuid:seqno, --galera-info), and the GTID.
read_position() {
  local dir=$1 info uuid seqno gtid
  info=$(head -n 1 "$dir/xtrabackup_galera_info" 2>/dev/null) || { echo "no xtrabackup_galera_info in the backup (not taken with --galera-info)"; return 1; }
  uuid=${info%%:*}
  seqno=${info#*:}
  seqno=${seqno%%[!0-9-]*}
  [[ $uuid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ && $seqno =~ ^-?[0-9]+$ ]] ||
    { echo "xtrabackup_galera_info holds '$info', not uuid:seqno"; return 1; }
  gtid=$(backup_gtid "$dir")
  POSITION="$uuid:$seqno${gtid:+, GTID $gtid}"
  MANIFEST_POSITION=$(printf '  "clusterUuid": %s,\n  "seqno": %s,\n  "gtid": %s,' "$(json_string "$uuid")" "$seqno" "$(json_string "$gtid")")
}

manifest_position_text() { echo "$(manifest_value clusterUuid):$(manifest_value seqno)"; }

# The line a restoring pod's state port serves (announce_restore): the backup's position. The
# election counts a restoring peer as not yet there (galera-election.sh count_nodes).
publish_restoring() {
  publish_state phase=restoring uuid="$(manifest_value clusterUuid)" seqno="$(manifest_value seqno)" empty=1
}

# A peer restores this backup (phase=restoring at its position), waits to start with it
# restored (waiting at its position), or runs in the cluster it creates (its cluster UUID: a pod
# that starts late joins that cluster, and IST brings it from the backup's position to the
# cluster's). None of these holds data this restore would hide.
peer_restores_same() {
  local line=$1 uuid seqno
  uuid=$(manifest_value clusterUuid) seqno=$(manifest_value seqno)
  case $(field "$line" phase) in
    restoring | waiting) [[ $(field "$line" uuid) == "$uuid" && $(field "$line" seqno) == "$seqno" ]] ;;
    running) [[ $(field "$line" uuid) == "$uuid" ]] ;;
    *) return 1 ;;
  esac
}

# The prepared backup's uuid:seqno, which must be the manifest's cluster. The file's line may go on
# after the position ("uuid:seqno domain"): only the first word is the position (grastate.dat
# takes the seqno alone; with the rest, "256 0" was read as 2560).
check_restored_position() {
  local info
  info=$(head -n 1 "$1/xtrabackup_galera_info")
  info=${info%%[[:space:]]*}
  [[ ${info%%:*} == "$(manifest_value clusterUuid)" ]] || { echo "holds position $info, its manifest another cluster"; return 1; }
  printf '%s\n' "$info"
}

peer_holds_data() { [[ $(field "$1" phase) == running || $(field "$1" empty) == 0 ]]; }

# Every Galera node starts as soon as it is restored: the election orders them.
before_first_start() { :; }

# The restored mysql tables hold the old cluster's passwords: the project's accounts are reset to
# the Secret's (a temporary server without networking and without replication, as at
# initialization; every node runs the same statements on the same data, so the nodes stay
# identical). grastate.dat is left at the backup's position on every node, with
# safe_to_bootstrap: 1 on ordinal 0 only: the election bootstraps it (rule_last_out, or
# rule_most_advanced once all answered), never two nodes, and the others join it at the same
# uuid:seqno, where Galera transfers nothing.
finish_restore() {
  local pos=$1 safe=0 role
  create_accounts galera_accounts_sql restore-server --wsrep-on=OFF
  log_info "restore: accounts root@%, $NODE_APP_USER@%, sst@localhost and monitor@% reset to the passwords of Secret '$NODE_SECRET_NAME'"
  [[ $(ordinal_of "$POD_NAME") == 0 ]] && safe=1
  printf '# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   %s\nsafe_to_bootstrap: %s\n' "${pos%%:*}" "${pos#*:}" "$safe" >"$GRASTATE"
  role='this node bootstraps it, the others join it restored at the same position (no state transfer)'
  ((safe == 1)) || role="this node joins ${POD_NAME%-*}-0's cluster at it (no state transfer)"
  RESTORED_AT="position $pos; $role"
}

# The binlog endpoint serves from a Synced node only (a joiner's binlog starts after its transfer).
binlog_refusal() { endpoint_refusal; }

# A restore to a point replays the archived binlogs on every pod, the same on each (they join at
# the backup's uuid:seqno without a transfer), with Galera off while it does.
REPLAY_EVERY_NODE=1
REPLAY_SERVER_ARGS=(--wsrep-on=OFF)

# Galera takes the next GTID seq from its own checkpoint, which the replay (Galera off) left at the
# backup's position: without more, the restored cluster's first transactions would repeat seqs
# the replay wrote. Every pod notes the replayed seq and holds the same empty table, outside the
# binlog; the node that bootstraps writes into it once with the next seq (seed_gtid_after_restore
# in galera-start.sh) and drops it, and every later GTID goes on from there.
after_replay() {
  local_sql -e "SET SESSION sql_log_bin=0; CREATE TABLE IF NOT EXISTS $GTID_SEED_TABLE (seq BIGINT UNSIGNED PRIMARY KEY) ENGINE=InnoDB" ||
    die "restore: creating $GTID_SEED_TABLE failed"
  printf '%s\n' "$1" >"$GTID_SEED_FILE"
}
