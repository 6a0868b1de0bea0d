#!/usr/bin/env bash
# The binlog archiver (the "archiver" container of the <cluster>-binlog-archiver Deployment: one
# pod per cluster, the MariaDB image). Every ARCHIVE_SECONDS it asks a node's binlog endpoint
# (binlog-endpoint.sh, mutual TLS with the backup job's certificate) to close its binlog file
# when there is something new, fetches the closed files that hold transactions of the cluster's
# GTID domain past the archive's last one, and publishes each as a segment (binlog-lib.sh):
#
#   volume  into ARCHIVE_DIR (<backups claim>/binlogs), the manifest last, by rename
#   s3      into the outbox ARCHIVE_DIR, which binlog-upload.sh (the rclone container) empties
#
# It keeps to one node while that node serves and moves to another when it does not (a dead pod,
# a node that is no longer Synced or running). The archive's last seq is where it resumes on any
# node: the files of the new node are listed from the one that holds the next transaction, and
# a file's transactions up to the last seq are left out (startAfter), so the chain has no gap
# and no duplicate. When no node holds the next transaction any more (binlogs expired before they
# were archived), the gap is logged, counted in the metrics and marked in the segment after it.
#
#   binlog-archive.sh run       the container's command: the loop and the metrics listener
#   binlog-archive.sh metrics   one scrape (run by socat): Prometheus text over HTTP
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=backup-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# shellcheck source-path=SCRIPTDIR source=binlog-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/binlog-lib.sh"
LOG_COMPONENT=binlog-archiver

: "${NODE_CLUSTER_NAME:?NODE_CLUSTER_NAME is not set}"
: "${ARCHIVE_DIR:?ARCHIVE_DIR is not set}"
ARCHIVE_MODE=${ARCHIVE_MODE:-volume}
ARCHIVE_SECONDS=${ARCHIVE_SECONDS:-5}
ARCHIVE_DOMAIN=${ARCHIVE_DOMAIN:-0}
ARCHIVE_WORK=${ARCHIVE_WORK:-/tmp/archiver}
ARCHIVE_METRICS_PORT=${ARCHIVE_METRICS_PORT:-9106}
NODE_BINLOG_PORT=${NODE_BINLOG_PORT:-4446}
BACKUP_TLS_DIR=${BACKUP_TLS_DIR:-/etc/mariadb/backup-tls}
# volume mode: the full backups, whose oldest GTID the retention keeps segments for
BACKUP_DIR=${BACKUP_DIR:-}

ARCHIVED=0 ARCHIVED_GTID='' SOURCE_HOST='' GAPS=0 ERRORS=0

# --- the archive's state -------------------------------------------------------------------------

# The last published seq and GTID: the newest segment in ARCHIVE_DIR, or (s3) what the uploader
# found in the bucket when it started, whichever is newer.
load_archived() {
  local newest='' file
  if [[ $ARCHIVE_MODE == s3 ]]; then
    log_info "waiting for the uploader to read the bucket's last segment"
    until [[ -f $ARCHIVE_DIR/.bucket-archived ]]; do sleep 1; done
    read -r ARCHIVED ARCHIVED_GTID <"$ARCHIVE_DIR/.bucket-archived" || true
    ARCHIVED=${ARCHIVED:-0}
  fi
  for file in "$ARCHIVE_DIR/$NODE_CLUSTER_NAME-binlog-$ARCHIVE_DOMAIN-"*.json; do
    [[ -e $file ]] && newest=$file
  done
  if [[ -n $newest ]] && (($(segment_last_seq "$newest") > ARCHIVED)); then
    ARCHIVED=$(segment_last_seq "$newest") ARCHIVED_GTID=$(segment_value "$newest" lastGtid)
  fi
  log_info "the archive of domain $ARCHIVE_DOMAIN ends at ${ARCHIVED_GTID:-nothing (seq $ARCHIVED)}"
}

# The published position as the metrics see it: volume, the last segment; s3, the last upload.
published_seq() {
  if [[ $ARCHIVE_MODE == s3 ]]; then
    local seq=0
    [[ -f $ARCHIVE_DIR/.uploaded ]] && read -r seq _ <"$ARCHIVE_DIR/.uploaded"
    printf '%s\n' "${seq:-0}"
  else
    cut -d' ' -f1 "$ARCHIVE_WORK/archived" 2>/dev/null || echo 0
  fi
}

# --- talking to a node ---------------------------------------------------------------------------

# request HOST LINE: sends one request line to HOST's binlog endpoint and prints the answer.
# (ignoreeof: the request side stays open, so neither socat ends the connection early.)
request() {
  printf '%s\n' "$2" | socat -T 120 STDIO,ignoreeof \
    "OPENSSL:$1:$NODE_BINLOG_PORT,cert=$BACKUP_TLS_DIR/tls.crt,key=$BACKUP_TLS_DIR/tls.key,cafile=$BACKUP_TLS_DIR/ca.crt,connect-timeout=5" \
    2>>"$ARCHIVE_WORK/socat.log"
}

# The hosts to ask, the current source first.
candidate_hosts() {
  [[ -n $SOURCE_HOST ]] && printf '%s\n' "$SOURCE_HOST"
  peer_hosts | grep -vx "${SOURCE_HOST:-^$}" || true
}

# fetch HOST FILE OUT: a closed binlog file into OUT, its size checked against the header.
fetch() {
  local header size
  exec 3< <(request "$1" "FILE $2")
  IFS= read -r -u 3 header || { exec 3<&-; log_warn "$1 did not answer the request for $2"; return 1; }
  case $header in
    OK\ *) size=${header#OK } ;;
    *) exec 3<&-; log_warn "$1 refused $2: ${header#ERROR }"; return 1 ;;
  esac
  cat <&3 >"$3"
  exec 3<&-
  [[ $(stat -c %s "$3") == "$size" ]] || { log_warn "$2 from $1 arrived truncated ($(stat -c %s "$3") of $size bytes)"; return 1; }
}

# --- segments ----------------------------------------------------------------------------------

write_segment_manifest() {
  local out=$1 name=$2 pod=$3 file=$4 first=$5 last=$6 gap=$7 size sum
  size=$(stat -c %s "$ARCHIVE_DIR/$name.binlog.partial")
  sum=$(sha256sum "$ARCHIVE_DIR/$name.binlog.partial" | cut -d' ' -f1)
  {
    printf '{\n'
    printf '  "name": %s,\n' "$(json_string "$name")"
    printf '  "file": %s,\n' "$(json_string "$name.binlog")"
    printf '  "format": "MariaDB binary log file, as the node wrote it",\n'
    printf '  "cluster": %s,\n' "$(json_string "$NODE_CLUSTER_NAME")"
    printf '  "sourcePod": %s,\n' "$(json_string "$pod")"
    printf '  "sourceFile": %s,\n' "$(json_string "$file")"
    printf '  "domain": %s,\n' "$ARCHIVE_DOMAIN"
    printf '  "startAfter": %s,\n' "$(json_string "$ARCHIVED_GTID")"
    printf '  "firstGtid": %s,\n' "$(json_string "$(cut -d' ' -f2 <<<"$first")")"
    printf '  "lastGtid": %s,\n' "$(json_string "$(cut -d' ' -f2 <<<"$last")")"
    printf '  "firstEventTime": %s,\n' "$(json_string "$(rfc3339_of_compact "$(cut -d' ' -f3 <<<"$first")")")"
    printf '  "lastEventTime": %s,\n' "$(json_string "$(rfc3339_of_compact "$(cut -d' ' -f3 <<<"$last")")")"
    printf '  "gapBefore": %s,\n' "$gap"
    printf '  "sizeBytes": %s,\n' "$size"
    printf '  "sha256": %s,\n' "$(json_string "$sum")"
    printf '  "archived": %s\n' "$(json_string "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
    printf '}\n'
  } >"$out"
}

# archive_file HOST POD FILE START ALLOW_GAP: fetches FILE (whose Gtid_list says the node had
# written up to seq START before it) and publishes its transactions past the archive's last seq as
# a segment. Returns 2 when they do not follow on (a gap) and ALLOW_GAP is 0.
#
# Seqs may skip on Galera: every node gives a statement it replicates in total order (DDL) a seq
# and then writes nothing for one that changes nothing (a CREATE ... IF NOT EXISTS of an existing
# object), so no node's binlog holds that seq. A node's binlog is written in commit order, so the
# transactions follow on when the file's first seq is the next one, or when this node's binlog
# shows that it wrote nothing between the archive's last seq and them: the file starts right after
# it (START) or holds it. Otherwise the seqs in between are gone from this node.
archive_file() {
  local host=$1 pod=$2 file=$3 start=$4 allow_gap=$5 tmp="$ARCHIVE_WORK/$3" all gtids first last fseq lseq name gap=false
  fetch "$host" "$file" "$tmp" || return 1
  all=$(binlog_gtids "$tmp" "$ARCHIVE_DOMAIN")
  gtids=$(awk -v a="$ARCHIVED" '$1 > a' <<<"$all")
  if [[ -z $gtids ]]; then rm -f "$tmp"; return 0; fi
  first=$(head -n 1 <<<"$gtids") last=$(tail -n 1 <<<"$gtids")
  fseq=${first%% *} lseq=${last%% *}
  # (an empty Gtid_list, start 0, proves nothing: a binlog reset by a clone or a state transfer)
  if ((fseq != ARCHIVED + 1 && (start != ARCHIVED || ARCHIVED == 0))) && ! grep -q "^$ARCHIVED " <<<"$all"; then
    if ((allow_gap == 0)); then rm -f "$tmp"; return 2; fi
    if ((ARCHIVED == 0)); then
      # a new archive starts where the binlogs of the nodes that serve it start (primary/replica:
      # a replica's begins at its clone); a backup older than that start cannot be replayed from
      log_info "the archive starts at $(cut -d' ' -f2 <<<"$first"): no node that serves it has an earlier transaction of domain $ARCHIVE_DOMAIN in its binlog"
    else
      gap=true GAPS=$((GAPS + 1))
      log_error "gap: no node holds seq $((ARCHIVED + 1))..$((fseq - 1)) of domain $ARCHIVE_DOMAIN any more; archiving on from $(cut -d' ' -f2 <<<"$first"). A restore to a point inside the gap is refused; take a full backup"
    fi
  fi
  if ! awk 'NR > 1 && $1 <= prev { exit 1 } { prev = $1 }' <<<"$gtids"; then
    rm -f "$tmp"
    log_error "$file of $pod holds seqs of domain $ARCHIVE_DOMAIN out of order or repeated ($fseq..$lseq); not archived"
    return 1
  fi
  name=$(segment_name "$NODE_CLUSTER_NAME" "$ARCHIVE_DOMAIN" "$fseq" "$lseq")
  mv -f "$tmp" "$ARCHIVE_DIR/$name.binlog.partial"
  write_segment_manifest "$ARCHIVE_DIR/$name.json.partial" "$name" "$pod" "$file" "$first" "$last" "$gap"
  mv -f "$ARCHIVE_DIR/$name.binlog.partial" "$ARCHIVE_DIR/$name.binlog"
  mv -f "$ARCHIVE_DIR/$name.json.partial" "$ARCHIVE_DIR/$name.json"
  ARCHIVED=$lseq ARCHIVED_GTID=$(cut -d' ' -f2 <<<"$last")
  printf '%s %s\n' "$ARCHIVED" "$ARCHIVED_GTID" >"$ARCHIVE_WORK/archived"
}

# archive_from HOST LISTING ALLOW_GAP: archives the closed files of a LIST answer in order.
archive_from() {
  local host=$1 listing=$2 allow_gap=$3 pod flush_at pos kinds=() names=() starts=() kind name size start i rc
  read -r _ pod flush_at pos <<<"$(head -n 1 <<<"$listing")"
  # A node behind the archive (a lagging replica, or a cluster restored to an earlier point that
  # writes to the archive of its past) is passed over: archiving from it would skip its new
  # transactions as archived already.
  if (($(seq_of_domain "$pos" "$ARCHIVE_DOMAIN") < ARCHIVED)); then
    log_warn "$pod is at $pos, behind the archive's end $ARCHIVED_GTID; not archiving from it"
    return 1
  fi
  while read -r kind name size start; do
    [[ $kind == FILE || $kind == ACTIVE ]] || continue
    kinds+=("$kind") names+=("$name") starts+=("$start")
  done <<<"$listing"
  ((${#names[@]} > 0)) || return 1
  for ((i = 0; i + 1 < ${#names[@]}; i++)); do
    ((starts[i + 1] > ARCHIVED)) || continue
    rc=0
    archive_file "$host" "$pod" "${names[i]}" "${starts[i]}" "$allow_gap" || rc=$?
    ((rc == 0)) || return "$rc"
  done
  # everything the node had committed when it closed its file is archived now
  if (($(seq_of_domain "$pos" "$ARCHIVE_DOMAIN") <= ARCHIVED)); then
    printf '%s %s\n' "$flush_at" "$(seq_of_domain "$pos" "$ARCHIVE_DOMAIN")" >>"$ARCHIVE_WORK/cycles"
  fi
  printf '%s\n' "$(seq_of_domain "$pos" "$ARCHIVE_DOMAIN")" >"$ARCHIVE_WORK/node-seq"
  [[ $host == "$SOURCE_HOST" ]] || log_info "archiving from $pod"
  SOURCE_HOST=$host
}

# One round: the first node that serves, the current one first. A node that lacks the next
# transaction is passed over for one that has it; only when none has it is the gap accepted.
cycle() {
  local host listing header rc gap_seen=0 allow_gap
  for allow_gap in 0 1; do
    ((allow_gap == 1 && gap_seen == 0)) && break
    while IFS= read -r host; do
      listing=$(request "$host" "LIST $ARCHIVE_DOMAIN $ARCHIVED") || true
      header=$(head -n 1 <<<"$listing")
      if [[ $header != OK\ * || $(tail -n 1 <<<"$listing") != END ]]; then
        [[ $header == ERROR\ * ]] && log_warn "$(pod_of_host "$host"): ${header#ERROR }"
        continue
      fi
      rc=0
      archive_from "$host" "$listing" "$allow_gap" || rc=$?
      ((rc == 0)) && return 0
      ((rc == 2)) && gap_seen=1
    done < <(candidate_hosts)
  done
  return 1
}

# --- retention (volume; the uploader does it in the bucket) -------------------------------------

# Segments wholly before the oldest kept full backup's GTID are removed: exactly what the kept
# backups need stays.
prune_segments() {
  [[ $ARCHIVE_MODE == volume && -n $BACKUP_DIR ]] || return 0
  local oldest gtid keep file removed=0
  oldest=$(find "$BACKUP_DIR" -maxdepth 1 -name "$NODE_CLUSTER_NAME-*.json" -printf '%f\n' 2>/dev/null | sort | head -n 1)
  [[ -n $oldest ]] || return 0
  gtid=$(sed -n 's/^  "gtid": "\(.*\)",\{0,1\}$/\1/p' "$BACKUP_DIR/$oldest")
  keep=$(seq_of_domain "$gtid" "$ARCHIVE_DOMAIN")
  for file in "$ARCHIVE_DIR/$NODE_CLUSTER_NAME-binlog-$ARCHIVE_DOMAIN-"*.json; do
    [[ -e $file ]] || continue
    (($(segment_last_seq "$file") <= keep)) || continue
    rm -f "${file%.json}.binlog" "$file"
    removed=$((removed + 1))
  done
  ((removed == 0)) || log_info "retention: removed $removed segments before the oldest kept backup ${oldest%.json} (seq $keep)"
}

# --- metrics -------------------------------------------------------------------------------------

metrics() {
  local published node_seq complete_at=0 now flush seq lag_seconds gtid=''
  published=$(published_seq)
  node_seq=$(cat "$ARCHIVE_WORK/node-seq" 2>/dev/null || echo 0)
  now=$(date +%s)
  while read -r flush seq; do
    ((seq <= published && flush > complete_at)) && complete_at=$flush
  done < <(tail -n 2000 "$ARCHIVE_WORK/cycles" 2>/dev/null)
  ((complete_at > 0)) || complete_at=$(cat "$ARCHIVE_WORK/started")
  lag_seconds=$((now - complete_at))
  if [[ $ARCHIVE_MODE == s3 && -f $ARCHIVE_DIR/.uploaded ]]; then read -r _ gtid _ <"$ARCHIVE_DIR/.uploaded"; else read -r _ gtid <"$ARCHIVE_WORK/archived" || true; fi
  local body
  body=$(
    printf '# HELP mariadb_binlog_archive_lag_seconds Seconds since the moment up to which every committed transaction is archived.\n'
    printf '# TYPE mariadb_binlog_archive_lag_seconds gauge\nmariadb_binlog_archive_lag_seconds %s\n' "$lag_seconds"
    printf '# HELP mariadb_binlog_archive_lag_transactions Transactions the source node had committed that the archive lacks.\n'
    printf '# TYPE mariadb_binlog_archive_lag_transactions gauge\nmariadb_binlog_archive_lag_transactions %s\n' "$((node_seq > published ? node_seq - published : 0))"
    printf '# HELP mariadb_binlog_archive_last_seq The seq of the last archived transaction of the domain.\n'
    printf '# TYPE mariadb_binlog_archive_last_seq gauge\nmariadb_binlog_archive_last_seq{domain="%s",gtid="%s"} %s\n' "$ARCHIVE_DOMAIN" "$gtid" "$published"
    printf '# HELP mariadb_binlog_archive_gaps_total Gaps found in the chain since the archiver started.\n'
    printf '# TYPE mariadb_binlog_archive_gaps_total counter\nmariadb_binlog_archive_gaps_total %s\n' "$(cat "$ARCHIVE_WORK/gaps" 2>/dev/null || echo 0)"
    printf '# HELP mariadb_binlog_archive_errors_total Rounds in which no node could be archived from.\n'
    printf '# TYPE mariadb_binlog_archive_errors_total counter\nmariadb_binlog_archive_errors_total %s\n' "$(cat "$ARCHIVE_WORK/errors" 2>/dev/null || echo 0)"
  )
  printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %s\r\n\r\n%s\n' "$((${#body} + 1))" "$body"
}

run() {
  mkdir -p "$ARCHIVE_WORK" "$ARCHIVE_DIR"
  date +%s >"$ARCHIVE_WORK/started"
  rm -f "$ARCHIVE_DIR"/*.partial
  load_archived
  printf '%s %s\n' "$ARCHIVED" "$ARCHIVED_GTID" >"$ARCHIVE_WORK/archived"
  socat "TCP-LISTEN:$ARCHIVE_METRICS_PORT,reuseaddr,fork" "EXEC:$0 metrics" 2>>"$ARCHIVE_WORK/socat.log" &
  local round=0 next
  while true; do
    next=$((SECONDS + ARCHIVE_SECONDS))
    if ! cycle; then
      ERRORS=$((ERRORS + 1))
      log_warn "no node could be archived from this round ($ERRORS so far); trying again"
    fi
    printf '%s\n' "$ERRORS" >"$ARCHIVE_WORK/errors"
    printf '%s\n' "$GAPS" >"$ARCHIVE_WORK/gaps"
    round=$((round + 1))
    ((round % 60 == 0)) && prune_segments
    while ((SECONDS < next)); do sleep 0.5; done
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    run) run ;;
    metrics) metrics ;;
    *) die "usage: $0 run|metrics" ;;
  esac
fi
