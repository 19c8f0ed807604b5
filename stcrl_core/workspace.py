"""The workspace: one self-describing directory that holds every artifact.

Layout (see ``docs/workspace.md``)::

    workspace.json                 format version, what was ingested, runs
    objects/buildings.parquet      one row per building object
    objects/crops_pre.npy          uint8 N x S x S x 3 (memory-mapped)
    objects/crops_post.npy
    objects/ingest_report.json     counts and every skipped item
    runs/<name>/ ...               training runs
    experiments/, projections/, experts/, predictions/

Every write goes through :mod:`stcrl_core.atomic`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stcrl_core.atomic import atomic_write_json
from stcrl_core.errors import WorkspaceError

FORMAT_VERSION = 1
MANIFEST = "workspace.json"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class Workspace:
    """Handle on a workspace directory.

    Use :meth:`open` for an existing workspace and :meth:`create` (which is
    idempotent) to make one.

    Args:
        path: The workspace directory.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- construction -------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Workspace:
        """Create a workspace at ``path`` (or open it if it already is one).

        Raises:
            WorkspaceError: If ``path`` is a file, or a non-empty directory that
                is not a workspace.
        """
        ws = cls(path)
        if ws.manifest_path.exists():
            ws.read_manifest()  # validates
            return ws
        if ws.path.exists() and not ws.path.is_dir():
            raise WorkspaceError(
                f"{ws.path} is a file, not a directory; choose another --workspace"
            )
        if ws.path.is_dir() and any(not p.name.startswith(".") for p in ws.path.iterdir()):
            raise WorkspaceError(
                f"{ws.path} is a non-empty directory without {MANIFEST}; "
                "point --workspace at an empty or new directory"
            )
        ws.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            ws.manifest_path,
            {"format_version": FORMAT_VERSION, "created": _now(), "ingests": {}, "runs": []},
        )
        return ws

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Workspace:
        """Open an existing workspace.

        Raises:
            WorkspaceError: If ``path`` has no valid ``workspace.json``.
        """
        ws = cls(path)
        if not ws.path.is_dir():
            raise WorkspaceError(
                f"workspace {ws.path} does not exist; create one with "
                "`stcrl ingest-xbd --root DATA --workspace {ws.path}`"
            )
        if not ws.manifest_path.exists():
            raise WorkspaceError(
                f"{ws.path} is not a workspace (no {MANIFEST}); create one with "
                f"`stcrl ingest-xbd --root DATA --workspace {ws.path}`"
            )
        ws.read_manifest()
        return ws

    # -- paths ---------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        """Path of ``workspace.json``."""
        return self.path / MANIFEST

    @property
    def objects_dir(self) -> Path:
        """Directory of the xBD-obj building objects."""
        return self.path / "objects"

    @property
    def runs_dir(self) -> Path:
        """Directory of training runs."""
        return self.path / "runs"

    # -- manifest ------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        """Read and validate ``workspace.json``.

        Raises:
            WorkspaceError: If it is not valid JSON or of an unknown version.
        """
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise WorkspaceError(
                f"{self.manifest_path} is unreadable ({exc}); restore it or re-run the ingest "
                "into a new workspace"
            ) from exc
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != FORMAT_VERSION:
            raise WorkspaceError(
                f"{self.manifest_path} has format_version {version!r}, this version of stcrl "
                f"reads {FORMAT_VERSION}; re-run the ingest into a new workspace"
            )
        return data

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into ``workspace.json`` (atomically) and return it."""
        data = self.read_manifest()
        data.update(changes)
        data["updated"] = _now()
        atomic_write_json(self.manifest_path, data)
        return data

    # -- building objects ----------------------------------------------------
    def has_objects(self) -> bool:
        """Whether an xBD-obj ingest has completed in this workspace."""
        return (self.objects_dir / "buildings.parquet").exists()

    def _require_objects(self) -> None:
        if not self.has_objects():
            raise WorkspaceError(
                f"{self.path} holds no building objects yet; run "
                f"`stcrl ingest-xbd --root DATA --workspace {self.path}` first"
            )

    def buildings(self) -> pd.DataFrame:
        """The building table (``objects/buildings.parquet``)."""
        self._require_objects()
        return pd.read_parquet(self.objects_dir / "buildings.parquet")

    def crops(self, which: str) -> np.ndarray:
        """Memory-mapped crops, ``which`` in ``{"pre", "post"}`` (N x S x S x 3 uint8)."""
        if which not in ("pre", "post"):
            raise ValueError(f"which must be 'pre' or 'post', got {which!r}")
        self._require_objects()
        return np.load(self.objects_dir / f"crops_{which}.npy", mmap_mode="r")

    def ingest_report(self) -> dict[str, Any]:
        """The ingest report (``objects/ingest_report.json``)."""
        self._require_objects()
        return json.loads((self.objects_dir / "ingest_report.json").read_text(encoding="utf-8"))
