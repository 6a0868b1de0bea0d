#!/usr/bin/env bash
# Init container of a primary/replica pod: checks the credentials Secret and renders the node's
# server configuration (the shared part from the ConfigMap, then this pod's server_id and
# report_host) into the runtime emptyDir. It never touches the data directory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=repl-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-lib.sh"

check_credentials() {
  local key missing=()
  for key in "${SECRET_KEYS[@]}"; do
    [[ -s $REPL_CREDENTIALS_DIR/$key ]] || missing+=("$key")
  done
  if ((${#missing[@]} == ${#SECRET_KEYS[@]})); then
    die "Secret '$REPL_SECRET_NAME' is missing in namespace '${POD_NAMESPACE:-?}' (nothing mounted at $REPL_CREDENTIALS_DIR); create it with: npm run -s new-secret -- $REPL_SECRET_NAME ${POD_NAMESPACE:-<namespace>} | kubectl create -f -"
  elif ((${#missing[@]} > 0)); then
    die "Secret '$REPL_SECRET_NAME' lacks the key(s) ${missing[*]} (or they are empty); every key of ${SECRET_KEYS[*]} is required"
  fi
}

# server_id from the ordinal (1 + ordinal: 0 is not a valid server_id for a primary).
render_config() {
  local tmp="$MY_CNF.tmp" ordinal
  ordinal=$(ordinal_of "$POD_NAME")
  [[ $ordinal =~ ^[0-9]+$ ]] || die "pod name '$POD_NAME' does not end in an ordinal"
  umask 077
  {
    cat "$REPL_CONFIG_DIR/my.cnf"
    printf '\n# Node-specific settings rendered by repl-init.sh\n[mysqld]\n'
    printf 'server_id=%s\n' "$((ordinal + 1))"
    printf 'report_host=%s\n' "$(host_of_pod "$POD_NAME")"
  } >"$tmp"
  mv -f "$tmp" "$MY_CNF"
}

main() {
  check_credentials
  [[ -w $REPL_DATA_DIR ]] || die "data directory $REPL_DATA_DIR is not writable by uid $(id -u)"
  render_config
  log_info "configuration rendered for $POD_NAME (server_id $(($(ordinal_of "$POD_NAME") + 1))); $(peer_count) nodes: $REPL_PEERS"
}

main "$@"
