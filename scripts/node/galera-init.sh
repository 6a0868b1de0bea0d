#!/usr/bin/env bash
# Init container of a Galera pod: checks the credentials and TLS Secrets and renders the node's
# server configuration into the runtime emptyDir (init_node in node-lib.sh) with this node's
# Galera identity. It never touches the data directory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=galera-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/galera-lib.sh"

# The node's name and address in the Galera cluster, and the credentials of the SST account.
galera_node_settings() {
  : "${POD_IP:?POD_IP is not set}"
  printf 'wsrep_node_name=%s\n' "$POD_NAME"
  printf 'wsrep_node_address=%s\n' "$POD_IP"
  printf 'wsrep_sst_auth=%s\n' "$(cnf_quote "sst:$(secret sst-password)")"
}

init_node galera-init.sh galera_node_settings
log_info "configuration rendered for $POD_NAME at ${POD_IP}; $(peer_count) peers: $NODE_PEERS"
