"""Regenerate the sample images of ``docs/synthetic-data.md``.

Writes two PNGs into ``docs/images/``:

* ``synthetic_pairs.png``: one 512 px scene per disaster type, pre | post;
* ``synthetic_classes.png``: building crops (pre/post pairs) per damage class
  and disaster type, cut exactly as the xBD-obj ingest cuts them.

Everything is generated in memory with :func:`generate_scene` and seed 0, so the
output is deterministic. Run from the repository root::

    .venv/bin/python docs/make_synthetic_samples.py
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from PIL import Image, ImageDraw, ImageFont

from stcrl_core.data.objects import crop_box, cut_crop
from stcrl_core.data.synthetic import generate_scene
from stcrl_core.data.synthetic.events import EVENTS
from stcrl_core.data.xbd import DAMAGE_NAMES

SEED = 0
SIZE = 512
SCENES = range(8)
# one event per disaster type
EVENT_BY_TYPE: dict[str, str] = {
    "wind": "hurricane-michael",
    "fire": "santa-rosa-wildfire",
    "earthquake": "mexico-earthquake",
    "tsunami": "palu-tsunami",
    "flooding": "midwest-flooding",
    "volcano": "guatemala-volcano",
}
OUT_DIR = Path(__file__).resolve().parent / "images"
PAIR_PX = 256  # side of each scene image in synthetic_pairs.png
CROP_PX = 72  # side of each crop in synthetic_classes.png
BUFFER_M = 15.0  # context around a building, as the ingest's default
GAP = 4
LABEL_H = 18
PAIR_LABEL_H = 34
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
MAX_BYTES = 600_000


def _font(size: int = 13) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _scenes(event: str) -> list[dict[str, Any]]:
    return [generate_scene(EVENTS[event], i, SIZE, SEED) for i in SCENES]


def pick_scene(scenes: list[dict[str, Any]]) -> dict[str, Any]:
    """First scene with every damage class and >= 20% damaged; else the most damaged."""

    def damaged(scene: dict[str, Any]) -> int:
        return sum(d > 0 for d in scene["damage"])

    for scene in scenes:
        present = set(scene["damage"])
        if {1, 2, 3} <= present and damaged(scene) >= 0.2 * len(scene["damage"]):
            return scene
    return max(scenes, key=damaged)


def _save(image: Image.Image, path: Path) -> None:
    """Save as an optimised PNG, quantising to a palette if it is too large."""
    image.save(path, format="PNG", optimize=True)
    if path.stat().st_size > MAX_BYTES:
        image.quantize(256, dither=Image.Dither.NONE).save(path, format="PNG", optimize=True)
    print(f"wrote {path} ({image.width}x{image.height}, {path.stat().st_size // 1024} KiB)")


def make_pairs(scenes_by_type: dict[str, list[dict[str, Any]]]) -> Image.Image:
    """One row per disaster type: label, then pre | post of a damaged scene."""
    rows = len(scenes_by_type)
    width = 2 * PAIR_PX + GAP
    height = rows * (PAIR_LABEL_H + PAIR_PX + GAP)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for r, (dtype, scenes) in enumerate(scenes_by_type.items()):
        scene = pick_scene(scenes)
        counts = Counter(scene["damage"])
        y = r * (PAIR_LABEL_H + PAIR_PX + GAP)
        draw.text((2, y + 2), f"{dtype}: {scene['stem']}  (pre | post)", fill=TEXT, font=font)
        draw.text(
            (2, y + 17),
            f"no-damage {counts[0]}, minor {counts[1]}, major {counts[2]}, "
            f"destroyed {counts[3]}, un-classified {counts[-1]}",
            fill=TEXT,
            font=font,
        )
        for c, phase in enumerate(("pre", "post")):
            img = Image.fromarray(scene[phase]).resize((PAIR_PX, PAIR_PX), Image.Resampling.LANCZOS)
            sheet.paste(img, (c * (PAIR_PX + GAP), y + PAIR_LABEL_H))
    return sheet


def _crop_pair(scene: dict[str, Any], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pre and post crop of building ``k``, as the xBD-obj ingest cuts them."""
    crops = []
    for phase in ("pre", "post"):
        label = scene["labels"][phase]
        bounds = shapely.from_wkt(label["features"]["xy"][k]["wkt"]).bounds
        box = crop_box(bounds, float(label["metadata"]["gsd"]), BUFFER_M)
        crops.append(cut_crop(Image.fromarray(scene[phase]), box, CROP_PX))
    return crops[0], crops[1]


def pick_building(scenes: list[dict[str, Any]], damage: int) -> tuple[dict[str, Any], int] | None:
    """The largest building of class ``damage`` whose crop window lies inside the image."""
    best: tuple[float, dict[str, Any], int] | None = None
    for scene in scenes:
        gsd = float(scene["labels"]["pre"]["metadata"]["gsd"])
        for k, d in enumerate(scene["damage"]):
            if d != damage:
                continue
            poly = shapely.from_wkt(scene["labels"]["pre"]["features"]["xy"][k]["wkt"])
            x0, y0, x1, y1 = crop_box(poly.bounds, gsd, BUFFER_M)
            if x0 < 0 or y0 < 0 or x1 > SIZE or y1 > SIZE:
                continue
            if best is None or poly.area > best[0]:
                best = (poly.area, scene, k)
    return None if best is None else (best[1], best[2])


def make_classes(scenes_by_type: dict[str, list[dict[str, Any]]]) -> Image.Image:
    """One row per damage class, one pre/post crop pair per disaster type."""
    types = list(scenes_by_type)
    cell_w = 2 * CROP_PX + GAP
    col_gap = 3 * GAP
    head = LABEL_H
    row_h = LABEL_H + CROP_PX + GAP
    width = len(types) * cell_w + (len(types) - 1) * col_gap
    sheet = Image.new("RGB", (width, head + 4 * row_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for t, dtype in enumerate(types):
        draw.text((t * (cell_w + col_gap) + 2, 2), f"{dtype}: pre | post", fill=TEXT, font=font)
    for damage in range(4):
        y = head + damage * row_h
        draw.text((2, y + 3), DAMAGE_NAMES[damage], fill=TEXT, font=font)
        for t, dtype in enumerate(types):
            found = pick_building(scenes_by_type[dtype], damage)
            if found is None:
                continue
            pre, post = _crop_pair(*found)
            x = t * (cell_w + col_gap)
            sheet.paste(Image.fromarray(pre), (x, y + LABEL_H))
            sheet.paste(Image.fromarray(post), (x + CROP_PX + GAP, y + LABEL_H))
    return sheet


def main() -> None:
    """Generate the scenes and write both sample images."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    scenes_by_type = {dtype: _scenes(event) for dtype, event in EVENT_BY_TYPE.items()}
    _save(make_pairs(scenes_by_type), OUT_DIR / "synthetic_pairs.png")
    _save(make_classes(scenes_by_type), OUT_DIR / "synthetic_classes.png")


if __name__ == "__main__":
    main()
