#!/usr/bin/env bash
# Prints the programs (executables in the image PATH's directories) of a list of Debian binary
# packages, one name per line, sorted: how harness/images/*.programs were derived from the
# images' published package lists. It reads each package's file list from this machine's dpkg
# when the package is installed, otherwise from the .deb that apt-get downloads (Debian 12's
# archive); a package this archive does not have is reported on stderr and skipped (check by
# hand that it installs no programs).
#   harness/images/derive-programs.sh PACKAGE...
set -euo pipefail

log() { printf 'derive-programs: %s\n' "$*" >&2; }

# The file list of one package, from dpkg or from its downloaded .deb.
package_files() {
  local pkg=$1 tmp
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    dpkg-query -L "$pkg"
    return
  fi
  tmp=$(mktemp -d)
  if (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1); then
    dpkg-deb -c "$tmp"/*.deb | awk '{ print $6 }' | sed 's|^\./|/|'
  else
    log "$pkg: not in this machine's archive, skipped"
  fi
  rm -rf "$tmp"
}

# Names of the files a package puts in a PATH directory.
programs_of() {
  # A package without programs (a library) matches nothing, which is no error.
  package_files "$1" | { grep -E '^/(usr/)?(local/)?s?bin/[^/]+$' || true; } | sed 's|.*/||'
}

main() {
  (($# > 0)) || { log 'usage: derive-programs.sh PACKAGE...'; exit 2; }
  local pkg
  for pkg in "$@"; do programs_of "$pkg"; done | sort -u
}

main "$@"
