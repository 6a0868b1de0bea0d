#!/bin/sh
# Retention of backups by name (sourced, never run): POSIX sh, because the S3 upload runs in the
# rclone image (busybox sh), the volume destination in the MariaDB image (bash). Backup names end
# in their UTC time, <cluster>-YYYYmmddTHHMMSSZ, so they sort by age.

# Epoch seconds of a backup name's time; fails for other names.
name_epoch() {
  t=${1##*-}
  case $t in
    [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z) ;;
    *) return 1 ;;
  esac
  date -u -d "$(echo "$t" | sed 's/^\(....\)\(..\)\(..\)T\(..\)\(..\)\(..\)Z$/\1-\2-\3 \4:\5:\6/')" +%s
}

# expired NOW COUNT DAYS < names (one per line, any order): prints the names the retention
# removes. A backup goes when it is not among the newest COUNT or is older than DAYS days; the
# newest one always stays, whatever its age.
expired() {
  now=$1 count=$2 days=$3 i=0
  sort -r | while IFS= read -r name; do
    [ -n "$name" ] || continue
    epoch=$(name_epoch "$name") || continue
    i=$((i + 1))
    [ "$i" -eq 1 ] && continue
    if [ "$i" -gt "$count" ] || [ $((now - epoch)) -gt $((days * 86400)) ]; then echo "$name"; fi
  done
}
