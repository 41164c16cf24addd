"""Server-level endpoints and the HTTP conventions the client relies on."""
from packaging.version import Version

from conftest import unique


def test_health(api):
    r = api.get("/health")
    assert r.status_code == 200
    assert r.text.strip() == "OK"


def test_version(api):
    r = api.get("/version")
    assert r.status_code == 200
    Version(r.text.strip())  # must parse as a PEP 440 version


def test_version_is_new_enough_for_tracing(api):
    # The 3.x client refuses to export traces to a server older than 3.4.
    assert Version(api.get("/version").text.strip()) >= Version("3.4")


def test_ajax_api_alias(api, client):
    eid = client.create_experiment(unique("ajax"))
    for prefix in ("/api/2.0", "/ajax-api/2.0"):
        r = api.get(prefix + "/mlflow/experiments/get", experiment_id=eid)
        assert r.status_code == 200, r.text
        assert r.json()["experiment"]["experiment_id"] == eid


def test_unknown_route_is_404_not_json_error(api):
    # The client maps a non-JSON 404 to ENDPOINT_NOT_FOUND and uses that to fall
    # back between endpoints; a JSON body with another error code would break that.
    r = api.get("/api/2.0/mlflow/no-such-endpoint")
    assert r.status_code == 404
    try:
        body = r.json()
    except ValueError:
        body = None
    assert not (isinstance(body, dict) and body.get("error_code") not in (None, "ENDPOINT_NOT_FOUND"))


def test_error_statuses(api):
    # RESOURCE_DOES_NOT_EXIST -> 404
    r = api.get("/api/2.0/mlflow/runs/get", run_id="0" * 32)
    assert r.status_code == 404
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = api.get("/api/2.0/mlflow/experiments/get-by-name", experiment_name=unique("missing"))
    assert r.status_code == 404
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # RESOURCE_ALREADY_EXISTS -> 400 (not 409)
    r = api.post("/api/2.0/mlflow/experiments/create", {"name": "Default"})
    assert r.status_code == 400
    assert r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    # missing required parameter -> 400 INVALID_PARAMETER_VALUE
    r = api.get("/api/2.0/mlflow/runs/get")
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = api.post("/api/2.0/mlflow/experiments/create", {})
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_post_requires_json_content_type(api):
    import requests

    r = requests.post(api.base + "/api/2.0/mlflow/experiments/create",
                      data='{"name": "x"}', headers={"Content-Type": "text/plain"}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_json_encoding_of_special_values(api, client, experiment_id):
    """NaN as the string "NaN"; int64 as JSON numbers; strings accepted for int64 and doubles."""
    rid = client.create_run(experiment_id).info.run_id
    r = api.post("/api/2.0/mlflow/runs/log-metric",
                 {"run_id": rid, "key": "n", "value": "NaN", "timestamp": "7", "step": "3"})
    assert r.status_code == 200, r.text
    assert r.json() == {}
    run = api.get("/api/2.0/mlflow/runs/get", run_id=rid).json()["run"]
    (m,) = [m for m in run["data"]["metrics"] if m["key"] == "n"]
    assert m == {"key": "n", "value": "NaN", "timestamp": 7, "step": 3}
    assert isinstance(run["info"]["start_time"], int)
    h = api.get("/api/2.0/mlflow/metrics/get-history", run_id=rid, metric_key="n").json()
    assert h["metrics"] == [{"key": "n", "value": "NaN", "timestamp": 7, "step": 3}]
    assert "next_page_token" not in h


def test_run_json_shape(api, client, experiment_id):
    rid = client.create_run(experiment_id, start_time=5).info.run_id
    run = api.get("/api/2.0/mlflow/runs/get", run_id=rid).json()["run"]
    info = run["info"]
    assert info["run_id"] == rid and info["run_uuid"] == rid
    assert info["experiment_id"] == experiment_id
    assert info["status"] == "RUNNING"
    assert info["lifecycle_stage"] == "active"
    assert info["start_time"] == 5
    assert "end_time" not in info
    assert "params" not in run["data"] and "metrics" not in run["data"]


def test_experiment_search_accepts_get(api, client):
    client.create_experiment(unique("get-search"))
    r = api.get("/api/2.0/mlflow/experiments/search", max_results=1)
    assert r.status_code == 200
    assert len(r.json()["experiments"]) == 1
    assert r.json().get("next_page_token")
