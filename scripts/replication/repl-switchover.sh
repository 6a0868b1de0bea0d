#!/usr/bin/env bash
# Planned switchover: moves the primary role to a named replica without losing an acknowledged
# write. Run it on the current primary:
#
#   kubectl exec <primary> -c mariadb -- bash /opt/mariadb/repl-switchover.sh <target pod>
#
# The primary stops writes (read-only, client sessions ended), the target applies everything up
# to the primary's last GTID and promotes itself, the old primary and the other replicas follow
# it. Exits 0 once the target is the primary; 1 (and the old primary takes writes again) when the
# target did not take over within REPL_SWITCHOVER_SECONDS.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=repl-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=repl-election.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-election.sh"

usage() { die "usage: repl-switchover.sh <target pod> (one of: $(peer_hosts | while read -r h; do pod_of_host "$h"; done | tr '\n' ' '))"; }

check_request() {
  local target=$1 self line
  [[ -n $(host_of_pod "$target") ]] || usage
  [[ $target != "$POD_NAME" ]] || die "$POD_NAME is already the primary"
  self=$(bash "$NODE_CONFIG_DIR/repl-state.sh")
  if [[ $(field "$self" role) != primary || $(field "$self" writable) != 1 ]]; then
    local primary
    primary=$(collect_peer_states | primary_of)
    die "$POD_NAME is not the primary (role '$(field "$self" role)'); ${primary:+run this on $primary}"
  fi
  line=$(query_peer "$(host_of_pod "$target")")
  [[ $(field "$line" role) == replica && $(field "$line" ready) == 1 && $(field "$line" source) == "$POD_NAME" ]] ||
    die "$target is not a ready replica of $POD_NAME: ${line:-no answer}"
}

wait_for_target() {
  local target=$1 deadline=$((SECONDS + ${REPL_SWITCHOVER_SECONDS:-60} + 10))
  while ((SECONDS < deadline)); do
    if [[ $(query_peer "$(host_of_pod "$target")" | primary_of) == "$target" ]]; then
      log_info "switchover done: $target is the primary after ${SECONDS}s"
      return 0
    fi
    [[ -e $SWITCHOVER_FILE ]] || break
    sleep 1
  done
  [[ $(query_peer "$(host_of_pod "$target")" | primary_of) == "$target" ]] && { log_info "switchover done: $target is the primary"; return 0; }
  die "switchover to $target did not complete; see this pod's log (decision: lines)"
}

main() {
  local target=${1:-}
  [[ -n $target ]] || usage
  check_request "$target"
  [[ -e $SWITCHOVER_FILE ]] && die "a switchover is already in progress (to $(cat "$SWITCHOVER_FILE"))"
  printf '%s\n' "$target" >"$SWITCHOVER_FILE"
  log_info "switchover to $target requested; waiting for it"
  wait_for_target "$target"
}

main "$@"
