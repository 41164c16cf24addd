"""The web UI benchmark (`make bench-ui`, part of `make bench`).

    MLBOX_BIN=bin/mlbox .venv/bin/python bench/ui/ui_bench.py [--runs 100000] [--reps 5]

Starts mlbox on a fresh data directory, logs one experiment of --runs runs
with 20 params and 50 metrics each (plus one run with a 100,000-step
metric) over the REST API, then drives headless Chromium (Debian's
`chromium`, over the DevTools protocol) and reports medians of --reps
repetitions, timed in the page with performance.now():

  first render       navigation to the first filled row of the runs table
  scroll to 50,000   scrollTop set → the rows around run 50,000 rendered (not placeholders)
  sort by a metric   header click → the first row of the new order rendered
  100k-step chart    navigation to a run page whose chart of that metric is drawn
  compare 10 runs    navigation to #/compare of 10 runs, table and chart drawn

and runs/search with 100 full runs a page, server-side (the response's
Server-Timing header; the time to its last byte in the client is printed
too):
p50 of a page at a random offset of a search already sorted (the cached
order), and of a first page in a new order (a sort of all runs).
--json FILE also writes the numbers.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "ui"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "compat"))
from browser import CDP, find_chromium  # noqa: E402
from mlboxproc import MlboxProcess  # noqa: E402

N_PARAMS, N_METRICS = 20, 50
N_RUNS = [0]  # set by main
LONG_STEPS = 100_000

_local = threading.local()


def api(port, path, body, raw_out=None):
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = json.dumps(body).encode()
    for attempt in range(3):
        try:
            conn.request("POST", "/api/2.0/mlflow/" + path, data, {"Content-Type": "application/json"})
            r = conn.getresponse()
            raw = r.read()
            break
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = _local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            if attempt == 2:
                raise
    if r.status != 200:
        raise RuntimeError(f"{path}: {r.status} {raw[:300]!r}")
    if raw_out is not None:
        st = r.getheader("Server-Timing") or ""
        raw_out.append((raw, float(st.split("dur=")[1]) if "dur=" in st else float("nan")))
        return None
    return json.loads(raw) if raw else {}


def seed(port, n_runs, workers=8):
    exp = api(port, "experiments/create", {"name": "ui-bench"})["experiment_id"]
    t0 = int(time.time() * 1000) - n_runs * 1000

    def one(i):
        rng = random.Random(i)
        run = api(port, "runs/create", {"experiment_id": exp, "run_name": f"trial-{i:06d}", "start_time": t0 + i * 1000})
        rid = run["run"]["info"]["run_id"]
        api(port, "runs/log-batch", {
            "run_id": rid,
            "params": [{"key": f"p{j:02d}", "value": str(rng.randint(0, 20))} for j in range(N_PARAMS)],
            "metrics": [{"key": f"m{j:02d}", "value": rng.random(), "timestamp": t0 + i * 1000, "step": 0} for j in range(N_METRICS)],
        })
        return rid

    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        ids = list(ex.map(one, range(n_runs), chunksize=64))
    # One run with a long history.
    rid = api(port, "runs/create", {"experiment_id": exp, "run_name": "long-history", "start_time": t0})["run"]["info"]["run_id"]

    def batch(b):
        api(port, "runs/log-batch", {"run_id": rid, "metrics": [
            {"key": "long", "value": 1.0 / (1 + s / 1000) + 0.01 * ((s * 7919) % 13), "timestamp": t0 + s, "step": s}
            for s in range(b, min(b + 1000, LONG_STEPS))]})
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        list(ex.map(batch, range(0, LONG_STEPS, 1000)))
    return exp, ids, rid


# Installed in every page: resolves with performance.now() once pred() holds.
WAIT_JS = """
window.__until = (pred, timeout = 60000) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  const tick = () => {
    let ok = false;
    try { ok = pred(); } catch (e) { ok = false; }
    if (ok) return resolve(performance.now());
    if (performance.now() - t0 > timeout) return reject(new Error('timed out'));
    setTimeout(tick, 2);
  };
  tick();
});
window.__row = (i) => document.querySelector(`tr[data-testid=run-row][aria-rowindex="${i + 3}"]`);
"""


def fresh(cdp, url):
    cdp.call("Page.navigate", url="about:blank")
    time.sleep(0.05)
    cdp.call("Page.navigate", url=url)
    cdp.wait_for("typeof window.__until === 'function' && document.readyState !== 'loading'", timeout=60)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def measure(cdp, base, exp, ids, long_rid, reps):
    out = {}
    runs_url = f"{base}/#/experiments/{exp}"
    t = []
    for _ in range(reps):
        fresh(cdp, runs_url)
        t.append(cdp.eval("window.__until(() => window.__row(0) && window.__row(20))", timeout=120))
    out["first_render_ms"] = median(t)

    t = []
    n = N_RUNS[0]
    for k in range(reps):
        # From a freshly loaded table at the top, each time a different
        # place near run 50,000 (no page of it read before).
        target = min(50_000 + 997 * k, n - 30)
        fresh(cdp, runs_url)
        # The table settled (its count and columns in), as a user finds it.
        cdp.eval("window.__until(() => window.__row(0) && document.querySelector('main').dataset.state === 'ready')", timeout=120)
        t.append(cdp.eval(f"""(async () => {{
            const s = document.querySelector('[data-testid=runs-results]');
            const h = document.querySelector('tr.run-row').getBoundingClientRect().height;
            if (window.__row({target})) throw new Error('row {target} is there before scrolling');
            const t0 = performance.now();
            s.scrollTop = {target} * h;
            const t1 = await window.__until(() => window.__row({target}) && window.__row({target + 12}));
            return t1 - t0;
        }})()""", timeout=120))
    out["scroll_50000_ms"] = median(t)

    t = []
    for k in range(reps):
        fresh(cdp, runs_url + f"?order={'metrics.%60m07%60+DESC' if k % 2 else 'metrics.%60m03%60+ASC'}")
        key = f"m{2 * k:02d}"  # among the default columns, not the starting order
        cdp.eval(f"window.__until(() => window.__row(0) && document.querySelector('[data-testid=col-metric-{key}]') && document.querySelector('main').dataset.state === 'ready')", timeout=120)
        t.append(cdp.eval(f"""(async () => {{
            const before = window.__row(0).dataset.runId;
            const t0 = performance.now();
            document.querySelector('[data-testid=col-metric-{key}]').click();
            const t1 = await window.__until(() => window.__row(0) && window.__row(0).dataset.runId !== before && window.__row(15));
            return t1 - t0;
        }})()""", timeout=120))
    out["sort_by_metric_ms"] = median(t)

    t = []
    for _ in range(reps):
        fresh(cdp, f"{base}/#/runs/{long_rid}?metrics=long")
        t.append(cdp.eval("""window.__until(() => {
            const c = document.querySelector('[data-testid=run-chart] .chart-canvas');
            return c && c.__uplot && c.__uplot.data[0].length > 100;
        })""", timeout=120))
    out["chart_100k_steps_ms"] = median(t)
    out["chart_points"] = cdp.eval("document.querySelector('[data-testid=run-chart] .chart-canvas').__uplot.data[0].length")

    t = []
    for k in range(reps):
        pick = ids[k * 10:(k + 1) * 10]
        fresh(cdp, f"{base}/#/compare?runs={','.join(pick)}&metrics=m00")
        t.append(cdp.eval("""window.__until(() =>
            document.querySelectorAll('[data-testid=compare-run-link]').length === 10 &&
            document.querySelectorAll('[data-testid=chart-legend-row]').length === 10 &&
            document.querySelectorAll('[data-testid=pcoords-line]').length === 10)""", timeout=120))
    out["compare_10_ms"] = median(t)
    return out


def search_latency(port, exp, n_runs, reps=200):
    order = ["metrics.`m01` DESC"]
    api(port, "runs/search", {"experiment_ids": [exp], "max_results": 100, "order_by": order})
    warm, server = [], []
    rng = random.Random(7)
    import base64
    for _ in range(reps):
        off = rng.randrange(0, max(1, n_runs - 100))
        tok = base64.b64encode(json.dumps({"offset": off}).encode()).decode()
        raw = []
        t0 = time.perf_counter()
        api(port, "runs/search", {"experiment_ids": [exp], "max_results": 100, "order_by": order, "page_token": tok}, raw)
        warm.append((time.perf_counter() - t0) * 1000)  # to the last byte, before parsing
        server.append(raw[0][1])  # the server's own Server-Timing
        assert len(json.loads(raw[0][0])["runs"]) == 100
    cold = []
    for k in range(20):
        raw = []
        api(port, "runs/search", {"experiment_ids": [exp], "max_results": 100,
                                  "order_by": [f"metrics.`m{20 + k:02d}` {'ASC' if k % 2 else 'DESC'}"]}, raw)
        cold.append(raw[0][1])
    return {"search_page_p50_ms": median(server), "search_page_p99_ms": sorted(server)[int(len(server) * 0.99) - 1],
            "search_page_client_p50_ms": median(warm), "search_new_order_p50_ms": median(cold)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", help="also write the results to FILE")
    ap.add_argument("--data", help="keep the server's data in DIR and reuse it next time (seeded once for its --runs)")
    args = ap.parse_args()
    N_RUNS[0] = args.runs
    chromium = find_chromium()
    if not chromium:
        sys.exit("ui_bench: no chromium (apt-get install chromium)")
    meta = os.path.join(args.data, "ui-bench.json") if args.data else None
    if args.data:
        os.makedirs(os.path.join(args.data, "data"), exist_ok=True)
    proc = MlboxProcess(data_dir=os.path.join(args.data, "data") if args.data else None)
    proc.start()
    try:
        t0 = time.time()
        if meta and os.path.exists(meta):
            with open(meta) as f:
                m = json.load(f)
            if m["runs"] != args.runs:
                sys.exit(f"ui_bench: {args.data} holds {m['runs']} runs, not {args.runs}")
            exp, ids, long_rid = m["exp"], m["ids"], m["long"]
            print(f"reusing {args.runs} runs in {args.data}", flush=True)
        else:
            exp, ids, long_rid = seed(proc.port, args.runs)
            if meta:
                with open(meta, "w") as f:
                    json.dump({"runs": args.runs, "exp": exp, "ids": ids[:200], "long": long_rid}, f)
        seeded = time.time() - t0
        print(f"seeded {args.runs} runs ({N_PARAMS} params, {N_METRICS} metrics each) and a {LONG_STEPS}-step metric in {seeded:.0f} s", flush=True)
        res = {"runs": args.runs, "cpus": os.cpu_count(), "seed_s": round(seeded, 1)}
        res.update(search_latency(proc.port, exp, args.runs))
        cdp = CDP(chromium, proc.url, size=(1440, 900))
        try:
            cdp.call("Page.addScriptToEvaluateOnNewDocument", source=WAIT_JS)
            res.update(measure(cdp, proc.url, exp, ids, long_rid, args.reps))
        finally:
            cdp.close()
    finally:
        proc.stop()
    targets = [
        ("runs table, first render", "first_render_ms", 1000),
        ("scroll to run 50,000", "scroll_50000_ms", 300),
        ("sort by a metric", "sort_by_metric_ms", 500),
        (f"chart of a {LONG_STEPS:,}-step metric", "chart_100k_steps_ms", 500),
        ("compare of 10 runs", "compare_10_ms", 500),
        ("runs/search, 100 full runs a page (p50)", "search_page_p50_ms", 3),
    ]
    print(f"\nUI benchmark: {args.runs:,} runs, {os.cpu_count()} CPUs, medians of {args.reps}\n")
    print("| | mlbox | target | met |")
    print("|---|---|---|---|")
    for label, key, target in targets:
        v = res[key]
        print(f"| {label} | {v:.1f} ms | < {target} ms | {'yes' if v < target else 'no'} |")
    print(f"\nruns/search (Server-Timing): p99 {res['search_page_p99_ms']:.1f} ms; p50 to the response's last byte "
          f"in the Python client {res['search_page_client_p50_ms']:.1f} ms; first page in a new order (sorting all runs) p50 "
          f"{res['search_new_order_p50_ms']:.1f} ms. The chart drew {res['chart_points']} points.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
