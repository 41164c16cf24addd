#!/usr/bin/env bash
# Usage: scripts/deps.sh [ui]
#
# Installs the system packages `make test` needs and does not build itself:
# Debian's chromium (the browser tests), gcc (go test -race needs cgo),
# python3-venv (the venvs of the MLflow clients) and nginx (the reverse
# proxy of the trusted-proxy test; only its binary is used, never the
# service). As root it installs the
# missing ones with apt-get; otherwise it stops at once with the exact
# command to run. Prints nothing when everything is there. With "ui" it
# checks only for npm and Node (make ui, which builds the web UI).
set -euo pipefail

missing=()
if [ "${1:-}" = ui ]; then
    command -v npm >/dev/null 2>&1 || missing+=(npm)
else
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: make test needs these Debian packages: ${missing[*]}" >&2
    echo "deps.sh: install them with:  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps.sh: missing ${missing[*]} and there is no apt-get; install them with your package manager" >&2
    exit 1
fi
echo "deps.sh: apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
