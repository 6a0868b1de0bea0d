#!/usr/bin/env bash
# Init container of a primary/replica pod: checks the credentials Secret and renders the node's
# server configuration into the runtime emptyDir (init_node in node-lib.sh): the shared part
# from the ConfigMap, then this pod's server_id and report_host. It never touches the data directory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=repl-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/repl-lib.sh"

# server_id from the ordinal (1 + ordinal: 0 is not a valid server_id for a primary; above 1000 x
# the GTID domain, server_id_base), and the name the primary lists this replica under.
replication_node_settings() {
  local ordinal
  ordinal=$(ordinal_of "$POD_NAME")
  [[ $ordinal =~ ^[0-9]+$ ]] || die "pod name '$POD_NAME' does not end in an ordinal"
  printf 'server_id=%s\n' "$(server_id)"
  printf 'report_host=%s\n' "$(host_of_pod "$POD_NAME")"
}

server_id() { echo $(($(server_id_base) + $(ordinal_of "$POD_NAME") + 1)); }

init_node repl-init.sh replication_node_settings
log_info "configuration rendered for $POD_NAME (server_id $(server_id), GTID domain $NODE_GTID_DOMAIN); $(peer_count) nodes: $NODE_PEERS"
