"""Expert segmentation networks, ``experts/<id>/``::

    config.json            ExpertsConfig + id + single_id
    centroids.npy          float32 k x D k-means centres (of L2-normalised embeddings)
    expert_<c>.pt          state dict of expert c's U-Net
    single.pt              state dict of the U-Net trained on all training patches
    assignments.parquet    row, cluster, expert, dist_0 .. dist_{k-1}
    table.csv              the paper's Tables 1 and 2 layout
    metrics.json           the same numbers unrounded, and per-expert details

A run is built in a hidden folder and swapped in complete; ``metrics.json``
marks a finished one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from stcrl_core.errors import StcrlError

if TYPE_CHECKING:
    from stcrl_core.workspace.store import Workspace

CONFIG, METRICS, TABLE = "config.json", "metrics.json", "table.csv"
ASSIGNMENTS, CENTROIDS, SINGLE = "assignments.parquet", "centroids.npy", "single.pt"


class ExpertsError(StcrlError):
    """An experts run cannot be started or loaded as asked."""


def expert_file(c: int) -> str:
    """File name of expert ``c``'s state dict."""
    return f"expert_{c}.pt"


def experts_run_dir(workspace: Workspace, exp_id: str) -> Path:
    """``experts/<id>/``."""
    return workspace.experts_dir / exp_id


def finished_experts(workspace: Workspace) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(folder, config)`` of every finished experts run, by id."""
    for path in sorted(workspace.experts_dir.glob(f"*/{METRICS}")):
        yield path.parent, json.loads((path.parent / CONFIG).read_text(encoding="utf-8"))


def read_experts(workspace: Workspace, exp_id: str) -> dict[str, Any]:
    """A finished run's ``config``, ``metrics``, ``table`` and ``assignments``.

    Raises:
        ExpertsError: If the run does not exist.
    """
    folder = experts_run_dir(workspace, exp_id)
    if not (folder / METRICS).exists():
        raise ExpertsError(
            f"no experts run {exp_id!r} in {workspace.path}; train one with "
            f"`stcrl experts --workspace {workspace.path} --embedding RUN`"
        )
    return {
        "config": json.loads((folder / CONFIG).read_text(encoding="utf-8")),
        "metrics": json.loads((folder / METRICS).read_text(encoding="utf-8")),
        "table": pd.read_csv(folder / TABLE, index_col=0),
        "assignments": pd.read_parquet(folder / ASSIGNMENTS),
    }


def find_single_network(workspace: Workspace, single_id: str) -> Path | None:
    """``single.pt`` of any stored run with the same single-network settings, or None."""
    for folder, config in finished_experts(workspace):
        if config.get("single_id") == single_id and (folder / SINGLE).exists():
            return folder / SINGLE
    return None


def assignments_of(workspace: Workspace, embedding_run: str) -> dict[str, pd.DataFrame]:
    """The patch routing of every finished experts run on ``embedding_run``, by a label."""
    out = {}
    for folder, config in finished_experts(workspace):
        if config.get("embedding") == embedding_run and (folder / ASSIGNMENTS).exists():
            label = f"expert (k={config['k']}, {folder.name[:8]})"
            out[label] = pd.read_parquet(folder / ASSIGNMENTS)
    return out


def experts_run_stamp(workspace: Workspace, exp_id: str) -> float:
    """Modification time of a run's ``metrics.json`` (0 if unfinished), to key caches on."""
    path = experts_run_dir(workspace, exp_id) / METRICS
    return path.stat().st_mtime_ns if path.exists() else 0.0


def experts_stamp(workspace: Workspace) -> float:
    """Latest modification time under ``experts/`` (0 if none), to key caches on."""
    paths = list(workspace.experts_dir.glob(f"*/{METRICS}"))
    return max((p.stat().st_mtime_ns for p in paths), default=0.0)
