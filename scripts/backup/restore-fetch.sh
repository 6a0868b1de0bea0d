#!/bin/sh
# Copies the backup to restore from S3 into RESTORE_DIR (the "restore-fetch" init container of
# the database pods of either topology, the rclone image: POSIX sh). Every pod restores, at the
# same time, and only once (see restore.sh; its marker is .<topology>-restored-from): later
# starts fetch nothing. A copy whose sha256 is not its manifest's is refused
# here already (restore.sh checks it again, and a volume's backup there only). rclone reads the remote
# "backup" from RCLONE_CONFIG_BACKUP_* variables, the keys among them from the Secret.
set -eu
# shellcheck source-path=SCRIPTDIR source=restore-point.sh
. "$(dirname "$0")/restore-point.sh"

: "${RESTORE_DIR:?RESTORE_DIR is not set}"
: "${BACKUP_REMOTE:?BACKUP_REMOTE is not set}"
RESTORE_BACKUP=${RESTORE_BACKUP:-latest}
NODE_DATA_DIR=${NODE_DATA_DIR:-/var/lib/mysql}

log() {
  printf '%s %s restore-fetch %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${POD_NAME:-?}" "$1" "$2" >&2
}

for marker in "$NODE_DATA_DIR"/.*-restored-from; do
  if [ -f "$marker" ]; then exit 0; fi
done
name=$RESTORE_BACKUP
if [ "$name" = latest ]; then
  # every backup's manifest (small), and the choice restore.sh makes too (restore-point.sh)
  rclone copy --max-depth 1 --include '*.json' "$BACKUP_REMOTE" "$RESTORE_DIR" || { log ERROR "cannot list $BACKUP_REMOTE; nothing was changed"; exit 1; }
  name=$(choose_backup "$RESTORE_DIR")
  [ -n "$name" ] || { log ERROR "no backup (no manifest *.json) in $BACKUP_REMOTE${RESTORE_POINT_TIME:+ made before $RESTORE_POINT_TIME}${RESTORE_POINT_GTID:+ before GTID $RESTORE_POINT_GTID}; nothing was changed"; exit 1; }
  if [ -n "${RESTORE_POINT_TIME:-}${RESTORE_POINT_GTID:-}" ]; then
    log INFO "the newest backup before the target in $BACKUP_REMOTE is $name"
  else
    log INFO "latest backup in $BACKUP_REMOTE is $name"
  fi
fi
if [ -n "${RESTORE_POINT_TIME:-}${RESTORE_POINT_GTID:-}" ]; then
  # the archived binlogs (the retention keeps those the kept backups need); restore.sh checks them
  rclone copy "$BACKUP_REMOTE/binlogs" "$RESTORE_DIR/binlogs" || { log ERROR "cannot copy $BACKUP_REMOTE/binlogs; nothing was changed"; exit 1; }
  log INFO "copied the archived binlogs ($(find "$RESTORE_DIR/binlogs" -name '*.binlog' | wc -l) segments)"
fi
rclone copyto "$BACKUP_REMOTE/$name.json" "$RESTORE_DIR/$name.json" || { log ERROR "backup $name: no manifest $BACKUP_REMOTE/$name.json; nothing was changed"; exit 1; }
rclone copyto "$BACKUP_REMOTE/$name.xb.zst" "$RESTORE_DIR/$name.xb.zst" || { log ERROR "backup $name: no stream $BACKUP_REMOTE/$name.xb.zst; nothing was changed"; exit 1; }
# The copy must match its manifest before the restore container sees it. A copy that does not is
# removed and this container fails: Kubernetes runs it again (a failed init container restarts,
# the ones that succeeded do not), so a backup put right in the bucket is fetched anew.
want=$(sed -n 's/^  "sha256": "\([0-9a-f]*\)",\{0,1\}$/\1/p' "$RESTORE_DIR/$name.json")
sum=$(sha256sum "$RESTORE_DIR/$name.xb.zst" | cut -d' ' -f1)
if [ "$sum" != "$want" ]; then
  rm -f "$RESTORE_DIR/$name.xb.zst" "$RESTORE_DIR/$name.json"
  log ERROR "restore: backup $name is corrupt: sha256 $sum, the manifest says ${want:-nothing}; nothing was changed"
  exit 1
fi
log INFO "copied backup $name from $BACKUP_REMOTE ($(wc -c <"$RESTORE_DIR/$name.xb.zst") bytes, sha256 as its manifest says)"
