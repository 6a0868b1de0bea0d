#!/usr/bin/env bash
# The binary log endpoint of a database pod of either topology (its "binlog" sidecar container,
# when point-in-time recovery is on). It serves the binlog archiver, and only it: the client must
# present the backup job's certificate (NODE_BACKUP_CLIENT_CN, as at the backup endpoint), which
# the archiver mounts too.
#
#   binlog-endpoint.sh listen   the container's command (tls_listen on NODE_BINLOG_PORT)
#   binlog-endpoint.sh serve    one connection (run by socat): one request line, one answer
#
# Requests:
#   LIST <domain> <archived seq>   When the node's binlog holds transactions of GTID domain
#                                  <domain> past <archived seq>, it closes its binlog file
#                                  (FLUSH LOCAL BINARY LOGS), so everything committed until then
#                                  is in closed files. Answers "OK <pod> <time before the flush,
#                                  unix seconds> <gtid_binlog_pos>", then "FILE <name> <size>
#                                  <seq of <domain> at the file's start>" for the files that
#                                  reach past <archived seq>, oldest first, the active file last
#                                  as "ACTIVE <name> <size> <seq>", then "END".
#   FILE <name>                    "OK <size>" and the closed binlog file's bytes.
# Anything else, or a node that may not serve, gets one line "ERROR <reason>".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=backup-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
LOG_COMPONENT=binlog-endpoint

NODE_BINLOG_PORT=${NODE_BINLOG_PORT:-4446}
# The binlog base name (log_bin in the server configuration), in the data directory.
BINLOG_BASE=mysql-bin

listen() {
  : "${NODE_BACKUP_CLIENT_CN:?NODE_BACKUP_CLIENT_CN is not set}"
  tls_listen "$NODE_BINLOG_PORT" "$0 serve" "binary logs only to the certificate '$NODE_BACKUP_CLIENT_CN'"
}

refuse() {
  log_warn "refused a binlog request: $*"
  printf 'ERROR %s\n' "$*"
  exit 0
}

# The GTID list at the start of a binlog file: its Gtid_list event.
file_start_state() {
  local_sql -e "SHOW BINLOG EVENTS IN '$1' LIMIT 4" | awk -F'\t' '$3 == "Gtid_list" { gsub(/[][]/, "", $6); print $6; exit }'
}

list_binlogs() {
  local domain=$1 archived=$2 pos now files=() sizes=() starts=() i name size start
  [[ $domain =~ ^[0-9]+$ && $archived =~ ^[0-9]+$ ]] || refuse "LIST wants <domain> <archived seq>, got '$domain $archived'"
  pos=$(local_sql -e 'SELECT @@gtid_binlog_pos') || refuse "$POD_NAME: mariadbd does not answer"
  now=$(date +%s)
  if (($(seq_of_domain "$pos" "$domain") > archived)); then
    local_sql -e 'FLUSH LOCAL BINARY LOGS' || refuse "$POD_NAME: FLUSH LOCAL BINARY LOGS failed"
  fi
  while IFS=$'\t' read -r name size _; do
    files+=("$name") sizes+=("$size")
  done < <(local_sql -e 'SHOW BINARY LOGS')
  ((${#files[@]} > 0)) || refuse "$POD_NAME has no binary log"
  # newest first, until a file that starts at or before the archived seq: the ones after it are needed
  for ((i = ${#files[@]} - 1; i >= 0; i--)); do
    starts[i]=$(seq_of_domain "$(file_start_state "${files[i]}")" "$domain")
    ((starts[i] <= archived)) && break
  done
  ((i < 0)) && i=0
  printf 'OK %s %s %s\n' "$POD_NAME" "$now" "$pos"
  for (( ; i < ${#files[@]}; i++)); do
    start=${starts[i]:-$(seq_of_domain "$(file_start_state "${files[i]}")" "$domain")}
    printf '%s %s %s %s\n' "$( ((i == ${#files[@]} - 1)) && echo ACTIVE || echo FILE)" "${files[i]}" "${sizes[i]}" "$start"
  done
  printf 'END\n'
}

send_binlog() {
  local name=$1 active size
  [[ $name =~ ^$BINLOG_BASE\.[0-9]+$ ]] || refuse "FILE wants a binlog file name, got '$name'"
  active=$(local_sql -e 'SHOW MASTER STATUS' | cut -f1) || refuse "$POD_NAME: mariadbd does not answer"
  [[ $name != "$active" ]] || refuse "$name is the active binlog file of $POD_NAME (it is archived once closed)"
  [[ -f $NODE_DATA_DIR/$name ]] || refuse "$POD_NAME has no binlog file $name (purged?)"
  size=$(stat -c %s "$NODE_DATA_DIR/$name")
  printf 'OK %s\n' "$size"
  head -c "$size" "$NODE_DATA_DIR/$name"
}

serve() {
  local client=${SOCAT_OPENSSL_X509_COMMONNAME:-} peer=${SOCAT_PEERADDR:-?} verb arg1 arg2 why
  [[ $client == "$NODE_BACKUP_CLIENT_CN" ]] ||
    refuse "client $peer presented the certificate '${client:-none}', not the archiver's ('$NODE_BACKUP_CLIENT_CN')"
  read -r -t 10 verb arg1 arg2 || refuse "no request within 10 s"
  why=$(binlog_refusal)
  [[ -z $why ]] || refuse "$why"
  case $verb in
    LIST) list_binlogs "${arg1:-}" "${arg2:-}" ;;
    FILE) send_binlog "${arg1:-}" ;;
    *) refuse "unknown request '$verb' (LIST or FILE)" ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    listen) listen ;;
    serve) serve ;;
    *) die "usage: $0 listen|serve" ;;
  esac
fi
