# mlbox — see README.md. Two commands do all set-up on a fresh machine:
#   make run    server on 127.0.0.1:5000, data in ./mlbox-data
#   make test   every test: Go (incl. MinIO), MLflow-client conformance, browser

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X mlbox/app.Version=$(VERSION)
BIN         := bin/mlbox
MLBOX_CACHE ?= $(HOME)/.cache/mlbox
export MLBOX_CACHE
PYTEST_ARGS ?=
# The commit `make bench` measures start-up against (built once into $(MLBOX_CACHE)).
BENCH_BASELINE_REV ?= 5159888
# mlbox import from a real `mlflow server` (bench/transfer): 100 runs x 50 metrics
# x 1,000 steps by default; --runs 1000 is the issue's size (about 45 minutes,
# most of it MLflow serving the histories).
BENCH_IMPORT_ARGS ?= --runs 100

.PHONY: ui ui-check ui-watch bench-ui bench-ui-mlflow all build run test test-go test-compat test-compat-2x test-ui bench bench-serve bench-startup bench-gbm examples deps minio venv venv-2x lint fmt clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

run: build
	./$(BIN) server --listen 127.0.0.1:5000 --data-dir ./mlbox-data

# Everything. The Debian packages the tests need are installed first
# (scripts/deps.sh: as root with apt-get, else it prints the command). Slow
# builds (MinIO, the Python venvs) are cached in $(MLBOX_CACHE).
test: deps build minio venv
	$(MAKE) test-go
	$(MAKE) test-compat
	$(MAKE) test-compat-2x
	$(MAKE) test-ui

deps:
	@scripts/deps.sh

minio:
	@scripts/minio.sh >/dev/null

venv:
	@scripts/venv.sh tests/compat/requirements.txt .venv >/dev/null

venv-2x:
	@scripts/venv.sh tests/compat/requirements-2x.txt .venv-2x >/dev/null

# As root, the disk-full tests mount a small tmpfs and must not skip.
# app's walks of every route (bad input, the route x role matrix) take
# several minutes under the race detector: more than go test's default
# 10-minute limit per package on a busy 2-core machine.
test-go: minio
	MLBOX_REQUIRE_MINIO=1 MLBOX_MINIO_BIN=$$(scripts/minio.sh) MLBOX_REQUIRE_TMPFS=$$([ "$$(id -u)" = 0 ] && echo 1) \
		$(GO) test -race -count=1 -timeout 25m ./...

test-compat: build minio venv
	MLBOX_BIN=$(CURDIR)/$(BIN) MLBOX_REQUIRE_MINIO=1 MLBOX_MINIO_BIN=$$(scripts/minio.sh) \
		.venv/bin/python -m pytest -q tests/compat $(PYTEST_ARGS)

# The same suite with the newest 2.x client (tests that need 3.x skip themselves).
test-compat-2x: build minio venv-2x
	MLBOX_BIN=$(CURDIR)/$(BIN) MLBOX_REQUIRE_MINIO=1 MLBOX_MINIO_BIN=$$(scripts/minio.sh) \
		.venv-2x/bin/python -m pytest -q tests/compat $(PYTEST_ARGS)

test-ui: deps build venv
	MLBOX_BIN=$(CURDIR)/$(BIN) MLBOX_REQUIRE_CHROMIUM=1 .venv/bin/python -m pytest -q tests/ui $(PYTEST_ARGS)

# A benchmark, not a test: prints throughput and p50/p99 (see docs/performance.md).
# First the MLflow REST workloads, then serving (bench/serve, docs/serving.md):
# HTTP inference on the examples against `mlflow models serve` from the venv.
# BENCH_SERVE_ARGS=--skip-mlflow leaves the baseline out.
bench: build venv minio
	$(GO) run ./bench --mlbox $(BIN) $(BENCH_ARGS)
	$(GO) run ./bench/artifacts --mlbox $(BIN) --minio $$(scripts/minio.sh) $(BENCH_ARTIFACTS_ARGS)
	$(GO) run ./bench/backup --mlbox $(BIN) $(BENCH_BACKUP_ARGS)
	.venv/bin/python bench/transfer/import_bench.py --mlbox $(BIN) $(BENCH_IMPORT_ARGS)
	$(GO) run ./bench/serve --mlbox $(BIN) $(BENCH_SERVE_ARGS)
	$(GO) run ./bench/startup --mlbox $(BIN) --baseline $$(scripts/baseline.sh $(BENCH_BASELINE_REV)) $(BENCH_STARTUP_ARGS)
	$(GO) test ./store -run '^$$' -bench RetentionPlan -benchtime 10x
	$(GO) run ./bench/gbm --python .venv/bin/python $(BENCH_GBM_ARGS)
	$(GO) run ./bench/onnx --python .venv/bin/python $(BENCH_ONNX_ARGS)
	MLBOX_BIN=$(CURDIR)/$(BIN) .venv/bin/python bench/ui/ui_bench.py $(BENCH_UI_ARGS)

# The web UI at 100k runs in headless Chromium (bench/ui/ui_bench.py;
# BENCH_UI_ARGS=--runs 20000 for a quicker run).
bench-ui: build venv deps
	MLBOX_BIN=$(CURDIR)/$(BIN) .venv/bin/python bench/ui/ui_bench.py $(BENCH_UI_ARGS)

# The same tasks in MLflow's own server and UI, on the same data (slow: seeding
# 100k runs takes minutes; keep them with BENCH_UI_MLFLOW_ARGS="--data DIR").
bench-ui-mlflow: venv deps
	.venv/bin/python bench/ui/mlflow_ui_bench.py $(BENCH_UI_MLFLOW_ARGS)

bench-startup: build
	$(GO) run ./bench/startup --mlbox $(BIN) --baseline $$(scripts/baseline.sh $(BENCH_BASELINE_REV)) $(BENCH_STARTUP_ARGS)

# The boosted-tree benchmark alone (XGBoost and LightGBM against the
# libraries, onnxruntime and lleaves; docs/performance.md).
bench-gbm: venv
	$(GO) run ./bench/gbm --python .venv/bin/python $(BENCH_GBM_ARGS)
	$(GO) run ./bench/onnx --python .venv/bin/python $(BENCH_ONNX_ARGS)

bench-serve: build venv
	$(GO) run ./bench/serve --mlbox $(BIN) $(BENCH_SERVE_ARGS)

# The web UI: builds ui/src into ui/dist (committed and embedded, so that
# go build needs nothing but Go). The toolchain is pinned by
# ui/package-lock.json; npm ci fetches it (cached in ~/.npm).
ui:
	@command -v npm >/dev/null || scripts/deps.sh ui
	cd ui && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && node build.mjs

# Rebuilds on every change under ui/src (then reload the page).
ui-watch:
	cd ui && node build.mjs --watch

# CI: fails when the committed ui/dist is not what ui/src builds to.
ui-check: ui
	@if [ -n "$$(git status --porcelain -- ui/dist)" ]; then \
		git status --short -- ui/dist; \
		echo "ui/dist does not match ui/src: run make ui and commit ui/dist" >&2; exit 1; fi

# Rebuilds examples/*/model.wasm (committed; see examples/README.md).
examples:
	scripts/examples.sh

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | grep -v '^bench/testdata')" || (gofmt -l .; exit 1)

fmt:
	gofmt -w .

clean:
	rm -rf bin
