"""Files of a label-budget experiment: curves (CSV and PNG) and the paper's Table 1."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stcrl_core.eval.metrics import DAMAGE_CLASS_NAMES
from stcrl_core.workspace.atomic import atomic_path

PROBE_LABELS = {"lr": "LR", "mlp": "MLP", "finetune": "fine-tuned", "supervised": "supervised"}
# The strategy of experiments written before there were strategies: the paper's protocol.
OLD_STRATEGY = "random-balanced"
KEYS = ["run", "probe", "strategy", "budget"]


def with_strategy(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``strategy`` column (``random-balanced`` where it had none)."""
    if "strategy" not in frame:
        frame = frame.assign(strategy=OLD_STRATEGY)
    return frame.assign(strategy=frame["strategy"].fillna(OLD_STRATEGY))


def results_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (run, probe, strategy, budget, trial) with overall and per-class F1."""
    rows = []
    for r in records:
        row = {k: r[k] for k in ("run", "probe", "budget", "trial", "overall_f1")}
        row["strategy"] = r.get("strategy", OLD_STRATEGY)
        for c, name in enumerate(DAMAGE_CLASS_NAMES):
            row[f"f1_{name}"] = r["f1"][c]
            row[f"precision_{name}"] = r["precision"][c]
            row[f"recall_{name}"] = r["recall"][c]
        rows.append(row)
    return pd.DataFrame(rows)


def curves_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of the overall F1 per run, probe, strategy and budget."""
    grouped = frame.groupby(KEYS, sort=True)["overall_f1"]
    out = grouped.agg(mean="mean", std=lambda s: s.std(ddof=0), trials="size").reset_index()
    return out


def table_frame(frame: pd.DataFrame, budgets: list[int]) -> pd.DataFrame:
    """The paper's Table 1: per-class F1 (mean +- std over trials) at chosen budgets."""
    columns = {}
    for (run, probe, strategy, budget), part in frame.groupby(KEYS, sort=True):
        if budget not in budgets:
            continue
        cells = {}
        for name in DAMAGE_CLASS_NAMES:
            s = part[f"f1_{name}"]
            cells[name] = f"{s.mean():.3f} ± {s.std(ddof=0):.3f}"
        s = part["overall_f1"]
        cells["overall"] = f"{s.mean():.3f} ± {s.std(ddof=0):.3f}"
        how = "" if strategy == OLD_STRATEGY else f" {strategy}"
        columns[f"{run} {PROBE_LABELS.get(probe, probe)}{how} n={budget}"] = cells
    table = pd.DataFrame(columns)
    table.index.name = "class"
    return table


def plot_curves(curves: pd.DataFrame, path: Path, title: str) -> None:
    """F1 against budget, one line per run and probe, a band of one std (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    curves = with_strategy(curves)
    several = curves["strategy"].nunique() > 1
    for (run, probe, strategy), part in curves.groupby(KEYS[:3], sort=True):
        label = f"{run} · {PROBE_LABELS.get(probe, probe)}" + (f" · {strategy}" if several else "")
        ax.plot(part["budget"], part["mean"], marker="o", label=label)
        ax.fill_between(
            part["budget"], part["mean"] - part["std"], part["mean"] + part["std"], alpha=0.2
        )
    ax.set_xscale("log")
    budgets = sorted(curves["budget"].unique())
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("labelled training buildings (class-balanced)")
    ax.set_ylabel("overall F1 (harmonic mean of 4 classes)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
