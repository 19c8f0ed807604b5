"""The files of the building objects, ``objects/``, and how a new set is built.

An ingest (xBD or GeoTIFF) builds a complete new ``objects/`` in a hidden
sibling folder (``Workspace.building_objects``) and swaps it in at the end, so
an interrupted ingest leaves the previous objects (or none) untouched::

    objects/buildings.parquet      one row per building object
    objects/crops_pre.npy          uint8 N x S x S x 3, row i = building with row == i
    objects/crops_post.npy
    objects/ingest_report.json     counts and every skipped item
    objects/scenes.parquet         one row per scene
    objects/scenes/<scene>_{pre,post}.jpg   scene previews for the map
    objects/footprints.parquet     GeoTIFF ingests only: the footprint file as given
                                   (every row and column, its CRS) + stcrl_uid, stcrl_status

The crop arrays are written in place by the ingest's workers (``os.pwrite`` at
:func:`allocate_crops`'s offset), so memory stays flat in the number of buildings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import geopandas as gpd

PHASES = ("pre", "post")
# columns added to the copy of a footprint file (``footprints.parquet``)
FOOTPRINT_UID = "stcrl_uid"
FOOTPRINT_STATUS = "stcrl_status"
INGESTED = "ingested"


class ObjectsFiles:
    """Names of the files of one ``objects/`` folder (the live one or one being built).

    Args:
        folder: The folder.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @property
    def buildings(self) -> Path:
        """``buildings.parquet``."""
        return self.folder / "buildings.parquet"

    def crops(self, phase: str) -> Path:
        """``crops_<phase>.npy`` (``phase`` in ``pre``, ``post``)."""
        return self.folder / f"crops_{phase}.npy"

    @property
    def report(self) -> Path:
        """``ingest_report.json``."""
        return self.folder / "ingest_report.json"

    @property
    def scenes_table(self) -> Path:
        """``scenes.parquet``."""
        return self.folder / "scenes.parquet"

    @property
    def previews_dir(self) -> Path:
        """``scenes/``: the scene previews."""
        return self.folder / "scenes"

    def preview(self, scene: str, phase: str) -> Path:
        """The preview image of one scene and phase."""
        return self.previews_dir / f"{scene}_{phase}.jpg"

    def stored(self, relative: str) -> Path:
        """A path stored relative to the folder (``scenes.parquet``'s previews)."""
        return self.folder / relative

    @property
    def footprints(self) -> Path:
        """``footprints.parquet``: the source footprints of a GeoTIFF ingest."""
        return self.folder / "footprints.parquet"


def allocate_crops(path: Path, n: int, crop_size: int) -> int:
    """Create an ``n x S x S x 3`` uint8 ``.npy`` file of zeros; return its data offset.

    Workers then write row ``i`` at ``offset + i * S * S * 3`` with ``os.pwrite``.
    """
    arr = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.uint8, shape=(n, crop_size, crop_size, 3)
    )
    offset = int(arr.offset)
    del arr
    return offset


def write_crop_rows(path: Path, offset: int, rows: np.ndarray, crops: np.ndarray) -> None:
    """Write ``crops[k]`` into row ``rows[k]`` of a crop array made by :func:`allocate_crops`."""
    row_bytes = int(np.prod(crops.shape[1:]))
    fd = os.open(path, os.O_WRONLY)
    try:
        for row, crop in zip(rows, crops, strict=True):
            os.pwrite(fd, np.ascontiguousarray(crop, dtype=np.uint8).tobytes(),
                      offset + int(row) * row_bytes)  # fmt: skip
    finally:
        os.close(fd)


def compact_crops(path: Path, keep: np.ndarray, chunk: int = 2048) -> None:
    """Keep only the rows of the crop array at ``path`` where ``keep`` is true (in place,
    through a new file in the same folder moved over it)."""
    source = np.load(path, mmap_mode="r")
    rows = np.flatnonzero(keep)
    compact = path.with_name(f"compact_{path.name}")
    out = np.lib.format.open_memmap(
        compact, mode="w+", dtype=np.uint8, shape=(len(rows), *source.shape[1:])
    )
    for start in range(0, len(rows), chunk):
        sel = rows[start : start + chunk]
        out[start : start + len(sel)] = source[sel]
    out.flush()
    del out, source
    os.replace(compact, path)


def write_source_footprints(path: Path, frame: gpd.GeoDataFrame) -> None:
    """Write the copy of a footprint file (GeoParquet, its own CRS) atomically."""
    from stcrl_core.workspace.atomic import atomic_path

    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def read_source_footprints(path: Path) -> gpd.GeoDataFrame | None:
    """The copy of the footprint file of a GeoTIFF ingest, or None for other ingests."""
    if not path.exists():
        return None
    import geopandas as gpd

    return gpd.read_parquet(path)
