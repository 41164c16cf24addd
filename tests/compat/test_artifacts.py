"""Artifacts through the server's proxy (mlflow-artifacts:/ URIs)."""
import json
import os

import mlflow
import numpy as np
import pytest


def _listing(client, rid, path=None):
    return sorted((f.path, f.is_dir, f.file_size) for f in client.list_artifacts(rid, path))


def test_log_and_download_artifacts(client, experiment_id, tmp_path):
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("hello")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (src / "sub" / "deeper" / "c.json").write_text('{"k": 1}')
    single = tmp_path / "single.csv"
    single.write_text("x,y\n1,2\n")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(single), artifact_path="data/csv")
        mlflow.log_artifacts(str(src), artifact_path="tree")
    rid = run.info.run_id
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")

    assert _listing(client, rid) == [("data", True, None), ("single.csv", False, 8), ("tree", True, None)]
    assert _listing(client, rid, "tree") == [("tree/a.txt", False, 5), ("tree/sub", True, None)]
    assert _listing(client, rid, "tree/sub") == [("tree/sub/b.bin", False, 10240), ("tree/sub/deeper", True, None)]
    assert _listing(client, rid, "data/csv") == [("data/csv/single.csv", False, 8)]
    assert _listing(client, rid, "nope") == []

    out = tmp_path / "out"
    out.mkdir()
    p = client.download_artifacts(rid, "tree", str(out))
    assert open(os.path.join(p, "a.txt")).read() == "hello"
    assert open(os.path.join(p, "sub", "b.bin"), "rb").read() == bytes(range(256)) * 40
    assert json.load(open(os.path.join(p, "sub", "deeper", "c.json"))) == {"k": 1}
    for d in ("one", "all", "uri"):
        (out / d).mkdir()
    p = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="data/csv/single.csv", dst_path=str(out / "one"))
    assert open(p).read() == "x,y\n1,2\n"
    # whole run
    p = mlflow.artifacts.download_artifacts(run_id=rid, dst_path=str(out / "all"))
    assert sorted(os.listdir(p)) == ["data", "single.csv", "tree"]
    # by artifact URI
    p = mlflow.artifacts.download_artifacts(f"{run.info.artifact_uri}/tree/a.txt", dst_path=str(out / "uri"))
    assert open(p).read() == "hello"


def test_text_dict_image(client, experiment_id):
    from PIL import Image

    img = (np.arange(12 * 10 * 3) % 255).astype(np.uint8).reshape(12, 10, 3)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_text("some text\nü", "notes/readme.txt")
        mlflow.log_dict({"a": [1, 2], "b": {"c": None}}, "cfg/config.json")
        mlflow.log_dict({"a": 1}, "cfg/config.yaml")
        mlflow.log_image(img, "images/img.png")
    uri = run.info.artifact_uri
    assert mlflow.artifacts.load_text(f"{uri}/notes/readme.txt") == "some text\nü"
    assert mlflow.artifacts.load_dict(f"{uri}/cfg/config.json") == {"a": [1, 2], "b": {"c": None}}
    assert mlflow.artifacts.load_text(f"{uri}/cfg/config.yaml").strip() == "a: 1"
    loaded = mlflow.artifacts.load_image(f"{uri}/images/img.png")
    assert isinstance(loaded, Image.Image)
    assert np.array_equal(np.asarray(loaded), img)
    assert [f.path for f in client.list_artifacts(run.info.run_id, "cfg")] == ["cfg/config.json", "cfg/config.yaml"]


def test_overwrite_artifact(client, experiment_id, tmp_path):
    rid = client.create_run(experiment_id).info.run_id
    f = tmp_path / "x.txt"
    f.write_text("one")
    client.log_artifact(rid, str(f))
    f.write_text("second")
    client.log_artifact(rid, str(f))
    assert _listing(client, rid) == [("x.txt", False, 6)]
    assert mlflow.artifacts.load_text(f"runs:/{rid}/x.txt") == "second"


def test_empty_file_and_empty_run(client, experiment_id, tmp_path):
    rid = client.create_run(experiment_id).info.run_id
    assert client.list_artifacts(rid) == []
    f = tmp_path / "empty.dat"
    f.write_bytes(b"")
    client.log_artifact(rid, str(f))
    # (the reference server omits file_size 0, so the client sees None)
    assert [(f.path, f.is_dir, f.file_size or 0) for f in client.list_artifacts(rid)] == [("empty.dat", False, 0)]
    (tmp_path / "dl").mkdir()
    p = client.download_artifacts(rid, "empty.dat", str(tmp_path / "dl"))
    assert open(p, "rb").read() == b""


def test_proxy_raw(api, client, experiment_id):
    import requests

    run = client.create_run(experiment_id)
    rel = run.info.artifact_uri[len("mlflow-artifacts:/"):]
    base = api.base + "/api/2.0/mlflow-artifacts/artifacts"
    r = requests.put(f"{base}/{rel}/dir/f.txt", data=b"payload", timeout=30)
    assert r.status_code == 200
    # the reference answers the upload with an empty body; `{}` is fine too
    assert r.content.strip() in (b"", b"{}")
    r = requests.get(f"{base}/{rel}/dir/f.txt", timeout=30)
    assert r.status_code == 200 and r.content == b"payload"
    r = requests.get(base, params={"path": f"{rel}/dir"}, timeout=30)
    assert r.json() == {"files": [{"path": "f.txt", "is_dir": False, "file_size": 7}]}
    r = requests.get(base, params={"path": rel}, timeout=30)
    assert r.json() == {"files": [{"path": "dir", "is_dir": True}]}
    # listing a missing directory or a file gives an empty answer
    assert requests.get(base, params={"path": f"{rel}/missing"}, timeout=30).json() == {}
    assert requests.get(base, params={"path": f"{rel}/dir/f.txt"}, timeout=30).json() == {}
    # the tracking service's listing uses run-relative paths
    r = api.get("/api/2.0/mlflow/artifacts/list", run_id=run.info.run_id, path="dir")
    assert [(f["path"], f["is_dir"]) for f in r.json()["files"]] == [("dir/f.txt", False)]
    r = requests.delete(f"{base}/{rel}/dir/f.txt", timeout=30)
    assert r.status_code == 200
    assert requests.get(base, params={"path": f"{rel}/dir"}, timeout=30).json().get("files", []) == []


def test_proxy_missing_file(api, client, experiment_id):
    import requests

    run = client.create_run(experiment_id)
    rel = run.info.artifact_uri[len("mlflow-artifacts:/"):]
    r = requests.get(f"{api.base}/api/2.0/mlflow-artifacts/artifacts/{rel}/nope.txt", timeout=30)
    assert r.status_code == 404
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(Exception):
        mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/nope.txt")


def _raw_get(base, path):
    """GET with the path sent exactly as given (requests would drop dot segments)."""
    import http.client
    import urllib.parse

    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["../../etc/passwd", "1/../../b", "%2E%2E/x", "1/%2e%2e/%2e%2e/x"])
def test_proxy_rejects_traversal(api, path):
    import requests

    status, body = _raw_get(api.base, "/api/2.0/mlflow-artifacts/artifacts/" + path)
    assert status == 400
    assert json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"
    r = requests.get(f"{api.base}/api/2.0/mlflow-artifacts/artifacts",
                     params={"path": path.replace("%2E", ".").replace("%2e", ".")}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
