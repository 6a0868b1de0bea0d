#!/bin/sh
# The S3 half of the backup job (its "upload" container, the rclone image: POSIX sh, busybox).
# backup-job.sh has left complete backups (a stream and its manifest) in BACKUP_DIR, an
# emptyDir; each goes to the bucket (the stream first, the manifest last, so a manifest in the
# bucket always has its stream; rclone checks each transfer's hash), then the retention runs
# on the bucket. rclone reads the remote "backup" from RCLONE_CONFIG_BACKUP_* variables, the
# keys among them from the Secret (never on a command line).
set -eu
# shellcheck source-path=SCRIPTDIR source=backup-retention.sh
. "$(dirname "$0")/backup-retention.sh"

: "${BACKUP_DIR:?BACKUP_DIR is not set}"
: "${BACKUP_REMOTE:?BACKUP_REMOTE is not set}" # backup:<bucket>/<prefix>
: "${NODE_CLUSTER_NAME:?NODE_CLUSTER_NAME is not set}"
BACKUP_RETAIN_COUNT=${BACKUP_RETAIN_COUNT:-7}
BACKUP_RETAIN_DAYS=${BACKUP_RETAIN_DAYS:-30}

log() {
  printf '%s %s backup-upload %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${POD_NAME:-?}" "$1" "$2" >&2
}

upload() {
  uploaded=0
  for manifest in "$BACKUP_DIR/$NODE_CLUSTER_NAME"-*.json; do
    [ -e "$manifest" ] || continue
    name=$(basename "$manifest" .json)
    rclone copyto "$BACKUP_DIR/$name.xb.zst" "$BACKUP_REMOTE/$name.xb.zst"
    rclone copyto "$manifest" "$BACKUP_REMOTE/$name.json"
    log INFO "uploaded $name to $BACKUP_REMOTE ($(wc -c <"$BACKUP_DIR/$name.xb.zst") bytes)"
    uploaded=$((uploaded + 1))
  done
  [ "$uploaded" -gt 0 ] || { log ERROR "no complete backup in $BACKUP_DIR to upload (the backup container failed?)"; exit 1; }
}

prune() {
  names=$(rclone lsf --files-only --include "$NODE_CLUSTER_NAME-*.json" "$BACKUP_REMOTE" | sed 's/\.json$//')
  removed=0
  for name in $(printf '%s\n' "$names" | expired "$(date -u +%s)" "$BACKUP_RETAIN_COUNT" "$BACKUP_RETAIN_DAYS"); do
    rclone deletefile "$BACKUP_REMOTE/$name.json"
    rclone deletefile "$BACKUP_REMOTE/$name.xb.zst"
    log INFO "retention: removed $name"
    removed=$((removed + 1))
  done
  # streams without a manifest: uploads that failed half-way
  for stream in $(rclone lsf --files-only --include "$NODE_CLUSTER_NAME-*.xb.zst" "$BACKUP_REMOTE"); do
    printf '%s\n' "$names" | grep -qx "${stream%.xb.zst}" && continue
    rclone deletefile "$BACKUP_REMOTE/$stream"
    log INFO "removed $stream, which has no manifest (a failed upload)"
  done
  log INFO "retention: keep the newest $BACKUP_RETAIN_COUNT, none older than $BACKUP_RETAIN_DAYS days; removed $removed"
}

upload
prune
