#!/usr/bin/env bash
# Builds the example models of examples/ into examples/<name>/model.wasm
# (`make examples`). The built modules are committed, so nothing else needs
# these toolchains; run this after changing an example and commit the result.
#
#   OUT_DIR=dir   write dir/<name>/model.wasm instead (the tests use this)
#   REGENERATE=1  first re-run the generators (iris: training; forest: trees),
#                 which rewrite the committed params, data and references
#
# iris-go needs only Go. forest-rust needs cargo and the wasm32-unknown-unknown
# target (`rustup target add wasm32-unknown-unknown`); without them it is
# skipped with a note and the committed module stays.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
out="${OUT_DIR:-$root/examples}"
regen="${REGENERATE:-0}"

echo "== iris-go (Go, GOOS=wasip1 -buildmode=c-shared)"
mkdir -p "$out/iris-go"
(
	cd "$root/examples/iris-go"
	if [ "$regen" = 1 ]; then "$GO" run ./train; fi
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 "$GO" build -buildmode=c-shared -trimpath \
		-ldflags='-s -w' -o "$out/iris-go/model.wasm" .
)
ls -l "$out/iris-go/model.wasm"

echo "== forest-rust (Rust, wasm32-unknown-unknown, no_std)"
if ! command -v cargo >/dev/null 2>&1; then
	echo "cargo not found: skipping forest-rust (the committed model.wasm stays)" >&2
	exit 0
fi
if command -v rustup >/dev/null 2>&1 &&
	! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
	echo "Rust target wasm32-unknown-unknown missing: skipping forest-rust" >&2
	echo "  (add it with: rustup target add wasm32-unknown-unknown)" >&2
	exit 0
fi
mkdir -p "$out/forest-rust"
(
	cd "$root/examples/forest-rust"
	if [ "$regen" = 1 ]; then "$GO" run ./gen; fi
	target="${CARGO_TARGET_DIR:-$root/examples/forest-rust/target}"
	CARGO_TARGET_DIR="$target" cargo build --release --locked --offline \
		--target wasm32-unknown-unknown --quiet
	cp "$target/wasm32-unknown-unknown/release/mlbox_example_forest.wasm" "$out/forest-rust/model.wasm"
)
ls -l "$out/forest-rust/model.wasm"
