#!/usr/bin/env bash
# Cloning a node from a peer: the serving side (a running, ready node streams a physical backup
# of itself) and the receiving side (a node with an empty data directory extracts and prepares
# it, and notes the GTID position the copy ends at).
#
#   repl-clone.sh listen        socat on REPL_CLONE_PORT, `serve` for each connection
#   repl-clone.sh serve         one connection (run by socat)
#   repl-clone.sh receive HOST  clones from HOST into the empty data directory
#
# The request is one line, "CLONE <pod> <token>", where the token is a SHA-256 of the
# replication password and the pod's name: a pod that cannot read the Secret gets nothing (the
# NetworkPolicy already keeps the port to the pods of the StatefulSet). The answer is one line,
# "OK <pod>" or "ERROR <reason>", then (after OK) `mariadb-backup --backup --stream=xbstream`.
# mariadb-backup connects over the socket as the container's unix_socket account.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=repl-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-lib.sh"
LOG_COMPONENT=clone

clone_token() {
  printf '%s:%s' "$(secret replication-password)" "$1" | sha256sum | cut -d' ' -f1
}

listen() {
  exec socat "TCP-LISTEN:$REPL_CLONE_PORT,reuseaddr,fork" EXEC:"bash $0 serve",nofork
}

refuse() {
  log_warn "refused a clone request: $*"
  printf 'ERROR %s\n' "$*"
  exit 0
}

# Serves only from a node that is ready (a writable primary, or a replica with both threads
# running and its lag under the bound): a clone never copies a broken or lagging node.
serve() {
  local request word pod token line tmp rc=0
  IFS= read -r -t 10 request || refuse "no request line from ${SOCAT_PEERADDR:-?}"
  read -r word pod token <<<"$request"
  [[ $word == CLONE && -n ${pod:-} && ${token:-} == "$(clone_token "$pod")" ]] ||
    refuse "bad request from ${SOCAT_PEERADDR:-?} (not 'CLONE <pod> <token>' with the token of the replication password)"
  line=$(bash "$(dirname "$0")/repl-state.sh")
  [[ $(field "$line" ready) == 1 ]] || refuse "$POD_NAME is not ready to be cloned from ($line)"
  tmp=$(mktemp -d /tmp/clone.XXXXXX)
  log_info "clone requested by $pod (${SOCAT_PEERADDR:-?}): streaming a backup of $POD_NAME at $(field "$line" gtid)"
  printf 'OK %s\n' "$POD_NAME"
  mariadb-backup --defaults-file="$MY_CNF" --user="$(id -un)" --socket="$NODE_SOCKET" \
    --backup --stream=xbstream --target-dir="$tmp" 2>"$tmp/mariadb-backup.log" || rc=$?
  if ((rc == 0)); then
    log_info "clone streamed to $pod"
  else
    log_error "clone to $pod failed (exit $rc): $(tail -n 3 "$tmp/mariadb-backup.log" | tr '\n' ' ')"
  fi
  rm -rf "$tmp"
}

# The GTID a prepared copy ends at (mariadb-backup's binlog info: "file<TAB>position<TAB>gtid").
backup_gtid() {
  local info
  info=$(cat "$1/mariadb_backup_binlog_info" "$1/xtrabackup_binlog_info" 2>/dev/null | head -n 1)
  awk -F'\t' '{ print $3 }' <<<"$info"
}

# Receives a clone from HOST into NODE_DATA_DIR (which holds no dataset), prepares it, and
# writes the GTID it ends at into the data marker. Any failure leaves no marker: the next
# attempt starts from an empty directory again.
receive() {
  local host=$1 staging="$NODE_DATA_DIR/.clone" header gtid
  rm -rf "$staging"
  find "$NODE_DATA_DIR" -mindepth 1 -maxdepth 1 ! -name 'lost+found' -exec rm -rf {} +
  mkdir -p "$staging"
  log_info "cloning from $(pod_of_host "$host")"
  {
    printf 'CLONE %s %s\n' "$POD_NAME" "$(clone_token "$POD_NAME")" |
      socat -t 86400 - "TCP:$host:$REPL_CLONE_PORT,connect-timeout=5" |
      {
        IFS= read -r header || header=''
        [[ $header == OK* ]] || { log_error "clone from $(pod_of_host "$host") refused: ${header:-no answer}"; exit 1; }
        mbstream -x -C "$staging"
      }
  } || return 1
  [[ -f $staging/xtrabackup_checkpoints ]] || { log_error "clone from $(pod_of_host "$host") is incomplete (no xtrabackup_checkpoints)"; return 1; }
  mariadb-backup --prepare --target-dir="$staging" 2>"$NODE_RUNTIME_DIR/prepare.log" ||
    { log_error "preparing the clone failed: $(tail -n 3 "$NODE_RUNTIME_DIR/prepare.log" | tr '\n' ' ')"; return 1; }
  gtid=$(backup_gtid "$staging")
  find "$staging" -mindepth 1 -maxdepth 1 -exec mv -t "$NODE_DATA_DIR" {} +
  rmdir "$staging"
  printf 'cloned %s\n' "$gtid" >"$DATA_MARKER"
  log_info "cloned from $(pod_of_host "$host"), prepared; the copy ends at GTID ${gtid:-(none)}"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    listen) listen ;;
    serve) serve ;;
    receive) receive "$2" ;;
    *) die "usage: $0 listen|serve|receive HOST" ;;
  esac
fi
