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


def scene_table(plans: Sequence[Any], table: pd.DataFrame) -> pd.DataFrame:
    """One row per ingested scene plan: size, georeference, corners, preview paths."""
    counts = table["scene"].value_counts()
    rows = []
    for plan in plans:
        width, height = plan.size_post
        row: dict[str, Any] = {
            "scene": plan.scene.stem,
            "event": plan.scene.event,
            "split": plan.scene.split,
            "disaster_type": plan.records[0]["disaster_type"],
            "width": width,
            "height": height,
            "gsd": plan.records[0]["gsd"],
            "buildings": int(counts.get(plan.scene.stem, 0)),
            "preview_pre": f"scenes/{plan.scene.stem}_pre.jpg",
            "preview_post": f"scenes/{plan.scene.stem}_post.jpg",
        }
        geo = plan.geo or [np.nan] * 6
        row.update(zip(("geo_a", "geo_b", "geo_c", "geo_d", "geo_e", "geo_f"), geo, strict=True))
        a, b, c, d, e, f = geo
        for name, (x, y) in {
            "tl": (0, 0),
            "tr": (width, 0),
            "br": (width, height),
            "bl": (0, height),
        }.items():
            row[f"lon_{name}"] = a * x + b * y + c
            row[f"lat_{name}"] = d * x + e * y + f
        rows.append(row)
    return pd.DataFrame(rows)
