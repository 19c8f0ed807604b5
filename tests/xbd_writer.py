"""Hand-made xBD scenes for exact tests (a building at a known place, bad input)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely.errors
import shapely.wkt
from PIL import Image


def square(x: float, y: float, half: float) -> str:
    """WKT of an axis-aligned square centred on ``(x, y)``."""
    pts = [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
    pts.append(pts[0])
    return "POLYGON ((" + ", ".join(f"{a} {b}" for a, b in pts) + "))"


METRES_PER_DEG_LON, METRES_PER_DEG_LAT = 111_320.0, 110_540.0  # as stcrl_core.data.scenes
ORIGIN_LON, ORIGIN_LAT = 10.0, 20.0


def lnglat_of(wkt: str, pixel_m: float) -> str:
    """The lon/lat twin of a pixel WKT polygon, for an image of ``pixel_m`` metres per pixel
    whose top-left corner is at (10 E, 20 N), north up (as in xBD's ``lng_lat`` features).
    A pixel WKT that is not a polygon (the bad-input tests) gets a small fixed square."""
    try:
        pts = list(shapely.wkt.loads(wkt).exterior.coords)
    except (shapely.errors.GEOSException, AttributeError, TypeError):
        return square(ORIGIN_LON, ORIGIN_LAT, 1e-4)
    m_lon = METRES_PER_DEG_LON * np.cos(np.radians(ORIGIN_LAT))
    geo = [(ORIGIN_LON + x * pixel_m / m_lon, ORIGIN_LAT - y * pixel_m / METRES_PER_DEG_LAT)
           for x, y in pts]  # fmt: skip
    return "POLYGON ((" + ", ".join(f"{a:.9f} {b:.9f}" for a, b in geo) + "))"


def label(
    buildings: list[dict[str, Any]],
    phase: str,
    size: int = 128,
    gsd: float = 1.0,
    pixel_m: float | None = None,
) -> dict[str, Any]:
    """An xBD label dict; each building has ``uid``, ``wkt`` and (post) ``subtype``.

    ``gsd`` is what the metadata says; ``pixel_m`` (default: ``gsd``) is the
    true pixel size, which places the ``lng_lat`` polygons (real xBD's
    ``metadata.gsd`` is about four times its pixel size).
    """
    pixel_m = gsd if pixel_m is None else pixel_m
    xy, lnglat = [], []
    for b in buildings:
        props: dict[str, Any] = {"feature_type": "building", "uid": b["uid"]}
        if phase == "post":
            props["subtype"] = b.get("subtype", "no-damage")
        xy.append({"properties": props, "wkt": b.get(f"{phase}_wkt", b["wkt"])})
        geo = b.get("lnglat_wkt") or lnglat_of(b["wkt"], pixel_m)
        lnglat.append({"properties": props, "wkt": geo})
    return {
        "features": {"lng_lat": lnglat, "xy": xy},
        "metadata": {
            "sensor": "TEST", "provider_asset_type": "TEST", "gsd": gsd,
            "capture_date": "2020-01-01T00:00:00.000Z", "off_nadir_angle": 10.0,
            "pan_resolution": gsd / 4, "sun_azimuth": 150.0, "sun_elevation": 50.0,
            "target_azimuth": 10.0, "disaster": "test-event", "disaster_type": "wind",
            "catalog_id": "0", "original_width": size, "original_height": size,
            "width": size, "height": size, "id": "x", "img_name": f"{phase}.png",
        },
    }  # fmt: skip


def write_scene(
    root: Path,
    stem: str,
    buildings: list[dict[str, Any]],
    pre: np.ndarray,
    post: np.ndarray,
    split: str = "train",
    gsd: float = 1.0,
    pixel_m: float | None = None,
) -> dict[str, Path]:
    """Write one scene's two images and two labels; return their paths (see :func:`label`)."""
    paths = {}
    for phase, img in (("pre", pre), ("post", post)):
        name = f"{stem}_{phase}_disaster"
        image_path = root / split / "images" / f"{name}.png"
        label_path = root / split / "labels" / f"{name}.json"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        label_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(image_path)
        label_path.write_text(json.dumps(label(buildings, phase, img.shape[0], gsd, pixel_m)))
        paths[f"{phase}_image"] = image_path
        paths[f"{phase}_label"] = label_path
    return paths


def solid(color: tuple[int, int, int], size: int = 128) -> np.ndarray:
    """A ``size x size`` image of one colour."""
    return np.full((size, size, 3), color, dtype=np.uint8)
