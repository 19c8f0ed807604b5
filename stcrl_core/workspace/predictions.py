"""Damage predictions, ``predictions/<name>.parquet`` and ``predictions/<name>.json``.

The table has ``uid``, ``row``, ``pred``, ``confidence``, ``proba_0`` ..
``proba_3``, one row per building; the JSON file the settings and scores of
the probe that made it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from stcrl_core.errors import WorkspaceError
from stcrl_core.workspace.atomic import atomic_write_json, atomic_write_parquet
from stcrl_core.workspace.rows import check_rows

if TYPE_CHECKING:
    from stcrl_core.workspace.store import Workspace


def prediction_path(workspace: Workspace, name: str) -> Path:
    """``predictions/<name>.parquet``."""
    return workspace.predictions_dir / f"{name}.parquet"


def list_predictions(workspace: Workspace) -> list[str]:
    """Names of the stored damage predictions, sorted."""
    folder = workspace.predictions_dir
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []


def write_prediction(
    workspace: Workspace, name: str, table: pd.DataFrame, meta: dict[str, Any]
) -> None:
    """Write a prediction's table and metadata (each atomically)."""
    atomic_write_parquet(prediction_path(workspace, name), table)
    atomic_write_json(workspace.predictions_dir / f"{name}.json", meta)


def read_prediction(workspace: Workspace, name: str) -> pd.DataFrame:
    """A stored prediction, checked against the building count.

    Raises:
        WorkspaceError: If there is none of that name, or it no longer lines up
            with the buildings (re-ingested since).
    """
    path = prediction_path(workspace, name)
    if not path.exists():
        raise WorkspaceError(f"no prediction {name!r} in {workspace.path}; run `stcrl predict`")
    table = pd.read_parquet(path)
    check_rows(path, len(table), workspace.building_count(), "buildings",
               "re-run `stcrl predict`")  # fmt: skip
    return table


def read_prediction_meta(workspace: Workspace, name: str) -> dict[str, Any]:
    """The metadata (``<name>.json``) of a stored prediction."""
    path = workspace.predictions_dir / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))
