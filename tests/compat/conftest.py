"""Fixtures for the MLflow client compatibility suite.

By default a fresh mlbox server (see mlboxproc.py) is started once per test
session and the real MLflow Python client is pointed at it.

With MLBOX_COMPAT_TARGET=mlflow the same tests run against a real
`mlflow server` (sqlite backend, proxied artifacts) started from the venv that
runs pytest. That is how the suite itself is validated: every asserted error
code and behaviour must be what real MLflow does. Tests marked
`mlbox_only` assert sane behaviour where the reference server has a clear bug
(e.g. answers a deterministic client error with HTTP 500) and are skipped
against real MLflow.

MLBOX_COMPAT_MLFLOW_BIN=/path/to/venv/bin/mlflow selects which installation
runs that reference server (default: the one next to the running Python), so
the 2.x client can be validated against the current 3.x server:
  MLBOX_COMPAT_TARGET=mlflow MLBOX_COMPAT_MLFLOW_BIN=.venv/bin/mlflow .venv-2x/bin/python -m pytest tests/compat

With MLBOX_COMPAT_URL=http://host:port an already running server is used
instead of starting one (handy while developing).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import pytest

# Keep the client quiet and offline, and make a server that wrongly answers
# with a 5xx fail fast instead of being retried for minutes (the client
# retries 429/5xx 7 times with exponential backoff by default).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)
os.environ.pop("MLFLOW_RUN_ID", None)

sys.path.insert(0, os.path.dirname(__file__))
from mlboxproc import MlboxProcess, free_port  # noqa: E402

TARGET = os.environ.get("MLBOX_COMPAT_TARGET", "mlbox").strip().lower() or "mlbox"
if TARGET not in ("mlbox", "mlflow"):
    raise RuntimeError(f"MLBOX_COMPAT_TARGET must be 'mlbox' or 'mlflow', not {TARGET!r}")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "mlbox_only: asserts the sane behaviour where the reference MLflow server has a bug; "
        "skipped when MLBOX_COMPAT_TARGET=mlflow")
    config.addinivalue_line("markers", "slow: creates many entities (>1000 runs, 30k metric steps)")


def pytest_collection_modifyitems(config, items):
    if TARGET == "mlflow":
        skip = pytest.mark.skip(reason="reference MLflow server bug; mlbox asserts the sane behaviour")
        for item in items:
            if "mlbox_only" in item.keywords:
                item.add_marker(skip)


def pytest_report_header(config):
    return f"mlbox compat target: {TARGET}"


class MlflowServerProcess:
    """A real `mlflow server` (sqlite + proxied artifacts) on a free port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mlflow-ref-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log_path = os.path.join(self.dir, "server.log")

    def start(self, timeout=120):
        # MLBOX_COMPAT_MLFLOW_BIN picks the reference server's `mlflow` executable,
        # e.g. the 3.x venv's while the tests run with the 2.x client: mlbox
        # implements the current server behaviour for every client version.
        exe = os.environ.get("MLBOX_COMPAT_MLFLOW_BIN") or os.path.join(os.path.dirname(sys.executable), "mlflow")
        cmd = [exe, "server", "--host", "127.0.0.1", "--port", str(self.port),
               "--backend-store-uri", f"sqlite:///{self.dir}/mlflow.db",
               "--artifacts-destination", f"{self.dir}/mlartifacts",
               "--workers", os.environ.get("MLBOX_COMPAT_MLFLOW_WORKERS", "2")]
        self._log = open(self.log_path, "wb")
        # Own session so that stop() can end the server and its workers together.
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                msg = f"mlflow server exited with {self.proc.returncode}:\n{self.log()}"
                self.stop()
                raise RuntimeError(msg)
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        msg = "mlflow server did not become healthy:\n" + self.log()
        self.stop()
        raise RuntimeError(msg)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class _External:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def stop(self):
        pass


@pytest.fixture(scope="session")
def server():
    url = os.environ.get("MLBOX_COMPAT_URL")
    if url:
        srv = _External(url)
    elif TARGET == "mlflow":
        srv = MlflowServerProcess().start()
    else:
        srv = MlboxProcess().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session", autouse=True)
def tracking_uri(server):
    import mlflow

    os.environ["MLFLOW_TRACKING_URI"] = server.url
    os.environ["MLFLOW_REGISTRY_URI"] = server.url
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    return server.url


@pytest.fixture(autouse=True)
def _clean_fluent_state():
    """No active run or experiment leaks from one test into the next."""
    import mlflow
    from mlflow.tracking import fluent

    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)


@pytest.fixture(scope="session")
def client(tracking_uri):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def unique(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def exp_name(request):
    return unique(request.node.name[:40])


@pytest.fixture
def experiment_id(client, exp_name):
    return client.create_experiment(exp_name)


@pytest.fixture(scope="session")
def api(tracking_uri):
    """Raw HTTP access for checks below the client (status codes, bodies)."""
    import requests

    class Api:
        base = tracking_uri

        def get(self, _path, **params):
            return requests.get(self.base + _path, params=params, timeout=60)

        def post(self, path, body):
            return requests.post(self.base + path, json=body, timeout=60)

    return Api()
