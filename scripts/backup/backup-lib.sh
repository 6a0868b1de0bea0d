#!/usr/bin/env bash
# The shared part of the backup scripts of both topologies (sourced by backup-job.sh,
# backup-endpoint.sh and restore.sh, never run): it sources the topology's own functions,
# backup-<BACKUP_TOPOLOGY>.sh (which sources the topology's node library), and holds the helpers
# the job and the restore both read a backup with.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

: "${BACKUP_TOPOLOGY:?BACKUP_TOPOLOGY is not set (galera or replication)}"
case $BACKUP_TOPOLOGY in
  galera | replication) ;;
  *) echo "BACKUP_TOPOLOGY is '$BACKUP_TOPOLOGY', not galera or replication" >&2; exit 1 ;;
esac
# shellcheck source-path=SCRIPTDIR source=backup-galera.sh
source "$(dirname "${BASH_SOURCE[0]}")/backup-$BACKUP_TOPOLOGY.sh"

json_string() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# A value of a prepared backup's xtrabackup_info ("key = value" lines): info_value DIR KEY.
info_value() {
  sed -n "s/^$2 = //p" "$1/xtrabackup_info" 2>/dev/null | head -n 1
}

# The GTID a backup in DIR ends at: gtid_current_pos while mariadb-backup held its commit lock
# (its binlog info, "file<TAB>position<TAB>gtid", or the same in xtrabackup_info); empty when the
# server had no binlog.
backup_gtid() {
  local gtid
  gtid=$(cat "$1/mariadb_backup_binlog_info" "$1/xtrabackup_binlog_info" 2>/dev/null | head -n 1 | awk -F'\t' '{ print $3 }')
  [[ -n $gtid ]] || gtid=$(info_value "$1" binlog_pos | sed -n "s/.*GTID of the last change '\([^']*\)'.*/\1/p")
  printf '%s\n' "$gtid"
}

# The sha256 of stdin, hex. OpenSSL's, not coreutils' sha256sum: the same digest, but OpenSSL uses
# the CPU's SHA instructions where it has them (about six times faster on the build machine, where
# the digest of a backup had cost as much CPU as its compression).
sha256_hex() {
  openssl dgst -sha256 -r | cut -d' ' -f1
}
