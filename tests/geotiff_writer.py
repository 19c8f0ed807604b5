"""Hand-made GeoTIFF events with known truth, for the GeoTIFF ingest tests.

Every footprint is painted as a bright square (value 230) on a dark ground
(40) into every tile of both dates, each date on its own grid and CRS, so a
test can find where each building landed in its crops.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from rasterio.features import rasterize
from shapely.geometry import box

LON0, LAT0 = -86.8, 33.5  # UTM zone 16 (EPSG:32616)
M_LAT = 110_540.0
M_LON = 111_320.0 * math.cos(math.radians(LAT0))
BRIGHT, GROUND = 230, 40


def square(east_m: float, north_m: float, side_m: float = 8.0):
    """An axis-aligned lon/lat square of ``side_m`` whose south-west corner is
    ``east_m``, ``north_m`` metres from (LON0, LAT0)."""
    lon, lat = LON0 + east_m / M_LON, LAT0 + north_m / M_LAT
    return box(lon, lat, lon + side_m / M_LON, lat + side_m / M_LAT)


def footprint_grid(n: int = 5, spacing_m: float = 31.0, start_m: float = 6.0) -> list:
    """``n x n`` squares, ``spacing_m`` apart; the fourth row and column cross the pre
    tiles' boundaries (100 m east and north), the third row the post tiles' (69 m north)."""
    return [square(start_m + i * spacing_m, start_m + j * spacing_m)
            for j in range(n) for i in range(n)]  # fmt: skip


def write_tile(
    path: Path, crs: str | None, transform: Affine, size: tuple[int, int], footprints: list,
    bands: int = 3, dtype: str = "uint8", nodata: float | None = 0, nodata_box: tuple | None = None,
) -> Path:  # fmt: skip
    """Write one tile with ``footprints`` (lon/lat) painted bright.

    Args:
        nodata_box: ``(col0, row0, col1, row1)`` of the tile set to nodata (0).
    """
    width, height = size
    shapes = gpd.GeoSeries(footprints, crs="EPSG:4326")
    if crs is not None:
        shapes = shapes.to_crs(crs)
    image = rasterize(((g, BRIGHT) for g in shapes), out_shape=(height, width),
                      transform=transform, fill=GROUND, dtype="uint8")  # fmt: skip
    data = np.repeat(image[None], bands, axis=0).astype(dtype)
    if dtype == "uint16":
        data = data.astype(np.uint16) * 20
    if nodata_box is not None:
        c0, r0, c1, r1 = nodata_box
        data[:, r0:r1, c0:c1] = 0
    profile = {"driver": "GTiff", "width": width, "height": height, "count": bands,
               "dtype": dtype, "transform": transform, "nodata": nodata}  # fmt: skip
    if crs is not None:
        profile["crs"] = crs
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def tiles_over(
    folder: Path, stem: str, crs: str, res: float, tile_px: tuple[int, int],
    grid: tuple[int, int], origin: tuple[float, float], footprints: list, **kwargs,
) -> list[Path]:  # fmt: skip
    """``cols x rows`` tiles of ``tile_px`` pixels of ``res`` CRS units from ``origin``
    (the north-west corner in metres east/north of (LON0, LAT0), in ground metres)."""
    from rasterio.warp import transform as warp

    xs, ys = warp("EPSG:4326", crs, [LON0 + origin[0] / M_LON], [LAT0 + origin[1] / M_LAT])
    cols, rows = grid
    paths = []
    for r in range(rows):
        for c in range(cols):
            transform = Affine(res, 0, xs[0] + c * tile_px[0] * res, 0, -res,
                               ys[0] - r * tile_px[1] * res)  # fmt: skip
            paths.append(write_tile(folder / f"{stem}_r{r}c{c}.tif", crs, transform, tile_px,
                                    footprints, **kwargs))  # fmt: skip
    return paths


def write_event(
    folder: Path, footprints: list | None = None, pre_crs: str = "EPSG:32616", pre_res: float = 0.5
) -> dict:
    """Pre tiles in ``pre_crs`` (UTM 16N, 0.5 m: 2 x 2 tiles of 200 px), post tiles in web mercator
    (0.7 units = 0.58 m on the ground, 1 x 2 tiles of 380 x 190 px, another origin),
    the footprints as GeoJSON in EPSG:4326 with ``bid`` ids and a ``dmg`` column."""
    footprints = footprint_grid() if footprints is None else footprints
    pre = tiles_over(folder / "pre", "pre", pre_crs, pre_res, (200, 200), (2, 2), (0, 200),
                     footprints)  # fmt: skip
    post = tiles_over(folder / "post", "post", "EPSG:3857", 0.7, (380, 190), (1, 2), (-12, 180),
                      footprints)  # fmt: skip
    frame = gpd.GeoDataFrame({"bid": [f"b{i:03d}" for i in range(len(footprints))],
                              "dmg": [["no-damage", "minor-damage", 2, "3"][i % 4]
                                      for i in range(len(footprints))],
                              "height": np.arange(len(footprints), dtype=float)},
                             geometry=footprints, crs="EPSG:4326")  # fmt: skip
    path = folder / "footprints.geojson"
    frame.to_file(path, driver="GeoJSON")
    return {"pre": [str(p) for p in pre], "post": [str(p) for p in post], "footprints": str(path)}
