"""Scene layout, hazard fields and rendering for the xBD-format generator.

A scene is laid out once (streets, lots, buildings, trees, vegetation) and
rendered twice: before the disaster, and after it with the damage of each
building drawn according to the disaster type and its severity. The two
acquisitions differ in sun angle (shadow direction and length), colour balance,
haze, sensor noise and a few pixels of misregistration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from stcrl_core.data.synthetic_events import RGB, RegionStyle

TARP: RGB = (40, 92, 176)
DECKING: RGB = (158, 126, 88)
CHAR: RGB = (36, 32, 30)
WATER: RGB = (112, 98, 72)
MUD: RGB = (146, 128, 98)
ASH: RGB = (156, 154, 150)
BURN: RGB = (58, 48, 40)
# What a hazard leaves on open ground, and the intensity from which it shows.
GROUND_HAZARD: dict[str, tuple[RGB, float]] = {
    "flooding": (WATER, 0.3),
    "fire": (BURN, 0.45),
    "tsunami": (MUD, 0.35),
    "volcano": (ASH, 0.4),
    "earthquake": (ASH, 0.9),
    "wind": (DECKING, 0.75),
}
# Severity score thresholds for minor, major and destroyed (calibrated so that the
# class balance is close to xBD's: ~76% no-damage, 9% minor, 7% major, 8% destroyed).
DAMAGE_THRESHOLDS = (0.33, 0.52, 0.72)


@dataclass
class Building:
    """A building footprint and how it looks."""

    polygon: np.ndarray  # (k, 2) pixel coordinates, not closed
    height_m: float
    roof: RGB
    gable: bool
    damage: int = 0


@dataclass
class Acquisition:
    """Conditions of one image capture."""

    sun_azimuth: float
    sun_elevation: float
    gain: tuple[float, float, float]
    haze: float
    shift: tuple[int, int]
    noise_seed: int


@dataclass
class SceneLayout:
    """Everything about a scene that both acquisitions share."""

    size: int
    gsd: float
    style: RegionStyle
    ground: np.ndarray  # H x W x 3 float32
    streets: list[tuple[list[tuple[float, float]], float]]
    trees: np.ndarray  # (n, 3): x, y, radius in px
    buildings: list[Building] = field(default_factory=list)
    hazard: np.ndarray | None = None  # H x W in [0, 1]


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1] of shape ``size x size`` (``cells`` features across)."""
    coarse = rng.random((cells + 1, cells + 1)).astype(np.float32)
    img = Image.fromarray(coarse, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    field_ = np.asarray(img)
    lo, hi = float(field_.min()), float(field_.max())
    return (field_ - lo) / max(hi - lo, 1e-6)


def _rect(a: float, b: float, l_shape: bool, rng: np.random.Generator) -> np.ndarray:
    if l_shape:
        c, d = b * rng.uniform(0.45, 0.6), a * rng.uniform(0.45, 0.6)
        pts = [(0, 0), (a, 0), (a, c), (d, c), (d, b), (0, b)]
    else:
        pts = [(0, 0), (a, 0), (a, b), (0, b)]
    arr = np.array(pts, dtype=np.float64)
    return arr - (arr.max(axis=0) + arr.min(axis=0)) / 2


def layout_scene(
    rng: np.random.Generator, style: RegionStyle, size: int, gsd: float
) -> SceneLayout:
    """Lay out streets, buildings, trees and ground of one scene."""
    ground_n = smooth_noise(rng, size, 6)
    veg_n = smooth_noise(rng, size, 10)
    veg = np.clip((veg_n - (1 - style.vegetation)) / 0.08, 0, 1)[..., None]
    base = np.array(style.ground, np.float32) * (
        1 + style.ground_var * (ground_n[..., None] - 0.5) * 2
    )
    ground = base * (1 - veg) + np.array(style.veg_color, np.float32) * veg
    theta = rng.uniform(-0.35, 0.35) if style.layout != "organic" else rng.uniform(-1.5, 1.5)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    lot = style.lot_m / gsd
    street = style.street_m / gsd
    block_u = style.block_lots * lot + street
    block_v = 2 * lot + street
    origin = rng.uniform(0, [block_u, block_v])
    half = size * 0.75
    streets: list[tuple[list[tuple[float, float]], float]] = []
    cx = cy = size / 2

    def to_img(u: float, v: float) -> tuple[float, float]:
        return (cx + u * cos_t - v * sin_t, cy + u * sin_t + v * cos_t)

    wobble = 0.25 * lot if style.layout == "organic" else 0.0
    for k in range(-int(half / block_v) - 1, int(half / block_v) + 2):
        v = k * block_v + origin[1] - street / 2
        us = np.linspace(-half, half, 9)
        vs = v + wobble * np.sin(us / (3 * lot) + k)
        streets.append(([to_img(u, vv) for u, vv in zip(us, vs, strict=True)], street))
    for k in range(-int(half / block_u) - 1, int(half / block_u) + 2):
        u = k * block_u + origin[0] - street / 2
        streets.append(([to_img(u, -half), to_img(u, half)], street))
    buildings: list[Building] = []
    lo_m, hi_m = style.building_m
    jitter_angle = 0.45 if style.layout == "organic" else 0.04
    for bu in range(-int(half / block_u) - 1, int(half / block_u) + 1):
        for bv in range(-int(half / block_v) - 1, int(half / block_v) + 1):
            for i in range(style.block_lots):
                for j in range(2):
                    if rng.random() > style.fill:
                        continue
                    u = bu * block_u + origin[0] + (i + 0.5) * lot
                    v = bv * block_v + origin[1] + (j + 0.5) * lot
                    px, py = to_img(u + rng.normal(0, 0.05 * lot), v + rng.normal(0, 0.05 * lot))
                    if not (0 <= px < size and 0 <= py < size):
                        continue
                    a = min(rng.uniform(lo_m, hi_m) / gsd, 0.82 * lot)
                    b = min(a * rng.uniform(0.55, 0.95), 0.82 * lot)
                    shape = _rect(a, b, rng.random() < 0.2, rng)
                    ang = theta + rng.normal(0, jitter_angle)
                    rot = np.array(
                        [[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]]
                    )
                    poly = shape @ rot.T + np.array([px, py])
                    roof = style.roof_colors[rng.integers(len(style.roof_colors))]
                    tint = rng.normal(0, 6, 3)
                    roof = tuple(
                        int(np.clip(c + t, 0, 255)) for c, t in zip(roof, tint, strict=True)
                    )
                    storeys = rng.integers(style.storeys[0], style.storeys[1] + 1)
                    buildings.append(
                        Building(
                            poly,
                            3.2 * storeys,
                            roof,
                            len(shape) == 4 and rng.random() < style.gable,
                        )
                    )
    n_trees = int(style.tree_density * (size * gsd / style.lot_m) ** 2 * 0.8)
    trees = np.column_stack(
        [rng.uniform(0, size, n_trees), rng.uniform(0, size, n_trees),
         rng.uniform(1.8, 4.5, n_trees) / gsd]
    )  # fmt: skip
    return SceneLayout(size, gsd, style, ground.astype(np.float32), streets, trees, buildings)


def hazard_field(
    rng: np.random.Generator, disaster_type: str, size: int, affected: bool
) -> np.ndarray:
    """Spatially clustered hazard intensity in [0, 1] for one scene."""
    if not affected:
        return np.zeros((size, size), np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    modulation = 0.75 + 0.25 * smooth_noise(rng, size, 4)
    if disaster_type == "wind":
        ang = rng.uniform(0, math.pi)
        x0, y0 = rng.uniform(0.2, 0.8, 2)
        d = np.abs((xx - x0) * math.sin(ang) - (yy - y0) * math.cos(ang))
        h = np.exp(-((d / rng.uniform(0.12, 0.25)) ** 2))
    elif disaster_type == "flooding":
        n = smooth_noise(rng, size, 3)
        h = np.clip((n - rng.uniform(0.35, 0.6)) * 2.2, 0, 1)
    elif disaster_type == "fire":
        x0, y0 = rng.uniform(0.0, 1.0, 2)
        d = np.hypot(xx - x0, yy - y0)
        h = 1 / (1 + np.exp((d - rng.uniform(0.25, 0.5)) / 0.04))
    elif disaster_type == "tsunami":
        edge = rng.integers(4)
        d = [xx, 1 - xx, yy, 1 - yy][edge]
        h = 1 / (1 + np.exp((d - rng.uniform(0.2, 0.45)) / 0.12))
    else:  # earthquake, volcano: a few hot spots
        h = np.zeros_like(xx)
        for _ in range(rng.integers(2, 5)):
            x0, y0 = rng.uniform(0, 1, 2)
            h = np.maximum(h, np.exp(-((np.hypot(xx - x0, yy - y0) / rng.uniform(0.12, 0.3)) ** 2)))
    return (h * modulation).astype(np.float32)


def assign_damage(rng: np.random.Generator, layout: SceneLayout) -> None:
    """Give each building a damage class from the hazard at its centre plus noise."""
    assert layout.hazard is not None
    for b in layout.buildings:
        x, y = np.clip(b.polygon.mean(axis=0), 0, layout.size - 1).astype(int)
        score = float(layout.hazard[y, x]) + rng.normal(0, 0.1)
        b.damage = int(np.searchsorted(DAMAGE_THRESHOLDS, score))


def _scaled(poly: np.ndarray, factor: float) -> list[tuple[float, float]]:
    c = poly.mean(axis=0)
    return [tuple(p) for p in (poly - c) * factor + c]


def _half(poly: np.ndarray, first: bool) -> list[tuple[float, float]]:
    """One half of a rectangle cut along its long axis (the ridge line)."""
    p = poly[:4]
    if np.linalg.norm(p[1] - p[0]) >= np.linalg.norm(p[2] - p[1]):
        m1, m2 = (p[0] + p[3]) / 2, (p[1] + p[2]) / 2
        pts = [p[0], p[1], m2, m1] if first else [m1, m2, p[2], p[3]]
    else:
        m1, m2 = (p[0] + p[1]) / 2, (p[3] + p[2]) / 2
        pts = [p[0], m1, m2, p[3]] if first else [m1, p[1], p[2], m2]
    return [tuple(x) for x in pts]


def _texture(rng: np.random.Generator, size: int, colors: list[RGB], grain: float) -> np.ndarray:
    idx = rng.integers(len(colors), size=(size, size))
    tex = np.array(colors, np.float32)[idx]
    return tex * (1 + grain * rng.standard_normal((size, size, 1)).astype(np.float32))


def render(
    layout: SceneLayout, acq: Acquisition, disaster_type: str | None, rng: np.random.Generator
) -> np.ndarray:
    """Render one acquisition; ``disaster_type`` None renders the pre-disaster scene."""
    size, gsd = layout.size, layout.gsd
    post = disaster_type is not None
    img = layout.ground.copy()
    hz = (
        layout.hazard
        if (post and layout.hazard is not None)
        else np.zeros((size, size), np.float32)
    )
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for pts, width in layout.streets:
        draw.line(pts, fill=layout.style.street_color, width=max(1, int(width)))
    img = np.asarray(canvas).astype(np.float32)
    if post:  # hazard on open ground
        color, thr = GROUND_HAZARD[disaster_type]
        alpha = np.clip((hz - thr) / 0.12, 0, 1)[..., None]
        if disaster_type == "wind":  # scattered debris rather than a cover
            alpha = alpha * (rng.random((size, size, 1)) < 0.08)
        img = img * (1 - alpha) + np.array(color, np.float32) * alpha
    # shadows of buildings and trees (away from the sun)
    az, el = math.radians(acq.sun_azimuth), math.radians(acq.sun_elevation)
    direction = np.array([-math.sin(az), math.cos(az)]) / math.tan(el) / gsd
    shadow = Image.new("L", (size, size), 0)
    sdraw = ImageDraw.Draw(shadow)
    for b in layout.buildings:
        if post and b.damage == 3:
            continue  # collapsed: no height, no shadow
        off = direction * b.height_m
        for k in range(len(b.polygon)):
            p, q = b.polygon[k], b.polygon[(k + 1) % len(b.polygon)]
            sdraw.polygon([tuple(p), tuple(q), tuple(q + off), tuple(p + off)], fill=255)
    for x, y, r in layout.trees:
        ox, oy = direction * 5.0
        sdraw.ellipse([x + ox - r, y + oy - r, x + ox + r, y + oy + r], fill=255)
    s = np.asarray(shadow, np.float32)[..., None] / 255
    img = img * (1 - 0.5 * s)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    veg = layout.style.veg_color
    for x, y, r in layout.trees:
        burnt = (
            post and disaster_type in ("fire", "wind") and hz[int(y) % size, int(x) % size] > 0.55
        )
        color = (96, 72, 44) if burnt else tuple(int(c * 0.8) for c in veg)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
    materials = {name: Image.new("L", (size, size), 0) for name in ("rubble", "char")}
    mdraw = {k: ImageDraw.Draw(v) for k, v in materials.items()}
    shade = 0.78 + 0.22 * math.sin(el)
    for b in layout.buildings:
        poly = [tuple(p) for p in b.polygon]
        roof = tuple(int(c * shade) for c in b.roof)
        d = b.damage if post else 0
        if d == 3:
            if disaster_type in ("fire", "volcano"):
                mdraw["char"].polygon(poly, fill=255)
            elif disaster_type == "flooding":
                draw.polygon(_scaled(b.polygon, 1.1), fill=WATER)
                mdraw["rubble"].polygon(_scaled(b.polygon, 0.5), fill=255)
            else:
                mdraw["rubble"].polygon(_scaled(b.polygon, 1.2), fill=255)
            continue
        draw.polygon(poly, fill=roof)
        if b.gable:
            darker = tuple(int(c * 0.82) for c in roof)
            draw.polygon(_half(b.polygon, math.cos(az) > 0), fill=darker)
        if d == 0:
            continue
        part = _half(b.polygon, True) if len(b.polygon) == 4 else _scaled(b.polygon, 0.6)
        if disaster_type == "wind":
            if d == 1:
                c = b.polygon.mean(axis=0)
                for _ in range(rng.integers(1, 3)):
                    t = rng.uniform(0.2, 0.6)
                    v = b.polygon[rng.integers(len(b.polygon))]
                    q = c + (v - c) * t
                    r = rng.uniform(1.0, 2.0) / gsd
                    draw.rectangle([q[0] - r, q[1] - r * 0.7, q[0] + r, q[1] + r * 0.7], fill=TARP)
            else:
                draw.polygon(part, fill=DECKING)
                mdraw["rubble"].polygon(_scaled(np.array(part), 0.6), fill=255)
        elif disaster_type == "flooding":
            if d >= 2:
                draw.polygon(_scaled(b.polygon, 1.0 + 0.1 * d), fill=WATER)
                draw.polygon(_scaled(b.polygon, 0.75), fill=tuple(int(c * 0.7) for c in roof))
            else:
                draw.line([*poly, poly[0]], fill=WATER, width=max(1, int(0.8 / gsd)))
        elif disaster_type in ("fire", "volcano"):
            if d == 1:
                ash = ASH if disaster_type == "volcano" else BURN
                draw.line([*poly, poly[0]], fill=ash, width=max(1, int(1.2 / gsd)))
            else:
                mdraw["char"].polygon(part, fill=255)
        else:  # earthquake, tsunami
            if d == 1:
                for _ in range(3):
                    p, q = b.polygon[rng.integers(len(b.polygon), size=2)]
                    draw.line([tuple(p), tuple((p + q) / 2)], fill=(40, 38, 36), width=1)
            else:
                mdraw["rubble"].polygon(part, fill=255)
    img = np.asarray(canvas).astype(np.float32)
    for name, mask_img in materials.items():
        mask = np.asarray(mask_img, np.float32)[..., None] / 255
        if not mask.any():
            continue
        if name == "rubble":
            tex = _texture(
                rng, size, [(120, 112, 104), (150, 140, 126), (92, 84, 76), (170, 160, 150)], 0.1
            )
        else:
            tex = _texture(rng, size, [CHAR, CHAR, CHAR, (140, 136, 130)], 0.15)
        img = img * (1 - mask) + tex * mask
    return _acquire(img, acq)


def _acquire(img: np.ndarray, acq: Acquisition) -> np.ndarray:
    """Apply colour balance, haze, sensor noise and misregistration."""
    rng = np.random.default_rng(acq.noise_seed)
    out = img * np.array(acq.gain, np.float32)
    out = out * (1 - acq.haze) + np.array([190, 195, 205], np.float32) * acq.haze
    out += rng.normal(0, 3.0, out.shape[:2])[..., None].astype(np.float32)
    out += rng.normal(0, 1.5, out.shape).astype(np.float32)
    dx, dy = acq.shift
    if dx or dy:
        out = np.roll(out, (dy, dx), axis=(0, 1))
        if dy > 0:
            out[:dy] = out[dy : dy + 1]
        elif dy < 0:
            out[dy:] = out[dy - 1 : dy]
        if dx > 0:
            out[:, :dx] = out[:, dx : dx + 1]
        elif dx < 0:
            out[:, dx:] = out[:, dx - 1 : dx]
    return np.clip(out, 0, 255).astype(np.uint8)
