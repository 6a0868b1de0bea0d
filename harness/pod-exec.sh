#!/bin/bash
# Container start-up for the pod harness (harness/pods.ts). It is started as
#   ip netns exec <pod-netns> unshare --pid --fork --kill-child --mount-proc --uts -- bash -p pod-exec.sh ...
# so it runs as root, as pid 1 of a fresh PID namespace, with a private mount namespace and a
# private UTS namespace, in the pod's network namespace (whose /etc/hosts ip-netns-exec has
# already bind-mounted). It bind-mounts the pod's volumes at their mountPaths, sets the
# hostname, optionally makes every other mount read-only (readOnlyRootFilesystem), then execs
# the container command as the container user, which thereby becomes pid 1 of the container,
# exactly as under a container runtime (so an init that installs no SIGTERM handler ignores
# SIGTERM, and when it exits every other process of the container dies with it).
#
# The container environment is this script's environment (bash -p ignores BASH_ENV, ENV,
# SHELLOPTS and exported functions); the script's own variables are all prefixed __pe_.
#
# Options:
#   --hostname NAME           hostname in the container's UTS namespace
#   --uid N --gid N           user and primary group of the command
#   --groups N[,N...]         supplementary groups
#   --no-new-privs            allowPrivilegeEscalation: false
#   --bounding-set SPEC       setpriv capability bounding set, e.g. -all or -all,+chown
#   --ro-root                 remount every mount except /proc, /sys, /dev and volumes read-only
#   --wd DIR                  working directory of the command
#   --mount SRC DST ro|rw     bind-mount SRC (a host path) at DST; repeated, parents first
#   -- CMD [ARG...]           the container command and arguments
set -euo pipefail

__pe_hostname=
__pe_uid=0
__pe_gid=0
__pe_groups=0
__pe_nnp=0
__pe_bounding=-all
__pe_ro_root=0
__pe_wd=/
__pe_src=()
__pe_dst=()
__pe_mode=()
while [ $# -gt 0 ]; do
  case "$1" in
    --hostname) __pe_hostname=$2; shift 2 ;;
    --uid) __pe_uid=$2; shift 2 ;;
    --gid) __pe_gid=$2; shift 2 ;;
    --groups) __pe_groups=$2; shift 2 ;;
    --no-new-privs) __pe_nnp=1; shift ;;
    --bounding-set) __pe_bounding=$2; shift 2 ;;
    --ro-root) __pe_ro_root=1; shift ;;
    --wd) __pe_wd=$2; shift 2 ;;
    --mount) __pe_src+=("$2"); __pe_dst+=("$3"); __pe_mode+=("$4"); shift 4 ;;
    --) shift; break ;;
    *) echo "pod-exec: unknown option $1" >&2; exit 127 ;;
  esac
done
[ $# -gt 0 ] || { echo "pod-exec: no command" >&2; exit 127; }

# Open every source first: a mountPath may hide a source path (e.g. a volume at /var/tmp when
# the harness keeps its files under /var/tmp); mounting from /proc/self/fd avoids that.
__pe_fd=()
for __pe_i in "${!__pe_src[@]}"; do
  exec {__pe_f}<"${__pe_src[$__pe_i]}"
  __pe_fd+=("$__pe_f")
done
for __pe_i in "${!__pe_src[@]}"; do
  __pe_d=${__pe_dst[$__pe_i]}
  if [ -d "${__pe_src[$__pe_i]}" ]; then
    /usr/bin/mkdir -p -- "$__pe_d"
  else
    /usr/bin/mkdir -p -- "$(/usr/bin/dirname -- "$__pe_d")"
    [ -e "$__pe_d" ] || : >"$__pe_d"
  fi
  /usr/bin/mount --no-canonicalize --bind "/proc/self/fd/${__pe_fd[$__pe_i]}" "$__pe_d"
  if [ "${__pe_mode[$__pe_i]}" = ro ]; then
    /usr/bin/mount --no-canonicalize -o remount,bind,ro "$__pe_d"
  fi
done
for __pe_f in "${__pe_fd[@]}"; do exec {__pe_f}<&-; done

if [ -n "$__pe_hostname" ]; then
  echo "$__pe_hostname" >/proc/sys/kernel/hostname
fi

if [ "$__pe_ro_root" = 1 ]; then
  /usr/bin/mount --no-canonicalize -o remount,bind,ro /
  # Mount points under the root file system other than the API file systems and the
  # volumes (in a container they would all be part of the read-only image).
  while read -r _ _ _ _ __pe_mp _; do
    case "$__pe_mp" in
      / | /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /etc/hosts | /etc/resolv.conf | *\\*) continue ;;
    esac
    __pe_skip=0
    for __pe_d in "${__pe_dst[@]}"; do
      case "$__pe_mp" in "$__pe_d" | "$__pe_d"/*) __pe_skip=1 ;; esac
    done
    [ "$__pe_skip" = 1 ] && continue
    /usr/bin/mount --no-canonicalize -o remount,bind,ro "$__pe_mp" 2>/dev/null || true
  done </proc/self/mountinfo
fi

cd -- "$__pe_wd"
umask 022
__pe_cmd=(/usr/bin/setpriv --reuid "$__pe_uid" --regid "$__pe_gid" --groups "$__pe_groups" --inh-caps=-all "--bounding-set=$__pe_bounding")
[ "$__pe_nnp" = 1 ] && __pe_cmd+=(--no-new-privs)
export -n SHLVL OLDPWD 2>/dev/null || true
exec "${__pe_cmd[@]}" -- "$@"
