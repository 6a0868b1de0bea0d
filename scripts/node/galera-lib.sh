#!/usr/bin/env bash
# The Galera node scripts' own library (sourced, never run), on top of node-lib.sh (scripts/common):
# the Galera settings, the files on the volume, grastate.dat, the wsrep status, and the keys of
# the Galera state line. Every setting comes from the pod environment the GaleraCluster construct writes.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

LOG_COMPONENT=galera
# node-lib.sh sits next to this file in the pod (one ConfigMap directory), in ../common in the repository.
NODE_LIB_DIR=${BASH_SOURCE[0]%/*}
[[ -f $NODE_LIB_DIR/node-lib.sh ]] || NODE_LIB_DIR+=/../common
# shellcheck source-path=SCRIPTDIR source=../common/node-lib.sh
source "$NODE_LIB_DIR/node-lib.sh"
# shellcheck source-path=SCRIPTDIR source=../common/source.sh
source "$NODE_LIB_DIR/source.sh"

SECRET_KEYS+=(sst-password)
GRASTATE="$NODE_DATA_DIR/grastate.dat"
# The name volumes initialized by earlier versions carry too.
INIT_INCOMPLETE_FILE="$NODE_DATA_DIR/.galera-init-incomplete"
# Written by a human (kubectl exec ... touch) to force this node to bootstrap; consumed once.
FORCE_BOOTSTRAP_FILE="$NODE_DATA_DIR/galera-force-bootstrap"
# uuid:seqno a human forced a bootstrap from; nodes beyond it in that cluster hold a diverged history.
FORCED_FROM_FILE="$NODE_DATA_DIR/galera-forced-from"
# After a restore to a point: the last replayed GTID seq (restore.sh, after_replay). The node that
# bootstraps the restored cluster makes its first transaction carry the next seq (GTID_SEED_TABLE,
# galera-start.sh), so the cluster's GTIDs go on from the replayed ones; no node is ready before.
GTID_SEED_FILE="$NODE_DATA_DIR/galera-gtid-seed"
GTID_SEED_TABLE=mysql.galera_gtid_seed
# The size of the last Primary component this node was in (the election's membership during a
# scale rollout); on the volume, so it outlives a crash.
VIEW_FILE="$NODE_DATA_DIR/galera-last-view"
# Present while this node leaves on SIGTERM: its leaving= flag (leave_turn in galera-election.sh).
# In the pod's runtime emptyDir; galera-start.sh removes it when the container starts.
LEAVING_FILE="$NODE_RUNTIME_DIR/leaving"
# Present while this node's connection to the external source (source.sh) runs: it is the one
# node that replicates from the source (follows= on the state port). In the pod's runtime
# emptyDir; galera-start.sh removes it when it starts mariadbd (skip_slave_start: the connection
# never survives a restart).
FOLLOW_FILE="$NODE_RUNTIME_DIR/following"
ZERO_UUID=00000000-0000-0000-0000-000000000000

# Prints "name value" lines of the wsrep status variables the scripts look at.
wsrep_status() {
  local_sql -e "SET SESSION wsrep_sync_wait=0; SHOW GLOBAL STATUS WHERE Variable_name IN
    ('wsrep_cluster_status','wsrep_local_state','wsrep_ready','wsrep_cluster_state_uuid',
     'wsrep_last_committed','wsrep_cluster_size','wsrep_local_state_comment')"
}

# Parses grastate.dat into GRA_UUID, GRA_SEQNO and GRA_SAFE (absent file: zero uuid).
read_grastate() {
  GRA_UUID=$ZERO_UUID GRA_SEQNO=-1 GRA_SAFE=0
  [[ -f $GRASTATE ]] || return 0
  local key value
  while IFS=: read -r key value; do
    value=${value// /}
    case $key in
      uuid) GRA_UUID=$value ;;
      seqno) GRA_SEQNO=$value ;;
      safe_to_bootstrap) GRA_SAFE=$value ;;
    esac
  done <"$GRASTATE"
}

set_safe_to_bootstrap() {
  [[ -f $GRASTATE ]] || return 0
  sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$GRASTATE"
}

# True when the data directory holds no usable database: none at all, a state transfer that
# never finished (the SST scripts create sst_in_progress and remove it when done), or a first
# initialization that never finished.
data_is_empty() {
  [[ ! -d $NODE_DATA_DIR/mysql || -e $NODE_DATA_DIR/sst_in_progress || -e $INIT_INCOMPLETE_FILE ]]
}

# --- the state line (specified in docs/galera.md; framing and parsing in node-lib.sh) ----------
#   v1 name=<pod> phase=<phase> role=<role> uuid=<uuid> seqno=<n> safe=<0|1> empty=<0|1>
#      primary=<0|1> local_state=<n> fresh=<0|1> forced=<uuid:seqno or empty> sst=<tls|plain>
#      donates=<stream or empty> view=<n> leaving=<0|1> follows=<0|1> peers=<n>
STATE_LINE_KEYS=(phase role uuid seqno safe empty primary local_state fresh forced sst donates view leaving follows)
STATE_LINE_DEFAULTS=galera_state_defaults
declare -gA STATE_VALUE_PATTERNS=(
  [phase]='^(waiting|refused|starting|running|unknown|restoring)$'
  [role]='^(bootstrap|join)?$'
  [uuid]='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  [seqno]='^-?[0-9]{1,19}$'
  [safe]='^[01]$' [empty]='^[01]$' [primary]='^[01]$' [fresh]='^[01]$' [leaving]='^[01]$' [follows]='^[01]?$'
  [local_state]='^[0-9]{1,2}$'
  [forced]='^([0-9a-f-]{36}:-?[0-9]{1,19})?$'
  [sst]='^(tls|plain)?$'
  [donates]='^(stream)?$'
  [view]='^[0-9]{1,3}$' [peers]='^[0-9]{1,3}$'
)

galera_state_defaults() {
  local sst=plain view leaving=0 follows=0
  [[ $NODE_TLS == on ]] && sst=tls
  read_last_view view
  [[ -e $LEAVING_FILE ]] && leaving=1
  [[ -e $FOLLOW_FILE ]] && follows=1
  STATE_DEFAULTS=(phase=unknown role= "uuid=$ZERO_UUID" seqno=-1 safe=0 empty=0 primary=0 local_state=0 fresh=0 forced=
    "sst=$sst" donates= "view=$view" "leaving=$leaving" "follows=$follows")
}

# How this node's configuration sends and receives state transfers: tls (NODE_TLS=on: the [sst]
# section verifies the peer by the CA) or plain (TLS off, or transitional).
own_sst_mode() {
  if [[ $NODE_TLS == on ]]; then echo tls; else echo plain; fi
}

# The size of the last Primary component this node was in; 0 when unknown.
last_view() {
  local size
  read_last_view size
  printf '%s\n' "$size"
}

# read_last_view VAR: last_view into the variable VAR (no process).
read_last_view() {
  local -n _view_var=$1
  read_line "$1" "$VIEW_FILE"
  [[ $_view_var =~ ^[0-9]{1,3}$ ]] || _view_var=0
}

# Records the size of the Primary component this node is in (when it changed).
remember_view() {
  local last
  read_last_view last
  [[ $1 =~ ^[0-9]{1,3}$ && $1 != "$last" ]] || return 0
  printf '%s\n' "$1" >"$VIEW_FILE.tmp" && mv -f "$VIEW_FILE.tmp" "$VIEW_FILE"
}
# 1 while this node leaves on SIGTERM (LEAVING_FILE), else 0.
leaving_flag() {
  if [[ -e $LEAVING_FILE ]]; then echo 1; else echo 0; fi
}

# 1 while this node replicates from the external source (FOLLOW_FILE), else 0.
follows_flag() {
  if [[ -e $FOLLOW_FILE ]]; then echo 1; else echo 0; fi
}

# The names of the nodes whose state line (on stdin) says they replicate from the source, one per line.
following_nodes() {
  awk '/ follows=1 / { for (i = 1; i <= NF; i++) if ($i ~ /^name=/) print substr($i, 6) }'
}
