"""Reader for the Inria Aerial Image Labeling dataset's on-disk format.

Layout under a root (the ``AerialImageDataset`` folder of the download, or the
folder above it)::

    <root>/train/images/<city><n>.tif   RGB GeoTIFF (5000 x 5000 px at 0.3 m)
    <root>/train/gt/<city><n>.tif       1-band GeoTIFF, 255 building, 0 other

Tiles 1 to 5 of every city are the validation set (the split of Maggiori et
al. used by the experts paper); the rest are training tiles. Tiles are read
with rasterio and keep their CRS and transform.

Reference: Maggiori, E., Tarabalka, Y., Charpiat, G., Alliez, P., "Can Semantic
Labeling Methods Generalize to Any City? The Inria Aerial Image Labeling
Benchmark", IGARSS 2017.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from torch.utils.data import Dataset

from stcrl_core.data.xbd import SkippedItem
from stcrl_core.errors import DatasetNotFoundError, StcrlError

VAL_TILES: tuple[int, ...] = (1, 2, 3, 4, 5)
NAME_PATTERN = re.compile(r"^(?P<city>[A-Za-z_-]+?)(?P<index>\d+)\.tif$")
EXPECTED_LAYOUT = "<root>/train/images/<city><n>.tif and <root>/train/gt/<city><n>.tif"


class TileError(StcrlError):
    """A tile cannot be used (unreadable, size mismatch, no georeference)."""

    def __init__(self, path: str, kind: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.item = SkippedItem(path, kind, reason)


@dataclass(frozen=True)
class InriaTilePaths:
    """The image and ground-truth files of one tile."""

    city: str
    index: int
    split: str
    image: Path
    gt: Path

    @property
    def stem(self) -> str:
        """File stem, e.g. ``austin12``."""
        return f"{self.city}{self.index}"


@dataclass
class InriaTile:
    """A decoded tile: RGB image, building mask and georeference.

    Attributes:
        paths: Where it came from.
        image: ``H x W x 3`` uint8.
        mask: ``H x W`` uint8, 1 building, 0 other.
        crs: The CRS as a string (e.g. ``EPSG:32614``).
        transform: The affine pixel -> CRS transform (rasterio ``Affine``).
    """

    paths: InriaTilePaths
    image: np.ndarray
    mask: np.ndarray
    crs: str
    transform: Any


def find_train_dir(root: str | Path) -> Path:
    """The ``train`` folder under ``root`` (``root/train`` or ``root/AerialImageDataset/train``).

    Raises:
        DatasetNotFoundError: If neither holds ``images/``.
    """
    root = Path(root)
    for candidate in (root / "train", root / "AerialImageDataset" / "train"):
        if (candidate / "images").is_dir():
            return candidate
    raise DatasetNotFoundError(
        f"no Inria tiles under {root}: expected {EXPECTED_LAYOUT}; point --root at the "
        "AerialImageDataset folder (or generate demo tiles with `stcrl synth-inria`)"
    )


def scan_inria(
    root: str | Path, val_tiles: Sequence[int] = VAL_TILES
) -> tuple[list[InriaTilePaths], list[SkippedItem]]:
    """Find the tiles (image + ground truth) under ``root``.

    An image without ground truth, or a file not named ``<city><n>.tif``, is
    reported as skipped. Tiles come out sorted by city and index.

    Raises:
        DatasetNotFoundError: If the layout is missing or holds no tile.
    """
    train = find_train_dir(root)
    tiles, skipped = [], []
    for path in sorted((train / "images").iterdir()):
        if path.name.startswith("."):
            continue
        match = NAME_PATTERN.match(path.name)
        if match is None:
            skipped.append(
                SkippedItem(str(path), "bad-name", "file name is not <city><n>.tif; left out")
            )
            continue
        gt = train / "gt" / path.name
        if not gt.exists():
            skipped.append(SkippedItem(str(path), "missing-gt", f"no ground truth {gt}"))
            continue
        index = int(match["index"])
        split = "val" if index in set(val_tiles) else "train"
        tiles.append(InriaTilePaths(match["city"], index, split, path, gt))
    if not tiles and not skipped:
        raise DatasetNotFoundError(
            f"{train / 'images'} holds no .tif tiles; expected {EXPECTED_LAYOUT}"
        )
    tiles.sort(key=lambda t: (t.city, t.index))
    return tiles, skipped


def tile_header(paths: InriaTilePaths) -> tuple[int, int, str, Any]:
    """Check a tile's headers: ``(height, width, crs, transform)``.

    Raises:
        TileError: If a file is unreadable, the image is not 3-band, the sizes
            differ, or the image has no CRS or transform.
    """
    try:
        with warnings.catch_warnings():  # a missing georeference is reported below
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(paths.image) as src:
                height, width, count = src.height, src.width, src.count
                crs, transform = src.crs, src.transform
    except (RasterioError, OSError) as exc:
        raise TileError(str(paths.image), "unreadable-image", f"cannot read ({exc})") from exc
    if count < 3:
        raise TileError(str(paths.image), "bad-bands", f"has {count} bands, expected 3 (RGB)")
    try:
        with rasterio.open(paths.gt) as src:
            gt_size = (src.height, src.width)
    except (RasterioError, OSError) as exc:
        raise TileError(str(paths.gt), "unreadable-gt", f"cannot read ({exc})") from exc
    if gt_size != (height, width):
        raise TileError(
            str(paths.gt),
            "size-mismatch",
            f"mask is {gt_size[1]}x{gt_size[0]} but its image is {width}x{height}",
        )
    if crs is None or transform is None or transform.is_identity:
        raise TileError(
            str(paths.image),
            "no-georeference",
            "has no CRS or geotransform; Inria tiles are GeoTIFFs with both",
        )
    return height, width, crs.to_string(), transform


def read_tile(paths: InriaTilePaths) -> InriaTile:
    """Decode a tile (after checking its headers with :func:`tile_header`).

    Raises:
        TileError: As :func:`tile_header`, or when the pixels fail to decode.
    """
    _, _, crs, transform = tile_header(paths)
    try:
        with rasterio.open(paths.image) as src:
            image = np.moveaxis(src.read((1, 2, 3)), 0, -1)
        with rasterio.open(paths.gt) as src:
            mask = src.read(1)
    except (RasterioError, OSError) as exc:
        raise TileError(str(paths.image), "unreadable-image", f"cannot decode ({exc})") from exc
    return InriaTile(paths, image.astype(np.uint8), (mask > 0).astype(np.uint8), crs, transform)


class InriaAerial(Dataset):
    """The tiles of an Inria root as a map-style dataset (one sample per tile).

    Args:
        root: The dataset root (see :func:`find_train_dir`).
        split: ``"train"``, ``"val"`` or ``"all"``.

    Raises:
        DatasetNotFoundError: If ``root`` lacks the layout.
    """

    def __init__(self, root: str | Path, split: str = "all") -> None:
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
        tiles, self.skipped = scan_inria(root)
        self.tiles = [t for t in tiles if split == "all" or t.split == split]

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """``{"image": (3, H, W) uint8, "mask": (H, W) uint8, "city", "crs", "transform"}``."""
        import torch

        tile = read_tile(self.tiles[index])
        return {
            "image": torch.from_numpy(np.ascontiguousarray(np.moveaxis(tile.image, -1, 0))),
            "mask": torch.from_numpy(tile.mask),
            "city": tile.paths.city,
            "crs": tile.crs,
            "transform": tile.transform,
        }
