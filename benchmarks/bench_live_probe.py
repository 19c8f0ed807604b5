"""Benchmark of the Label page's live model: one refit after one more label.

Goal (issue #14): after each label the probe refits in under 1 s on the CPU
for 10,000 buildings x 512-d, and every building gets a new prediction and
uncertainty.

Data: ``bench_probes.make_features`` (seeded 10,000 x 512 float32, classes
55/15/15/15 %, per-feature scales and offsets). An analyst labels the rows in
a seeded random order; at each checkpoint ``n`` (``--at``, default 20, 50,
100, 200, 500, 1000 labels) the model, fitted on the first ``n - 1`` labels,
gets label ``n``, and is timed three ways, each ending with the class
probabilities of all 10,000 rows:

* ``warm``: :class:`~stcrl_core.labels.live.LabellingModel.update` (the page's
  model: class-weighted ``LogisticProbe`` warm-started from the previous
  weights, then a prediction of every building);
* ``cold``: the same probe fitted from zero (``warm_start=False``);
* ``sklearn`` (baseline, what HASTE uses): ``StandardScaler`` +
  ``LogisticRegression(class_weight="balanced", max_iter=200)`` (lbfgs),
  fitted from zero, ``predict_proba`` of every row.

Times are medians over ``--repeats`` rounds (each round re-fits the ``n - 1``
labels first, untimed). Also reported: the share of the 10,000 rows on which
the warm model's predicted class equals the cold one's. Every thread count of
``--threads`` is measured (on a busy 2-core machine two torch threads spin
against the other processes on these tiny problems). ``--write-docs``
rewrites its section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/bench_live_probe.py [--repeats 5] [--threads 1,2] [--write-docs]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_probes import make_features

from stcrl_core.eval.probes import LogisticProbe
from stcrl_core.labels.live import LabellingModel
from stcrl_core.workspace.atomic import atomic_write_json

REPO = Path(__file__).resolve().parent.parent
AT = (20, 50, 100, 200, 500, 1000)


def _sklearn(x: np.ndarray, y: np.ndarray, everyone: np.ndarray) -> np.ndarray:
    scaler = StandardScaler().fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(class_weight="balanced", max_iter=200).fit(
            scaler.transform(x), y
        )
    return model.predict_proba(scaler.transform(everyone))


def measure(x: np.ndarray, y: np.ndarray, at: list[int], repeats: int, seed: int) -> list[dict]:
    """One row per checkpoint: median seconds of warm, cold and scikit-learn, and agreement."""
    order = np.random.default_rng(seed).permutation(len(x))
    rows = []
    for n in at:
        before, now = order[: n - 1], order[:n]
        times: dict[str, list[float]] = {"warm": [], "cold": [], "sklearn": []}
        agree = 1.0
        for _ in range(repeats):
            model = LabellingModel(x, threads=torch.get_num_threads())
            model.update(before, y[before])  # the model as it was before label n
            start = time.perf_counter()
            model.update(now, y[now])
            times["warm"].append(time.perf_counter() - start)
            cold = LogisticProbe(class_weight="balanced", tol=model.tol, max_iter=model.max_iter)
            start = time.perf_counter()
            proba = cold.fit(x[now], y[now]).predict_proba(x)
            times["cold"].append(time.perf_counter() - start)
            agree = float((proba.argmax(axis=1) == model.proba.argmax(axis=1)).mean())
            start = time.perf_counter()
            _sklearn(x[now], y[now], x)
            times["sklearn"].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"labels": n, **med, "warm_vs_cold_agreement": agree})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: seconds per refit + prediction of all rows, and ratios against scikit-learn."""
    lines = [
        "| torch threads | labels | warm (ours) s | cold (ours) s | scikit-learn s | "
        "sklearn / warm | sklearn / cold | warm = cold class |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['threads']} | {r['labels']} | {r['warm']:.3f} | {r['cold']:.3f} | "
            f"{r['sklearn']:.3f} | "
            f"{r['sklearn'] / r['warm']:.1f}x | {r['sklearn'] / r['cold']:.1f}x | "
            f"{r['warm_vs_cold_agreement']:.2%} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark, print its table, optionally rewrite its docs section."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2],
                        help="torch thread counts to measure with (default 1,2)")  # fmt: skip
    parser.add_argument("--at", type=lambda s: [int(v) for v in s.split(",")], default=list(AT))
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite its section of docs/benchmarks.md")  # fmt: skip
    args = parser.parse_args()
    x_pool, y_pool, x_eval, y_eval = make_features(seed=args.seed)
    x, y = np.concatenate([x_pool, x_eval]), np.concatenate([y_pool, y_eval])
    load = os.getloadavg()[0]
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        rows += [{"threads": threads, **r} for r in measure(x, y, args.at, args.repeats, args.seed)]
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU used",
        "date": time.strftime("%Y-%m-%d"),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "features": list(x.shape),
        "rows": rows,
    }
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "live_probe.json", results)
    text = table(rows)
    print(text)
    if args.write_docs:
        sys.path.insert(0, str(REPO / "docs"))
        from doc_sections import replace_section

        command = " ".join(["benchmarks/bench_live_probe.py", *sys.argv[1:]])
        worst = max(r["warm"] for r in rows)
        body = (
            f"Machine: {results['machine']}; 1-minute load average {results['load_before']} "
            f"-> {results['load_after']}. Date: {results['date']}. Command: `{command}`. "
            f"Data: {x.shape[0]:,} x {x.shape[1]} float32 (`bench_probes.make_features`, seed "
            f"{args.seed}). Seconds from label n to new class probabilities of every row, "
            f"median of {args.repeats}; baseline = scikit-learn `StandardScaler` + "
            "`LogisticRegression(class_weight='balanced', max_iter=200)` fitted from zero. "
            f"Slowest warm refit: {worst:.3f} s (goal: under 1 s).\n\n" + text
        )
        replace_section(REPO / "docs" / "benchmarks.md", "live-probe", command, body)


if __name__ == "__main__":
    main()
