#!/bin/sh
# Prints the path of the pinned MinIO server binary used by the S3 tests,
# building it once (outside the repo) if missing. Idempotent.
#
#   MLBOX_CACHE   cache root (default: $HOME/.cache/mlbox)
#
# Usage: MLBOX_MINIO_BIN=$(scripts/minio.sh) go test ./...
set -eu

MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

cache="${MLBOX_CACHE:-${HOME:?HOME is not set}/.cache/mlbox}"
dir="$cache/minio/$MINIO_VERSION"
bin="$dir/minio"

if [ ! -x "$bin" ]; then
	mkdir -p "$dir"
	# Build into a temp dir and move into place so an interrupted build
	# never leaves a half-written binary at $bin. Run outside the repo so
	# the repo's go.mod is not consulted.
	tmp=$(mktemp -d "$dir/.build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT INT TERM
	echo "building minio $MINIO_VERSION into $dir (one-time, takes a few minutes)" >&2
	(cd "$tmp" && GOFLAGS= GOWORK=off GOBIN="$tmp" \
		go install "$MINIO_MODULE@$MINIO_VERSION") >&2
	mv -f "$tmp/minio" "$bin"
fi
echo "$bin"
