#!/bin/sh
# Prints the path of an mlbox binary built from another commit of this
# repository, the baseline `make bench` compares start-up against, building
# it once (outside the repo) if missing. Idempotent.
#
#   MLBOX_CACHE   cache root (default: $HOME/.cache/mlbox)
#
# Usage: scripts/baseline.sh REV
set -eu

rev="${1:?usage: scripts/baseline.sh REV}"
cache="${MLBOX_CACHE:-${HOME:?HOME is not set}/.cache/mlbox}"
full=$(git rev-parse --verify --quiet "$rev^{commit}") || {
	echo "baseline: commit $rev is not in this clone (a shallow clone?); fetch it or set BENCH_BASELINE_REV" >&2
	exit 1
}
dir="$cache/baseline/$full"
bin="$dir/mlbox"

if [ ! -x "$bin" ]; then
	mkdir -p "$dir"
	tmp=$(mktemp -d "$dir/.build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT INT TERM
	echo "building the baseline mlbox at $rev into $dir (one-time)" >&2
	git archive "$full" | tar -x -C "$tmp"
	(cd "$tmp" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o mlbox .) >&2
	mv -f "$tmp/mlbox" "$bin"
fi
echo "$bin"
