"""Browser tests of the embedded web UI: a real mlbox, data logged with the
real MLflow client, and real headless Chromium (Debian's `chromium`) driven
through Playwright's Python library (tests/ui/browser.py).

    MLBOX_BIN=bin/mlbox .venv/bin/python -m pytest -q tests/ui     (make test-ui)

Each test module launches the system Chromium once (never a downloaded
browser). Most tests render a page (a new document, its storage cleared),
wait for the app's <main data-state="ready"> and assert on page.content();
the interaction tests, each in a fresh browser context, click, type and
press keys with Playwright's real input (locators, keyboard) and read the
page with JS.

Without Chromium the tests skip, unless MLBOX_REQUIRE_CHROMIUM=1 (make test /
CI), in which case they fail. MLBOX_CHROMIUM=/path overrides the binary;
MLBOX_UI_URL=http://host:port runs against an already running server;
MLBOX_TEST_UI_ARTIFACTS=DIR keeps the screenshots in DIR/<test>/ (else in the
test's pytest tmp_path; mlbox ignores MLBOX_TEST_* variables).
"""
import json
import os
import pathlib
import re
import shutil
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
for _v in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI"):
    os.environ.pop(_v, None)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "compat"))
from browser import TEST_ENV, Browser, parse_html, render_html  # noqa: E402
from mlboxproc import MlboxProcess  # noqa: E402

# User data that would run if the UI ever parsed server data as HTML. Both set
# window.__xss and the document title; the CSP would block the <img> handler
# too, but the point is that they never become elements at all.
XSS_TAG = "<script>window.__xss=1;document.title='XSS'</script>"
XSS_NAME = "<img src=x onerror=\"window.__xss=1;document.title='XSS'\">"
XSS_PARAM = "<b>bold</b>"
STEPS = 30
PAGED_RUNS = 105


class Site:
    """The seeded server: URL, experiment id, run ids by name."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.runs = {}
        self.registry = False

    def page(self, route):
        return f"{self.url}/#/{route}"

    def api(self, path, body=None):
        """POST (body) or GET an /api/2.0/mlflow path; returns (status, json)."""
        req = urllib.request.Request(self.url + "/api/2.0/mlflow/" + path)
        if body is not None:
            req.data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"raw": raw.decode("utf-8", "replace")}


XSS_FILE = "<img src=x onerror=window.__xss=2>.txt"
MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.9
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.5.2
signature:
  inputs: '[{"type": "double", "name": "sepal length", "required": true}, {"type":
    "double", "name": "petal width", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
"""


def tiny_png(w, h):
    """A valid RGB PNG of w×h pixels."""
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    raw = b"".join(b"\x00" + bytes([200, 80, 40]) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def seed(site):
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    c = MlflowClient(tracking_uri=site.url)
    site.exp_name = f"ui-demo-{uuid.uuid4().hex[:8]}"
    site.exp_id = c.create_experiment(site.exp_name, tags={
        "mlflow.note.content": "Browser-test experiment", "team": "vision"})
    t0 = int(time.time() * 1000) - 3_600_000
    specs = [("gbm-fast", "gbm", 0.1), ("rf-mid", "rf", 0.05), ("gbm-slow", "gbm", 0.01)]
    for i, (name, model, lr) in enumerate(specs):
        run = c.create_run(site.exp_id, run_name=name, start_time=t0 + i * 60_000,
                           tags={"mlflow.user": "alice"})
        rid = run.info.run_id
        metrics = []
        for step in range(STEPS):
            ts = t0 + i * 60_000 + step * 1000
            metrics.append(Metric("loss", round(1.0 / (1 + step * lr * 10) + 0.01 * i, 6), ts, step))
            metrics.append(Metric("accuracy", round(0.5 + 0.015 * step * (i + 1) / 3, 6), ts, step))
            if name == "rf-mid":  # a third metric, for the chart of three
                metrics.append(Metric("lr_now", round(0.05 * 0.9 ** step, 8), ts, step))
        c.log_batch(rid, metrics=metrics,
                    params=[Param("model", model), Param("lr", str(lr)), Param("depth", str(3 + i))],
                    tags=[RunTag("note", XSS_TAG if i == 0 else "plain")])
        c.set_terminated(rid, end_time=t0 + i * 60_000 + STEPS * 1000)
        site.runs[name] = rid
    # The first run also gets artifacts: a file and a directory.
    d = tempfile.mkdtemp(prefix="mlbox-ui-art-")
    with open(os.path.join(d, "summary.txt"), "w") as f:
        f.write("hello from the ui test\n")
    os.makedirs(os.path.join(d, "plots"))
    with open(os.path.join(d, "plots", "roc.csv"), "w") as f:
        f.write("fpr,tpr\n0,0\n1,1\n")
    # Files for the previews: a PNG, JSON, YAML, an MLmodel, and a file whose
    # name and content are HTML.
    with open(os.path.join(d, "plot.png"), "wb") as f:
        f.write(tiny_png(8, 6))
    with open(os.path.join(d, "metrics.json"), "w") as f:
        f.write('{"auc": 0.91, "classes": ["a", "b"]}')
    with open(os.path.join(d, "config.yaml"), "w") as f:
        f.write("model: gbm\nlr: 0.1\n")
    with open(os.path.join(d, XSS_FILE), "w") as f:
        f.write(XSS_TAG)
    os.makedirs(os.path.join(d, "model"))
    with open(os.path.join(d, "model", "MLmodel"), "w") as f:
        f.write(MLMODEL)
    c.log_artifacts(site.runs["gbm-fast"], d)
    shutil.rmtree(d, ignore_errors=True)
    # A run whose name and param value are HTML.
    run = c.create_run(site.exp_id, run_name=XSS_NAME, start_time=t0 + 10 * 60_000)
    c.log_batch(run.info.run_id, metrics=[Metric("loss", 0.7, t0, 0)], params=[Param("model", XSS_PARAM)])
    c.set_terminated(run.info.run_id)
    site.runs["xss"] = run.info.run_id

    # An MLflow 3 logged model from gbm-fast.
    site.logged_model = None
    try:
        lm = c.create_logged_model(site.exp_id, name="ui-logged-model", source_run_id=site.runs["gbm-fast"],
                                   params={"alpha": "0.1"})
        c.finalize_logged_model(lm.model_id, "READY")
        site.logged_model = lm.model_id
    except (AttributeError, MlflowException):
        pass

    # A run the editing test may change.
    site.edit_exp_id = c.create_experiment(f"ui-edit-{uuid.uuid4().hex[:8]}")
    site.edit_run = c.create_run(site.edit_exp_id, run_name="edit-me").info.run_id

    # An experiment with more runs than one page (100) of the runs table.
    site.big_exp_id = c.create_experiment(f"ui-paging-{uuid.uuid4().hex[:8]}")
    for i in range(PAGED_RUNS):
        r = c.create_run(site.big_exp_id, run_name=f"run-{i:03d}", start_time=t0 + i)
        c.log_batch(r.info.run_id, params=[Param("i", str(i))])

    # The registry may not exist yet on this server; the UI must cope either way.
    try:
        site.model = f"ui-model-{uuid.uuid4().hex[:6]}"
        c.create_registered_model(site.model, description="Model for the UI test")
        for name in ("gbm-fast", "rf-mid"):
            rid = site.runs[name]
            v = c.create_model_version(site.model, f"runs:/{rid}/model", run_id=rid)
            if name == "gbm-fast":
                v1 = v
        c.set_registered_model_alias(site.model, "champion", v1.version)
        site.registry = True
    except MlflowException as e:
        site.registry = False
        site.registry_error = e


@pytest.fixture(scope="module")
def site(chromium):
    url = os.environ.get("MLBOX_UI_URL")
    proc = None
    if not url:
        proc = MlboxProcess()
        # mlbox rejects MLBOX_* variables that are not config keys; these
        # belong to this test, not to the server.
        for k in TEST_ENV:
            proc.env.pop(k, None)
        proc.start()
        url = proc.url
    s = Site(url)
    try:
        seed(s)
        yield s
    finally:
        if proc:
            proc.stop()


@pytest.fixture(scope="module")
def browser(chromium, site):
    """The system Chromium, launched once for the module (allowed to reach
    the server's port)."""
    b = Browser(chromium, site.url)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def artifacts(request, tmp_path):
    """Where a test keeps its screenshots: $MLBOX_TEST_UI_ARTIFACTS/<test name>/
    when that is set (e.g. for CI to keep them), else the test's tmp_path
    (pytest keeps those of the last three sessions under its base temp dir,
    /tmp/pytest-of-$USER/)."""
    base = os.environ.get("MLBOX_TEST_UI_ARTIFACTS")
    if not base:
        return tmp_path
    d = os.path.join(base, request.node.name)
    os.makedirs(d, exist_ok=True)
    return pathlib.Path(d)


def render(browser, url):
    """The DOM of url once the app settled, in a fresh page; check it did."""
    html = render_html(browser, url)
    doc = parse_html(html)
    main = doc.find("main", id="main")
    assert main is not None, html[:2000]
    assert main.get("data-state") == "ready", f"page did not settle: {main.attrs}\n{html[-3000:]}"
    return html, doc


def rows(doc, testid="run-row"):
    return doc.find_all(testid=testid)


def run_names(doc):
    return [r.find(testid="run-link").text() for r in rows(doc)]


def metric_cell(row, key):
    return row.find("td", data_metric=key).text().strip()


def test_index_served_with_csp(site):
    with urllib.request.urlopen(site.url + "/", timeout=10) as r:
        body = r.read().decode()
        csp = r.headers.get("Content-Security-Policy", "")
    assert 'src="assets/app.js"' in body
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp


def test_experiments_page(browser, site):
    html, doc = render(browser, site.page("experiments"))
    names = {r.find(testid="experiment-link").text(): r for r in rows(doc, "experiment-row")}
    assert site.exp_name in names, names.keys()
    assert "Default" in names
    link = names[site.exp_name].find(testid="experiment-link")
    assert link.get("href") == f"#/experiments/{site.exp_id}"
    assert "Browser-test experiment" in names[site.exp_name].text()
    assert doc.find("a", data_nav="experiments").get("class") == "active"


def test_experiment_search(browser, site):
    html, doc = render(browser, site.page("experiments?q=" + urllib.parse.quote(site.exp_name[3:])))
    names = [r.find(testid="experiment-link").text() for r in rows(doc, "experiment-row")]
    assert names == [site.exp_name]
    html, doc = render(browser, site.page("experiments?q=no-such-experiment"))
    assert not rows(doc, "experiment-row")
    assert doc.find(testid="experiments-empty") is not None


def test_runs_table(browser, site):
    html, doc = render(browser, site.page(f"experiments/{site.exp_id}"))
    assert doc.find(testid="experiment-name").text().strip() == site.exp_name
    # Default order: newest start time first.
    assert run_names(doc) == [XSS_NAME, "gbm-slow", "rf-mid", "gbm-fast"]
    heads = [b.text().replace("▼", "").replace("▲", "").strip()
             for b in doc.find(testid="runs-table").find_all("button")]
    assert heads[:3] == ["Run name", "Status", "Start time"]
    for col in ("depth", "lr", "model", "accuracy", "loss"):
        assert col in heads
    by_name = {r.find(testid="run-link").text(): r for r in rows(doc)}
    fast = by_name["gbm-fast"]
    assert fast.find(testid="run-link").get("href") == f"#/runs/{site.runs['gbm-fast']}"
    assert fast.find(testid="status").text() == "Finished"
    assert "alice" in fast.text()
    assert fast.find("td", data_param="model").text() == "gbm"
    assert fast.find("td", data_param="lr").text() == "0.1"
    # Latest (last step) metric values.
    assert metric_cell(fast, "loss") == str(round(1.0 / (1 + 29 * 0.1 * 10), 6))
    assert metric_cell(fast, "accuracy") == str(round(0.5 + 0.015 * 29 / 3, 6))
    assert "30.0s" in fast.text()  # duration
    assert doc.find(testid="runs-count").text().startswith("4 runs")


def test_runs_sorted_by_column(browser, site):
    order = urllib.parse.quote("metrics.`loss` ASC")
    html, doc = render(browser, site.page(f"experiments/{site.exp_id}?order={order}"))
    losses = [float(metric_cell(r, "loss")) for r in rows(doc)]
    assert losses == sorted(losses) and len(losses) == 4
    btn = doc.find(testid="col-metric-loss")
    assert btn.parent.get("aria-sort") == "ascending"
    order = urllib.parse.quote("attributes.run_name DESC")
    html, doc = render(browser, site.page(f"experiments/{site.exp_id}?order={order}"))
    names = run_names(doc)
    assert names == sorted(names, reverse=True)


def test_runs_filter_passthrough(browser, site):
    f = urllib.parse.quote("params.model = 'rf'")
    html, doc = render(browser, site.page(f"experiments/{site.exp_id}?filter={f}"))
    assert run_names(doc) == ["rf-mid"]

    bad = "metrics.loss > 'abc' and"
    status, err = site.api("runs/search", {"experiment_ids": [site.exp_id], "filter": bad})
    assert status == 400, (status, err)
    html, doc = render(browser, site.page(f"experiments/{site.exp_id}?filter={urllib.parse.quote(bad)}"))
    box = doc.find(testid="runs-error")
    assert box is not None, html
    assert box.find(testid="runs-error-message").text() == err["message"]
    assert box.find(testid="runs-error-code").text() == err["error_code"]
    assert not rows(doc)


def test_run_page(browser, site):
    rid = site.runs["gbm-fast"]
    html, doc = render(browser, site.page(f"runs/{rid}"))
    assert doc.find(testid="run-name").text() == "gbm-fast"
    assert doc.find(testid="run-id").text() == rid
    assert doc.find(testid="run-experiment-link").text() == site.exp_name
    metrics = {r.get("data-key"): r.find(testid="metric-value").text() for r in rows(doc, "metric-row")}
    assert metrics == {"accuracy": str(round(0.5 + 0.015 * 29 / 3, 6)),
                       "loss": str(round(1.0 / (1 + 29 * 0.1 * 10), 6))}
    params = {r.get("data-key"): r.find("td").text() for r in doc.find(testid="run-params").find_all("tr")
              if r.get("data-key")}
    assert params == {"model": "gbm", "lr": "0.1", "depth": "3"}
    # The chart: the first metric (accuracy), from get-history-bulk-interval.
    assert doc.find("tr", data_key="accuracy").get("class") == "selected"
    chart = doc.find(testid="run-chart")
    assert chart.get("data-series") == "1"
    legend = chart.find(testid="chart-legend-row")
    assert legend.get("data-series") == "accuracy"
    assert legend.find(testid="legend-last").text() == str(round(0.5 + 0.015 * 29 / 3, 6))
    assert legend.find(testid="legend-min").text() == "0.5"
    assert chart.find("canvas") is not None
    # Artifacts through the proxy: a directory and a file with its download link.
    art = doc.find(testid="artifacts")
    assert art is not None
    if art.find(testid="artifacts-unavailable") is None:
        assert [b.text().strip("▸ ") for b in art.find_all(testid="artifact-dir")] == ["model/", "plots/"]
        f = [li.find("a") for li in art.find_all(testid="artifact-file") if li.find("a").text() == "summary.txt"][0]
        href = f.get("href")
        assert href.endswith(f"/api/2.0/mlflow-artifacts/artifacts/{site.exp_id}/{rid}/artifacts/summary.txt")
        with urllib.request.urlopen(href, timeout=10) as r:
            assert r.read() == b"hello from the ui test\n"


def test_run_page_chart_for_selected_metric(browser, site):
    rid = site.runs["rf-mid"]
    html, doc = render(browser, site.page(f"runs/{rid}?metrics=loss,lr_now&x=time"))
    assert doc.find("tr", data_key="loss").get("class") == "selected"
    assert doc.find("tr", data_key="lr_now").get("class") == "selected"
    assert doc.find("tr", data_key="accuracy").get("class") != "selected"
    rows_ = doc.find(testid="run-chart").find_all(testid="chart-legend-row")
    assert [r.get("data-series") for r in rows_] == ["loss", "lr_now"]


def test_user_data_is_escaped(browser, site):
    # Run page with a <script> tag value.
    html, doc = render(browser, site.page(f"runs/{site.runs['gbm-fast']}"))
    note = doc.find(testid="run-tags").find("tr", data_key="note").find("td")
    assert note.text() == XSS_TAG
    assert "&lt;script&gt;window.__xss=1" in html
    assert "<script>window.__xss" not in html
    assert doc.find("title").text() == "gbm-fast · mlbox"
    # Runs table with an <img onerror> run name and a <b> param value.
    html, doc = render(browser, site.page(f"experiments/{site.exp_id}"))
    assert XSS_NAME in run_names(doc)
    assert not [i for i in doc.find_all("img") if i.get("src") == "x"]
    assert not doc.find_all("b")
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "XSS" not in doc.find("title").text()
    # The XSS run's own page: its name is the page title, as text.
    html, doc = render(browser, site.page(f"runs/{site.runs['xss']}"))
    assert doc.find(testid="run-name").text() == XSS_NAME
    assert doc.find("title").text() == XSS_NAME + " · mlbox"
    assert not [i for i in doc.find_all("img") if i.get("src") == "x"]


def test_models_pages(browser, site):
    html, doc = render(browser, site.page("models"))
    if not site.registry:
        assert doc.find(testid="registry-unavailable") is not None, html
        html, doc = render(browser, site.page("models/anything"))
        assert doc.find(testid="registry-unavailable") is not None, html
        return
    row = doc.find(testid="model-row", data_model=site.model)
    assert row is not None, html
    assert "@champion → v1" in row.text()
    html, doc = render(browser, site.page("models/" + urllib.parse.quote(site.model)))
    versions = {r.get("data-version"): r for r in rows(doc, "version-row")}
    assert set(versions) == {"1", "2"}
    assert "@champion" in versions["1"].text()
    assert versions["1"].find("a").get("href") == f"#/runs/{site.runs['gbm-fast']}"


def test_deep_link_without_fragment(browser, site):
    # /experiments/<id> is answered with index.html (SPA fallback); the app
    # loads its assets relative to the UI root and switches to #/experiments/<id>.
    html, doc = render(browser, f"{site.url}/experiments/{site.exp_id}")
    assert doc.find(testid="experiment-name").text().strip() == site.exp_name
    assert len(rows(doc)) == 4


def test_mlflow_style_run_url(browser, site):
    # The MLflow client prints "View run at <url>/#/experiments/<exp>/runs/<run>".
    rid = site.runs["rf-mid"]
    html, doc = render(browser, site.page(f"experiments/{site.exp_id}/runs/{rid}"))
    assert doc.find(testid="run-name").text() == "rf-mid"


def test_unknown_route(browser, site):
    html, doc = render(browser, site.page("no/such/page"))
    assert doc.find(testid="not-found") is not None


def exact(text):
    """A has_text pattern matching exactly text."""
    return re.compile("^" + re.escape(text) + "$")


def test_screenshot(browser, site, artifacts):
    path = artifacts / "run.png"
    p = browser.page(size=(1280, 1000))
    try:
        p.goto(site.page(f"runs/{site.runs['gbm-fast']}"))
        p.wait_for("document.querySelector('[data-testid=run-chart] .chart-canvas')?.__uplot")
        p.screenshot(path)
    finally:
        p.close()
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1000)
    assert len(data) > 20_000, "screenshot is suspiciously small (blank page?)"


def test_runs_virtual_scrolling(ui, site):
    """More runs than fit: only the rows in view are in the DOM, scrolling
    fetches the page at that offset, and a new sort starts at the top."""
    ui.goto(site.page(f"experiments/{site.big_exp_id}"))
    ui.wait_for("document.querySelector('[data-testid=runs-count]').textContent === '105 runs'")
    count = "document.querySelectorAll('[data-testid=run-row]').length"
    ui.wait_for(count + " > 0")
    shown = ui.eval(count)
    assert 0 < shown < PAGED_RUNS, shown
    names = "[...document.querySelectorAll('[data-testid=run-link]')].map(a => a.textContent)"
    assert ui.eval(names)[:3] == ["run-104", "run-103", "run-102"]
    # The table is as tall as all its rows: End in the focused table scrolls
    # to the last run.
    ui.loc("runs-results").press("End")
    ui.wait_for(names + ".includes('run-000')")
    ui.wait_ready()
    assert ui.eval(count) < PAGED_RUNS
    assert "run-104" not in ui.eval(names)
    # Sorting starts again from the top.
    ui.act(lambda: ui.loc("col-run_name").click())
    ui.wait_for("document.querySelector('[data-testid=run-link]')?.textContent === 'run-000'")
    assert ui.eval("document.querySelector('[data-testid=runs-results]').scrollTop") == 0


def test_interactions(ui, site):
    """Click, type and use the keyboard through the UI, as a user would."""
    page = ui.page
    # Report every CSP violation; injected through the DevTools protocol, so
    # not subject to the CSP.
    page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
    ui.goto(site.page("experiments"))
    # Type into the search box (debounced input event).
    ui.loc("experiment-search").fill(site.exp_name)
    ui.wait_for("document.querySelectorAll('[data-testid=experiment-row]').length === 1")
    ui.wait_ready()
    assert ui.eval("location.hash").startswith("#/experiments?q=")
    act = ui.act
    act(lambda: ui.loc("experiment-link").click())
    assert ui.eval("location.hash") == f"#/experiments/{site.exp_id}"
    assert ui.eval("document.querySelectorAll('[data-testid=run-row]').length") == 4

    # Click the loss header twice: DESC, then ASC.
    names = "[...document.querySelectorAll('[data-testid=run-link]')].map(a => a.textContent)"
    act(lambda: ui.loc("col-metric-loss").click())
    assert "order=metrics.%60loss%60+DESC" in ui.eval("location.hash")
    assert ui.eval(names)[:2] == [XSS_NAME, "gbm-slow"]
    # The second time from the keyboard: the header is a focused button.
    ui.loc("col-metric-loss").focus()
    act(lambda: page.keyboard.press("Enter"))
    assert ui.eval(names)[0] == "gbm-fast"
    assert ui.eval("document.querySelector('[data-testid=col-metric-loss]')"
                   ".closest('th').getAttribute('aria-sort')") == "ascending"

    # An invalid filter shows the server's message; a valid one filters.
    def search(f):
        box = ui.loc("runs-filter")
        box.fill(f)
        box.press("Enter")
    bad = "params.model === 'x'"
    act(lambda: search(bad))
    msg = ui.eval("document.querySelector('[data-testid=runs-error-message]')?.textContent")
    status, err = site.api("runs/search", {"experiment_ids": [site.exp_id], "filter": bad})
    assert status == 400 and msg == err["message"], (msg, err)
    assert ui.eval("document.querySelectorAll('[data-testid=run-row]').length") == 0
    act(lambda: search("metrics.loss < 0.1"))
    assert ui.eval("document.querySelector('[data-testid=runs-error]')") is None
    assert sorted(ui.eval(names)) == ["gbm-fast", "rf-mid"]

    # Open a run, switch the chart to loss and to the time axis.
    act(lambda: ui.loc("run-link").filter(has_text=exact("gbm-fast")).click())
    assert ui.eval("location.hash") == f"#/runs/{site.runs['gbm-fast']}"
    legend = "[...document.querySelectorAll('[data-testid=chart-legend-row]')].map(r => r.dataset.series)"
    ui.wait_for(legend + ".length === 1")
    assert ui.eval(legend) == ["accuracy"]
    act(lambda: page.locator("tr[data-key=loss] [data-testid=metric-select]").check())
    ui.wait_for(legend + ".length === 2")
    assert ui.eval(legend) == ["loss", "accuracy"] or ui.eval(legend) == ["accuracy", "loss"]
    assert "metrics=accuracy%2Closs" in ui.eval("location.hash")
    ui.loc("chart-x").select_option("time")
    ui.wait_for("location.hash.includes('x=time')")
    chart = "document.querySelector('[data-testid=run-chart] .chart-canvas').__uplot"
    ui.wait_for(chart + ".data[0].length === " + str(STEPS))
    assert ui.eval(chart + ".scales.x.time") is True

    # Expand an artifact directory.
    if ui.eval("!!document.querySelector('[data-testid=artifact-dir]')"):
        ui.loc("artifact-dir").filter(has_text="plots/").click()
        ui.wait_for("[...document.querySelectorAll('[data-testid=artifact-file] a')]"
                    ".some(a => a.textContent === 'roc.csv')")

    # Back to the runs page via history: the sort and filter come back from the URL.
    act(lambda: page.go_back())
    assert ui.eval("location.hash").startswith(f"#/experiments/{site.exp_id}?")
    assert sorted(ui.eval(names)) == ["gbm-fast", "rf-mid"]
    assert ui.loc("runs-filter").input_value() == "metrics.loss < 0.1"

    # Nothing executed, nothing blocked, nothing thrown.
    assert ui.eval("window.__xss") is None
    assert "XSS" not in ui.eval("document.title")
    assert ui.eval("window.__csp") == []
    errors = [e for e in ui.errors() if "favicon" not in e]
    assert errors == [] or all("400" in e for e in errors), errors


def test_column_choice_survives_reload(ui, site):
    """The column chooser: a param hidden and a tag shown stay so after a reload."""
    ui.goto(site.page(f"experiments/{site.exp_id}"))
    has = "!!document.querySelector('[data-testid={}]')"
    assert ui.eval(has.format("col-param-lr")) and not ui.eval(has.format("col-tag-note"))
    ui.loc("columns-button").click()
    ui.wait_for(has.format("columns-panel"))
    tags = ui.eval("[...document.querySelectorAll('[data-testid=columns-tags] [data-col]')].map(i => i.dataset.col)")
    assert "tags:note" in tags, tags
    ui.page.locator('[data-col="params:lr"]').uncheck()
    ui.page.locator('[data-col="tags:note"]').check()
    ui.wait_for("!document.querySelector('[data-testid=col-param-lr]')")
    ui.wait_for(has.format("col-tag-note"))
    ui.page.reload()
    ui.wait_ready()
    ui.wait_for("document.querySelectorAll('[data-testid=run-row]').length === 4")
    assert not ui.eval(has.format("col-param-lr"))
    assert ui.eval(has.format("col-tag-note"))
    assert ui.eval(has.format("col-param-model"))
    # The tag's HTML payload is text in its cell.
    cells = ui.eval("[...document.querySelectorAll('td[data-tag=note]')].map(td => td.textContent)")
    assert XSS_TAG in cells, cells
    assert ui.eval("document.querySelectorAll('td[data-tag=note] *').length") == 0


def test_bulk_tag_delete_restore(ui, site):
    """Select runs, tag them (the MLflow client reads the tag back), delete
    them and restore them."""
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=site.url)
    count = "document.querySelector('[data-testid=runs-count]').textContent"
    ui.goto(site.page(f"experiments/{site.big_exp_id}"))
    ui.wait_for(f"{count} === '{PAGED_RUNS} runs'")
    selected = "[...document.querySelectorAll('tr.selected')].map(tr => tr.dataset.runId)"

    def select_two():
        boxes = ui.loc("run-select")
        boxes.nth(0).check()
        boxes.nth(1).check()
        ui.wait_for("document.querySelector('[data-testid=bulk-count]')?.textContent === '2 selected'")
        return ui.eval(selected)
    ids = select_two()
    assert len(ids) == 2

    def tag():
        ui.loc("bulk-tag-key").fill("reviewed")
        ui.loc("bulk-tag-value").fill("yes <b>really</b>")
        ui.loc("bulk-tag-apply").click()
    ui.act(tag)
    ui.wait_for("!document.querySelector('[data-testid=bulk-actions]')")
    for rid in ids:
        assert c.get_run(rid).data.tags.get("reviewed") == "yes <b>really</b>"

    assert select_two() == ids
    ui.act(lambda: ui.loc("bulk-delete").click())
    ui.wait_for(f"{count} === '{PAGED_RUNS - 2} runs'")
    for rid in ids:
        assert c.get_run(rid).info.lifecycle_stage == "deleted"

    ui.act(lambda: ui.loc("runs-view-type").select_option("DELETED_ONLY"))
    ui.wait_for(f"{count} === '2 runs'")
    assert "view=DELETED_ONLY" in ui.eval("location.hash")
    ui.loc("select-all").check()
    ui.wait_for("document.querySelector('[data-testid=bulk-count]')?.textContent === '2 selected'")
    ui.act(lambda: ui.loc("bulk-restore").click())
    ui.wait_for(f"{count} === '0 runs'")
    for rid in ids:
        assert c.get_run(rid).info.lifecycle_stage == "active"


def test_compare_five_runs(ui, site):
    """Compare: side-by-side table with differences, overlaid chart, parallel
    coordinates and scatter, for 5 runs from two experiments."""
    ids = [site.runs["gbm-fast"], site.runs["rf-mid"], site.runs["gbm-slow"], site.runs["xss"]]
    status, resp = site.api("runs/search", {"experiment_ids": [site.big_exp_id], "max_results": 1})
    ids.append(resp["runs"][0]["info"]["run_id"])
    ui.goto(site.page("compare?runs=" + ",".join(ids) + "&metrics=loss"))
    assert ui.eval("document.querySelector('[data-testid=compare-title]').textContent") == "Compare 5 runs"
    links = ui.eval("[...document.querySelectorAll('[data-testid=compare-run-link]')].map(a => a.textContent)")
    assert links == ["gbm-fast", "rf-mid", "gbm-slow", XSS_NAME, resp["runs"][0]["info"]["run_name"]]
    assert ui.eval("document.querySelectorAll('[data-testid=compare-run-link] *').length") == 0
    differs = "document.querySelector('[data-testid=compare-param][data-key=\"{}\"]')?.dataset.differs"
    assert ui.eval(differs.format("model")) == "true"
    # Only the rows that differ.
    ui.loc("compare-diff-only").check()
    ui.wait_for("[...document.querySelectorAll('tbody tr[data-differs]')].every(tr => tr.dataset.differs === 'true')")
    # The chart overlays loss of the four runs that have it.
    ui.wait_for("document.querySelectorAll('[data-testid=chart-legend-row]').length === 4")
    assert ui.eval("document.querySelectorAll('[data-testid=pcoords-line]').length") == 5
    assert ui.eval("document.querySelectorAll('[data-testid=scatter-point]').length") >= 3
    assert "diff=1" in ui.eval("location.hash")


def test_chart_three_metrics_smoothing(ui, site):
    """One chart of three metrics of a run; smoothing changes the drawn
    values but not the legend's raw min/max/last; log scale and the time
    axes redraw."""
    rid = site.runs["rf-mid"]
    ui.goto(site.page(f"compare?runs={rid}&metrics=loss,accuracy,lr_now"))
    ui.wait_for("document.querySelectorAll('[data-testid=chart-legend-row]').length === 3")
    series = ui.eval("[...document.querySelectorAll('[data-testid=chart-legend-row]')].map(r => r.dataset.series)")
    assert series == ["loss", "accuracy", "lr_now"]
    chart = "document.querySelector('[data-testid=compare-chart] .chart-canvas').__uplot"
    # The legend can be there a moment before the chart is drawn.
    ui.wait_for(f"{chart}.data[1].length === {STEPS}")
    raw = ui.eval(chart + ".data[1]")
    assert len(raw) == STEPS
    last = ui.eval("document.querySelector('[data-series=loss] [data-testid=legend-last]').textContent")
    ui.loc("chart-smoothing").fill("0.9")  # a range input: set, with input and change events
    ui.wait_for(chart + ".data[1][5] !== " + json.dumps(raw[5]))
    smoothed = ui.eval(chart + ".data[1]")
    assert smoothed[0] == raw[0] and smoothed[-1] != raw[-1]
    assert ui.eval("document.querySelector('[data-series=loss] [data-testid=legend-last]').textContent") == last
    assert "smooth=0.9" in ui.eval("location.hash")
    ui.loc("chart-log").check()
    ui.wait_for(chart + ".scales.y.distr === 3")
    ui.loc("chart-x").select_option("relative")
    ui.wait_for(chart + ".data[0][0] === 0")
    assert ui.eval(chart + ".data[0].length") == STEPS


def test_run_edits_read_back_by_client(ui, site):
    """Rename, describe (Markdown, safely) and tag a run in the browser; the
    MLflow client reads every change back."""
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=site.url)
    rid = site.edit_run
    page = ui.page
    ui.goto(site.page(f"runs/{rid}"))
    # Each edit form fills in and focuses its field in an effect after it is
    # shown: type once it has the focus, as a user would.
    ui.loc("run-rename").click()
    name = ui.loc("run-name-input")
    expect(name).to_be_focused(timeout=30_000)
    name.fill("edited <i>name</i>")
    ui.act(lambda: name.press("Enter"))
    ui.wait_for("document.querySelector('[data-testid=run-name]')?.textContent === 'edited <i>name</i>'")
    assert c.get_run(rid).info.run_name == "edited <i>name</i>"

    md = "# Findings\n\n**best** so far <script>window.__xss=3</script>\n\n- one\n- two\n\n[bad](javascript:alert(1)) [ok](https://example.org/x)"
    ui.loc("run-description-edit").click()
    expect(ui.loc("run-description-input")).to_be_focused(timeout=30_000)
    ui.loc("run-description-input").fill(md)
    ui.act(lambda: ui.loc("run-description-save").click())
    desc = "document.querySelector('[data-testid=run-description]')"
    ui.wait_for(f"!!{desc}")
    assert ui.eval(f"{desc}.querySelector('h3').textContent") == "Findings"
    assert ui.eval(f"{desc}.querySelector('strong').textContent") == "best"
    assert ui.eval(f"{desc}.querySelectorAll('li').length") == 2
    assert "<script>window.__xss=3</script>" in ui.eval(f"{desc}.textContent")
    assert ui.eval(f"{desc}.querySelectorAll('script').length") == 0
    assert ui.eval(f"[...{desc}.querySelectorAll('a')].map(a => a.getAttribute('href'))") == ["https://example.org/x"]
    assert c.get_run(rid).data.tags["mlflow.note.content"] == md

    # A tag from the keyboard: key, Tab to the value, Enter submits.
    ui.loc("tag-key-input").click()
    page.keyboard.type("stage")
    page.keyboard.press("Tab")
    page.keyboard.type("prod")
    assert ui.loc("tag-value-input").input_value() == "prod"
    ui.act(lambda: page.keyboard.press("Enter"))
    ui.wait_for("!!document.querySelector('[data-testid=run-tags] tr[data-key=stage]')")
    assert c.get_run(rid).data.tags.get("stage") == "prod"
    ui.act(lambda: page.locator("[data-testid=run-tags] tr[data-key=stage] [data-testid=tag-delete]").click())
    ui.wait_for("!document.querySelector('[data-testid=run-tags] tr[data-key=stage]')")
    assert "stage" not in c.get_run(rid).data.tags
    assert ui.eval("window.__xss") is None


def test_artifact_previews(ui, site, artifacts):
    """Previews: an image, text, JSON, YAML, CSV as a table, MLmodel; a file
    whose name and content are HTML shows both as text."""
    def open_file(name):
        ui.loc("artifact-file").locator("a").filter(has_text=exact(name)).click()

    kind = "document.querySelector('[data-testid=artifact-preview]')?.dataset.kind"
    ui.goto(site.page(f"runs/{site.runs['gbm-fast']}"))
    if ui.eval("!!document.querySelector('[data-testid=artifacts-unavailable]')"):
        pytest.skip("artifact proxy not available")
    open_file("plot.png")
    ui.wait_for(kind + " === 'image'")
    ui.wait_for("document.querySelector('[data-testid=preview-image]').naturalWidth === 8")
    open_file("summary.txt")
    ui.wait_for("document.querySelector('[data-testid=preview-text]')?.textContent === 'hello from the ui test\\n'")
    open_file("metrics.json")
    ui.wait_for("document.querySelector('[data-testid=preview-json]')?.textContent.includes('\"auc\": 0.91')")
    open_file("config.yaml")
    ui.wait_for(kind + " === 'yaml'")
    # The kind shows before the content has arrived: wait for the content.
    ui.wait_for("document.querySelector('[data-testid=preview-text]')?.textContent === 'model: gbm\\nlr: 0.1\\n'")
    open_file(XSS_FILE)
    ui.wait_for("document.querySelector('[data-testid=preview-name]')?.textContent === " + json.dumps(XSS_FILE))
    ui.wait_for("document.querySelector('[data-testid=preview-text]')?.textContent === " + json.dumps(XSS_TAG))
    # Directories: the CSV as a table, the MLmodel's flavors and signature.
    ui.loc("artifact-dir").filter(has_text="plots/").click()
    ui.wait_for("[...document.querySelectorAll('[data-testid=artifact-file] a')].some(a => a.textContent === 'roc.csv')")
    open_file("roc.csv")
    ui.wait_for("[...document.querySelectorAll('[data-testid=preview-csv] th')].map(t => t.textContent).join() === 'fpr,tpr'")
    assert ui.eval("document.querySelectorAll('[data-testid=preview-csv] tbody tr').length") == 2
    ui.loc("artifact-dir").filter(has_text="model/").click()
    ui.wait_for("[...document.querySelectorAll('[data-testid=artifact-file] a')].some(a => a.textContent === 'MLmodel')")
    open_file("MLmodel")
    ui.wait_for("[...document.querySelectorAll('[data-testid=preview-mlmodel] [data-testid=mlmodel-flavor]')]"
                ".map(s => s.textContent).join() === 'python_function,sklearn'")
    assert ui.eval("[...document.querySelectorAll('[data-testid=mlmodel-inputs] tbody td:first-child')].map(s => s.textContent)") == ["sepal length", "petal width"]
    ui.screenshot(artifacts / "artifact-preview.png")
    assert ui.eval("window.__xss") is None


def test_logged_model_page(browser, site):
    if not site.logged_model:
        pytest.skip("this MLflow client has no logged-model API")
    html, doc = render(browser, site.page(f"runs/{site.runs['gbm-fast']}"))
    link = doc.find(testid="logged-model-link")
    assert link is not None and link.text() == "ui-logged-model"
    assert link.get("href") == f"#/logged-models/{site.logged_model}"
    html, doc = render(browser, site.page(f"logged-models/{site.logged_model}"))
    assert doc.find(testid="logged-model-name").text() == "ui-logged-model"
    assert doc.find(testid="logged-model-params").find("tr", data_key="alpha").find("td").text() == "0.1"
    assert doc.find(testid="logged-model-run").get("href") == f"#/runs/{site.runs['gbm-fast']}"
    # MLflow's own URL for it.
    html, doc = render(browser, site.page(f"experiments/{site.exp_id}/models/{site.logged_model}"))
    assert doc.find(testid="logged-model-name").text() == "ui-logged-model"


def test_experiments_create_rename_delete_restore(ui, site):
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=site.url)
    name = f"ui-new-{uuid.uuid4().hex[:8]}"
    page = ui.page

    def create(n):
        box = ui.loc("experiment-new-name")
        box.fill(n)
        box.press("Enter")

    def row(n):
        return ui.loc("experiment-row").filter(has=ui.loc("experiment-link").filter(has_text=exact(n)))

    ui.goto(site.page("experiments"))
    ui.act(lambda: create(name))
    row(name).wait_for()
    exp = c.get_experiment_by_name(name)
    assert exp is not None
    row(name).locator("[data-testid=experiment-rename]").click()
    # The form fills in and focuses its field in an effect: type after that.
    expect(ui.loc("experiment-rename-input")).to_be_focused(timeout=30_000)
    ui.loc("experiment-rename-input").fill(name + "-renamed")
    ui.act(lambda: ui.loc("experiment-rename-save").click())
    assert c.get_experiment(exp.experiment_id).name == name + "-renamed"
    renamed = row(name + "-renamed")
    renamed.wait_for()
    # Delete asks for confirmation: accept it.
    page.once("dialog", lambda d: d.accept())
    ui.act(lambda: renamed.locator("[data-testid=experiment-delete]").click())
    renamed.wait_for(state="detached")
    assert c.get_experiment(exp.experiment_id).lifecycle_stage == "deleted"
    ui.act(lambda: ui.loc("experiments-show-deleted").check())
    renamed.wait_for()
    ui.act(lambda: renamed.locator("[data-testid=experiment-restore]").click())
    renamed.locator("[data-testid=experiment-rename]").wait_for()
    assert c.get_experiment(exp.experiment_id).lifecycle_stage == "active"
    # A duplicate name: the server's message next to the form.
    ui.act(lambda: create(name + "-renamed"))
    msg = ui.loc("experiment-action-error-message")
    msg.wait_for()
    assert "already exists" in msg.text_content()
