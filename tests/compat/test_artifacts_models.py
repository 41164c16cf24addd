"""Artifacts through the proxy and MLflow 3 logged models, on both backends
(local disk and a real MinIO), plus the registry flows a user runs daily:
log_model → register → alias/stage → load_model by URI."""
import hashlib
import json
import os

import numpy as np
import pytest

from conftest import TARGET, unique
from mlboxproc import MinioProcess, MlboxProcess, minio_binary, peak_rss_mb

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="starts its own mlbox servers per backend")

import mlflow as _mlflow  # noqa: E402

MLFLOW3 = int(_mlflow.__version__.split(".")[0]) >= 3


def log_model(model, **kw):
    """sklearn.log_model under both clients: 3.x takes name=, 2.x artifact_path=."""
    import mlflow

    if MLFLOW3:
        return mlflow.sklearn.log_model(model, name="model", **kw)
    return mlflow.sklearn.log_model(model, artifact_path="model", **kw)


@pytest.fixture(scope="module", params=["local", "s3"])
def backend(request):
    """An mlbox per artifact backend; yields (server, minio-or-None)."""
    minio = None
    env = {}
    if request.param == "s3":
        binary = minio_binary()
        if not binary:
            if os.environ.get("MLBOX_REQUIRE_MINIO"):
                pytest.fail("MinIO binary not available (scripts/minio.sh)")
            pytest.skip("MinIO not available")
        minio = MinioProcess(binary).start()
        env = minio.mlbox_env()
    srv = MlboxProcess(env=env).start()
    try:
        yield request.param, srv, minio
    finally:
        srv.stop()
        if minio:
            minio.stop()


@pytest.fixture
def use(backend):
    """Point the fluent API and a client at the backend's server for one test."""
    import mlflow
    from mlflow import MlflowClient

    _, srv, _ = backend
    old = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(srv.url)
    mlflow.set_registry_uri(srv.url)
    os.environ["MLFLOW_TRACKING_URI"] = srv.url
    try:
        yield MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
    finally:
        mlflow.set_tracking_uri(old)
        mlflow.set_registry_uri(old)
        os.environ["MLFLOW_TRACKING_URI"] = old


def test_artifact_round_trip(use, tmp_path):
    import mlflow
    from PIL import Image

    client = use
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (src / "sub" / "deeper" / "c.json").write_text('{"c": 1}')
    single = tmp_path / "scaler.pkl"
    single.write_bytes(b"\x80\x04pickle-ish")
    mlflow.set_experiment(unique("art"))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(single), artifact_path="preproc")
        mlflow.log_artifacts(str(src), artifact_path="tree")
        mlflow.log_text("hello text", "notes/readme.txt")
        mlflow.log_dict({"features": ["a", "b"]}, "features.json")
        mlflow.log_image(Image.new("RGB", (8, 8), color=(200, 10, 10)), "plots/red.png")
    rid = run.info.run_id
    top = {f.path: f for f in client.list_artifacts(rid)}
    assert set(top) == {"scaler.pkl", "preproc", "tree", "notes", "features.json", "plots"}
    assert top["tree"].is_dir and top["tree"].file_size is None
    assert top["scaler.pkl"].file_size == single.stat().st_size
    assert [f.path for f in client.list_artifacts(rid, "tree/sub")] == ["tree/sub/b.bin", "tree/sub/deeper"]
    assert client.list_artifacts(rid, "nope") == []
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "all").mkdir()
    local = client.download_artifacts(rid, "tree", str(out))
    assert (open(os.path.join(local, "a.txt")).read()) == "alpha"
    assert open(os.path.join(local, "sub", "b.bin"), "rb").read() == bytes(range(256)) * 10
    assert json.load(open(os.path.join(local, "sub", "deeper", "c.json"))) == {"c": 1}
    assert mlflow.artifacts.load_text(f"runs:/{rid}/notes/readme.txt") == "hello text"
    assert mlflow.artifacts.load_dict(f"runs:/{rid}/features.json") == {"features": ["a", "b"]}
    img = mlflow.artifacts.load_image(f"runs:/{rid}/plots/red.png")
    assert img.size == (8, 8) and img.getpixel((0, 0)) == (200, 10, 10)
    whole = client.download_artifacts(rid, "", str(tmp_path / "all"))
    assert os.path.exists(os.path.join(whole, "preproc", "scaler.pkl"))


def _iris():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    return X, LogisticRegression(max_iter=300).fit(X, y)


def test_sklearn_log_model_and_load(use):
    import mlflow

    client = use
    X, model = _iris()
    mlflow.set_experiment(unique("skl"))
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("accuracy", model.score(X, _y()))
        info = log_model(model, input_example=X[:2])
    want = model.predict(X)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/model"):
        got = mlflow.pyfunc.load_model(uri).predict(X)
        assert np.array_equal(got, want), uri
    if not MLFLOW3:
        return  # logged models are MLflow 3
    lm = client.get_logged_model(info.model_id)
    assert lm.status == "READY" or str(lm.status).endswith("READY")
    assert lm.source_run_id == run.info.run_id
    assert lm.params.get("C") == "1.0"
    # deleting the logged model hides it but keeps its artifacts until purge
    client.delete_logged_model(info.model_id)
    with pytest.raises(Exception):
        client.get_logged_model(info.model_id)


def _y():
    from sklearn.datasets import load_iris
    return load_iris(return_X_y=True)[1]


def test_registry_flow(use):
    import mlflow
    from mlflow.exceptions import MlflowException

    client = use
    name = unique("iris")
    X, model = _iris()
    mlflow.set_experiment(unique("reg"))
    with mlflow.start_run():
        v1 = log_model(model, registered_model_name=name)
    with mlflow.start_run() as r2:
        log_model(model)
    mv2 = mlflow.register_model(f"runs:/{r2.info.run_id}/model", name)
    assert mv2.version == "2" and mv2.status == "READY"
    client.set_registered_model_alias(name, "champion", "1")
    client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    want = model.predict(X)
    for uri in (f"models:/{name}@champion", f"models:/{name}/Production", f"models:/{name}/1", f"models:/{name}/latest"):
        assert np.array_equal(mlflow.pyfunc.load_model(uri).predict(X), want), uri
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as e:
        client.get_model_version_by_alias(name, "champion")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    mv = client.get_model_version(name, "1")
    assert mv.run_id  # 3.x: filled from the logged model's source run
    if MLFLOW3:
        assert str(v1.registered_model_version) == "1"
        assert client.get_logged_model(v1.model_id).tags.get("mlflow.modelVersions")


def test_large_file_streams(backend, use, tmp_path):
    """512 MiB through the proxy: checksum intact, server RSS bounded."""
    import mlflow

    client = use
    _, srv, _ = backend
    size = 512 << 20
    path = tmp_path / "big.bin"
    h = hashlib.sha256()
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size >> 20):
            block = chunk[:-8] + i.to_bytes(8, "little")
            f.write(block)
            h.update(block)
    mlflow.set_experiment(unique("big"))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(path))
    os.remove(path)
    out = client.download_artifacts(run.info.run_id, "big.bin", str(tmp_path))
    h2 = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h2.update(block)
    assert h2.hexdigest() == h.hexdigest()
    rss = peak_rss_mb(srv.proc.pid)
    print(f"peak server RSS after 512 MiB up+down ({backend[0]}): {rss:.0f} MiB")
    assert rss < 200, f"server peak RSS {rss:.0f} MiB"


def test_multipart_upload(backend, use, tmp_path, monkeypatch):
    """The client's opt-in multipart upload: parts go through the proxy to S3;
    on local disk the server answers MLflow's 501 and the client falls back."""
    import mlflow

    client = use
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(6 << 20))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 << 20))
    data = os.urandom(13 << 20)
    path = tmp_path / "parts.bin"
    path.write_bytes(data)
    mlflow.set_experiment(unique("mpu"))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(path))
    (tmp_path / "dl").mkdir()
    out = client.download_artifacts(run.info.run_id, "parts.bin", str(tmp_path / "dl"))
    assert open(out, "rb").read() == data
    import urllib.request

    name, srv, _ = backend
    metrics = urllib.request.urlopen(srv.url + "/metrics").read().decode()
    if name == "s3":  # three parts went through the proxy's part endpoint
        assert 'route="PUT /api/2.0/mlflow-artifacts/mpu/part/{path...}",code="200"} 3' in metrics, metrics
    else:  # create was refused with 501 and the client fell back to one PUT
        assert 'route="POST /api/2.0/mlflow-artifacts/mpu/create/{path...}",code="501"}' in metrics
