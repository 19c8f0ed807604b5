"""Benchmark of the batched probes against scikit-learn fitted trial by trial.

Times the whole label-budget curve of the frozen-feature probes of
``stcrl_core.eval.probes``: budgets 100, 200, 500, 1000 and 2000 labels, 10
trials each, drawn with :func:`stcrl_core.data.budget.draw_trials` from a
labelled pool, every trial scored on the same evaluation set. For each probe
the library fits all trials of a budget at once (one batched fit, then one
batched predict); the baseline is scikit-learn fitted once per trial on the
same subsets:

* ``lr``: :class:`~stcrl_core.eval.probes.LogisticProbe` vs
  ``StandardScaler`` + ``LogisticRegression(C=1, max_iter=100)`` (default lbfgs
  solver), the scaler fitted on each trial's subset like the library's
  per-trial standardisation;
* ``mlp``: :class:`~stcrl_core.eval.probes.MLPProbe` vs ``StandardScaler`` +
  ``MLPClassifier(hidden_layer_sizes=(100,), alpha=1e-4, max_iter=200,
  random_state=trial)``.

Timed: standardisation, fit and predict of every trial of every budget (the
draws, made once up front, and the scoring are not). Both are scored with the
paper's overall F1 (harmonic mean of the per-class F1,
:func:`stcrl_core.eval.metrics.batched_overall_f1`); the table gives the mean
over trials per budget and the largest absolute difference of these means.

Data: a seeded synthetic feature matrix of 10,000 x 512 float32 (8,000 pool +
2,000 evaluation rows) with xBD-like class imbalance (55/15/15/15 %): class
means drawn from N(0, I) in a random 12-dimensional subspace, unit noise in
that subspace and in all 512 dimensions, then a per-feature scale and offset
(so standardisation matters). Overall F1 is mid-range: 0.54 at 100 labels
rising to 0.64 at 2,000 for logistic regression, 0.44 to 0.69 for the MLP.

``--variant`` adds rows that time the library's probes with other constructor
parameters (``probe:key=value,...``, e.g. ``mlp:max_iter=100,lr=0.02``) against
the same scikit-learn results. Times of the whole curve are medians over
``--repeats`` rounds; within a round each budget is fitted by scikit-learn,
ours and every variant back to back (so load from other processes hits them
alike), with torch's default thread count unless ``--threads`` is given, and
each timed fit starts after ``--pause`` seconds of idle (default 0.5): OpenBLAS,
which scikit-learn's numpy uses, keeps its worker threads spinning for about
0.1 s after each call, which otherwise slows the next contender's first 0.1 s
on a 2-core machine (it added about 0.1 s to every batched fit of ours). The
1-minute load average before and after is saved. Results are printed as
Markdown tables and written to ``benchmarks/out/probes.json``; record them in
``docs/benchmarks.md``.

Usage: ``python benchmarks/bench_probes.py [--device auto] [--trials 10] [--repeats 3]
[--probes lr,mlp] [--variant mlp:max_iter=100] [--threads N]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from stcrl_core.data.budget import draw_trials
from stcrl_core.devices import resolve_device
from stcrl_core.eval.metrics import batched_overall_f1
from stcrl_core.eval.probes import PROBES

BUDGETS = (100, 200, 500, 1000, 2000)
CLASS_SHARES = (0.55, 0.15, 0.15, 0.15)  # no-damage, minor, major, destroyed


def make_features(
    n_pool: int = 8000, n_eval: int = 2000, dim: int = 512, rank: int = 12, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded synthetic features ``(x_pool, y_pool, x_eval, y_eval)``, float32 and int64.

    Class ``c`` has mean ``mu_c`` in a random ``rank``-dimensional subspace of
    the ``dim`` features; each row adds unit noise in that subspace and noise in
    all dimensions; every feature then gets its own scale and offset.
    """
    rng = np.random.default_rng(seed)
    n = n_pool + n_eval
    y = np.concatenate([
        rng.choice(4, size=n_pool, p=CLASS_SHARES), rng.choice(4, size=n_eval, p=CLASS_SHARES)
    ])  # fmt: skip
    basis, _ = np.linalg.qr(rng.normal(size=(dim, rank)))  # (dim, rank), orthonormal columns
    means = rng.normal(size=(4, rank))
    latent = means[y] + rng.normal(size=(n, rank))
    x = latent @ basis.T + rng.normal(size=(n, dim))
    x = x * rng.lognormal(0.0, 1.0, size=dim) + rng.normal(0.0, 2.0, size=dim)
    x = x.astype(np.float32)
    return x[:n_pool], y[:n_pool], x[n_pool:], y[n_pool:]


def sklearn_estimator(probe: str, trial: int) -> Any:
    """The scikit-learn baseline of a probe for one trial."""
    if probe == "lr":
        return LogisticRegression(C=1.0, max_iter=100)
    return MLPClassifier(hidden_layer_sizes=(100,), alpha=1e-4, max_iter=200, random_state=trial)


def fit_sklearn(probe: str, x: np.ndarray, y: np.ndarray, x_eval: np.ndarray) -> np.ndarray:
    """Scaler + scikit-learn fitted trial by trial; predictions ``(T, m)``."""
    rows = []
    for t in range(x.shape[0]):
        scaler = StandardScaler().fit(x[t])
        clf = sklearn_estimator(probe, t).fit(scaler.transform(x[t]), y[t])
        rows.append(clf.predict(scaler.transform(x_eval)))
    return np.stack(rows)


def fit_ours(
    probe: str, params: dict[str, Any], x: np.ndarray, y: np.ndarray, x_eval: np.ndarray,
    device: str,
) -> np.ndarray:  # fmt: skip
    """One batched fit and predict of all trials; predictions ``(T, m)``."""
    model = PROBES[probe](device=device, random_state=0, **params).fit(x, y)
    pred = model.predict(x_eval)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return pred


def mean_f1(y_eval: np.ndarray, preds: dict[int, np.ndarray]) -> dict[int, float]:
    """Mean overall F1 over trials, per budget."""
    return {b: float(batched_overall_f1(y_eval, p).mean()) for b, p in preds.items()}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"mlp:max_iter=100,lr=0.02"`` -> ``("mlp", {"max_iter": 100, "lr": 0.02})``."""
    probe, _, rest = text.partition(":")
    if probe not in PROBES:
        raise argparse.ArgumentTypeError(f"unknown probe {probe!r} in variant {text!r}")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:  # a word, e.g. precision=float32
            params[key] = value
            continue
        params[key] = int(number) if number.is_integer() and "." not in value else number
    return probe, params


def label(probe: str, params: dict[str, Any]) -> str:
    """Row label of a probe setting."""
    return probe + (" " + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    parser.add_argument("--trials", type=int, default=10, help="trials per budget (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per setting (median taken)")
    parser.add_argument("--probes", default="lr,mlp", help="probes to compare (default lr,mlp)")
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        default=[],
        help="also time ours with these parameters, e.g. mlp:max_iter=100 (repeatable)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.5,
        help="idle seconds before each timed fit, so that spinning BLAS threads of the "
        "previous one settle (default 0.5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data and draws (default 0)")
    parser.add_argument("--out", default="benchmarks/out", help="where results go")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    x_pool, y_pool, x_eval, y_eval = make_features(seed=args.seed)
    subsets = {}
    for budget in BUDGETS:
        idx = draw_trials(y_pool, budget, args.trials, args.seed).indices
        subsets[budget] = (x_pool[idx], y_pool[idx])
    results: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "data": {"pool": x_pool.shape, "eval": x_eval.shape, "class_shares": CLASS_SHARES},
        "budgets": BUDGETS,
        "trials": args.trials,
        "repeats": args.repeats,
        "pause_s": args.pause,
        "loadavg_before": os.getloadavg()[0],
        "probes": {},
    }
    probes = [p for p in args.probes.split(",") if p]
    for probe in probes:
        # Settings timed back to back on each budget, so that load from other
        # processes hits all of them alike: the baseline, ours, then variants.
        settings: list[dict[str, Any] | None] = [None, {}]
        settings += [params for vprobe, params in args.variant if vprobe == probe]
        x, y = subsets[BUDGETS[0]]
        fit_ours(probe, {}, x, y, x_eval, device)  # warm-up
        seconds = [{b: [] for b in BUDGETS} for _ in settings]
        preds: list[dict[int, np.ndarray]] = [{} for _ in settings]
        for _ in range(args.repeats):
            for budget, (x, y) in subsets.items():
                for i, params in enumerate(settings):
                    time.sleep(args.pause)
                    start = time.perf_counter()
                    if params is None:
                        preds[i][budget] = fit_sklearn(probe, x, y, x_eval)
                    else:
                        preds[i][budget] = fit_ours(probe, params, x, y, x_eval, device)
                    seconds[i][budget].append(time.perf_counter() - start)
        rows = []
        for i, params in enumerate(settings):
            totals = [sum(seconds[i][b][r] for b in BUDGETS) for r in range(args.repeats)]
            rows.append({
                "params": params,
                "seconds": statistics.median(totals),
                "all_seconds": totals,
                "seconds_per_budget": {b: statistics.median(seconds[i][b]) for b in BUDGETS},
                "f1": mean_f1(y_eval, preds[i]),
            })  # fmt: skip
        base = rows[0]
        for row in rows[1:]:
            row["speedup"] = base["seconds"] / row["seconds"]
            row["max_abs_f1_diff"] = max(abs(row["f1"][b] - base["f1"][b]) for b in BUDGETS)
        results["probes"][probe] = {"sklearn": base, "ours": rows[1], "variants": rows[2:]}
    results["loadavg_after"] = os.getloadavg()[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probes.json").write_text(json.dumps(results, indent=2))

    print(f"\nmachine: {results['machine']}; date: {results['date']}; device {device}, "
          f"{results['torch_threads']} torch threads; load avg {results['loadavg_before']:.2f} "
          f"-> {results['loadavg_after']:.2f}\n")  # fmt: skip
    print(f"Whole curve ({len(BUDGETS)} budgets x {args.trials} trials), median of "
          f"{args.repeats}; baseline = scikit-learn, one fit per trial:\n")  # fmt: skip
    print("| probe | scikit-learn s (baseline) | ours s | speedup vs baseline | max abs F1 diff |")
    print("|---|---|---|---|---|")
    for probe, e in results["probes"].items():
        for v in [e["ours"], *e["variants"]]:
            sk, name = e["sklearn"]["seconds"], label(probe, v["params"])
            print(f"| {name} | {sk:.2f} | {v['seconds']:.2f} | {v['speedup']:.1f}x | "
                  f"{v['max_abs_f1_diff']:.3f} |")  # fmt: skip
    print("\nMean overall F1 over trials, per budget (scikit-learn / ours):\n")
    print("| probe | " + " | ".join(f"n={b}" for b in BUDGETS) + " | max abs diff |")
    print("|---|" + "---|" * (len(BUDGETS) + 1))
    for probe, e in results["probes"].items():
        sk = e["sklearn"]["f1"]
        for v in [e["ours"], *e["variants"]]:
            cells = " | ".join(f"{sk[b]:.3f} / {v['f1'][b]:.3f}" for b in BUDGETS)
            print(f"| {label(probe, v['params'])} | {cells} | {v['max_abs_f1_diff']:.3f} |")
    print(
        "\nSeconds per budget, median (scikit-learn: all trials one by one; ours: one batched "
        "fit + predict of all trials):\n"
    )
    print("| probe | " + " | ".join(f"n={b}" for b in BUDGETS) + " |")
    print("|---|" + "---|" * len(BUDGETS))
    for probe, e in results["probes"].items():
        for name, v in [(f"{probe} scikit-learn", e["sklearn"])] + [
            (label(probe, v["params"]), v) for v in [e["ours"], *e["variants"]]
        ]:
            per = v["seconds_per_budget"]
            print(f"| {name} | " + " | ".join(f"{per[b]:.2f}" for b in BUDGETS) + " |")


if __name__ == "__main__":
    main()
