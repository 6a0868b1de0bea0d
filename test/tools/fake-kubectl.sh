#!/usr/bin/env bash
# Fake kubectl for the e2e script's unit test. State lives in $FAKE_STATE.
set -u
S=$FAKE_STATE
args="$*"
[[ $1 == -n ]] && shift 2
case $1 in
  version) exit "${FAKE_NO_CLUSTER:-0}" ;;
  config) echo fake-context; exit 0 ;;
  create) echo "apiVersion: v1"; exit 0 ;;
  apply) cat >/dev/null; exit 0 ;;
  rollout|run|wait) exit 0 ;;
  get)
    case "$args" in
      *"get secret"*) exit 0 ;;
      *"statefulset"*) echo 3; exit 0 ;;
      *"get pod galera-0"*) if [[ -f $S/deleted ]]; then echo uid-2; else echo uid-1; fi; exit 0 ;;
    esac ;;
  delete)
    [[ "$args" == *"pod galera-0"* ]] && touch "$S/deleted"
    exit 0 ;;
  exec)
    if [[ "$args" == *"bash -s --"* ]]; then
      script=$(cat)
      run=$(sed -E 's/.*bash -s -- ([^ ]+) .*/\1/' <<<"$args")
      if [[ $script == *"SELECT 'ack"* ]]; then
        # single session: 10 lines, line 3 failed during the failover
        for i in $(seq 1 10); do
          [[ $i == 3 ]] && echo "ERROR 1047 (08S01) at line 3: WSREP has not yet prepared node for application use"
          echo "ack $i"
          [[ $i != 3 ]] && echo "$i" >>"$S/$run"
        done
      else
        t=1000
        for i in $(seq 1 12); do
          t=$((t + 200))
          if [[ $i == 4 || $i == 5 ]]; then echo "fail $i $t ERROR 9001 (HY000): Max connect timeout reached"; continue; fi
          [[ $i == 6 ]] && t=$((t + 2500))
          echo "ack $i $t"
          echo "$i" >>"$S/$run"
        done
      fi
      exit 0
    fi
    sql=${args##* -e }
    case "$sql" in
      "SELECT 1") echo 1 ;;
      *"START TRANSACTION; SELECT @@hostname"*) if [[ -f $S/deleted ]]; then echo galera-1; else echo galera-0; fi ;;
      "SELECT @@hostname") echo galera-2 ;;
      *"INSERT INTO e2e_check"*"_basic"*) echo 2 >"$S/basic" ;;
      *"DELETE FROM e2e_check WHERE run_id = "*"_basic"*) echo 0 >"$S/basic" ;;
      *"SELECT COUNT(*)"*"_basic"*) cat "$S/basic" ;;
      *"wsrep_sync_wait"*)
        run=$(sed -E "s/.*run_id = '([^']+)'.*/\1/" <<<"$sql")
        if [[ -n ${FAKE_LOSE:-} && $args == *"galera-1."* ]]; then grep -vx "$FAKE_LOSE" "$S/$run"; else cat "$S/$run"; fi ;;
    esac
    exit 0 ;;
esac
exit 0
