"""The segmentation patch store: ``WS/patches/``.

One square image patch with its building mask and location per row::

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from stcrl_core.atomic import atomic_path, atomic_write_json, replace_directory
from stcrl_core.errors import StcrlError
from stcrl_core.workspace import Workspace

COLUMNS = ("row", "patch_id", "source", "location", "split", "tile", "x0", "y0", "lon", "lat",
           "crs")  # fmt: skip
SOURCES = ("inria", "xbd")


class PatchStoreError(StcrlError):
    """The patch store is missing or does not match what is asked."""


def patches_dir(workspace: Workspace) -> Path:
    """Folder of the patch store."""
    return workspace.path / "patches"


def has_patches(workspace: str | Path | Workspace) -> bool:
    """Whether a patch ingest has completed in the workspace."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    return (patches_dir(ws) / "patches.parquet").exists()


def load_patches(workspace: str | Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The patch table and the memory-mapped image and mask arrays.

    Returns:
        ``(table, images (N, P, P, 3) uint8, masks (N, P, P) uint8)``; row i of the
        arrays is the table row with ``row == i``.

    Raises:
        PatchStoreError: If the workspace holds no patches yet.
    """
    ws = Workspace.open(workspace)
    folder = patches_dir(ws)
    if not has_patches(ws):
        raise PatchStoreError(
            f"{ws.path} holds no segmentation patches yet; run "
            f"`stcrl ingest-inria --root DIR --workspace {ws.path}` or "
            f"`stcrl patches --from-objects --workspace {ws.path}`"
        )
    table = pd.read_parquet(folder / "patches.parquet")
    images = np.load(folder / "images.npy", mmap_mode="r")
    masks = np.load(folder / "masks.npy", mmap_mode="r")
    if not len(table) == len(images) == len(masks):
        raise PatchStoreError(
            f"{folder} is inconsistent ({len(table)} rows, {len(images)} images, "
            f"{len(masks)} masks); re-run the patch ingest"
        )
    return table, images, masks


def patch_report(workspace: str | Path) -> dict[str, Any]:
    """The report of the last patch ingest (``patches/report.json``)."""
    ws = Workspace.open(workspace)
    load_patches(ws.path)  # clear error when missing
    return json.loads((patches_dir(ws) / "report.json").read_text(encoding="utf-8"))


def patch_grid(height: int, width: int, patch: int) -> list[tuple[int, int]]:
    """Top-left corners ``(x0, y0)`` of the non-overlapping ``patch`` squares of a tile.

    Row-major; a partial square at the right or bottom edge is left out.
    """
    return [
        (x0, y0)
        for y0 in range(0, height - patch + 1, patch)
        for x0 in range(0, width - patch + 1, patch)
    ]


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
            self.tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(rows, patch, patch, 3)
        )
        self.masks = np.lib.format.open_memmap(
            self.tmp / "masks.npy", mode="w+", dtype=np.uint8, shape=(rows, patch, patch)
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
            for name, array in (("images", self.images), ("masks", self.masks)):
                compact = np.lib.format.open_memmap(
                    self.tmp / f"compact_{name}.npy",
                    mode="w+",
                    dtype=np.uint8,
                    shape=(len(keep), *array.shape[1:]),
                )
                for start in range(0, len(keep), 1024):
                    compact[start : start + 1024] = array[keep[start : start + 1024]]
                compact.flush()
                del compact
                os.replace(self.tmp / f"compact_{name}.npy", self.tmp / f"{name}.npy")
        del self.images, self.masks
        table = pd.DataFrame.from_records([records[i] for i in keep])
        table.insert(0, "row", np.arange(len(table), dtype=np.int64))
        table = table[list(COLUMNS)]
        for col in ("x0", "y0"):
            table[col] = table[col].astype(np.int32)
        with atomic_path(self.tmp / "patches.parquet") as tmp_path:
            table.to_parquet(tmp_path, index=False)
        atomic_write_json(self.tmp / "report.json", report)
        replace_directory(self.tmp, patches_dir(self.workspace))
        return table

    def abort(self) -> None:
        """Remove the half-built store."""
        shutil.rmtree(self.tmp, ignore_errors=True)


def summarise(table: pd.DataFrame) -> dict[str, Any]:
    """Counts of a patch table for the report and the manifest."""
    per = table.groupby(["location", "split"]).size().unstack(fill_value=0)
    return {
        "patches": len(table),
        "patches_per_split": table["split"].value_counts().sort_index().astype(int).to_dict(),
        "patches_per_location": {
            loc: {k: int(v) for k, v in row.items()} for loc, row in per.iterrows()
        },
    }


class PatchImages(Dataset):
    """The patches of a workspace for training: batches of images, masks and locations.

    Like :class:`stcrl_core.data.datasets.BuildingCrops`, ``__getitem__`` takes an
    array of rows and returns a whole batch.

    Args:
        workspace: A workspace with a patch store.

    Attributes:
        table: The patch table.
        locations: Location names, sorted; ``labels`` index into it.
        labels: ``(N,)`` int64 location code of every patch.
    """

    def __init__(self, workspace: str | Path | Workspace) -> None:
        path = workspace.path if isinstance(workspace, Workspace) else workspace
        self.table, self.images, self.masks = load_patches(path)
        codes, names = pd.factorize(self.table["location"], sort=True)
        self.locations: list[str] = [str(n) for n in names]
        self.labels = codes.astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, rows: np.ndarray | Sequence[int]) -> dict[str, torch.Tensor]:
        """A batch: ``image`` (B, P, P, 3) uint8, ``mask`` (B, P, P), ``location``, ``row``."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        sorted_rows = rows[order]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(self.images[sorted_rows][inverse])),
            "mask": torch.from_numpy(np.ascontiguousarray(self.masks[sorted_rows][inverse])),
            "location": torch.from_numpy(self.labels[rows]),
            "row": torch.from_numpy(rows),
        }


def image_from_bytes(data: bytes, name: str) -> np.ndarray:
    """Decode an uploaded image (PNG, JPEG or GeoTIFF) to ``H x W x 3`` uint8.

    GeoTIFFs are read with rasterio (the first three bands; one band is repeated
    to grey); other formats with PIL.

    Raises:
        StcrlError: If the bytes are not a readable image, naming the file.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    if name.lower().endswith((".tif", ".tiff")):
        from rasterio.errors import RasterioError
        from rasterio.io import MemoryFile

        try:
            with MemoryFile(data) as mem, mem.open() as src:
                bands = src.read(list(range(1, min(src.count, 3) + 1)))
        except (RasterioError, OSError, ValueError) as exc:
            raise StcrlError(
                f"{name} is not a readable GeoTIFF ({exc}); upload a PNG or GeoTIFF"
            ) from exc
        if bands.dtype != np.uint8:
            lo, hi = float(bands.min()), float(bands.max())
            bands = ((bands - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8)
        image = np.moveaxis(bands, 0, -1)
        return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise StcrlError(
            f"{name} is not a readable image ({exc}); upload a PNG or GeoTIFF"
        ) from exc


def fit_to_patch(image: np.ndarray, patch: int) -> tuple[np.ndarray, str]:
    """Make an image one ``patch x patch`` patch: the centre cut when it is big enough
    (the pixel size is kept), else resized up.

    Returns:
        The patch and a sentence saying what was done.
    """
    from PIL import Image

    height, width = image.shape[:2]
    if height >= patch and width >= patch:
        y0, x0 = (height - patch) // 2, (width - patch) // 2
        note = (
            "used as is"
            if (height, width) == (patch, patch)
            else f"cut the central {patch} x {patch} px of the {width} x {height} px image"
        )
        return np.ascontiguousarray(image[y0 : y0 + patch, x0 : x0 + patch]), note
    resized = Image.fromarray(image).resize((patch, patch), Image.Resampling.BILINEAR)
    note = (
        f"resized the {width} x {height} px image up to {patch} x {patch} px "
        "(smaller than a patch: buildings look larger than in training)"
    )
    return np.asarray(resized, dtype=np.uint8), note
