"""Stored 2-D projections, ``projections/<key>.npy`` and ``projections/<key>.json``.

The key is ``<run>-<view>-<method>-<hash of every setting>`` (made by
``stcrl_core.explore.projection``); the array is float32 ``N x 2`` with rows
aligned with the embeddings it projects; the JSON file holds the settings, the
row count and the seconds it took. A projection whose row count no longer
matches the workspace (re-ingested) counts as missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stcrl_core.workspace.atomic import atomic_save_npy, atomic_write_json

if TYPE_CHECKING:
    from stcrl_core.workspace.store import Workspace


def projection_path(workspace: Workspace, key: str) -> Path:
    """``projections/<key>.npy``."""
    return workspace.projections_dir / f"{key}.npy"


def read_projection(
    workspace: Workspace, key: str, rows: int
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """A stored projection and its metadata, or None if missing or of another row count.

    Args:
        workspace: The workspace.
        key: The projection's key.
        rows: The points it must have (buildings, or patches for patch views).
    """
    path = projection_path(workspace, key)
    meta_path = path.with_suffix(".json")
    if not (path.exists() and meta_path.exists()):
        return None
    coords = np.load(path)
    if coords.shape[0] != rows:
        return None
    return coords, json.loads(meta_path.read_text(encoding="utf-8"))


def write_projection(
    workspace: Workspace, key: str, coords: np.ndarray, meta: dict[str, Any]
) -> None:
    """Store a projection (array first, then its metadata; each atomically)."""
    path = projection_path(workspace, key)
    atomic_save_npy(path, coords)
    atomic_write_json(path.with_suffix(".json"), meta)
