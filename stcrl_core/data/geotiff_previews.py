"""Scenes of a GeoTIFF ingest: one per post-event tile, with previews and a georeference.

The damage map draws every scene's preview as its offline basemap and opens
the scene view on one of them. A GeoTIFF event's scene is one post-event tile
that holds buildings: its post preview is the tile itself, its pre preview the
pre-event mosaic warped onto the same grid (whatever the pre tiles' grids and
CRS), so switching between pre and post shows the same place. The pixel ->
lon/lat affine of ``scenes.parquet`` is fitted to a 5 x 5 grid of the tile's
points (exact for the corners, within centimetres inside a tile in UTM).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from stcrl_core.data import geotiff, geotiff_mosaic
from stcrl_core.data.geotiff_plan import ground_scale
from stcrl_core.data.scenes import PREVIEW_SIDE, fit_georeference, scene_row
from stcrl_core.workspace.objects import ObjectsFiles

GRID_POINTS = 5


def _lonlat(crs_wkt: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pyproj

    transformer = pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(crs_wkt), "EPSG:4326",
                                              always_xy=True)  # fmt: skip
    lon, lat = transformer.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def tile_georeference(
    tile: geotiff.RasterTile,
) -> tuple[list[float] | None, dict[str, tuple[float, float]]]:
    """The pixel -> lon/lat affine of a tile and its exact corners."""
    a, b, c, d, e, f = tile.transform
    px, py = np.meshgrid(np.linspace(0, tile.width, GRID_POINTS),
                         np.linspace(0, tile.height, GRID_POINTS))  # fmt: skip
    px, py = px.ravel(), py.ravel()
    lon, lat = _lonlat(tile.crs_wkt, a * px + b * py + c, d * px + e * py + f)
    geo = fit_georeference(np.column_stack([px, py]), np.column_stack([lon, lat]))
    corners = {}
    for name, (x, y) in {"tl": (0, 0), "tr": (tile.width, 0), "br": (tile.width, tile.height),
                         "bl": (0, tile.height)}.items():  # fmt: skip
        clon, clat = _lonlat(tile.crs_wkt, np.array([a * x + b * y + c]),
                             np.array([d * x + e * y + f]))  # fmt: skip
        corners[name] = (float(clon[0]), float(clat[0]))
    return geo, corners


def write_scenes(
    config: Any,
    mosaics: dict[str, list[geotiff_mosaic.Mosaic]],
    table: pd.DataFrame,
    out: ObjectsFiles,
) -> pd.DataFrame:
    """Write the previews of every post-event tile holding buildings; return ``scenes.parquet``.

    Args:
        config: The ingest's :class:`~stcrl_core.data.geotiff_ingest.GeoTiffIngestConfig`.
        mosaics: The mosaics of each date.
        table: The building table (its ``scene`` names the tiles, ``<event>_<index>``
            with the index of the tile among the sorted post-event paths).
        out: The ``objects/`` folder being built.
    """
    from affine import Affine

    out.previews_dir.mkdir(exist_ok=True)
    post = [(m, t) for m in mosaics["post"] for t in m.tiles]
    order = sorted(range(len(post)), key=lambda i: post[i][1].path)
    counts = table["scene"].value_counts()
    splits = table.groupby("scene")["split"].agg(lambda s: s.value_counts().index[0])
    pre_mosaic = mosaics["pre"][0]
    rows = []
    opened = {}
    try:
        for index, i in enumerate(order):
            mosaic, tile = post[i]
            scene = f"{config.event}_{index:08d}"
            if scene not in counts:
                continue
            scale = max(tile.width, tile.height) / PREVIEW_SIDE
            pw, ph = max(1, round(tile.width / scale)), max(1, round(tile.height / scale))
            transform = Affine(*tile.transform) @ Affine.scale(tile.width / pw, tile.height / ph)
            for phase, source in (("post", mosaic), ("pre", pre_mosaic)):
                key = (phase, id(source))
                if key not in opened:
                    opened[key] = geotiff_mosaic.open_mosaic(source)
                grid = (tile.crs_wkt, tuple(transform), pw, ph)
                image = geotiff_mosaic.read_preview(opened[key], source, *grid)
                Image.fromarray(image).save(out.preview(scene, phase), quality=85)
            geo, corners = tile_georeference(tile)
            centre = np.mean([corners[c] for c in corners], axis=0)
            kx, _ = ground_scale(tile.crs_wkt, centre[:1], centre[1:])
            row = scene_row(scene, config.event, str(splits[scene]), config.disaster_type,
                            (tile.width, tile.height), float(tile.res * kx[0]),
                            int(counts[scene]), geo, corners)  # fmt: skip
            row["path"] = tile.path
            rows.append(row)
    finally:
        for dataset in opened.values():
            dataset.close()
    return pd.DataFrame(rows)
