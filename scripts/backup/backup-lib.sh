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

# The seq of DOMAIN in a GTID list ("0-1-14,1000-1-2"), 0 when the list has none. A binlog state
# (a file's Gtid_list) holds one entry per server that wrote in the domain ("0-1-74,0-2-102" on a
# replica after a failover): the highest seq is the domain's.
seq_of_domain() {
  local gtid seq=0
  for gtid in ${1//,/ }; do
    [[ ${gtid%%-*} == "$2" ]] && ((${gtid##*-} > seq)) && seq=${gtid##*-}
  done
  printf '%s\n' "$seq"
}

# tls_listen PORT COMMAND WHAT: socat listens on PORT with mutual TLS (the client's certificate
# signed by the cluster CA) and runs COMMAND for each connection, until the mounted certificate
# changes (cert-manager renews the Secret in place); then it starts again with the new one.
# Connections in flight keep theirs (forked children). The endpoints' container command.
tls_listen() {
  local port=$1 command=$2 what=$3 pid fingerprint
  trap 'kill "${pid:-}" 2>/dev/null; exit 0' TERM INT
  while true; do
    fingerprint=$(tls_fingerprint)
    [[ -s $NODE_TLS_DIR/tls.crt ]] || die "no certificate in $NODE_TLS_DIR: the endpoint on $port needs TLS (Secret '${NODE_TLS_SECRET_NAME:-?}')"
    socat -d -b "$NODE_STREAM_BLOCK" "OPENSSL-LISTEN:$port,reuseaddr,fork,cert=$NODE_TLS_DIR/tls.crt,key=$NODE_TLS_DIR/tls.key,cafile=$NODE_TLS_DIR/ca.crt,verify=1" \
      "EXEC:$command" &
    pid=$!
    log_info "listening on $port (mutual TLS; $what)"
    while kill -0 "$pid" 2>/dev/null && [[ $(tls_fingerprint) == "$fingerprint" ]]; do
      sleep 5 &
      wait $! || true
    done
    if kill -0 "$pid" 2>/dev/null; then
      log_info "the certificate in $NODE_TLS_DIR changed; restarting the listener with it"
      kill "$pid" 2>/dev/null || true
    else
      log_warn "socat exited; restarting it"
      sleep 1
    fi
    wait "$pid" 2>/dev/null || true
  done
}
