#!/usr/bin/env bash
# The primary/replica node scripts' own library (sourced, never run), on top of node-lib.sh
# (scripts/common): the replication settings, the role files, quorum sizes, the replication
# status, and the keys of the replication state line. Every setting comes from the pod
# environment that the MariaDbReplication construct writes.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

LOG_COMPONENT=replication
# node-lib.sh sits next to this file in the pod (one ConfigMap directory), in ../common in the repository.
NODE_LIB_DIR=${BASH_SOURCE[0]%/*}
[[ -f $NODE_LIB_DIR/node-lib.sh ]] || NODE_LIB_DIR+=/../common
# shellcheck source-path=SCRIPTDIR source=../common/node-lib.sh
source "$NODE_LIB_DIR/node-lib.sh"
# shellcheck source-path=SCRIPTDIR source=../common/source.sh
source "$NODE_LIB_DIR/source.sh"

REPL_CLONE_PORT=${REPL_CLONE_PORT:-4444}
REPL_MYSQL_PORT=${REPL_MYSQL_PORT:-3306}
# A replica is ready while its lag stays under this many seconds.
REPL_MAX_LAG_SECONDS=${REPL_MAX_LAG_SECONDS:-30}
SECRET_KEYS+=(replication-password)
# The exporter reads SHOW SLAVE STATUS (lag, threads), which needs SLAVE MONITOR since MariaDB
# 10.5.9 (REPLICATION CLIENT, now BINLOG MONITOR, no longer allows it).
EXPORTER_PRIVILEGES+=('SLAVE MONITOR')
# Generous: a peer's state script starts bash and the mariadb client, slow on a loaded node; an
# answer that comes late only slows a decision, a missing one may fence a healthy primary.
STATE_QUERY_SECONDS=8

# The role this node holds now (primary, replica, fenced); the state server reports it.
ROLE_FILE="$NODE_RUNTIME_DIR/role"
# The pod this replica replicates from.
SOURCE_FILE="$NODE_RUNTIME_DIR/source"
# Present while this node is the primary and follows the external source (source.sh): it takes
# the source's transactions, and clients may not write (read_only) until the cutover.
FOLLOW_FILE="$NODE_RUNTIME_DIR/following"
# A planned switchover: the pod the primary hands its role to (repl-switchover.sh writes it).
SWITCHOVER_FILE="$NODE_RUNTIME_DIR/switchover"
# A cutover from the external source (repl-cutover.sh writes the request: "<seconds> <mode>", mode
# 0: the cutover makes the source read-only, 1: a human did, 2: forced, the source is gone); the
# primary's watch answers in the result file (key=value lines).
CUTOVER_FILE="$NODE_RUNTIME_DIR/cutover"
CUTOVER_RESULT_FILE="$NODE_RUNTIME_DIR/cutover-result"
# Written once the data directory holds a complete dataset (initialized or cloned and prepared).
DATA_MARKER="$NODE_DATA_DIR/.replication-data"
INIT_INCOMPLETE_FILE="$NODE_DATA_DIR/.replication-init-incomplete"
# Written by a human (kubectl exec ... touch) to let a refused node discard its data and clone again.
RECLONE_FILE="$NODE_DATA_DIR/replication-reclone"
# Written when the node is refused (errant transactions); kept across restarts, so a refused node
# never votes or wins an election (a full restart included) until a human lets it clone again.
REFUSED_FILE="$NODE_DATA_DIR/.replication-refused"

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

# SHOW SLAVE STATUS, vertical, one "Key: value" per line; empty when this node replicates from nobody.
slave_status() {
  local_sql --column-names -E -e 'SHOW SLAVE STATUS' 2>/dev/null | trim_leading_spaces
}

# How far a GTID list goes: the sum over its domains of each domain's highest seq ("0-2-57,1-1-3"
# -> 60); -1 when it holds none. Every node's history is a prefix of one binlog stream in each
# domain (the cluster's own, and an external source's while the cluster follows one), so of two
# nodes the one with more of it has the larger sum.
gtid_seq() {
  local seq
  gtid_seq_into seq "$1"
  echo "$seq"
}

# gtid_seq_into VAR GTID_LIST: gtid_seq into the variable VAR (no subshell).
gtid_seq_into() {
  local -n _seq_var=$1
  local gtid total=0
  local -A top=()
  local IFS=,
  for gtid in ${2//[[:space:]]/}; do
    [[ $gtid =~ ^([0-9]+)-[0-9]+-([0-9]+)$ ]] || continue
    ((${top[${BASH_REMATCH[1]}]:--1} >= BASH_REMATCH[2])) || top[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
  done
  if ((${#top[@]} == 0)); then
    _seq_var=-1
    return 0
  fi
  for gtid in "${top[@]}"; do total=$((total + gtid)); done
  _seq_var=$total
}

# history_position BINLOG SLAVE: where a node's history ends, as a GTID position to replicate
# from: its binary log's entry in each domain the binary log holds (its own transactions as
# primary, and every one it applied: replicas binlog what they apply), gtid_slave_pos's in the
# others (a clone's or a restore's starting point). gtid_slave_pos alone can be ahead of every
# binary log of the cluster: a following primary skips the source's account statements
# (start_following), and a new primary would refuse a replica that asks for one (error 1236).
history_position() {
  local gtid
  local -A at=()
  for gtid in ${2//[,[:space:]]/ } ${1//[,[:space:]]/ }; do
    [[ $gtid =~ ^([0-9]+)-[0-9]+-[0-9]+$ ]] && at[${BASH_REMATCH[1]}]=$gtid
  done
  local IFS=,
  echo "${at[*]}"
}

# --- the state line (framing and parsing in node-lib.sh) -----------------------------------
# "v1 name=<pod> phase=<...> role=<...> writable=0|1 gtid=<d-s-n> seq=<n> io=<0|1> sql=<0|1>
#  lag=<s> source=<pod> ready=0|1 data=0|1 peers=<n>"
# phase: waiting (no mariadbd yet), cloning (a clone, or the first node's copy of an external
#   source), running, refused.
# writable: the node takes the cluster's writes: read_only is off, or it is the primary of a
#   cluster that follows an external source (it applies the source's; clients may not write).
# role: primary, replica, fenced (a read-only former primary), handover (a primary handing its
#   role to the pod named in source=, in a planned switchover).
# seq: how far this node's GTID position goes (gtid_seq), received events included (a replica's relay log).
# data: its volume holds a complete dataset (DATA_MARKER), also while it waits before mariadbd
#   runs (seq is -1 then); a restore refuses to create a cluster next to such a node.
STATE_LINE_KEYS=(phase role writable gtid seq io sql lag source ready data)
STATE_LINE_DEFAULTS=replication_state_defaults
declare -gA STATE_VALUE_PATTERNS=(
  [phase]='^(waiting|cloning|running|refused|restoring)$'
  [role]='^(primary|replica|fenced|handover)?$'
  [writable]='^[01]$' [io]='^[01]$' [sql]='^[01]$' [ready]='^[01]$' [data]='^[01]$'
  [seq]='^-?[0-9]{1,19}$'
  [lag]='^([0-9]{1,9})?$'
)

replication_state_defaults() {
  local data=0
  [[ -f $DATA_MARKER ]] && data=1
  STATE_DEFAULTS=(phase=waiting role= writable=0 gtid= seq=-1 io=0 sql=0 lag= source= ready=0 "data=$data")
}

# Ends every client session (KILL CONNECTION: the client gets an error). The sessions waiting for
# a replica's acknowledgement go last. Such a session leads a binlog group commit, and MariaDB
# (10.11) returns OK to every other commit of its group when it is killed: acknowledged without
# any replica. Killed first, the other sessions' connections are already shut when that happens,
# and no OK reaches their clients. New commits cannot join meanwhile: the callers kill while a
# global lock waits for the commits in flight (SET GLOBAL read_only, the copy's BACKUP STAGE).
kill_client_sessions() {
  local_sql -e "SELECT CONCAT('KILL CONNECTION ', ID, ';') FROM information_schema.PROCESSLIST
    WHERE USER NOT IN ('system user', '$(id -un)', 'repl') AND ID <> CONNECTION_ID()
    ORDER BY STATE = 'Waiting for semi-sync ACK from slave'" 2>/dev/null |
    local_sql 2>/dev/null || true
}
