#!/usr/bin/env bash
# The agent container of a ProxySQL pod. ProxySQL's image has no SQL client, and parts of its
# life cycle are reachable only through its admin interface, which listens on the pod's
# loopback; this container (the database image: bash and the mariadb client) speaks to it.
#
#   proxysql-agent.sh run            the container's command: writes the admin client settings
#                                    (password from the Secret, mode 0600, in-memory), then
#                                    reloads a renewed TLS certificate every time it changes
#   proxysql-agent.sh drain          preStop hook of this container: keeps accepting while the
#                                    endpoint removal spreads, then PROXYSQL PAUSE (no new client
#                                    connections) and waits until no session holds a backend
#                                    connection (a transaction or a statement in flight), at
#                                    most PROXYSQL_DRAIN_SECONDS; then marks the pod drained
#   proxysql-agent.sh wait-drained   preStop hook of the proxysql container (its image has bash):
#                                    waits for that mark, so ProxySQL gets SIGTERM only then
#   proxysql-agent.sh admin SQL      runs SQL on the admin interface (kubectl exec ... -c agent)
#
# Environment (written by the ProxySql construct): PROXYSQL_SECRET_DIR, PROXYSQL_SECRET_NAME,
# PROXYSQL_ADMIN_PASSWORD_KEY, PROXYSQL_ADMIN_PORT, PROXYSQL_AGENT_DIR (an emptyDir both
# containers mount), PROXYSQL_DRAIN_SECONDS, PROXYSQL_ENDPOINT_DELAY_SECONDS, PROXYSQL_TLS_DIR
# (the TLS Secret, when TLS is on) and PROXYSQL_DATA_DIR (ProxySQL's datadir).
set -euo pipefail
# shellcheck disable=SC2034 # read by log.sh
LOG_COMPONENT=proxysql-agent
if [[ -f $(dirname "${BASH_SOURCE[0]}")/log.sh ]]; then
  # shellcheck source-path=SCRIPTDIR source=../common/log.sh
  source "$(dirname "${BASH_SOURCE[0]}")/log.sh"
else
  # shellcheck source-path=SCRIPTDIR source=../common/log.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../common/log.sh"
fi

SECRET_DIR=${PROXYSQL_SECRET_DIR:-/etc/proxysql/credentials}
SECRET_NAME=${PROXYSQL_SECRET_NAME:-galera-credentials}
ADMIN_KEY=${PROXYSQL_ADMIN_PASSWORD_KEY:-proxysql-admin-password}
ADMIN_PORT=${PROXYSQL_ADMIN_PORT:-6032}
AGENT_DIR=${PROXYSQL_AGENT_DIR:-/run/proxysql-agent}
DRAIN_SECONDS=${PROXYSQL_DRAIN_SECONDS:-30}
ENDPOINT_DELAY_SECONDS=${PROXYSQL_ENDPOINT_DELAY_SECONDS:-5}
ADMIN_CNF="$AGENT_DIR/admin.cnf"
DRAINED="$AGENT_DIR/drained"
# A hook's own output is not part of the container's log: hooks log here, and `run` copies it there.
HOOK_LOG="$AGENT_DIR/hooks.log"
TLS_DIR=${PROXYSQL_TLS_DIR:-}
DATA_DIR=${PROXYSQL_DATA_DIR:-/var/lib/proxysql}

# A value for a double-quoted option-file string.
cnf_quote() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

# The client settings for the admin interface; the password never appears on a command line.
write_admin_cnf() {
  local file=$SECRET_DIR/$ADMIN_KEY password
  [[ -r $file ]] || die "Secret '$SECRET_NAME' has no readable key '$ADMIN_KEY' (mounted at $SECRET_DIR)"
  password=$(<"$file")
  umask 077
  printf '[client]\nuser=admin\npassword=%s\nhost=127.0.0.1\nport=%s\nprotocol=TCP\nskip-ssl\n' "$(cnf_quote "$password")" "$ADMIN_PORT" >"$ADMIN_CNF.tmp"
  mv -f "$ADMIN_CNF.tmp" "$ADMIN_CNF"
}

# Runs SQL on ProxySQL's admin interface; rows tab-separated.
admin_sql() {
  [[ -f $ADMIN_CNF ]] || write_admin_cnf
  timeout "${SQL_TIMEOUT:-5}" mariadb --defaults-file="$ADMIN_CNF" -N -B -e "$1"
}

run() {
  write_admin_cnf
  rm -f "$DRAINED"
  : >>"$HOOK_LOG"
  tail -n 0 -F "$HOOK_LOG" >&2 &
  log_info "admin client settings written to $ADMIN_CNF; watching ${TLS_DIR:-no TLS Secret}"
  # a moment for tail to copy what the preStop hook wrote just before this SIGTERM
  trap 'sleep 1; exit 0' TERM INT
  while :; do
    reload_tls_when_renewed
    sleep 5 &
    wait $! || true
  done
}

# A renewed certificate Secret (cert-manager renews in place; the kubelet swaps the mounted
# files): copy it where ProxySQL reads it and reload it for new connections. The first copy is
# the render script's, before ProxySQL starts; until it exists there is nothing to renew.
reload_tls_when_renewed() {
  [[ -n $TLS_DIR && -e $DATA_DIR/proxysql-cert.pem ]] || return 0
  local pair changed=0
  for pair in ca.crt:proxysql-ca.pem tls.crt:proxysql-cert.pem tls.key:proxysql-key.pem; do
    [[ -s $TLS_DIR/${pair%%:*} ]] || return 0
    cmp -s "$TLS_DIR/${pair%%:*}" "$DATA_DIR/${pair#*:}" || changed=1
  done
  ((changed == 1)) || return 0
  for pair in ca.crt:proxysql-ca.pem tls.crt:proxysql-cert.pem tls.key:proxysql-key.pem; do
    install -m 0600 "$TLS_DIR/${pair%%:*}" "$DATA_DIR/${pair#*:}.new" && mv -f "$DATA_DIR/${pair#*:}.new" "$DATA_DIR/${pair#*:}"
  done
  if admin_sql 'PROXYSQL RELOAD TLS' >/dev/null 2>&1; then
    log_info "TLS: the certificate in $TLS_DIR changed; ProxySQL reloaded it (PROXYSQL RELOAD TLS) for new connections"
  else
    log_warn "TLS: the certificate in $TLS_DIR changed, but PROXYSQL RELOAD TLS failed; ProxySQL keeps the previous one, retrying"
    : >"$DATA_DIR/proxysql-ca.pem" # differs from the Secret, so the next round tries again
  fi
}

# Sessions that hold a backend connection: inside a transaction, or a statement in flight.
busy_sessions() {
  admin_sql "SELECT COUNT(*) FROM stats_mysql_processlist WHERE srv_host IS NOT NULL AND srv_host <> ''"
}

drain() {
  local deadline=$((SECONDS + ENDPOINT_DELAY_SECONDS + DRAIN_SECONDS)) busy=''
  exec 2>>"$HOOK_LOG"
  log_info "drain: the pod is being deleted; accepting new clients for ${ENDPOINT_DELAY_SECONDS}s more while its endpoint is removed"
  # Until every node has removed this pod's endpoint, new clients may still be sent here.
  sleep "$ENDPOINT_DELAY_SECONDS"
  if admin_sql 'PROXYSQL PAUSE' >/dev/null; then
    log_info "drain: PROXYSQL PAUSE: no new client connections; waiting up to ${DRAIN_SECONDS}s for the sessions in flight"
    while ((SECONDS < deadline)); do
      busy=$(SQL_TIMEOUT=2 busy_sessions 2>/dev/null) || break
      [[ $busy == 0 ]] && break
      sleep 0.5
    done
    if [[ $busy == 0 ]]; then
      log_info "drain: no session in flight; ProxySQL may stop"
    else
      log_warn "drain: ${busy:-some} session(s) still in flight after ${DRAIN_SECONDS}s (or the admin interface stopped answering); stopping anyway"
    fi
  else
    log_warn "drain: the admin interface does not answer; nothing to drain"
  fi
  : >"$DRAINED"
}

wait_drained() {
  local deadline=$((SECONDS + ENDPOINT_DELAY_SECONDS + DRAIN_SECONDS + 2))
  while [[ ! -e $DRAINED ]] && ((SECONDS < deadline)); do sleep 0.5; done
}

case ${1:-} in
  run) run ;;
  drain) drain ;;
  wait-drained) wait_drained ;;
  admin) admin_sql "${2:?usage: $0 admin SQL}" ;;
  *) echo "usage: $0 run|drain|wait-drained|admin SQL" >&2; exit 2 ;;
esac
