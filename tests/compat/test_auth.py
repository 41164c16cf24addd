"""http.auth_token with the real MLflow client: MLFLOW_TRACKING_TOKEN (bearer)
and MLFLOW_TRACKING_USERNAME/PASSWORD (basic) both work, through the tracking
API and the artifact proxy; no credentials is UNAUTHENTICATED."""
import os

import pytest

from conftest import TARGET, unique
from mlboxproc import MlboxProcess

TOKEN = "compat-token-0123456789"

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="mlbox's own authentication")


@pytest.fixture(scope="module")
def auth_server():
    with MlboxProcess(env={"MLBOX_HTTP_AUTH_TOKEN": TOKEN}) as p:
        yield p


def client_for(url):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=url, registry_uri=url)


@pytest.mark.parametrize("creds", [
    {"MLFLOW_TRACKING_TOKEN": TOKEN},
    {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": TOKEN},
])
def test_client_with_credentials(auth_server, monkeypatch, tmp_path, creds):
    for k, v in creds.items():
        monkeypatch.setenv(k, v)
    c = client_for(auth_server.url)
    exp = c.create_experiment(unique("auth"))
    run = c.create_run(exp)
    c.log_metric(run.info.run_id, "loss", 0.5, step=1)
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    c.log_artifact(run.info.run_id, str(f))
    assert [a.path for a in c.list_artifacts(run.info.run_id)] == ["notes.txt"]
    assert c.get_run(run.info.run_id).data.metrics == {"loss": 0.5}


def test_client_without_credentials(auth_server, monkeypatch):
    from mlflow.exceptions import MlflowException

    for k in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(MlflowException) as e:
        client_for(auth_server.url).search_experiments()
    assert e.value.error_code == "UNAUTHENTICATED"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "wrong-token-0123456789")
    with pytest.raises(MlflowException) as e:
        client_for(auth_server.url).search_experiments()
    assert e.value.error_code == "UNAUTHENTICATED"
