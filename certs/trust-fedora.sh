#!/usr/bin/env bash
# Trusts davtap's CA in the Fedora/RHEL system store (/etc/pki/ca-trust/source/anchors), which
# curl, wget, git, Python's ssl module (python3-caldav, vdirsyncer), rclone, cadaver/neon and most
# other programs linked against OpenSSL or GnuTLS read; `--remove` takes it out again.
#
#   certs/trust-fedora.sh [PEM]            trust PEM (default: davtap's default CA file)
#   certs/trust-fedora.sh --remove         remove the trust
#
# Idempotent: running it twice changes nothing the second time. Runs sudo for what needs root when
# not run as root. DAVTAP_TRUST_ROOT prefixes the store's path (a chroot or a test's directory).
set -euo pipefail

name=davtap.pem
store="${DAVTAP_TRUST_ROOT:-}/etc/pki/ca-trust/source/anchors"
update_cmd="update-ca-trust"
other_system="Debian/Ubuntu"
other_script=trust-debian.sh
# shellcheck source=certs/trust-system.sh
. "$(dirname "$0")/trust-system.sh"
