#!/usr/bin/env bash
# Usage: scripts/venv.sh REQUIREMENTS_FILE LINK_PATH
#
# Builds (once) a Python virtualenv for REQUIREMENTS_FILE in
#   ${MLBOX_CACHE:-$HOME/.cache/mlbox}/venv-<first 16 hex of sha256(requirements file)>
# and makes LINK_PATH (e.g. .venv) a symlink to it. Prints the venv path.
#
# The venv is built in a temporary directory beside its final place and only
# renamed into place after `pip install` succeeded, so an interrupted or failed
# build is never reused. With an unchanged requirements file a re-run only
# (re)points the symlink. $PYTHON selects the interpreter (default python3).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 REQUIREMENTS_FILE LINK_PATH" >&2
    exit 2
fi
req=$1
link=$2
[ -f "$req" ] || { echo "venv.sh: no such requirements file: $req" >&2; exit 2; }

cache=${MLBOX_CACHE:-$HOME/.cache/mlbox}
python=${PYTHON:-python3}
hash=$(sha256sum "$req" | cut -c1-16)
venv="$cache/venv-$hash"

if [ ! -f "$venv/.mlbox-complete" ]; then
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.venv-$hash.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 130' INT TERM   # run the EXIT trap on Ctrl-C / kill too
    echo "venv.sh: building $venv from $req (this takes a few minutes once)" >&2
    "$python" -m venv "$tmp/venv"
    "$tmp/venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2
    # A venv is relocatable except for the absolute paths pip and venv write
    # into bin/ (console-script shebangs, activate scripts): point them at the
    # final location before the rename.
    grep -rlI --null -F "$tmp/venv" "$tmp/venv/bin" \
        | xargs -0 -r sed -i "s|$tmp/venv|$venv|g"
    cp "$req" "$tmp/venv/requirements.txt"
    touch "$tmp/venv/.mlbox-complete"
    if [ -e "$venv" ] && [ ! -f "$venv/.mlbox-complete" ]; then
        rm -rf "$venv"   # leftover of a foreign/broken build
    fi
    if ! mv -T "$tmp/venv" "$venv" 2>/dev/null; then
        # A concurrent build won the race; use its result.
        [ -f "$venv/.mlbox-complete" ] || { echo "venv.sh: could not move the venv to $venv" >&2; exit 1; }
    fi
    rm -rf "$tmp"
    trap - EXIT INT TERM
fi

if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "venv.sh: $link exists and is not a symlink; remove it first" >&2
    exit 1
fi
if [ "$(readlink "$link" 2>/dev/null || true)" != "$venv" ]; then
    ln -sfn "$venv" "$link.tmp.$$"
    mv -Tf "$link.tmp.$$" "$link"
fi
echo "$venv"
