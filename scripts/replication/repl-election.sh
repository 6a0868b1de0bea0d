#!/usr/bin/env bash
# The decisions of a primary/replica node, as pure functions of state lines (sourced after
# repl-lib.sh; the unit tests drive them directly):
#
#   choose_role SELF_HAS_DATA < peer lines   what a starting node does (one line: ACTION reason)
#   failover_election < lines (this node's first)   the failover election's winner, or why there is none
#   clone_source < peer lines                the peer a new node clones from
#
# Every decision is logged as one line by the caller: "decision: ACTION: reason".

# A peer that is the primary: running, role primary and writable.
primary_of() {
  local line
  while IFS= read -r line; do
    [[ $(field "$line" phase) == running && $(field "$line" role) == primary && $(field "$line" writable) == 1 ]] &&
      { field "$line" name; return 0; }
  done
  return 0
}

# choose_role SELF_HAS_DATA: follow a running primary; with no data anywhere, the first ordinal
# initializes a new cluster once every node answered; otherwise wait for the election (which
# the watchdog runs once the primary has been missing for REPL_FAILOVER_SECONDS).
choose_role() {
  local own_data=$1 lines line primary answered=0 with_data=0 name
  lines=$(cat)
  primary=$(primary_of <<<"$lines")
  if [[ -n $primary ]]; then
    echo "replicate $primary is the primary"
    return 0
  fi
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    answered=$((answered + 1))
    [[ $(field "$line" seq) != -1 || $(field "$line" phase) == running ]] && with_data=$((with_data + 1))
  done <<<"$lines"
  if ((own_data == 0 && with_data == 0)); then
    if ((answered < $(peer_count) - 1)); then
      echo "wait new cluster: $((answered + 1)) of $(peer_count) nodes answer; waiting for all before the first one initializes"
    elif [[ $(ordinal_of "$POD_NAME") == 0 ]]; then
      echo "initialize no node holds data: this node (the first ordinal) creates the cluster and is its primary"
    else
      echo "wait new cluster: waiting for $(pod_of_host "$(peer_hosts | head -n 1)") to create it"
    fi
    return 0
  fi
  if ((own_data == 0)); then
    echo "wait no primary to clone from and replicate yet ($with_data peer(s) hold data)"
    return 0
  fi
  echo "elect no peer is the primary"
}

# failover_election: this node's line first, then the peers that answered. The election needs every configured
# node but one (election_quorum: a majority, and more from 5 nodes on) and no peer still following
# a primary it reaches;
# the winner is the most advanced by GTID position (gtid_seq, received events included), ties to the
# lowest ordinal. Prints "promote reason", "wait reason" (someone else wins) or "none reason".
failover_election() {
  local lines line n=0 best='' best_seq=-2 best_ord=999 seq ord name self votes=()
  lines=$(cat)
  self=$(field "$(head -n 1 <<<"$lines")" name)
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    [[ $(field "$line" phase) == running ]] || continue
    if [[ $(field "$line" role) == primary && $(field "$line" writable) == 1 ]]; then
      echo "none $(field "$line" name) is the primary"
      return 0
    fi
    if [[ $(field "$line" role) == replica && $(field "$line" io) == 1 ]]; then
      echo "none $(field "$line" name) still replicates from $(field "$line" source), which it reaches"
      return 0
    fi
    n=$((n + 1))
    name=$(field "$line" name) seq=$(field "$line" seq) ord=$(ordinal_of "$name")
    votes+=("$name=$seq")
    if ((seq > best_seq || (seq == best_seq && ord < best_ord))); then
      best=$name best_seq=$seq best_ord=$ord
    fi
  done <<<"$lines"
  if ((n < $(election_quorum))); then
    echo "none only $n of $(peer_count) nodes take part (${votes[*]}); a failover needs $(election_quorum)"
  elif [[ $best == "$self" ]]; then
    echo "promote this node is the most advanced of ${votes[*]} (GTID sequence $best_seq)"
  else
    echo "wait $best is the most advanced of ${votes[*]} (GTID sequence $best_seq)"
  fi
}

# start_election WAITED GRACE < lines (this node's first): the election of a node that finds no
# primary when it takes its role (a full restart). Until every configured node runs, it waits up
# to GRACE seconds, so that a node still recovering (often the one that crashed last, the most
# advanced) votes rather than being refused for the transactions only it holds; then it is the
# failover election among the nodes that run.
start_election() {
  local waited=$1 grace=$2 lines line running=0
  lines=$(cat)
  while IFS= read -r line; do
    [[ $(field "$line" phase) == running ]] && running=$((running + 1))
  done <<<"$lines"
  if ((running < $(peer_count) && waited < grace)); then
    echo "wait $running of $(peer_count) nodes run; waiting up to ${grace}s for every node before an election without the rest"
    return 0
  fi
  failover_election <<<"$lines"
}

# best_ready_replica [--known-to-all] < lines: the most advanced ready replica (lag under the
# bound), optionally only among those every configured node knows about; empty when there is none.
best_ready_replica() {
  local known=${1:-} lines line best='' best_seq=-2 seq
  lines=$(cat)
  while IFS= read -r line; do
    [[ -n $line && $(field "$line" phase) == running && $(field "$line" role) == replica && $(field "$line" ready) == 1 ]] || continue
    [[ -z $known ]] || known_to_all "$(ordinal_of "$(field "$line" name)")" <<<"$lines" || continue
    seq=$(field "$line" seq)
    ((seq > best_seq)) && best=$(field "$line" name) best_seq=$seq
  done <<<"$lines"
  printf '%s\n' "$best"
}

# clone_source: the most advanced ready replica, else the primary when ready; never a lagging or
# broken node. Prints the pod name, or nothing.
clone_source() {
  local lines best line
  lines=$(cat)
  best=$(best_ready_replica <<<"$lines")
  if [[ -z $best ]]; then
    while IFS= read -r line; do
      [[ $(field "$line" phase) == running && $(field "$line" role) == primary && $(field "$line" ready) == 1 ]] && best=$(field "$line" name)
    done <<<"$lines"
  fi
  printf '%s\n' "$best"
}

# The smallest peer count any of the lines is configured with (a size change rolling out).
min_peers() {
  local line min='' n
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    n=${line##*peers=}
    [[ -z $min ]] || ((n < min)) && min=$n
  done
  echo "${min:-$(peer_count)}"
}

# known_to_all ORDINAL < lines (this node's first): whether every configured node knows the pod of
# that ordinal. Ordinals below 3 (the smallest size) are in every configuration; a higher one only
# when every configured node answers with a size above it (a node that does not answer may still
# have the old, smaller size).
known_to_all() {
  local ordinal=$1 lines
  ((ordinal < 3)) && return 0
  lines=$(cat)
  (($(grep -c . <<<"$lines") >= $(peer_count))) && ((ordinal < $(min_peers <<<"$lines")))
}

# may_acknowledge < lines (this node's first): whether this replica may acknowledge commits
# (semi-sync). Only pods every configured node knows about may: while the StatefulSet rolls out a
# new size, a node with the old peer list votes without the new pods, so a write acknowledged by a
# new pod alone could be missing from its election.
may_acknowledge() {
  known_to_all "$(ordinal_of "$POD_NAME")"
}

# handover_target < lines: the ready replica a stopping primary hands its role to, the most
# advanced among those every node knows about (see may_acknowledge); empty when there is none.
handover_target() {
  best_ready_replica --known-to-all
}

# may_resume < lines (this node's first): a fenced primary (cut off for fenceSeconds, or slow
# peers under load) takes writes again when every other configured node answers, none is a
# primary and every running replica still follows this node with its IO thread up: an election
# needs votes from replicas that no longer follow a primary they reach, so none can have run.
may_resume() {
  local lines self line n=0
  lines=$(cat)
  self=$(field "$(head -n 1 <<<"$lines")" name)
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    n=$((n + 1))
    [[ $(field "$line" phase) == running ]] || continue
    [[ $(field "$line" role) == replica && $(field "$line" io) == 1 && $(field "$line" source) == "$self" ]] || return 1
  done < <(tail -n +2 <<<"$lines")
  ((n == $(peer_count) - 1))
}
