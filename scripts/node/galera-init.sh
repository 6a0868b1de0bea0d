#!/usr/bin/env bash
# Init container of a Galera pod: checks the credentials Secret and renders the node's
# server configuration into the runtime emptyDir. It never touches the data directory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=galera-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/galera-lib.sh"

check_credentials() {
  local key missing=()
  for key in "${SECRET_KEYS[@]}"; do
    [[ -s $GALERA_CREDENTIALS_DIR/$key ]] || missing+=("$key")
  done
  if ((${#missing[@]} == ${#SECRET_KEYS[@]})); then
    die "Secret '$GALERA_SECRET_NAME' is missing in namespace '${POD_NAMESPACE:-?}' (nothing mounted at $GALERA_CREDENTIALS_DIR); create it with: npm run -s new-secret -- $GALERA_SECRET_NAME ${POD_NAMESPACE:-<namespace>} | kubectl create -f -"
  elif ((${#missing[@]} > 0)); then
    die "Secret '$GALERA_SECRET_NAME' lacks the key(s) ${missing[*]} (or they are empty); every key of ${SECRET_KEYS[*]} is required"
  fi
}

# With TLS on, the node's certificate Secret must hold ca.crt, tls.crt and tls.key.
check_tls() {
  [[ ${GALERA_TLS:-off} == off ]] && return 0
  local file missing=()
  for file in ca.crt tls.crt tls.key; do
    [[ -s $GALERA_TLS_DIR/$file ]] || missing+=("$file")
  done
  if ((${#missing[@]} == 3)); then
    die "TLS is on but Secret '${GALERA_TLS_SECRET_NAME:-?}' is missing in namespace '${POD_NAMESPACE:-?}' (nothing mounted at $GALERA_TLS_DIR); create the certificates with: npm run -s new-tls -- ${POD_NAMESPACE:-<namespace>} | kubectl apply -f -   (or name a cert-manager issuer in tls.issuer, or turn TLS off explicitly)"
  elif ((${#missing[@]} > 0)); then
    die "Secret '${GALERA_TLS_SECRET_NAME:-?}' lacks ${missing[*]} (or they are empty); ca.crt, tls.crt and tls.key are required, as cert-manager writes them"
  fi
}

# Escapes a value for a double-quoted option-file string.
cnf_quote() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

render_config() {
  : "${POD_IP:?POD_IP is not set}"
  local tmp="$MY_CNF.tmp"
  umask 077
  {
    cat "$GALERA_CONFIG_DIR/my.cnf"
    printf '\n# Node-specific settings rendered by galera-init.sh\n[mysqld]\n'
    printf 'wsrep_node_name=%s\n' "$POD_NAME"
    printf 'wsrep_node_address=%s\n' "$POD_IP"
    printf 'wsrep_sst_auth=%s\n' "$(cnf_quote "sst:$(secret sst-password)")"
  } >"$tmp"
  mv -f "$tmp" "$MY_CNF"
}

main() {
  check_credentials
  check_tls
  [[ -w $GALERA_DATA_DIR ]] || die "data directory $GALERA_DATA_DIR is not writable by uid $(id -u)"
  render_config
  log_info "configuration rendered for $POD_NAME at ${POD_IP}; $(peer_count) peers: $GALERA_PEERS"
}

main "$@"
