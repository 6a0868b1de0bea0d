#!/usr/bin/env bash
# The node library of both topologies (sourced, never run): galera-lib.sh (scripts/node) and
# repl-lib.sh (scripts/replication) source it and add only what is their own. Here: the settings
# every MariaDB pod shares (the NODE_* environment the constructs write, src/core/node-env.ts),
# peers and ordinals, the credentials Secret, SQL helpers, the state line (framing, validation,
# serving it, asking the peers for theirs), the heartbeat, the init container's checks and
# rendering, a new data directory with its accounts, and the start script's servers and signals.
#
# The topology library sets, after sourcing this file:
#   STATE_LINE_KEYS       the keys of its state line between name= and peers=, in their order
#   STATE_LINE_DEFAULTS   the name of its function that sets STATE_DEFAULTS to key=value words, one
#                         for each key a caller of state_line leaves out (run in the caller's shell
#                         for every line: defaults may change)
#   STATE_VALUE_PATTERNS  key -> the regular expression its value must match (peers' lines)
#   INIT_INCOMPLETE_FILE  the file that marks a data directory whose initialization never finished
# and adds the Secret keys of its own accounts to SECRET_KEYS (and may add to EXPORTER_PRIVILEGES).
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

# The helpers below run in per-second loops and in every answer of the state port: they use bash
# builtins where a process would do the same (a fork and exec per call, on every node, all the time).

# log.sh sits next to this file: in the pod (one ConfigMap directory) and in the repository.
# shellcheck source-path=SCRIPTDIR source=../common/log.sh
source "${BASH_SOURCE[0]%/*}/log.sh"

: "${POD_NAME:?POD_NAME is not set}"
: "${NODE_PEERS:?NODE_PEERS is not set}"
NODE_CONFIG_DIR=${NODE_CONFIG_DIR:-/opt/mariadb}
NODE_RUNTIME_DIR=${NODE_RUNTIME_DIR:-/run/mariadb}
NODE_DATA_DIR=${NODE_DATA_DIR:-/var/lib/mysql}
NODE_CREDENTIALS_DIR=${NODE_CREDENTIALS_DIR:-/etc/mariadb/credentials}
NODE_SECRET_NAME=${NODE_SECRET_NAME:-mariadb-credentials}
NODE_SOCKET=${NODE_SOCKET:-/run/mysqld/mysqld.sock}
NODE_STATE_PORT=${NODE_STATE_PORT:-4569}
NODE_APP_USER=${NODE_APP_USER:-app}
NODE_APP_DATABASE=${NODE_APP_DATABASE:-app}
# on, transitional (accepts plain peers while TLS is turned on) or off.
NODE_TLS=${NODE_TLS:-off}
NODE_TLS_DIR=${NODE_TLS_DIR:-/etc/mariadb/tls}
NODE_POLL_SECONDS=${NODE_POLL_SECONDS:-1}
# A waiting node repeats why it waits at this interval (and whenever the reason changes).
NODE_WAIT_LOG_SECONDS=${NODE_WAIT_LOG_SECONDS:-30}
# A start script that stops touching its heartbeat for this long is stuck (the liveness probe).
NODE_HEARTBEAT_MAX_AGE=${NODE_HEARTBEAT_MAX_AGE:-60}
# socat's buffer on the bulk streams (state transfers, clones, backups): 128 KiB instead of its
# 8 KiB, 16 times fewer reads, writes and TLS records per stream (335 MB over TLS: the two socat
# processes took about 30 % less CPU).
NODE_STREAM_BLOCK=${NODE_STREAM_BLOCK:-131072}

# The container user, as id -un prints it (bash's prompt expansion of \u; no process).
NODE_OS_USER='\u'
NODE_OS_USER=${NODE_OS_USER@P}
MY_CNF="$NODE_RUNTIME_DIR/my.cnf"
STATE_FILE="$NODE_RUNTIME_DIR/state"
HEARTBEAT_FILE="$NODE_RUNTIME_DIR/heartbeat"
SECRET_KEYS=(root-password app-password monitor-password)
# The metrics exporter's account (NODE_EXPORTER_USER is set when monitoring is on) and its global
# privileges (ensure_exporter_account; a topology library may add its own).
[[ -z ${NODE_EXPORTER_USER:-} ]] || SECRET_KEYS+=(exporter-password)
EXPORTER_PRIVILEGES=(PROCESS 'REPLICATION CLIENT')
# How long a peer's state line may take to arrive (the topology library may give more).
STATE_QUERY_SECONDS=4
MARIADBD_PID='' STOPPING=0 SERVER_PIDS=() LOCAL_SERVER_PID=''

# --- peers ----------------------------------------------------------------------------------

# The ordinal of a StatefulSet pod name (mariadb-2 -> 2).
ordinal_of() { printf '%s\n' "${1##*-}"; }

# Sets PEERS to the peer DNS names of NODE_PEERS, ordinal 0 first.
read_peers() {
  local host
  local -a hosts
  PEERS=()
  IFS=, read -ra hosts <<<"$NODE_PEERS"
  for host in "${hosts[@]}"; do [[ -z $host ]] || PEERS+=("$host"); done
}

# The peer DNS names, one per line, ordinal 0 first.
peer_hosts() {
  read_peers
  printf '%s\n' "${PEERS[@]}"
}

peer_count() {
  read_peers
  printf '%s\n' "${#PEERS[@]}"
}

# Pod name of a peer DNS name (mariadb-1.mariadb.ns.svc.cluster.local -> mariadb-1).
pod_of_host() { printf '%s\n' "${1%%.*}"; }

# DNS name of a configured pod; empty when the pod is not one of the peers.
host_of_pod() {
  local host
  read_peers
  for host in "${PEERS[@]}"; do
    [[ $host == "$1".* ]] && { printf '%s\n' "$host"; return 0; }
  done
  return 0
}

# DNS name of the pod with ordinal $1, following the pattern of the first peer
# (mariadb-0.mariadb.ns.svc.cluster.local -> mariadb-4.mariadb.ns.svc.cluster.local).
host_of_ordinal() {
  read_peers
  local first=${PEERS[0]:-}
  local pod=${first%%.*}
  printf '%s%s%s\n' "${pod%-*}-" "$1" "${first#"$pod"}"
}

# --- the Secret and SQL -------------------------------------------------------------------

# Reads a key of the mounted credentials Secret.
secret() {
  local file="$NODE_CREDENTIALS_DIR/$1" value
  [[ -r $file ]] || die "Secret '$NODE_SECRET_NAME' has no readable key '$1' (mounted at $NODE_CREDENTIALS_DIR)"
  value=$(<"$file")
  printf '%s' "$value"
}

# Escapes a value for a single-quoted SQL string literal.
sql_quote() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\\\'}"
}

# Escapes a value for a double-quoted option-file string.
cnf_quote() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

# Runs SQL on the local server over the socket as the unix_socket account of the container user.
# --skip-ssl: the 10.11 client asks for TLS whenever the server offers it, on the socket too, and
# a handshake costs about five times the rest of a client run (measured: 60 ms against 12.5 ms);
# the probes and watch loops run this every second. The socket never leaves the pod.
local_sql() {
  timeout "${SQL_TIMEOUT:-5}" mariadb --no-defaults --protocol=socket --socket="$NODE_SOCKET" \
    -u "$NODE_OS_USER" --skip-ssl --connect-timeout=3 -N -B "$@"
}

# read_line VAR FILE: the first line of FILE into VAR; empty when FILE is missing or empty.
read_line() {
  local -n _line_var=$1
  _line_var=''
  { IFS= read -r _line_var <"$2"; } 2>/dev/null || true
}

# Each line of stdin without its leading blanks (as sed 's/^ *//'), by the shell itself.
trim_leading_spaces() {
  local line
  while IFS= read -r line || [[ -n $line ]]; do printf '%s\n' "${line#"${line%%[! ]*}"}"; done
}

# --- the state line -------------------------------------------------------------------------
# Every node serves one line on the state port; its peers read it:
#   v1 name=<pod> <key>=<value> ... peers=<n>
# with the keys of STATE_LINE_KEYS, always all of them and in that order (the topology's
# document specifies them); values never hold spaces. peers= is how many nodes this node is
# configured for, and ends every line, so a line that was cut off is never taken for whole.

# state_line key=value... : the state line of this node; keys not given take their defaults.
state_line() {
  local -A v=()
  local kv key out
  for key in "${STATE_LINE_KEYS[@]}"; do v[$key]=''; done
  STATE_DEFAULTS=()
  "$STATE_LINE_DEFAULTS"
  for kv in "${STATE_DEFAULTS[@]}"; do v[${kv%%=*}]=${kv#*=}; done
  for kv in "$@"; do
    key=${kv%%=*}
    [[ -v "v[$key]" ]] || die "state_line: unknown key $key"
    v[$key]=${kv#*=}
  done
  out="v1 name=$POD_NAME"
  for key in "${STATE_LINE_KEYS[@]}"; do out+=" $key=${v[$key]}"; done
  read_peers
  printf '%s peers=%s\n' "$out" "${#PEERS[@]}"
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

# A state line from the pod $2: "v1", key=value words with a phase among them, ending with
# peers=N; every value of a key the topology knows matches its pattern (lines of older versions
# may lack keys: field then reads them empty).
valid_state_line() {
  local line=$1 pod=$2 word key value
  [[ $line =~ ^v1(\ [a-z_]+=[A-Za-z0-9_.:,-]*)+\ peers=[0-9]{1,3}$ ]] || return 1
  [[ $line == *" name=$pod "* && $line == *" phase="* ]] || return 1
  for word in ${line#v1 }; do
    key=${word%%=*} value=${word#*=}
    [[ ! -v "STATE_VALUE_PATTERNS[$key]" || $value =~ ${STATE_VALUE_PATTERNS[$key]} ]] || return 1
  done
}

# Publishes this node's state line (key=value... as for state_line) atomically; the state script serves it.
publish_state() {
  local tmp="$STATE_FILE.tmp"
  state_line "$@" >"$tmp"
  mv -f "$tmp" "$STATE_FILE"
}

# The phase this node's start script published last; none before the first.
phase() {
  local p line
  read_line line "$STATE_FILE"
  p=$(field "$line" phase)
  echo "${p:-none}"
}

# serve_state LIVE_VIEW SILENT_PHASE: the line the state port serves. It is the line the start
# script published (none yet: the defaults); once that says running, the live view of the server
# (the topology's LIVE_VIEW function), or while mariadbd does not answer (a state transfer,
# start-up), the published line with the phase SILENT_PHASE.
serve_state() {
  local line
  { IFS= read -r line <"$STATE_FILE"; } 2>/dev/null || line=$(state_line)
  if [[ " $line " == *" phase=running "* ]]; then
    "$1" && return 0
    line=${line/phase=running/phase=$2}
  fi
  printf '%s\n' "$line"
}

# Serves the state line on the state port (socat runs the state script SCRIPT for each
# connection); a connection idle for longer than a peer waits for its answer is closed.
start_state_server() {
  socat -T$((STATE_QUERY_SECONDS + 1)) "TCP-LISTEN:$NODE_STATE_PORT,reuseaddr,fork" \
    EXEC:"bash $NODE_CONFIG_DIR/$1",nofork 2>/dev/null &
  SERVER_PIDS+=($!)
}

# Asks one peer for its state line; prints nothing when it cannot be reached or its answer is
# not a complete, well-formed line from the pod that was asked (the decisions trust these).
query_peer() {
  local line=''
  IFS= read -r line < <(timeout "$STATE_QUERY_SECONDS" socat -T$((STATE_QUERY_SECONDS - 1)) -u \
    "TCP:$1:$NODE_STATE_PORT,connect-timeout=2" - 2>/dev/null) || true
  valid_state_line "$line" "${1%%.*}" && printf '%s\n' "$line"
  return 0
}

# State lines of the given pods (DNS names on stdin) but this one, asked in parallel; those that
# do not answer are left out.
# Each query runs at once in its own process substitution; the answers are read in the order of
# the pods (decisions break ties by it).
query_peers() {
  local host fd line out=''
  local -a fds=()
  while IFS= read -r host; do
    [[ -z $host || ${host%%.*} == "$POD_NAME" ]] && continue
    exec {fd}< <(query_peer "$host")
    fds+=("$fd")
  done
  for fd in "${fds[@]}"; do
    while IFS= read -r -u "$fd" line; do out+="$line"$'\n'; done
    exec {fd}<&-
  done
  # written by a child: a reader that stops early (it found what it looked for) ends that child
  # with SIGPIPE, not this shell, and the caller's pipeline does not fail under pipefail
  [[ -z $out ]] || (printf '%s' "$out")
  return 0
}

# The state lines of every other configured pod that answers.
collect_peer_states() {
  local hosts
  read_peers
  printf -v hosts '%s\n' "${PEERS[@]}"
  query_peers <<<"${hosts%$'\n'}"
}

# --- the heartbeat ------------------------------------------------------------------------
# The start script touches it while it waits, clones or watches; the liveness probe fails a
# script that stopped touching it.

heartbeat() { : >"$HEARTBEAT_FILE"; }

heartbeat_fresh() {
  [[ -f $HEARTBEAT_FILE ]] || return 1
  local now
  printf -v now '%(%s)T' -1
  ((now - $(stat -c %Y "$HEARTBEAT_FILE") <= NODE_HEARTBEAT_MAX_AGE))
}

# --- the init container ---------------------------------------------------------------------

check_credentials() {
  local key missing=()
  for key in "${SECRET_KEYS[@]}"; do
    [[ -s $NODE_CREDENTIALS_DIR/$key ]] || missing+=("$key")
  done
  if ((${#missing[@]} == ${#SECRET_KEYS[@]})); then
    die "Secret '$NODE_SECRET_NAME' is missing in namespace '${POD_NAMESPACE:-?}' (nothing mounted at $NODE_CREDENTIALS_DIR); create it with: npm run -s new-secret -- $NODE_SECRET_NAME ${POD_NAMESPACE:-<namespace>} | kubectl create -f -"
  elif ((${#missing[@]} > 0)); then
    die "Secret '$NODE_SECRET_NAME' lacks the key(s) ${missing[*]} (or they are empty); every key of ${SECRET_KEYS[*]} is required"
  fi
}

# With TLS on, the node's certificate Secret must hold ca.crt, tls.crt and tls.key.
check_tls() {
  [[ $NODE_TLS == off ]] && return 0
  local file missing=()
  for file in ca.crt tls.crt tls.key; do
    [[ -s $NODE_TLS_DIR/$file ]] || missing+=("$file")
  done
  if ((${#missing[@]} == 3)); then
    die "TLS is on but Secret '${NODE_TLS_SECRET_NAME:-?}' is missing in namespace '${POD_NAMESPACE:-?}' (nothing mounted at $NODE_TLS_DIR); create the certificates with: npm run -s new-tls -- ${POD_NAMESPACE:-<namespace>} | kubectl apply -f -   (or name a cert-manager issuer in tls.issuer, or turn TLS off explicitly)"
  elif ((${#missing[@]} > 0)); then
    die "Secret '${NODE_TLS_SECRET_NAME:-?}' lacks ${missing[*]} (or they are empty); ca.crt, tls.crt and tls.key are required, as cert-manager writes them"
  fi
}

# --- TLS (NODE_TLS on or transitional: the node certificate is mounted at NODE_TLS_DIR) -------

# What identifies the mounted certificate: the CA's and the node certificate's text (public), read
# by the shell itself (the loops compare it every second). It changes when the kubelet swaps in a
# renewed Secret: a new key always comes with a new certificate. No files (TLS off) is a
# fingerprint too.
tls_fingerprint() {
  local file text out=''
  for file in ca.crt tls.crt; do
    text=''
    { IFS= read -r -d "" text <"$NODE_TLS_DIR/$file"; } 2>/dev/null || true # read -d "" ends at EOF with status 1
    out+="$file:${#text}:$text"
  done
  printf '%s\n' "$out"
}

# The name every node certificate carries for the cluster's headless Service, its common name
# (mariadb-0.mariadb.ns.svc.cluster.local -> mariadb.ns.svc.cluster.local): a peer presenting a
# certificate of the CA with this name is a node of this cluster.
headless_service_name() {
  read_peers
  local first=${PEERS[0]:-}
  printf '%s\n' "${first#*.}"
}

# socat's own report (-d -d: listening, the peer accepted, TLS version and cipher) into the log.
relay_socat_log() {
  local line
  while IFS= read -r line; do
    log_info "socat: ${line#* socat\[*\] }"
  done
}

# reload_tls_when_renewed [SQL [WHAT]]: a renewed certificate Secret (cert-manager renews in place;
# the kubelet swaps the mounted files) is served without a restart: FLUSH SSL reloads the server's
# certificate (and SQL the topology's own, WHAT in the log), for new connections; established ones
# keep theirs. LOCAL: a FLUSH is binlogged otherwise, and on a replica that is a transaction of its
# own (an errant GTID: strict mode stops its SQL thread when the primary's next one arrives).
# Called repeatedly; the first call notes the certificate the server started with.
TLS_FINGERPRINT=''
reload_tls_when_renewed() {
  [[ $NODE_TLS == off ]] && return 0
  local now sql=${1:-} what=${2:-}
  now=$(tls_fingerprint) || return 0
  if [[ -z $TLS_FINGERPRINT ]]; then
    TLS_FINGERPRINT=$now
  elif [[ $now != "$TLS_FINGERPRINT" ]]; then
    if local_sql -e "FLUSH LOCAL SSL${sql:+; $sql}" >/dev/null 2>&1; then
      TLS_FINGERPRINT=$now
      log_info "TLS: the certificate in $NODE_TLS_DIR changed; reloaded (FLUSH LOCAL SSL${what:+, $what}) without a restart"
    elif local_sql -e 'SELECT 1' >/dev/null 2>&1; then
      log_warn "TLS: the certificate in $NODE_TLS_DIR changed, but reloading it failed; retrying"
    fi
  fi
}

# init_node SCRIPT SETTINGS: the init container's work. The Secrets are complete, the data
# directory is writable, and $MY_CNF is the shared server configuration of the ConfigMap followed
# by this node's own [mysqld] lines, which the topology's function SETTINGS prints. Only the
# container user reads it (it may hold a password). It never touches the data directory.
init_node() {
  local script=$1 settings=$2 tmp="$MY_CNF.tmp"
  check_credentials
  check_tls
  [[ -w $NODE_DATA_DIR ]] || die "data directory $NODE_DATA_DIR is not writable by uid $(id -u)"
  umask 077
  {
    cat "$NODE_CONFIG_DIR/my.cnf"
    printf '\n# Node-specific settings rendered by %s\n[mysqld]\n' "$script"
    "$settings"
  } >"$tmp"
  mv -f "$tmp" "$MY_CNF"
}

# --- a new data directory -------------------------------------------------------------------

# accounts_sql MONITOR_GRANTS: the statements that create the accounts of every topology from the
# Secret: root@% (everything but READ_ONLY ADMIN: it may not write on a read-only node, a replica
# or a cluster that follows its external source), monitor@% (MONITOR_GRANTS: what the topology's health checks read)
# and the application's account and database. The topology adds its own accounts to them. Fails,
# naming the key, when a key of SECRET_KEYS is missing or empty.
accounts_sql() {
  local key
  for key in "${SECRET_KEYS[@]}"; do
    [[ -s $NODE_CREDENTIALS_DIR/$key ]] || { log_error "Secret '$NODE_SECRET_NAME' key '$key' is missing or empty"; return 1; }
  done
  cat <<SQL
CREATE OR REPLACE USER 'root'@'%' IDENTIFIED BY $(sql_quote "$(secret root-password)");
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'%';
CREATE OR REPLACE USER 'monitor'@'%' IDENTIFIED BY $(sql_quote "$(secret monitor-password)");
GRANT $1 ON *.* TO 'monitor'@'%';
CREATE DATABASE IF NOT EXISTS \`$NODE_APP_DATABASE\`;
CREATE OR REPLACE USER '$NODE_APP_USER'@'%' IDENTIFIED BY $(sql_quote "$(secret app-password)");
GRANT ALL PRIVILEGES ON \`$NODE_APP_DATABASE\`.* TO '$NODE_APP_USER'@'%';
SQL
}

# start_local_server NAME [ARGS...]: mariadbd on $MY_CNF (with ARGS) without networking, for work
# before the node serves anyone; its log is $NODE_RUNTIME_DIR/NAME.log. Returns once it answers.
start_local_server() {
  local name=$1 i
  shift
  mariadbd --defaults-file="$MY_CNF" --skip-networking "$@" --log-error="$NODE_RUNTIME_DIR/$name.log" &
  LOCAL_SERVER_PID=$!
  # polled every 0.2 s: the server is up within a second, and the node's start waits for it
  for ((i = 0; i < 600; i++)); do
    local_sql -e 'SELECT 1' >/dev/null 2>&1 && return 0
    kill -0 "$LOCAL_SERVER_PID" 2>/dev/null || { cat "$NODE_RUNTIME_DIR/$name.log" >&2; die "mariadbd ($name) exited before it answered"; }
    sleep 0.2
  done
  die "mariadbd ($name) did not answer within 120 s"
}

stop_local_server() {
  local_sql -e 'SHUTDOWN' || kill "$LOCAL_SERVER_PID"
  wait "$LOCAL_SERVER_PID" || true
  LOCAL_SERVER_PID=''
}

# create_accounts ACCOUNTS NAME [ARGS...]: runs the SQL that the topology's function ACCOUNTS
# prints on a local server (start_local_server NAME ARGS...), then stops it.
create_accounts() {
  local accounts=$1 sql
  shift
  start_local_server "$@"
  sql=$("$accounts") || die "reading the passwords from Secret '$NODE_SECRET_NAME' failed"
  local_sql <<<"$sql" || die "creating the accounts failed"
  stop_local_server
}

# initialize_datadir ACCOUNTS [SERVER_ARGS...]: a new data directory: the system tables (the
# container user's unix_socket account the only administrator), then the accounts of the
# topology's function ACCOUNTS (create_accounts, the server run with SERVER_ARGS). Until it is
# done INIT_INCOMPLETE_FILE marks the volume, so an interrupted initialization is never data.
initialize_datadir() {
  local accounts=$1
  shift
  log_info "initializing a new data directory and the accounts from Secret '$NODE_SECRET_NAME'"
  touch "$INIT_INCOMPLETE_FILE"
  find "$NODE_DATA_DIR" -mindepth 1 -maxdepth 1 ! -name "${INIT_INCOMPLETE_FILE##*/}" ! -name 'lost+found' -exec rm -rf {} +
  mariadb-install-db --defaults-file="$MY_CNF" --auth-root-authentication-method=socket \
    --auth-root-socket-user="$(id -un)" --skip-test-db >/dev/null 2>"$NODE_RUNTIME_DIR/install-db.log" ||
    { cat "$NODE_RUNTIME_DIR/install-db.log" >&2; die "mariadb-install-db failed"; }
  create_accounts "$accounts" init-server "$@"
  rm -f "$INIT_INCOMPLETE_FILE"
}

# The metrics exporter's account (monitoring on: NODE_EXPORTER_USER), made or brought up to date
# once per mariadbd start, on a node that takes writes: a cluster created before monitoring was
# turned on gets it too, and a rotated exporter-password arrives with the next restart. The
# statements replicate, so every node has the account. The grants are the ones mysqld_exporter
# documents, with SELECT narrowed to performance_schema (the collectors it runs read nothing else),
# and those the topology library adds to EXPORTER_PRIVILEGES.
ensure_exporter_account() {
  [[ -n ${NODE_EXPORTER_USER:-} ]] || return 0
  local user=$NODE_EXPORTER_USER password privileges
  privileges=$(printf '%s, ' "${EXPORTER_PRIVILEGES[@]}")
  privileges=${privileges%, }
  password=$(secret exporter-password) || return 1
  if local_sql <<SQL; then
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY $(sql_quote "$password") WITH MAX_USER_CONNECTIONS 3;
ALTER USER '$user'@'localhost' IDENTIFIED BY $(sql_quote "$password") WITH MAX_USER_CONNECTIONS 3;
GRANT $privileges ON *.* TO '$user'@'localhost';
GRANT SELECT ON performance_schema.* TO '$user'@'localhost';
SQL
    log_info "metrics exporter account '$user'@'localhost' is up to date"
  else
    log_warn "could not create or update the metrics exporter account '$user'@'localhost'; retrying"
    return 1
  fi
}

# --- the start script's life ----------------------------------------------------------------

# trap_signals ON_TERM: SIGTERM and SIGINT run the topology's handler ON_TERM; on exit, the
# servers this script started (start_state_server, SERVER_PIDS) stop.
trap_signals() {
  # shellcheck disable=SC2064  # the handler's name, expanded now
  trap "$1" TERM INT
  trap stop_servers EXIT
}

stop_servers() {
  ((${#SERVER_PIDS[@]} == 0)) || kill "${SERVER_PIDS[@]}" 2>/dev/null
  return 0
}

# Asks mariadbd for a graceful shutdown; from now on the start script only stops.
stop_mariadbd() {
  STOPPING=1
  [[ -n $MARIADBD_PID ]] && kill -TERM "$MARIADBD_PID" 2>/dev/null
  return 0
}

# Waits until mariadbd has exited and returns its status. A trapped signal interrupts wait, so it
# waits again until the graceful shutdown has finished.
wait_for_mariadbd() {
  local rc=0
  wait "$MARIADBD_PID" || rc=$?
  while kill -0 "$MARIADBD_PID" 2>/dev/null; do
    wait "$MARIADBD_PID" || rc=$?
  done
  log_info "mariadbd exited with status $rc"
  MARIADBD_PID=
  return "$rc"
}

# The declared users and databases (apply_declared_accounts), kept by the node that takes writes.
# shellcheck source-path=SCRIPTDIR source=../common/accounts.sh
source "${BASH_SOURCE[0]%/*}/accounts.sh"
