"""lleaves on the boosted-tree benchmark's LightGBM model (bench/gbm, `make bench`).

    python bench/gbm/lleaves_bench.py OUT_DIR

Runs in its own venv (bench/gbm/requirements-lleaves.txt: lleaves needs llvmlite 0.44).
Compiles OUT_DIR/lightgbm.txt with lleaves (LLVM), checks its answers against the
booster's on OUT_DIR/rows.json, and prints one JSON object, microseconds per row
(median of repeated runs, one thread): lleaves_batch, lleaves_row, and compile_s.
"""
import json
import os
import statistics
import sys
import time

import numpy as np


def main():
    out = sys.argv[1]
    import lleaves

    with open(os.path.join(out, "rows.json")) as f:
        rows = json.load(f)
    X = np.ascontiguousarray(np.array(rows["data"], dtype=np.float64))
    want = np.array(rows["lightgbm"])[:, 1]
    t0 = time.perf_counter()
    m = lleaves.Model(model_file=os.path.join(out, "lightgbm.txt"))
    m.compile(cache=os.path.join(out, "lleaves.o"))
    compile_s = time.perf_counter() - t0
    got = m.predict(X, n_jobs=1)
    err = float(np.max(np.abs(got - want)))
    runs, start = [], time.perf_counter()
    while len(runs) < 5 or time.perf_counter() - start < 1.0:
        t = time.perf_counter_ns()
        m.predict(X, n_jobs=1)
        runs.append((time.perf_counter_ns() - t) / 1000 / len(X))
    row = []
    for i in range(2000):
        r = X[i % len(X):i % len(X) + 1]
        t = time.perf_counter_ns()
        m.predict(r, n_jobs=1)
        row.append((time.perf_counter_ns() - t) / 1000)
    print(json.dumps({"lleaves_batch": statistics.median(runs), "lleaves_row": statistics.median(row),
                      "compile_s": compile_s, "max_abs_diff": err}))


if __name__ == "__main__":
    main()
