"""The web UI benchmark (bench/ui/ui_bench.py) against MLflow's own server
and UI, on the same data.

    .venv/bin/python bench/ui/mlflow_ui_bench.py [--runs 100000] [--reps 5]
        [--data /tmp/mlflow-ui-bench-data] [--out results.json] [--cap 120]

Starts `mlflow server` from the test venv (the MLflow there, and the UI
built into it, mlflow/server/js/build) on 127.0.0.1 with a sqlite backend
store in --data (a temp dir without it) and MLflow's default workers (4
uvicorn processes; --workers N to change). The data is ui_bench.py's: one
experiment "ui-bench" of --runs runs named trial-NNNNNN with 20 params and
50 metrics each (the same values, from the same generator), plus a run
"long-history" with a 100,000-step metric "long". Logging that over the
REST API would take hours, so MLflow's own code (its SqlAlchemyStore, the
migrations `mlflow server` runs) creates the schema and the experiment
(tagged as a model-training experiment, as MLflow's UI does when asked),
and the runs go straight into its tables (runs, tags, params, metrics,
latest_metrics) with sqlite3.executemany in one transaction. The real
MLflow client then reads some back through the server: params, latest
metrics, the 100k-step history, the order by a metric (among ten runs) and
the newest-first page.

Headless Chromium (driven by tests/ui/browser.py, as ui_bench.py does) then measures what maps onto
ui_bench.py's tasks in MLflow 3's UI ("Model training" side), timed in the
page with performance.now(), medians of --reps:

  first render      navigation to #/experiments/<id> → rows 0 and 20 of the
                    runs grid show run names (the newest run first; MLflow's
                    default columns)
  scroll to 50,000  MLflow's runs grid holds 100 runs and a "Load more" row
                    that fetches the next 100; nothing scrolls to run 50,000.
                    Measured: from the loaded grid, scroll to the bottom and
                    click Load more, each time until the 100 new rows are
                    filled, until row 50,000 is filled or --cap s ran out;
                    reported as the time, or as "> cap" with the runs loaded
                    by then, the time a click took and (labelled as such) a
                    linear extrapolation to row 50,000
  sort by a metric  header click on a metric column (shown: m00, m02, ...,
                    as a user picks columns) → row 0 is the run first in that
                    order (MLflow's first click sorts descending), row 15 filled
  100k-step chart   navigation to the long run's "Model metrics" tab → its
                    chart of "long" (plotly) holds its points (MLflow draws a
                    server-side sample); also its metric page (#/metric):
                    its chart, and its table's minimum over the whole history
                    (read 25,000 points a request)
  compare 10 runs   navigation to #/compare-runs?runs=[...] → its table's
                    run-name row holds the 10 runs and its parallel
                    coordinates plot has its axes

and runs/search (POST /api/2.0/mlflow/runs/search, 100 full runs a page)
from Python, p50/p99 of the time to the last byte (MLflow sends no
Server-Timing): as ui_bench, pages at random offsets of a search ordered by
a metric and first pages in new metric orders; and pages in the UI's own
order (newest first). A measurement that takes longer than --cap s is
reported as "> cap" with the reason, and the server restarted (its worker
would go on with the request). On sqlite, MLflow's order by a metric is
quadratic in the runs (its SQL outer-joins a subquery of latest_metrics,
which sqlite scans once per run), so at 100,000 runs that and the UI's sort
are over the cap.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "ui"))
sys.path.insert(0, os.path.join(REPO, "tests", "compat"))
import ui_bench  # noqa: E402  (the data's shape: N_PARAMS, N_METRICS, LONG_STEPS)
from browser import CDP, find_chromium  # noqa: E402

N_PARAMS, N_METRICS, LONG_STEPS = ui_bench.N_PARAMS, ui_bench.N_METRICS, ui_bench.LONG_STEPS
EXP_NAME = "ui-bench"
PARTS = ("search", "first", "scroll", "sort", "chart", "compare")
VENV = os.path.join(REPO, ".venv")


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the data ----------------------------------------------------------------------------

def run_values(i):
    """Run i's params and metrics: ui_bench.seed's generator (random.Random(i):
    20 params p00..p19 = str(randint(0, 20)), then 50 metrics m00..m49 =
    random()), kept in step with it by hand."""
    rng = random.Random(i)
    params = [(f"p{j:02d}", str(rng.randint(0, 20))) for j in range(N_PARAMS)]
    metrics = [(f"m{j:02d}", rng.random()) for j in range(N_METRICS)]
    return params, metrics


def long_value(s):
    return 1.0 / (1 + s / 1000) + 0.01 * ((s * 7919) % 13)


def seed(db_path, artifact_root, n_runs):
    """Create MLflow's schema and the experiment with MLflow's own store, then
    bulk-insert the runs. Returns (experiment id, run ids in i order, the
    long-history run's id)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    uri = "sqlite:///" + db_path
    store = SqlAlchemyStore(uri, artifact_root)  # runs MLflow's migrations
    exp = store.create_experiment(EXP_NAME, artifact_location=os.path.join(artifact_root, "ui-bench"))
    # What MLflow's UI records when the user says the experiment is for model
    # training (not GenAI): its page then opens on the runs table.
    from mlflow.entities import ExperimentTag
    store.set_experiment_tag(exp, ExperimentTag("mlflow.experimentKind", "custom_model_development"))
    store.engine.dispose()
    del store

    # As ui_bench.seed: start times one second apart, ending now; the runs
    # as runs/create leaves them (RUNNING, no end time, the mlflow.runName tag).
    t0 = int(time.time() * 1000) - n_runs * 1000
    exp_art = os.path.join(artifact_root, "ui-bench")
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")
    ids = [uuid.uuid4().hex for _ in range(n_runs)]
    long_rid = uuid.uuid4().hex

    def run_row(rid, name, start):
        return (rid, name, "UNKNOWN", "", "", "bench", "RUNNING", start, None, "", "active",
                f"{exp_art}/{rid}/artifacts", int(exp), None)

    with db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
            " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [run_row(rid, f"trial-{i:06d}", t0 + i * 1000) for i, rid in enumerate(ids)]
            + [run_row(long_rid, "long-history", t0)])
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', ?, ?)",
                       [(f"trial-{i:06d}", rid) for i, rid in enumerate(ids)] + [("long-history", long_rid)])
        CH = 5000
        for c in range(0, n_runs, CH):
            prow, mrow, lrow = [], [], []
            for i in range(c, min(c + CH, n_runs)):
                rid, ts = ids[i], t0 + i * 1000
                params, metrics = run_values(i)
                prow += [(k, v, rid) for k, v in params]
                mrow += [(k, v, ts, rid, 0, 0) for k, v in metrics]
                lrow += [(k, v, ts, 0, 0, rid) for k, v in metrics]
            db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", prow)
            db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)", mrow)
            db.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)", lrow)
        db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,0)",
                       [("long", long_value(s), t0 + s, long_rid, s) for s in range(LONG_STEPS)])
        s = LONG_STEPS - 1
        db.execute("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,0,?)",
                   ("long", long_value(s), t0 + s, s, long_rid))
    db.close()
    return str(exp), ids, long_rid


def verify(url, exp, ids, long_rid, n_runs):
    """Read a few seeded runs back with the real MLflow client, through the
    server: params, latest metrics, the 100k-step history, the order by a
    metric (among ten runs: on sqlite MLflow's order by a metric over all
    100,000 runs takes longer than this benchmark can wait, see
    search_latency), and the UI's default order."""
    import mlflow
    from mlflow import MlflowClient
    c = MlflowClient(tracking_uri=url)
    for i in sorted({0, 1, n_runs // 2, n_runs - 1}):
        r = c.get_run(ids[i])
        params, metrics = run_values(i)
        assert r.info.run_name == f"trial-{i:06d}", r.info.run_name
        assert r.data.params == dict(params), (i, r.data.params)
        assert r.data.metrics == dict(metrics), (i, r.data.metrics)
    hist = c.get_metric_history(long_rid, "long")
    assert len(hist) == LONG_STEPS and hist[-1].step == LONG_STEPS - 1, len(hist)
    assert [m.value for m in hist[:3]] == [long_value(s) for s in range(3)]
    mlflow.set_tracking_uri(url)
    df = mlflow.search_runs([exp], filter_string="attributes.run_name LIKE 'trial-00001%'",
                            order_by=["metrics.m07 DESC"])
    want = sorted(range(10, 20), key=lambda i: -run_values(i)[1][7][1])
    assert list(df["tags.mlflow.runName"]) == [f"trial-{i:06d}" for i in want], list(df["tags.mlflow.runName"])
    assert list(df["metrics.m07"]) == [run_values(i)[1][7][1] for i in want]
    assert list(df["params.p03"]) == [run_values(i)[0][3][1] for i in want]
    if n_runs <= 5000:
        df = mlflow.search_runs([exp], order_by=["metrics.m07 DESC"], max_results=5)
        best = max(range(n_runs), key=lambda i: run_values(i)[1][7][1])
        assert df["tags.mlflow.runName"][0] == f"trial-{best:06d}", df["tags.mlflow.runName"][0]
    page = c.search_runs([exp], max_results=100, order_by=["attributes.start_time DESC"])
    assert len(page) == 100 and page[0].info.run_name == f"trial-{n_runs - 1:06d}", page[0].info.run_name
    assert [r.info.run_name for r in page[:3]] == [f"trial-{n_runs - 1 - k:06d}" for k in range(3)]


# --- the server --------------------------------------------------------------------------

class MlflowServer:
    def __init__(self, data_dir, workers):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.proc = None
        self.exp = None  # warm() after a restart, once set

    def start(self):
        cmd = [os.path.join(VENV, "bin", "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.port),
               "--backend-store-uri", "sqlite:///" + os.path.join(self.data_dir, "mlflow.db"),
               "--default-artifact-root", os.path.join(self.data_dir, "artifacts")]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        self.log = open(os.path.join(self.data_dir, "server.log"), "ab")
        # Its own process group: uvicorn's workers and MLflow's job runner go with it.
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env=dict(os.environ, MLFLOW_TRACKING_URI=""))
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({self.proc.returncode}); see {self.data_dir}/server.log")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("mlflow server did not come up in 180 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def warm(self, exp):
        """A few requests on every worker (each of uvicorn's processes loads
        its Python modules and opens the database on its first requests),
        four at a time, untimed: what follows meets a server in use."""
        import concurrent.futures
        body = json.dumps({"experiment_ids": [exp], "max_results": 100,
                           "order_by": ["attributes.start_time DESC"]}).encode()

        def one(_):
            req = urllib.request.Request(self.url + "/api/2.0/mlflow/runs/search", body,
                                         {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=600) as r:
                r.read()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            list(ex.map(one, range(16)))

    def restart(self):
        """Stop and start again on the same port (the same origin for the
        browser). After a request the client gave up on: MLflow's worker
        would go on computing it, taking a core from what follows."""
        self.stop()
        self.start()
        if self.exp is not None:
            self.warm(self.exp)


# --- the browser -------------------------------------------------------------------------

# Installed in every page (with ui_bench.WAIT_JS's window.__until).
PAGE_JS = """
// A row of MLflow's runs grid (ag-grid; the run name is in its pinned-left part).
window.__mrow = (i) => document.querySelector(`.ag-pinned-left-cols-container .ag-row[row-index="${i}"]`);
window.__filled = (i) => { const r = window.__mrow(i); return !!r && /trial-|long-history/.test(r.textContent); };
window.__loadMore = () => document.querySelector('.ag-row[row-id^=load_more] button');
"""

STATE_KEY = 'MLflowLocalStorage-1.1-ExperimentPage-["{exp}"]-ReactComponentState'


class Timeout(Exception):
    pass


def fresh(cdp, base, url, state=None, exp=None):
    """A new document at url. The experiment page's saved state (MLflow keeps
    it in localStorage, per experiment) is first reset to its default, or to
    `state`, from a page of the same origin without the app (/health)."""
    cdp.call("Page.navigate", url=base + "/health")
    cdp.wait_for("document.readyState === 'complete' && location.pathname === '/health'", timeout=60)
    if exp is not None:
        key = json.dumps(STATE_KEY.format(exp=exp))
        if state is None:
            cdp.eval(f"localStorage.removeItem({key})")
        else:
            cdp.eval(f"localStorage.setItem({key}, {json.dumps(json.dumps(state))})")
    cdp.call("Page.navigate", url=url)
    cdp.wait_for("typeof window.__until === 'function' && document.readyState !== 'loading' && location.hash.length > 1",
                 timeout=60)


def ev(cdp, js, what):
    """cdp.eval(js); a window.__until in it that timed out raises Timeout."""
    try:
        return cdp.eval(js)
    except Exception as e:  # the page's promise rejected
        if "timed out" in str(e):
            raise Timeout(f"not within the cap: {what}") from None
        raise


def until(cdp, pred, timeout_ms):
    return ev(cdp, f"window.__until(() => {pred}, {timeout_ms})", pred)


def exp_url(base, exp, **q):
    # The "Model training" side of MLflow 3's UI (its header switch sets
    # workflowType); #/experiments/<id> then opens the experiment's runs tab.
    qs = "&".join(f"{k}={v}" for k, v in {"workflowType": "machine_learning", **q}.items())
    return f"{base}/#/experiments/{exp}?{qs}"


def jq(x):
    return urllib.parse.quote(json.dumps(x))


def measure(cdp, srv, exp, ids, long_rid, n_runs, reps, cap_s, scroll_reps, out, notes, only, save):
    base = srv.url
    timeout_ms = int(cap_s * 1000)

    def collect(key, fn, k_reps=reps, note_on_timeout=None):
        t = []
        for k in range(k_reps):
            try:
                t.append(fn(k))
            except Timeout as e:
                notes[key] = f"rep {k + 1} {e}" + (f" ({note_on_timeout})" if note_on_timeout else "")
                out[key + "_reps"] = t
                out[key] = None
                print(f"  {key}: {notes[key]}; restarting the server", flush=True)
                # Its workers may still be on the request; they would take a
                # core from what follows.
                cdp.call("Page.navigate", url="about:blank")
                srv.restart()
                save()
                return
        out[key + "_reps"] = [round(x, 1) for x in t]
        out[key] = median(t)
        save()
        print(f"  {key}: {out[key]:.1f} ms (reps {out[key + '_reps']})", flush=True)

    # A first visit, untimed: the browser's cache holds the app, and MLflow's
    # one-time first-visit UI (its assistant panel opening) is behind us.
    fresh(cdp, base, exp_url(base, exp), exp=exp)
    until(cdp, "window.__filled(0)", 120_000)
    time.sleep(2)

    newest = ids[n_runs - 1]

    # (1) The runs table, first render: navigation → rows 0 and 20 of the
    # grid show run names (MLflow's default columns, newest run first).
    def first(k):
        fresh(cdp, base, exp_url(base, exp), exp=exp)
        t = until(cdp, "window.__filled(0) && window.__filled(20)", timeout_ms)
        got = cdp.eval("window.__mrow(0).getAttribute('row-id')")
        assert got == newest, (got, newest)
        return t
    if "first" in only:
        collect("first_render_ms", first)

    # (2) "Scroll to run 50,000": the grid holds 100 runs and a "Load more"
    # row; each click fetches the next 100 (runs/search with a page token).
    # Clicked (scrolled to the bottom first, as a user must) until row 50,000
    # (0-based, newest first: the 50,001st run) is in the grid, or cap_s.
    if "scroll" in only:
        target = min(50_000, n_runs - 2)
        loads = []
        for k in range(scroll_reps):
            fresh(cdp, base, exp_url(base, exp), exp=exp)
            until(cdp, "window.__filled(0) && window.__filled(20) && window.__loadMore()", timeout_ms)
            r = cdp.eval(f"""(async () => {{
                const vp = () => document.querySelector('.ag-body-viewport');
                const lmRow = () => document.querySelector('.ag-row[row-id^=load_more]');
                const clicks = [];
                const t0 = performance.now();
                let rows = 100;
                let stuck = null;
                while (!window.__filled({target})) {{
                    const left = {timeout_ms} - (performance.now() - t0);
                    if (left <= 0) break;
                    vp().scrollTop = vp().scrollHeight;
                    try {{
                        await window.__until(() => window.__loadMore() && window.__loadMore().getAttribute('loading') !== 'true',
                                             left);
                    }} catch (e) {{ stuck = 'the cap ran out waiting for the Load more button'; break; }}
                    const n = +lmRow().getAttribute('row-index');
                    const c0 = performance.now();
                    window.__loadMore().click();
                    try {{
                        await window.__until(() => {{
                            vp().scrollTop = vp().scrollHeight;
                            return window.__filled(n + 99) || (!lmRow() && window.__filled(n));
                        }}, {timeout_ms} - (performance.now() - t0));
                    }} catch (e) {{ stuck = `the cap ran out during the click after row ${{n}}`; break; }}
                    clicks.push(performance.now() - c0);
                    rows = lmRow() ? +lmRow().getAttribute('row-index') : n + 100;
                }}
                return {{reached: !!window.__filled({target}), elapsed: performance.now() - t0, rows, clicks, stuck}};
            }})()""")
            loads.append(r)
            cl = r["clicks"]
            print(f"  load more, rep {k + 1}: {'reached' if r['reached'] else 'NOT reached'} row {target} "
                  f"after {r['elapsed'] / 1000:.1f} s, {len(cl)} clicks, {r['rows']} runs in the grid; click ms: "
                  f"first {cl[0]:.0f}, median {median(cl):.0f}, last {cl[-1]:.0f}" if cl else "", flush=True)
        out["load_more_runs"] = [{"reached": r["reached"], "elapsed_ms": round(r["elapsed"], 1), "rows": r["rows"],
                                  "clicks": len(r["clicks"]), "stuck": r["stuck"],
                                  "click_ms": [round(c, 1) for c in r["clicks"]]} for r in loads]
        out["load_more_target_row"] = target
        out["load_more_cap_s"] = cap_s
        allc = [c for r in loads for c in r["clicks"]]
        out["load_more_click_median_ms"] = median(allc)
        if loads and all(r["reached"] for r in loads):
            out["scroll_50000_ms"] = median([r["elapsed"] for r in loads])
        else:
            out["scroll_50000_ms"] = None
            # What the last ten clicks took, times the clicks still missing: a
            # linear extrapolation (clicks got slower as the grid grew, so likely low).
            est = []
            for r in loads:
                last = r["clicks"][-10:]
                est.append(r["elapsed"] + (target + 1 - r["rows"]) / 100 * median(last))
            out["scroll_50000_extrapolated_ms"] = median(est)
            notes["scroll_50000_ms"] = (
                f"not reached in {cap_s:.0f} s: {median([r['rows'] for r in loads]):.0f} runs in the grid by then "
                f"({median([len(r['clicks']) for r in loads]):.0f} Load more clicks, median {median(allc):.0f} ms a click); "
                f"linear extrapolation from the last 10 clicks: {median(est) / 1000:.0f} s")
        save()

    # (3) Sort by a metric: header click on a metric column → row 0 is the
    # run the server puts first in that order (the highest value: MLflow's
    # first click sorts descending) and row 15 is filled. As ui_bench: the
    # table starts in another metric order; the clicked column is m00, m02, ...
    values = None

    def sort(k):
        nonlocal values
        if values is None:
            values = [run_values(i)[1] for i in range(n_runs)]
        key = f"m{2 * k:02d}"
        state = {"selectedColumns": [f"metrics.`m{2 * j:02d}`" for j in range(5)]}
        start = "orderByKey=metrics.%60m07%60&orderByAsc=false" if k % 2 else "orderByKey=metrics.%60m03%60&orderByAsc=true"
        fresh(cdp, base, exp_url(base, exp) + "&" + start, state=state, exp=exp)
        until(cdp, f"window.__filled(0) && window.__filled(15) && document.querySelector('[data-testid=\"sort-header-{key}\"]')",
              timeout_ms)
        best = ids[max(range(n_runs), key=lambda i: values[i][2 * k][1])]
        return ev(cdp, f"""(async () => {{
            const before = window.__mrow(0).getAttribute('row-id');
            if (before === '{best}') throw new Error('already first');
            const t0 = performance.now();
            document.querySelector('[data-testid="sort-header-{key}"]').click();
            const t1 = await window.__until(() => window.__mrow(0) && window.__mrow(0).getAttribute('row-id') === '{best}'
                                                  && window.__filled(0) && window.__filled(15), {timeout_ms});
            return t1 - t0;
        }})()""", f"header {key} clicked → row 0 is {best}")
    if "sort" in only:
        collect("sort_by_metric_ms", sort, note_on_timeout="the UI's runs/search ordered by the metric; see runs/search")

    # (4) The 100k-step metric's chart: navigation to the run page's "Model
    # metrics" tab → its chart of "long" (plotly) holds its points.
    plot = ("[...document.querySelectorAll('[data-testid=experiment-view-compare-runs-card] .js-plotly-plot')]"
            ".find(p => p.data && p.data.length && p.data[0].x && p.data[0].x.length > 100)")

    def chart(k):
        fresh(cdp, base, f"{base}/#/experiments/{exp}/runs/{long_rid}/model-metrics")
        return until(cdp, plot, timeout_ms)
    if "chart" in only:
        collect("chart_100k_steps_ms", chart)
        if out.get("chart_100k_steps_ms") is not None:
            out["chart_points"] = cdp.eval(f"({plot}).data[0].x.length")

    # (4b) MLflow's metric page for it (#/metric, where the run page's
    # metric links lead): its chart (sampled, as the run page's), then its
    # summary table's minimum over the whole history, which it reads in
    # get-history requests of 25,000 points, one after another.
    murl = (f"{base}/#/metric?runs={jq([long_rid])}&metric={jq('long')}&experiments={jq([exp])}"
            f"&plot_metric_keys={jq(['long'])}&plot_layout={{}}&x_axis=step&y_axis_scale=linear&line_smoothness=1"
            f"&show_point=false&deselected_curves=[]&last_linear_y_axis_range=[]")
    mplot = ("[...document.querySelectorAll('.js-plotly-plot')]"
             ".find(p => p.data && p.data.length && p.data[0].x && p.data[0].x.length > 100)")
    min_step = min(range(LONG_STEPS), key=long_value)  # in the last 25,000: all of them read
    metric_page = []

    def metric_page_chart(k):
        fresh(cdp, base, murl)
        t = until(cdp, mplot, timeout_ms)
        metric_page.append(until(cdp, f"document.body.textContent.includes('(step={min_step})')", timeout_ms))
        return t
    if "chart" in only:
        collect("metric_page_chart_ms", metric_page_chart)
        if out.get("metric_page_chart_ms") is not None:
            out["metric_page_points"] = cdp.eval(f"({mplot}).data[0].x.length")
        out["metric_page_full_history_reps"] = [round(x, 1) for x in metric_page]
        out["metric_page_full_history_ms"] = median(metric_page) if len(metric_page) == reps else None
        save()

    # (5) Compare 10 runs: navigation to #/compare-runs → the table's run-name
    # row holds the 10 runs and the parallel-coordinates plot has its axes.
    def compare(k):
        pick = ids[k * 10:(k + 1) * 10]
        fresh(cdp, base, f"{base}/#/compare-runs?runs={jq(pick)}&experiments={jq([exp])}")
        return until(cdp, """(() => {
            const t = document.querySelector('table.mlflow-compare-run-table');
            const names = t && [...t.rows].find(r => r.textContent.startsWith('Run Name'));
            return names && (names.textContent.match(/trial-/g) || []).length === 10 &&
                document.querySelectorAll('.js-plotly-plot .parcoords .axis-title').length >= 2;
        })()""", timeout_ms)
    if "compare" in only:
        collect("compare_10_ms", compare)


def search_latency(srv, exp, n_runs, reps, new_orders, budget_s, cap_s, notes):
    """runs/search, 100 full runs a page, timed in Python to the last byte
    (MLflow sends no Server-Timing). MLflow's page token is base64
    {"offset": N}, as mlbox's. As ui_bench: pages at random offsets of a
    search ordered by a metric, and first pages in a new metric order; and
    pages at random offsets in the UI's own order (newest first). A request
    that takes longer than cap_s is given up, and the server restarted."""
    import base64
    out = {}

    def post(body, timeout):
        host, port = srv.url.split("//")[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            t0 = time.perf_counter()
            conn.request("POST", "/api/2.0/mlflow/runs/search", json.dumps(body).encode(),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            raw = r.read()
            dt = (time.perf_counter() - t0) * 1000
        finally:
            conn.close()
        if r.status != 200:
            raise RuntimeError(f"runs/search: {r.status} {raw[:300]!r}")
        assert len(json.loads(raw)["runs"]) == 100
        return dt

    def pages(order, min_reps, max_reps, budget):
        rng = random.Random(7)
        t, t_end = [], time.time() + budget
        while len(t) < max_reps and (len(t) < min_reps or time.time() < t_end):
            off = rng.randrange(0, max(1, n_runs - 100))
            tok = base64.b64encode(json.dumps({"offset": off}).encode()).decode()
            t.append(post({"experiment_ids": [exp], "max_results": 100, "order_by": order, "page_token": tok}, 600))
        return t

    def p99(xs):
        return sorted(xs)[max(0, int(round(len(xs) * 0.99)) - 1)]

    # The UI's order: its first page, then pages at random offsets.
    newest = ["attributes.start_time DESC"]
    first = [post({"experiment_ids": [exp], "max_results": 100, "order_by": newest}, 600) for _ in range(5)]
    t = pages(newest, 10, reps, budget_s / 2)
    out.update({"search_newest_first_first_page_p50_ms": median(first), "search_newest_first_p50_ms": median(t),
                "search_newest_first_p99_ms": p99(t), "search_newest_first_reps": len(t)})
    print(f"  newest first: first page p50 {median(first):.1f} ms; random offsets p50 {median(t):.1f} ms, "
          f"p99 {p99(t):.1f} ms ({len(t)} pages)", flush=True)

    # As ui_bench: ordered by a metric. The first request is given cap_s.
    order = ["metrics.`m01` DESC"]
    try:
        t0 = post({"experiment_ids": [exp], "max_results": 100, "order_by": order}, cap_s)
    except (TimeoutError, OSError) as e:  # socket.timeout is a TimeoutError
        msg = (f"POST runs/search ordered by metrics.`m01` did not answer in {cap_s:.0f} s ({type(e).__name__}); "
               "MLflow's SQL joins a subquery of latest_metrics (WHERE key = ...) to runs, which sqlite runs as "
               "a scan of that materialized subquery for each run: quadratic in the runs")
        notes["search_page_p50_ms"] = notes["search_new_order_p50_ms"] = msg
        print("  " + msg, flush=True)
        out.update({"search_page_p50_ms": None, "search_page_p99_ms": None, "search_page_reps": 0,
                    "search_new_order_p50_ms": None, "search_new_order_reps": 0})
        srv.restart()
        return out
    t = pages(order, 10, reps, budget_s)
    cold = [t0]
    t_end = time.time() + budget_s / 2
    for k in range(1, new_orders):
        if len(cold) >= 5 and time.time() > t_end:
            break
        cold.append(post({"experiment_ids": [exp], "max_results": 100,
                          "order_by": [f"metrics.`m{20 + k % 30:02d}` {'ASC' if k % 2 else 'DESC'}"]}, 600))
    out.update({"search_page_p50_ms": median(t), "search_page_p99_ms": p99(t), "search_page_reps": len(t),
                "search_new_order_p50_ms": median(cold), "search_new_order_reps": len(cold)})
    print(f"  by a metric: random offsets p50 {median(t):.1f} ms, p99 {p99(t):.1f} ms ({len(t)} pages); "
          f"first page in a new order p50 {median(cold):.1f} ms ({len(cold)})", flush=True)
    return out


# --- main --------------------------------------------------------------------------------

def fmt(v):
    if v is None:
        return "-"
    return f"{v / 1000:.2f} s" if v >= 10_000 else f"{v:.1f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--data", help="keep MLflow's database in DIR and reuse it next time (seeded once for its --runs)")
    ap.add_argument("--out", help="write the results (JSON) to FILE")
    ap.add_argument("--workers", type=int, default=None,
                    help="mlflow server --workers (default: MLflow's own default, 4 uvicorn workers)")
    ap.add_argument("--cap", type=float, default=120,
                    help="seconds one measurement may take before it is reported as '> cap' (default 120)")
    ap.add_argument("--scroll-reps", type=int, default=None,
                    help="repetitions of the Load-more walk, each up to --cap s (default: --reps)")
    ap.add_argument("--search-reps", type=int, default=200, help="runs/search pages timed (default 200)")
    ap.add_argument("--search-new-orders", type=int, default=20, help="first pages in a new order timed (default 20)")
    ap.add_argument("--search-budget", type=float, default=120,
                    help="seconds for the runs/search pages at random offsets (half that for the new orders): fewer "
                         "than --search-reps / --search-new-orders (at least 10 / 5) if they run out (default 120)")
    ap.add_argument("--only", default=",".join(PARTS),
                    help=f"comma-separated subset of {','.join(PARTS)} (default: all); --out is rewritten after each")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if only - set(PARTS):
        sys.exit(f"mlflow_ui_bench: --only: unknown {sorted(only - set(PARTS))}")
    chromium = find_chromium()
    if not chromium:
        sys.exit("mlflow_ui_bench: no chromium (apt-get install chromium)")
    if not os.path.exists(os.path.join(VENV, "bin", "mlflow")):
        sys.exit(f"mlflow_ui_bench: no {VENV}/bin/mlflow (make venv)")
    import mlflow
    tmp = None
    if args.data:
        data = os.path.abspath(args.data)
        os.makedirs(data, exist_ok=True)
    else:
        data = tmp = tempfile.mkdtemp(prefix="mlflow-ui-bench-")
    meta_path = os.path.join(data, "mlflow-ui-bench.json")
    db_path = os.path.join(data, "mlflow.db")
    res = {"runs": args.runs, "reps": args.reps, "cpus": os.cpu_count(), "mlflow": mlflow.__version__,
           "loadavg_start": os.getloadavg()}
    res["only"] = sorted(only, key=PARTS.index)
    notes = {}
    res["notes"] = notes

    def save():
        # After each measurement, so that a run stopped half-way leaves what it measured.
        if args.out:
            with open(args.out, "w") as f:
                json.dump(res, f, indent=1)

    try:
        if os.path.exists(meta_path):
            with open(meta_path) as f:
                m = json.load(f)
            if m["runs"] != args.runs:
                sys.exit(f"mlflow_ui_bench: {data} holds {m['runs']} runs, not {args.runs}")
            exp, ids, long_rid = m["exp"], m["ids"], m["long"]
            print(f"reusing {args.runs} runs in {db_path} (seeded in {m['seed_s']} s)", flush=True)
            res["seed_s"] = m["seed_s"]
        else:
            for f in ("mlflow.db", "mlflow.db-journal", "mlflow.db-wal", "mlflow.db-shm"):
                if os.path.exists(os.path.join(data, f)):
                    os.remove(os.path.join(data, f))
            shutil.rmtree(os.path.join(data, "artifacts"), ignore_errors=True)
            t0 = time.time()
            exp, ids, long_rid = seed(db_path, os.path.join(data, "artifacts"), args.runs)
            res["seed_s"] = round(time.time() - t0, 1)
            with open(meta_path, "w") as f:
                json.dump({"runs": args.runs, "exp": exp, "ids": ids, "long": long_rid, "seed_s": res["seed_s"]}, f)
            print(f"seeded {args.runs} runs ({N_PARAMS} params, {N_METRICS} metrics each) and a {LONG_STEPS}-step "
                  f"metric into MLflow's sqlite store in {res['seed_s']:.0f} s "
                  f"({os.path.getsize(db_path) / 1e6:.0f} MB)", flush=True)
        srv = MlflowServer(data, args.workers)
        t0 = time.time()
        srv.start()
        res["server_start_s"] = round(time.time() - t0, 1)
        res["server"] = f"mlflow server (uvicorn), --workers {args.workers or '4 (default)'}, sqlite backend store"
        print(f"mlflow server up at {srv.url} in {res['server_start_s']:.0f} s", flush=True)
        try:
            t0 = time.time()
            srv.exp = exp
            srv.warm(exp)
            verify(srv.url, exp, ids, long_rid, args.runs)
            print(f"verified with MlflowClient / mlflow.search_runs in {time.time() - t0:.0f} s", flush=True)
            save()
            if "search" in only:
                print("runs/search latency ...", flush=True)
                res.update(search_latency(srv, exp, args.runs, args.search_reps, args.search_new_orders,
                                          args.search_budget, args.cap, notes))
                save()
            cdp = CDP(chromium, srv.url, size=(1440, 900))
            try:
                cdp.call("Page.addScriptToEvaluateOnNewDocument", source=ui_bench.WAIT_JS + PAGE_JS)
                measure(cdp, srv, exp, ids, long_rid, args.runs, args.reps, args.cap,
                        args.scroll_reps or args.reps, res, notes, only, save)
            finally:
                cdp.close()
        finally:
            srv.stop()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    res["loadavg_end"] = os.getloadavg()

    def cell(key):
        v = res.get(key)
        if v is None and key in notes:
            return f"> {args.cap:.0f} s"
        return fmt(v)

    rows = [
        ("runs table, first render", "first_render_ms",
         "navigation to #/experiments/<id> → grid rows 0 and 20 show run names (default columns)"),
        (f"scroll to run {res.get('load_more_target_row', 50_000):,}", "scroll_50000_ms",
         f"from the loaded table: Load more clicked (100 runs each) until grid row "
         f"{res.get('load_more_target_row', 50_000):,} is filled"),
        ("sort by a metric", "sort_by_metric_ms",
         "metric header click → row 0 is the server's first run in that order, row 15 filled"),
        (f"chart of a {LONG_STEPS:,}-step metric", "chart_100k_steps_ms",
         f"navigation to the run's Model metrics tab → its plotly chart holds its points ({res.get('chart_points')})"),
        ("  (its metric page: chart)", "metric_page_chart_ms",
         f"navigation to #/metric?...metric=\"long\" → its plotly chart holds its points ({res.get('metric_page_points')})"),
        ("  (its metric page: whole history)", "metric_page_full_history_ms",
         f"… → its table shows the minimum over all {LONG_STEPS:,} steps (get-history, 25,000 points a request)"),
        ("compare of 10 runs", "compare_10_ms",
         "navigation to #/compare-runs → table holds the 10 runs, parallel coordinates drawn"),
        ("runs/search, 100 full runs a page (p50)", "search_page_p50_ms",
         f"POST runs/search ordered by a metric, random offsets, to the last byte in Python "
         f"({res.get('search_page_reps')} pages)"),
        ("  (p99)", "search_page_p99_ms", ""),
        ("  (first page in a new metric order, p50)", "search_new_order_p50_ms",
         f"{res.get('search_new_order_reps')} orders"),
        ("  (newest first, the UI's order, p50)", "search_newest_first_p50_ms",
         f"random offsets ({res.get('search_newest_first_reps')} pages)"),
        ("  (newest first, p99)", "search_newest_first_p99_ms", ""),
        ("  (newest first, first page, p50)", "search_newest_first_first_page_p50_ms", "5 requests"),
    ]
    print(f"\nMLflow {res['mlflow']} UI benchmark: {args.runs:,} runs, {res['cpus']} CPUs, medians of {args.reps}; "
          f"{res['server']}\n")
    print("| | MLflow | measured |")
    print("|---|---|---|")
    for label, key, what in rows:
        print(f"| {label} | {cell(key)} | {what} |")
    lm = res.get("load_more_runs") or []
    if lm:
        print(f"\nLoad more: median {res['load_more_click_median_ms']:.0f} ms a click (click → the 100 new rows filled); "
              f"runs in the grid when each walk ended: {[r['rows'] for r in lm]}")
        if res.get("scroll_50000_extrapolated_ms"):
            print(f"To row {res['load_more_target_row']:,} by linear extrapolation (not measured): "
                  f"{res['scroll_50000_extrapolated_ms'] / 1000:.0f} s")
    print(f"Seeding (sqlite3 bulk insert into MLflow's schema): {res['seed_s']:.0f} s; server start "
          f"{res['server_start_s']:.0f} s. Load average (1/5/15 min) at the start {res['loadavg_start']}, "
          f"at the end {res['loadavg_end']}.")
    for k, v in notes.items():
        print(f"{k}: {v}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
