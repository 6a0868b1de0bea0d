#!/usr/bin/env bash
# The backup endpoint of a database pod of either topology (its "backup" sidecar container). It
# serves one thing: a physical backup of this node, streamed to a client that proves it is the
# backup job.
#
#   backup-endpoint.sh listen   the container's command: socat listens on NODE_BACKUP_PORT with
#                               mutual TLS and runs `serve` for each connection; restarted when
#                               the certificate changes
#   backup-endpoint.sh serve    one connection (run by socat)
#
# Authentication: socat requires a client certificate signed by the cluster CA (verify=1,
# cafile), and `serve` streams only to the common name NODE_BACKUP_CLIENT_CN, which only the
# backup job's certificate carries (the nodes' and ProxySQL's certificates, from the same CA,
# name other things). Everyone else gets one refusal line and nothing of the database.
#
# The answer: one header line, "OK <pod> <mariadb version>" or "ERROR <reason>", then (after OK)
# `mariadb-backup --backup --stream=xbstream --parallel` (with the topology's options:
# --galera-info on Galera), compressed with zstd on every core. The node serves only while the topology allows it
# (endpoint_refusal in backup-<topology>.sh: a Synced Galera node, a ready replica).
# mariadb-backup connects over the socket as the container's own unix_socket account (no password
# involved) and takes BACKUP STAGE locks: commits on this node wait only during BLOCK_COMMIT at the
# end (on Galera, through flow control, the cluster's; on a replica, its SQL thread's). The node
# stays ready throughout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=backup-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
LOG_COMPONENT=backup-endpoint

NODE_BACKUP_PORT=${NODE_BACKUP_PORT:-4445}
NODE_BACKUP_TMP=${NODE_BACKUP_TMP:-/tmp}
# zstd level of the stream: 1, because compression is what a backup waits for on a small node (on
# text-like InnoDB pages level 3 took three times the CPU of level 1 for an output 3 % smaller).
NODE_BACKUP_ZSTD_LEVEL=${NODE_BACKUP_ZSTD_LEVEL:-1}
# The size of the pieces zstd's threads compress at once: 8 MiB instead of level 1's default (a few
# hundred KiB), fewer hand-overs between the threads; the stream of 600 MB of InnoDB data was made
# 10 to 15 % sooner on two cores, its size the same to 0.01 %.
NODE_BACKUP_ZSTD_JOB=${NODE_BACKUP_ZSTD_JOB:-8M}
# Threads that copy the data files at the same time (mariadb-backup --parallel): one per core.
NODE_BACKUP_PARALLEL=${NODE_BACKUP_PARALLEL:-$(nproc)}

listen() {
  : "${NODE_BACKUP_CLIENT_CN:?NODE_BACKUP_CLIENT_CN is not set}"
  tls_listen "$NODE_BACKUP_PORT" "$0 serve" "streams only to the certificate '$NODE_BACKUP_CLIENT_CN'"
}

refuse() {
  log_warn "refused a backup request: $*"
  printf 'ERROR %s\n' "$*"
  exit 0
}

# One connection: stdin and stdout are the TLS stream (socat EXEC).
serve() {
  local client=${SOCAT_OPENSSL_X509_COMMONNAME:-} peer=${SOCAT_PEERADDR:-?} why version tmp rc
  [[ $client == "$NODE_BACKUP_CLIENT_CN" ]] ||
    refuse "client $peer presented the certificate '${client:-none}', not the backup job's ('$NODE_BACKUP_CLIENT_CN')"
  why=$(endpoint_refusal)
  [[ -z $why ]] || refuse "$why"
  why=$(endpoint_catch_up) || refuse "$why"
  version=$(local_sql -e 'SELECT VERSION()' 2>/dev/null) || refuse "$POD_NAME: mariadbd does not answer"
  tmp=$(mktemp -d "$NODE_BACKUP_TMP/backup.XXXXXX")
  log_info "backup requested by $peer ('$client'): streaming"
  printf 'OK %s %s\n' "$POD_NAME" "$version"
  rc=0
  mariadb-backup --defaults-file="$MY_CNF" --user="$(id -un)" --socket="$NODE_SOCKET" \
    --backup "${BACKUP_STREAM_ARGS[@]}" --parallel="$NODE_BACKUP_PARALLEL" --stream=xbstream --target-dir="$tmp" 2>"$tmp/mariadb-backup.log" |
    zstd -q -"$NODE_BACKUP_ZSTD_LEVEL" -T0 -B"$NODE_BACKUP_ZSTD_JOB" || rc=$?
  if ((rc == 0)); then
    log_info "backup streamed to $peer ($(grep -c . "$tmp/mariadb-backup.log") log lines from mariadb-backup)"
  else
    log_error "backup to $peer failed (exit $rc); the client sees a truncated stream and discards it. mariadb-backup said: $(tail -n 5 "$tmp/mariadb-backup.log" | tr '\n' ' ')"
  fi
  rm -rf "$tmp"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    listen) listen ;;
    serve) serve ;;
    *) die "usage: $0 listen|serve" ;;
  esac
fi
