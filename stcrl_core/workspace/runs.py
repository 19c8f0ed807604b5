"""The files of a training run, ``runs/<name>/``::

    config.json          everything needed to reproduce the run
    checkpoint.pt        state dicts only (model, optimiser, scheduler, RNG, epoch, metrics)
    metrics.jsonl        one line per epoch
    embeddings_<view>.npy, embeddings.json   see :mod:`stcrl_core.workspace.embeddings`
    location_grid.npz    a CSP run's location embedding on a lon/lat grid (``embed --grid``)

The workspace layer reads ``config.json`` as a plain dict; the method layer
turns it into a ``PretrainConfig`` (``stcrl_core.methods.config``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stcrl_core.errors import RunError
from stcrl_core.workspace.atomic import atomic_path, atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from stcrl_core.workspace.store import Workspace

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
EMBEDDINGS_INFO = "embeddings.json"
LOCATION_GRID = "location_grid.npz"


class RunFiles:
    """Names of the files of one run folder.

    Args:
        folder: ``runs/<name>/``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.name = self.folder.name

    @property
    def config(self) -> Path:
        """``config.json``."""
        return self.folder / CONFIG

    @property
    def checkpoint(self) -> Path:
        """``checkpoint.pt``."""
        return self.folder / CHECKPOINT

    @property
    def metrics(self) -> Path:
        """``metrics.jsonl``."""
        return self.folder / METRICS

    @property
    def embeddings_info(self) -> Path:
        """``embeddings.json``: what ``stcrl embed`` wrote."""
        return self.folder / EMBEDDINGS_INFO

    @property
    def location_grid(self) -> Path:
        """``location_grid.npz``."""
        return self.folder / LOCATION_GRID

    def embeddings(self, view: str) -> Path:
        """``embeddings_<view>.npy``."""
        return self.folder / f"embeddings_{view}.npy"


def run_files(workspace: Workspace, run: str) -> RunFiles:
    """The files of run ``run``."""
    return RunFiles(workspace.run_dir(run))


def runs_with(workspace: Workspace, filename: str) -> list[str]:
    """Names of the runs that have ``filename`` in their folder, sorted."""
    if not workspace.runs_dir.exists():
        return []
    return sorted(p.parent.name for p in workspace.runs_dir.glob(f"*/{filename}"))


def read_run_config_dict(workspace: Workspace, run: str) -> dict[str, Any]:
    """``config.json`` of an existing run, as written.

    Raises:
        RunError: If the run does not exist (the message lists the runs there are).
    """
    path = run_files(workspace, run).config
    if not path.exists():
        known = runs_with(workspace, CONFIG)
        raise RunError(
            f"no run {run!r} in {workspace.path} (runs: {', '.join(known) or 'none'}); "
            f"train one with `stcrl pretrain --workspace {workspace.path} --run {run}`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def write_run_config(workspace: Workspace, run: str, config: dict[str, Any]) -> None:
    """Write ``config.json`` of a run."""
    atomic_write_json(run_files(workspace, run).config, config)


def write_metrics(workspace: Workspace, run: str, lines: list[dict[str, Any]]) -> None:
    """Write ``metrics.jsonl`` of a run (one JSON object per line)."""
    text = "".join(json.dumps(line) + "\n" for line in lines)
    atomic_write_text(run_files(workspace, run).metrics, text)


def read_metrics(workspace: Workspace, run: str) -> list[dict[str, Any]]:
    """The lines of ``metrics.jsonl`` of a run ([] before its first epoch)."""
    path = run_files(workspace, run).metrics
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save a checkpoint (state dicts and plain values only) atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(workspace: Workspace, run: str, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint of a run, loaded with ``weights_only=True``.

    Raises:
        RunError: If the run has no checkpoint yet.
    """
    import torch

    path = run_files(workspace, run).checkpoint
    if not path.exists():
        raise RunError(f"run {run!r} has no checkpoint yet ({path}); train it first")
    return torch.load(path, map_location=map_location, weights_only=True)


def write_embeddings_info(workspace: Workspace, run: str, info: dict[str, Any]) -> None:
    """Write ``embeddings.json`` of a run (what its embeddings hold)."""
    atomic_write_json(run_files(workspace, run).embeddings_info, info)
