#!/usr/bin/env bash
# Finds the point to restore to, without reading raw binlogs: lists the archived transactions of
# the cluster's GTID domain around a time or matching a statement, one per line,
#   <GTID> <UTC time> <what it did: the statement of a DDL, or the row events' tables>
# e.g. the DROP TABLE to undo; restoreFrom.gtid set to its GTID restores everything before it.
# Run it in the archiver's pod (the archive's directory is its ARCHIVE_DIR on a volume; for a
# bucket, copy <prefix>/binlogs with rclone first and pass --dir):
#   kubectl exec deploy/<cluster>-binlog-archiver -c archiver -- \
#     bash /opt/mariadb-backup/binlog-find.sh --grep 'DROP TABLE'
#   ... binlog-find.sh --around 2026-12-06T14:03:07Z [--window 30]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=binlog-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/binlog-lib.sh"

DIR=${ARCHIVE_DIR:-.}
DOMAIN=${ARCHIVE_DOMAIN:-0}
AROUND='' WINDOW=60 PATTERN=''

usage() {
  echo "usage: $0 [--dir DIR] [--domain N] (--around RFC3339-TIME [--window SECONDS] | --grep REGEX)" >&2
  exit 2
}

parse_args() {
  while (($# > 0)); do
    case $1 in
      --dir) DIR=${2:?}; shift 2 ;;
      --domain) DOMAIN=${2:?}; shift 2 ;;
      --around) AROUND=${2:?}; shift 2 ;;
      --window) WINDOW=${2:?}; shift 2 ;;
      --grep) PATTERN=${2:?}; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -n $AROUND || -n $PATTERN ]] || usage
}

# The transactions of one segment after its startAfter, as "<gtid> <time> <summary>" lines.
segment_transactions() {
  local m=$1 after
  after=$(segment_value "$m" startAfter)
  after=${after##*-}
  TZ=UTC mariadb-binlog --no-defaults --base64-output=decode-rows -v "${m%.json}.binlog" 2>/dev/null | awk -v domain="$DOMAIN" -v after="${after:-0}" '
    function flush() { if (gtid != "") print gtid, when, (what == "" ? "(no statement)" : what); gtid = "" }
    /^#[0-9][0-9][0-9][0-9][0-9][0-9] / && /[ \t]GTID [0-9]+-[0-9]+-[0-9]+/ {
      flush()
      for (i = 1; i < NF; i++) if ($i == "GTID") g = $(i + 1)
      split(g, p, "-")
      if (p[1] != domain || p[3] + 0 <= after + 0) next
      d = substr($1, 2); t = $2; if (length(t) == 7) t = "0" t
      gtid = g; when = "20" substr(d, 1, 2) "-" substr(d, 3, 2) "-" substr(d, 5, 2) "T" t "Z"; what = ""; next
    }
    gtid == "" { next }
    /^### (INSERT INTO|UPDATE|DELETE FROM) / { tbl = $0; sub(/^### /, "", tbl); if (index(what, tbl) == 0) what = what (what == "" ? "" : "; ") tbl; next }
    /^#/ || /^\/\*M?!/ || /^SET / || /^BEGIN/ || /^START TRANSACTION/ || /^COMMIT/ || /^DELIMITER/ || /^use / || /^ROLLBACK/ || /^$/ { next }
    { s = $0; sub(/\/\*!\*\/;$/, "", s); if (what == "") what = s }
    END { flush() }'
}

main() {
  parse_args "$@"
  local m from='' to=''
  if [[ -n $AROUND ]]; then
    from=$(date -u -d "$AROUND - $WINDOW seconds" +%Y-%m-%dT%H:%M:%SZ)
    to=$(date -u -d "$AROUND + $WINDOW seconds" +%Y-%m-%dT%H:%M:%SZ)
  fi
  for m in "$DIR"/*-binlog-"$DOMAIN"-*.json; do
    [[ -e $m ]] || { echo "no archived segments of domain $DOMAIN in $DIR" >&2; exit 1; }
    if [[ -n $AROUND ]]; then
      [[ $(segment_value "$m" lastEventTime) < $from || $(segment_value "$m" firstEventTime) > $to ]] && continue
    fi
    segment_transactions "$m"
  done | awk -v from="$from" -v to="$to" -v pattern="$PATTERN" '
    (from == "" || ($2 >= from && $2 <= to)) && (pattern == "" || tolower($0) ~ tolower(pattern))'
}

main "$@"
