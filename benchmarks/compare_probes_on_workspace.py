"""F1 of the batched probes against scikit-learn on a workspace's real embeddings.

``bench_probes.py`` times the probes on synthetic features; this script checks
their agreement with scikit-learn on the frozen embeddings of trained runs:
for each run and probe, the mean overall F1 over class-balanced trials
(``draw_trials`` on the training buildings, every trial scored on all test +
hold buildings) of scikit-learn fitted trial by trial (the benchmark's
``fit_sklearn``) and of ours (one batched fit, ``fit_ours``), per budget.

Usage: ``python benchmarks/compare_probes_on_workspace.py --workspace WS
[--runs stcrl,untrained] [--budgets 40,100,200,400] [--trials 10]
[--features post]``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_probes import fit_ours, fit_sklearn

from stcrl_core.data.budget import draw_trials, training_and_eval_rows
from stcrl_core.eval.features import run_features
from stcrl_core.eval.metrics import batched_overall_f1
from stcrl_core.workspace import Workspace


def main() -> None:
    """Print one Markdown row per run and probe."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", required=True, help="workspace with embedded runs")
    parser.add_argument("--runs", default="stcrl,untrained", help="runs (default stcrl,untrained)")
    parser.add_argument("--budgets", default="40,100,200,400", help="labels per trial")
    parser.add_argument("--trials", type=int, default=10, help="trials per budget (default 10)")
    parser.add_argument("--features", default="post", help="feature mode (default post)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # scikit-learn's convergence warnings
    table = Workspace.open(args.workspace).buildings()
    train, evaluation = training_and_eval_rows(table)
    y = table["damage"].to_numpy()
    budgets = [int(b) for b in args.budgets.split(",")]
    print("| features | probe | " + " | ".join(f"n={b}" for b in budgets) + " | max abs diff |")
    print("|---|---|" + "---|" * (len(budgets) + 1))
    for run in args.runs.split(","):
        X = run_features(args.workspace, run, args.features).astype(np.float32)
        x_eval, y_eval = X[evaluation], y[evaluation]
        for probe in ("lr", "mlp"):
            cells, diffs, seconds = [], [], [0.0, 0.0]
            for budget in budgets:
                idx = train[draw_trials(y[train], budget, args.trials, args.seed).indices]
                start = time.perf_counter()
                theirs = fit_sklearn(probe, X[idx], y[idx], x_eval)
                seconds[0] += time.perf_counter() - start
                start = time.perf_counter()
                ours = fit_ours(probe, {}, X[idx], y[idx], x_eval, "cpu")
                seconds[1] += time.perf_counter() - start
                f_theirs = batched_overall_f1(y_eval, theirs).mean()
                f_ours = batched_overall_f1(y_eval, ours).mean()
                cells.append(f"{f_theirs:.3f} / {f_ours:.3f}")
                diffs.append(abs(f_theirs - f_ours))
            print(f"| {run} | {probe} | " + " | ".join(cells) + f" | {max(diffs):.3f} |"
                  f"  (scikit-learn {seconds[0]:.1f} s, ours {seconds[1]:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
