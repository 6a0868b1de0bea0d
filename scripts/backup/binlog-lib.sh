#!/usr/bin/env bash
# What the binlog archiver, the restore to a point and binlog-find.sh share (sourced, never run):
# reading the GTIDs of a binary log file and the manifests of archived segments.
#
# An archived segment is a closed binlog file of one node, as the node wrote it, and a manifest:
#   <cluster>-binlog-<domain>-<first seq>-<last seq>.binlog   (seqs zero-padded to 20 digits)
#   <cluster>-binlog-<domain>-<first seq>-<last seq>.json     startAfter, first and last GTID and
#                                                             event time, size, sha256, source
# Its transactions of the cluster's GTID domain are those after startAfter (a file read from
# another node after a move may begin with transactions an earlier segment holds already); the
# segments' ranges follow each other without gap or overlap.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

# binlog_gtids FILE DOMAIN: one line per transaction of DOMAIN in FILE, in order:
# "<seq> <gtid> <UTC time YYYYMMDDHHMMSS>" (the time its statement began, to the second).
binlog_gtids() {
  TZ=UTC mariadb-binlog --no-defaults "$1" 2>/dev/null | awk -v domain="$2" '
    /^#[0-9][0-9][0-9][0-9][0-9][0-9] / && /[ \t]GTID [0-9]+-[0-9]+-[0-9]+/ {
      for (i = 1; i < NF; i++) if ($i == "GTID") { gtid = $(i + 1); break }
      split(gtid, p, "-")
      if (p[1] != domain) next
      d = substr($1, 2); t = $2; gsub(/:/, "", t); if (length(t) == 5) t = "0" t
      print p[3], gtid, "20" d t
    }'
}

# segment_value MANIFEST KEY: a value of a segment manifest (one key per line, as written).
segment_value() {
  sed -n -e "s/^  \"$2\": \"\(.*\)\",\{0,1\}$/\1/p" -e "s/^  \"$2\": \([^\",]*\),\{0,1\}$/\1/p" "$1" | head -n 1
}

# The name of a segment: segment_name CLUSTER DOMAIN FIRST LAST.
segment_name() { printf '%s-binlog-%s-%020d-%020d\n' "$1" "$2" "$3" "$4"; }

# The last seq of a segment from its file name (any extension).
segment_last_seq() { local n=${1##*/}; n=${n%.*}; n=${n##*-}; printf '%s\n' "$((10#$n))"; }
# The first seq of a segment from its file name.
segment_first_seq() { local n=${1##*/}; n=${n%.*}; n=${n%-*}; n=${n##*-}; printf '%s\n' "$((10#$n))"; }

# YYYYMMDDHHMMSS of a time date(1) reads (RFC 3339 included), in UTC.
compact_time() { date -u -d "$1" +%Y%m%d%H%M%S; }
# RFC 3339 of a YYYYMMDDHHMMSS time.
rfc3339_of_compact() { printf '%s-%s-%sT%s:%s:%sZ\n' "${1:0:4}" "${1:4:2}" "${1:6:2}" "${1:8:2}" "${1:10:2}" "${1:12:2}"; }
