"""A run's embeddings: ``runs/<run>/embeddings_<view>.npy`` and ``embeddings.json``.

Views and what their rows are aligned with:

* ``pre``, ``post``: encoder features of the building crops (rows = buildings);
* ``loc``: a CSP run's location embedding of every building (rows = buildings);
* ``patch``: a triplet run's embedding of every segmentation patch (rows = patches);
* ``patchloc``: a CSP run's location embedding of every patch centre (rows = patches).

Each file is float32 ``N x D``, row i the building (or patch) with ``row == i``;
readers get a memory map checked against the current row count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stcrl_core.errors import RunError
from stcrl_core.workspace.patches import patch_count
from stcrl_core.workspace.rows import check_rows
from stcrl_core.workspace.runs import (
    EMBEDDINGS_INFO,
    read_run_config_dict,
    run_files,
    runs_with,
)

if TYPE_CHECKING:
    from stcrl_core.workspace.store import Workspace

BUILDING_VIEWS = ("pre", "post")  # image features of the building crops
LOCATION_VIEW = "loc"
PATCH_VIEW = "patch"
PATCH_LOCATION_VIEW = "patchloc"
ALL_VIEWS = (*BUILDING_VIEWS, LOCATION_VIEW, PATCH_VIEW, PATCH_LOCATION_VIEW)
PATCH_VIEWS = (PATCH_VIEW, PATCH_LOCATION_VIEW)  # rows aligned with the patch store


def view_rows(workspace: Workspace, view: str) -> int:
    """How many rows an array of ``view`` must have: patches or buildings."""
    return patch_count(workspace) if view in PATCH_VIEWS else workspace.building_count()


def available_views(workspace: Workspace, run: str) -> list[str]:
    """The embedding views a run has on disk, in the order of :data:`ALL_VIEWS`."""
    files = run_files(workspace, run)
    return [v for v in ALL_VIEWS if files.embeddings(v).exists()]


def embedded_runs(workspace: Workspace, buildings_only: bool = False) -> list[str]:
    """Names of the runs whose embeddings are written, sorted.

    Args:
        workspace: The workspace.
        buildings_only: Only runs with building features (``embeddings_post.npy``),
            not a run's patch embeddings.
    """
    return runs_with(workspace, "embeddings_post.npy" if buildings_only else EMBEDDINGS_INFO)


def _missing(workspace: Workspace, run: str, view: str) -> RunError:
    """The error for a view a run has not written, saying what makes it."""
    embed = f"`stcrl embed --workspace {workspace.path} --run {run}`"
    config = read_run_config_dict(workspace, run)  # also: a clear error for a missing run
    on_patches = config.get("method") == "csp" and config.get("subject") == "patches"
    if view == PATCH_LOCATION_VIEW and not on_patches:
        return RunError(
            f"run {run!r} has no patch location embeddings: only CSP runs on patches have "
            f"them (`stcrl pretrain --method csp --image-run TRIPLET_RUN --workspace "
            f"{workspace.path} --run NAME`)"
        )
    if on_patches and view in (*BUILDING_VIEWS, LOCATION_VIEW):
        return RunError(
            f"run {run!r} is a CSP run on the scene patches: it has no {view} embeddings "
            f"of the buildings, only {PATCH_LOCATION_VIEW} (one row per patch)"
        )
    if view == LOCATION_VIEW and config.get("method") != "csp":
        return RunError(
            f"run {run!r} has no location embeddings: only CSP runs have them "
            f"(`stcrl pretrain --method csp --workspace {workspace.path} --run NAME`)"
        )
    what = "patch embeddings" if view == PATCH_VIEW else "embeddings"
    return RunError(f"run {run!r} has no {what} yet; run {embed}")


def load_embeddings(workspace: Workspace, run: str, view: str) -> np.ndarray:
    """Memory-mapped embeddings of one view of a run, checked against the row count.

    Raises:
        ValueError: For an unknown view.
        RunError: If the run has no such embeddings or they no longer line up
            with the buildings (or patches): re-ingested since.
    """
    if view not in ALL_VIEWS:
        raise ValueError(f"view must be one of {', '.join(ALL_VIEWS)}, got {view!r}")
    path = run_files(workspace, run).embeddings(view)
    if not path.exists():
        raise _missing(workspace, run, view)
    arr = np.load(path, mmap_mode="r")
    what = "patches" if view in PATCH_VIEWS else "buildings"
    fix = f"re-run `stcrl embed --workspace {workspace.path} --run {run}`"
    check_rows(path, arr.shape[0], view_rows(workspace, view), what, fix, RunError)
    return arr
