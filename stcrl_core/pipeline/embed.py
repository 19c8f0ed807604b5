"""The embedding step: a trained run's embeddings, written by its method's embed hook.

A run of a crop encoder gets ``embeddings_{pre,post}.npy``, a CSP run also
``embeddings_loc.npy`` (and, with ``grid``, ``location_grid.npz`` for the
map), a triplet run ``embeddings_patch.npy``, a CSP run on patches
``embeddings_patchloc.npy``; ``embeddings.json`` says what was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stcrl_core.errors import RunError
from stcrl_core.methods.config import read_run_config
from stcrl_core.methods.registry import get_method
from stcrl_core.pipeline.settings import given
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.runs import write_embeddings_info


def embed(
    workspace: Workspace | str | Path,
    run: str,
    batch_size: int = 256,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Write a run's embeddings and ``embeddings.json``.

    Args:
        workspace: The workspace.
        run: A run with a checkpoint.
        batch_size: Crops (or patches) per forward pass.
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: ``progress(done, total, message)`` callback.

    Returns:
        What ``embeddings.json`` holds: ``rows``, ``dim``, ``files`` (plus
        ``loc_dim`` for CSP; ``kind`` ``patch`` or ``patchloc`` for runs on patches).
    """
    ws = Workspace.of(workspace)
    config = read_run_config(ws, run)
    info = get_method(config.method).embed(ws, run, config, batch_size, device, progress)
    write_embeddings_info(ws, run, info)
    return info


def run_embed(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """The step: ``run`` (required), ``batch_size``, ``device``; ``grid`` (and
    ``grid_step``) also writes a CSP run's location grid.

    Raises:
        RunError: ``grid`` for a CSP run on the scene patches (refused before embedding).
        ValueError: ``grid_step`` without ``grid``.
    """
    from stcrl_core.maps.location_layer import patch_grid_refusal, write_location_grid

    options = given(settings)
    run, grid = options.pop("run"), bool(options.pop("grid", False))
    step = options.pop("grid_step", None)
    if step is not None and not grid:
        raise ValueError("--grid-step sets the spacing of --grid; add --grid")
    ws = Workspace.of(workspace)
    if grid and read_run_config(ws, run).subject == "patches":
        raise RunError(patch_grid_refusal(run))
    info = embed(ws, run, progress=progress, **options)
    if grid:
        device = options.get("device", "auto")
        info = {**info, "grid": write_location_grid(ws, run, step, device, progress)}
    return info
