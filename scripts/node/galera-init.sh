#!/usr/bin/env bash
# Init container of a Galera pod: checks the credentials and TLS Secrets and renders the node's
# server configuration into the runtime emptyDir (init_node in node-lib.sh) with this node's
# Galera identity. It never touches the data directory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=galera-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/galera-lib.sh"

# The node's name and address in the Galera cluster, the credentials of the SST account, and a
# GTID domain of its own for a write Galera does not replicate (the cluster's replicated
# transactions are in wsrep_gtid_domain_id, the same on every node).
galera_node_settings() {
  : "${POD_IP:?POD_IP is not set}"
  printf 'wsrep_node_name=%s\n' "$POD_NAME"
  printf 'gtid_domain_id=%s\n' "$((1000 + $(ordinal_of "$POD_NAME")))"
  printf 'wsrep_node_address=%s\n' "$POD_IP"
  printf 'wsrep_sst_auth=%s\n' "$(cnf_quote "sst:$(secret sst-password)")"
}

init_node galera-init.sh galera_node_settings
log_info "configuration rendered for $POD_NAME at ${POD_IP}; $(peer_count) peers: $NODE_PEERS"
