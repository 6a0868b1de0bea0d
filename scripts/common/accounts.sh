#!/usr/bin/env bash
# The declared users and databases (the users and databases props, src/core/accounts.ts), kept as
# declared by the node that takes writes (sourced by the start scripts, never run).
#
# The declaration is ACCOUNTS_FILE, one tab-separated line each (names and privileges are checked
# at synth time: letters, digits and _; privileges from a fixed list):
#   database  NAME  CHARACTER_SET  COLLATION
#   user      NAME  MAX_CONNECTIONS  PASSWORD_FILE
#   grant     USER  PRIVILEGE[,PRIVILEGE...]  DATABASE  TABLE|*
# Passwords are read from their files (a Secret's keys) and travel on the client's stdin only.
#
# What the cluster created is recorded in DECLARED_TABLE: a user removed from the declaration is
# dropped only when it is recorded there, so an account someone else made is never dropped (a
# declared user that existed before is adopted without being recorded). Databases are never
# dropped. Grants are rewritten (REVOKE ALL, then GRANT) only when the declaration's grants
# changed since the last apply (their hash is recorded too), so a rollout that changes nothing
# leaves every session's privileges alone; passwords and limits are set every time (ALTER USER,
# idempotent), so a rotated Secret takes effect at the next rollout.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

ACCOUNTS_FILE=${ACCOUNTS_FILE:-$NODE_CONFIG_DIR/accounts.list}
DECLARED_TABLE=mysql.declared_accounts
# 1: the declared databases are left alone (a cluster that follows an external source: its
# databases are the source's, and one created or altered here with other defaults would give the
# source's later tables other column types, which stops the following). The grants may name them
# before they exist.
ACCOUNTS_SKIP_DATABASES=${ACCOUNTS_SKIP_DATABASES:-0}

# The declaration's lines of one kind.
lines_of() {
  awk -F'\t' -v kind="$1" '$1 == kind' "$ACCOUNTS_FILE" 2>/dev/null
}

# The statements that bring the server to the declaration (passwords inside: stdin only).
declared_accounts_sql() {
  local kind a b c d grants_hash
  grants_hash=$(lines_of grant | sha256sum | cut -c1-64)
  cat <<SQL
CREATE TABLE IF NOT EXISTS $DECLARED_TABLE (name VARCHAR(80) PRIMARY KEY, kind VARCHAR(16) NOT NULL,
  detail VARCHAR(128) NOT NULL DEFAULT '', at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB;
SET @grants_changed = NOT EXISTS (SELECT 1 FROM $DECLARED_TABLE WHERE kind = 'grants' AND detail = '$grants_hash');
SQL
  while IFS=$'\t' read -r kind a b c d; do
    case $kind in
      database)
        ((ACCOUNTS_SKIP_DATABASES == 0)) || continue
        echo "CREATE DATABASE IF NOT EXISTS \`$a\` CHARACTER SET $b COLLATE $c;"
        echo "ALTER DATABASE \`$a\` CHARACTER SET $b COLLATE $c;"
        ;;
      user)
        [[ -s $c ]] || { log_error "declared user $a: its password file $c is missing or empty (the Secret key in users[].passwordSecret)"; return 1; }
        # created here (not there before): recorded, so that removing it from the declaration drops it
        echo "INSERT IGNORE INTO $DECLARED_TABLE (name, kind) SELECT '$a', 'user' FROM DUAL"
        echo "  WHERE NOT EXISTS (SELECT 1 FROM mysql.global_priv WHERE User = '$a' AND Host = '%');"
        echo "CREATE USER IF NOT EXISTS '$a'@'%' IDENTIFIED BY $(sql_quote "$(<"$c")");"
        echo "ALTER USER '$a'@'%' IDENTIFIED BY $(sql_quote "$(<"$c")") WITH MAX_USER_CONNECTIONS $b;"
        ;;
      grant) ;;
      '') ;;
      *) log_error "$ACCOUNTS_FILE: unknown line kind '$kind'"; return 1 ;;
    esac
  done <"$ACCOUNTS_FILE"
  # grants: rewritten only when the declared grants changed
  lines_of user | while IFS=$'\t' read -r kind a b c d; do
    echo "SET @s = IF(@grants_changed, 'REVOKE ALL PRIVILEGES, GRANT OPTION FROM ''$a''@''%''', 'DO 0'); EXECUTE IMMEDIATE @s;"
  done
  lines_of grant | while IFS=$'\t' read -r kind a b c d; do
    local on="\`$c\`.*"
    [[ $d == '*' ]] || on="\`$c\`.\`$d\`"
    echo "SET @s = IF(@grants_changed, 'GRANT ${b//,/, } ON $on TO ''$a''@''%''', 'DO 0'); EXECUTE IMMEDIATE @s;"
  done
  cat <<SQL
REPLACE INTO $DECLARED_TABLE (name, kind, detail) VALUES ('', 'grants', '$grants_hash');
SQL
}

# The recorded users no longer declared: dropped, and their records removed. Nothing when no
# user was ever recorded (no table: the cluster never declared one); fails when the server does
# not answer, so the caller tries again.
dropped_accounts_sql() {
  local user recorded
  recorded=$(local_sql -e "SELECT name FROM $DECLARED_TABLE WHERE kind = 'user'" 2>&1) || {
    [[ $recorded == *"ERROR 1146"* ]] && return 0
    log_warn "reading $DECLARED_TABLE failed: $recorded"
    return 1
  }
  for user in $recorded; do
    lines_of user | cut -f2 | grep -qx "$user" && continue
    echo "DROP USER IF EXISTS '$user'@'%';"
    echo "DELETE FROM $DECLARED_TABLE WHERE kind = 'user' AND name = '$user';"
  done
}

# Brings the server to the declaration; logs what it did. Fails (naming why) without changing
# anything when a password file is missing. No ACCOUNTS_FILE is an empty declaration: only the
# users it recorded earlier are dropped.
apply_declared_accounts() {
  local statements dropped users
  if [[ -f $ACCOUNTS_FILE ]]; then
    statements=$(declared_accounts_sql) || return 1
    local_sql <<<"$statements" || { log_error "applying the declared users and databases failed"; return 1; }
  fi
  dropped=$(dropped_accounts_sql) || return 1
  [[ -f $ACCOUNTS_FILE || -n $dropped ]] || return 0
  if [[ -n $dropped ]]; then
    local_sql <<<"$dropped" || { log_error "dropping the users removed from the declaration failed"; return 1; }
  fi
  users=$(lines_of user | cut -f2 | tr '\n' ' ')
  local databases
  databases="$(lines_of database | wc -l) database(s)"
  ((ACCOUNTS_SKIP_DATABASES == 0)) || databases="the databases left to the source it follows"
  log_info "declared accounts applied: users ${users:-none}, $databases${dropped:+; dropped: $(awk -F"'" '/^DROP USER/ { print $2 }' <<<"$dropped" | tr '\n' ' ')}"
}
