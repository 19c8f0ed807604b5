"""The segmentation patch store, ``patches/``::

    patches/patches.parquet   row, patch_id, source ("inria" | "xbd"), location
                              (city or event), split ("train" | "val"), tile (source
                              file stem), x0, y0 (pixel offset in the tile), lon, lat
                              (patch centre, WGS84), crs (the tile's CRS)
    patches/images.npy        uint8 N x P x P x 3 (memory-mapped)
    patches/masks.npy         uint8 N x P x P (1 building, 0 other)
    patches/report.json       what was ingested and every skipped tile

The store is built in a hidden folder of the workspace and swapped into place
when complete (:class:`PatchStoreWriter`), so an interrupted ingest leaves the
previous store (or none) untouched. Each ingest replaces the whole store.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from stcrl_core.errors import StcrlError
from stcrl_core.workspace.atomic import atomic_write_json, atomic_write_parquet, replace_directory

if TYPE_CHECKING:
    from stcrl_core.workspace.store import Workspace

COLUMNS = ("row", "patch_id", "source", "location", "split", "tile", "x0", "y0", "lon", "lat",
           "crs")  # fmt: skip
TABLE, IMAGES, MASKS, REPORT = "patches.parquet", "images.npy", "masks.npy", "report.json"


class PatchStoreError(StcrlError):
    """The patch store is missing or does not match what is asked."""


def patch_table_path(workspace: Workspace) -> Path:
    """``patches/patches.parquet``."""
    return workspace.patches_dir / TABLE


def patch_report_path(workspace: Workspace) -> Path:
    """``patches/report.json``."""
    return workspace.patches_dir / REPORT


def has_patches(workspace: Workspace) -> bool:
    """Whether a patch ingest has completed in the workspace."""
    return patch_table_path(workspace).exists()


def _require_patches(workspace: Workspace) -> None:
    if not has_patches(workspace):
        raise PatchStoreError(
            f"{workspace.path} holds no segmentation patches yet; run "
            f"`stcrl ingest-inria --root DIR --workspace {workspace.path}` or "
            f"`stcrl patches --from-objects --workspace {workspace.path}`"
        )


def load_patches(workspace: Workspace) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The patch table and the memory-mapped image and mask arrays.

    Returns:
        ``(table, images (N, P, P, 3) uint8, masks (N, P, P) uint8)``; row i of the
        arrays is the table row with ``row == i``.

    Raises:
        PatchStoreError: If the workspace holds no patches yet, or they are inconsistent.
    """
    _require_patches(workspace)
    folder = workspace.patches_dir
    table = pd.read_parquet(folder / TABLE)
    images = np.load(folder / IMAGES, mmap_mode="r")
    masks = np.load(folder / MASKS, mmap_mode="r")
    if not len(table) == len(images) == len(masks):
        raise PatchStoreError(
            f"{folder} is inconsistent ({len(table)} rows, {len(images)} images, "
            f"{len(masks)} masks); re-run the patch ingest"
        )
    return table, images, masks


def patch_count(workspace: Workspace) -> int:
    """Rows of the patch table (read from the Parquet footer).

    Raises:
        PatchStoreError: If the workspace holds no patches yet.
    """
    import pyarrow.parquet as pq

    _require_patches(workspace)
    return int(pq.ParquetFile(patch_table_path(workspace)).metadata.num_rows)


def patch_report(workspace: Workspace) -> dict[str, Any]:
    """The report of the last patch ingest (``patches/report.json``)."""
    _require_patches(workspace)
    return json.loads(patch_report_path(workspace).read_text(encoding="utf-8"))


class PatchStoreWriter:
    """Builds a new patch store in a hidden folder and swaps it in on :meth:`commit`.

    Args:
        workspace: The workspace (must exist).
        rows: Number of patches allocated (rows never written are dropped at commit).
        patch: Patch side in pixels.
    """

    def __init__(self, workspace: Workspace, rows: int, patch: int) -> None:
        self.workspace = workspace
        self.patch = patch
        for stale in workspace.path.glob(".patches-tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        self.tmp = workspace.path / f".patches-tmp-{os.getpid()}"
        self.tmp.mkdir()
        self.images = np.lib.format.open_memmap(
            self.tmp / IMAGES, mode="w+", dtype=np.uint8, shape=(rows, patch, patch, 3)
        )
        self.masks = np.lib.format.open_memmap(
            self.tmp / MASKS, mode="w+", dtype=np.uint8, shape=(rows, patch, patch)
        )
        self.written = np.zeros(rows, dtype=bool)

    def put(self, row: int, image: np.ndarray, mask: np.ndarray) -> None:
        """Write one patch (``P x P x 3`` image, ``P x P`` mask of 0/1) into ``row``."""
        self.images[row] = image
        self.masks[row] = mask
        self.written[row] = True

    def commit(self, records: list[dict[str, Any]], report: dict[str, Any]) -> pd.DataFrame:
        """Write the table and report and move the store into ``WS/patches/``.

        Args:
            records: One dict per allocated row (``COLUMNS`` minus ``row``), in row
                order; those of rows never written are dropped (and the arrays
                compacted).
            report: The ingest report (written as ``report.json``).

        Returns:
            The patch table.
        """
        if len(records) != len(self.written):
            raise ValueError(f"{len(records)} records for {len(self.written)} allocated patch rows")
        self.images.flush()
        self.masks.flush()
        keep = np.flatnonzero(self.written)
        if len(keep) < len(self.written):
            for name, array in ((IMAGES, self.images), (MASKS, self.masks)):
                compact = np.lib.format.open_memmap(
                    self.tmp / f"compact_{name}",
                    mode="w+",
                    dtype=np.uint8,
                    shape=(len(keep), *array.shape[1:]),
                )
                for start in range(0, len(keep), 1024):
                    compact[start : start + 1024] = array[keep[start : start + 1024]]
                compact.flush()
                del compact
                os.replace(self.tmp / f"compact_{name}", self.tmp / name)
        del self.images, self.masks
        table = pd.DataFrame.from_records([records[i] for i in keep])
        table.insert(0, "row", np.arange(len(table), dtype=np.int64))
        table = table[list(COLUMNS)]
        for col in ("x0", "y0"):
            table[col] = table[col].astype(np.int32)
        atomic_write_parquet(self.tmp / TABLE, table)
        atomic_write_json(self.tmp / REPORT, report)
        replace_directory(self.tmp, self.workspace.patches_dir)
        return table

    def abort(self) -> None:
        """Remove the half-built store."""
        shutil.rmtree(self.tmp, ignore_errors=True)
