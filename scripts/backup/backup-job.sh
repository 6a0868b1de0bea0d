#!/usr/bin/env bash
# The backup job of either topology (the CronJob's "backup" container, the MariaDB image). No
# Kubernetes API, no kubectl exec: it asks the nodes' state ports which of them may serve,
# streams a physical backup from that node's backup endpoint over mutual TLS to the destination,
# then proves it restores (the stored file extracted, then mariadb-backup --prepare), and writes
# it with a manifest:
#
#   <dir>/<cluster>-<UTC time>.xb.zst   the xbstream of mariadb-backup, zstd-compressed
#   <dir>/<cluster>-<UTC time>.json     time, topology, source pod, position, size, sha256, version
#
# A backup exists once its manifest does (written last, by rename); anything else in the
# directory is a leftover of a failed run and is removed by the next one. With BACKUP_PRUNE=1
# (a volume destination) it then applies the retention; for S3, backup-upload.sh does.
#
# The source node and the position are the topology's (backup-<BACKUP_TOPOLOGY>.sh): on Galera a
# Synced node that is not ProxySQL's writer when there is one, its uuid:seqno and GTID; on
# primary/replica a ready replica, never the primary, and the GTID the copy ends at.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=backup-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# shellcheck source-path=SCRIPTDIR source=backup-retention.sh
source "$(dirname "${BASH_SOURCE[0]}")/backup-retention.sh"
LOG_COMPONENT=backup

: "${NODE_CLUSTER_NAME:?NODE_CLUSTER_NAME is not set}"
: "${BACKUP_DIR:?BACKUP_DIR is not set}"
BACKUP_SCRATCH_DIR=${BACKUP_SCRATCH_DIR:-$BACKUP_DIR/.verify}
NODE_BACKUP_PORT=${NODE_BACKUP_PORT:-4445}
BACKUP_TLS_DIR=${BACKUP_TLS_DIR:-/etc/mariadb/backup-tls}
BACKUP_RETAIN_COUNT=${BACKUP_RETAIN_COUNT:-7}
BACKUP_RETAIN_DAYS=${BACKUP_RETAIN_DAYS:-30}
BACKUP_PRUNE=${BACKUP_PRUNE:-0}
BACKUP_SOURCE_WAIT_SECONDS=${BACKUP_SOURCE_WAIT_SECONDS:-120}
BACKUP_PARTIAL_ROUNDS=${BACKUP_PARTIAL_ROUNDS:-5}

SOURCE_POD='' SOURCE_HOST=''
NAME=''
# Read from the prepared backup by prove (the position by the topology's read_position).
SERVER_VERSION=''
# The sha256 of the stored stream, taken while prove reads it back.
STREAM_SHA256=''
# When main started, in microseconds since the epoch (the job's clock in its logs and manifest).
JOB_STARTED_US=''

# --- which node --------------------------------------------------------------------------

# Asks the state ports until every node answered (so that the writer, or the primary, is known)
# and the topology's pick_source names a node. A node that stays silent for BACKUP_PARTIAL_ROUNDS
# rounds is taken to be down, and the backup comes from the nodes that answered; none for
# BACKUP_SOURCE_WAIT_SECONDS is a failure. (A new pod's address may take a moment to be allowed
# by the nodes' NetworkPolicy, and a node may be between two states.)
choose_source() {
  local picked lines answered round=0 deadline=$((SECONDS + BACKUP_SOURCE_WAIT_SECONDS))
  while true; do
    round=$((round + 1))
    lines=$(collect_peer_states)
    answered=$(grep -c . <<<"$lines" || true)
    if picked=$(pick_source <<<"$lines") && ((answered == $(peer_count) || round >= BACKUP_PARTIAL_ROUNDS)); then
      break
    fi
    ((SECONDS < deadline)) || die "$NO_SOURCE (answers: $answered of $(peer_count), for ${BACKUP_SOURCE_WAIT_SECONDS}s); no backup taken"
    log_info "$answered of $(peer_count) nodes answered${picked:+ (${picked%% *} could serve)}; asking again"
    picked=''
    sleep 3
  done
  SOURCE_POD=${picked%% *}
  SOURCE_HOST=$(host_of_ordinal "$(ordinal_of "$SOURCE_POD")")
  log_info "source: $SOURCE_POD (${picked#* })"
}

# --- the stream ---------------------------------------------------------------------------

# Stores the backup stream in $1 as it arrives, and nothing else: the source node serves the
# backup (mariadb-backup, its BACKUP STAGE locks, zstd) only until the last byte is on the volume,
# and the proof reads the stored file afterwards (prove). The server's certificate must name the
# host (socat's default commonname check) and be signed by the cluster CA; ours proves we are the
# backup job.
fetch() {
  local out=$1 header errlog="$BACKUP_SCRATCH_DIR.socat.log"
  exec 3< <(socat -b "$NODE_STREAM_BLOCK" -u "OPENSSL:$SOURCE_HOST:$NODE_BACKUP_PORT,cert=$BACKUP_TLS_DIR/tls.crt,key=$BACKUP_TLS_DIR/tls.key,cafile=$BACKUP_TLS_DIR/ca.crt,connect-timeout=10" STDOUT 2>"$errlog")
  IFS= read -r -u 3 header || die "backup $NAME: $SOURCE_POD's backup endpoint did not answer: $(tail -n 3 "$errlog" | tr '\n' ' ')"
  case $header in
    OK\ *) log_info "backup $NAME: $SOURCE_POD streams (${header#OK }), $(seconds_since "$JOB_STARTED_US") s after the job started" ;;
    ERROR\ *) die "backup $NAME: $SOURCE_POD refused: ${header#ERROR }" ;;
    *) die "backup $NAME: $SOURCE_POD answered something else than a backup stream" ;;
  esac
  cat <&3 >"$out" || die "backup $NAME: the stream from $SOURCE_POD could not be stored in $out; discarded"
  exec 3<&-
  rm -f "$errlog"
}

# Proves the stored stream restores, reading it back once (from the page cache, as it was just
# written): the bytes go to the sha256 of the manifest and to `zstd -d | mbstream -x` at the same
# time, so the bytes extracted are the bytes stored; a truncated or corrupt stream fails here.
# Then mariadb-backup --prepare (what a restore runs) applies its redo log, and the prepared
# backup says its position (the topology's read_position).
prove() {
  local file=$1 fifo="$BACKUP_SCRATCH_DIR.sha256.fifo" sum_pid rc=0
  rm -rf "$BACKUP_SCRATCH_DIR"
  mkdir -p "$BACKUP_SCRATCH_DIR"
  rm -f "$fifo"
  mkfifo "$fifo"
  sha256_hex <"$fifo" >"$BACKUP_SCRATCH_DIR.sha256" &
  sum_pid=$!
  tee "$fifo" <"$file" | zstd -q -dc | mbstream -x -p "$(nproc)" -C "$BACKUP_SCRATCH_DIR" 2>"$BACKUP_SCRATCH_DIR.mbstream.log" || rc=$?
  wait "$sum_pid" || rc=1
  rm -f "$fifo"
  STREAM_SHA256=$(<"$BACKUP_SCRATCH_DIR.sha256")
  ((rc == 0)) ||
    die "backup $NAME: the stream from $SOURCE_POD is truncated or corrupt (zstd or mbstream failed: $(tail -n 2 "$BACKUP_SCRATCH_DIR.mbstream.log" | tr '\n' ' ')); discarded"
  mariadb-backup --prepare --target-dir="$BACKUP_SCRATCH_DIR" 2>"$BACKUP_SCRATCH_DIR.prepare.log" ||
    die "backup $NAME: mariadb-backup --prepare failed: $(tail -n 3 "$BACKUP_SCRATCH_DIR.prepare.log" | tr '\n' ' '); discarded"
  read_position "$BACKUP_SCRATCH_DIR" >"$BACKUP_SCRATCH_DIR.position.log" || die "backup $NAME: $(<"$BACKUP_SCRATCH_DIR.position.log")"
  SERVER_VERSION=$(info_value "$BACKUP_SCRATCH_DIR" server_version)
  rm -rf "$BACKUP_SCRATCH_DIR" "$BACKUP_SCRATCH_DIR".*.log "$BACKUP_SCRATCH_DIR.sha256"
}

# Microseconds since the epoch, and the seconds since such a time with one decimal ("3.2").
now_us() { local t=$EPOCHREALTIME; printf '%s\n' "${t/[.,]/}"; }
seconds_since() {
  local us=$(($(now_us) - $1))
  printf '%d.%d\n' $((us / 1000000)) $((us % 1000000 / 100000))
}

write_manifest() {
  local file=$1 out=$2 seconds=$3 stream_seconds=$4 proof_seconds=$5 size sum=$STREAM_SHA256
  size=$(stat -c %s "$file")
  {
    printf '{\n'
    printf '  "name": %s,\n' "$(json_string "$NAME")"
    printf '  "file": %s,\n' "$(json_string "$NAME.xb.zst")"
    printf '  "format": "mariadb-backup xbstream, zstd",\n'
    printf '  "created": %s,\n' "$(json_string "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
    printf '  "cluster": %s,\n' "$(json_string "$NODE_CLUSTER_NAME")"
    printf '  "topology": %s,\n' "$(json_string "$BACKUP_TOPOLOGY")"
    printf '  "sourcePod": %s,\n' "$(json_string "$SOURCE_POD")"
    printf '%s\n' "$MANIFEST_POSITION"
    printf '  "mariadbVersion": %s,\n' "$(json_string "$SERVER_VERSION")"
    printf '  "sizeBytes": %s,\n' "$size"
    printf '  "sha256": %s,\n' "$(json_string "$sum")"
    printf '  "seconds": %s,\n' "$seconds"
    printf '  "streamSeconds": %s,\n' "$stream_seconds"
    printf '  "proofSeconds": %s,\n' "$proof_seconds"
    printf '  "verified": "extracted and prepared with mariadb-backup --prepare"\n'
    printf '}\n'
  } >"$out"
}

# --- retention ---------------------------------------------------------------------------

prune() {
  local name removed=0 file
  # leftovers of failed runs: partial files, and streams without a manifest
  for file in "$BACKUP_DIR"/*.partial; do
    [[ -e $file ]] && rm -f "$file" && log_info "removed the leftover $(basename "$file")"
  done
  for file in "$BACKUP_DIR/$NODE_CLUSTER_NAME"-*.xb.zst; do
    [[ -e $file && ! -e ${file%.xb.zst}.json ]] && rm -f "$file" && log_info "removed $(basename "$file"), which has no manifest (a failed run)"
  done
  while IFS= read -r name; do
    rm -f "$BACKUP_DIR/$name.json" "$BACKUP_DIR/$name.xb.zst"
    removed=$((removed + 1))
    log_info "retention: removed $name"
  done < <(list_names | expired "$(date -u +%s)" "$BACKUP_RETAIN_COUNT" "$BACKUP_RETAIN_DAYS")
  log_info "retention: keep the newest $BACKUP_RETAIN_COUNT, none older than $BACKUP_RETAIN_DAYS days; removed $removed, $(list_names | grep -c .) kept"
}

list_names() {
  local file
  for file in "$BACKUP_DIR/$NODE_CLUSTER_NAME"-*.json; do
    [[ -e $file ]] && basename "$file" .json
  done
  return 0
}

main() {
  local started=$SECONDS stored_us stream_seconds proof_seconds
  JOB_STARTED_US=$(now_us)
  mkdir -p "$BACKUP_DIR"
  export NODE_RUNTIME_DIR=${NODE_RUNTIME_DIR:-$(mktemp -d)}
  choose_source
  NAME="$NODE_CLUSTER_NAME-$(date -u +%Y%m%dT%H%M%SZ)"
  local stream="$BACKUP_DIR/$NAME.xb.zst"
  fetch "$stream.partial"
  stream_seconds=$(seconds_since "$JOB_STARTED_US")
  stored_us=$(now_us)
  log_info "backup $NAME: $(stat -c %s "$stream.partial") bytes stored $stream_seconds s after the job started; $SOURCE_POD is done, proving"
  prove "$stream.partial"
  proof_seconds=$(seconds_since "$stored_us")
  log_info "backup $NAME: verified (extracted and prepared): position $POSITION, in $proof_seconds s"
  write_manifest "$stream.partial" "$BACKUP_DIR/$NAME.json.partial" "$((SECONDS - started))" "$stream_seconds" "$proof_seconds"
  mv -f "$stream.partial" "$stream"
  mv -f "$BACKUP_DIR/$NAME.json.partial" "$BACKUP_DIR/$NAME.json"
  log_info "backup $NAME: done in $((SECONDS - started)) s: $stream and $NAME.json"
  if ((BACKUP_PRUNE == 1)); then prune; fi
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
