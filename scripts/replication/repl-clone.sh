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
# With TLS on (NODE_TLS=on) the connection is socat OPENSSL with the node certificate on both
# ends, each verifying the other's by the cluster CA and by name (as Galera's state transfers,
# galera-sst.sh): the receiver expects the source's pod name, the source the cluster's Service
# name, which only node certificates carry. TLS off or transitional: plain socat.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=repl-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-lib.sh"
LOG_COMPONENT=clone

clone_token() {
  printf '%s:%s' "$(secret replication-password)" "$1" | sha256sum | cut -d' ' -f1
}

# Whether clones travel with TLS: only with TLS fully on (transitional: old pods speak plain text).
clone_tls() { [[ $NODE_TLS == on ]]; }

# The listening side: the node certificate; the receiver's verified by the CA and the cluster's name.
clone_listen_address() {
  if clone_tls; then
    printf 'OPENSSL-LISTEN:%s,reuseaddr,fork,cert=%s,key=%s,cafile=%s,verify=1,commonname=%s' \
      "$REPL_CLONE_PORT" "$NODE_TLS_DIR/tls.crt" "$NODE_TLS_DIR/tls.key" "$NODE_TLS_DIR/ca.crt" "$(headless_service_name)"
  else
    printf 'TCP-LISTEN:%s,reuseaddr,fork' "$REPL_CLONE_PORT"
  fi
}

# The receiving side: the node certificate; the source's verified by the CA and its pod name.
clone_connect_address() {
  local host=$1
  if clone_tls; then
    printf 'OPENSSL:%s:%s,cert=%s,key=%s,cafile=%s,verify=1,commonname=%s,connect-timeout=5' \
      "$host" "$REPL_CLONE_PORT" "$NODE_TLS_DIR/tls.crt" "$NODE_TLS_DIR/tls.key" "$NODE_TLS_DIR/ca.crt" "$host"
  else
    printf 'TCP:%s:%s,connect-timeout=5' "$host" "$REPL_CLONE_PORT"
  fi
}

# Runs the listener until the mounted certificate changes (cert-manager renews the Secret in
# place; socat reads it only when it starts), then starts it again with the new one; clones in
# flight keep their connection (socat's forked child). -t: the receiver's end of the request
# closes its half of the connection; the stream back may take long.
listen() {
  local pid='' fingerprint
  trap 'kill "${pid:-}" 2>/dev/null; exit 0' TERM INT
  while true; do
    fingerprint=$(tls_fingerprint)
    socat -b "$NODE_STREAM_BLOCK" -t 86400 "$(clone_listen_address)" EXEC:"bash $0 serve" &
    pid=$!
    log_info "listening on $REPL_CLONE_PORT $(clone_tls && echo "with TLS, receivers verified by the CA as $(headless_service_name)" || echo 'in plain text')"
    while kill -0 "$pid" 2>/dev/null && { ! clone_tls || [[ $(tls_fingerprint) == "$fingerprint" ]]; }; do
      sleep 1 &
      wait $! || true
    done
    if kill -0 "$pid" 2>/dev/null; then
      log_info "the certificate in $NODE_TLS_DIR changed; restarting the clone listener with it"
      kill "$pid" 2>/dev/null || true
    else
      log_warn "the clone listener (socat) exited; restarting it"
      sleep 1
    fi
    wait "$pid" 2>/dev/null || true
  done
}

refuse() {
  log_warn "refused a clone request: $*"
  printf 'ERROR %s\n' "$*"
  exit 0
}

# A primary with noReplicaAck block and no replica connected (every replica gone or cloning at
# once) keeps each commit waiting for an acknowledgement only a replica can give, and the waiting
# commit holds the backup lock's commit stage: the copy's BACKUP STAGE would wait for it, and the
# replica that could acknowledge it waits for the copy, for good. While the copy waits for that
# lock and no replica is connected, the client sessions are ended (kill_client_sessions: no
# commit is acknowledged by it; no commit could be acknowledged anyway). The transactions are in
# the primary's binlog and in the copy, as any commit whose client lost its connection. Runs
# until killed; writes only to the log.
release_unacknowledgeable_commits() {
  local waiting
  while sleep 1; do
    waiting=$(local_sql -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST w
      WHERE w.STATE = 'Waiting for semi-sync ACK from slave'
        AND EXISTS (SELECT 1 FROM information_schema.PROCESSLIST b WHERE b.STATE = 'Waiting for backup lock' AND b.INFO LIKE 'BACKUP STAGE%')
        AND (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_CLIENTS') = 0" \
      2>/dev/null) || continue
    ((${waiting:-0} > 0)) || continue
    log_warn "$waiting commit(s) wait for a replica's acknowledgement while no replica is connected, and block the clone's backup lock: ending the client sessions (their clients get an error, not an acknowledgement)"
    kill_client_sessions
  done
}

# Serves only from a node that is ready (a writable primary, or a replica with both threads
# running and its lag under the bound): a clone never copies a broken or lagging node.
serve() {
  local request word pod token line tmp releaser rc=0
  IFS= read -r -t 10 request || refuse "no request line from ${SOCAT_PEERADDR:-?}"
  read -r word pod token <<<"$request"
  [[ $word == CLONE && -n ${pod:-} && ${token:-} == "$(clone_token "$pod")" ]] ||
    refuse "bad request from ${SOCAT_PEERADDR:-?} (not 'CLONE <pod> <token>' with the token of the replication password)"
  line=$(bash "$(dirname "$0")/repl-state.sh")
  [[ $(field "$line" ready) == 1 ]] || refuse "$POD_NAME is not ready to be cloned from ($line)"
  tmp=$(mktemp -d /tmp/clone.XXXXXX)
  log_info "clone requested by $pod (${SOCAT_PEERADDR:-?}${SOCAT_OPENSSL_X509_COMMONNAME:+, TLS, certificate $SOCAT_OPENSSL_X509_COMMONNAME}): streaming a backup of $POD_NAME at $(field "$line" gtid)"
  printf 'OK %s\n' "$POD_NAME"
  release_unacknowledgeable_commits >/dev/null &
  releaser=$!
  mariadb-backup --defaults-file="$MY_CNF" --user="$(id -un)" --socket="$NODE_SOCKET" \
    --backup --stream=xbstream --target-dir="$tmp" 2>"$tmp/mariadb-backup.log" || rc=$?
  kill "$releaser" 2>/dev/null || true
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
  log_info "cloning from $(pod_of_host "$host") $(clone_tls && echo "with TLS, the source verified by the CA as $host" || echo 'in plain text')"
  {
    printf 'CLONE %s %s\n' "$POD_NAME" "$(clone_token "$POD_NAME")" |
      socat -d -d -b "$NODE_STREAM_BLOCK" -t 86400 - "$(clone_connect_address "$host")" 2> >(relay_socat_log) |
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
