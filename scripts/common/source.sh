#!/usr/bin/env bash
# An external source (the source prop, src/core/external-source.ts): a MariaDB server outside the
# cluster, such as the database an application runs on today, that a new cluster copies when it
# is created (the seed) and then follows by asynchronous GTID replication until the cutover.
# Sourced by the start scripts, never run.
#
# Settings (the construct writes them; none set: no source):
#   NODE_SOURCE_HOST, NODE_SOURCE_PORT   where the source listens
#   NODE_SOURCE_DIR                      the source Secret as files: username, password, ca.crt (TLS)
#   NODE_SOURCE_TLS                      on: TLS, the source's certificate verified with ca.crt and
#                                        its host name; off: plain text
#   NODE_SOURCE_DATABASES                the databases to copy, comma-separated; empty: every one
#                                        but the system schemas
#   NODE_GTID_DOMAIN                     the cluster's own GTID domain, never one of the source's;
#                                        its server ids are 1000 x NODE_GTID_DOMAIN + 1..N
#
# The seed is logical (mariadb-dump --single-transaction --gtid: a consistent copy and the GTID
# position it ends at). It is loaded without binary logging: the cluster's replicas copy it
# physically, and the source's history stays the source's. The position goes into gtid_slave_pos,
# where the replication connection 'source' starts. What was seeded, and whether the cluster still
# follows, is a row of FOLLOW_TABLE: it replicates and is copied with the data, so whichever node
# takes writes next knows it, and a cutover (state 'promoted') outlives every restart.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

NODE_SOURCE_HOST=${NODE_SOURCE_HOST:-}
NODE_SOURCE_PORT=${NODE_SOURCE_PORT:-3306}
NODE_SOURCE_DIR=${NODE_SOURCE_DIR:-/etc/mariadb/source}
NODE_SOURCE_TLS=${NODE_SOURCE_TLS:-off}
NODE_SOURCE_DATABASES=${NODE_SOURCE_DATABASES:-}
NODE_GTID_DOMAIN=${NODE_GTID_DOMAIN:-0}
# The name of the replication connection (CHANGE MASTER 'source' ...).
SOURCE_CONNECTION=source
FOLLOW_TABLE=mysql.external_source
# A following node's connection retries every this many seconds while the source is away.
SOURCE_CONNECT_RETRY_SECONDS=${SOURCE_CONNECT_RETRY_SECONDS:-5}
SYSTEM_SCHEMAS="'mysql', 'information_schema', 'performance_schema', 'sys'"

source_configured() { [[ -n $NODE_SOURCE_HOST ]]; }

# The cluster's server ids are this + 1 .. this + N: clusters of distinct domains (a source made by
# this project and its follower) never share one.
server_id_base() { echo $((NODE_GTID_DOMAIN * 1000)); }

source_address() { printf '%s:%s\n' "$NODE_SOURCE_HOST" "$NODE_SOURCE_PORT"; }

# A source Secret key; fails naming it when it is missing or empty.
source_secret() {
  local file="$NODE_SOURCE_DIR/$1"
  [[ -s $file ]] || { log_error "the source Secret has no key '$1' (mounted at $NODE_SOURCE_DIR)"; return 1; }
  printf '%s' "$(<"$file")"
}

# The client option file of the source account (the password never goes on a command line).
source_client_cnf() {
  local cnf="$NODE_RUNTIME_DIR/source-client.cnf" user password
  user=$(source_secret username) && password=$(source_secret password) || return 1
  (
    umask 077
    printf '[client]\nuser=%s\npassword=%s\n' "$(cnf_quote "$user")" "$(cnf_quote "$password")" >"$cnf"
  )
  printf '%s\n' "$cnf"
}

# The clients' TLS options toward the source.
source_client_tls() {
  if [[ $NODE_SOURCE_TLS == on ]]; then
    printf '%s\n' --ssl "--ssl-ca=$NODE_SOURCE_DIR/ca.crt" --ssl-verify-server-cert
  else
    printf '%s\n' --skip-ssl
  fi
}

# The client arguments toward the source, one per line, as the source account: its option file,
# the address and TLS.
source_client_args() {
  local cnf
  cnf=$(source_client_cnf) || return 1
  printf '%s\n' "--defaults-extra-file=$cnf" "--host=$NODE_SOURCE_HOST" "--port=$NODE_SOURCE_PORT"
  source_client_tls
}

# source_client PROGRAM ARGS...: mariadb or mariadb-dump against the source (PROGRAM may be
# "timeout N mariadb": the last word is the client).
source_client() {
  local -a program args
  read -ra program <<<"$1"
  shift
  mapfile -t args < <(source_client_args)
  ((${#args[@]} > 0)) || return 1
  "${program[@]}" "${args[@]}" "$@"
}

source_sql() {
  source_client "timeout ${SQL_TIMEOUT:-10} mariadb" --connect-timeout=10 -N -B "$@"
}

# gtid_parts N LIST: part N of each GTID of a list (1 the domain, 2 the server id), one per line, each once.
gtid_parts() {
  tr ',' '\n' <<<"${2// /}" | awk -F- -v n="$1" 'NF == 3 { print $n }' | sort -u
}

# What makes a source impossible to follow without divergence, one line each (none: it can be):
# no binary log; a GTID domain of its history that is the cluster's own (their transactions
# would interleave in one domain); a server id of its history or its own that is one of the
# cluster's (a replica skips events with its own server id).
source_conflicts() {
  local info=$1 server_id log_bin binlog_pos d id
  IFS=$'\t' read -r server_id log_bin binlog_pos <<<"$info"
  [[ $log_bin == 1 || $log_bin == ON ]] ||
    echo "it writes no binary log (log_bin is off): a follower needs one; set log_bin and restart it"
  for d in $(gtid_parts 1 "$binlog_pos"); do
    ((d == NODE_GTID_DOMAIN)) &&
      echo "its history holds GTID domain $d, the cluster's own (gtidDomainId): choose another gtidDomainId"
  done
  for id in $( (echo "$server_id"; gtid_parts 2 "$binlog_pos") | sort -un); do
    ((id > $(server_id_base) && id <= $(server_id_base) + $(peer_count))) &&
      echo "server id $id (its own or in its history) is one of the cluster's ($(($(server_id_base) + 1))..$(($(server_id_base) + $(peer_count)))): choose another gtidDomainId (the cluster's server ids are 1000 x gtidDomainId + 1..N)"
  done
  return 0
}

# The databases the seed copies: NODE_SOURCE_DATABASES, or every database of the source but the
# system schemas.
seed_databases() {
  if [[ -n $NODE_SOURCE_DATABASES ]]; then
    tr ',' '\n' <<<"$NODE_SOURCE_DATABASES"
  else
    source_sql -e "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ($SYSTEM_SCHEMAS) ORDER BY 1"
  fi
}

# seed_from_source: on the local server of a new data directory (running, no client but us), the
# source's databases and the GTID position the copy ends at; dies naming what went wrong (the data
# directory is then initialized again at the next start).
seed_from_source() {
  local info conflicts databases pos header="$NODE_RUNTIME_DIR/seed-position" started=$SECONDS
  info=$(source_sql -e 'SELECT @@GLOBAL.server_id, @@GLOBAL.log_bin, @@GLOBAL.gtid_binlog_pos' 2>"$NODE_RUNTIME_DIR/source.err") ||
    die "the source $(source_address) did not answer as the source account: $(tail -n 1 "$NODE_RUNTIME_DIR/source.err")"
  conflicts=$(source_conflicts "$info")
  [[ -z $conflicts ]] || die "the source $(source_address) cannot be followed: ${conflicts//$'\n'/; }"
  databases=$(seed_databases) || die "could not list the databases of the source $(source_address)"
  [[ -n $databases ]] || log_warn "the source $(source_address) holds no database to copy; following it from its current position"
  log_info "seed: copying $(tr '\n' ' ' <<<"$databases")from $(source_address) (mariadb-dump --single-transaction --gtid)"
  rm -f "$header"
  # The dump names its position in a comment near its top; awk passes every line on and keeps that one.
  if ! {
    echo 'SET SESSION sql_log_bin = 0;'
    if [[ -n $databases ]]; then
      # shellcheck disable=SC2046  # one argument per database name (names are letters, digits, _ and $)
      source_client mariadb-dump --single-transaction --gtid --master-data=2 --routines --events --triggers --hex-blob \
        --databases $(tr '\n' ' ' <<<"$databases")
    else
      source_sql -e "SELECT CONCAT('-- SET GLOBAL gtid_slave_pos=''', @@GLOBAL.gtid_binlog_pos, ''';')"
    fi
  } | awk -v out="$header" '/^-- SET GLOBAL gtid_slave_pos=/ { print > out } { print }' |
    SQL_TIMEOUT=$((7 * 86400)) local_sql; then
    die "seed: copying from the source $(source_address) failed"
  fi
  pos=$(sed -n "s/^-- SET GLOBAL gtid_slave_pos='\([0-9,-]*\)';.*/\1/p" "$header" 2>/dev/null)
  [[ -f $header ]] || die "seed: the copy from $(source_address) carries no GTID position"
  record_seed "$pos" || die "seed: could not record the source's position $pos"
  log_info "seed: copied from $(source_address) in $((SECONDS - started)) s; it ends at the source's GTID ${pos:-(none: an empty history)}"
}

# seed_new_cluster [SERVER_ARGS...]: the copy of the source (seed_from_source) on a local server
# (start_local_server seed SERVER_ARGS...) of a new data directory, before it counts as data. It
# may take long: the heartbeat says the script lives.
seed_new_cluster() {
  (while sleep 10 && kill -0 $$ 2>/dev/null; do heartbeat; done) &
  local beat=$!
  start_local_server seed "$@"
  seed_from_source
  stop_local_server
  kill "$beat" 2>/dev/null
}

# record_seed POSITION: the follow record, and the position the copy ends at as this node's
# replication position. The copy was not binlogged, so the record is written once under each GTID
# of the position (the source's own: its domain, server id and seq): the last transaction of the
# copy is then in the cluster's binlog, where gtid_strict_mode needs it for a replica that asks
# for what comes after it. gtid_slave_pos then holds the source's position and the cluster's own
# domain (strict mode wants every domain of the binlog there).
record_seed() {
  local pos=$1 gtid d s n record
  record="DELETE FROM $FOLLOW_TABLE WHERE name = '$SOURCE_CONNECTION';
INSERT INTO $FOLLOW_TABLE (name, address, seeded_gtid, state) VALUES
  ('$SOURCE_CONNECTION', $(sql_quote "$(source_address)"), $(sql_quote "$pos"), 'following');"
  {
    cat <<SQL
CREATE TABLE IF NOT EXISTS $FOLLOW_TABLE (name VARCHAR(64) PRIMARY KEY, address VARCHAR(300) NOT NULL,
  seeded_gtid VARCHAR(2048) NOT NULL, state VARCHAR(16) NOT NULL, changed TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB;
$record
SQL
    # one transaction per GTID (a DELETE and an INSERT: binlogged even when the row stays the same)
    for gtid in ${pos//,/ }; do
      IFS=- read -r d s n <<<"$gtid"
      echo "SET SESSION gtid_domain_id = $d; SET SESSION server_id = $s; SET SESSION gtid_seq_no = $n;"
      echo "BEGIN; $record COMMIT;"
    done
    echo 'SET SESSION gtid_domain_id = @@GLOBAL.gtid_domain_id, SESSION server_id = @@GLOBAL.server_id;'
    echo 'SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos;'
  } | local_sql
}

# What this cluster's record says about its source: "following ADDRESS SINCE" or "promoted ADDRESS
# SINCE" (SINCE: the record's last change, UTC, e.g. 2026-12-07T14:20:01Z), or nothing (never
# seeded from a source). Fails when the server does not answer.
follow_record() {
  local tables
  tables=$(local_sql -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'external_source'") ||
    return 1
  ((tables == 1)) || return 0
  local_sql -e "SET SESSION time_zone = '+00:00';
    SELECT CONCAT(state, ' ', address, ' ', DATE_FORMAT(changed, '%Y-%m-%dT%TZ')) FROM $FOLLOW_TABLE WHERE name = '$SOURCE_CONNECTION'"
}

# Succeeds when the node that takes writes must follow the source instead: a source is
# configured and the cluster was seeded from it and not promoted since. Returns 2 when the
# server cannot tell (the caller must not open writes on a guess).
follows_source() {
  source_configured || return 1
  local record
  record=$(follow_record) || return 2
  case $record in
    following\ *) return 0 ;;
    promoted\ *) return 1 ;;
    '')
      log_error "source $(source_address) is configured, but this cluster was not created from it: it does not follow it (a cluster copies its source only when it is created)"
      return 1
      ;;
  esac
  return 1
}

# Starts (or restarts) the connection 'source' on this node from gtid_slave_pos. It never
# acknowledges the source's commits (a semi-sync source must count only its own replicas). It
# skips the source's system schema: the cluster has its own accounts (the seed copies none), and
# an account statement of the source (a GRANT, a password change) would stop the following on
# an account the cluster lacks. A skipped transaction moves gtid_slave_pos but is not in this
# node's binary log (become_replica starts from history_position, not gtid_slave_pos).
start_following() {
  local user password ssl
  user=$(source_secret username) && password=$(source_secret password) || return 1
  if [[ $NODE_SOURCE_TLS == on ]]; then
    ssl="MASTER_SSL=1, MASTER_SSL_CA=$(sql_quote "$NODE_SOURCE_DIR/ca.crt"), MASTER_SSL_VERIFY_SERVER_CERT=1"
  else
    ssl='MASTER_SSL=0, MASTER_SSL_VERIFY_SERVER_CERT=0'
  fi
  # anew from gtid_slave_pos (a connection left by an earlier primary, or a copied one, is dropped first)
  stop_following || return 1
  local_sql <<SQL
SET GLOBAL rpl_semi_sync_slave_enabled = OFF;
CHANGE MASTER '$SOURCE_CONNECTION' TO MASTER_HOST=$(sql_quote "$NODE_SOURCE_HOST"), MASTER_PORT=$NODE_SOURCE_PORT,
  MASTER_USER=$(sql_quote "$user"), MASTER_PASSWORD=$(sql_quote "$password"), MASTER_USE_GTID=slave_pos,
  IGNORE_DOMAIN_IDS=($NODE_GTID_DOMAIN), MASTER_CONNECT_RETRY=$SOURCE_CONNECT_RETRY_SECONDS, MASTER_HEARTBEAT_PERIOD=2, $ssl;
SET GLOBAL $SOURCE_CONNECTION.replicate_wild_ignore_table = 'mysql.%';
START SLAVE '$SOURCE_CONNECTION';
SQL
}

# Stops and forgets the connection 'source' (none: nothing to do).
stop_following() {
  local_sql -e "SHOW SLAVE '$SOURCE_CONNECTION' STATUS" >/dev/null 2>&1 || return 0
  local_sql -e "STOP SLAVE '$SOURCE_CONNECTION'; RESET SLAVE '$SOURCE_CONNECTION' ALL"
}

# SHOW SLAVE 'source' STATUS, vertical, one "Key: value" per line; empty when there is no such connection.
source_status() {
  local_sql --column-names -E -e "SHOW SLAVE '$SOURCE_CONNECTION' STATUS" 2>/dev/null | trim_leading_spaces
}

# One value of `SHOW SLAVE STATUS` (vertical output, on stdin), empty when this node replicates
# from nobody: the first line "KEY: value" (leading blanks ignored).
slave_status_value() {
  local -A values=()
  read_vertical values
  printf '%s\n' "${values[$1]:-}"
}

# read_vertical ARRAY: the "Key: value" lines of a vertical (-E) result on stdin into the
# associative array ARRAY (the first of a key wins; row separators are skipped).
read_vertical() {
  local -n _vertical=$1
  local line key
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    [[ $line == *:* && $line != '***'* ]] || continue
    key=${line%%:*} line=${line#*:}
    [[ -v "_vertical[$key]" ]] || _vertical["$key"]=${line#"${line%%[![:space:]]*}"}
  done
}

# Logs a change of the following connection's state, once: a stopped SQL thread (a conflict: the
# cluster no longer follows until a human repairs it) is an error, an unreachable source a
# warning (it retries). FOLLOW_REPORTED is the state last logged ('' after a new start).
FOLLOW_REPORTED=''
report_following() {
  local status now
  status=$(source_status)
  if [[ $(slave_status_value Slave_SQL_Running <<<"$status") != Yes ]]; then
    now=stopped
  elif [[ $(slave_status_value Slave_IO_Running <<<"$status") != Yes && $(slave_status_value Last_IO_Errno <<<"$status") != 0 ]]; then
    now=unreachable
  else
    now=following
  fi
  [[ $now == "$FOLLOW_REPORTED" ]] && return 0
  case $now in
    stopped) log_error "following the source $(source_address) stopped: $(slave_status_value Last_SQL_Error <<<"$status"). Nothing more of the source is applied until a human repairs it (docs/migration.md, \"When following stops\")" ;;
    unreachable) log_warn "the source $(source_address) cannot be read: $(slave_status_value Last_IO_Error <<<"$status"); retrying every ${SOURCE_CONNECT_RETRY_SECONDS}s" ;;
    following) [[ -z $FOLLOW_REPORTED ]] || log_info "following the source $(source_address) again" ;;
  esac
  FOLLOW_REPORTED=$now
}

# SHOW SLAVE STATUS fields the status command reports (the others stay in the vertical output of
# SHOW SLAVE STATUS itself).
STATUS_SLAVE_FIELDS=(Master_Host Slave_IO_Running Slave_SQL_Running Seconds_Behind_Master Gtid_IO_Pos
  Last_IO_Errno Last_IO_Error Last_SQL_Errno Last_SQL_Error)

# status_fields PREFIX STATUS: the STATUS_SLAVE_FIELDS of a SHOW SLAVE STATUS (none when it is empty).
status_fields() {
  local key
  [[ -n $2 ]] || return 0
  for key in "${STATUS_SLAVE_FIELDS[@]}"; do
    printf '%s%s\t%s\n' "$1" "$key" "$(slave_status_value "$key" <<<"$2" | tr '\t' ' ')"
  done
}

# "name<TAB>value" lines of a cluster with an external source, for the status command: its follow
# record (follow_record), whether this node follows (following 1|0: FOLLOW_FILE, which each
# topology's library names) and, while it does, the fields of its connection prefixed source_.
source_status_lines() {
  source_configured || return 0
  printf 'follow_record\t%s\n' "$(follow_record 2>/dev/null | tr '\t' ' ')"
  if [[ -f $FOLLOW_FILE ]]; then printf 'following\t1\n'; else printf 'following\t0\n'; fi
  status_fields source_ "$(source_status)"
}

# --- the cutover ------------------------------------------------------------------------------

# The source's GTID position (its binary log's); fails when it does not answer.
source_position() {
  source_sql -e 'SELECT @@GLOBAL.gtid_binlog_pos'
}

# source_read_only 1|0: stops (or allows again) the writes of the source's clients. Its account
# needs READ_ONLY ADMIN (or SUPER). Accounts with that privilege still write, and so do the other
# nodes of a Galera source: source_position is read again after the cutover to tell.
source_read_only() {
  source_sql -e "SET GLOBAL read_only = $1"
}

# give_source_writes_back MODE: after a cutover that did not happen, the source takes writes
# again, unless a human made it read-only (MODE 1: --source-is-read-only).
give_source_writes_back() {
  (($1 == 1)) || source_read_only 0 || log_error "the source $(source_address) stays read-only: set read_only=0 on it by hand"
}

# applied_up_to POSITION SECONDS: succeeds once this node has applied the source up to POSITION
# (gtid_slave_pos), within SECONDS (a wait of at most 5 s at a time, the heartbeat between).
applied_up_to() {
  local pos=$1 deadline=$((SECONDS + $2)) answer
  while :; do
    heartbeat
    answer=$(SQL_TIMEOUT=15 local_sql -e "SELECT MASTER_GTID_WAIT($(sql_quote "$pos"), 5)") || return 1
    [[ $answer == 0 ]] && return 0
    ((SECONDS < deadline)) || return 1
  done
}

# The follow record says the cluster no longer follows: no primary of it follows the source again.
record_promoted() {
  local_sql -e "UPDATE $FOLLOW_TABLE SET state = 'promoted', changed = NOW() WHERE name = '$SOURCE_CONNECTION'"
}

# print_cutover_next_steps WHERE: what the application must change after a cutover (WHERE: where
# ProxySQL routes the writes); no password is printed, only where it is.
print_cutover_next_steps() {
  cat <<EOF
Next, for the application:
  - Connect through the ProxySQL Service in front of this cluster (it routes writes
    $1), with the accounts of this cluster (Secret $NODE_SECRET_NAME, and the
    declared users), instead of $(source_address).
  - If the application reaches the source through a Service you control, point that Service at ProxySQL
    (an ExternalName Service naming ProxySQL's, or ProxySQL's selector and port).
  - Remove source: from this cluster's values at the next rollout. Until then it stays as it is: no
    node follows the source again (the follow record says 'promoted').
EOF
}

# parse_cutover_args COMMAND ARGS...: a cutover command's options into CUTOVER_SECONDS (--seconds
# N: how long each wait for the source's position may take; 60) and CUTOVER_MODE (0: the command
# makes the source read-only; 1: --source-is-read-only, a human did; 2: --force, the source is
# gone); dies with the usage on anything else.
parse_cutover_args() {
  local usage="usage: $1 [--source-is-read-only | --force] [--seconds N (how long each wait for the source's position may take; default 60)]"
  shift
  CUTOVER_SECONDS=60 CUTOVER_MODE=0
  while (($# > 0)); do
    case $1 in
      --source-is-read-only) ((CUTOVER_MODE == 0)) || die "$usage"; CUTOVER_MODE=1 ;;
      --force) ((CUTOVER_MODE == 0)) || die "$usage"; CUTOVER_MODE=2 ;;
      --seconds) [[ ${2:-} =~ ^[1-9][0-9]{0,4}$ ]] || die "$usage"; CUTOVER_SECONDS=$2; shift ;;
      *) die "$usage" ;;
    esac
    shift
  done
}

# print_forced_promotion GTID WHERE: what a forced promotion says once this node takes writes:
# the last GTID of the source the cluster holds (whatever the source committed after it may be
# lost), then the next steps (WHERE: as for print_cutover_next_steps).
print_forced_promotion() {
  log_warn "forced promotion done: $POD_NAME takes writes without the source. POSSIBLY LOST: every transaction the source committed after GTID ${1:-(none received)} (the last this cluster received); when the source is back, its binary log from that position lists them (mariadb-binlog --start-position=$1 ...)"
  print_cutover_next_steps "$2"
  cat <<EOF
  - The old source, if it comes back, may hold transactions this cluster does not have (after GTID $1):
    never let it take writes or follow this cluster as it is; recreate it from this cluster.
EOF
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }
