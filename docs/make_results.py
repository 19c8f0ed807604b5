"""Rebuild ``docs/results.md`` from the commands it shows (``make results``).

Every table of ``docs/results.md`` comes from this script, which runs the
``stcrl`` commands the page lists (through :func:`stcrl_core.cli.main`, the
command line's own entry point) on demo builds of several seeds, reads what
they wrote into the workspaces and renders the page. Nothing is typed in:
two runs on one machine give the same page, except for the date
(``tests/test_results_page.py`` builds a tiny version twice and compares).

Usage::

    .venv/bin/python docs/make_results.py [--seeds 0,1,2] [--root results-workspace]
        [--out docs/results.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "docs"))
BUDGETS = (40, 100, 200, 400)
CLASS_NAMES = ("no-damage", "minor", "major", "destroyed")


@dataclass
class ResultsPlan:
    """What the page is made of (the real page: the defaults)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    demo_args: tuple[str, ...] = ()  # extra `stcrl demo` options (the test's tiny build)
    budgets: tuple[int, ...] = BUDGETS
    trials: int = 5
    extra_budget: bool = True  # the probes x features experiment
    active_learning: bool = True  # the strategies section (benchmarks/active_learning_demo.py)
    commands: list[list[str]] = field(default_factory=list)


def run(plan: ResultsPlan, argv: Sequence[str]) -> None:
    """Run one ``stcrl`` command line (recorded for the page)."""
    from stcrl_core.cli import main

    plan.commands.append(["stcrl", *argv])
    status = main(list(argv))
    if status != 0:
        raise SystemExit(f"make_results: `stcrl {' '.join(argv)}` failed with status {status}")


def mean_sd(values: Sequence[float]) -> str:
    """``mean ± sd`` over seeds (population sd), three decimals."""
    arr = np.asarray(values, dtype=float)
    return f"{arr.mean():.3f} ± {arr.std():.3f}"


def curves_of(ws: Path, exp_id: str) -> pd.DataFrame:
    """An experiment's mean overall F1 per run, probe and budget (over its trials)."""
    return pd.read_csv(ws / "experiments" / exp_id / "curves.csv")


def newest_experiment(ws: Path, runs: str, probes: str, features: str) -> str:
    """The id of the experiment of these settings (the one the last command wrote)."""
    best = None
    for path in (ws / "experiments").glob("*/results.json"):
        config = json.loads(path.read_text())["config"]
        same = (",".join(config["runs"]), ",".join(config["probes"]), config["features"]) == (
            runs,
            probes,
            features,
        )
        if same and (best is None or path.stat().st_mtime > best.stat().st_mtime):
            best = path
    if best is None:
        raise SystemExit(f"make_results: no experiment of {runs} / {probes} / {features} in {ws}")
    return best.parent.name


def at(curves: pd.DataFrame, run: str, probe: str, budget: int) -> float:
    sel = curves[(curves["run"] == run) & (curves["probe"] == probe) & (curves["budget"] == budget)]
    return float(sel["mean"].iloc[0])


def build_seed(plan: ResultsPlan, root: Path, seed: int) -> dict[str, Any]:
    """One demo build and its extra experiment; what the page needs from it.

    A rerun on an existing root reuses what ``stcrl demo`` built (it keeps its
    artifacts), so an interrupted ``make results`` continues where it stopped.
    """
    ws = root / f"demo-s{seed}"
    run(
        plan,
        [
            "demo",
            "--workspace",
            str(ws),
            "--data",
            str(root / f"data-s{seed}"),
            "--seed",
            str(seed),
            *plan.demo_args,
        ],
    )
    summary = json.loads((ws / "demo.json").read_text())
    demo_exp = summary["results"]["experiment"]
    out: dict[str, Any] = {"seed": seed, "summary": summary, "demo": curves_of(ws, demo_exp)}
    report = json.loads((ws / "objects" / "ingest_report.json").read_text())
    table = pd.read_parquet(ws / "objects" / "buildings.parquet")
    out["data"] = {
        "buildings": report["buildings"],
        "per_class": {
            name: int((table["damage"] == c).sum()) for c, name in enumerate(CLASS_NAMES)
        },
        "unclassified": int((table["damage"] < 0).sum()),
        "train": int((table["split"].isin(["train", "tier3"]) & (table["damage"] >= 0)).sum()),
        "eval": int((table["split"].isin(["test", "hold"]) & (table["damage"] >= 0)).sum()),
    }
    if plan.extra_budget:
        budgets = ",".join(str(b) for b in plan.budgets)
        for features in ("post", "pre+post"):
            run(
                plan,
                [
                    "budget",
                    "--workspace",
                    str(ws),
                    "--runs",
                    "stcrl,untrained",
                    "--probes",
                    "lr,mlp",
                    "--features",
                    features,
                    "--budgets",
                    budgets,
                    "--trials",
                    str(plan.trials),
                    "--device",
                    "cpu",
                ],
            )
            exp = newest_experiment(ws, "stcrl,untrained", "lr,mlp", features)
            out[f"extra {features}"] = curves_of(ws, exp)
    out["best"] = json.loads((ws / "predictions" / "best.json").read_text())
    return out


def claims_table(results: list[dict[str, Any]], budgets: Sequence[int]) -> list[str]:
    """The seeds' claims: each measured per seed, mean ± sd, and whether it holds."""
    hi = budgets[-1]
    mid = 100 if 100 in budgets else budgets[0]  # the claim's 100 labels
    stcrl_gap = [
        at(r["demo"], "stcrl", "lr", hi) - at(r["demo"], "untrained", "lr", hi) for r in results
    ]
    csp_gaps = {
        b: [at(r["demo"], "csp+loc", "lr", b) - at(r["demo"], "stcrl", "lr", b) for r in results]
        for b in (mid, hi)
    }
    rows = [
        "| claim (seed paper) | measured per seed | mean ± sd | holds on the mean? |",
        "|---|---|---|---|",
    ]

    def row(name: str, values: list[float], threshold: float) -> None:
        per_seed = ", ".join(f"{v:+.3f}" for v in values)
        verdict = "yes" if np.mean(values) >= threshold else "**no**"
        rows.append(f"| {name} | {per_seed} | {mean_sd(values)} | {verdict} |")

    row(f"ST-CRL + LR minus untrained + LR at {hi} labels >= 0.05 (000)", stcrl_gap, 0.05)
    for k in sorted({k for r in results for k in r["summary"]["results"]["experts"]}):
        gaps = []
        for r in results:
            iou = r["summary"]["results"]["experts"][k]["overall_iou"]
            gaps.append(iou["routed experts"] - iou["single network"])
        row(f"routed experts minus single network, k = {k}, IoU >= 0 (001)", gaps, 0.0)
    for b, gaps in csp_gaps.items():
        row(f"CSP image + location minus image alone at {b} labels >= 0.02 (002)", gaps, 0.02)
    return rows


def curves_table(
    results: list[dict[str, Any]],
    key: str,
    series: list[tuple[str, str, str]],
    budgets: Sequence[int],
) -> list[str]:
    """Budget x series table of the overall F1, mean ± sd over seeds."""
    head = "| budget | " + " | ".join(label for label, _, _ in series) + " |"
    rows = [head, "|---|" + "---|" * len(series)]
    for b in budgets:
        cells = [
            mean_sd([at(r[key], run_, probe, b) for r in results]) for _, run_, probe in series
        ]
        rows.append(f"| {b} | " + " | ".join(cells) + " |")
    return rows


def render(plan: ResultsPlan, results: list[dict[str, Any]], machine: str) -> str:
    """The whole page."""
    seeds = ", ".join(str(r["seed"]) for r in results)
    lines = [
        "# Results on the demo data",
        "",
        "Every table below was produced by the commands listed under each heading, run by",
        "`make results` (`docs/make_results.py`), on the generated xBD-format demo data",
        f"(`stcrl demo`, seeds {seeds}: the data and every training differ by seed). Means and",
        "standard deviations are over the seeds; each seed's value is itself the mean over",
        f"its {plan.trials} class-balanced trials. The numbers come from generated data, not",
        "from real xBD (see `docs/benchmarks.md`, sim-to-real, for how that data compares",
        f"with real scenes), and only compare methods with each other. Machine: {machine}.",
        "",
        "## The data",
        "",
        "| seed | buildings | no-damage | minor | major | destroyed | un-classified "
        "| train + tier3 | test + hold |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        d = r["data"]
        pc = d["per_class"]
        lines.append(
            f"| {r['seed']} | {d['buildings']} | {pc['no-damage']} | {pc['minor']} | "
            f"{pc['major']} | {pc['destroyed']} | {d['unclassified']} | {d['train']} | "
            f"{d['eval']} |"
        )
    lines += ["", "Commands, for each seed S:", "", "```bash"]
    first = results[0]["seed"]
    for command in plan.commands:
        text = " ".join(command)
        if f"demo-s{first}" not in text:
            continue
        for path in sorted({a for a in command if "/" in a}, key=len, reverse=True):
            shown = Path(path)
            shown = shown.relative_to(REPO) if shown.is_relative_to(REPO) else Path(shown.name)
            text = text.replace(path, str(shown))
        lines.append(text.replace(f"-s{first}", "-sS").replace(f"--seed {first}", "--seed S"))
    lines += ["```", "", "## The seeds' claims", ""]
    lines += claims_table(results, plan.budgets)
    lines += [
        "",
        "A claim that fails is reported as it is: the demo data is tuned to behave like the",
        "real scenes (sim-to-real), not to make the methods look good.",
        "",
        "## Label-budget curves of the demo experiment",
        "",
        "Overall F1 (harmonic mean of the four class F1s) of a logistic-regression probe on",
        "the post-disaster features, on test + hold; `csp+loc` multiplies the probe's",
        "P(y | image) by CSP's location prior P(y | loc) on the same trials.",
        "",
    ]
    lines += curves_table(
        results,
        "demo",
        [
            ("ST-CRL + LR", "stcrl", "lr"),
            ("untrained + LR", "untrained", "lr"),
            ("ST-CRL + CSP location prior", "csp+loc", "lr"),
        ],
        plan.budgets,
    )
    if plan.extra_budget:
        for features in ("post", "pre+post"):
            lines += ["", f"## Probes on {features} features", ""]
            lines += curves_table(
                results,
                f"extra {features}",
                [
                    ("ST-CRL + LR", "stcrl", "lr"),
                    ("ST-CRL + MLP", "stcrl", "mlp"),
                    ("untrained + LR", "untrained", "lr"),
                    ("untrained + MLP", "untrained", "mlp"),
                ],
                plan.budgets,
            )
    lines += [
        "",
        "## Expert segmentation networks (overall IoU, val patches)",
        "",
        "| k | seed | routed experts | single network | random expert |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for k, v in sorted(r["summary"]["results"]["experts"].items()):
            iou = v["overall_iou"]
            lines.append(
                f"| {k} | {r['seed']} | {iou['routed experts']:.2f} | "
                f"{iou['single network']:.2f} | {iou['random expert']:.2f} |"
            )
    lines += [
        "",
        "## The map's model",
        "",
        "| seed | chosen (of) | validation F1 | test + hold F1 |",
        "|---|---|---|---|",
    ]
    for r in results:
        sel = r["best"]["selection"]
        lines.append(
            f"| {r['seed']} | {sel['chosen']} (of {len(sel['candidates'])}) | "
            f"{sel['validation_f1']:.3f} | {r['best']['eval_overall_f1']:.3f} |"
        )
    lines += [
        "",
        "## Build time",
        "",
        "These builds may run side by side with other work, so their stage times are not",
        "a measure of speed: the demo's build time from nothing on a quiet machine is",
        "measured by `benchmarks/bench_demo.py` (`docs/benchmarks.md`, demo build time).",
    ]
    return "\n".join(lines) + "\n"


def build_results(
    plan: ResultsPlan, root: Path, out: Path, extra: Callable[[Path], None] | None = None
) -> str:
    """Build every seed, render the page into ``out``; returns the page."""
    from stcrl_core.workspace.atomic import atomic_write_text

    root.mkdir(parents=True, exist_ok=True)
    results = [build_seed(plan, root, seed) for seed in plan.seeds]
    machine = f"{platform.machine()}, {time.strftime('%Y-%m-%d')}"
    page = render(plan, results, machine)
    atomic_write_text(out, page)
    if extra is not None:
        extra(root / f"demo-s{plan.seeds[0]}")
    return page


def main() -> None:
    """``make results``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--root", type=Path, default=REPO / "results-workspace")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results.md")
    args = parser.parse_args()
    plan = ResultsPlan(seeds=tuple(int(s) for s in args.seeds.split(",")))

    def active_learning(ws: Path) -> None:
        script = REPO / "benchmarks" / "active_learning_demo.py"
        if script.exists():
            import subprocess

            subprocess.run(
                [sys.executable, str(script), "--workspace", str(ws), "--write-docs"], check=True
            )

    build_results(plan, args.root, args.out, active_learning if plan.active_learning else None)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
