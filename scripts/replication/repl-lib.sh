#!/usr/bin/env bash
# Shared functions of the primary/replica node scripts (sourced, never run). Every setting comes
# from the pod environment that the MariaDbReplication construct writes.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

LOG_COMPONENT=replication
if [[ -f $(dirname "${BASH_SOURCE[0]}")/log.sh ]]; then
  # shellcheck source-path=SCRIPTDIR source=../common/log.sh
  source "$(dirname "${BASH_SOURCE[0]}")/log.sh"
else
  # shellcheck source-path=SCRIPTDIR source=../common/log.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../common/log.sh"
fi

: "${POD_NAME:?POD_NAME is not set}"
: "${REPL_PEERS:?REPL_PEERS is not set}"
REPL_CONFIG_DIR=${REPL_CONFIG_DIR:-/opt/replication}
REPL_RUNTIME_DIR=${REPL_RUNTIME_DIR:-/run/replication}
REPL_DATA_DIR=${REPL_DATA_DIR:-/var/lib/mysql}
REPL_CREDENTIALS_DIR=${REPL_CREDENTIALS_DIR:-/etc/replication/credentials}
REPL_SECRET_NAME=${REPL_SECRET_NAME:-mariadb-credentials}
REPL_SOCKET=${REPL_SOCKET:-/run/mysqld/mysqld.sock}
REPL_STATE_PORT=${REPL_STATE_PORT:-4569}
REPL_CLONE_PORT=${REPL_CLONE_PORT:-4444}
REPL_MYSQL_PORT=${REPL_MYSQL_PORT:-3306}
REPL_POLL_SECONDS=${REPL_POLL_SECONDS:-1}
# A replica is ready while its lag stays under this many seconds.
REPL_MAX_LAG_SECONDS=${REPL_MAX_LAG_SECONDS:-30}

MY_CNF="$REPL_RUNTIME_DIR/my.cnf"
STATE_FILE="$REPL_RUNTIME_DIR/state"
HEARTBEAT_FILE="$REPL_RUNTIME_DIR/heartbeat"
# The role this node holds now (primary, replica, fenced); the state server reports it.
ROLE_FILE="$REPL_RUNTIME_DIR/role"
# The pod this replica replicates from.
SOURCE_FILE="$REPL_RUNTIME_DIR/source"
# A planned switchover: the pod the primary hands its role to (repl-switchover.sh writes it).
SWITCHOVER_FILE="$REPL_RUNTIME_DIR/switchover"
# Written once the data directory holds a complete dataset (initialized or cloned and prepared).
DATA_MARKER="$REPL_DATA_DIR/.replication-data"
# Written by a human (kubectl exec ... touch) to let a refused node discard its data and clone again.
RECLONE_FILE="$REPL_DATA_DIR/replication-reclone"
# Written when the node is refused (errant transactions); kept across restarts, so a refused node
# never votes or wins an election (a full restart included) until a human lets it clone again.
REFUSED_FILE="$REPL_DATA_DIR/.replication-refused"
SECRET_KEYS=(root-password app-password replication-password monitor-password)

ordinal_of() { printf '%s\n' "${1##*-}"; }
peer_hosts() { tr ',' '\n' <<<"$REPL_PEERS"; }
peer_count() { peer_hosts | grep -c .; }
pod_of_host() { printf '%s\n' "${1%%.*}"; }
host_of_pod() { peer_hosts | grep -m1 "^$1\." || true; }

# A strict majority of the configured nodes.
majority() { echo $(($(peer_count) / 2 + 1)); }

# The nodes a failover election needs: every configured node but one (the lost primary), and never
# less than a majority. A commit is acknowledged once ONE replica has it (MariaDB's semi-sync waits
# for one), so only a vote that includes every replica is sure to include that one.
election_quorum() {
  local n
  n=$(peer_count)
  if ((n - 1 > $(majority))); then echo $((n - 1)); else majority; fi
}

secret() {
  local file="$REPL_CREDENTIALS_DIR/$1" value
  [[ -r $file ]] || die "Secret '$REPL_SECRET_NAME' has no readable key '$1' (mounted at $REPL_CREDENTIALS_DIR)"
  value=$(<"$file")
  printf '%s' "$value"
}

sql_quote() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\\\'}"
}

# SQL on the local server over the socket, as the unix_socket account of the container user.
local_sql() {
  timeout "${SQL_TIMEOUT:-5}" mariadb --no-defaults --protocol=socket --socket="$REPL_SOCKET" \
    -u "$(id -un)" --connect-timeout=3 -N -B "$@"
}

# One value of `SHOW SLAVE STATUS` (vertical output), empty when this node replicates from nobody.
slave_status_value() {
  awk -v key="$1:" '$1 == key { $1 = ""; sub(/^ /, ""); print; exit }'
}

slave_status() {
  local_sql --column-names -E -e 'SHOW SLAVE STATUS' 2>/dev/null | sed 's/^ *//'
}

# The sequence number of the domain-0 GTID in a GTID list ("0-2-57,1-1-3" -> 57); -1 when absent.
gtid_seq() {
  local list=$1 gtid
  local IFS=,
  for gtid in $list; do
    gtid=${gtid// /}
    if [[ $gtid == 0-* ]]; then
      printf '%s\n' "${gtid##*-}"
      return 0
    fi
  done
  echo -1
}

# --- state lines (the state port) ---------------------------------------------------------
# "v1 name=<pod> phase=<...> role=<...> writable=0|1 gtid=<d-s-n> seq=<n> io=<0|1> sql=<0|1>
#  lag=<s> source=<pod> ready=0|1 peers=<n>"
# phase: waiting (no mariadbd yet), cloning, running, refused.
# role: primary, replica, fenced (a read-only former primary), handover (a primary handing its
#   role to the pod named in source=, in a planned switchover).
# seq: the most advanced domain-0 GTID this node holds, received ones included (a replica's relay log).
STATE_LINE_KEYS=(phase role writable gtid seq io sql lag source ready)

state_line() {
  local -A v=([phase]=waiting [role]='' [writable]=0 [gtid]='' [seq]=-1 [io]=0 [sql]=0 [lag]='' [source]='' [ready]=0)
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

field() {
  local line=$1 key=$2 word
  for word in $line; do
    if [[ $word == "$key="* ]]; then
      printf '%s\n' "${word#*=}"
      return 0
    fi
  done
}

valid_state_line() {
  local line=$1 pod=$2 word key value
  [[ $line =~ ^v1(\ [a-z_]+=[A-Za-z0-9_.:,-]*)+\ peers=[0-9]{1,3}$ ]] || return 1
  [[ $(field "$line" name) == "$pod" ]] || return 1
  for word in ${line#v1 }; do
    key=${word%%=*} value=${word#*=}
    case $key in
      phase) [[ $value =~ ^(waiting|cloning|running|refused)$ ]] || return 1 ;;
      role) [[ -z $value || $value =~ ^(primary|replica|fenced|handover)$ ]] || return 1 ;;
      writable | io | sql | ready) [[ $value =~ ^[01]$ ]] || return 1 ;;
      seq) [[ $value =~ ^-?[0-9]{1,19}$ ]] || return 1 ;;
      lag) [[ -z $value || $value =~ ^[0-9]{1,9}$ ]] || return 1 ;;
    esac
  done
}

publish_state() {
  local tmp="$STATE_FILE.tmp"
  state_line "$@" >"$tmp"
  mv -f "$tmp" "$STATE_FILE"
}

heartbeat() { : >"$HEARTBEAT_FILE"; }

query_peer() {
  local line
  # generous: a peer's state script starts bash and the mariadb client, slow on a loaded node;
  # an answer that comes late only slows a decision, a missing one may fence a healthy primary
  line=$(timeout 8 socat -T7 -u "TCP:$1:$REPL_STATE_PORT,connect-timeout=2" - 2>/dev/null | head -n 1) || true
  valid_state_line "$line" "$(pod_of_host "$1")" && printf '%s\n' "$line"
  return 0
}

# The state lines of every other configured pod that answers, asked in parallel.
collect_states() {
  local dir host n=0
  dir=$(mktemp -d "$REPL_RUNTIME_DIR/peers.XXXXXX")
  while IFS= read -r host; do
    [[ -z $host || $(pod_of_host "$host") == "$POD_NAME" ]] && continue
    n=$((n + 1))
    query_peer "$host" >"$dir/$n" &
  done < <(peer_hosts)
  wait
  cat "$dir"/* 2>/dev/null || true
  rm -rf "$dir"
}
