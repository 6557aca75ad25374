# The body of trust-debian.sh and trust-fedora.sh, which set where the system store is and how it
# is refreshed, then source this file: name, store, update_cmd, other_system, other_script.
# shellcheck shell=bash
# shellcheck disable=SC2154 # the variables above are set by the script that sources this one
me=${0##*/}

die() { printf '%s: %s\n' "$me" "$*" >&2; exit 2; }

usage() {
  cat <<USAGE
Usage: $me [PEM]        trust davtap's CA (PEM: default $(default_pem))
       $me --remove     remove the trust again
USAGE
}

# davtap's default CA file (defaultCaDir() in src/proxy/ca.ts), for the user who ran sudo if any.
default_pem() {
  local config
  if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    config="$(getent passwd "$SUDO_USER" | cut -d: -f6)/.config"
  else
    config="${XDG_CONFIG_HOME:-}"
    case "$config" in /*) ;; *) config="$HOME/.config" ;; esac
  fi
  printf '%s/davtap/ca/davtap-ca.pem\n' "$config"
}

# A command's path: PATH first, then the sbin directories a user's PATH may lack.
find_cmd() {
  local dir
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return 0; fi
  for dir in /usr/local/sbin /usr/sbin /sbin; do
    if [ -x "$dir/$1" ]; then printf '%s\n' "$dir/$1"; return 0; fi
  done
  return 1
}

# With DAVTAP_TRUST_ROOT the store is a directory of the caller's: nothing needs root.
as_root() {
  if [ "$(id -u)" -eq 0 ] || [ -n "${DAVTAP_TRUST_ROOT:-}" ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "needs root for: $*"
  fi
}

# The certificate with LF line ends (davtap writes CRLF, as PEM allows), refusing anything else.
normalized_pem() {
  local pem=$1
  [ -r "$pem" ] || die "cannot read $pem (run 'davtap ca' to create the CA, or give the PEM's path)"
  if grep -q -- 'PRIVATE KEY' "$pem"; then die "$pem holds a private key: give the certificate (davtap-ca.pem), never the key"; fi
  grep -q -- '-----BEGIN CERTIFICATE-----' "$pem" || die "$pem is not a PEM certificate"
  if command -v openssl >/dev/null 2>&1; then
    openssl x509 -in "$pem" -noout 2>/dev/null || die "$pem is not a valid certificate"
  fi
  tr -d '\r' <"$pem"
}

remove=0
pem=""
while [ $# -gt 0 ]; do
  case "$1" in
    --remove) remove=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [ -z "$pem" ] || die "one PEM file only"; pem=$1 ;;
  esac
  shift
done

update=$(find_cmd "$update_cmd") || die "$update_cmd not found: install the ca-certificates package (on $other_system use $other_script)"
dest="$store/$name"

if [ "$remove" -eq 1 ]; then
  if [ ! -e "$dest" ]; then
    printf 'davtap CA not in the system store (%s): nothing to remove\n' "$dest"
    exit 0
  fi
  as_root rm -f "$dest"
  as_root "$update"
  printf 'removed %s from the system store\n' "$dest"
  exit 0
fi

pem=${pem:-$(default_pem)}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
normalized_pem "$pem" >"$tmp"
if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
  printf 'davtap CA already trusted (%s)\n' "$dest"
  exit 0
fi
as_root install -D -m 0644 "$tmp" "$dest"
as_root "$update"
printf 'trusted %s as %s; undo with: %s --remove\n' "$pem" "$dest" "$0"
