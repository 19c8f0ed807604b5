"""What the Label page shows of one building: its crops with the footprint outlined, and context.

The footprint (the building's lon/lat polygon, taken into the scene's pixels by
the inverse of the scene's affine georeference) is drawn on the pre and the
post crop, each shifted onto that phase's own pixel bounding box (the two
captures are misregistered by a few pixels). A workspace without a
georeference for the scene gets the bounding box instead. The context is a
window of the scene preview, ``CONTEXT`` crop sides wide, with the crop's
window drawn in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from shapely import wkt as shapely_wkt

from stcrl_core.workspace import Workspace

OUTLINE = (255, 221, 0)
CONTEXT = 5  # the context window, in crop sides
DISPLAY = 192  # side of the crops as shown (nearest-neighbour enlarged)


def _pixel_polygon(building: pd.Series, scene: pd.Series | None) -> np.ndarray | None:
    """The footprint in scene pixels, or None without a georeference."""
    if scene is None or pd.isna(scene.get("geo_a")) or not isinstance(building.get("wkt"), str):
        return None
    geom = shapely_wkt.loads(building["wkt"])
    geom = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
    lonlat = np.asarray(geom.exterior.coords, dtype=np.float64)[:, :2]
    a, b, c, d, e, f = (float(scene[f"geo_{k}"]) for k in "abcdef")
    matrix = np.array([[a, b], [d, e]])
    if abs(np.linalg.det(matrix)) < 1e-18:
        return None
    return np.linalg.solve(matrix, (lonlat - [c, f]).T).T


def _box(building: pd.Series, phase: str) -> tuple[float, float, float, float]:
    p = "" if phase == "pre" else "post_"
    return tuple(float(building[f"{p}{k}"]) for k in ("xmin", "ymin", "xmax", "ymax"))


def _window(building: pd.Series, phase: str) -> tuple[float, float, float]:
    """``(x0, y0, side)`` of the phase's crop window in scene pixels (as ingest cut it)."""
    side = float(building["crop_side"])
    if phase == "pre":
        return float(building["crop_x0"]), float(building["crop_y0"]), side
    pre, post = _box(building, "pre"), _box(building, "post")
    margin = side - max(pre[2] - pre[0], pre[3] - pre[1])
    side = max(post[2] - post[0], post[3] - post[1]) + margin
    cx, cy = (post[0] + post[2]) / 2, (post[1] + post[3]) / 2
    return cx - side / 2, cy - side / 2, side


def _outline(building: pd.Series, scene: pd.Series | None, phase: str) -> np.ndarray:
    """The footprint of ``phase`` in scene pixels, on that phase's bounding box."""
    box = _box(building, phase)
    polygon = _pixel_polygon(building, scene)
    if polygon is None:
        x0, y0, x1, y1 = box
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    middle = (polygon.min(axis=0) + polygon.max(axis=0)) / 2
    return polygon + (centre - middle)


def _draw_crop(crop: np.ndarray, outline: np.ndarray, window: tuple[float, float, float]):
    x0, y0, side = window
    image = Image.fromarray(np.asarray(crop)).resize((DISPLAY, DISPLAY), Image.Resampling.NEAREST)
    points = (outline - [x0, y0]) / side * DISPLAY
    ImageDraw.Draw(image).line([tuple(p) for p in points], fill=OUTLINE, width=2)
    return np.asarray(image)


def _context(ws: Workspace, building: pd.Series, scene: pd.Series | None, phase: str):
    if scene is None or not isinstance(scene.get(f"preview_{phase}"), str):
        return None
    path: Path = ws.objects.stored(scene[f"preview_{phase}"])
    if not path.exists():
        return None
    with Image.open(path) as img:
        img = img.convert("RGB")
    scale = img.width / float(scene["width"])
    x0, y0, side = _window(building, phase)
    cx, cy = (x0 + side / 2) * scale, (y0 + side / 2) * scale
    half = max(side * scale * CONTEXT / 2, 16)
    draw = ImageDraw.Draw(img)
    draw.rectangle([x0 * scale, y0 * scale, (x0 + side) * scale, (y0 + side) * scale],
                   outline=OUTLINE, width=2)  # fmt: skip
    region = img.crop((int(cx - half), int(cy - half), int(cx + half), int(cy + half)))
    return np.asarray(region.resize((DISPLAY * 2, DISPLAY * 2), Image.Resampling.BILINEAR))


def building_views(workspace: Workspace | str | Path, uid: str) -> dict:
    """The pre and post crops of building ``uid`` with its footprint, and the post context.

    Returns:
        ``{"building": its row of the building table, "pre", "post": (S, S, 3)
        uint8 crops with the footprint drawn, "context": a window of the post
        scene preview (or None without previews)}``.

    Raises:
        KeyError: If no building has this uid.
    """
    ws = Workspace.of(workspace)
    table = ws.buildings()
    match = table[table["uid"] == uid]
    if match.empty:
        raise KeyError(f"no building with uid {uid!r} in {ws.objects.buildings}")
    building = match.iloc[0]
    scenes = ws.scenes()
    found = scenes[scenes["scene"] == building["scene"]] if len(scenes) else scenes
    scene = found.iloc[0] if len(found) else None
    row = int(building["row"])
    out = {"building": building, "context": _context(ws, building, scene, "post")}
    for phase in ("pre", "post"):
        crop = ws.crops(phase)[row]
        out[phase] = _draw_crop(crop, _outline(building, scene, phase), _window(building, phase))
    return out
