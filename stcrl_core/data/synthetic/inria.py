"""Generator of tiles in the Inria Aerial Image Labeling layout (GeoTIFF).

``generate_inria`` writes ``<out>/train/images/<city><n>.tif`` (RGB) and
``<out>/train/gt/<city><n>.tif`` (255 building, 0 other) with a real projected
CRS (the city's UTM zone) and an affine transform, like the real dataset, so the
demo and the tests exercise the same reader and ingest as real Inria tiles.

Each city has its own built environment (roof colours, building sizes, density,
street layout, vegetation; the region styles of the xBD generator in
:mod:`stcrl_core.data.synthetic.events`), laid out and rendered by the same
code (:mod:`~stcrl_core.data.synthetic.layout`,
:mod:`~stcrl_core.data.synthetic.render`) as a pre-disaster scene, with an
orthophoto's capture (no lean, high sun), so that a location embedding has
something to find. A city's tiles are adjacent tiles of one street grid.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from PIL import Image, ImageDraw
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform

from stcrl_core.data.synthetic.events import (
    GUATEMALA_HIGHLAND,
    GULF_SUBURB,
    MEXICO_CITY,
    MIDWEST_TOWN,
    SULAWESI_COAST,
    RegionStyle,
)
from stcrl_core.data.synthetic.geography import EventArea
from stcrl_core.data.synthetic.layout import Neighbourhood
from stcrl_core.data.synthetic.render import render_tile
from stcrl_core.data.synthetic.sensor import Acquisition
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace.atomic import atomic_path, atomic_write_json


@dataclass(frozen=True)
class CitySpec:
    """An Inria training city: where it is and how it looks.

    Attributes:
        name: City name as in Inria file names (``austin``, ``tyrol-w``...).
        lon: Longitude of the city centre.
        lat: Latitude of the city centre.
        epsg: EPSG code of the tiles' CRS (the city's UTM zone).
        style: Appearance of the built environment.
    """

    name: str
    lon: float
    lat: float
    epsg: int
    style: RegionStyle


CITIES: dict[str, CitySpec] = {
    c.name: c
    for c in (
        CitySpec("austin", -97.74, 30.27, 32614, GULF_SUBURB),
        CitySpec("chicago", -87.63, 41.88, 32616, MIDWEST_TOWN),
        CitySpec("kitsap", -122.70, 47.60, 32610, SULAWESI_COAST),
        CitySpec("tyrol-w", 10.80, 47.20, 32632, GUATEMALA_HIGHLAND),
        CitySpec("vienna", 16.37, 48.21, 32633, MEXICO_CITY),
    )
}
DEFAULT_CITIES: tuple[str, ...] = tuple(CITIES)
DEMO_CITIES: tuple[str, ...] = ("austin", "kitsap", "vienna")


GRID_COLUMNS = 6  # tiles of a city lie on a 6-wide grid, numbered row by row from 1


def _acquisition(rng: np.random.Generator) -> Acquisition:
    """Orthophoto conditions: no lean, high sun, mild colour and haze differences."""
    return Acquisition(
        sensor="WORLDVIEW03_VNIR",
        sun_azimuth=float(rng.uniform(140, 220)),
        sun_elevation=float(rng.uniform(50, 70)),
        off_nadir=0.0,
        target_azimuth=0.0,
        gain=tuple(float(g) for g in rng.uniform(0.95, 1.05, 3)),
        gamma=1.0,
        saturation=float(rng.uniform(0.9, 1.1)),
        haze=float(rng.uniform(0.0, 0.06)),
        vegetation=float(rng.uniform(0.9, 1.1)),
        blur=0.4,
        noise=1.5,
        jpeg_quality=92,
        shift=(0.0, 0.0),
        noise_seed=int(rng.integers(2**31)),
    )


def generate_tile(city: CitySpec, index: int, size: int, gsd: float, seed: int) -> dict[str, Any]:
    """Render one tile of a city in memory.

    The result depends only on ``(city.name, index, size, gsd, seed)``.

    Returns:
        ``{"image": H x W x 3 uint8, "mask": H x W uint8 (255 building),
        "crs": CRS, "transform": Affine}``.
    """
    rng = np.random.default_rng([seed, zlib.crc32(city.name.encode()), index, size])
    rows = 6
    area = EventArea(GRID_COLUMNS, rows, size * gsd, gsd, city.lon, city.lat)
    neighbourhood = Neighbourhood(f"inria-{city.name}", city.style, area, seed)
    layout = neighbourhood.tile((index - 1) % (GRID_COLUMNS * rows), size)
    acq = _acquisition(rng)
    image = render_tile(layout, acq, acq, None, int(rng.integers(2**31)), rng)
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for b in layout.buildings:
        draw.polygon([tuple(p) for p in b.polygon], fill=255)
    # tiles on a 6-wide grid around the city centre, like Inria's tiling of a city
    crs = CRS.from_epsg(city.epsg)
    (east,), (north,) = warp_transform("EPSG:4326", crs, [city.lon], [city.lat])
    tile_m = size * gsd
    gx, gy = (index - 1) % GRID_COLUMNS - 3, (index - 1) // GRID_COLUMNS - 3
    transform = from_origin(east + gx * tile_m, north - gy * tile_m, gsd, gsd)
    return {"image": image, "mask": np.asarray(mask), "crs": crs, "transform": transform}


def write_geotiff(path: Path, array: np.ndarray, crs: CRS | None, transform: Any | None) -> None:
    """Write an ``H x W`` or ``H x W x C`` uint8 array as a GeoTIFF (atomically)."""
    bands = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": array.shape[0],
        "width": array.shape[1],
        "count": bands.shape[0],
        "dtype": "uint8",
        "compress": "deflate",
    }
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(bands)


def generate_inria(
    out: str | Path,
    cities: Sequence[str] = DEFAULT_CITIES,
    tiles_per_city: int = 8,
    size: int = 512,
    gsd: float = 0.5,
    seed: int = 0,
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Write tiles in the Inria layout under ``out/train/{images,gt}/``.

    Args:
        out: Output folder.
        cities: City names, from :data:`CITIES`.
        tiles_per_city: Tiles per city, numbered from 1 (tiles 1 to 5 are the
            validation tiles of the Inria split).
        size: Tile side in pixels (real Inria tiles are 5000).
        gsd: Ground sample distance in metres per pixel (real Inria: 0.3).
        seed: Random seed; the same seed gives the same tiles.
        progress: ``progress(done, total, message)`` callback.

    Returns:
        A summary: cities, tiles, size, building pixel fraction per city.

    Raises:
        ValueError: For an unknown city, ``tiles_per_city < 1`` or a size under 64 px.
    """
    unknown = [c for c in cities if c not in CITIES]
    if unknown:
        raise ValueError(f"unknown city(ies) {unknown}; choose from {', '.join(CITIES)}")
    if tiles_per_city < 1:
        raise ValueError(f"tiles_per_city must be >= 1, got {tiles_per_city}")
    if size < 64:
        raise ValueError(f"size must be at least 64 px, got {size}")
    out = Path(out)
    total, done = len(cities) * tiles_per_city, 0
    building_fraction: dict[str, float] = {}
    for name in cities:
        city = CITIES[name]
        fractions = []
        for index in range(1, tiles_per_city + 1):
            tile = generate_tile(city, index, size, gsd, seed)
            stem = f"{name}{index}"
            write_geotiff(
                out / "train" / "images" / f"{stem}.tif",
                tile["image"],
                tile["crs"],
                tile["transform"],
            )
            write_geotiff(
                out / "train" / "gt" / f"{stem}.tif", tile["mask"], tile["crs"], tile["transform"]
            )
            fractions.append(float((tile["mask"] > 0).mean()))
            done += 1
            progress(done, total, stem)
        building_fraction[name] = float(np.mean(fractions))
    summary = {
        "cities": list(cities),
        "tiles_per_city": tiles_per_city,
        "size": size,
        "gsd": gsd,
        "seed": seed,
        "building_fraction": building_fraction,
    }
    atomic_write_json(out / "synthetic_inria.json", summary)
    return summary
