#!/usr/bin/env bash
# Trusts davtap's CA in the Debian/Ubuntu system store (/usr/local/share/ca-certificates), which
# curl, wget, git, Python's ssl module (python3-caldav, vdirsyncer), rclone, cadaver/neon and most
# other programs linked against OpenSSL or GnuTLS read; `--remove` takes it out again.
#
#   certs/trust-debian.sh [PEM]            trust PEM (default: davtap's default CA file)
#   certs/trust-debian.sh --remove         remove the trust
#
# Idempotent: running it twice changes nothing the second time. Runs sudo for what needs root when
# not run as root. DAVTAP_TRUST_ROOT prefixes the store's path (a chroot or a test's directory).
set -euo pipefail

name=davtap.crt
store="${DAVTAP_TRUST_ROOT:-}/usr/local/share/ca-certificates"
update_cmd="update-ca-certificates"
other_system="Fedora/RHEL"
other_script=trust-fedora.sh
# shellcheck source=certs/trust-system.sh
. "$(dirname "$0")/trust-system.sh"
