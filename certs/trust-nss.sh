#!/usr/bin/env bash
# Trusts davtap's CA in the current user's NSS databases: Firefox and Thunderbird profiles (also
# their snap and Flatpak homes) and Chromium/Chrome's ~/.pki/nssdb, which do not read the system
# store on Linux; `--remove` takes it out again. Needs certutil (Debian/Ubuntu: libnss3-tools,
# Fedora: nss-tools). Run it as the user whose browser it is, not with sudo.
#
#   certs/trust-nss.sh [--db DIR]... [PEM]    trust PEM (default: davtap's default CA file)
#   certs/trust-nss.sh [--db DIR]... --remove remove the trust
#
# --db DIR names a database directory (holding cert9.db) instead of looking for them. Idempotent:
# a database that already trusts this certificate is left alone; one holding an older davtap CA
# (after `davtap ca --regenerate`) gets the new one instead. Restart the browser afterwards.
set -euo pipefail

nick="davtap CA"
me=${0##*/}

die() { printf '%s: %s\n' "$me" "$*" >&2; exit 2; }

usage() {
  cat <<USAGE
Usage: $me [--db DIR]... [PEM]        trust davtap's CA (PEM: default $(default_pem))
       $me [--db DIR]... --remove     remove the trust again
USAGE
}

default_pem() {
  local config="${XDG_CONFIG_HOME:-}"
  case "$config" in /*) ;; *) config="$HOME/.config" ;; esac
  printf '%s/davtap/ca/davtap-ca.pem\n' "$config"
}

# The base64 body of the first certificate in a PEM text on standard input, on one line.
pem_body() {
  tr -d '\r' | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' | sed '1d;$d' | tr -d '\n '
}

# Every NSS database (sql format: cert9.db) of the current user.
find_dbs() {
  local d
  for d in \
    "$HOME/.pki/nssdb" \
    "$HOME/snap/chromium/current/.pki/nssdb" \
    "$HOME"/.mozilla/firefox/*/ \
    "$HOME"/snap/firefox/common/.mozilla/firefox/*/ \
    "$HOME"/.var/app/org.mozilla.firefox/.mozilla/firefox/*/ \
    "$HOME"/.thunderbird/*/ \
    "$HOME"/snap/thunderbird/common/.thunderbird/*/ \
    "$HOME"/.var/app/org.mozilla.Thunderbird/.thunderbird/*/; do
    d=${d%/}
    if [ -f "$d/cert9.db" ]; then printf '%s\n' "$d"
    elif [ -f "$d/cert8.db" ]; then printf '%s: %s has only the old cert8.db format: skipped\n' "$me" "$d" >&2
    fi
  done
}

remove=0
pem=""
dbs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --remove) remove=1 ;;
    --db) [ $# -ge 2 ] || die "--db needs a directory"; dbs+=("${2%/}"); shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [ -z "$pem" ] || die "one PEM file only"; pem=$1 ;;
  esac
  shift
done

command -v certutil >/dev/null 2>&1 || die "certutil not found: install libnss3-tools (Debian/Ubuntu) or nss-tools (Fedora)"

if [ ${#dbs[@]} -eq 0 ]; then
  while IFS= read -r d; do dbs+=("$d"); done < <(find_dbs)
fi
if [ ${#dbs[@]} -eq 0 ]; then
  printf 'no NSS database found for %s (start Firefox or Chromium once, or name one with --db DIR)\n' "${USER:-$(id -un)}"
  exit 0
fi

if [ "$remove" -eq 0 ]; then
  pem=${pem:-$(default_pem)}
  [ -r "$pem" ] || die "cannot read $pem (run 'davtap ca' to create the CA, or give the PEM's path)"
  if grep -q -- 'PRIVATE KEY' "$pem"; then die "$pem holds a private key: give the certificate (davtap-ca.pem), never the key"; fi
  want=$(pem_body <"$pem")
  [ -n "$want" ] || die "$pem is not a PEM certificate"
fi

for db in "${dbs[@]}"; do
  [ -f "$db/cert9.db" ] || die "$db holds no cert9.db"
  if [ "$remove" -eq 0 ] && certutil -d "sql:$db" -L -n "$nick" >/dev/null 2>&1; then
    have=$(certutil -d "sql:$db" -L -n "$nick" -a 2>/dev/null | pem_body)
    if [ "$have" = "$want" ]; then
      printf 'already trusted: %s\n' "$db"
      continue
    fi
  fi
  # Remove every certificate under our nickname (an older CA, or all of them for --remove).
  removed=0
  while certutil -d "sql:$db" -L -n "$nick" >/dev/null 2>&1; do
    certutil -d "sql:$db" -D -n "$nick"
    removed=$((removed + 1))
    [ "$removed" -lt 20 ] || die "cannot remove '$nick' from $db"
  done
  if [ "$remove" -eq 1 ]; then
    if [ "$removed" -gt 0 ]; then printf 'removed: %s\n' "$db"; else printf 'not trusted: %s\n' "$db"; fi
  else
    certutil -d "sql:$db" -A -t "C,," -n "$nick" -i "$pem"
    printf 'trusted: %s\n' "$db"
  fi
done
