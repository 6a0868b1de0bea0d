#!/usr/bin/env bash
# Logging of every shipped script (sourced, never run): one line per event on stderr,
#   <UTC time> <pod> <component> <LEVEL>: <message>
# so `kubectl logs` shows what happened, and `grep ' ERROR: '` or `grep 'decision:'` finds it.
# The sourcing script sets LOG_COMPONENT (galera, proxysql-render, ...).
# shellcheck disable=SC2034  # LOG_COMPONENT is set by the scripts that source this file

LOG_COMPONENT=${LOG_COMPONENT:-${0##*/}}

# log_at LEVEL message...
log_at() {
  local level=$1 now
  shift
  # printf's own clock, not date(1): the watch loops log from inside per-second rounds
  TZ=UTC printf -v now '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  printf '%s %s %s %s: %s\n' "$now" "${POD_NAME:-${HOSTNAME:-?}}" "$LOG_COMPONENT" "$level" "$*" >&2
}

log_info() { log_at INFO "$@"; }
log_warn() { log_at WARN "$@"; }
log_error() { log_at ERROR "$@"; }

# Logs the message as FATAL and exits 1.
die() {
  log_at FATAL "$@"
  exit 1
}
