#!/usr/bin/env bash
# The start-up election of a Galera node (sourced by galera-start.sh and by the tests; needs
# galera-lib.sh). Pure: state lines in, one decision out, no side effects.
#
#   decide EXPECTED_NAMES < lines     (this node's line first, then the peers that answered)
#
# prints "ACTION reason", ACTION being join, bootstrap, wait or refuse. The rules, tried in this
# order (docs/galera.md explains each):
#   1. rule_join_primary        a peer is in a Primary component: join it, unless our data is
#                               another cluster's or goes past a forced-bootstrap position
#   2. rule_wait_for_starting   a peer is starting mariadbd: wait until it is Primary
#   3. rule_new_cluster         no node holds data: the first ordinal initializes, once all answered
#   4. rule_one_cluster         the data holders must agree on one cluster UUID; foreign data refuses
#   5. rule_most_advanced       every node answered: the most advanced position bootstraps
#   6. rule_last_out            some did not: only the last node out of a graceful stop may
#   7. rule_wait_for_missing    otherwise wait for the missing nodes, and say how to override
#
#   sst_plan < lines                  (the same lines, once the decision is join)
#
# prints "MODE DONORS": how the join's state transfer is encrypted and which peers may donate.
#
#   sst_method < lines                (the same lines, once the decision is join)
#
# prints the state transfer method the join asks for: stream, or mariabackup next to older nodes.
#
#   rejoin_helps EXPECTED_NAMES < lines   (this node's line first, then the peers that answered)
#
# succeeds when a node that stays outside a Primary component should restart into the election
# (the watchdog of galera-start.sh asks).
#
#   desync_unexplained LOCAL_STATE CLUSTER_SIZE DESYNC SST_RUNNING
#
# succeeds when a node in a Primary component is Donor/Desynced with nothing to explain it (the
# watchdog restarts it after GALERA_STUCK_DESYNC_RESTART_SECONDS).
# shellcheck disable=SC2034  # E_* are shared between the rule functions

# The election's view, set by read_election_input and count_nodes.
E_SELF=''         # this node's state line
E_PEERS=()        # the peers' state lines
E_EXPECTED=()     # every pod name that should answer
E_NAME='' E_UUID='' E_SEQNO='' E_EMPTY=''
E_DATA=()         # lines of waiting nodes that hold data
E_MISSING=()      # expected names that did not answer (or answer but cannot vote)
E_OUTSIDE=()      # the missing ones that answer: mariadbd runs, outside a Primary component
E_MAJORITY=''     # the cluster UUID of the majority of the data holders
E_POSITIONS=''    # name=uuid:seqno(safe) of every data holder, for the messages

decide() {
  read_election_input "$1"
  rule_join_primary && return 0
  rule_wait_for_starting && return 0
  count_nodes
  rule_new_cluster && return 0
  rule_one_cluster && return 0
  rule_most_advanced && return 0
  rule_last_out && return 0
  rule_wait_for_missing
}

read_election_input() {
  local line
  E_PEERS=()
  IFS= read -r E_SELF
  while IFS= read -r line; do
    [[ -n $line ]] && E_PEERS+=("$line")
  done
  E_NAME=$(field "$E_SELF" name)
  E_UUID=$(field "$E_SELF" uuid)
  E_SEQNO=$(field "$E_SELF" seqno)
  E_EMPTY=$(field "$E_SELF" empty)
  [[ $E_UUID == "$ZERO_UUID" ]] && E_EMPTY=1
  membership "$1"
}

# The membership the election and the watchdog count (E_EXPECTED), from this node's configured
# names and the lines. While a scale rollout runs the pods' templates differ (peers=): the
# ordinals below the smallest count are in both templates and always expected. The ordinals
# between the smallest and the largest count are in one template only: a scale-up's new pods
# (they exist, and may hold data once they joined) or a scale-down's deleted ones (gone; they
# left gracefully, so the others have their writes). The StatefulSet controller deletes a
# scale-down's pods before it gives any pod the new template, so a node cannot tell the two
# apart by the counts. It tells them apart by the last Primary component: when any node was
# last Primary in a component larger than the smallest count (view=), pods beyond it took part,
# and every ordinal up to the largest count is expected; otherwise only those that answer.
membership() {
  local line n least most view=0 i name answered=" "
  IFS=, read -r -a E_EXPECTED <<<"$1"
  least=${#E_EXPECTED[@]} most=${#E_EXPECTED[@]}
  for line in "$E_SELF" "${E_PEERS[@]}"; do
    answered+="$(field "$line" name) "
    n=$(field "$line" peers)
    if [[ -n $n ]]; then
      ((n < least)) && least=$n
      ((n > most)) && most=$n
    fi
    n=$(field "$line" view)
    [[ -n $n ]] && ((n > view)) && view=$n
  done
  ((least < most)) || return 0
  E_EXPECTED=("${E_EXPECTED[@]:0:least}")
  for ((i = ${#E_EXPECTED[@]}; i < most; i++)); do
    name="${E_NAME%-*}-$i"
    if ((view > least)) || [[ $answered == *" $name "* ]]; then E_EXPECTED+=("$name"); fi
  done
}

# 1. A Primary component exists: join it, unless our data belongs to another cluster.
rule_join_primary() {
  local p name uuid forced
  for p in "${E_PEERS[@]}"; do
    [[ $(field "$p" phase) == running && $(field "$p" primary) == 1 ]] || continue
    name=$(field "$p" name)
    uuid=$(field "$p" uuid)
    forced=$(field "$p" forced)
    # Data of that cluster beyond the forced position, from a node that has not been Primary in
    # the forced cluster since (it would carry the same marker), is a diverged history.
    if [[ $E_EMPTY != 1 && -n $forced && $E_UUID == "${forced%%:*}" && $(field "$E_SELF" forced) != "$forced" ]] &&
      ((E_SEQNO > ${forced#*:})); then
      echo "refuse the running cluster $uuid was force-bootstrapped from position $forced, and this node's data goes beyond it (seqno $E_SEQNO): its history has diverged, and joining would mix the two. Move the data away or delete the volume of $E_NAME to join as a new node"
    elif [[ $E_EMPTY == 1 ]]; then
      echo "join $name is Primary in cluster $uuid; this node has no data and joins by full state transfer (SST)"
    elif [[ $E_UUID == "$uuid" ]]; then
      echo "join $name is Primary in cluster $uuid; joining from local position $E_UUID:$E_SEQNO"
    else
      echo "refuse the local data belongs to cluster $E_UUID but the running cluster ($name) is $uuid; refusing to join, because a state transfer would overwrite this data. Move the data away or delete the volume of $E_NAME to join as a new node"
    fi
    return 0
  done
  return 1
}

# 2. A peer is already bootstrapping or starting: wait for it to become Primary.
rule_wait_for_starting() {
  local p role
  for p in "${E_PEERS[@]}"; do
    [[ $(field "$p" phase) == starting ]] || continue
    role=$(field "$p" role)
    echo "wait $(field "$p" name) is starting (${role:-mariadbd}); waiting for it to form a Primary component"
    return 0
  done
  return 1
}

# Sorts the answers: waiting nodes with data vote; a node that refused its data (another
# cluster) answers, but cannot hold writes of this one; the expected names that did not answer
# are missing.
count_nodes() {
  local line name reachable=" " outside=" "
  E_DATA=() E_MISSING=() E_OUTSIDE=()
  for line in "$E_SELF" "${E_PEERS[@]}"; do
    case $(field "$line" phase) in
      running | starting | unknown) outside+="$(field "$line" name) " ;;
      waiting)
        reachable+="$(field "$line" name) "
        [[ $(field "$line" empty) == 1 || $(field "$line" uuid) == "$ZERO_UUID" ]] || E_DATA+=("$line")
        ;;
      refused) reachable+="$(field "$line" name) " ;;
    esac
  done
  for name in "${E_EXPECTED[@]}"; do
    [[ $reachable == *" $name "* ]] && continue
    E_MISSING+=("$name")
    [[ $outside == *" $name "* ]] && E_OUTSIDE+=("$name")
  done
}

missing_list() {
  local text=${E_MISSING[*]:-}
  printf '%s' "${text// /, }"
}

# The missing nodes by why they are missing: unreachable, or running outside a Primary component
# (a running node votes only once its watchdog restarts it into the election).
absent_text() {
  local name unreachable=() parts=()
  for name in "${E_MISSING[@]}"; do
    [[ " ${E_OUTSIDE[*]} " == *" $name "* ]] || unreachable+=("$name")
  done
  ((${#unreachable[@]} == 0)) || parts+=("$(join_names "${unreachable[@]}") not reachable")
  ((${#E_OUTSIDE[@]} == 0)) || parts+=("$(join_names "${E_OUTSIDE[@]}") running outside a Primary component, not yet in the election")
  local text
  text=$(printf '%s; ' "${parts[@]}")
  printf '%s' "${text%; }"
}

join_names() {
  local text
  text=$(printf '%s, ' "$@")
  printf '%s' "${text%, }"
}

# 3. No node holds data: a new cluster, initialized by the first ordinal once every node answered.
rule_new_cluster() {
  ((${#E_DATA[@]} == 0)) || return 1
  if ((${#E_MISSING[@]} > 0)); then
    echo "wait new cluster: every reachable node is empty; waiting for $(missing_list) before ${E_EXPECTED[0]} bootstraps"
  elif [[ $E_NAME == "${E_EXPECTED[0]}" ]]; then
    echo "bootstrap new cluster: all ${#E_EXPECTED[@]} nodes are reachable and empty; ${E_EXPECTED[0]} initializes and bootstraps"
  else
    echo "wait new cluster: all ${#E_EXPECTED[@]} nodes are empty; waiting for ${E_EXPECTED[0]} to bootstrap"
  fi
  return 0
}

# 4. The cluster is the UUID that a strict majority of the data holders carry. Without one, a
# human decides; a node holding another UUID refuses its data.
rule_one_cluster() {
  local line uuid count best_count=0 tie=0 total=${#E_DATA[@]}
  local -A votes=()
  E_POSITIONS=''
  for line in "${E_DATA[@]}"; do
    uuid=$(field "$line" uuid)
    votes[$uuid]=$((${votes[$uuid]:-0} + 1))
    E_POSITIONS+="$(field "$line" name)=$uuid:$(field "$line" seqno)"
    [[ $(field "$line" safe) == 1 ]] && E_POSITIONS+="(safe)"
    E_POSITIONS+=" "
  done
  E_POSITIONS=${E_POSITIONS% }
  E_MAJORITY=''
  for uuid in "${!votes[@]}"; do
    count=${votes[$uuid]}
    if ((count > best_count)); then
      E_MAJORITY=$uuid best_count=$count tie=0
    elif ((count == best_count)); then
      tie=1
    fi
  done
  if ((tie == 1 || best_count * 2 <= total)); then
    echo "wait the nodes disagree on the cluster UUID ($E_POSITIONS); a human must decide: $(override_hint "<pod>")"
    return 0
  fi
  if [[ $E_EMPTY != 1 && $E_UUID != "$E_MAJORITY" ]]; then
    echo "refuse the local data belongs to cluster $E_UUID, but the other nodes belong to $E_MAJORITY ($E_POSITIONS); this node will never bootstrap or merge it. Move the data away or delete the volume of $E_NAME to join as a new node"
    return 0
  fi
  return 1
}

# Orders candidates: higher seqno, then safe_to_bootstrap, then lower ordinal.
rank_key() {
  local line=$1
  printf '%020d %d %06d\n' "$(($(field "$line" seqno) + 1))" "$(field "$line" safe)" "$((999999 - $(ordinal_of "$(field "$line" name)")))"
}

# The data holder of the majority cluster with the best rank_key.
best_candidate() {
  local line key best='' best_key=''
  for line in "${E_DATA[@]}"; do
    [[ $(field "$line" uuid) == "$E_MAJORITY" ]] || continue
    key=$(rank_key "$line")
    if [[ -z $best || $key > "$best_key" ]]; then
      best=$line best_key=$key
    fi
  done
  printf '%s\n' "$best"
}

# 5. Every configured node answered: the most advanced position bootstraps, the others wait for it.
rule_most_advanced() {
  ((${#E_MISSING[@]} == 0)) || return 1
  local best name position
  best=$(best_candidate)
  name=$(field "$best" name)
  position="$E_MAJORITY:$(field "$best" seqno)"
  if [[ $name == "$E_NAME" ]]; then
    echo "bootstrap this node has the most advanced position $position of all ${#E_EXPECTED[@]} nodes ($E_POSITIONS)"
  else
    echo "wait $name has the most advanced position $position of all ${#E_EXPECTED[@]} nodes ($E_POSITIONS) and bootstraps; waiting for it"
  fi
  return 0
}

# 6. Not every node answered: only the last node out of a graceful shutdown is known to be ahead.
rule_last_out() {
  local best name position
  best=$(best_candidate)
  [[ $(field "$best" safe) == 1 ]] || return 1
  name=$(field "$best" name)
  position="$E_MAJORITY:$(field "$best" seqno)"
  if [[ $name == "$E_NAME" ]]; then
    echo "bootstrap this node left the cluster last in a graceful shutdown (safe_to_bootstrap: 1, position $position), so $(missing_list) cannot be ahead of it ($E_POSITIONS)"
  else
    echo "wait $name left the cluster last (safe_to_bootstrap: 1) and bootstraps; waiting for it ($E_POSITIONS)"
  fi
  return 0
}

# 7. Wait: a missing node may hold writes no reachable node has. A human may accept that loss.
rule_wait_for_missing() {
  local name
  name=$(field "$(best_candidate)" name)
  echo "wait full-cluster restart: no Primary component, and not every node is in the election: $(absent_text); they may hold writes no node in the election has (known: $E_POSITIONS). Waiting for every node; to bootstrap from $name anyway, accepting the loss of anything only the missing nodes had: $(override_hint "$name")"
}

override_hint() {
  printf 'kubectl exec -n %s %s -c mariadb -- touch %s' "${POD_NAMESPACE:-<namespace>}" "$1" "$FORCE_BOOTSTRAP_FILE"
}

# The state transfer of a join. Joiner and donor must agree on TLS (the joiner's socat listens
# with or without it, the donor's connects so), and during a rollout that turns TLS on, old and
# new configurations run side by side. So the joiner takes its own mode from the donors that
# share it; when none does, the mode every donor speaks, with those donors only:
#   - a TLS node joining nodes that are all still transitional receives in plain text (the
#     first node of the second rollout), as the transitional nodes did among themselves;
#   - a transitional node (it has the certificates) joining TLS-only nodes receives with TLS.
# A node with TLS off has no certificate and keeps its mode. DONORS is empty when any peer may
# donate (no running peer differs), else a comma-separated list for wsrep_sst_donor.
sst_plan() {
  local own line mode name same=() other=()
  own=$(own_sst_mode)
  IFS= read -r line # this node
  while IFS= read -r line; do
    [[ -n $line && $(field "$line" phase) == running && $(field "$line" primary) == 1 ]] || continue
    mode=$(field "$line" sst)
    name=$(field "$line" name)
    if [[ ${mode:-plain} == "$own" ]]; then same+=("$name"); else other+=("$name"); fi
  done
  local IFS=,
  if ((${#other[@]} == 0)); then
    echo "$own"
  elif ((${#same[@]} > 0)); then
    echo "$own ${same[*]}"
  elif [[ $own == tls || ${NODE_TLS:-off} == transitional ]]; then
    echo "$([[ $own == tls ]] && echo plain || echo tls) ${other[*]}"
  else
    echo "$own"
  fi
}

# The method of a join's state transfer. A donor runs the method the joiner asks for, as
# wsrep_sst_<method> from its mariadbd's PATH: stream (galera-sst.sh) when every running Primary
# peer can donate it (donates=stream: galera-start.sh put it on its mariadbd's PATH); otherwise
# mariabackup, which every image has. Nodes of an older version (a rolling
# upgrade) cannot donate stream, and a join that asked them for it would fail.
sst_method() {
  local line
  IFS= read -r line # this node
  while IFS= read -r line; do
    [[ -n $line && $(field "$line" phase) == running && $(field "$line" primary) == 1 ]] || continue
    if [[ $(field "$line" donates) != stream ]]; then
      echo mariabackup
      return 0
    fi
  done
  echo stream
}

# The watchdog's question, for a node that stays outside a Primary component: does restarting
# into the election help? Yes when a peer is running and Primary (the join failed after its
# state transfer, and mariadbd stays Disconnected: join again), or when every other configured
# node answers, none is Primary, and at least one waits in the election. A node waiting in the
# election has restarted, so a component that counted it can no longer restore itself (Galera
# restores a lost Primary component by itself only when every member of it is back), and the
# waiting node needs this node's vote: its partners crashed while it was partitioned, or a
# graceful leave under load split the others into non-Primary fragments while the leaver
# restarted. Otherwise, with nobody waiting or a peer unreachable, the nodes of the last
# Primary component restore it by themselves once they can talk again. The configured nodes are
# the membership the election counts (a scale rollout's pods differ: see membership).
rejoin_helps() {
  read_election_input "$1"
  local line phase waiting=0 name answered=" "
  for line in "${E_PEERS[@]}"; do
    phase=$(field "$line" phase)
    [[ $phase == running && $(field "$line" primary) == 1 ]] && return 0
    answered+="$(field "$line" name) "
    [[ $phase == waiting ]] && waiting=$((waiting + 1))
  done
  for name in "${E_EXPECTED[@]}"; do
    [[ $name == "$E_NAME" || $answered == *" $name "* ]] || return 1
  done
  ((waiting > 0))
}

# The order of graceful leaves (SIGTERM). Members that leave at the same moment can cost the
# survivors their quorum: a scale-down deletes its pods at once, and when two of five left within
# a second under load, Galera's view protocol processed neither leave, the three survivors did
# not agree on a new view before the install timeout, and they fell into non-Primary fragments
# (the deleted pods still counted in their last Primary component, so nobody could be elected).
# So leaves go one at a time, the highest ordinal first (the order of a scale-down), by mutual
# exclusion over the leaving= flag of the state lines: a node raises its flag, then reads its
# peers' lines. "go": no other flag is up. "yield <names>": a higher ordinal's flag is up: lower
# this node's flag and wait until theirs is down. "wait <names>": only lower ordinals' flags are
# up: keep the flag up and ask again (they yield to this node). A node's flag stays up until it
# is gone, and it goes only on a read made after it raised its flag that showed no other flag up,
# so two nodes never go together; the highest ordinal never yields, so someone always goes.
# Input: this node's line, then the lines of the peers that answered (a peer that does not
# answer has left, or cannot be waited for).
leave_turn() {
  local self line name mine higher='' lower=''
  IFS= read -r self
  mine=$(ordinal_of "$(field "$self" name)")
  while IFS= read -r line; do
    [[ -n $line && $(field "$line" leaving) == 1 ]] || continue
    name=$(field "$line" name)
    if (($(ordinal_of "$name") > mine)); then higher+=" $name"; else lower+=" $name"; fi
  done
  if [[ -n $higher ]]; then
    echo "yield${higher}"
  elif [[ -n $lower ]]; then
    echo "wait${lower}"
  else
    echo go
  fi
}

# The watchdog's other question, for a node inside a Primary component: is it stuck desynced?
# Galera desyncs a donor for its state transfer and resyncs it when the SST script reports the
# transfer sent. When the donor drops out of the Primary component during the transfer (a view
# change while a second joiner arrives), Galera refuses that report ("sst sent called when not
# SST donor") and, back in the Primary component, the node stays Donor/Desynced (local state 2)
# for good: Synced peers, wsrep_ready OFF, out of every endpoint. Explained desyncs are left
# alone: a transfer in progress (an SST script running under mariadbd), wsrep_desync=ON set by
# an operator, and a backup's lock (short, and bounded by the restart delay: see the README).
# A lone node is never restarted: it has no peer to resync from.
desync_unexplained() {
  local local_state=$1 size=$2 desync=$3 sst_running=$4
  [[ $local_state == 2 ]] && ((size > 1)) && [[ $desync == OFF && $sst_running == 0 ]]
}
