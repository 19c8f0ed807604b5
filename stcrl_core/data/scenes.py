"""Scenes of an ingest: their previews and a georeference fitted to the labels.

The map shows the scene imagery as its (offline) basemap, so the ingest keeps
a small preview of every pre and post image and where its corners lie.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

PREVIEW_SIDE = 512  # longest side of the scene previews kept for the map


def fit_georeference(pixel: np.ndarray, lonlat: np.ndarray) -> list[float] | None:
    """Least-squares affine ``lon, lat = [x, y, 1] @ A`` from matched vertices.

    xBD's own geotransforms are known to be inaccurate; the ``xy`` and
    ``lng_lat`` polygons of the labels, vertex for vertex, give a better one.

    Returns:
        ``[a, b, c, d, e, f]`` with ``lon = a x + b y + c`` and
        ``lat = d x + e y + f``, or None with fewer than 3 independent points.
    """
    if len(pixel) < 3:
        return None
    design = np.column_stack([pixel, np.ones(len(pixel))])
    if np.linalg.matrix_rank(design) < 3:
        return None
    coef, *_ = np.linalg.lstsq(design, lonlat, rcond=None)
    return [float(v) for v in (*coef[:, 0], *coef[:, 1])]


METRES_PER_DEG_LAT = 110_540.0
METRES_PER_DEG_LON_EQUATOR = 111_320.0
PIXEL_SIZE_RANGE_M = (0.05, 30.0)  # a fitted pixel size outside this is not believed


def footprint_areas_m2(table: pd.DataFrame) -> np.ndarray:
    """Footprint area of every building in m2, from its lon/lat polygon (``wkt``, ``lat``
    columns of a building table), in a local equirectangular projection."""
    from shapely import wkt as shapely_wkt

    areas = np.empty(len(table))
    for i, (text, lat) in enumerate(zip(table["wkt"], table["lat"], strict=True)):
        xy = np.asarray(shapely_wkt.loads(text).exterior.coords)
        x = xy[:, 0] * METRES_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat))
        y = xy[:, 1] * METRES_PER_DEG_LAT
        areas[i] = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    return areas


def pixel_size_m(geo: Sequence[float], lat: float) -> float:
    """Ground size of one pixel in metres from a fitted georeference.

    xBD's ``metadata.gsd`` is the multispectral ground sample distance (about
    four times the pixel pitch of the pan-sharpened 1024 px images: 2.35 m
    against 0.45 m measured on a real Joplin scene), so the pixel size that
    sets a crop's 15 m buffer is measured from the labels instead: the square
    root of the area of one pixel under the affine of :func:`fit_georeference`.

    Args:
        geo: ``[a, b, c, d, e, f]`` from :func:`fit_georeference`.
        lat: Latitude where the scale is taken (the scene's centre).
    """
    a, b, _, d, e, _ = geo
    m_lon = METRES_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat))
    return float(np.sqrt(abs((a * e - b * d) * m_lon * METRES_PER_DEG_LAT)))


GEO_COLUMNS = ("geo_a", "geo_b", "geo_c", "geo_d", "geo_e", "geo_f")
CORNERS = ("tl", "tr", "br", "bl")


def scene_row(
    scene: str,
    event: str,
    split: str,
    disaster_type: str,
    size: tuple[int, int],
    gsd: float,
    buildings: int,
    geo: Sequence[float] | None,
    corners: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """One row of ``scenes.parquet`` (see ``docs/workspace.md``).

    Args:
        scene: The scene's name (its previews are ``scenes/<scene>_{pre,post}.jpg``).
        event, split, disaster_type: What the scene shows.
        size: ``(width, height)`` of the scene image in pixels.
        gsd: Its pixel size in metres.
        buildings: Buildings of the scene.
        geo: ``[a, b, c, d, e, f]`` pixel -> lon/lat affine, or None (not georeferenced).
        corners: ``{"tl": (lon, lat), ...}`` when known exactly; else from ``geo``.
    """
    width, height = size
    row: dict[str, Any] = {
        "scene": scene,
        "event": event,
        "split": split,
        "disaster_type": disaster_type,
        "width": width,
        "height": height,
        "gsd": gsd,
        "buildings": buildings,
        "preview_pre": f"scenes/{scene}_pre.jpg",
        "preview_post": f"scenes/{scene}_post.jpg",
    }
    geo = list(geo) if geo is not None else [np.nan] * 6
    row.update(zip(GEO_COLUMNS, geo, strict=True))
    a, b, c, d, e, f = geo
    pixels = dict(zip(CORNERS, ((0, 0), (width, 0), (width, height), (0, height)), strict=True))
    for name, (x, y) in pixels.items():
        lon, lat = corners[name] if corners else (a * x + b * y + c, d * x + e * y + f)
        row[f"lon_{name}"] = lon
        row[f"lat_{name}"] = lat
    return row


def scene_table(plans: Sequence[Any], table: pd.DataFrame) -> pd.DataFrame:
    """One row per ingested scene plan: size, georeference, corners, preview paths."""
    counts = table["scene"].value_counts()
    rows = [
        scene_row(
            plan.scene.stem,
            plan.scene.event,
            plan.scene.split,
            plan.records[0]["disaster_type"],
            plan.size_post,
            plan.records[0]["gsd"],
            int(counts.get(plan.scene.stem, 0)),
            plan.geo,
        )
        for plan in plans
    ]
    return pd.DataFrame(rows)
