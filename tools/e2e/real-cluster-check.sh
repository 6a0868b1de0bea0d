#!/usr/bin/env bash
# End-to-end check of the synthesized manifests on a REAL Kubernetes cluster (kind, k3d,
# minikube, a cloud cluster).
#
# NOT RUN IN CI: CI has no Kubernetes API server. Run it yourself against a cluster you may
# write to; it creates objects in one namespace and a throwaway client pod there.
#
# What it does:
#   1. applies dist/ (after creating the namespace and, if missing, the credentials Secret with
#      random passwords via `npm run new-secret`), waits for the StatefulSet and the ProxySQL
#      Deployment to be ready;
#   2. starts a client pod from the mariadb image and runs SELECT, INSERT and DELETE through
#      the ProxySQL Service;
#   3. runs two writers through ProxySQL, one opening a new connection per INSERT and one
#      keeping a single session, then deletes the pod ProxySQL writes to;
#   4. checks that both writers kept working after the failover (and how long writes stalled),
#      that every acknowledged INSERT is on every Galera node once the deleted pod is back.
#
# Usage: tools/e2e/real-cluster-check.sh [--keep] [--force-delete]
#   --keep          leave the client pod and the test table in place
#   --force-delete  delete the writer pod with --grace-period=0 --force (a crash, not a shutdown)
# Environment (defaults match the seed deployment):
#   NAMESPACE=galera  GALERA_NAME=galera  PROXYSQL_NAME=<GALERA_NAME>-proxysql
#   SECRET_NAME=<GALERA_NAME>-credentials  APP_USER=app  APP_DATABASE=app  MANIFESTS=dist
#   CLIENT_IMAGE=docker.io/library/mariadb:10.11.19  READY_TIMEOUT=900s  WRITE_SECONDS=60
#   DELETE_AFTER_SECONDS=10  MAX_STALL_SECONDS=30  KUBECTL=kubectl
set -euo pipefail
cd "$(dirname "$0")/../.."

NAMESPACE=${NAMESPACE:-galera}
GALERA_NAME=${GALERA_NAME:-galera}
PROXYSQL_NAME=${PROXYSQL_NAME:-$GALERA_NAME-proxysql}
SECRET_NAME=${SECRET_NAME:-$GALERA_NAME-credentials}
APP_USER=${APP_USER:-app}
APP_DATABASE=${APP_DATABASE:-app}
MANIFESTS=${MANIFESTS:-dist}
CLIENT_IMAGE=${CLIENT_IMAGE:-docker.io/library/mariadb:10.11.19}
READY_TIMEOUT=${READY_TIMEOUT:-900s}
WRITE_SECONDS=${WRITE_SECONDS:-60}
DELETE_AFTER_SECONDS=${DELETE_AFTER_SECONDS:-10}
MAX_STALL_SECONDS=${MAX_STALL_SECONDS:-30}
KUBECTL=${KUBECTL:-kubectl}
KEEP=0
FORCE_DELETE=0
for arg in "$@"; do
  case $arg in
    --keep) KEEP=1 ;;
    --force-delete) FORCE_DELETE=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

RUN_ID="e2e_$(date +%s)_$$"
CLIENT="e2e-client-$$"
WORK=$(mktemp -d)
FAILURES=0

log() { printf '%s e2e: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*"; exit 1; }
check() {
  # check DESCRIPTION COMMAND...: runs the command, records a failure instead of stopping.
  local what=$1
  shift
  if "$@"; then log "PASS $what"; else log "FAIL $what"; FAILURES=$((FAILURES + 1)); fi
}
k() { "$KUBECTL" -n "$NAMESPACE" "$@"; }

cleanup() {
  local status=$?
  if ((KEEP == 0)); then
    k exec "$CLIENT" -- mariadb -h "$PROXYSQL_NAME" -u "$APP_USER" "$APP_DATABASE" -e 'DROP TABLE IF EXISTS e2e_check' >/dev/null 2>&1 || true
    k delete pod "$CLIENT" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$status"
}

# SQL through the ProxySQL Service from the client pod (the password comes from the Secret
# as MYSQL_PWD in the pod, never on a command line).
proxysql_sql() {
  k exec "$CLIENT" -- mariadb -h "$PROXYSQL_NAME" -P 3306 -u "$APP_USER" --connect-timeout=5 -N -B "$APP_DATABASE" -e "$1"
}

# SQL directly on one Galera pod, waiting until it has applied everything committed before.
node_sql() {
  k exec "$CLIENT" -- mariadb -h "$1.$GALERA_NAME.$NAMESPACE.svc" -P 3306 -u "$APP_USER" --connect-timeout=5 -N -B "$APP_DATABASE" \
    -e "SET SESSION wsrep_sync_wait=1; $2"
}

# The pod ProxySQL sends writes to: a transaction starts on the writer hostgroup and stays there.
current_writer() {
  proxysql_sql 'START TRANSACTION; SELECT @@hostname; COMMIT;'
}

# ---------------------------------------------------------------------------------------------
command -v "$KUBECTL" >/dev/null || die "$KUBECTL not found"
"$KUBECTL" version --request-timeout=10s >/dev/null 2>&1 ||
  die "no reachable Kubernetes cluster for $KUBECTL (current context: $("$KUBECTL" config current-context 2>/dev/null || echo none))"
compgen -G "$MANIFESTS/*.k8s.yaml" >/dev/null || die "no manifests in $MANIFESTS/ (run npm run synth first)"
trap cleanup EXIT

log "namespace $NAMESPACE"
"$KUBECTL" create namespace "$NAMESPACE" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
if ! k get secret "$SECRET_NAME" >/dev/null 2>&1; then
  log "Secret $SECRET_NAME is missing: creating one with random passwords"
  npm run -s new-secret -- "$SECRET_NAME" "$NAMESPACE" | "$KUBECTL" apply -f - >/dev/null
fi
log "applying $MANIFESTS/"
"$KUBECTL" apply -f "$MANIFESTS/"
log "waiting for statefulset/$GALERA_NAME and deployment/$PROXYSQL_NAME (timeout $READY_TIMEOUT)"
k rollout status "statefulset/$GALERA_NAME" --timeout="$READY_TIMEOUT"
k rollout status "deployment/$PROXYSQL_NAME" --timeout="$READY_TIMEOUT"

log "starting client pod $CLIENT ($CLIENT_IMAGE)"
overrides=$(printf '{"spec":{"securityContext":{"runAsUser":999,"runAsGroup":999,"runAsNonRoot":true},"containers":[{"name":"%s","image":"%s","command":["sleep","3600"],"env":[{"name":"MYSQL_PWD","valueFrom":{"secretKeyRef":{"name":"%s","key":"app-password"}}}]}]}}' \
  "$CLIENT" "$CLIENT_IMAGE" "$SECRET_NAME")
k run "$CLIENT" --image="$CLIENT_IMAGE" --restart=Never --overrides="$overrides" >/dev/null
k wait --for=condition=Ready "pod/$CLIENT" --timeout=180s >/dev/null

# --- 2. SELECT, INSERT, DELETE through ProxySQL --------------------------------------------
check "SELECT 1 through $PROXYSQL_NAME:3306" test "$(proxysql_sql 'SELECT 1')" = 1
proxysql_sql 'CREATE TABLE IF NOT EXISTS e2e_check (run_id VARCHAR(64) NOT NULL, seq INT NOT NULL,
  created TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), PRIMARY KEY (run_id, seq)) ENGINE=InnoDB'
proxysql_sql "INSERT INTO e2e_check (run_id, seq) VALUES ('${RUN_ID}_basic', 1), ('${RUN_ID}_basic', 2)"
check "INSERT then SELECT in a transaction sees both rows" \
  test "$(proxysql_sql "START TRANSACTION; SELECT COUNT(*) FROM e2e_check WHERE run_id = '${RUN_ID}_basic'; COMMIT;")" = 2
proxysql_sql "DELETE FROM e2e_check WHERE run_id = '${RUN_ID}_basic'"
check "DELETE removed them" \
  test "$(proxysql_sql "START TRANSACTION; SELECT COUNT(*) FROM e2e_check WHERE run_id = '${RUN_ID}_basic'; COMMIT;")" = 0
readers=$(for _ in 1 2 3 4 5 6; do proxysql_sql 'SELECT @@hostname'; done | sort -u | tr '\n' ' ')
log "plain SELECTs were answered by: $readers"

# --- 3. failover under write load ------------------------------------------------------------
writer=$(current_writer)
[[ $writer == "$GALERA_NAME"-* ]] || die "cannot tell the writer pod (got '$writer')"
writer_uid=$(k get pod "$writer" -o jsonpath='{.metadata.uid}')
log "ProxySQL writes to $writer; starting two writers for ${WRITE_SECONDS}s"

# Writer A: a new connection (through the Service, any ProxySQL pod) for every INSERT.
k exec -i "$CLIENT" -- bash -s -- "${RUN_ID}_new" "$WRITE_SECONDS" "$PROXYSQL_NAME" "$APP_USER" "$APP_DATABASE" \
  >"$WORK/new.log" 2>&1 <<'REMOTE' &
run=$1 seconds=$2 host=$3 user=$4 db=$5
end=$(($(date +%s) + seconds))
i=0
while (($(date +%s) < end)); do
  i=$((i + 1))
  if out=$(timeout 30 mariadb -h "$host" -P 3306 -u "$user" --connect-timeout=5 -N -B "$db" \
    -e "INSERT INTO e2e_check (run_id, seq) VALUES ('$run', $i)" 2>&1); then
    echo "ack $i $(date +%s%3N)"
  else
    echo "fail $i $(date +%s%3N) ${out//$'\n'/ }"
  fi
  sleep 0.2
done
REMOTE
new_pid=$!

# Writer B: one session for the whole run; a line is acknowledged when its 'ack' row is printed
# and the client reported no error at that line.
k exec -i "$CLIENT" -- bash -s -- "${RUN_ID}_session" "$WRITE_SECONDS" "$PROXYSQL_NAME" "$APP_USER" "$APP_DATABASE" \
  >"$WORK/session.log" 2>&1 <<'REMOTE' &
run=$1 seconds=$2 host=$3 user=$4 db=$5
for ((i = 1; i <= seconds * 5; i++)); do
  printf "INSERT INTO e2e_check (run_id, seq) VALUES ('%s', %d); SELECT 'ack %d';\n" "$run" "$i" "$i"
  sleep 0.2
done | mariadb -h "$host" -P 3306 -u "$user" --connect-timeout=5 --force --reconnect -N -B "$db" 2>&1
REMOTE
session_pid=$!

sleep "$DELETE_AFTER_SECONDS"
if ((FORCE_DELETE)); then
  log "deleting writer pod $writer with --grace-period=0 --force"
  k delete pod "$writer" --grace-period=0 --force --wait=false >/dev/null 2>&1
else
  log "deleting writer pod $writer"
  k delete pod "$writer" --wait=false >/dev/null
fi
deleted_at=$(date +%s)
new_writer=$writer
for _ in $(seq 1 60); do
  new_writer=$(current_writer 2>/dev/null || echo '?')
  [[ $new_writer != "$writer" && $new_writer != '?' ]] && break
  sleep 1
done
log "ProxySQL writes to $new_writer, $(($(date +%s) - deleted_at))s after the deletion (as seen by a new client)"
check "another pod took over the writes" test "$new_writer" != "$writer"

wait "$new_pid" || true
wait "$session_pid" || true

# --- 4. verdict ------------------------------------------------------------------------------
# (comm needs lexical order, hence plain sort)
awk '$1 == "ack" { print $2 }' "$WORK/new.log" | sort >"$WORK/new.acked"
grep -E '^ack [0-9]+$' "$WORK/session.log" | awk '{ print $2 }' | sort >"$WORK/session.printed" || true
# error lines of the session writer: "ERROR 1047 (08S01) at line 17: ..."
sed -nE 's/^ERROR .* at line ([0-9]+):.*/\1/p' "$WORK/session.log" | sort -u >"$WORK/session.failed"
comm -23 "$WORK/session.printed" "$WORK/session.failed" >"$WORK/session.acked"
log "new-connection writer: $(wc -l <"$WORK/new.acked") acknowledged, $(grep -c '^fail' "$WORK/new.log" || true) failed"
log "single-session writer: $(wc -l <"$WORK/session.acked") acknowledged, $(wc -l <"$WORK/session.failed") failed"
grep -m 5 '^fail' "$WORK/new.log" | sed 's/^/  /' || true
grep -m 5 '^ERROR' "$WORK/session.log" | sed 's/^/  /' || true

stall_ms=$(awk '$1 == "ack" { if (last) { gap = $3 - last; if (gap > max) max = gap } last = $3 } END { print max + 0 }' "$WORK/new.log")
log "longest gap between acknowledged new-connection writes: ${stall_ms} ms"
check "writes stalled at most ${MAX_STALL_SECONDS}s" test "$stall_ms" -le $((MAX_STALL_SECONDS * 1000))
check "the new-connection writer kept working to the end (last 5 writes acknowledged)" \
  test "$(tail -n 5 "$WORK/new.log" | grep -c '^ack')" = 5
last_session=$((WRITE_SECONDS * 5))
check "the single session kept working to the end (last write acknowledged)" \
  grep -qx "$last_session" "$WORK/session.acked"

log "waiting for $writer to come back and the StatefulSet to be ready"
for _ in $(seq 1 60); do
  uid=$(k get pod "$writer" -o jsonpath='{.metadata.uid}' 2>/dev/null || true)
  [[ -n $uid && $uid != "$writer_uid" ]] && break
  sleep 5
done
check "$writer was really deleted and recreated" test "${uid:-}" != "$writer_uid"
k rollout status "statefulset/$GALERA_NAME" --timeout="$READY_TIMEOUT"

replicas=$(k get statefulset "$GALERA_NAME" -o jsonpath='{.spec.replicas}')
for ((n = 0; n < replicas; n++)); do
  pod="$GALERA_NAME-$n"
  for kind in new session; do
    if ! rows=$(node_sql "$pod" "SELECT seq FROM e2e_check WHERE run_id = '${RUN_ID}_$kind'"); then
      check "$pod answers a direct query" false
      continue
    fi
    printf '%s\n' "$rows" | sort >"$WORK/$pod.$kind.present"
    missing=$(comm -23 "$WORK/$kind.acked" "$WORK/$pod.$kind.present" | wc -l)
    check "$pod has every acknowledged $kind-writer row ($(wc -l <"$WORK/$kind.acked") acknowledged, $missing missing)" test "$missing" -eq 0
  done
done
log "writer after the deleted pod came back: $(current_writer || echo '?') (the preferred writer is $GALERA_NAME-0)"

proxysql_sql "DELETE FROM e2e_check WHERE run_id LIKE '${RUN_ID}%'"
if ((FAILURES > 0)); then
  log "$FAILURES check(s) FAILED"
  exit 1
fi
log "all checks passed"
