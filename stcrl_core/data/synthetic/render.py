"""Drawing one acquisition of a tile: ground, streets, lots, cars, trees, buildings.

Buildings are drawn as the sensor sees them: the labelled polygon is the roof
as seen in the pre-disaster capture; the walls stand on the ground footprint
and the roof leans away from the sensor by ``height * tan(off-nadir)``, so a
capture with another off-nadir angle or azimuth shows the roof displaced and
other walls, as real pre/post pairs do. Shadows fall away from the sun with a
length set by the sun's elevation; roofs are shaded facet by facet. The post
capture adds the hazard's marks on the ground and each building's damage
(:mod:`stcrl_core.data.synthetic.damage`).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from stcrl_core.data.synthetic.damage import DamageContext, draw_building_damage, ground_cover
from stcrl_core.data.synthetic.layout import KEY_OFFSET, Building, TileLayout
from stcrl_core.data.synthetic.sensor import Acquisition, acquire
from stcrl_core.data.synthetic.textures import (
    ASPHALT,
    CAR,
    CONCRETE,
    LAWN,
    ROOF,
    TARP,
    TREE,
    WALL,
    WATER,
    apply_materials,
    crown_shading,
    value_noise,
)

POOL = (64, 150, 176)
DRIVEWAY = (168, 166, 160)
SHADOW_DEPTH = 0.6  # shadows keep 40% of the light (skylight)


def _facets(b: Building, roof: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Roof facets and the angle of their outward normal (image coordinates)."""
    if b.roof_kind == "flat" or len(roof) != 4:
        return [(roof, math.nan)]
    p = roof
    long_first = np.linalg.norm(p[1] - p[0]) >= np.linalg.norm(p[2] - p[1])
    if not long_first:
        p = np.roll(p, -1, axis=0)
    m1, m2 = (p[0] + p[3]) / 2, (p[1] + p[2]) / 2  # ridge line along the long side
    along = (m2 - m1) / max(float(np.linalg.norm(m2 - m1)), 1e-6)
    normal = math.atan2(*(p[0] - m1)[::-1])
    if b.roof_kind == "gable":
        return [
            (np.array([p[0], p[1], m2, m1]), normal),
            (np.array([m1, m2, p[2], p[3]]), normal + math.pi),
        ]
    inset = along * min(float(np.linalg.norm(p[3] - p[0])) / 2, float(np.linalg.norm(m2 - m1)) / 3)
    r1, r2 = m1 + inset, m2 - inset
    return [
        (np.array([p[0], p[1], r2, r1]), normal),
        (np.array([r1, r2, p[2], p[3]]), normal + math.pi),
        (np.array([p[3], p[0], r1]), math.atan2(-along[1], -along[0])),
        (np.array([p[1], p[2], r2]), math.atan2(along[1], along[0])),
    ]


def render_tile(
    layout: TileLayout,
    acq: Acquisition,
    pre_acq: Acquisition,
    damage: DamageContext | None,
    texture_seed: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Render one capture of the tile (``damage`` None = before the disaster); uint8 image.

    ``texture_seed`` fixes the textures of the ground and the roofs, shared by
    both captures of a tile; ``rng`` draws what differs (the damage's details).
    """
    size, style, pitch = layout.size, layout.style, layout.pitch_m
    texture_rng = np.random.default_rng(texture_seed)
    low = _low_noise(texture_rng, size)
    ground = np.array(style.ground, np.float32) * (
        1 + style.ground_var * (low[..., None] - 0.5) * 2
    )
    canvas = Image.fromarray(np.clip(ground, 0, 255).astype(np.uint8))
    materials = Image.new("L", (size, size), 0)
    draw, mdraw = ImageDraw.Draw(canvas), ImageDraw.Draw(materials)

    def shape(poly: np.ndarray, colour, material: int) -> None:
        pts = [tuple(p) for p in poly]
        draw.polygon(pts, fill=tuple(int(c) for c in colour))
        mdraw.polygon(pts, fill=material)

    lawn = _season(np.array(style.lawn, np.float32), acq.vegetation)
    for poly, tint in layout.lawns:
        shape(poly, np.clip(lawn * (1 + tint), 0, 255), LAWN)
    for pts, width in layout.streets:
        draw.line(pts, fill=style.street_color, width=max(1, round(width)), joint="curve")
        mdraw.line(pts, fill=ASPHALT, width=max(1, round(width)), joint="curve")
    for poly in layout.driveways:
        shape(poly, DRIVEWAY, CONCRETE)
    for poly in layout.pools:
        shape(poly, POOL, WATER)
    hedge = tuple(int(c * 0.75) for c in style.veg_color)
    for pts, width in layout.hedges:
        draw.line(pts, fill=hedge, width=max(1, round(width)))
        mdraw.line(pts, fill=TREE, width=max(1, round(width)))
    img = np.asarray(canvas).astype(np.float32)
    mat = np.asarray(materials).copy()
    if damage is not None:
        img, mat = ground_cover(img, mat, layout, damage, rng)
    canvas, materials = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), Image.fromarray(mat)
    draw, mdraw = ImageDraw.Draw(canvas), ImageDraw.Draw(materials)
    for poly, colour in layout.cars:
        shape(poly, colour, CAR)
    # shadows of buildings (from their ground footprint) and trees
    shadow = Image.new("L", (size, size), 0)
    sdraw = ImageDraw.Draw(shadow)
    sun_off = acq.shadow_vector(pitch)
    lean_pre, lean = pre_acq.lean_vector(pitch), acq.lean_vector(pitch)
    standing = [b for b in layout.buildings if damage is None or not damage.flattened(b)]
    for b in standing:
        base = b.polygon - lean_pre * b.height_m
        off = sun_off * b.height_m
        for k in range(len(base)):
            p, q = base[k], base[(k + 1) % len(base)]
            sdraw.polygon([tuple(p), tuple(q), tuple(q + off), tuple(p + off)], fill=255)
        sdraw.polygon([tuple(p + off) for p in base], fill=255)
    trees = damage.trees(layout) if damage is not None else [(*t, 1.0) for t in layout.trees]
    for x, y, r, _ in trees:
        ox, oy = sun_off * 6.0
        sdraw.ellipse([x + ox - r, y + oy - r, x + ox + r, y + oy + r], fill=255)
    veg = _season(np.array(style.veg_color, np.float32), acq.vegetation)
    for x, y, r, health in trees:
        colour = veg * health + np.array((104, 92, 72), np.float32) * (1 - health)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(c) for c in colour))
        mdraw.ellipse([x - r, y - r, x + r, y + r], fill=TREE)
    shade = 0.82 + 0.18 * math.sin(math.radians(acq.sun_elevation))
    sun = acq.sun_vector()
    for b in layout.buildings:
        if damage is not None and damage.flattened(b):
            draw_building_damage(draw, mdraw, b, b.polygon - lean_pre * b.height_m, damage, rng)
            continue
        base = b.polygon - lean_pre * b.height_m
        roof = base + lean * b.height_m
        wall = tuple(int(c * 0.7) for c in b.roof) if b.material != "concrete" else (150, 146, 140)
        for k in range(len(base)):
            p, q = base[k], base[(k + 1) % len(base)]
            shape(np.array([p, q, roof[(k + 1) % len(roof)], roof[k]]), wall, WALL)
        for facet, normal in _facets(b, roof):
            light = (
                1.0
                if math.isnan(normal)
                else 1 + 0.16 * (math.cos(normal) * sun[0] + math.sin(normal) * sun[1])
            )
            shape(facet, np.clip(np.array(b.roof) * shade * light, 0, 255), ROOF)
        if b.roof_kind == "flat":
            _flat_roof_details(draw, mdraw, b, roof)
        if damage is not None:
            draw_building_damage(draw, mdraw, b, roof, damage, rng)
    img = np.asarray(canvas).astype(np.float32)
    mat = np.asarray(materials)
    img = apply_materials(img, mat, texture_rng, rng)
    if trees:
        crowns = crown_shading((size, size), np.array([t[:3] for t in trees]), sun)
        img *= crowns[..., None]
    s = np.asarray(shadow, np.float32) / 255
    s[np.isin(mat, (ROOF, WALL, TREE, TARP))] = 0  # shadows fall on what lies lower
    s = s[..., None]
    img *= 1 - SHADOW_DEPTH * (1 - 0.5 * acq.haze) * s
    return acquire(img, acq)


def _season(colour: np.ndarray, greenness: float) -> np.ndarray:
    """Vegetation of another season: more or less saturated and bright."""
    grey = colour.mean()
    return np.clip(grey + (colour - grey) * greenness, 0, 255) * (0.9 + 0.1 * greenness)


def _low_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    return 0.6 * value_noise(rng, (size, size), 5) + 0.4 * value_noise(rng, (size, size), 16)


def _flat_roof_details(
    draw: ImageDraw.ImageDraw, mdraw: ImageDraw.ImageDraw, b: Building, roof: np.ndarray
) -> None:
    """A parapet and, in some regions, water tanks and stairwell boxes (the same in
    both captures: drawn from the building's own generator)."""
    rng = np.random.default_rng([k + KEY_OFFSET for k in b.key])
    pts = [tuple(p) for p in roof] + [tuple(roof[0])]
    edge = tuple(int(c * 0.8) for c in b.roof)
    draw.line(pts, fill=edge, width=1)
    lo, hi = roof.min(axis=0), roof.max(axis=0)
    for _ in range(rng.poisson(b.clutter)):  # water tanks, stairwells, sheets, repairs
        c = lo + (hi - lo) * rng.uniform(0.2, 0.8, 2)
        r = rng.uniform(0.8, 3.0)
        colour = ((36, 36, 40), (214, 214, 210), (120, 118, 112), (70, 84, 110))[
            int(rng.integers(4))
        ]
        box = [c[0] - r, c[1] - r * rng.uniform(0.5, 1.0), c[0] + r, c[1] + r]
        (draw.ellipse if r < 1.4 else draw.rectangle)(box, fill=colour)
        mdraw.rectangle(box, fill=WALL)
