"""Import throughput from a real MLflow server (`make bench`; docs/performance.md).

    .venv/bin/python bench/transfer/import_bench.py [--runs 1000] [--metrics 50]
        [--steps 1000] [--data DIR] [--workers 4] [--server-workers 4]

Seeds an MLflow 3 sqlite database with --runs runs of --metrics metrics x
--steps steps each (plus 10 params and 5 tags a run) in one experiment:
MLflow's own SqlAlchemyStore creates the schema (the migrations `mlflow
server` runs) and the experiment, and the rows go straight into its tables
with sqlite3.executemany (logging 50M points over REST would take hours).
The seeded database is kept in --data (default
$MLBOX_CACHE/import-bench-RxMxS) and reused by later runs.

Then `mlflow server` (from the test venv, --server-workers uvicorn
processes) serves it on 127.0.0.1, and, in the same run:

  read     `mlbox import --dry-run`: reads every run and metric history the
           way an import does (same requests, same parallelism) and writes
           nothing: how fast the MLflow server can be read, the baseline
  import   `mlbox import` into a fresh mlbox: runs/s, metric points/s, and
           its time over the read's
  again    the same import a second time: everything is there, nothing is copied

Prints one JSON object with the numbers; medians are not taken (each step
moves the whole data set once).
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VENV = os.path.dirname(os.path.dirname(sys.executable))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(data, n_runs, n_metrics, n_steps):
    """The MLflow database, built once per size (a marker file says it is complete)."""
    done = os.path.join(data, "seeded")
    db_path = os.path.join(data, "mlflow.db")
    if os.path.exists(done):
        return
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    store = SqlAlchemyStore("sqlite:///" + db_path, "mlflow-artifacts:/")
    exp = int(store.create_experiment("import-bench", artifact_location="mlflow-artifacts:/1"))
    store.engine.dispose()
    del store
    t0 = int(time.time() * 1000) - n_runs * 60_000
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA cache_size=-2000000")
    start = time.time()
    with db:
        for i in range(n_runs):
            rid = uuid.uuid4().hex
            ts = t0 + i * 60_000
            db.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
                       " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (rid, f"trial-{i:05d}", "UNKNOWN", "", "", "bench", "FINISHED", ts, ts + 50_000, "", "active",
                        f"mlflow-artifacts:/{exp}/{rid}/artifacts", exp, None))
            db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)",
                           [("mlflow.runName", f"trial-{i:05d}", rid)] + [(f"tag{j}", f"v{i % 7}", rid) for j in range(4)])
            db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)",
                           [(f"p{j}", str((i * 31 + j) % 1000 / 10), rid) for j in range(10)])
            rows = []
            for k in range(n_metrics):
                key = f"m{k:02d}"
                base = (i * 7 + k) % 100 / 100
                rows.extend((key, base + s / n_steps, ts + s, rid, s) for s in range(n_steps))
            db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,0)", rows)
            s = n_steps - 1
            db.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,0,?)",
                           [(f"m{k:02d}", (i * 7 + k) % 100 / 100 + s / n_steps, ts + s, s, rid) for k in range(n_metrics)])
            if i % 100 == 99:
                print(f"seeded {i + 1}/{n_runs} runs in {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    db.close()
    open(done, "w").close()


class MlflowServer:
    def __init__(self, data, workers):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [os.path.join(VENV, "bin", "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.port),
               "--backend-store-uri", "sqlite:///" + os.path.join(data, "mlflow.db"),
               "--artifacts-destination", os.path.join(data, "artifacts"), "--workers", str(workers)]
        self.log = open(os.path.join(data, "server.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env=dict(os.environ, MLFLOW_TRACKING_URI=""))
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {data}/server.log")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("mlflow server did not come up")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class Mlbox:
    def __init__(self, binary, data):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(data, "mlbox.log"), "ab")
        self.proc = subprocess.Popen([binary, "server", "--listen", f"127.0.0.1:{self.port}", "--data-dir", data],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("mlbox did not come up")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid=None, pgid=None):
    """utime+stime of a process, or of every live process of a group."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
        if (pid is not None and int(d) == pid) or (pgid is not None and int(fields[2]) == pgid):
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def timed(binary, args, servers):
    """Wall time, the command's CPU seconds and each server's CPU seconds."""
    before = [f() for f in servers]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.time()
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    el = time.time() - t
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"mlbox {' '.join(args)}: {r.stderr}{r.stdout}")
    cpu = [round(f() - b, 1) for f, b in zip(servers, before)]
    own = round(ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime, 1)
    return el, r.stdout.strip(), own, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--metrics", type=int, default=50)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4, help="mlbox import --workers")
    ap.add_argument("--server-workers", type=int, default=4, help="mlflow server --workers")
    ap.add_argument("--data", default="")
    ap.add_argument("--mlbox", default=os.environ.get("MLBOX_BIN", os.path.join(REPO, "bin", "mlbox")))
    a = ap.parse_args()
    cache = os.environ.get("MLBOX_CACHE", os.path.expanduser("~/.cache/mlbox"))
    data = a.data or os.path.join(cache, f"import-bench-{a.runs}x{a.metrics}x{a.steps}")
    t = time.time()
    seed(data, a.runs, a.metrics, a.steps)
    seed_s = time.time() - t
    srv = MlflowServer(data, a.server_workers)
    box_dir = tempfile.mkdtemp(prefix="mlbox-import-bench-")
    try:
        mlflow_cpu = lambda: cpu_seconds(pgid=srv.proc.pid)
        read_s, read_out, read_cli, (read_mlflow,) = timed(
            a.mlbox, ["import", "--dry-run", "--from", srv.url, "--tracking-uri", "http://127.0.0.1:9",
                      "--workers", str(a.workers)], [mlflow_cpu])
        box = Mlbox(a.mlbox, box_dir)
        try:
            imp_s, imp_out, imp_cli, (imp_mlflow, imp_box) = timed(
                a.mlbox, ["import", "--from", srv.url, "--tracking-uri", box.url, "--workers", str(a.workers)],
                [mlflow_cpu, lambda: cpu_seconds(pid=box.proc.pid)])
            again_s, again_out, _, _ = timed(a.mlbox, ["import", "--from", srv.url, "--tracking-uri", box.url], [])
        finally:
            box.stop()
    finally:
        srv.stop()
        shutil.rmtree(box_dir, ignore_errors=True)
    points = a.runs * a.metrics * a.steps
    m = re.search(r"runs: (\d+) copied", imp_out)
    assert m and int(m.group(1)) == a.runs, imp_out
    assert re.search(r"runs: 0 copied, %d already there" % a.runs, again_out), again_out
    print(json.dumps({
        "runs": a.runs, "metrics_per_run": a.metrics, "steps": a.steps, "metric_points": points,
        "cores": os.cpu_count(), "mlbox_workers": a.workers, "mlflow_server_workers": a.server_workers,
        "seed_s": round(seed_s, 1),
        "read_s": round(read_s, 1), "read_points_per_s": round(points / read_s),
        "import_s": round(imp_s, 1), "import_runs_per_s": round(a.runs / imp_s, 2),
        "import_points_per_s": round(points / imp_s), "import_over_read": round(imp_s / read_s, 2),
        "second_import_s": round(again_s, 1),
        "cpu_s": {"read": {"mlflow_server": read_mlflow, "mlbox_import": read_cli},
                  "import": {"mlflow_server": imp_mlflow, "mlbox_import": imp_cli, "mlbox_server": imp_box}},
        "target_s": 120, "summary": imp_out,
    }, indent=1))


if __name__ == "__main__":
    main()
