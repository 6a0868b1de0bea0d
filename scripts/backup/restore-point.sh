#!/bin/sh
# Which backup a restore to a point starts from (sourced by restore-fetch.sh, POSIX sh in the
# rclone image, and by restore.sh, bash in the node image, so both choose the same one; never
# run). With RESTORE_POINT_TIME (an RFC 3339 UTC time, or 'latest') or RESTORE_POINT_GTID set
# and RESTORE_BACKUP 'latest', it is the newest backup made before the target: for a time, the
# newest whose manifest was written before it (its position is earlier still); for a GTID, the
# newest whose GTID in the cluster's domain (ARCHIVE_DOMAIN) is before it. Otherwise the newest
# backup, or the one RESTORE_BACKUP names.

# point_value KEY FILE: a string value of a manifest (one key per line).
point_value() {
  sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p" "$2" | head -n 1
}

# point_seq GTID_LIST DOMAIN: the seq of DOMAIN in a GTID list (the highest, when servers of the
# domain have an entry each), 0 when it has none.
point_seq() {
  seq=$(printf '%s\n' "$1" | tr ',' '\n' | sed -n "s/^$2-[0-9]*-//p" | sort -n | tail -n 1)
  printf '%s\n' "${seq:-0}"
}

# choose_backup DIR: the name of the backup to restore (DIR holds the backups' manifests).
choose_backup() {
  if [ "${RESTORE_BACKUP:-latest}" != latest ]; then
    printf '%s\n' "$RESTORE_BACKUP"
    return 0
  fi
  chosen=''
  for manifest in $(find "$1" -maxdepth 1 -name '*.json' | sort); do
    if [ -n "${RESTORE_POINT_GTID:-}" ]; then
      [ "$(point_seq "$(point_value gtid "$manifest")" "${ARCHIVE_DOMAIN:-0}")" -lt "${RESTORE_POINT_GTID##*-}" ] || continue
    elif [ -n "${RESTORE_POINT_TIME:-}" ] && [ "$RESTORE_POINT_TIME" != latest ]; then
      # RFC 3339 UTC times of one format sort as strings
      [ "$(printf '%s\n%s\n' "$(point_value created "$manifest")" "$RESTORE_POINT_TIME" | sort | head -n 1)" != "$RESTORE_POINT_TIME" ] || continue
    fi
    chosen=$(basename "$manifest" .json)
  done
  printf '%s\n' "$chosen"
}
