#!/bin/sh
# The S3 half of the binlog archiver (its "upload" container, the rclone image: POSIX sh,
# busybox). binlog-archive.sh publishes complete segments (a binlog file and its manifest) into
# the outbox ARCHIVE_DIR, an emptyDir; each goes to <bucket>/<prefix>/binlogs (the file first,
# the manifest last, so a manifest in the bucket always has its file; rclone checks each
# transfer's hash) and leaves the outbox. What it uploaded last is in ARCHIVE_DIR/.uploaded
# ("<seq> <gtid> <unix time>"), which the archiver's metrics read: while the bucket cannot be
# reached, the archive's lag grows and the alert fires; the segments wait in the outbox and go
# when it is back. At start it reads the bucket's last segment into .bucket-archived (where the
# archiver resumes). Retention: the segments wholly before the oldest kept full backup's GTID
# are removed, so exactly what the kept backups need stays.
set -eu

: "${ARCHIVE_DIR:?ARCHIVE_DIR is not set}"
: "${BACKUP_REMOTE:?BACKUP_REMOTE is not set}" # backup:<bucket>/<prefix>
: "${NODE_CLUSTER_NAME:?NODE_CLUSTER_NAME is not set}"
ARCHIVE_DOMAIN=${ARCHIVE_DOMAIN:-0}
REMOTE="$BACKUP_REMOTE/binlogs"
PREFIX="$NODE_CLUSTER_NAME-binlog-$ARCHIVE_DOMAIN-"

log() {
  printf '%s %s binlog-upload %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${POD_NAME:-?}" "$1" "$2" >&2
}

# the last seq of a segment name: its last field, without leading zeros
last_seq() {
  n=${1%.*}
  n=${n##*-}
  printf '%s\n' "$n" | sed 's/^0*\([0-9]\)/\1/'
}

json_value() {
  sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p"
}

# What the bucket holds last: "SEQ GTID TIME" in .uploaded, replaced by a rename. The archiver's
# metrics and rounds read it from another container at any moment, and a file being rewritten in
# place reads empty (its metrics then answered nothing).
record_uploaded() {
  printf '%s %s %s\n' "$1" "$2" "$(date +%s)" >"$ARCHIVE_DIR/.uploaded.tmp"
  mv -f "$ARCHIVE_DIR/.uploaded.tmp" "$ARCHIVE_DIR/.uploaded"
}

read_bucket() {
  until newest=$(rclone lsf --files-only --include "$PREFIX*.json" "$REMOTE" 2>/dev/null | sort | tail -n 1); do
    log WARN "cannot list $REMOTE; trying again"
    sleep 5
  done
  if [ -n "$newest" ]; then
    gtid=$(rclone cat "$REMOTE/$newest" | json_value lastGtid)
    record_uploaded "$(last_seq "$newest")" "$gtid"
    printf '%s %s\n' "$(last_seq "$newest")" "$gtid" >"$ARCHIVE_DIR/.bucket-archived.tmp"
  else
    printf '0 \n' >"$ARCHIVE_DIR/.bucket-archived.tmp"
  fi
  mv -f "$ARCHIVE_DIR/.bucket-archived.tmp" "$ARCHIVE_DIR/.bucket-archived"
  log INFO "the bucket's archive ends at ${newest:-nothing}"
}

# One try per round (rclone's own retries would hold a round for minutes without a word while the
# bucket is away); the loop tries again a second later.
upload() {
  for manifest in "$ARCHIVE_DIR/$PREFIX"*.json; do
    [ -e "$manifest" ] || return 0
    name=$(basename "$manifest" .json)
    rclone copyto --retries 1 --low-level-retries 2 "$ARCHIVE_DIR/$name.binlog" "$REMOTE/$name.binlog" || return 1
    rclone copyto --retries 1 --low-level-retries 2 "$manifest" "$REMOTE/$name.json" || return 1
    record_uploaded "$(last_seq "$name")" "$(json_value lastGtid <"$manifest")"
    rm -f "$ARCHIVE_DIR/$name.binlog" "$manifest"
  done
}

prune() {
  oldest=$(rclone lsf --files-only --include "$NODE_CLUSTER_NAME-2*.json" "$BACKUP_REMOTE" | sort | head -n 1) || return 1
  [ -n "$oldest" ] || return 0
  # (a position holds one GTID per server of the domain after a failover: the highest seq is the domain's)
  keep=$(rclone cat "$BACKUP_REMOTE/$oldest" | json_value gtid | tr ',' '\n' | sed -n "s/^$ARCHIVE_DOMAIN-[0-9]*-//p" | sort -n | tail -n 1)
  [ -n "$keep" ] || return 0
  removed=0
  for manifest in $(rclone lsf --files-only --include "$PREFIX*.json" "$REMOTE"); do
    [ "$(last_seq "$manifest")" -le "$keep" ] || continue
    rclone deletefile "$REMOTE/$manifest"
    rclone deletefile "$REMOTE/${manifest%.json}.binlog" || true
    removed=$((removed + 1))
  done
  [ "$removed" -eq 0 ] || log INFO "retention: removed $removed segments before the oldest kept backup ${oldest%.json} (seq $keep)"
}

main() {
  read_bucket
  round=0
  failing=0
  while true; do
    if upload; then
      [ "$failing" -eq 0 ] || log INFO "the bucket answers again; the outbox is uploaded"
      failing=0
    else
      [ "$failing" -eq 1 ] || log ERROR "uploading to $REMOTE failed; the segments wait in the outbox and go when it answers"
      failing=1
    fi
    round=$((round + 1))
    if [ $((round % 300)) -eq 0 ]; then prune || log WARN "retention failed this time"; fi
    sleep 1
  done
}

# (sourced by the unit tests with BINLOG_UPLOAD_FUNCTIONS_ONLY=1: the functions, no loop)
[ "${BINLOG_UPLOAD_FUNCTIONS_ONLY:-0}" = 1 ] || main
