"""Backup and restore with the real MLflow client: a server filled by the
client (runs with metric histories, params, tags, artifacts, an sklearn
model registered with an alias and served) is backed up with `mlbox backup`
while a client keeps logging; `mlbox verify` checks the archive; `mlbox
restore` puts it into a fresh data dir, and a second server on it answers
every read through the client identically, artifacts byte for byte, and
serves the model with the same predictions. A damaged archive fails verify
and restore, naming the damage.
"""
import os
import subprocess
import tempfile
import threading

import pytest

from conftest import TARGET, unique
from mlboxproc import MlboxProcess, mlbox_binary
from zoo_common import invoke, wait_compiled

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="starts its own servers")


def _mlbox(*args):
    return subprocess.run([mlbox_binary(), *args], capture_output=True, text=True, timeout=600)


def _snapshot(c, exp_id, model):
    """Everything the client reads back, as plain data."""
    runs = c.search_runs([exp_id], max_results=1000, order_by=["attributes.start_time ASC"])
    out = {"experiment": (lambda e: (e.name, e.lifecycle_stage, dict(e.tags)))(c.get_experiment(exp_id)), "runs": {}}
    for r in runs:
        rid = r.info.run_id
        hist = {k: [(m.step, m.timestamp, m.value) for m in c.get_metric_history(rid, k)] for k in r.data.metrics}
        arts = {}
        for a in c.list_artifacts(rid):
            if not a.is_dir:
                with open(c.download_artifacts(rid, a.path, tempfile.mkdtemp()), "rb") as f:
                    arts[a.path] = f.read()
        out["runs"][rid] = {"name": r.info.run_name, "status": r.info.status, "start": r.info.start_time, "end": r.info.end_time,
                            "params": r.data.params, "tags": {k: v for k, v in r.data.tags.items()},
                            "metrics": r.data.metrics, "history": hist, "artifacts": arts}
    rm = c.get_registered_model(model)
    mv = c.get_model_version(model, "1")
    out["model"] = (rm.name, sorted(rm.aliases.items()) if isinstance(rm.aliases, dict) else rm.aliases,
                    mv.source, mv.run_id, mv.current_stage, dict(mv.tags))
    return out


def _diff(a, b, path="snapshot"):
    """The first place where a and b differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}[{k!r}]: only in the {'restored' if k in b else 'original'} server"
            d = _diff(a[k], b[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if a != b:
        return f"{path}: {str(a)[:200]} != {str(b)[:200]}"
    return None


def test_backup_restore_with_the_client(tmp_path):
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    prev, prev_reg = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    with MlboxProcess() as a:
        try:
            mlflow.set_tracking_uri(a.url)
            mlflow.set_registry_uri(a.url)
            c = MlflowClient(tracking_uri=a.url, registry_uri=a.url)
            exp_id = mlflow.set_experiment(unique("backup")).experiment_id
            for i in range(3):
                with mlflow.start_run(run_name=f"run-{i}"):
                    mlflow.log_params({"lr": 0.1 * (i + 1), "depth": i})
                    mlflow.set_tags({"team": "bk", "i": str(i)})
                    for step in range(0, 1000, 10):
                        mlflow.log_metric("loss", 1.0 / (step + 1 + i), step=step)
                    f = tmp_path / f"notes-{i}.txt"
                    f.write_bytes(os.urandom(2048) + f"run {i}".encode())
                    mlflow.log_artifact(str(f))
            rng = np.random.default_rng(0)
            X = rng.normal(size=(200, 4))
            y = (X[:, 0] + X[:, 1] > 0).astype(int)
            model = unique("bk-model")
            with mlflow.start_run(run_name="train"):
                kw = {"registered_model_name": model}
                if int(mlflow.__version__.split(".")[0]) >= 3:
                    mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", **kw)
                else:
                    mlflow.sklearn.log_model(LogisticRegression().fit(X, y), artifact_path="model", **kw)
            assert wait_compiled(c, model, "1") == "compiled"
            c.set_registered_model_alias(model, "champion", "1")
            body = {"inputs": X[:20].tolist()}
            want = invoke(f"{a.url}/models/{model}/invocations", body)
            before = _snapshot(c, exp_id, model)

            # A client keeps logging into another experiment during the backup.
            stop = threading.Event()
            errors = []

            def keep_logging():
                cl = MlflowClient(tracking_uri=a.url)
                other = cl.create_experiment(unique("during"))
                while not stop.is_set():
                    try:
                        r = cl.create_run(other)
                        cl.log_metric(r.info.run_id, "m", 1.0)
                    except Exception as e:  # noqa: BLE001
                        errors.append(repr(e))

            t = threading.Thread(target=keep_logging)
            t.start()
            archive = str(tmp_path / "mlbox.tar")
            try:
                res = _mlbox("backup", "--tracking-uri", a.url, archive)
            finally:
                stop.set()
                t.join()
            assert res.returncode == 0, res.stderr
            assert errors == [], errors[:3]
        finally:
            mlflow.set_tracking_uri(prev)
            mlflow.set_registry_uri(prev_reg)

    res = _mlbox("verify", archive)
    assert res.returncode == 0 and "is sound" in res.stdout, res.stderr
    data = str(tmp_path / "restored")
    res = _mlbox("restore", archive, "--data-dir", data)
    assert res.returncode == 0, res.stderr
    # MLflow 2.x caches each run's artifact repository (its server's URL)
    # by run id, process-wide; the restored runs have the same ids. A user
    # moving to the restored server starts a new process.
    try:
        from mlflow.tracking._tracking_service import utils as tracking_utils

        tracking_utils._artifact_repos_cache.clear()
    except (ImportError, AttributeError):
        pass
    with MlboxProcess(data_dir=data) as b:
        c2 = MlflowClient(tracking_uri=b.url, registry_uri=b.url)
        # MLflow 2.x resolves mlflow-artifacts: URIs against the global
        # tracking URI: point it at the restored server, as its users would.
        mlflow.set_tracking_uri(b.url)
        try:
            after = _snapshot(c2, exp_id, model)
        finally:
            mlflow.set_tracking_uri(prev)
        assert after == before, _diff(before, after)
        got = invoke(f"{b.url}/models/{model}@champion/invocations", body)
        assert got == want

    # A damaged archive: one flipped byte in an artifact.
    raw = bytearray(open(archive, "rb").read())
    i = raw.index(b"run 1")
    raw[i] ^= 1
    bad = str(tmp_path / "bad.tar")
    with open(bad, "wb") as f:
        f.write(raw)
    res = _mlbox("verify", bad)
    assert res.returncode == 1 and "notes-1.txt does not match its SHA-256" in res.stderr, res.stderr
    res = _mlbox("restore", bad, "--data-dir", str(tmp_path / "never"))
    assert res.returncode == 1 and "nothing was restored" in res.stderr, res.stderr
