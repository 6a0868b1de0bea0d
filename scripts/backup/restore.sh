#!/usr/bin/env bash
# Creates a cluster of either topology from a backup (the "restore" init container of every
# database pod, when restoreFrom is set). It checks the backup against its manifest before
# anything changes, extracts and prepares it on its own empty volume, and leaves it to start
# (finish_restore in backup-<topology>.sh). Every pod restores, at the same time
# (RESTORE_EVERY_NODE=1 in both topologies; 0 would restore on the first pod only):
#   Galera: Each leaves grastate.dat at the backup's position (ordinal
#     0 with safe_to_bootstrap: 1, so the election bootstraps it), with the accounts reset to the
#     Secret's passwords; the others join it at the same uuid:seqno, so no state transfer copies
#     anything (IST of nothing).
#   primary/replica: ordinal 0 gets the binlog state at the backup's GTID, the accounts reset,
#     and a data marker that makes it the primary; every other pod the data marker of a clone at
#     the backup's GTID, and it waits (before_first_start) until ordinal 0 is the primary, then
#     replicates from that GTID (no clone).
#
# A restore never overwrites a dataset: it is refused when this volume holds data or when a peer
# runs or holds data, except a peer that restores the same backup (its state port says
# phase=restoring at the backup's position while this script runs there) or has restored it
# (peer_restores_same). Once done, the marker (RESTORED_MARKER) makes every later start of the pod
# skip it (restoreFrom may stay in the manifests).
#
# The steps, in order (restore_main): refuse_if_data, resolve_name, check_backup,
# announce_restore, refuse_if_peers_hold_data, extract_and_prepare, then install_backup: the
# prepared files moved into the data directory and finish_restore. After install_backup the
# backup is restored into the data directory and the node is about to start (before_first_start
# is the topology's wait for that); mark_restored ends the restore.
#
# The backup: RESTORE_DIR holds <name>.json and <name>.xb.zst (the backup volume, mounted
# read-only, or the copy the restore-fetch container took from S3); RESTORE_BACKUP is a name or
# "latest". Every backup this project has written has that format (xbstream, zstd), so a restore
# reads backups of older versions as well.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=backup-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# The topology's start script: the SQL of its accounts (its main runs only when it is executed).
# shellcheck source-path=SCRIPTDIR source=../node/galera-start.sh
source "$(topology_script "$START_SCRIPT")"
# shellcheck source-path=SCRIPTDIR source=restore-point.sh
source "$(dirname "${BASH_SOURCE[0]}")/restore-point.sh"
# shellcheck source-path=SCRIPTDIR source=binlog-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/binlog-lib.sh"
# shellcheck disable=SC2034  # read by log.sh
LOG_COMPONENT=restore

: "${RESTORE_DIR:?RESTORE_DIR is not set}"
RESTORE_BACKUP=${RESTORE_BACKUP:-latest}
# How long the first pod waits for every peer to answer before it decides that their volumes are empty.
RESTORE_PEER_WAIT_SECONDS=${RESTORE_PEER_WAIT_SECONDS:-600}
STAGING=$RESTORE_STAGING
NAME='' RESTORED_AT=''

# The backup's name: RESTORE_BACKUP, or the newest manifest for "latest".
resolve_name() {
  if [[ $RESTORE_BACKUP != latest ]]; then
    NAME=$RESTORE_BACKUP
    return 0
  fi
  NAME=$(choose_backup "$RESTORE_DIR")
  [[ -n $NAME ]] || die "restore: no backup in $RESTORE_DIR$(point_text >/dev/null && echo " made before $(point_text)") (no manifest *.json); nothing was changed"
  log_info "restore: $(point_text >/dev/null && echo "the newest backup before $(point_text)" || echo 'latest backup') is $NAME"
}

# --- to a point: the archived binary logs --------------------------------------------------------

ARCHIVE_DOMAIN=${ARCHIVE_DOMAIN:-0}
BINLOG_DIR=$RESTORE_DIR/binlogs
POINT_STOP='' POINT_SEGMENTS=()

# The target as the logs say it; fails when there is none (a plain restore).
point_text() {
  if [[ -n ${RESTORE_POINT_GTID:-} ]]; then echo "GTID $RESTORE_POINT_GTID (exclusive)"
  elif [[ -n ${RESTORE_POINT_TIME:-} ]]; then echo "$RESTORE_POINT_TIME$([[ $RESTORE_POINT_TIME != latest ]] && echo ' (exclusive)')"
  else return 1; fi
}

# The archived ranges, contiguous runs joined: "0-1-1..0-1-900 and 0-1-950..0-1-990".
archive_ranges() {
  local m first last prev=-1 out='' start=''
  for m in "$@"; do
    first=$(segment_first_seq "$m") last=$(segment_last_seq "$m")
    if [[ -z $start ]]; then start=$(segment_value "$m" firstGtid)
    elif ((first != prev + 1)) && { [[ $(segment_value "$m" gapBefore) == true ]] ||
      (($(seq_of_domain "$(segment_value "$m" startAfter)" "$ARCHIVE_DOMAIN") != prev)); }; then
      out+="$start..$end and "; start=$(segment_value "$m" firstGtid)
    fi
    end=$(segment_value "$m" lastGtid) prev=$last
  done
  printf '%s\n' "${out}${start:-nothing}${start:+..$end}"
}

# The last seq before the first archived transaction that began at or after the compact time $1.
stop_before_time() {
  local target=$1 m seq
  shift
  for m in "$@"; do
    [[ $(compact_time "$(segment_value "$m" lastEventTime)") < $target ]] && continue
    seq=$(binlog_gtids "${m%.json}.binlog" "$ARCHIVE_DOMAIN" |
      awk -v prev="$(seq_of_domain "$(segment_value "$m" startAfter)" "$ARCHIVE_DOMAIN")" -v t="$target" '
        $1 > prev && $3 >= t { print prev; found = 1; exit }
        $1 > prev { prev = $1 }
        END { if (!found) exit 1 }')
    [[ -n $seq ]] && { printf '%s\n' "$seq"; return 0; }
  done
  return 1
}

# stop_before_seq SEQ MANIFEST...: the last archived seq before SEQ (Galera may skip seqs: the one
# before SEQ need not exist); SEQ - 1 when the archive ends before it (plan_replay refuses that).
stop_before_seq() {
  local target=$1 m prev=$(($1 - 1))
  shift
  for m in "$@"; do
    (($(segment_last_seq "$m") >= target - 1)) || continue
    binlog_gtids "${m%.json}.binlog" "$ARCHIVE_DOMAIN" |
      awk -v prev="$(seq_of_domain "$(segment_value "$m" startAfter)" "$ARCHIVE_DOMAIN")" -v t="$target" '
        $1 >= t { exit } $1 > prev { prev = $1 } END { print prev }'
    return 0
  done
  printf '%s\n' "$prev"
}

# A segment matches its manifest, or the restore stops before anything changes, naming it.
check_segment() {
  local m=$1 file=${1%.json}.binlog size sum
  [[ -f $file ]] || die "restore: archived binlog segment $(basename "$file") is missing (its manifest is there); nothing was changed"
  size=$(stat -c %s "$file")
  [[ $size == "$(segment_value "$m" sizeBytes)" ]] ||
    die "restore: archived binlog segment $(basename "$file") is truncated or altered: $size bytes, its manifest says $(segment_value "$m" sizeBytes); nothing was changed"
  sum=$(sha256_hex <"$file")
  [[ $sum == "$(segment_value "$m" sha256)" ]] ||
    die "restore: archived binlog segment $(basename "$file") is corrupt: sha256 $sum, its manifest says $(segment_value "$m" sha256); nothing was changed"
}

# With a point: the last seq to replay (POINT_STOP) and the segments that hold backup..stop, each
# checked against its manifest, the chain without a gap. Refuses, before anything changes, a
# target the archive does not cover, naming what it has and what the target needs.
plan_replay() {
  point_text >/dev/null || return 0
  local manifests=() m backup_seq next after last
  mapfile -t manifests < <(find "$BINLOG_DIR" -maxdepth 1 -name "*-binlog-$ARCHIVE_DOMAIN-*.json" 2>/dev/null | sort)
  ((${#manifests[@]} > 0)) || die "restore to $(point_text): no archived binlogs in $BINLOG_DIR (is backup.pointInTime on?); nothing was changed"
  backup_seq=$(seq_of_domain "$(manifest_value gtid)" "$ARCHIVE_DOMAIN")
  if [[ -n ${RESTORE_POINT_GTID:-} ]]; then
    [[ ${RESTORE_POINT_GTID%%-*} == "$ARCHIVE_DOMAIN" ]] ||
      die "restore: GTID $RESTORE_POINT_GTID is not in the cluster's domain $ARCHIVE_DOMAIN; nothing was changed"
    POINT_STOP=$(stop_before_seq "${RESTORE_POINT_GTID##*-}" "${manifests[@]}")
  elif [[ $RESTORE_POINT_TIME == latest ]]; then
    POINT_STOP=$(segment_last_seq "${manifests[-1]}")
  else
    POINT_STOP=$(stop_before_time "$(compact_time "$RESTORE_POINT_TIME")" "${manifests[@]}") ||
      die "restore: the archive ends at $(segment_value "${manifests[-1]}" lastEventTime) ($(segment_value "${manifests[-1]}" lastGtid)); $RESTORE_POINT_TIME is after it, so what was committed in between cannot be known: restore to 'latest' or to a time inside the archive; nothing was changed"
  fi
  ((POINT_STOP >= backup_seq)) ||
    die "restore: backup $NAME is at seq $backup_seq of domain $ARCHIVE_DOMAIN, after the target $(point_text); name an older backup; nothing was changed"
  next=$((backup_seq + 1))
  for m in "${manifests[@]}"; do
    ((next <= POINT_STOP)) || break
    after=$(seq_of_domain "$(segment_value "$m" startAfter)" "$ARCHIVE_DOMAIN") last=$(segment_last_seq "$m")
    ((last >= next)) || continue
    # the archiver wrote each segment to follow on from startAfter (seqs Galera skipped are no gap)
    # or marked it gapBefore
    if ((after >= next)) || [[ $(segment_value "$m" gapBefore) == true ]]; then
      die "restore: the archive has $(archive_ranges "${manifests[@]}"); the target $(point_text) from backup $NAME needs $ARCHIVE_DOMAIN-?-$next; nothing was changed"
    fi
    check_segment "$m"
    POINT_SEGMENTS+=("$m")
    next=$((last + 1))
  done
  ((next > POINT_STOP)) ||
    die "restore: the archive has $(archive_ranges "${manifests[@]}"); the target $(point_text) needs up to seq $POINT_STOP; nothing was changed"
  log_info "restore: to $(point_text): backup $NAME (seq $backup_seq), then seq $((backup_seq + 1))..$POINT_STOP of domain $ARCHIVE_DOMAIN from ${#POINT_SEGMENTS[@]} archived segments (each matches its manifest)"
}

# replay_segment FILE AFTER: the transactions of an archived binlog file after seq AFTER, up to
# POINT_STOP, applied by the local server. No time limit: a segment holds as many transactions as
# the archiver's round saw, and one transaction may be a bulk load that takes minutes to apply (a
# limit would fail the restore at the same transaction on every retry).
replay_segment() {
  local status=()
  {
    mariadb-binlog --no-defaults --do-domain-ids="$ARCHIVE_DOMAIN" --start-position="$ARCHIVE_DOMAIN-1-$2" \
      --stop-position="$ARCHIVE_DOMAIN-1-$POINT_STOP" "$1" | SQL_TIMEOUT=0 local_sql
    status=("${PIPESTATUS[@]}")
  } || true
  ((status[0] == 0 && status[1] == 0)) ||
    die "restore: replaying $(basename "$1") failed (mariadb-binlog exited with ${status[0]}, mariadb with ${status[1]}; the lines above say why)"
}

# Replays the planned segments on the restored data (a local server without networking or
# replication), from after what it holds (so an interrupted replay resumes) up to POINT_STOP.
replay_to_point() {
  point_text >/dev/null || return 0
  if ((REPLAY_EVERY_NODE == 0)) && [[ $(ordinal_of "$POD_NAME") != 0 ]]; then
    log_info "restore: ${POD_NAME%-*}-0 replays the archived binlogs; $POD_NAME receives them by replication"
    return 0
  fi
  local m after have t=$SECONDS
  # the server's own domain is the archive's: mariadb-binlog sets each transaction's GTID, but
  # resets the session's domain to the server's between files
  start_local_server replay-server "${REPLAY_SERVER_ARGS[@]}" --gtid-domain-id="$ARCHIVE_DOMAIN"
  for m in "${POINT_SEGMENTS[@]}"; do
    have=$(seq_of_domain "$(local_sql -e 'SELECT @@gtid_binlog_pos')" "$ARCHIVE_DOMAIN")
    # (a segment an interrupted replay applied already is passed over)
    (($(segment_last_seq "$m") > have)) || continue
    after=$(seq_of_domain "$(segment_value "$m" startAfter)" "$ARCHIVE_DOMAIN")
    ((after >= have)) || after=$have
    ((after < POINT_STOP)) || continue
    replay_segment "${m%.json}.binlog" "$after"
  done
  have=$(seq_of_domain "$(local_sql -e 'SELECT @@gtid_binlog_pos')" "$ARCHIVE_DOMAIN")
  after_replay "$have"
  stop_local_server
  ((have == POINT_STOP)) || die "restore: after the replay the data is at seq $have of domain $ARCHIVE_DOMAIN, not $POINT_STOP"
  log_info "restore: replayed the archived binlogs up to seq $POINT_STOP in $((SECONDS - t)) s: the data is as it was before $(point_text)"
}

# A value of the manifest (written by backup-job.sh, one key per line): a string (a GTID list
# may hold commas) or a number.
manifest_value() {
  sed -n -e "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p" -e "s/^  \"$1\": \([^\",]*\),\{0,1\}$/\1/p" "$RESTORE_DIR/$NAME.json" | head -n 1
}

# The backup file matches its manifest: present, same size, same sha256. Checked before anything
# is written; a mismatch names the backup and what differs.
check_backup() {
  local manifest="$RESTORE_DIR/$NAME.json" stream="$RESTORE_DIR/$NAME.xb.zst" size sum want_size want_sum
  [[ -f $manifest ]] || die "restore: backup $NAME has no manifest $manifest; nothing was changed"
  [[ -f $stream ]] || die "restore: backup $NAME is incomplete: $stream is missing; nothing was changed"
  want_size=$(manifest_value sizeBytes) want_sum=$(manifest_value sha256)
  size=$(stat -c %s "$stream")
  [[ $size == "$want_size" ]] || die "restore: backup $NAME is truncated or altered: $size bytes, the manifest says $want_size; nothing was changed"
  sum=$(sha256_hex <"$stream")
  [[ $sum == "$want_sum" ]] || die "restore: backup $NAME is corrupt: sha256 $sum, the manifest says $want_sum; nothing was changed"
  log_info "restore: backup $NAME matches its manifest ($size bytes, sha256 ${sum:0:12}…, position $(manifest_position_text))"
}

# Entries of the data directory other than lost+found and an interrupted restore's staging.
data_entries() {
  find "$NODE_DATA_DIR" -mindepth 1 -maxdepth 1 ! -name 'lost+found' ! -name "${STAGING##*/}" -printf '%f\n'
}

refuse_if_data() {
  local entries
  entries=$(data_entries)
  [[ -z $entries ]] && return 0
  die "restore: refusing to restore backup $RESTORE_BACKUP onto the volume of $POD_NAME: it holds data ($(grep -c . <<<"$entries") entries: $(head -n 5 <<<"$entries" | tr '\n' ' ')). A restore never overwrites a dataset: create the cluster on new volumes (delete the PVCs or use another name), or remove restoreFrom"
}

# Tells the peers, which may restore at the same time, that this pod restores this backup: its
# state port answers phase=restoring at the backup's position until the restore ends.
announce_restore() {
  ((RESTORE_EVERY_NODE == 1)) || return 0
  trap_signals 'exit 1'
  publish_restoring
  start_state_server "$STATE_SCRIPT"
}

# Every peer must answer, with an empty volume or restoring the same backup, before this pod
# restores: a restore creates a new cluster.
refuse_if_peers_hold_data() {
  local deadline=$((SECONDS + RESTORE_PEER_WAIT_SECONDS)) lines line missing logged=0
  while true; do
    lines=$(collect_peer_states)
    while IFS= read -r line; do
      [[ -n $line ]] || continue
      peer_restores_same "$line" && continue
      if peer_holds_data "$line"; then
        die "restore: refusing to restore backup $NAME: $(field "$line" name) $([[ $(field "$line" phase) == running ]] && echo runs || echo 'holds data') ($line). A restore creates a new cluster from empty volumes only"
      fi
    done <<<"$lines"
    # (grep -c fails when no peer answered yet; set -e would end the restore without a word)
    missing=$(($(peer_count) - 1 - $(grep -c . <<<"$lines" || true)))
    ((missing <= 0)) && return 0
    ((SECONDS < deadline)) || die "restore: $missing peer(s) did not answer in ${RESTORE_PEER_WAIT_SECONDS}s; their volumes may hold data, so backup $NAME was not restored"
    if ((logged == 0)); then log_info "restore: waiting for every peer to answer (their volumes must be empty)"; logged=1; fi
    sleep 1
  done
}

# Extracts and prepares the backup into the staging directory of this volume.
extract_and_prepare() {
  rm -rf "$STAGING"
  mkdir -p "$STAGING/data"
  zstd -q -dc "$RESTORE_DIR/$NAME.xb.zst" | mbstream -x -p "$(nproc)" -C "$STAGING/data" 2>"$STAGING/mbstream.log" ||
    { local why; why=$(tail -n 2 "$STAGING/mbstream.log" | tr '\n' ' '); rm -rf "$STAGING"; die "restore: backup $NAME cannot be extracted ($why); nothing was changed"; }
  mariadb-backup --prepare --target-dir="$STAGING/data" 2>"$STAGING/prepare.log" ||
    { local why; why=$(tail -n 3 "$STAGING/prepare.log" | tr '\n' ' '); rm -rf "$STAGING"; die "restore: mariadb-backup --prepare of backup $NAME failed ($why); nothing was changed"; }
  local position
  position=$(check_restored_position "$STAGING/data") || { rm -rf "$STAGING"; die "restore: backup $NAME $position; nothing was changed"; }
  printf '%s\n' "$position" >"$STAGING/position"
  printf '%s\n' "$NAME" >"$STAGING/name"
  touch "$STAGING/prepared"
}

# Moves the prepared files into the data directory (also finishes a move that was interrupted),
# then the topology makes them the node's dataset (finish_restore: accounts, position).
install_backup() {
  local pos
  pos=$(<"$STAGING/position")
  move_into_place
  finish_restore "$pos"
}

# The restore is done: later starts of the pod skip it.
mark_restored() {
  printf '%s\n' "$NAME" >"$RESTORED_MARKER"
  rm -rf "$STAGING"
  rm -f "$STATE_FILE"
  log_info "restore: backup $NAME restored at $RESTORED_AT"
}

# Moves the prepared files into the data directory (also finishes a move that was interrupted).
move_into_place() {
  local f
  for f in "$STAGING/data"/* "$STAGING/data"/.[!.]*; do
    [[ -e $f ]] || continue
    mv -f "$f" "$NODE_DATA_DIR/"
  done
}

restore_main() {
  if ((RESTORE_EVERY_NODE == 0)) && [[ $(ordinal_of "$POD_NAME") != 0 ]]; then
    log_info "restore: ${POD_NAME%-*}-0 restores the backup; $POD_NAME $RESTORE_OTHERS"
    return 0
  fi
  if [[ -f $RESTORED_MARKER ]]; then
    log_info "restore: this volume was restored from $(<"$RESTORED_MARKER") already; starting normally"
    return 0
  fi
  if [[ ! -f $STAGING/prepared ]]; then
    refuse_if_data
    resolve_name
    check_backup
    plan_replay
    announce_restore
    refuse_if_peers_hold_data
    log_info "restore: extracting and preparing backup $NAME"
    extract_and_prepare
  else
    NAME=$(<"$STAGING/name")
    log_info "restore: finishing the interrupted restore of backup $NAME"
    plan_replay
  fi
  install_backup
  replay_to_point
  # Here the backup is restored into the data directory and the node is about to start. Every pod
  # passes here with the same data at the same position (Galera: the same uuid:seqno in every
  # grastate.dat, so they join without a transfer): a step added here must leave every pod
  # identical, or change the position it joins at.
  before_first_start
  mark_restored
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  restore_main "$@"
fi
