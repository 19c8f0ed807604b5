"""What the label-budget page shows of experiments: curves, per-class F1, confusion,
and how long a new experiment will take."""

from __future__ import annotations

from typing import Any

import pandas as pd

from stcrl_core.eval.metrics import DAMAGE_CLASS_NAMES
from stcrl_core.eval.report import with_strategy

# Seconds per trial, per labelled building, measured on a 2-core CPU
# (benchmarks/bench_probes.py, bench_pretrain.py); a GPU is far faster.
COST_PER_LABEL = {"lr": 1e-5, "mlp": 1e-5, "finetune": 0.13, "supervised": 0.13}


ACTIVE_STEP_SECONDS = 0.05  # per simulated step and trial (selection fit + prediction)


def estimate_seconds(
    probes: list[str], budgets: list[int], trials: int, runs: int, epochs: int,
    strategies: list[str] | None = None, step: int = 20,
) -> float:  # fmt: skip
    """Rough seconds of an experiment on a 2-core CPU (the measured costs above)."""
    strategies = strategies or ["random-balanced"]
    active = [s for s in strategies if s in ("uncertainty", "diversity", "hybrid")]
    steps = max(budgets) / step if budgets else 0
    total = len(active) * max(runs, 1) * trials * steps * ACTIVE_STEP_SECONDS
    for probe in probes:
        per = COST_PER_LABEL[probe] * (epochs if probe in ("finetune", "supervised") else 1)
        copies = 1 if probe == "supervised" else max(runs, 1)
        per_strategy = copies * trials * sum(budgets) * per + copies * len(budgets) * 0.05
        total += per_strategy * len(strategies)
    return total


def curve_figure(curves: pd.DataFrame) -> Any:
    """Plotly figure of mean F1 against budget with a band of one standard deviation."""
    import plotly.graph_objects as go

    fig = go.Figure()
    curves = with_strategy(curves)
    several = curves["strategy"].nunique() > 1
    keys = ["experiment", "run", "probe", "strategy"]
    for (label, run, probe, strategy), part in curves.groupby(keys, sort=True):
        part = part.sort_values("budget")
        name = f"{run} · {probe}" + (f" · {strategy}" if several else "")
        name += f" ({label})" if curves["experiment"].nunique() > 1 else ""
        upper, lower = part["mean"] + part["std"], part["mean"] - part["std"]
        fig.add_trace(
            go.Scatter(
                x=list(part["budget"]) + list(part["budget"])[::-1],
                y=list(upper) + list(lower)[::-1],
                fill="toself",
                opacity=0.15,
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(go.Scatter(x=part["budget"], y=part["mean"], mode="lines+markers", name=name))
    fig.update_layout(
        xaxis={
            "title": "labelled training buildings"
            + (" (class-balanced)" if set(curves["strategy"]) == {"random-balanced"} else ""),
            "type": "log",
            "tickvals": sorted(curves["budget"].unique().tolist()),
        },
        yaxis={"title": "overall F1 (harmonic mean of 4 classes)"},
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def per_class_table(records: pd.DataFrame, budgets: list[int]) -> pd.DataFrame:
    """Per-class and overall F1 (mean ± std over trials) of each run, probe, strategy, budget."""
    rows = []
    keys = ["run", "probe", "strategy", "budget"]
    for (run, probe, strategy, budget), part in with_strategy(records).groupby(keys):
        if budget not in budgets:
            continue
        f1 = pd.DataFrame(part["f1"].tolist(), columns=list(DAMAGE_CLASS_NAMES))
        row = {"run": run, "probe": probe, "strategy": strategy, "budget": budget}
        for name in DAMAGE_CLASS_NAMES:
            row[name] = f"{f1[name].mean():.3f} ± {f1[name].std(ddof=0):.3f}"
        row["overall"] = f"{part['overall_f1'].mean():.3f} ± {part['overall_f1'].std(ddof=0):.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def summed_confusion(part: pd.DataFrame) -> pd.DataFrame:
    """The confusion matrices of some trials, summed, with class labels."""
    matrix = sum(pd.DataFrame(c).to_numpy() for c in part["confusion"])
    names = list(DAMAGE_CLASS_NAMES)
    return pd.DataFrame(
        matrix, index=[f"true {n}" for n in names], columns=[f"pred {n}" for n in names]
    )
