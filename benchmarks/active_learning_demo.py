"""Active learning on a demo workspace: one label-budget curve per strategy.

Runs ``stcrl budget --strategy random-balanced,random,uncertainty,diversity,hybrid``
(through :func:`stcrl_core.cli.main`, the command line's own entry point) on a
workspace built by ``stcrl demo`` (runs ``stcrl`` and ``untrained`` with
embeddings), then tabulates the mean overall F1 (± sd over trials) of every
run, strategy and budget and, at ``--at`` labels (default 200), each run's
best active strategy (uncertainty, diversity or hybrid) against natural random
sampling (``random``) and against the paper's class-balanced draws
(``random-balanced``, which assume the labels are known before sampling).
The active strategies simulate an analyst labelling what the strategy
suggests, with the ground truth as the answers, from a k-means cold start.

``--write-docs`` rewrites the ``active-learning`` section of
``docs/results.md`` (``make results`` calls it on the first seed's demo).

Usage: ``python benchmarks/active_learning_demo.py --workspace demo-workspace
[--runs stcrl,untrained] [--budgets 40,100,200,400] [--trials 10] [--at 200] [--write-docs]``
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
STRATEGIES = ("random-balanced", "random", "uncertainty", "diversity", "hybrid")
ACTIVE = ("uncertainty", "diversity", "hybrid")


def run_experiment(args: argparse.Namespace) -> tuple[list[str], pd.DataFrame, dict]:
    """Run the budget command; returns its argv, the trial records and the stored result.

    The result's ``reused`` is True when the command found the experiment stored already
    (it then returns at once, so the time taken says nothing about the experiment).
    """
    from stcrl_core.cli import main

    before = {p.parent.name for p in (Path(args.workspace) / "experiments").glob("*/results.json")}

    argv = ["budget", "--workspace", str(args.workspace), "--runs", args.runs, "--probes", "lr",
            "--budgets", args.budgets, "--trials", str(args.trials), "--features", args.features,
            "--strategy", ",".join(STRATEGIES), "--seed", str(args.seed)]  # fmt: skip
    if main(argv) != 0:
        raise SystemExit(f"active_learning_demo: `stcrl {' '.join(argv)}` failed")
    wanted = {"runs": args.runs.split(","), "strategies": list(STRATEGIES), "probes": ["lr"],
              "budgets": sorted(int(b) for b in args.budgets.split(",")),
              "trials": args.trials, "features": args.features, "seed": args.seed}  # fmt: skip
    for path in sorted((Path(args.workspace) / "experiments").glob("*/results.json")):
        result = json.loads(path.read_text())
        if all(result["config"].get(k) == v for k, v in wanted.items()):
            result["reused"] = path.parent.name in before
            return argv, pd.DataFrame(result["records"]), result
    raise SystemExit("active_learning_demo: the experiment's results were not found")


def curve_table(records: pd.DataFrame) -> str:
    """Markdown: mean ± sd of the overall F1 per run and strategy (rows) and budget (columns)."""
    budgets = sorted(records["budget"].unique())
    lines = ["| run | strategy | " + " | ".join(f"{b} labels" for b in budgets) + " |",
             "|---|---|" + "---|" * len(budgets)]  # fmt: skip
    for run in sorted(records["run"].unique()):
        for strategy in STRATEGIES:
            part = records[(records["run"] == run) & (records["strategy"] == strategy)]
            cells = []
            for b in budgets:
                f1 = part[part["budget"] == b]["overall_f1"]
                cells.append(f"{f1.mean():.3f} ± {f1.std(ddof=0):.3f}")
            lines.append(f"| {run} | {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def claims(records: pd.DataFrame, at: int) -> tuple[str, list[dict]]:
    """Markdown: per run, the best active strategy at ``at`` labels against both random ones.

    The standard error of a difference of means is that of two independent samples
    (every strategy draws its own trials): ``sqrt(sd_a^2 / n_a + sd_b^2 / n_b)``.
    """
    rows = []
    at_budget = records[records["budget"] == at]
    groups = at_budget.groupby(["run", "strategy"])["overall_f1"]
    mean, var, count = groups.mean(), groups.var(ddof=1), groups.count()

    def se(run: str, a: str, b: str) -> float:
        return float((var[(run, a)] / count[(run, a)] + var[(run, b)] / count[(run, b)]) ** 0.5)

    for run in sorted(at_budget["run"].unique()):
        best = max(ACTIVE, key=lambda s: mean[(run, s)])
        rows.append({"run": run, "best": best, "f1": mean[(run, best)],
                     "random": mean[(run, "random")],
                     "balanced": mean[(run, "random-balanced")],
                     "se_random": se(run, best, "random"),
                     "se_balanced": se(run, best, "random-balanced")})  # fmt: skip
    lines = [f"| run | best active strategy at {at} labels | its F1 | minus random (± se) | "
             "minus random-balanced (± se) |", "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['run']} | {r['best']} | {r['f1']:.3f} | {r['f1'] - r['random']:+.3f} "
                     f"± {r['se_random']:.3f} | {r['f1'] - r['balanced']:+.3f} "
                     f"± {r['se_balanced']:.3f} |")  # fmt: skip
    return "\n".join(lines), rows


def main() -> None:
    """Run the experiment, print the tables, optionally rewrite the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--runs", default="stcrl,untrained")
    parser.add_argument("--budgets", default="40,100,200,400")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--features", default="post")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--at", type=int, default=200)
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite the active-learning section of docs/results.md")  # fmt: skip
    args = parser.parse_args()
    start = time.perf_counter()
    argv, records, result = run_experiment(args)
    seconds = time.perf_counter() - start
    table = curve_table(records)
    summary, rows = claims(records, args.at)
    print(table + "\n\n" + summary)
    if not args.write_docs:
        return
    sys.path.insert(0, str(REPO / "docs"))
    from doc_sections import replace_section

    wins = [r["run"] for r in rows if r["f1"] > r["random"]]
    clear = [r["run"] for r in rows if r["f1"] - r["random"] > 2 * r["se_random"]]
    verdict = (
        f"At {args.at} labels the best active strategy beats natural random sampling for "
        f"{', '.join(wins) if wins else 'no run'} (of {', '.join(r['run'] for r in rows)}); "
        f"by more than two standard errors for {', '.join(clear) if clear else 'no run'}."
    )
    timing = (
        "a stored result, reused (not timed), from " if result["reused"] else f"{seconds:.0f} s on "
    )
    body = "\n".join([
        "## Active learning: one curve per strategy",
        "",
        f"Command: `stcrl {' '.join(argv).replace(str(args.workspace), args.workspace.name)}` "
        f"on `{args.workspace.name}` "
        f"({result['eval_buildings']} test + hold buildings scored; experiment {result['id']}; "
        + timing + f"{platform.machine()}, ran on {result['device']}, "
        f"{time.strftime('%Y-%m-%d')}). random-balanced is the paper's protocol (class-balanced "
        "draws: it knows the labels before sampling); random samples with the natural class "
        "mix; uncertainty, diversity and hybrid simulate an analyst labelling what the strategy "
        f"suggests (ground truth as the answers), {result['config']['active_start']} k-means "
        f"cold-start labels, then {result['config']['active_step']} per step. Overall F1 (mean "
        "± sd over trials):",
        "",
        table,
        "",
        summary,
        "",
        verdict,
    ])  # fmt: skip
    command = "benchmarks/active_learning_demo.py --write-docs"
    replace_section(REPO / "docs" / "results.md", "active-learning", command, body)


if __name__ == "__main__":
    main()
