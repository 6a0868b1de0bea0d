#!/usr/bin/env bash
# Shared functions of the Galera node scripts (sourced, never run).
# Every setting comes from the pod environment that the GaleraCluster construct writes.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

# log.sh sits next to this file in the pod (one ConfigMap directory), in ../common in the repository.
LOG_COMPONENT=galera
if [[ -f $(dirname "${BASH_SOURCE[0]}")/log.sh ]]; then
  # shellcheck source-path=SCRIPTDIR source=../common/log.sh
  source "$(dirname "${BASH_SOURCE[0]}")/log.sh"
else
  # shellcheck source-path=SCRIPTDIR source=../common/log.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../common/log.sh"
fi

: "${POD_NAME:?POD_NAME is not set}"
: "${GALERA_PEERS:?GALERA_PEERS is not set}"
GALERA_CONFIG_DIR=${GALERA_CONFIG_DIR:-/opt/galera}
GALERA_RUNTIME_DIR=${GALERA_RUNTIME_DIR:-/run/galera}
GALERA_DATA_DIR=${GALERA_DATA_DIR:-/var/lib/mysql}
GALERA_CREDENTIALS_DIR=${GALERA_CREDENTIALS_DIR:-/etc/galera/credentials}
GALERA_STATE_PORT=${GALERA_STATE_PORT:-4569}
GALERA_SECRET_NAME=${GALERA_SECRET_NAME:-galera-credentials}
GALERA_SOCKET=${GALERA_SOCKET:-/run/mysqld/mysqld.sock}
GALERA_POLL_SECONDS=${GALERA_POLL_SECONDS:-1}
# A waiting node repeats why it waits at this interval (and whenever the reason changes).
GALERA_WAIT_LOG_SECONDS=${GALERA_WAIT_LOG_SECONDS:-30}

MY_CNF="$GALERA_RUNTIME_DIR/my.cnf"
STATE_FILE="$GALERA_RUNTIME_DIR/state"
HEARTBEAT_FILE="$GALERA_RUNTIME_DIR/heartbeat"
GRASTATE="$GALERA_DATA_DIR/grastate.dat"
# Written by a human (kubectl exec ... touch) to force this node to bootstrap; consumed once.
FORCE_BOOTSTRAP_FILE="$GALERA_DATA_DIR/galera-force-bootstrap"
# uuid:seqno a human forced a bootstrap from; nodes beyond it in that cluster hold a diverged history.
FORCED_FROM_FILE="$GALERA_DATA_DIR/galera-forced-from"
# The size of the last Primary component this node was in (the election's membership during a
# scale rollout); on the volume, so it outlives a crash.
VIEW_FILE="$GALERA_DATA_DIR/galera-last-view"
ZERO_UUID=00000000-0000-0000-0000-000000000000
SECRET_KEYS=(root-password app-password sst-password monitor-password)
# The metrics exporter's account (GALERA_EXPORTER_USER is set when monitoring is on).
[[ -z ${GALERA_EXPORTER_USER:-} ]] || SECRET_KEYS+=(exporter-password)

# The ordinal of a StatefulSet pod name (galera-2 -> 2).
ordinal_of() {
  printf '%s\n' "${1##*-}"
}

# The peer DNS names, one per line, ordinal 0 first.
peer_hosts() {
  tr ',' '\n' <<<"$GALERA_PEERS"
}

peer_count() {
  peer_hosts | grep -c .
}

# Pod name of a peer DNS name (galera-1.galera.ns.svc.cluster.local -> galera-1).
pod_of_host() {
  printf '%s\n' "${1%%.*}"
}

# Reads a key of the mounted credentials Secret.
secret() {
  local file="$GALERA_CREDENTIALS_DIR/$1"
  [[ -r $file ]] || die "Secret '$GALERA_SECRET_NAME' has no readable key '$1' (mounted at $GALERA_CREDENTIALS_DIR)"
  local value
  value=$(<"$file")
  printf '%s' "$value"
}

# Escapes a value for a single-quoted SQL string literal.
sql_quote() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\\\'}"
}

# Runs SQL on the local server over the socket as the unix_socket account of the container user.
local_sql() {
  timeout "${SQL_TIMEOUT:-5}" mariadb --no-defaults --protocol=socket --socket="$GALERA_SOCKET" \
    -u "$(id -un)" --connect-timeout=3 -N -B "$@"
}

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
  [[ ! -d $GALERA_DATA_DIR/mysql || -e $GALERA_DATA_DIR/sst_in_progress || -e $GALERA_DATA_DIR/.galera-init-incomplete ]]
}

# --- the state line (specified in docs/galera.md) ---------------------------------------
# Every node serves one line on the state port; the election reads its peers' lines:
#   v1 name=<pod> phase=<phase> role=<role> uuid=<uuid> seqno=<n> safe=<0|1> empty=<0|1>
#      primary=<0|1> local_state=<n> fresh=<0|1> forced=<uuid:seqno or empty> sst=<tls|plain>
#      donates=<stream or empty> view=<n> peers=<n>
# state_line formats it (every key, always in this order), field and valid_state_line parse it.
STATE_LINE_KEYS=(phase role uuid seqno safe empty primary local_state fresh forced sst donates view)

# How this node's configuration sends and receives state transfers: tls (GALERA_TLS=on: the [sst]
# section verifies the peer by the CA) or plain (TLS off, or transitional).
own_sst_mode() {
  if [[ ${GALERA_TLS:-off} == on ]]; then echo tls; else echo plain; fi
}

# The size of the last Primary component this node was in; 0 when unknown.
last_view() {
  local n
  n=$(cat "$VIEW_FILE" 2>/dev/null) || n=0
  [[ $n =~ ^[0-9]{1,3}$ ]] || n=0
  printf '%s\n' "$n"
}

# Records the size of the Primary component this node is in (when it changed).
remember_view() {
  [[ $1 =~ ^[0-9]{1,3}$ && $1 != "$(last_view)" ]] || return 0
  printf '%s\n' "$1" >"$VIEW_FILE.tmp" && mv -f "$VIEW_FILE.tmp" "$VIEW_FILE"
}

# state_line key=value... : the state line of this node; keys not given take their defaults.
state_line() {
  local -A v=([phase]=unknown [role]='' [uuid]=$ZERO_UUID [seqno]=-1 [safe]=0 [empty]=0 [primary]=0 [local_state]=0 [fresh]=0 [forced]='' [sst]=$(own_sst_mode) [donates]='' [view]=$(last_view))
  local kv key out
  for kv in "$@"; do
    key=${kv%%=*}
    [[ -v "v[$key]" ]] || die "state_line: unknown key $key"
    v[$key]=${kv#*=}
  done
  out="v1 name=$POD_NAME"
  for key in "${STATE_LINE_KEYS[@]}"; do out+=" $key=${v[$key]}"; done
  printf '%s peers=%s\n' "$out" "$(peer_count)"
}

# Value of one key of a state line; empty when absent.
field() {
  local line=$1 key=$2 word
  for word in $line; do
    if [[ $word == "$key="* ]]; then
      printf '%s\n' "${word#*=}"
      return 0
    fi
  done
}

# A state line from the pod $2: "v1", key=value words, ending with peers=N; every known key
# carries a value of its type (lines of older versions may lack keys; field then reads empty).
valid_state_line() {
  local line=$1 pod=$2 word key value
  [[ $line =~ ^v1(\ [a-z_]+=[A-Za-z0-9_.:-]*)+$ ]] || return 1
  [[ $line =~ \ peers=[0-9]{1,3}$ ]] || return 1 # every line ends so; a cut-off line does not
  [[ $(field "$line" name) == "$pod" ]] || return 1
  [[ $line == *" phase="* ]] || return 1
  for word in ${line#v1 }; do
    key=${word%%=*} value=${word#*=}
    case $key in
      phase) [[ $value =~ ^(waiting|refused|starting|running|unknown)$ ]] || return 1 ;;
      role) [[ -z $value || $value =~ ^(bootstrap|join)$ ]] || return 1 ;;
      seqno) [[ $value =~ ^-?[0-9]{1,19}$ ]] || return 1 ;;
      safe | empty | primary | fresh) [[ $value =~ ^[01]$ ]] || return 1 ;;
      local_state) [[ $value =~ ^[0-9]{1,2}$ ]] || return 1 ;;
      peers | view) [[ $value =~ ^[0-9]{1,3}$ ]] || return 1 ;;
      uuid) [[ $value =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] || return 1 ;;
      forced) [[ -z $value || $value =~ ^[0-9a-f-]{36}:-?[0-9]{1,19}$ ]] || return 1 ;;
      sst) [[ -z $value || $value =~ ^(tls|plain)$ ]] || return 1 ;;
      donates) [[ -z $value || $value == stream ]] || return 1 ;;
    esac
  done
}

# Publishes this node's state line (key=value... as for state_line) atomically; galera-state.sh serves it.
publish_state() {
  local tmp="$STATE_FILE.tmp"
  state_line "$@" >"$tmp"
  mv -f "$tmp" "$STATE_FILE"
}

heartbeat() {
  : >"$HEARTBEAT_FILE"
}

# Asks one peer for its state line; prints nothing when it cannot be reached or its answer is
# not a complete, well-formed line from the pod that was asked (the election trusts these).
query_peer() {
  local line
  line=$(timeout 4 socat -T3 -u "TCP:$1:$GALERA_STATE_PORT,connect-timeout=2" - 2>/dev/null | head -n 1) || true
  valid_state_line "$line" "$(pod_of_host "$1")" && printf '%s\n' "$line"
  return 0
}

# DNS name of the pod with ordinal $1, following the pattern of the first peer
# (galera-0.galera.ns.svc.cluster.local -> galera-4.galera.ns.svc.cluster.local).
host_of_ordinal() {
  local first
  first=$(peer_hosts | head -n 1)
  local pod=${first%%.*}
  printf '%s%s%s\n' "${pod%-*}-" "$1" "${first#"$pod"}"
}

# State lines of the given peers (hosts on stdin), asked in parallel; unreachable ones are left out.
query_peers() {
  local dir host n=0
  dir=$(mktemp -d "$GALERA_RUNTIME_DIR/peers.XXXXXX")
  while IFS= read -r host; do
    [[ -z $host || $(pod_of_host "$host") == "$POD_NAME" ]] && continue
    n=$((n + 1))
    query_peer "$host" >"$dir/$n" &
  done
  wait
  cat "$dir"/* 2>/dev/null || true
  rm -rf "$dir"
}
