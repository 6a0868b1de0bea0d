#!/usr/bin/env bash
# Renders the final proxysql.cnf from the ConfigMap template and the credentials Secret, then
# execs the command it was given (ProxySQL). It is the entrypoint of the ProxySQL container,
# so every container start reads the Secret again.
#
#   proxysql-render.sh [command [argument...]]
#
# The template holds @@NAME@@ placeholders inside libconfig strings. Each one is replaced, in a
# single pass (a password that looks like a placeholder stays as it is), by a Secret value with
# the libconfig string escapes (backslash and double quote). The result is written with mode
# 0600 to a memory-backed emptyDir.
#
# Environment (written by the ProxySql construct):
#   PROXYSQL_TEMPLATE     the template, from the ConfigMap
#   PROXYSQL_CONFIG       the file to write
#   PROXYSQL_SECRET_DIR   the directory the Secret's keys are mounted in, one file per key
#   PROXYSQL_SECRET_NAME  the Secret's name, for messages
#   PROXYSQL_APP_PASSWORD_KEY, PROXYSQL_MONITOR_PASSWORD_KEY, PROXYSQL_ADMIN_PASSWORD_KEY
#                         the Secret key each placeholder is filled from
#   PROXYSQL_USER_PASSWORD_FILES
#                         the declared users' placeholders, space-separated USER_PASSWORD_<n>=FILE
#                         (FILE is <dir>/<Secret>/<key>; quoted as the application password)
set -euo pipefail
# bash 5.2 replaces '&' in the replacement of ${var//pattern/replacement} by the match.
shopt -u patsub_replacement 2>/dev/null || true
export LC_ALL=C

TEMPLATE=${PROXYSQL_TEMPLATE:-/opt/proxysql/proxysql.cnf.tmpl}
OUTPUT=${PROXYSQL_CONFIG:-/run/proxysql/proxysql.cnf}
SECRET_DIR=${PROXYSQL_SECRET_DIR:-/etc/proxysql/credentials}
SECRET_NAME=${PROXYSQL_SECRET_NAME:-galera-credentials}

declare -A SECRET_KEY=(
  [APP_PASSWORD]=${PROXYSQL_APP_PASSWORD_KEY:-app-password}
  [MONITOR_PASSWORD]=${PROXYSQL_MONITOR_PASSWORD_KEY:-monitor-password}
  [ADMIN_PASSWORD]=${PROXYSQL_ADMIN_PASSWORD_KEY:-proxysql-admin-password}
)
# ProxySQL's config loader copies these values into SQL without escaping them
# (ProxySQL_Config.cpp): user passwords inside '...', variables inside "...". Doubling the quote
# is the SQL escape inside such a literal, so every character arrives. Admin credentials are also
# split at ':' and ';' when ProxySQL applies them: those two characters can never be carried
# there and are refused, loudly. Same table as PASSWORD_PLACEHOLDERS in src/proxysql-config.ts.
declare -A SQL_QUOTE=(
  [APP_PASSWORD]="'"
  [MONITOR_PASSWORD]='"'
  [ADMIN_PASSWORD]='"'
)
declare -A FORBIDDEN=(
  [APP_PASSWORD]=''
  [MONITOR_PASSWORD]=''
  [ADMIN_PASSWORD]=':;'
)
# The declared users' password files, by placeholder.
declare -A USER_FILE=()
for entry in ${PROXYSQL_USER_PASSWORD_FILES:-}; do
  USER_FILE[${entry%%=*}]=${entry#*=}
  SQL_QUOTE[${entry%%=*}]="'"
  FORBIDDEN[${entry%%=*}]=''
done

# log.sh sits next to this file in the pod (one ConfigMap directory), in ../common in the repository.
# shellcheck disable=SC2034 # read by log.sh
LOG_COMPONENT=proxysql-render
if [[ -f $(dirname "${BASH_SOURCE[0]}")/log.sh ]]; then
  # shellcheck source-path=SCRIPTDIR source=../common/log.sh
  source "$(dirname "${BASH_SOURCE[0]}")/log.sh"
else
  # shellcheck source-path=SCRIPTDIR source=../common/log.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../common/log.sh"
fi

# A libconfig string body: backslash first, then double quote.
libconfig_escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '%s' "$s"
}

[[ -r $TEMPLATE ]] || die "cannot read the template $TEMPLATE (ConfigMap not mounted?)"
template=$(<"$TEMPLATE")

# The placeholders the template uses, each once in this list.
declare -A used=()
rest=$template
placeholder_re='@@([A-Z0-9_]+)@@'
while [[ $rest =~ $placeholder_re ]]; do
  used[${BASH_REMATCH[1]}]=1
  rest=${rest#*"${BASH_REMATCH[0]}"}
done
for name in "${!used[@]}"; do
  [[ -v "SECRET_KEY[$name]" || -v "USER_FILE[$name]" ]] || die "the template $TEMPLATE has an unknown placeholder @@${name}@@"
done
for name in "${!SECRET_KEY[@]}" "${!USER_FILE[@]}"; do
  [[ -v "used[$name]" ]] || die "the template $TEMPLATE has no @@${name}@@ placeholder: template and script do not belong together"
done

problems=()
missing=0
declare -A escaped=()
for name in APP_PASSWORD MONITOR_PASSWORD ADMIN_PASSWORD "${!USER_FILE[@]}"; do
  if [[ -v "USER_FILE[$name]" ]]; then
    file=${USER_FILE[$name]}
    secret=$(basename "$(dirname "$file")") key=$(basename "$file")
  else
    secret=$SECRET_NAME key=${SECRET_KEY[$name]} file=$SECRET_DIR/${SECRET_KEY[$name]}
  fi
  if [[ ! -f $file ]]; then
    problems+=("Secret '$secret' has no key '$key' (expected the file $file)")
    [[ -v "USER_FILE[$name]" ]] || missing=$((missing + 1))
    continue
  fi
  if [[ ! -r $file ]]; then
    problems+=("Secret '$secret' key '$key' is not readable by uid $EUID ($file)")
    continue
  fi
  # Read exactly as the Galera node scripts do (galera-lib.sh): trailing newlines are
  # dropped, so a Secret made with a trailing newline gives the same password on both sides.
  value=$(<"$file")
  if [[ -z $value ]]; then
    problems+=("Secret '$secret' key '$key' is empty")
    continue
  fi
  if [[ $value == *[[:cntrl:]]* ]]; then
    problems+=("Secret '$secret' key '$key' contains a control character (newline, tab, ...): not allowed in a password")
    continue
  fi
  forbidden=${FORBIDDEN[$name]}
  for ((i = 0; i < ${#forbidden}; i++)); do
    ch=${forbidden:i:1}
    if [[ $value == *"$ch"* ]]; then
      problems+=("Secret '$secret' key '$key' contains the character $ch, which ProxySQL can never carry here (it splits admin credentials at ':' and ';'; forbidden: $forbidden)")
    fi
  done
  quote=${SQL_QUOTE[$name]}
  escaped[$name]=$(libconfig_escape "${value//"$quote"/"$quote$quote"}")
done
if ((missing == ${#SECRET_KEY[@]})); then
  problems+=("none of the keys is there: the Secret '$SECRET_NAME' probably does not exist in this namespace")
fi
if ((${#problems[@]} > 0)); then
  for p in "${problems[@]}"; do log_error "$p"; done
  die "proxysql.cnf not written. Create or fix the Secret, e.g. npm run new-secret -- $SECRET_NAME <namespace> | kubectl apply -f -"
fi

# Single pass: text before the first placeholder, its value, then the rest.
rendered=''
rest=$template
while [[ $rest =~ $placeholder_re ]]; do
  token=${BASH_REMATCH[0]}
  rendered+=${rest%%"$token"*}
  rendered+=${escaped[${BASH_REMATCH[1]}]}
  rest=${rest#*"$token"}
done
rendered+=$rest

# Only bash builtins from here on: umask makes a new file 0600, and only this script ever
# writes the file (ProxySQL is not running yet: it is exec'ed below).
umask 077
printf '%s\n' "$rendered" >"$OUTPUT"
log_info "wrote $OUTPUT from $TEMPLATE and Secret '$SECRET_NAME' (keys ${SECRET_KEY[APP_PASSWORD]}, ${SECRET_KEY[MONITOR_PASSWORD]}, ${SECRET_KEY[ADMIN_PASSWORD]})${USER_FILE[*]:+, passwords of the declared users ${USER_FILE[*]}}"

# With TLS on, ProxySQL reads its certificate for clients from fixed files in its datadir at
# start (src/proxy_tls.cpp); the Secret's files are copied there. The agent container copies a
# renewed certificate again and reloads it.
install_tls() {
  local dir=${PROXYSQL_TLS_DIR:-} data=${PROXYSQL_DATA_DIR:-/var/lib/proxysql} file missing=()
  [[ -n $dir ]] || return 0
  for file in ca.crt tls.crt tls.key; do
    [[ -s $dir/$file ]] || missing+=("$file")
  done
  if ((${#missing[@]} > 0)); then
    die "TLS is on but Secret '${PROXYSQL_TLS_SECRET_NAME:-?}' lacks ${missing[*]} (mounted at $dir); create the certificates with: npm run -s new-tls -- <namespace> | kubectl apply -f -   (or name a cert-manager issuer in tls.issuer)"
  fi
  # install, not cp: a copy left by an earlier start (mode 0600 or read-only) is replaced
  install -m 0600 "$dir/ca.crt" "$data/proxysql-ca.pem"
  install -m 0600 "$dir/tls.crt" "$data/proxysql-cert.pem"
  install -m 0600 "$dir/tls.key" "$data/proxysql-key.pem"
  log_info "installed the TLS certificate of Secret '${PROXYSQL_TLS_SECRET_NAME:-?}' for clients into $data"
}
install_tls

if (($# > 0)); then
  exec "$@"
fi
