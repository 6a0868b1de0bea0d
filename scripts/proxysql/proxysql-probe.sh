#!/usr/bin/env bash
# Startup, readiness and liveness probe of a ProxySQL pod.
#
# The ProxySQL image has bash but no mysql client, so the probe speaks just enough of the
# MySQL protocol itself: it connects to the client port on loopback (bash's /dev/tcp) and reads
# the first packet, which ProxySQL sends before any authentication. It passes only when that
# packet is a protocol-10 handshake announcing the configured server version:
#   - a TCP check alone also passes for a hung process, because the kernel completes the TCP
#     handshake for the listen backlog without ProxySQL ever running;
#   - the greeting is written by a ProxySQL worker thread, so it shows the MySQL module is
#     up and serving; the version string shows it runs the rendered configuration;
#   - when ProxySQL is at mysql-max_connections it answers with an ERR packet instead: the
#     pod should stop receiving new clients (readiness fails) but is alive and keeps serving
#     the clients it has (liveness passes), so it is not restarted for being busy.
# Backend health is deliberately not part of it: every ProxySQL pod sees the same Galera
# cluster, so a backend check would take all of them out of the Service together, turning a
# failover that ProxySQL bridges (clients wait up to mysql-connect_timeout_server_max) into
# refused connections. Routing around sick Galera nodes is ProxySQL's job.
#
#   proxysql-probe.sh [startup|readiness|liveness]     (default readiness)
#
# Environment: PROXYSQL_PROBE_HOST (127.0.0.1), PROXYSQL_PROBE_PORT (6033),
# PROXYSQL_PROBE_TIMEOUT (seconds per read, 2), PROXYSQL_SERVER_VERSION (expected; empty = any).
set -uo pipefail
export LC_ALL=C

MODE=${1:-readiness}
case $MODE in
  startup | readiness | liveness) ;;
  *) printf 'proxysql-probe: unknown mode %s (startup, readiness or liveness)\n' "$MODE" >&2; exit 2 ;;
esac

HOST=${PROXYSQL_PROBE_HOST:-127.0.0.1}
PORT=${PROXYSQL_PROBE_PORT:-6033}
TIMEOUT=${PROXYSQL_PROBE_TIMEOUT:-2}
EXPECTED_VERSION=${PROXYSQL_SERVER_VERSION:-}

fail() {
  printf 'proxysql-probe: %s\n' "$*" >&2
  exit 1
}

# Sets CHAR to the next byte from the server and BYTE to its value (0-255).
read_byte() {
  local c status
  IFS= read -r -d '' -n 1 -t "$TIMEOUT" -u 3 c
  status=$?
  if ((status > 128)); then
    fail "no data from $HOST:$PORT within ${TIMEOUT}s (ProxySQL not answering)"
  elif ((status != 0)); then
    fail "$HOST:$PORT closed the connection during the greeting"
  fi
  # With -d '' a NUL byte is the delimiter: read succeeds with an empty value.
  CHAR=$c
  if [[ -z $c ]]; then
    BYTE=0
  else
    printf -v BYTE '%d' "'$c"
  fi
}

# Sets TEXT to the next bytes up to a NUL (consumed) or at most $1 bytes.
read_cstring() {
  local max=$1 n=0
  TEXT=''
  while ((n < max)); do
    read_byte
    ((BYTE == 0)) && return 0
    TEXT+=$CHAR
    n=$((n + 1))
  done
}

{ exec 3<>"/dev/tcp/$HOST/$PORT"; } 2>/dev/null || fail "nothing accepts connections on $HOST:$PORT"

read_byte; length=$BYTE
read_byte; length=$((length + BYTE * 256))
read_byte; length=$((length + BYTE * 65536))
read_byte; sequence=$BYTE
((sequence == 0)) || fail "the first packet from $HOST:$PORT has sequence id $sequence, not 0: not a MySQL server greeting"
((length >= 1)) || fail "the first packet from $HOST:$PORT is empty"

read_byte
case $BYTE in
  10)
    read_cstring $((length - 1 < 255 ? length - 1 : 255))
    version=$TEXT
    ;;
  255)
    read_byte; code=$BYTE
    read_byte; code=$((code + BYTE * 256))
    read_cstring $((length - 3 < 255 ? length - 3 : 255))
    if [[ $MODE == liveness ]]; then
      printf 'proxysql-probe: alive but refusing new clients: error %s %s\n' "$code" "${TEXT#\#?????}" >&2
      exit 0
    fi
    fail "ProxySQL refuses new clients: error $code ${TEXT#\#?????}"
    ;;
  *)
    fail "the first packet from $HOST:$PORT starts with byte $BYTE, not protocol version 10: not a MySQL server greeting"
    ;;
esac
exec 3<&-

if [[ -n $EXPECTED_VERSION && $version != "$EXPECTED_VERSION" ]]; then
  fail "$HOST:$PORT announces server version '$version', expected '$EXPECTED_VERSION' (not the rendered configuration)"
fi
exit 0
