"""Noise and material textures of the generator (all float32, deterministic per rng).

Real imagery is textured at every scale: lawns and fields vary over tens of
metres and grain over a pixel or two, roofs carry shingle or sheet patterns,
tree crowns are clumps lit on one side, debris is a jumble of bright and dark
fragments a few pixels across. White per-pixel noise has none of this (it
gives several times the real share of power at the highest frequencies), so
textures here are band-limited noise at the scale of each material.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

# material ids of the material map drawn beside the image
GROUND, LAWN, ASPHALT, CONCRETE, ROOF, TREE, WATER, DEBRIS, CHAR, ASH, MUD, TARP, CAR, WALL = range(
    14
)
# (grain amplitude, grain scale in px, low-frequency amplitude) per material
GRAIN: dict[int, tuple[float, float, float]] = {
    GROUND: (0.13, 1.2, 0.10),
    LAWN: (0.12, 1.0, 0.08),
    ASPHALT: (0.05, 0.8, 0.04),
    CONCRETE: (0.06, 0.8, 0.03),
    ROOF: (0.05, 0.7, 0.03),
    TREE: (0.3, 1.2, 0.06),
    WATER: (0.03, 2.5, 0.08),
    DEBRIS: (0.0, 1.0, 0.0),  # textured separately (fragments)
    CHAR: (0.18, 1.2, 0.1),
    ASH: (0.08, 1.5, 0.08),
    MUD: (0.07, 1.5, 0.1),
    TARP: (0.04, 0.8, 0.0),
    CAR: (0.03, 0.6, 0.0),
    WALL: (0.05, 0.8, 0.0),
}
DEBRIS_COLORS = np.array(  # wood, soil, plaster and roofing; real Joplin debris is warm, mid-grey
    [
        (176, 160, 136),
        (138, 114, 88),
        (196, 184, 164),
        (96, 84, 72),
        (156, 146, 136),
        (182, 138, 106),
        (124, 116, 106),
        (208, 198, 182),
    ],
    np.float32,
)


def value_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> np.ndarray:
    """Smooth noise in [0, 1] with about ``cells`` features across the longer side."""
    n = max(2, int(cells) + 1)
    coarse = rng.random((n, n)).astype(np.float32)
    img = Image.fromarray(coarse, mode="F").resize((shape[1], shape[0]), Image.Resampling.BICUBIC)
    out = np.asarray(img)
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def grain(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean, unit-variance noise correlated over about ``sigma`` pixels."""
    white = rng.standard_normal(shape).astype(np.float32)
    if sigma <= 0.3:
        return white
    axes = (sigma, sigma) + (0,) * (len(shape) - 2)
    out = gaussian_filter(white, axes)
    return out / max(float(out.std()), 1e-6)


def apply_materials(
    img: np.ndarray,
    materials: np.ndarray,
    texture_rng: np.random.Generator,
    rng: np.random.Generator,
) -> np.ndarray:
    """Modulate each material's pixels by its grain and low-frequency variation.

    The grains come from ``texture_rng`` in a fixed order, so two captures of a
    tile drawn with equal texture generators share their textures; debris
    (drawn only after a disaster) takes its fragments from ``rng`` and keeps
    some of the colour it was drawn with (wood, slab, mud...).
    """
    shape = materials.shape
    low = (value_noise(texture_rng, shape, 6) - 0.5) * 2
    # half of the grain is the surface's own (shared by both captures), half the capture's
    # (another sampling of a texture finer than a pixel or two)
    grains = {
        scale: (grain(texture_rng, shape, scale) + grain(rng, shape, scale)) / np.sqrt(2)
        for scale in sorted({g[1] for g in GRAIN.values()})
    }
    factor = np.ones(shape, np.float32)
    for material, (amp, scale, low_amp) in GRAIN.items():
        mask = materials == material
        if not mask.any() or (amp == 0 and low_amp == 0):
            continue
        factor[mask] = 1 + amp * grains[scale][mask] + low_amp * low[mask]
    out = img * factor[..., None]
    debris = materials == DEBRIS
    if debris.any():
        out[debris] = 0.3 * img[debris] + 0.7 * debris_texture(rng, shape)[debris]
    return out


def debris_texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A jumble of fragments 1-4 px across in the colours of wood, plaster and roofing."""
    blobs = gaussian_filter(rng.standard_normal(shape).astype(np.float32), 0.8)
    index = np.digitize(blobs, np.quantile(blobs, np.linspace(0, 1, len(DEBRIS_COLORS) + 1)[1:-1]))
    tex = DEBRIS_COLORS[rng.permutation(len(DEBRIS_COLORS))[index]]
    shade = 1 + 0.18 * grain(rng, shape, 0.6)
    return tex * shade[..., None]


def crown_shading(
    shape: tuple[int, int], trees: np.ndarray, sun: tuple[float, float]
) -> np.ndarray:
    """Multiplicative shading of tree crowns: lit towards the sun, darker away from it.

    Args:
        shape: Image shape.
        trees: ``(n, 3)`` x, y, radius in pixels.
        sun: Unit vector (dx, dy) in image coordinates pointing towards the sun.
    """
    shade = np.ones(shape, np.float32)
    h, w = shape
    for x, y, r in trees:
        x0, x1 = max(0, int(x - r) - 1), min(w, int(x + r) + 2)
        y0, y1 = max(0, int(y - r) - 1), min(h, int(y + r) + 2)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = (xx - x) / max(r, 1), (yy - y) / max(r, 1)
        inside = dx * dx + dy * dy <= 1
        light = 1 + 0.3 * (dx * sun[0] + dy * sun[1])
        shade[y0:y1, x0:x1][inside] = light[inside]
    return shade
