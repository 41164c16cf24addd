"""search_runs: filters, order_by, paging (including > 1000 runs)."""
import time
from concurrent.futures import ThreadPoolExecutor

import mlflow
import pytest
from mlflow.entities import Metric, Param, ViewType
from mlflow.exceptions import MlflowException

from conftest import unique

# name, start_time, status, user, metrics, params, tags
SPEC = {
    "r0": ("alpha-one", 1000, "FINISHED", "alice", {"acc": 0.9, "loss": 0.3, "my metric": 1.0},
           {"model": "rf", "lr": "0.1"}, {"team": "red", "my tag": "x y", "dotted.key": "d"}),
    "r1": ("beta-two", 2000, "FAILED", "bob", {"acc": 0.8, "loss": 0.5},
           {"model": "lr", "lr": "0.01", "a.b": "1"}, {"team": "blue"}),
    "r2": ("Gamma-Three", 3000, "RUNNING", "alice", {"acc": 0.95},
           {"model": "RF-big"}, {"team": "red"}),
    "r3": ("delta", 4000, "KILLED", "carol", {}, {}, {"team": "green"}),
    "r4": ("eps", 5000, "FINISHED", "bob", {"acc": 0.8, "loss": 0.1},
           {"model": "lr"}, {"team": "blue"}),
}


@pytest.fixture(scope="module")
def runs(client):
    eid = client.create_experiment(unique("search"))
    ids = {}
    for label, (name, start, status, user, metrics, params, tags) in SPEC.items():
        run = client.create_run(eid, start_time=start, run_name=name,
                                tags={"mlflow.user": user, **tags})
        rid = run.info.run_id
        client.log_batch(rid, metrics=[Metric(k, v, start + 1, 0) for k, v in metrics.items()],
                         params=[Param(k, v) for k, v in params.items()])
        if status != "RUNNING":
            client.set_terminated(rid, status=status, end_time=start + 500)
        ids[label] = rid
    label_of = {v: k for k, v in ids.items()}

    def search(filter_string="", order_by=None, **kw):
        res = client.search_runs([eid], filter_string, order_by=order_by, **kw)
        return [label_of[r.info.run_id] for r in res]

    search.eid = eid
    search.ids = ids
    return search


@pytest.mark.parametrize("flt,expected", [
    ("", ["r4", "r3", "r2", "r1", "r0"]),  # default order: start_time DESC
    ("metrics.acc > 0.85", ["r2", "r0"]),
    ("metrics.acc >= 0.8 AND metrics.loss < 0.4", ["r4", "r0"]),
    ("metrics.acc = 0.8", ["r4", "r1"]),
    ("metrics.acc != 0.8", ["r2", "r0"]),  # a run without the metric never matches
    ("metrics.acc <= 0.8", ["r4", "r1"]),
    ("metrics.acc > .85", ["r2", "r0"]),
    ("metrics.acc > 9e-1", ["r2"]),
    ("metrics.loss > -1", ["r4", "r1", "r0"]),
    ("metric.acc < 0.9", ["r4", "r1"]),
    ("metrics.`my metric` = 1", ["r0"]),
    ("metrics.missing > 0", []),
    ("params.model = 'lr'", ["r4", "r1"]),
    ('params.model = "lr"', ["r4", "r1"]),
    ("params.model != 'lr'", ["r2", "r0"]),
    ("params.model LIKE 'rf%'", ["r0"]),
    ("params.model LIKE '%F%'", ["r2"]),
    ("params.model ILIKE 'rf%'", ["r2", "r0"]),
    ("params.lr LIKE '0._'", ["r0"]),
    ("param.`a.b` = '1'", ["r1"]),
    ('parameters."a.b" = \'1\'', ["r1"]),
    ("params.model = 'lr' AND tags.team = 'blue' AND metrics.loss > 0.2", ["r1"]),
    ("tags.team = 'red'", ["r2", "r0"]),
    ("tag.team != 'red'", ["r4", "r3", "r1"]),
    ("tags.team LIKE 'g%'", ["r3"]),
    ("tags.team ILIKE 'BL%'", ["r4", "r1"]),
    ("tags.`my tag` = 'x y'", ["r0"]),
    ("tags.\"dotted.key\" = 'd'", ["r0"]),
    ("tags.`mlflow.user` = 'carol'", ["r3"]),
    ("tags.mlflow.runName = 'eps'", ["r4"]),
    ("attributes.status = 'FINISHED'", ["r4", "r0"]),
    ("status != 'RUNNING'", ["r4", "r3", "r1", "r0"]),
    ("attributes.status = 'finished'", []),  # case-sensitive
    ("attributes.status LIKE 'F%'", ["r4", "r1", "r0"]),
    ("attributes.run_name = 'delta'", ["r3"]),
    ("run_name LIKE '%a-%'", ["r2", "r1", "r0"]),
    ("attributes.run_name ILIKE 'gamma%'", ["r2"]),
    ("attributes.run_name LIKE 'gamma%'", []),
    ("`Run name` = 'eps'", ["r4"]),
    ("attributes.`run name` = 'eps'", ["r4"]),
    ("attributes.user_id = 'alice'", ["r2", "r0"]),
    ("attributes.start_time > 2500", ["r4", "r3", "r2"]),
    ("attribute.start_time <= 2000", ["r1", "r0"]),
    ("created >= 4000", ["r4", "r3"]),
    ("attributes.end_time = 1500", ["r0"]),
    ("attributes.end_time > 0", ["r4", "r3", "r1", "r0"]),
    ("attributes.artifact_uri LIKE '%/artifacts'", ["r4", "r3", "r2", "r1", "r0"]),
    ("metrics.acc >= 0.8 and params.model = 'lr'", ["r4", "r1"]),  # keywords case-insensitive
    ("params.model = 'lr' AND metrics.acc > 0.85", []),
])
def test_filter(runs, flt, expected):
    assert runs(flt) == expected


def test_filter_run_id_in(runs):
    ids = runs.ids
    assert runs(f"attributes.run_id IN ('{ids['r1']}', '{ids['r3']}')") == ["r3", "r1"]
    assert runs(f"run_id NOT IN ('{ids['r1']}', '{ids['r3']}')") == ["r4", "r2", "r0"]
    assert runs(f"attributes.run_id = '{ids['r2']}'") == ["r2"]
    assert runs(f"attributes.run_id IN ('{ids['r1']}') AND metrics.acc = 0.8") == ["r1"]


def test_filter_is_null(runs):
    assert runs("params.lr IS NULL") == ["r4", "r3", "r2"]
    assert runs("params.lr IS NOT NULL") == ["r1", "r0"]
    assert runs("tags.`my tag` IS NOT NULL") == ["r0"]


@pytest.mark.parametrize("order_by,expected", [
    (["metrics.acc DESC"], ["r2", "r0", "r4", "r1", "r3"]),  # ties: start_time DESC; missing last
    (["metrics.acc ASC"], ["r4", "r1", "r0", "r2", "r3"]),
    (["metrics.acc"], ["r4", "r1", "r0", "r2", "r3"]),
    (["metrics.loss DESC"], ["r1", "r0", "r4", "r3", "r2"]),
    (["params.model ASC", "metrics.loss DESC"], ["r2", "r1", "r4", "r0", "r3"]),
    (["tags.team DESC", "attributes.start_time ASC"], ["r0", "r2", "r3", "r1", "r4"]),
    (["attributes.run_name ASC"], ["r2", "r0", "r1", "r3", "r4"]),  # byte order: upper case first
    (["run_name DESC"], ["r4", "r3", "r1", "r0", "r2"]),
    (["attributes.start_time ASC"], ["r0", "r1", "r2", "r3", "r4"]),
    (["created DESC"], ["r4", "r3", "r2", "r1", "r0"]),
    (["attributes.status ASC", "start_time DESC"], ["r1", "r4", "r0", "r3", "r2"]),
    (["attributes.end_time DESC"], ["r4", "r3", "r1", "r0", "r2"]),
    (["attributes.user_id", "metrics.`acc` DESC"], ["r2", "r0", "r4", "r1", "r3"]),
    (["tags.`team` ASC", "params.model DESC", "metrics.acc ASC"], ["r4", "r1", "r3", "r0", "r2"]),
])
def test_order_by(runs, order_by, expected):
    assert runs(order_by=order_by) == expected


def test_order_by_with_filter_and_paging(runs, client):
    got, token = [], None
    while True:
        page = client.search_runs([runs.eid], "metrics.acc > 0", order_by=["metrics.acc DESC"],
                                  max_results=2, page_token=token)
        assert len(page) <= 2
        got += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    assert got == [runs.ids[k] for k in ("r2", "r0", "r4", "r1")]


def test_search_results_are_full_runs(runs, client):
    (run,) = client.search_runs([runs.eid], "attributes.run_name = 'alpha-one'")
    assert run.info.run_id == runs.ids["r0"]
    assert run.data.metrics == {"acc": 0.9, "loss": 0.3, "my metric": 1.0}
    assert run.data.params == {"model": "rf", "lr": "0.1"}
    assert run.data.tags["team"] == "red" and run.data.tags["mlflow.runName"] == "alpha-one"
    assert run.info.status == "FINISHED" and run.info.end_time == 1500
    assert run.info.user_id == "alice"


def test_fluent_search_runs_dataframe(runs):
    df = mlflow.search_runs([runs.eid], "params.model = 'lr'", order_by=["metrics.loss ASC"])
    assert list(df["run_id"]) == [runs.ids["r4"], runs.ids["r1"]]
    assert list(df["metrics.loss"]) == [0.1, 0.5]
    assert list(df["params.model"]) == ["lr", "lr"]
    assert list(df["tags.team"]) == ["blue", "blue"]
    assert list(df["status"]) == ["FINISHED", "FAILED"]
    runs_list = mlflow.search_runs([runs.eid], output_format="list", max_results=2)
    assert len(runs_list) == 2
    by_name = mlflow.search_runs(experiment_names=[mlflow.get_experiment(runs.eid).name])
    assert len(by_name) == 5


def test_search_several_experiments_and_view_types(client):
    e1 = client.create_experiment(unique("multi-a"))
    e2 = client.create_experiment(unique("multi-b"))
    a = client.create_run(e1, start_time=10).info.run_id
    b = client.create_run(e2, start_time=20).info.run_id
    c = client.create_run(e2, start_time=30).info.run_id
    client.delete_run(c)
    assert [r.info.run_id for r in client.search_runs([e1, e2])] == [b, a]
    assert [r.info.run_id for r in client.search_runs([e1, e2], run_view_type=ViewType.DELETED_ONLY)] == [c]
    assert [r.info.run_id for r in client.search_runs([e1, e2], run_view_type=ViewType.ALL)] == [c, b, a]
    # an unknown experiment id just contributes nothing
    assert [r.info.run_id for r in client.search_runs([e1, "987654321"])] == [a]
    assert client.search_runs(["987654321"]) == []


@pytest.mark.parametrize("flt", [
    "metrics.x >< 1",
    "foo.x = 1",
    "params.x = 1",                       # params need quoted values
    "metrics.acc = 'a'",                  # metrics need numbers
    "params.model = 'lr' OR params.model = 'x'",
    "(params.model = 'lr')",
    "attributes.nope = 'x'",
    "attributes.lifecycle_stage = 'active'",
    "attributes.experiment_id = '1'",
    "tags.team IN ('red', 'x')",          # IN only for run_id and datasets
    "attributes.run_name IN ('a')",
    "params.model == 'lr'",
    "params.model > 'a'",
    "metrics.acc LIKE '0.5'",
    "start_time > '4'",
    "metrics.acc IS NULL",
    "datasets.foo = 'x'",
    "run name = 'x'",
])
def test_bad_filter(client, runs, flt):
    with pytest.raises(MlflowException) as e:
        client.search_runs([runs.eid], flt)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("order_by", [["foo.x"], ["metrics.acc sideways"], ["attributes.nope"], ["datasets.name"]])
def test_bad_order_by(client, runs, order_by):
    with pytest.raises(MlflowException) as e:
        client.search_runs([runs.eid], order_by=order_by)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_bad_max_results(client, runs):
    client.search_runs([runs.eid], max_results=50000)
    for n in (50001, 0):
        with pytest.raises(MlflowException) as e:
            client.search_runs([runs.eid], max_results=n)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"


N_BIG = 1010


@pytest.fixture(scope="module")
def big(client):
    """An experiment with N_BIG runs, start_time = 10_000 + i, tags i and bucket = i % 10;
    runs with i % 100 == 0 also get a metric and a param."""
    eid = client.create_experiment(unique("big"))

    def make(i):
        rid = client.create_run(eid, start_time=10_000 + i, run_name=f"run-{i:04d}",
                                tags={"i": f"{i:04d}", "bucket": str(i % 10)}).info.run_id
        if i % 100 == 0:
            client.log_batch(rid, metrics=[Metric("score", float(i), 1, 0)], params=[Param("hundred", str(i))])
        return rid

    t0 = time.time()
    with ThreadPoolExecutor(4) as ex:
        ids = list(ex.map(make, range(N_BIG)))
    print(f"created {N_BIG} runs in {time.time() - t0:.1f}s")
    return eid, ids


def _page_all(client, eid, page_size, **kw):
    got, token, pages = [], None, 0
    while True:
        page = client.search_runs([eid], max_results=page_size, page_token=token, **kw)
        assert len(page) <= page_size
        got += [r.info.run_id for r in page]
        pages += 1
        token = page.token
        if not token:
            return got, pages


@pytest.mark.slow
def test_paging_more_than_1000_runs(client, big):
    eid, ids = big
    got, pages = _page_all(client, eid, 1000)
    assert pages == 2
    assert got == list(reversed(ids))  # start_time DESC
    # the client's default max_results is 1000: one call does not return everything
    first = client.search_runs([eid])
    assert len(first) == 1000 and first.token
    got, pages = _page_all(client, eid, 400, order_by=["attributes.start_time ASC"])
    assert pages == 3
    assert got == ids
    got, pages = _page_all(client, eid, 300, order_by=["tags.i DESC"])
    assert got == list(reversed(ids))
    # one page big enough for everything has no next token
    page = client.search_runs([eid], max_results=5000)
    assert len(page) == N_BIG and not page.token


@pytest.mark.slow
def test_filters_on_many_runs(client, big):
    eid, ids = big
    got, _ = _page_all(client, eid, 1000, filter_string="tags.bucket = '3'", order_by=["attributes.start_time ASC"])
    assert got == [ids[i] for i in range(N_BIG) if i % 10 == 3]
    got, _ = _page_all(client, eid, 4, filter_string="metrics.score >= 500", order_by=["metrics.score DESC"])
    assert got == [ids[i] for i in (1000, 900, 800, 700, 600, 500)]
    got, _ = _page_all(client, eid, 1000, filter_string="params.hundred LIKE '%00'")
    assert got == [ids[i] for i in (1000, 900, 800, 700, 600, 500, 400, 300, 200, 100)]
    got, _ = _page_all(client, eid, 1000, filter_string="attributes.run_name LIKE 'run-100%'")
    assert sorted(got) == sorted(ids[i] for i in range(1000, N_BIG))


@pytest.mark.slow
def test_fluent_search_pages_over_1000(big):
    eid, ids = big
    df = mlflow.search_runs([eid])
    assert len(df) == N_BIG
    assert list(df["run_id"]) == list(reversed(ids))
    assert len(mlflow.search_runs([eid], max_results=1005)) == 1005
    assert len(mlflow.search_runs([eid], output_format="list", filter_string="tags.bucket = '7'")) == 101
