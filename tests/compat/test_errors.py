"""The error paths named in the issue: each must surface in the client as the
same exception class with the same error_code as against real MLflow."""
import mlflow
import pytest
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException, RestException
from packaging.version import Version

from conftest import unique

MISSING_RUN = "fedcba9876543210fedcba9876543210"
MLFLOW3 = Version(mlflow.__version__) >= Version("3.0")


def _raises(exc_type, code, fn):
    with pytest.raises(MlflowException) as e:
        fn()
    assert type(e.value) is exc_type, (type(e.value), e.value)
    assert e.value.error_code == code, e.value
    return e.value


def test_duplicate_experiment_name(client, exp_name):
    client.create_experiment(exp_name)
    _raises(RestException, "RESOURCE_ALREADY_EXISTS", lambda: client.create_experiment(exp_name))
    _raises(RestException, "RESOURCE_ALREADY_EXISTS", lambda: mlflow.create_experiment(exp_name))


def test_bad_filter(client, experiment_id):
    _raises(RestException, "INVALID_PARAMETER_VALUE",
            lambda: client.search_runs([experiment_id], "metrics.acc >< 1"))
    _raises(RestException, "INVALID_PARAMETER_VALUE",
            lambda: client.search_experiments(filter_string="nope.x = 'y'"))
    with pytest.raises(MlflowException) as e:
        mlflow.search_runs([experiment_id], "params.p = 1")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_missing_run(client):
    _raises(RestException, "RESOURCE_DOES_NOT_EXIST", lambda: client.get_run(MISSING_RUN))
    _raises(RestException, "RESOURCE_DOES_NOT_EXIST", lambda: mlflow.get_run(MISSING_RUN))
    _raises(RestException, "RESOURCE_DOES_NOT_EXIST", lambda: client.log_metric(MISSING_RUN, "m", 1.0))
    _raises(RestException, "RESOURCE_DOES_NOT_EXIST", lambda: client.set_tag(MISSING_RUN, "t", "v"))
    _raises(RestException, "RESOURCE_DOES_NOT_EXIST", lambda: client.log_param(MISSING_RUN, "p", "v"))
    with pytest.raises(MlflowException) as e:
        with mlflow.start_run(run_id=MISSING_RUN):
            pass
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_missing_experiment(client):
    _raises(RestException, "RESOURCE_DOES_NOT_EXIST", lambda: client.get_experiment("987654321"))
    _raises(RestException, "RESOURCE_DOES_NOT_EXIST", lambda: client.create_run("987654321"))
    assert client.get_experiment_by_name(unique("missing")) is None
    with pytest.raises(MlflowException) as e:
        mlflow.set_experiment(experiment_id="987654321")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_changing_a_param_value(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.log_param(rid, "p", "1")
    # the client re-wraps INVALID_PARAMETER_VALUE from log-parameter in a plain MlflowException
    _raises(MlflowException, "INVALID_PARAMETER_VALUE", lambda: client.log_param(rid, "p", "2"))
    _raises(RestException, "INVALID_PARAMETER_VALUE", lambda: client.log_batch(rid, params=[Param("p", "2")]))


def test_logging_to_a_deleted_run(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.delete_run(rid)
    _raises(RestException, "INVALID_PARAMETER_VALUE", lambda: client.log_metric(rid, "m", 1.0))
    _raises(MlflowException, "INVALID_PARAMETER_VALUE", lambda: client.log_param(rid, "p", "1"))
    _raises(RestException, "INVALID_PARAMETER_VALUE", lambda: client.set_tag(rid, "t", "1"))
    _raises(RestException, "INVALID_PARAMETER_VALUE",
            lambda: client.log_batch(rid, metrics=[Metric("m", 1.0, 1, 0)]))


def test_logging_to_a_run_of_a_deleted_experiment(client, exp_name):
    eid = client.create_experiment(exp_name)
    rid = client.create_run(eid).info.run_id
    client.delete_experiment(eid)
    _raises(RestException, "INVALID_PARAMETER_VALUE", lambda: client.log_metric(rid, "m", 1.0))
    _raises(RestException, "INVALID_PARAMETER_VALUE", lambda: client.create_run(eid))


@pytest.mark.skipif(not MLFLOW3, reason="logged models are a 3.x feature")
def test_model_references(client, experiment_id):
    """runs/log-inputs and runs/outputs with a logged model that exists."""
    from mlflow.entities import LoggedModelInput, LoggedModelOutput

    rid = client.create_run(experiment_id).info.run_id
    mid = client.create_logged_model(experiment_id).model_id
    client.log_inputs(rid, models=[LoggedModelInput(mid)])
    client.log_outputs(rid, [LoggedModelOutput(mid, 3)])
    run = client.get_run(rid)
    assert [m.model_id for m in run.inputs.model_inputs] == [mid]
    assert [(m.model_id, m.step) for m in run.outputs.model_outputs] == [(mid, 3)]


@pytest.mark.mlbox_only
@pytest.mark.skipif(not MLFLOW3, reason="logged models are a 3.x feature")
def test_unknown_model_references(client, experiment_id):
    """A model reference must name a logged model that exists, and one bad
    reference refuses the whole request. MLflow 3.17.2's SQL store stores
    any model_id without looking it up (and a 40,000-byte one answered 500
    in mlbox before: bbolt's key limit)."""
    from mlflow.entities import LoggedModelInput, LoggedModelOutput

    rid = client.create_run(experiment_id).info.run_id
    mid = client.create_logged_model(experiment_id).model_id
    for bad, code in [("m-0123456789abcdef0123456789abcdef", "RESOURCE_DOES_NOT_EXIST"),
                      ("m" * 40000, "INVALID_PARAMETER_VALUE")]:
        e = _raises(RestException, code,
                    lambda: client.log_inputs(rid, models=[LoggedModelInput(mid), LoggedModelInput(bad)]))
        if code == "RESOURCE_DOES_NOT_EXIST":
            assert f"Logged model with ID '{bad}' not found." in str(e)
        _raises(RestException, code,
                lambda: client.log_outputs(rid, [LoggedModelOutput(mid, 1), LoggedModelOutput(bad, 1)]))
    run = client.get_run(rid)
    assert not run.inputs.model_inputs
    assert not (run.outputs and run.outputs.model_outputs)
