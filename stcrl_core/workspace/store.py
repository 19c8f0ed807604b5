"""The workspace handle: the folder, ``workspace.json`` and the top-level layout.

Every artifact's folder is a property here; the files inside each folder are
named, read and written by the module of that artifact in this package
(``runs``, ``embeddings``, ``objects``, ``patches``, ``predictions``,
``projections``, ``experiments``, ``experts``, ``jobs``, ``labels``). ``workspace.json`` is
shared by every process working in the workspace, so each change to it is a
read-modify-write under :func:`~stcrl_core.workspace.locks.shared_file_lock`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stcrl_core.errors import WorkspaceError
from stcrl_core.workspace.atomic import atomic_directory, atomic_write_json
from stcrl_core.workspace.locks import exclusive_work, shared_file_lock
from stcrl_core.workspace.objects import ObjectsFiles

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

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

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
        with shared_file_lock(ws.manifest_path):
            if not ws.manifest_path.exists():
                atomic_write_json(
                    ws.manifest_path,
                    {"format_version": FORMAT_VERSION, "created": _now(), "ingests": {},
                     "runs": []},
                )  # fmt: skip
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
                f"`stcrl ingest-xbd --root DATA --workspace {ws.path}`"
            )
        if not ws.manifest_path.exists():
            raise WorkspaceError(
                f"{ws.path} is not a workspace (no {MANIFEST}); create one with "
                f"`stcrl ingest-xbd --root DATA --workspace {ws.path}`"
            )
        ws.read_manifest()
        return ws

    @classmethod
    def of(cls, workspace: Workspace | str | os.PathLike[str]) -> Workspace:
        """``workspace`` itself when it is an opened workspace, else :meth:`open` it."""
        return workspace if isinstance(workspace, Workspace) else cls.open(workspace)

    # -- folders -------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        """Path of ``workspace.json``."""
        return self.path / MANIFEST

    @property
    def objects_dir(self) -> Path:
        """Directory of the xBD-obj building objects."""
        return self.path / "objects"

    @property
    def objects(self) -> ObjectsFiles:
        """The files of the building objects (``objects/``)."""
        return ObjectsFiles(self.objects_dir)

    @property
    def runs_dir(self) -> Path:
        """Directory of training runs."""
        return self.path / "runs"

    def run_dir(self, run: str) -> Path:
        """Folder of one run (see :mod:`stcrl_core.workspace.runs` for its files)."""
        return self.runs_dir / run

    @property
    def patches_dir(self) -> Path:
        """Directory of the segmentation patch store."""
        return self.path / "patches"

    @property
    def experiments_dir(self) -> Path:
        """Directory of label-budget experiments."""
        return self.path / "experiments"

    @property
    def predictions_dir(self) -> Path:
        """Directory of damage predictions."""
        return self.path / "predictions"

    @property
    def projections_dir(self) -> Path:
        """Directory of stored 2-D projections."""
        return self.path / "projections"

    @property
    def experts_dir(self) -> Path:
        """Directory of expert segmentation networks."""
        return self.path / "experts"

    @property
    def sources_dir(self) -> Path:
        """``sources/``: input files kept in the workspace (the app's uploads, the generated
        GeoTIFF demo event); an ingest reads them, nothing else writes there."""
        return self.path / "sources"

    @property
    def demo_summary_path(self) -> Path:
        """``demo.json``: what ``stcrl demo`` built, with its stage times."""
        return self.path / "demo.json"

    @property
    def jobs_dir(self) -> Path:
        """Directory of the background-job registry."""
        return self.path / "jobs"

    @property
    def labels_dir(self) -> Path:
        """Directory of the analyst's labels and validation samples."""
        return self.path / "labels"

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

    def edit_manifest(self, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``edit`` to ``workspace.json`` as one locked read-modify-write.

        Args:
            edit: Changes the manifest dict in place.

        Returns:
            The manifest as written.
        """
        with shared_file_lock(self.manifest_path):
            data = self.read_manifest()
            edit(data)
            data["updated"] = _now()
            atomic_write_json(self.manifest_path, data)
        return data

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        """Set top-level keys of ``workspace.json`` (locked, atomic) and return it."""
        return self.edit_manifest(lambda data: data.update(changes))

    def register_run(self, entry: dict[str, Any]) -> None:
        """Add (or replace, by ``entry["name"]``) a run in the manifest's ``runs``."""

        def edit(data: dict[str, Any]) -> None:
            runs = [r for r in data.get("runs", []) if r.get("name") != entry["name"]]
            data["runs"] = [*runs, entry]

        self.edit_manifest(edit)

    def record_ingest(
        self, key: str, entry: dict[str, Any], replaces: tuple[str, ...] = ()
    ) -> None:
        """Record an ingest under ``ingests[key]``, dropping the ``replaces`` entries."""

        def edit(data: dict[str, Any]) -> None:
            ingests = {k: v for k, v in data.get("ingests", {}).items() if k not in replaces}
            data["ingests"] = {**ingests, key: entry}

        self.edit_manifest(edit)

    def runs(self) -> list[dict[str, Any]]:
        """The manifest's runs (name, method, arch and the summary of their training)."""
        return list(self.read_manifest().get("runs", []))

    def run_names(self) -> set[str]:
        """Names of the runs registered in the manifest."""
        return {r["name"] for r in self.runs()}

    # -- building objects ----------------------------------------------------
    def has_objects(self) -> bool:
        """Whether an xBD-obj ingest has completed in this workspace."""
        return self.objects.buildings.exists()

    def _require_objects(self) -> None:
        if not self.has_objects():
            raise WorkspaceError(
                f"{self.path} holds no building objects yet; run "
                f"`stcrl ingest-xbd --root DATA --workspace {self.path}` first"
            )

    def buildings(self) -> pd.DataFrame:
        """The building table (``objects/buildings.parquet``)."""
        self._require_objects()
        return pd.read_parquet(self.objects.buildings)

    def building_count(self) -> int:
        """Rows of the building table (read from the Parquet footer, not the table)."""
        import pyarrow.parquet as pq

        self._require_objects()
        return int(pq.ParquetFile(self.objects.buildings).metadata.num_rows)

    def crops(self, which: str) -> np.ndarray:
        """Memory-mapped crops, ``which`` in ``{"pre", "post"}`` (N x S x S x 3 uint8)."""
        if which not in ("pre", "post"):
            raise ValueError(f"which must be 'pre' or 'post', got {which!r}")
        self._require_objects()
        return np.load(self.objects.crops(which), mmap_mode="r")

    def ingest_report(self) -> dict[str, Any]:
        """The ingest report (``objects/ingest_report.json``)."""
        self._require_objects()
        return json.loads(self.objects.report.read_text(encoding="utf-8"))

    @contextlib.contextmanager
    def building_objects(self) -> Iterator[ObjectsFiles]:
        """Build a new ``objects/`` in a hidden folder; swap it in when the block succeeds.

        One ingest at a time per workspace: a second one fails at once. Any
        ingest (xBD, GeoTIFF) writes its files through the yielded names.

        Raises:
            WorkspaceError: If another ingest is running in the workspace.
        """
        with (
            exclusive_work(self.path, "ingest", "ingest"),
            atomic_directory(self.objects_dir) as tmp,
        ):
            yield ObjectsFiles(tmp)

    def scenes(self) -> pd.DataFrame:
        """``objects/scenes.parquet`` (an empty frame for workspaces ingested before it)."""
        path = self.objects.scenes_table
        return pd.read_parquet(path) if path.exists() else pd.DataFrame()
