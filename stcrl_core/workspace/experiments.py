"""Label-budget experiments, ``experiments/<id>/``::

    config.json    the configuration (plus what the id was computed from)
    results.json   every run, probe, budget and trial (scores, confusion matrices)
    curves.csv     mean and standard deviation of the overall F1 per budget
    curves.png     the curves as a chart
    table.csv      the paper's Table 1 layout at two budgets

An experiment is built in a hidden folder and swapped in complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from stcrl_core.errors import WorkspaceError
from stcrl_core.workspace.atomic import atomic_directory, atomic_path, atomic_write_json

if TYPE_CHECKING:
    from stcrl_core.workspace.store import Workspace

RESULTS, CONFIG, CURVES, CHART, TABLE = (
    "results.json", "config.json", "curves.csv", "curves.png", "table.csv"
)  # fmt: skip


def experiment_dir(workspace: Workspace, exp_id: str) -> Path:
    """``experiments/<id>/``."""
    return workspace.experiments_dir / exp_id


def has_experiment(workspace: Workspace, exp_id: str) -> bool:
    """Whether experiment ``exp_id`` has finished."""
    return (experiment_dir(workspace, exp_id) / RESULTS).exists()


def list_experiments(workspace: Workspace) -> list[str]:
    """Ids of the finished experiments, newest first."""
    paths = workspace.experiments_dir.glob(f"*/{RESULTS}")
    return [p.parent.name for p in sorted(paths, key=lambda p: p.stat().st_mtime, reverse=True)]


def read_experiment(workspace: Workspace, exp_id: str) -> dict[str, Any]:
    """``results.json`` of a finished experiment.

    Raises:
        WorkspaceError: If there is no such experiment.
    """
    path = experiment_dir(workspace, exp_id) / RESULTS
    if not path.exists():
        raise WorkspaceError(f"no experiment {exp_id!r} in {workspace.path}; run `stcrl budget`")
    return json.loads(path.read_text(encoding="utf-8"))


def experiment_stamp(workspace: Workspace, exp_id: str) -> float:
    """Modification time of an experiment's results (0 if missing), to key caches on."""
    path = experiment_dir(workspace, exp_id) / RESULTS
    return path.stat().st_mtime_ns if path.exists() else 0.0


def experiment_chart(workspace: Workspace, exp_id: str) -> Path:
    """``curves.png`` of an experiment."""
    return experiment_dir(workspace, exp_id) / CHART


def write_experiment(
    workspace: Workspace,
    exp_id: str,
    config: dict[str, Any],
    results: dict[str, Any],
    curves: pd.DataFrame,
    table: pd.DataFrame,
    draw_chart: Callable[[Path], None],
) -> Path:
    """Write a finished experiment's files into a hidden folder and swap it in.

    Args:
        workspace: The workspace.
        exp_id: The experiment's id.
        config: ``config.json``.
        results: ``results.json``.
        curves: ``curves.csv`` (written without the index).
        table: ``table.csv``.
        draw_chart: Draws ``curves.png`` at the path it is given.

    Returns:
        The experiment's folder.
    """
    folder = experiment_dir(workspace, exp_id)
    with atomic_directory(folder) as tmp:
        atomic_write_json(tmp / CONFIG, config)
        atomic_write_json(tmp / RESULTS, results)
        with atomic_path(tmp / CURVES) as path:
            curves.to_csv(path, index=False)
        with atomic_path(tmp / TABLE) as path:
            table.to_csv(path)
        draw_chart(tmp / CHART)
    return folder
