#!/usr/bin/env bash
# The project's own state transfer method: `wsrep_sst_method=stream`. galera-start.sh links it as
# wsrep_sst_stream into a directory it puts first on mariadbd's PATH; mariadbd runs it for every
# state transfer, on the joiner and on the donor (docs/galera.md, "The state transfer").
#
# How mariadbd drives an SST script (sql/wsrep_sst.cc, MariaDB 10.11):
#   joiner: wsrep_sst_stream --role joiner --address <ip> --datadir <dir> --defaults-file <cnf>
#           --parent <mariadbd pid> [--binlog ...] --mysqld-args <mariadbd's own arguments>
#           It prints "ready <address>" once it listens; mariadbd sends <address> to the donor in
#           its state transfer request. Then, when the data is in place, one line
#           "<uuid>:<seqno> <gtid domain id>", and exits 0. Anything else on stdout breaks that.
#   donor:  wsrep_sst_stream --role donor --address <the joiner's address> --socket <socket>
#           --datadir <dir> --defaults-file <cnf> --gtid <uuid>:<seqno> --gtid-domain-id <n>
#           [--bypass] --mysqld-args ...
#           With --bypass the joiner gets its writes by IST from Galera itself and only needs
#           to be told so. It prints "done <uuid>:<seqno>" once the joiner has everything.
#   Both get the sst account as WSREP_SST_OPT_AUTH=user:password in the environment (never on
#   a command line), run in a session of their own, and a non-zero exit fails the transfer.
#
# The stream, one TCP connection from donor to joiner on port 4444: xbstream (the format of
# mariadb-backup's --stream), compressed with zstd -1 on as many threads as the copy uses:
#   galera_sst_info       "sst|ist <uuid>:<seqno> <gtid domain id>", first
#   the backup            mariadb-backup --backup --stream=xbstream (SST only)
#   galera_sst_complete   last: the donor's whole stream arrived
# With TLS (ssl-mode in the [sst] section of my.cnf, as galera-start.sh sets it) the connection
# is socat OPENSSL with the node certificate on both ends, each verifying the other's by the CA
# and by name: the donor expects the joiner's pod name, the joiner the cluster's Service name.
# Without TLS it is plain socat. No step waits a fixed time: the joiner says ready when socat
# reports it listens, and the donor connects at once.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=galera-lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/galera-lib.sh"
LOG_COMPONENT=galera-sst

SST_PORT=4444
STREAM_VERSION=stream1
INFO_FILE=galera_sst_info
COMPLETE_FILE=galera_sst_complete
STAGE_NAME=.sst-stream

ROLE='' ADDRESS='' DATA=$NODE_DATA_DIR CNF=$MY_CNF PARENT='' SOCKET=$NODE_SOCKET GTID='' DOMAIN=0 BYPASS=0
TLS=0 SSL_CERT='' SSL_KEY='' SSL_CA='' BUFFER_POOL='' THREADS=1
WORK='' STAGE='' SERVER_FD='' SERVER_PID='' DATA_REPLACED=0 STARTED=$EPOCHREALTIME

# --- arguments and settings ------------------------------------------------------------------

# The options mariadbd passes (see above); the ones this method does not use are skipped, and
# so is everything after --mysqld-args (mariadbd's own arguments).
parse_args() {
  local option value
  while (($# > 0)); do
    option=$1 value=${2-}
    case $option in
      --bypass) BYPASS=1 ;;
      --mysqld-args) return 0 ;;
      --*) [[ $# -ge 2 && $value != --* ]] && shift ;;
    esac
    shift
    case $option in
      --role) ROLE=$value ;;
      --address) ADDRESS=$value ;;
      --datadir) DATA=${value%/} ;;
      --defaults-file) CNF=$value ;;
      --parent) PARENT=$value ;;
      --socket) SOCKET=$value NODE_SOCKET=$value ;;
      --gtid) GTID=$value ;;
      --gtid-domain-id) DOMAIN=$value ;;
    esac
  done
}

# The server options of my.cnf this script needs, and the transfer's mode: TLS unless the [sst]
# section says ssl-mode=DISABLED or has none (TLS off, or transitional: see galera-start.sh).
read_settings() {
  local line key value mode=''
  while IFS= read -r line; do
    key=${line%%=*} key=${key#--} key=${key//-/_} value=${line#*=}
    case $key in
      ssl_cert) SSL_CERT=$value ;;
      ssl_key) SSL_KEY=$value ;;
      ssl_ca) SSL_CA=$value ;;
      innodb_buffer_pool_size) BUFFER_POOL=$value ;;
    esac
  done < <(my_print_defaults --defaults-file="$CNF" mysqld server mariadb mariadbd galera)
  while IFS= read -r line; do
    [[ $line == --ssl[-_]mode=* ]] && mode=${line#*=}
  done < <(my_print_defaults --defaults-file="$CNF" sst)
  [[ -n $mode && ${mode^^} != DISABLED ]] && TLS=1
  if ((TLS == 1)) && [[ -z $SSL_CERT || -z $SSL_KEY || -z $SSL_CA ]]; then
    die "the [sst] section of $CNF asks for TLS (ssl-mode=$mode), but ssl_cert, ssl_key and ssl_ca are not all set in [mysqld]"
  fi
  THREADS=$(nproc 2>/dev/null || echo 1)
  ((THREADS <= 4)) || THREADS=4
}

# This pod's name in the headless Service (the name its certificate carries).
own_name() {
  host_of_ordinal "$(ordinal_of "$POD_NAME")"
}

# --- logging and the processes of this transfer ----------------------------------------------

# Seconds since an $EPOCHREALTIME value, with one decimal (bash has no floating point).
elapsed() {
  local now=${EPOCHREALTIME/./} since=${1/./}
  local tenths=$(((10#$now - 10#$since) / 100000))
  printf '%d.%d' $((tenths / 10)) $((tenths % 10))
}

# Runs a command with its output in a log file, in the background so that a SIGTERM (mariadbd
# gone) ends this script at once; on failure the log's end goes to the server log.
run_logged() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  if ! wait $!; then
    tail -n 30 "$log" >&2
    return 1
  fi
}

# The processes below $1, parents before their children.
descendants() {
  local pid
  for pid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    printf '%s\n' "$pid"
    descendants "$pid"
  done
}

# Ends what this script started and is still running (the watcher always; the receiver, sender
# and mariadb-backup of a transfer that failed), parents first, so that none acts on the others' end.
kill_descendants() {
  local pids
  mapfile -t pids < <(descendants $$)
  ((${#pids[@]} == 0)) || kill -TERM "${pids[@]}" 2>/dev/null || true
}

# mariadbd's pid: the joiner gets --parent; the donor runs under mariadbd's `sh -c`.
server_pid() {
  if [[ -n $PARENT ]]; then
    printf '%s\n' "$PARENT"
  elif [[ $(cat "/proc/$PPID/comm" 2>/dev/null) == mariadbd ]]; then
    printf '%s\n' "$PPID"
  else
    ps -o ppid= -p "$PPID" | tr -d ' '
  fi
}

# Ends this transfer when mariadbd goes away (it was killed, or gave up on the transfer):
# `tail --pid` returns when that process exits, without a polling loop here.
watch_server() {
  SERVER_PID=$(server_pid)
  [[ $SERVER_PID =~ ^[0-9]+$ ]] || return 0
  (
    if tail --pid="$SERVER_PID" -f /dev/null 2>/dev/null; then
      log_error "mariadbd (pid $SERVER_PID) exited during the state transfer; abandoning it"
      kill -TERM $$ 2>/dev/null
    fi
  ) &
}

on_exit() {
  local rc=$?
  trap - EXIT TERM INT
  # a donor's failure is reported by mariadbd once this script ends: not from outside a Primary component
  [[ $ROLE == donor && $rc != 0 && $rc != 143 ]] && wait_until_primary
  kill_descendants
  [[ -n $WORK ]] && rm -rf "$WORK"
  if [[ $ROLE == joiner ]]; then
    [[ -n $STAGE ]] && rm -rf "$STAGE"
    # An interrupted transfer leaves sst_in_progress only once the old data is gone: then the
    # node counts as empty (galera-lib.sh data_is_empty) and never votes with half a datadir.
    if ((rc == 0 || DATA_REPLACED == 0)); then rm -f "$DATA/sst_in_progress"; fi
  fi
  ((rc == 0)) || log_error "state transfer failed ($ROLE, exit status $rc) after $(elapsed "$STARTED") s"
  exit "$rc"
}

# --- the joiner --------------------------------------------------------------------------------

# socat's side of the connection: the node certificate, the donor's verified by the CA and the
# cluster's Service name.
listen_address() {
  local family=''
  [[ $JOINER_HOST == \[* ]] && family=',pf=ip6'
  if ((TLS == 1)); then
    printf 'OPENSSL-LISTEN:%s,reuseaddr%s,cert=%s,key=%s,cafile=%s,verify=1,commonname=%s' \
      "$SST_PORT" "$family" "$SSL_CERT" "$SSL_KEY" "$SSL_CA" "$(headless_service_name)"
  else
    printf 'TCP-LISTEN:%s,reuseaddr%s' "$SST_PORT" "$family"
  fi
}

# This node's address for the transfer, from --address (wsrep_node_address: an IP, maybe with
# a port; an IPv6 address in brackets).
JOINER_HOST=''
parse_own_address() {
  local hostport=${ADDRESS%%/*}
  if [[ $hostport == \[* ]]; then
    JOINER_HOST=${hostport%%]*}]
    hostport=${hostport#"$JOINER_HOST"}
  else
    JOINER_HOST=${hostport%%:*}
    hostport=${hostport#"$JOINER_HOST"}
  fi
  [[ $hostport =~ ^:[0-9]+$ ]] && SST_PORT=${hostport#:}
  [[ -n $JOINER_HOST ]] || die "--address '$ADDRESS' has no host"
}

# What the joiner asks for, behind "ready": where to connect, and the name its certificate must
# carry (the format version first, so that a later format is refused, not misread).
joiner_address() {
  printf '%s:%s/%s/%s\n' "$JOINER_HOST" "$SST_PORT" "$STREAM_VERSION" "$(own_name)"
}

# Starts the receiver (socat | zstd -d | mbstream -x into the stage) and returns once socat
# reports that it listens; socat's log reaches this shell through a FIFO.
start_receiver() {
  local fifo="$WORK/socat.log" line
  mkfifo "$fifo"
  (
    set -o pipefail
    socat -d -d -b "$NODE_STREAM_BLOCK" -u "$(listen_address)" STDOUT 2>"$fifo" | zstd -d -q -c | mbstream -x -C "$STAGE" -p "$THREADS"
  ) &
  RECEIVER_PID=$!
  exec {SOCAT_LOG}<"$fifo"
  while IFS= read -r line <&"$SOCAT_LOG"; do
    log_info "socat: ${line#* socat\[*\] }"
    if [[ $line == *" listening on "* ]]; then
      relay_socat_log <&"$SOCAT_LOG" &
      exec {SOCAT_LOG}<&-
      return 0
    fi
  done
  die "socat could not listen on port $SST_PORT"
}

# "<kind> <uuid>:<seqno> <domain>" from the stream, checked.
read_info() {
  local kind gtid domain
  [[ -f $STAGE/$COMPLETE_FILE ]] || die "the stream from the donor ended before it was complete"
  read -r kind gtid domain <"$STAGE/$INFO_FILE" || die "the donor sent no $INFO_FILE"
  [[ $kind =~ ^(sst|ist)$ && $gtid =~ ^[0-9a-f-]{36}:-?[0-9]+$ && $domain =~ ^[0-9]+$ ]] ||
    die "the donor's $INFO_FILE is not valid: $(head -c 200 "$STAGE/$INFO_FILE")"
  printf '%s %s %s\n' "$kind" "$gtid" "$domain"
}

# The directories a backup's files go to: the datadir and any InnoDB or Aria directory
# extraMyCnf moved elsewhere.
data_dirs() {
  local line key value
  printf '%s\n' "$DATA"
  while IFS= read -r line; do
    key=${line%%=*} key=${key#--} key=${key//-/_} value=${line#*=}
    case $key in
      innodb_data_home_dir | innodb_log_group_home_dir | innodb_undo_directory | aria_log_dir_path)
        [[ $value == /* && $value != "$DATA" && $value != "$DATA/" ]] && printf '%s\n' "${value%/}"
        ;;
    esac
  done < <(my_print_defaults --defaults-file="$CNF" mysqld server mariadb mariadbd galera)
}

# Removes the old data. Kept: Galera's files (the gcache is preallocated; grastate.dat is
# rewritten after the transfer), lost+found of a volume's root, this transfer's own files, and
# the forced-bootstrap position the election recorded for the cluster this node joins.
wipe_old_data() {
  local dir
  DATA_REPLACED=1
  while IFS= read -r dir; do
    [[ -d $dir ]] || continue
    find "$dir" -mindepth 1 -maxdepth 1 ! -name lost+found ! -name galera.cache ! -name grastate.dat \
      ! -name gvwstate.dat ! -name sst_in_progress ! -name galera-forced-from ! -name "$STAGE_NAME" -exec rm -rf {} +
  done < <(data_dirs | sort -u)
}

# Makes the received backup the node's data: prepare (apply its redo log), then move its files in.
install_backup() {
  local t=$EPOCHREALTIME use_memory=()
  [[ -n $BUFFER_POOL ]] && use_memory=(--use-memory="$BUFFER_POOL")
  run_logged "$WORK/prepare.log" mariadb-backup --prepare --target-dir="$STAGE" "${use_memory[@]}" ||
    die "mariadb-backup --prepare failed (the end of its log is above)"
  log_info "backup prepared in $(elapsed "$t") s"
  drop_received_binlogs
  t=$EPOCHREALTIME
  wipe_old_data
  run_logged "$WORK/move.log" mariadb-backup --defaults-file="$CNF" --move-back --force-non-empty-directories \
    --target-dir="$STAGE" --datadir="$DATA" || die "mariadb-backup --move-back failed (the end of its log is above)"
  log_info "old data replaced in $(elapsed "$t") s"
}

# A donor with the binary log on streams its current binlog file; the joiner starts a fresh one
# (what MariaDB's own mariabackup method does, MDEV-38147), so it never keeps a
# binlog position ahead of its data.
drop_received_binlogs() {
  local file _
  [[ -f $STAGE/xtrabackup_binlog_info ]] || return 0
  while read -r file _; do
    if [[ -n $file && $file != */* && -f $STAGE/$file ]]; then rm -f "${STAGE:?}/$file"; fi
  done <"$STAGE/xtrabackup_binlog_info"
}

run_joiner() {
  local info kind gtid domain t
  parse_own_address
  STAGE="$DATA/$STAGE_NAME"
  rm -rf "$STAGE"
  mkdir -p "$STAGE"
  touch "$DATA/sst_in_progress"
  start_receiver
  printf 'ready %s\n' "$(joiner_address)" >&"$SERVER_FD"
  log_info "ready: receiving on port $SST_PORT $( ((TLS == 1)) && echo "with TLS, the donor verified by $SSL_CA as $(headless_service_name)" || echo 'in plain text')"
  t=$EPOCHREALTIME
  wait "$RECEIVER_PID" || die "receiving the stream failed (socat or mbstream exited with an error; the lines above say why)"
  info=$(read_info)
  read -r kind gtid domain <<<"$info"
  log_info "received $(du -sh "$STAGE" 2>/dev/null | cut -f1) ($kind) in $(elapsed "$t") s from the donor's connection"
  if [[ $kind == sst ]]; then
    install_backup
  else
    log_info "IST: the data stays; Galera sends the missing writes"
  fi
  printf '%s %s\n' "$gtid" "$domain" >&"$SERVER_FD"
  log_info "$kind complete at $gtid after $(elapsed "$STARTED") s"
}

# --- the donor ---------------------------------------------------------------------------------

# The joiner's address line: host:port/version/name.
JOINER_PORT='' JOINER_NAME=''
parse_joiner_address() {
  local hostport=${ADDRESS%%/*} rest version
  IFS=/ read -r _ version JOINER_NAME rest <<<"$ADDRESS"
  [[ $version == "$STREAM_VERSION" && -z $rest ]] ||
    die "the joiner's address '$ADDRESS' is not a $STREAM_VERSION address (host:port/$STREAM_VERSION/name)"
  [[ $JOINER_NAME == *".$(headless_service_name)" ]] || die "the joiner's name '$JOINER_NAME' is not a pod of $(headless_service_name)"
  JOINER_PORT=${hostport##*:}
  JOINER_HOST=${hostport%:*}
  [[ $JOINER_PORT =~ ^[0-9]+$ && -n $JOINER_HOST ]] || die "the joiner's address '$ADDRESS' has no host:port"
}

# Galera takes a donor's report (mariadbd's "SST sent", made when this script says done or fails)
# only from a node in the Donor state of a Primary component. A donor that left the Primary
# component during its transfer (its Galera peers unreachable for a while) and reported before it
# was back stays Donor/Desynced for good: Galera logs "sst sent called when not SST donor" and never
# resyncs it (the stuck donor of the watchdog). So a donor reports only once its node is back in a
# Primary component: at once normally; outside one, mariadb-backup fails too (its BACKUP LOCK is
# refused), and that failure is reported the same way.
wait_until_primary() {
  local status cluster state logged=-30
  while kill -0 "${SERVER_PID:-$PPID}" 2>/dev/null; do
    status=$(SQL_TIMEOUT=3 wsrep_status 2>/dev/null) || status=''
    cluster=$(awk '$1 == "wsrep_cluster_status" { print $2 }' <<<"$status")
    state=$(awk '$1 == "wsrep_local_state" { print $2 }' <<<"$status")
    # local state 0 or 1: the view is Primary but Galera has not taken this node back as a donor yet
    [[ $cluster == Primary && ${state:-0} -ge 2 ]] && return 0
    if ((SECONDS - logged >= 30)); then
      log_warn "this node is outside a Primary component (cluster status ${cluster:-unknown}, local state ${state:-unknown}); reporting the end of the transfer once it is back, as Galera takes it only then"
      logged=$SECONDS
    fi
    sleep 0.2
  done
}

# socat's side of the connection: the node certificate, the joiner's verified by the CA and the
# pod name it announced.
connect_address() {
  if ((TLS == 1)); then
    printf 'OPENSSL:%s:%s,cert=%s,key=%s,cafile=%s,verify=1,commonname=%s,connect-timeout=10' \
      "$JOINER_HOST" "$JOINER_PORT" "$SSL_CERT" "$SSL_KEY" "$SSL_CA" "$JOINER_NAME"
  else
    printf 'TCP:%s:%s,connect-timeout=10' "$JOINER_HOST" "$JOINER_PORT"
  fi
}

# The backup, streamed: mariadb-backup copies THREADS files at a time, as the sst account
# (its password from the environment, never on a command line).
stream_backup() {
  local user=${WSREP_SST_OPT_AUTH%%:*}
  MYSQL_PWD=${WSREP_SST_OPT_AUTH#*:} mariadb-backup --defaults-file="$CNF" --backup --stream=xbstream \
    --target-dir="$WORK/backup" --datadir="$DATA" --socket="$SOCKET" --user="$user" --galera-info \
    --parallel="$THREADS" --databases-exclude=lost+found 2>"$WORK/backup.log" || {
    tail -n 30 "$WORK/backup.log" >&2
    log_error "mariadb-backup --backup failed (its log is above)"
    return 1
  }
}

# The whole stream: the info file, the backup (SST only), and the completion marker only when
# everything before it was sent.
produce_stream() {
  local kind=$1
  printf '%s %s %s\n' "$kind" "$GTID" "$DOMAIN" >"$WORK/$INFO_FILE"
  : >"$WORK/$COMPLETE_FILE"
  mbstream -c -C "$WORK" "$INFO_FILE" || return 1
  if [[ $kind == sst ]]; then stream_backup || return 1; fi
  mbstream -c -C "$WORK" "$COMPLETE_FILE"
}

run_donor() {
  local kind=sst t=$EPOCHREALTIME
  ((BYPASS == 0)) || kind=ist
  [[ $GTID =~ ^[0-9a-f-]{36}:-?[0-9]+$ ]] || die "--gtid '$GTID' is not uuid:seqno"
  parse_joiner_address
  mkdir -p "$WORK/backup"
  log_info "sending $kind at $GTID to $JOINER_NAME ($JOINER_HOST:$JOINER_PORT) $( ((TLS == 1)) && echo "with TLS, the joiner verified by $SSL_CA as $JOINER_NAME" || echo 'in plain text')"
  (
    set -o pipefail
    produce_stream "$kind" | zstd -1 -q -c -T"$THREADS" | socat -d -d -b "$NODE_STREAM_BLOCK" -u STDIN "$(connect_address)" 2> >(relay_socat_log)
  ) &
  wait $! || die "sending the $kind stream to $JOINER_NAME failed (the lines above say why)"
  wait_until_primary
  printf 'done %s\n' "$GTID" >&"$SERVER_FD"
  log_info "$kind sent to $JOINER_NAME in $(elapsed "$t") s"
}

main() {
  parse_args "$@"
  [[ $ROLE == joiner || $ROLE == donor ]] || die "usage: wsrep_sst_stream --role joiner|donor ... (run by mariadbd)"
  # stdout is mariadbd's pipe: only "ready", the position and "done" go there; logs go to stderr
  exec {SERVER_FD}>&1 1>&2
  trap on_exit EXIT
  trap 'exit 143' TERM INT
  read_settings
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/galera-sst.XXXXXX")
  watch_server
  if [[ $ROLE == joiner ]]; then run_joiner; else run_donor; fi
}

# Sourced (by the tests), it only defines the functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
