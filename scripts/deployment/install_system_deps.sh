#!/usr/bin/env bash
# Install the system packages the deployment tests need (Debian/Ubuntu): PostgreSQL server
# binaries (initdb, pg_ctl) and Chromium for Playwright. Idempotent: installs only what is missing.
# Run as root (or with sudo). Nothing is started: the tests start a private PostgreSQL cluster.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

have_pg() {
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1
}
have_chromium() {
    [ -x /usr/bin/chromium ] || [ -x "${AEP_CHROMIUM:-/nonexistent}" ]
}

missing=()
have_pg || missing+=(postgresql)
have_chromium || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
    echo "PostgreSQL and Chromium already installed; nothing to do."
    exit 0
fi

echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"

# Debian's postgresql package may start a system cluster; the tests do not need it.
if command -v pg_lsclusters >/dev/null 2>&1; then
    echo "Note: the tests run their own PostgreSQL cluster in a temp dir; a system cluster is not used."
fi
have_pg && have_chromium && echo "Done."
