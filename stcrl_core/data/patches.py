"""Segmentation patches: the tiling grid, the counts of a patch table, training
batches (:class:`PatchImages`) and single uploaded patches.

The store itself (``WS/patches/``: its files, reader and writer) is
:mod:`stcrl_core.workspace.patches`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from stcrl_core.errors import StcrlError
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.patches import load_patches

SOURCES = ("inria", "xbd")


def patch_grid(height: int, width: int, patch: int) -> list[tuple[int, int]]:
    """Top-left corners ``(x0, y0)`` of the non-overlapping ``patch`` squares of a tile.

    Row-major; a partial square at the right or bottom edge is left out.
    """
    return [
        (x0, y0)
        for y0 in range(0, height - patch + 1, patch)
        for x0 in range(0, width - patch + 1, patch)
    ]


def location_codes(table: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The sorted location names of a patch table and each row's int64 code into them."""
    codes, names = pd.factorize(table["location"], sort=True)
    return [str(n) for n in names], codes.astype(np.int64)


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

    def __init__(self, workspace: Workspace | str | Path) -> None:
        workspace = Workspace.of(workspace)
        self.table, self.images, self.masks = load_patches(workspace)
        self.locations, self.labels = location_codes(self.table)

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
