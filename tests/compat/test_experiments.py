"""Experiments: create/get/rename/delete/restore, tags, search_experiments."""
import time

import mlflow
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from conftest import unique


def test_default_experiment(client):
    exp = client.get_experiment("0")
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_create_and_get(client, exp_name):
    before = int(time.time() * 1000)
    eid = client.create_experiment(exp_name, tags={"team": "a", "k.with.dots": "v"})
    assert isinstance(eid, str) and eid
    exp = client.get_experiment(eid)
    assert exp.experiment_id == eid
    assert exp.name == exp_name
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == f"mlflow-artifacts:/{eid}"
    assert exp.tags == {"team": "a", "k.with.dots": "v"}
    assert before - 5000 <= exp.creation_time <= int(time.time() * 1000) + 5000
    assert exp.last_update_time >= exp.creation_time
    by_name = client.get_experiment_by_name(exp_name)
    assert by_name.experiment_id == eid
    assert by_name.tags == exp.tags


def test_create_with_artifact_location(client, exp_name):
    loc = f"mlflow-artifacts:/custom/{exp_name}"
    eid = client.create_experiment(exp_name, artifact_location=loc)
    assert client.get_experiment(eid).artifact_location == loc
    run = client.create_run(eid)
    assert run.info.artifact_uri == f"{loc}/{run.info.run_id}/artifacts"


def test_get_experiment_by_name_missing_returns_none(client):
    assert client.get_experiment_by_name(unique("missing")) is None
    assert mlflow.get_experiment_by_name(unique("missing")) is None


def test_duplicate_name(client, exp_name):
    client.create_experiment(exp_name)
    with pytest.raises(MlflowException) as e:
        client.create_experiment(exp_name)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_empty_name(client):
    with pytest.raises(MlflowException) as e:
        client.create_experiment("")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_missing_experiment(client):
    with pytest.raises(MlflowException) as e:
        client.get_experiment("987654321")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    for call in (lambda: client.delete_experiment("987654321"),
                 lambda: client.rename_experiment("987654321", unique("x")),
                 lambda: client.set_experiment_tag("987654321", "k", "v"),
                 lambda: client.create_run("987654321")):
        with pytest.raises(MlflowException) as e:
            call()
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_non_numeric_experiment_id(client):
    # The SQL-backed reference server has integer experiment ids.
    with pytest.raises(MlflowException) as e:
        client.get_experiment("not-a-number")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_set_experiment_creates_and_reuses(client, exp_name):
    exp = mlflow.set_experiment(exp_name)
    assert exp.name == exp_name
    assert client.get_experiment_by_name(exp_name).experiment_id == exp.experiment_id
    again = mlflow.set_experiment(exp_name)
    assert again.experiment_id == exp.experiment_id
    by_id = mlflow.set_experiment(experiment_id=exp.experiment_id)
    assert by_id.name == exp_name
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id


def test_experiment_tags(client, experiment_id, api):
    client.set_experiment_tag(experiment_id, "a", "1")
    client.set_experiment_tag(experiment_id, "b", "2")
    client.set_experiment_tag(experiment_id, "a", "3")  # upsert
    assert client.get_experiment(experiment_id).tags == {"a": "3", "b": "2"}
    if hasattr(client, "delete_experiment_tag"):  # 3.x client
        client.delete_experiment_tag(experiment_id, "a")
        with pytest.raises(MlflowException) as e:
            client.delete_experiment_tag(experiment_id, "a")
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    else:
        r = api.post("/api/2.0/mlflow/experiments/delete-experiment-tag", {"experiment_id": experiment_id, "key": "a"})
        assert r.status_code == 200, r.text
        r = api.post("/api/2.0/mlflow/experiments/delete-experiment-tag", {"experiment_id": experiment_id, "key": "a"})
        assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_experiment(experiment_id).tags == {"b": "2"}
    mlflow.set_experiment(experiment_id=experiment_id)
    mlflow.set_experiment_tags({"c": "x", "d": "y"})
    assert client.get_experiment(experiment_id).tags == {"b": "2", "c": "x", "d": "y"}


def test_rename(client, exp_name):
    eid = client.create_experiment(exp_name)
    new = exp_name + "-renamed"
    client.rename_experiment(eid, new)
    assert client.get_experiment(eid).name == new
    assert client.get_experiment_by_name(new).experiment_id == eid
    assert client.get_experiment_by_name(exp_name) is None
    # the old name is free again
    other = client.create_experiment(exp_name)
    assert other != eid


def test_rename_to_existing_name(client, exp_name):
    eid = client.create_experiment(exp_name)
    client.create_experiment(exp_name + "-other")
    with pytest.raises(MlflowException) as e:
        client.rename_experiment(eid, exp_name + "-other")
    # The reference server reports the unique-constraint violation as a generic
    # BAD_REQUEST (HTTP 400), not RESOURCE_ALREADY_EXISTS.
    assert e.value.error_code == "BAD_REQUEST"
    assert client.get_experiment(eid).name == exp_name


@pytest.mark.mlbox_only
def test_rename_deleted_experiment_is_a_client_error(client, exp_name, api):
    # Reference bug: MLflow answers this with INVALID_STATE / HTTP 500, which the
    # client retries for minutes. mlbox must answer 400 INVALID_PARAMETER_VALUE.
    eid = client.create_experiment(exp_name)
    client.delete_experiment(eid)
    r = api.post("/api/2.0/mlflow/experiments/update", {"experiment_id": eid, "new_name": exp_name + "-x"})
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.rename_experiment(eid, exp_name + "-x")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_delete_and_restore(client, exp_name):
    eid = client.create_experiment(exp_name)
    r1 = client.create_run(eid).info.run_id
    r2 = client.create_run(eid).info.run_id
    client.delete_experiment(eid)

    exp = client.get_experiment(eid)  # still readable by id
    assert exp.lifecycle_stage == "deleted"
    # get-by-name also finds the deleted experiment
    assert client.get_experiment_by_name(exp_name).lifecycle_stage == "deleted"
    # its runs are deleted with it
    assert client.get_run(r1).info.lifecycle_stage == "deleted"
    # the name stays reserved
    with pytest.raises(MlflowException) as e:
        client.create_experiment(exp_name)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    # a deleted experiment can't get new runs or tags
    for call in (lambda: client.create_run(eid),
                 lambda: client.set_experiment_tag(eid, "k", "v"),
                 lambda: client.log_param(r1, "p", "v")):
        with pytest.raises(MlflowException) as e:
            call()
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    # deleting twice: it is no longer active -> not found
    with pytest.raises(MlflowException) as e:
        client.delete_experiment(eid)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.restore_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "active"
    assert client.get_run(r1).info.lifecycle_stage == "active"
    assert client.get_run(r2).info.lifecycle_stage == "active"
    client.log_param(r1, "p", "v")
    # restoring an active experiment: the reference looks it up among deleted
    # experiments only, so it is "not found"
    with pytest.raises(MlflowException) as e:
        client.restore_experiment(eid)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def _make(client, prefix, n, **tags_by_index):
    ids = []
    for i in range(n):
        ids.append(client.create_experiment(f"{prefix}-{i:02d}", tags={"idx": str(i), "parity": "even" if i % 2 == 0 else "odd"}))
        time.sleep(0.003)  # distinct creation_time
    return ids


def test_search_experiments_filter_and_order(client):
    prefix = unique("sx")
    ids = _make(client, prefix, 5)

    def names(**kw):
        return [e.name for e in client.search_experiments(**kw)]

    # default order: creation_time DESC
    got = [e.experiment_id for e in client.search_experiments(filter_string=f"name LIKE '{prefix}-%'")]
    assert got == list(reversed(ids))
    assert names(filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"]) == [f"{prefix}-{i:02d}" for i in range(5)]
    assert names(filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"]) == [f"{prefix}-{i:02d}" for i in reversed(range(5))]
    assert names(filter_string=f"attribute.name LIKE '{prefix}-%'", order_by=["creation_time ASC"]) == [f"{prefix}-{i:02d}" for i in range(5)]
    assert names(filter_string=f"name = '{prefix}-03'") == [f"{prefix}-03"]
    # LIKE is case-sensitive, ILIKE is not
    assert names(filter_string=f"name LIKE '{prefix.upper()}-%'") == []
    assert len(names(filter_string=f"name ILIKE '{prefix.upper()}-%'")) == 5
    assert sorted(names(filter_string=f"name LIKE '{prefix}-%' AND name != '{prefix}-00'")) == [f"{prefix}-{i:02d}" for i in range(1, 5)]
    # tags
    assert names(filter_string=f"name LIKE '{prefix}-%' AND tags.parity = 'odd'", order_by=["name"]) == [f"{prefix}-01", f"{prefix}-03"]
    assert names(filter_string=f"name LIKE '{prefix}-%' AND tag.`idx` = '4'") == [f"{prefix}-04"]
    assert names(filter_string=f"name LIKE '{prefix}-%' AND tags.parity LIKE 'ev%'", order_by=["name"]) == [f"{prefix}-00", f"{prefix}-02", f"{prefix}-04"]
    assert names(filter_string=f"name LIKE '{prefix}-%' AND tags.parity ILIKE 'ODD'", order_by=["name"]) == [f"{prefix}-01", f"{prefix}-03"]
    assert names(filter_string=f"name LIKE '{prefix}-%' AND tags.missing = 'x'") == []
    # numeric attribute
    t = client.get_experiment(ids[2]).creation_time
    assert names(filter_string=f"name LIKE '{prefix}-%' AND creation_time >= {t}", order_by=["name"]) == [f"{prefix}-{i:02d}" for i in range(2, 5)]
    # several order keys
    assert names(filter_string=f"name LIKE '{prefix}-%'", order_by=["last_update_time DESC", "name ASC"])[0] == f"{prefix}-04"


def test_search_experiments_view_type(client):
    prefix = unique("sv")
    ids = _make(client, prefix, 4)
    client.delete_experiment(ids[1])
    client.delete_experiment(ids[3])
    f = f"name LIKE '{prefix}-%'"

    def got(view_type):
        return sorted(e.experiment_id for e in client.search_experiments(view_type=view_type, filter_string=f))

    assert got(ViewType.ACTIVE_ONLY) == sorted([ids[0], ids[2]])
    assert got(ViewType.DELETED_ONLY) == sorted([ids[1], ids[3]])
    assert got(ViewType.ALL) == sorted(ids)
    assert {e.lifecycle_stage for e in client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f)} == {"deleted"}
    # default is ACTIVE_ONLY
    assert sorted(e.experiment_id for e in client.search_experiments(filter_string=f)) == sorted([ids[0], ids[2]])
    assert sorted(e.experiment_id for e in mlflow.search_experiments(filter_string=f)) == sorted([ids[0], ids[2]])


def test_search_experiments_paging(client):
    prefix = unique("sp")
    ids = _make(client, prefix, 7)
    f = f"name LIKE '{prefix}-%'"
    seen, token, pages = [], None, 0
    while True:
        page = client.search_experiments(filter_string=f, max_results=3, page_token=token, order_by=["name ASC"])
        assert len(page) <= 3
        seen += [e.experiment_id for e in page]
        pages += 1
        token = page.token
        if not token:
            break
    assert pages == 3
    assert seen == ids
    # the fluent API pages by itself
    assert len(mlflow.search_experiments(filter_string=f, max_results=5)) == 5
    assert len(mlflow.search_experiments(filter_string=f)) == 7


def test_search_experiments_errors(client):
    for kw in ({"filter_string": "foo.x = 'a'"},
               {"filter_string": "name = 'a' OR name = 'b'"},
               {"order_by": ["nope"]},
               {"max_results": 50001}):
        with pytest.raises(MlflowException) as e:
            client.search_experiments(**kw)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", kw
