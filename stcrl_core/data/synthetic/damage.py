"""What a disaster does to the ground and to each building, by disaster type.

A building's look follows its true severity (its class and where it lies in
that class's band), not its label, so neighbouring classes blend into each
other and a label can disagree with the look, as xBD's do. Modelled on what
the real scenes show (the Joplin tornado tiles above all):

* wind: missing shingles and blue tarps (minor); part of the roof gone,
  decking and debris showing, debris thrown downwind (major); no roof, a
  field of debris spilling well beyond the footprint, bits of slab, trees
  stripped, lawns strewn with debris (destroyed);
* flooding: standing water or mud and a water line around the walls, soaked
  darker roofs, debris piles at the kerb;
* fire: scorched roof edges, charred roof parts, a footprint of grey ash with
  black char, burnt trees and a burn scar inside the perimeter;
* earthquake: cracks and fallen parapets, partly and wholly collapsed roofs
  of concrete rubble;
* tsunami: mud over the ground, buildings washed off their slabs, debris
  carried inland;
* volcano: ash over roofs and ground, flows that bury buildings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from stcrl_core.data.synthetic.geography import Hazard
from stcrl_core.data.synthetic.layout import Building, TileLayout
from stcrl_core.data.synthetic.textures import (
    ASH,
    CHAR,
    CONCRETE,
    DEBRIS,
    MUD,
    TARP,
    WATER,
    grain,
    value_noise,
)

RGB = tuple[int, int, int]
TARP_COLOR: RGB = (44, 92, 178)
DECKING: RGB = (168, 138, 104)
CHAR_COLOR: RGB = (40, 36, 34)
ASH_COLOR: RGB = (176, 172, 166)
FLOOD_WATER: RGB = (104, 96, 72)
MUD_COLOR: RGB = (138, 122, 96)
SLAB: RGB = (178, 176, 170)
# ground cover per disaster type: (material, colour, from which class band it shows)
GROUND = {
    "flooding": (WATER, FLOOD_WATER, 1.0),
    "fire": (CHAR, CHAR_COLOR, 2.5),
    "tsunami": (MUD, MUD_COLOR, 1.5),
    "volcano": (ASH, ASH_COLOR, 1.0),
    "wind": (DEBRIS, DECKING, 1.6),
    "earthquake": (DEBRIS, SLAB, 2.8),
}


@dataclass
class DamageContext:
    """The post-disaster state of a tile: disaster type, hazard and wind direction."""

    disaster_type: str
    hazard: Hazard
    downwind: tuple[float, float]  # unit vector, image coordinates

    def band(self, severity: float | np.ndarray) -> np.ndarray:
        """Continuous damage level: class + position within the class band (0 to 4)."""
        sev = np.asarray(severity, np.float64)
        return self.hazard.classify(sev) + self.hazard.within_class(sev)

    def flattened(self, b: Building) -> bool:
        """Whether the building no longer stands (no walls, roof or shadow)."""
        return float(self.band(b.severity)) >= 3.0 and self.disaster_type != "flooding"

    def trees(self, layout: TileLayout) -> list[tuple[float, float, float, float]]:
        """Trees as ``(x, y, r, health)``; wind strips them, fire burns them."""
        if not layout.trees or self.disaster_type not in ("wind", "fire", "tsunami", "volcano"):
            return [(*t, 1.0) for t in layout.trees]
        pts = np.array(layout.trees)
        ex = layout.origin_m[0] + pts[:, 0] * layout.pitch_m
        ey = layout.origin_m[1] + pts[:, 1] * layout.pitch_m
        level = self.band(self.hazard.raw(ex, ey))
        out = []
        for (x, y, r), lv in zip(layout.trees, level, strict=True):
            harm = float(np.clip((lv - 1.5) / 1.8, 0, 1))
            if harm > 0.85:
                continue  # uprooted or burnt away
            out.append((x, y, r * (1 - 0.45 * harm), 1 - 0.8 * harm))
        return out


def ground_cover(
    img: np.ndarray,
    mat: np.ndarray,
    layout: TileLayout,
    ctx: DamageContext,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The hazard's marks on open ground, where the hazard's level passes its threshold."""
    step = 4
    xs, ys = layout.pixel_grid(step)
    level = ctx.band(ctx.hazard.raw(xs, ys)).astype(np.float32)
    level = np.asarray(Image.fromarray(level, mode="F").resize(img.shape[1::-1], Image.BILINEAR))
    material, colour, start = GROUND[ctx.disaster_type]
    strength = np.clip((level - start) / 1.0, 0, 1)
    if ctx.disaster_type in ("wind", "earthquake"):  # strewn fragments, not a cover
        speckle = grain(rng, img.shape[:2], 1.0) > 1.6 - 1.4 * strength
        cover = speckle & (strength > 0)
    else:
        edge = value_noise(rng, img.shape[:2], 30) * 0.5
        cover = strength > 0.05 + edge
    img = img.copy()
    img[cover] = np.array(colour, np.float32)
    mat[cover] = material
    return img, mat


def _scaled(poly: np.ndarray, factor: float, shift: np.ndarray | None = None) -> np.ndarray:
    c = poly.mean(axis=0)
    out = (poly - c) * factor + c
    return out + shift if shift is not None else out


def _part(poly: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A piece of the footprint covering about ``fraction`` of it (a cut along one side)."""
    if len(poly) != 4:
        return _scaled(poly, math.sqrt(fraction))
    k = int(rng.integers(4))
    p = np.roll(poly, -k, axis=0)
    t = float(np.clip(fraction, 0.05, 1.0))
    return np.array([p[0], p[1], p[1] + (p[2] - p[1]) * t, p[0] + (p[3] - p[0]) * t])


def _blobs(
    draw: ImageDraw.ImageDraw,
    mdraw: ImageDraw.ImageDraw,
    centre: np.ndarray,
    spread: float,
    n: int,
    size: float,
    colour: RGB,
    material: int,
    rng: np.random.Generator,
    direction: np.ndarray | None = None,
) -> None:
    """``n`` small fragments scattered around ``centre`` (biased along ``direction``)."""
    for _ in range(n):
        off = rng.normal(0, spread, 2)
        if direction is not None:
            off = off + direction * abs(rng.normal(0, spread))
        q = centre + off
        r = rng.uniform(0.5, 1.0) * size
        box = [q[0] - r, q[1] - r * 0.7, q[0] + r, q[1] + r * 0.7]
        draw.rectangle(box, fill=colour)
        mdraw.rectangle(box, fill=material)


def draw_building_damage(
    draw: ImageDraw.ImageDraw,
    mdraw: ImageDraw.ImageDraw,
    b: Building,
    roof: np.ndarray,
    ctx: DamageContext,
    rng: np.random.Generator,
) -> None:
    """Draw the building's damage over its roof (or, flattened, over its footprint)."""
    level = float(ctx.band(b.severity))
    if level < 1.0:
        return
    cls, q = int(level), level - int(level)
    px_m = 1.0 / ctx.hazard.area.pitch_m  # pixels per metre
    centre = roof.mean(axis=0)
    down = np.array(ctx.downwind)
    kind = ctx.disaster_type

    def fill(poly: np.ndarray, colour: RGB, material: int) -> None:
        pts = [tuple(p) for p in poly]
        draw.polygon(pts, fill=colour)
        mdraw.polygon(pts, fill=material)

    if kind == "wind":
        if cls == 1:
            for _ in range(2 + int(6 * q)):
                _blobs(draw, mdraw, centre, 3 * px_m, 1, 1.5 * px_m, DECKING, DEBRIS, rng)
            if rng.random() < 0.35 + 0.3 * q:
                fill(_part(roof, rng.uniform(0.2, 0.5), rng), TARP_COLOR, TARP)
            _blobs(
                draw,
                mdraw,
                centre,
                6 * px_m,
                int(3 + 6 * q),
                0.6 * px_m,
                DECKING,
                DEBRIS,
                rng,
                down,
            )
        elif cls == 2:
            fill(_part(roof, 0.35 + 0.45 * q, rng), DECKING, DEBRIS)
            if rng.random() < 0.15:
                fill(_part(roof, 0.3, rng), TARP_COLOR, TARP)
            _blobs(
                draw,
                mdraw,
                centre,
                7 * px_m,
                int(8 + 10 * q),
                0.8 * px_m,
                DECKING,
                DEBRIS,
                rng,
                down,
            )
        else:
            spill = _scaled(roof, 1.2 + 0.5 * q, down * (2 + 4 * q) * px_m)
            fill(spill, DECKING, DEBRIS)
            fill(roof, DECKING, DEBRIS)
            if q > 0.4:
                fill(_part(roof, 0.2 + 0.5 * q, rng), SLAB, CONCRETE)
            _blobs(
                draw,
                mdraw,
                centre,
                9 * px_m,
                int(10 + 12 * q),
                1.0 * px_m,
                DECKING,
                DEBRIS,
                rng,
                down,
            )
    elif kind == "flooding":
        ring = _scaled(roof, 1.0 + (0.08 + 0.1 * cls) * (1 + q))
        draw.line(
            [tuple(p) for p in ring] + [tuple(ring[0])],
            fill=FLOOD_WATER,
            width=max(1, round(1.2 * px_m)),
        )
        if cls >= 2:
            fill(
                _part(roof, 0.4 + 0.5 * q, rng),
                tuple(int(c * 0.72) for c in b.roof),
                DEBRIS if cls == 3 else 4,
            )
            _blobs(draw, mdraw, centre, 5 * px_m, int(4 + 6 * q), 0.9 * px_m, DECKING, DEBRIS, rng)
        if cls == 3:
            fill(_part(roof, 0.5 + 0.4 * q, rng), DECKING, DEBRIS)
    elif kind in ("fire", "volcano"):
        if cls == 1:
            colour = CHAR_COLOR if kind == "fire" else ASH_COLOR
            draw.line(
                [tuple(p) for p in roof] + [tuple(roof[0])],
                fill=colour,
                width=max(1, round(0.8 * px_m)),
            )
        elif cls == 2:
            fill(_part(roof, 0.3 + 0.5 * q, rng), CHAR_COLOR, CHAR)
        else:
            fill(_scaled(roof, 1.05), ASH_COLOR, ASH)
            _blobs(draw, mdraw, centre, 3 * px_m, int(6 + 8 * q), 1.2 * px_m, CHAR_COLOR, CHAR, rng)
    else:  # earthquake, tsunami
        rubble = SLAB if kind == "earthquake" else MUD_COLOR
        if cls == 1:
            for _ in range(2 + int(3 * q)):
                p, r = roof[rng.integers(len(roof), size=2)]
                draw.line([tuple(p), tuple((p + r) / 2)], fill=(52, 50, 48), width=1)
            _blobs(draw, mdraw, centre, 5 * px_m, int(2 + 4 * q), 0.6 * px_m, rubble, DEBRIS, rng)
        elif cls == 2:
            fill(_part(roof, 0.3 + 0.5 * q, rng), rubble, DEBRIS)
        else:
            shift = down * 4 * px_m if kind == "tsunami" else None
            fill(_scaled(roof, 1.15 + 0.3 * q, shift), rubble, DEBRIS)
            if kind == "tsunami" and q > 0.3:
                fill(_part(roof, 0.6, rng), SLAB, CONCRETE)
