"""Model registry: registered models, versions, stages, aliases, tags, search,
and the log_model -> register -> load_model round trip."""
import time

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from packaging.version import Version

from conftest import unique

MLFLOW3 = Version(mlflow.__version__) >= Version("3.0")


def _fit():
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
    y = np.array([0, 1, 1, 1] * 5)
    return LogisticRegression().fit(X, y), X


def _log_model(model, X, **kw):
    if MLFLOW3:
        return mlflow.sklearn.log_model(model, name="model", input_example=X[:2], **kw)
    return mlflow.sklearn.log_model(model, artifact_path="model", input_example=X[:2], **kw)


def test_log_register_and_load(client, exp_name):
    name = unique("iris")
    model, X = _fit()
    mlflow.set_experiment(exp_name)
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("acc", 0.75)
        info = _log_model(model, X, registered_model_name=name)
    assert str(info.registered_model_version) == "1"
    mv = client.get_model_version(name, "1")
    assert mv.name == name and mv.version == "1"
    assert mv.status == "READY"
    assert mv.current_stage == "None"
    assert mv.run_id == run.info.run_id
    expected = model.predict(X)
    for uri in (f"models:/{name}/1", f"runs:/{run.info.run_id}/model", info.model_uri):
        loaded = mlflow.pyfunc.load_model(uri)
        assert np.array_equal(loaded.predict(X), expected), uri
    client.set_registered_model_alias(name, "champion", "1")
    assert np.array_equal(mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(X), expected)
    assert np.array_equal(mlflow.sklearn.load_model(f"models:/{name}/latest").predict(X), expected)
    # a second registration of the same model makes version 2
    mv2 = mlflow.register_model(info.model_uri, name)
    assert mv2.version == "2"
    dl = client.get_model_version_download_uri(name, "2")
    assert dl.startswith("mlflow-artifacts:/")


@pytest.mark.skipif(not MLFLOW3, reason="logged models are a 3.x feature")
def test_logged_model_entity(client, exp_name):
    model, X = _fit()
    mlflow.set_experiment(exp_name)
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", "0.1")
        mlflow.log_metric("acc", 0.5, step=0)
        info = _log_model(model, X)
    lm = mlflow.get_logged_model(info.model_id)
    assert lm.model_id.startswith("m-")
    assert lm.name == "model"
    assert lm.source_run_id == run.info.run_id
    assert lm.experiment_id == run.info.experiment_id
    assert str(lm.status) in ("READY", "LoggedModelStatus.READY") or lm.status.to_int() == 2
    assert lm.params.get("alpha") == "0.1"
    assert lm.artifact_location.endswith(f"/models/{lm.model_id}/artifacts")
    got = client.get_run(run.info.run_id)
    assert [o.model_id for o in got.outputs.model_outputs] == [lm.model_id]
    found = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    assert [m.model_id for m in found] == [lm.model_id]


def test_registered_model_crud(client):
    name = unique("rm")
    rm = client.create_registered_model(name, tags={"t": "1"}, description="desc")
    assert rm.name == name and rm.description == "desc" and rm.tags == {"t": "1"}
    assert rm.creation_timestamp > 0 and rm.last_updated_timestamp >= rm.creation_timestamp
    got = client.get_registered_model(name)
    assert got.name == name and got.tags == {"t": "1"}
    with pytest.raises(MlflowException) as e:
        client.create_registered_model(name)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.update_registered_model(name, description="new")
    assert client.get_registered_model(name).description == "new"
    client.set_registered_model_tag(name, "k", "v")
    client.delete_registered_model_tag(name, "t")
    assert client.get_registered_model(name).tags == {"k": "v"}
    new = name + "-renamed"
    client.rename_registered_model(name, new)
    assert client.get_registered_model(new).name == new
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(name)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_registered_model(new)
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(new)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_model_versions_stages_aliases(client, experiment_id):
    name = unique("mv")
    client.create_registered_model(name)
    rid = client.create_run(experiment_id).info.run_id
    src = f"mlflow-artifacts:/{experiment_id}/{rid}/artifacts/model"
    versions = [client.create_model_version(name, src, run_id=rid, tags={"n": str(i)}, description=f"v{i}")
                for i in range(1, 4)]
    assert [v.version for v in versions] == ["1", "2", "3"]
    assert versions[0].source == src and versions[0].tags == {"n": "1"}
    assert versions[2].description == "v3"
    # stages
    mv = client.transition_model_version_stage(name, "1", "staging")
    assert mv.current_stage == "Staging"
    client.transition_model_version_stage(name, "2", "Production")
    client.transition_model_version_stage(name, "3", "Production", archive_existing_versions=True)
    assert client.get_model_version(name, "2").current_stage == "Archived"
    assert client.get_model_version(name, "3").current_stage == "Production"
    latest = {v.current_stage: v.version for v in client.get_latest_versions(name)}
    assert latest == {"Staging": "1", "Production": "3", "Archived": "2"}
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["3"]
    with pytest.raises(MlflowException) as e:
        client.transition_model_version_stage(name, "1", "Nonsense")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    # aliases
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "champion", "2")  # moves
    client.set_registered_model_alias(name, "backup", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert sorted(client.get_model_version(name, "2").aliases) == ["backup", "champion"]
    assert client.get_registered_model(name).aliases == {"champion": "2", "backup": "2"}
    client.delete_registered_model_alias(name, "backup")
    assert client.get_model_version(name, "2").aliases == ["champion"]
    with pytest.raises(MlflowException) as e:
        client.get_model_version_by_alias(name, "backup")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    for bad in ("latest", "v1", "V12"):
        with pytest.raises(MlflowException) as e:
            client.set_registered_model_alias(name, bad, "1")
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", bad
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_alias(name, "x", "99")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # version tags, description
    client.set_model_version_tag(name, "1", "k", "v")
    client.delete_model_version_tag(name, "1", "n")
    client.update_model_version(name, "1", description="first")
    mv = client.get_model_version(name, "1")
    assert mv.tags == {"k": "v"} and mv.description == "first"
    # delete: numbers are not reused, aliases go away
    client.delete_model_version(name, "2")
    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "2")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.get_model_version_by_alias(name, "champion")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.create_model_version(name, src, run_id=rid).version == "4"
    assert sorted(v.version for v in client.search_model_versions(f"name = '{name}'")) == ["1", "3", "4"]


def test_registry_errors(client):
    missing = unique("missing")
    for call in (lambda: client.get_registered_model(missing),
                 lambda: client.get_model_version(missing, "1"),
                 lambda: client.create_model_version(missing, "s3://bucket/model"),
                 lambda: client.delete_registered_model(missing),
                 lambda: client.get_model_version_by_alias(missing, "a")):
        with pytest.raises(MlflowException) as e:
            call()
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    name = unique("err")
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "7")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_registered_models_and_versions(client):
    prefix = unique("srch")
    for i in range(5):
        client.create_registered_model(f"{prefix}-{i}", tags={"parity": "even" if i % 2 == 0 else "odd"})
        time.sleep(0.003)
    names = lambda **kw: [m.name for m in client.search_registered_models(**kw)]  # noqa: E731
    assert names(filter_string=f"name LIKE '{prefix}-%'") == [f"{prefix}-{i}" for i in range(5)]  # name ASC
    assert names(filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"]) == [f"{prefix}-{i}" for i in reversed(range(5))]
    assert names(filter_string=f"name ILIKE '{prefix.upper()}-%' AND tags.parity = 'odd'") == [f"{prefix}-1", f"{prefix}-3"]
    assert names(filter_string=f"name = '{prefix}-2'") == [f"{prefix}-2"]
    got, token = [], None
    while True:
        page = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'", max_results=2, page_token=token)
        got += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert got == [f"{prefix}-{i}" for i in range(5)]
    with pytest.raises(MlflowException) as e:
        client.search_registered_models(filter_string="foo = 'x'")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"

    mname = f"{prefix}-0"
    for _ in range(3):
        client.create_model_version(mname, "s3://bucket/model")
    vs = client.search_model_versions(f"name = '{mname}'")
    assert sorted(v.version for v in vs) == ["1", "2", "3"]
    vs = client.search_model_versions(f"name = '{mname}' AND version_number >= 2", order_by=["version_number DESC"])
    assert [v.version for v in vs] == ["3", "2"]


def test_model_version_source_validation(client, experiment_id):
    """Which `source` values create-model-version accepts (3.x reference rules)."""
    name = unique("src")
    client.create_registered_model(name)
    run = client.create_run(experiment_id)
    rid, art = run.info.run_id, run.info.artifact_uri
    ok = [("s3://bucket/path/model", None),
          ("dbfs:/x/model", None),
          (f"{art}/model", rid),             # inside the given run's artifacts
          (f"runs:/{rid}/model", rid)]
    for src, run_id in ok:
        assert client.create_model_version(name, src, run_id=run_id).source == src
    bad = [(f"{art}/model", None),           # proxied artifacts need the run that holds them
           ("mlflow-artifacts:/elsewhere/model", rid),
           (f"runs:/{rid}/model", None),
           ("/tmp/model", None),             # local paths only inside the run's artifact dir
           ("file:///tmp/model", None),
           ("s3://bucket/../model", None),   # no relative segments
           ("models:/m-0123456789abcdef0123456789abcdef", None)]  # needs model_id
    for src, run_id in bad:
        with pytest.raises(MlflowException) as e:
            client.create_model_version(name, src, run_id=run_id)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", src
