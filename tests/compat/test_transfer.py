"""Moving in and moving out, with real servers on both sides.

A real `mlflow server` (3.17.2, sqlite, proxied artifacts) is filled by the
real client: experiments (one deleted), runs with 10k-step histories,
params, tags, datasets, artifacts, a deleted run, MLflow 3 logged models
and a registry with stages, aliases, tags and descriptions. `mlbox import`
copies it into mlbox; every read through the client then answers the same
on both, ids included. A second import copies nothing. An import killed
with SIGKILL part way and run again ends identical, with nothing copied
twice. `mlbox export` copies mlbox into a second, fresh `mlflow server`,
which then answers the same reads (with its own ids).
"""
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import TARGET, MlflowServerProcess
from mlboxproc import MlboxProcess, mlbox_binary

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="starts its own servers")


def _mlflow_major():
    import mlflow
    return int(mlflow.__version__.split(".")[0])


needs3 = pytest.mark.skipif(_mlflow_major() < 3, reason="fills the source with the MLflow 3 client (logged models)")


def _mlbox(*args, timeout=900):
    return subprocess.run([mlbox_binary(), *args], capture_output=True, text=True, timeout=timeout)


def _fill(url):
    """Fill an MLflow server through the client; returns the registered model's name."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    from sklearn.linear_model import LogisticRegression

    c = MlflowClient(tracking_uri=url, registry_uri=url)
    # mlflow.set_tracking_uri also sets $MLFLOW_TRACKING_URI: keep what to go back to.
    prev_uri, prev_reg = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    prev_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    try:
        exp_a = c.create_experiment("xfer-a", tags={"team": "vision", "note": "moving in"})
        exp_b = c.create_experiment("xfer-b")
        exp_gone = c.create_experiment("xfer-gone")
        X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]] * 5)
        y = np.array([1, 0, 1, 0] * 5)
        model_ids = []
        for i in range(3):
            with mlflow.start_run(experiment_id=exp_a, run_name=f"train-{i}") as run:
                rid = run.info.run_id
                mlflow.log_params({"lr": 0.1 * (i + 1), "depth": i, "optimizer": "adam"})
                mlflow.set_tags({"stage": "dev", "i": str(i)})
                steps = 10_000 if i == 0 else 300
                ts = int(time.time() * 1000)
                for lo in range(0, steps, 1000):
                    c.log_batch(rid, metrics=[Metric("loss", 1.0 / (s + 1), ts + s, s) for s in range(lo, min(steps, lo + 1000))])
                c.log_batch(rid, metrics=[Metric("acc", 0.5 + 0.1 * i, ts, 0), Metric("acc", 0.6 + 0.1 * i, ts + 1, 1),
                                          Metric("weird", float("nan"), ts, 0)])
                df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
                mlflow.log_input(mlflow.data.from_pandas(df, name=f"train-data-{i}", source="s3://bucket/train.csv"), context="training")
                mlflow.log_text(f"notes for run {i}\n", "notes.txt")
                mlflow.log_dict({"i": i, "values": list(range(50))}, "cfg/params.json")
                if i < 2:
                    info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name=f"clf-{i}",
                                                    params={"C": "1.0"}, tags={"kind": "logreg"})
                    model_ids.append(info.model_id)
                    mlflow.log_metric("val_acc", 0.9 + i / 100, model_id=info.model_id)
        with mlflow.start_run(experiment_id=exp_b, run_name="scrapped") as run:
            mlflow.log_param("x", "1")
            scrapped = run.info.run_id
        c.delete_run(scrapped)
        with mlflow.start_run(experiment_id=exp_b, run_name="failed-one"):
            mlflow.log_metric("m", 3.0)
            mlflow.set_tag("mlflow.note.content", "a failed run")
        last = c.search_runs([exp_b], filter_string="attributes.run_name = 'failed-one'")[0].info.run_id
        c.set_terminated(last, status="FAILED")
        with mlflow.start_run(experiment_id=exp_gone, run_name="in-deleted"):
            mlflow.log_metric("m", 1.0)
        c.delete_experiment(exp_gone)

        name = "xfer-model"
        c.create_registered_model(name, tags={"owner": "ml"}, description="a model that moved")
        v1 = c.create_model_version(name, f"models:/{model_ids[0]}", model_id=model_ids[0], tags={"v": "one"},
                                    description="first")
        v2 = c.create_model_version(name, f"models:/{model_ids[1]}", model_id=model_ids[1])
        c.transition_model_version_stage(name, v1.version, "Production")
        c.transition_model_version_stage(name, v2.version, "Staging")
        c.set_registered_model_alias(name, "champion", v2.version)
        c.set_registered_model_alias(name, "old", v1.version)
        c.set_model_version_tag(name, v2.version, "validated", "yes")
        return name
    finally:
        mlflow.set_tracking_uri(prev_uri)
        mlflow.set_registry_uri(prev_reg)
        for k, v in prev_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _snapshot(url, model, with_ids=True):
    """Everything the client reads back, as plain data. Without ids, runs
    are keyed by name and ids left out (an export gets the target's ids)."""
    import mlflow.artifacts
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    c = MlflowClient(tracking_uri=url, registry_uri=url)
    out = {"experiments": {}}
    for e in c.search_experiments(view_type=ViewType.ALL):
        if not e.name.startswith("xfer-"):
            continue
        ex = {"lifecycle": e.lifecycle_stage, "tags": {k: v for k, v in e.tags.items() if not k.startswith("mlflow.")},
              "runs": {}, "models": {}}
        if with_ids:  # an export gets the target's ids and creation times
            ex["id"] = e.experiment_id
            ex["created"] = e.creation_time
        for r in c.search_runs([e.experiment_id], run_view_type=ViewType.ALL, max_results=1000):
            rid = r.info.run_id
            hist = {k: [(m.step, m.timestamp, repr(m.value)) for m in c.get_metric_history(rid, k)] for k in r.data.metrics}
            arts = {}
            todo = [None]
            while todo:
                for a in c.list_artifacts(rid, todo.pop()):
                    if a.is_dir:
                        todo.append(a.path)
                    else:
                        with open(c.download_artifacts(rid, a.path, tempfile.mkdtemp()), "rb") as f:
                            arts[a.path] = f.read()
            datasets = sorted((d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source, d.dataset.schema,
                               tuple(sorted((t.key, t.value) for t in d.tags))) for d in r.inputs.dataset_inputs)
            run = {"status": r.info.status, "lifecycle": r.info.lifecycle_stage, "start": r.info.start_time,
                   "end": r.info.end_time, "user": r.info.user_id, "params": r.data.params,
                   "tags": {k: v for k, v in r.data.tags.items() if k not in ("mlflow.log-model.history",)},
                   "metrics": {k: repr(v) for k, v in r.data.metrics.items()}, "history": hist, "artifacts": arts,
                   "datasets": datasets}
            if with_ids:
                run["id"] = rid
                run["artifact_uri"] = r.info.artifact_uri
                run["model_outputs"] = sorted(o.model_id for o in (r.outputs.model_outputs if r.outputs else []))
            ex["runs"][r.info.run_name] = run
        for m in c.search_logged_models(experiment_ids=[e.experiment_id]):
            lm = {"status": str(m.status), "params": m.params, "tags": {k: v for k, v in m.tags.items() if not k.startswith("mlflow.")},
                  "model_type": m.model_type, "source_run": c.get_run(m.source_run_id).info.run_name if m.source_run_id else None,
                  "metrics": sorted((x.key, repr(x.value), x.step) for x in (m.metrics or []))}
            files = {}
            local = mlflow.artifacts.download_artifacts(artifact_uri=m.artifact_location, tracking_uri=url,
                                                        dst_path=tempfile.mkdtemp())
            for root, _, names in os.walk(local):
                for n in names:
                    p = os.path.join(root, n)
                    with open(p, "rb") as f:
                        files[os.path.relpath(p, local)] = f.read()
            lm["files"] = files
            if with_ids:
                lm["id"] = m.model_id
                lm["created"] = m.creation_timestamp
            ex["models"][m.name] = lm
        out["experiments"][e.name] = ex
    rm = c.get_registered_model(model)
    versions = {}
    for v in c.search_model_versions(f"name='{model}'"):
        # mlbox.* tags are mlbox's own notes (mlbox.compile: it compiled the model to serve it).
        mv = {"stage": v.current_stage, "tags": {k: x for k, x in v.tags.items() if not k.startswith("mlbox.")}, "description": v.description, "status": v.status,
              "run": c.get_run(v.run_id).info.run_name if v.run_id else None,
              "model": c.get_logged_model(v.model_id).name if getattr(v, "model_id", None) else None}
        if with_ids:
            mv.update(source=v.source, run_id=v.run_id, model_id=v.model_id, created=v.creation_timestamp)
        versions[v.version] = mv
    out["registry"] = {"tags": rm.tags, "description": rm.description, "aliases": dict(rm.aliases), "versions": versions}
    return out


def _diff(a, b, path="snapshot"):
    """The first place where a and b differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}[{k!r}]: only in the {'second' if k in b else 'first'} server"
            d = _diff(a[k], b[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if a != b:
        return f"{path}: {str(a)[:300]} != {str(b)[:300]}"
    return None


def _summary_counts(stdout):
    m = re.search(r"runs: (\d+) copied, (\d+) already there", stdout)
    v = re.search(r"versions: (\d+) copied, (\d+) already there", stdout)
    assert m and v, stdout
    return int(m.group(1)), int(m.group(2)), int(v.group(1)), int(v.group(2))


@needs3
def test_import_and_export_with_real_mlflow_servers(tmp_path):
    src = MlflowServerProcess().start()
    dst = None
    try:
        model = _fill(src.url)
        want = _snapshot(src.url, model)
        n_runs = sum(len(e["runs"]) for e in want["experiments"].values())
        assert n_runs == 6 and want["experiments"]["xfer-gone"]["lifecycle"] == "deleted"

        with MlboxProcess() as box:
            env_uri = box.url
            r = _mlbox("import", "--from", src.url, "--tracking-uri", env_uri)
            assert r.returncode == 0, r.stderr + r.stdout
            copied, skipped, vcopied, _ = _summary_counts(r.stdout)
            assert (copied, skipped, vcopied) == (n_runs, 0, 2), r.stdout
            got = _snapshot(box.url, model)
            assert _diff(want, got) is None, _diff(want, got)

            # Again: nothing is copied twice.
            r = _mlbox("import", "--from", src.url, "--tracking-uri", env_uri)
            assert r.returncode == 0, r.stderr
            assert _summary_counts(r.stdout) == (0, n_runs, 0, 2), r.stdout
            assert _diff(want, _snapshot(box.url, model)) is None

            # Out again, into a fresh MLflow server.
            dst = MlflowServerProcess().start()
            r = _mlbox("export", "--to", dst.url, "--tracking-uri", env_uri)
            assert r.returncode == 0, r.stderr + r.stdout
            assert _summary_counts(r.stdout)[:3] == (n_runs, 0, 2), r.stdout
            want_noid, got_noid = _snapshot(src.url, model, with_ids=False), _snapshot(dst.url, model, with_ids=False)
            assert _diff(want_noid, got_noid) is None, _diff(want_noid, got_noid)
            r = _mlbox("export", "--to", dst.url, "--tracking-uri", env_uri)
            assert r.returncode == 0, r.stderr
            assert _summary_counts(r.stdout) == (0, n_runs, 0, 2), r.stdout
            assert _diff(want_noid, _snapshot(dst.url, model, with_ids=False)) is None

        # An import killed part way, then run again, ends identical.
        with MlboxProcess() as box:
            p = subprocess.Popen([mlbox_binary(), "import", "--from", src.url, "--tracking-uri", box.url, "--workers", "1"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            from mlflow import MlflowClient
            c = MlflowClient(tracking_uri=box.url)
            deadline = time.time() + 120
            while time.time() < deadline and p.poll() is None:
                try:
                    exp = c.get_experiment_by_name("xfer-a")
                    if exp and c.search_runs([exp.experiment_id], max_results=10):
                        break
                except Exception:
                    pass
                time.sleep(0.05)
            assert p.poll() is None, "the import finished before it could be interrupted"
            p.send_signal(signal.SIGKILL)
            p.wait()
            r = _mlbox("import", "--from", src.url, "--tracking-uri", box.url)
            assert r.returncode == 0, r.stderr + r.stdout
            copied, skipped, _, _ = _summary_counts(r.stdout)
            assert copied >= 1 and copied + skipped == n_runs, r.stdout
            got = _snapshot(box.url, model)
            assert _diff(want, got) is None, _diff(want, got)
    finally:
        src.stop()
        if dst:
            dst.stop()


def test_import_refuses_a_target_that_is_not_mlbox_admin():
    with MlboxProcess() as box:
        # The source here is mlbox itself; the target is not reachable.
        r = _mlbox("import", "--from", box.url, "--tracking-uri", "http://127.0.0.1:9")
        assert r.returncode == 1
        assert "must be mlbox" in r.stderr
        r = _mlbox("import")
        assert r.returncode == 2 and "usage: mlbox import" in r.stderr
