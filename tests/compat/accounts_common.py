"""What the accounts tests (test_accounts.py, test_proxy.py) share: the
credentials MLflow's client reads from the environment at every request,
and one fluent run logged and read back (a plain module, not a test file)."""
import contextlib
import os

from conftest import unique

_CRED_VARS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


@contextlib.contextmanager
def credentials(**env):
    """Exactly the given MLFLOW_TRACKING_* credentials set (the others
    unset), restored afterwards."""
    old = {k: os.environ.get(k) for k in _CRED_VARS}
    for k in _CRED_VARS:
        os.environ.pop(k, None)
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def as_user(name, password):
    """HTTP Basic credentials (none when name is None)."""
    if name is None:
        return credentials()
    return credentials(MLFLOW_TRACKING_USERNAME=name, MLFLOW_TRACKING_PASSWORD=password)


def as_token(token):
    """MLFLOW_TRACKING_TOKEN (sent as Authorization: Bearer), no user."""
    return credentials(MLFLOW_TRACKING_TOKEN=token)


def log_a_run(url, tmp_path, prefix, loss, note="hi"):
    """With the credentials in effect: a new experiment, a run with a param,
    a metric and an artifact through the fluent API, read back through the
    client; returns (client, run). The caller restores the tracking URI."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment(unique(prefix + "-exp"))
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_metric("loss", loss)
        f = tmp_path / "notes.txt"
        f.write_text(note)
        mlflow.log_artifact(str(f))
    c = MlflowClient(tracking_uri=url, registry_uri=url)
    assert c.get_run(run.info.run_id).data.metrics == {"loss": loss}
    assert [a.path for a in c.list_artifacts(run.info.run_id)] == ["notes.txt"]
    return c, run
