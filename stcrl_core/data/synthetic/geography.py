"""The ground an event covers: its tiles, smooth random fields over it and its hazard.

As in xBD, the scenes of an event are adjacent tiles of one imaged area
(numbered row by row), and the disaster's footprint is one field over that
whole area: a tornado track, a hurricane's patchy wind field, a flood plain
along a river, a fire perimeter, site effects of an earthquake, a tsunami's
inundation from the coast, a volcano's flows. A building's damage comes from
that field at its position, so neighbouring tiles share the damage and test
tiles have damaged training tiles next to them.

Positions are in metres on the event plane: ``x`` east and ``y`` south of the
area's north-west corner. Everything is a deterministic function of the
event, the number of scenes and the seed, never of the tile being drawn, so a
building on a tile boundary is the same building in both tiles.

Class mix: each hazard kind gives a raw field ``R``; a building's true
severity is ``R`` plus its own vulnerability (Gaussian), and the label an
annotator gives it sees that severity with some noise (xBD's adjacent-class
disagreements). The class thresholds are the quantiles of the labelled
severities of the event's buildings at which the shares of the four classes
equal the real event's (``EventSpec.counts``).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates, spline_filter

from stcrl_core.data.synthetic.events import EventSpec

METRES_PER_DEG_LAT = 110_540.0
METRES_PER_DEG_LON_EQUATOR = 111_320.0
PITCH_M = (0.45, 0.5)  # pixel size of the pan-sharpened xBD images (measured 0.45-0.49 m)
CALIBRATION_ROUNDS = 4  # fixed-point rounds of the thresholds when sheds take part
# vulnerability (true severity spread) and annotation noise, per hazard kind
VULNERABILITY = {
    "tornado": 0.12,
    "hurricane": 0.16,
    "floodplain": 0.1,
    "perimeter": 0.22,
    "epicentre": 0.12,
    "coast": 0.12,
    "vent": 0.1,
}
ANNOTATION_NOISE = 0.06


def event_rng(seed: int, event: str, *keys: int) -> np.random.Generator:
    """A generator keyed by the seed, the event and integer keys."""
    return np.random.default_rng([seed, zlib.crc32(event.encode()), *keys])


SPLINE_PAD = 12  # edge padding before the cubic spline filter, as scipy's map_coordinates


def _spline_coefficients(grid: np.ndarray) -> np.ndarray:
    """Cubic-spline coefficients of ``grid``, computed once (float64, edge-padded).

    ``map_coordinates(coefficients, coords + SPLINE_PAD, prefilter=False)`` gives
    exactly ``map_coordinates(grid, coords, order=3, mode="nearest")``, without
    filtering the whole grid again on every call (which made an event's fields
    cost quadratically more with its number of scenes).
    """
    padded = np.pad(grid, SPLINE_PAD, mode="edge")
    return spline_filter(padded, order=3, output=np.float64, mode="nearest")


class SmoothField:
    """A smooth random field over a rectangle, about uniform in [0, 1].

    Octaves of random grids with cells of ``cell_m`` metres (halving each
    octave), summed with weights ``persistence ** k`` and interpolated
    cubically, so the field is defined at any position.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        width_m: float,
        height_m: float,
        cell_m: float,
        octaves: int = 3,
        persistence: float = 0.5,
    ) -> None:
        self.grids: list[tuple[float, np.ndarray]] = []
        for k in range(octaves):
            cell = cell_m / 2**k
            shape = (int(height_m / cell) + 4, int(width_m / cell) + 4)
            grid = rng.standard_normal(shape).astype(np.float32)
            self.grids.append((cell, _spline_coefficients(grid)))
        self.weights = [persistence**k for k in range(octaves)]
        self.norm = math.sqrt(sum(w * w for w in self.weights))

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The field at positions ``x``, ``y`` (metres, any shape), in about [0, 1]."""
        total = np.zeros(np.shape(x), np.float32)
        for (cell, grid), w in zip(self.grids, self.weights, strict=True):
            coords = np.stack([np.asarray(y) / cell + 1, np.asarray(x) / cell + 1]) + SPLINE_PAD
            total += w * map_coordinates(
                grid, coords.reshape(2, -1), order=3, mode="nearest", prefilter=False
            ).reshape(np.shape(x)).astype(np.float32)
        # a sum of unit Gaussians interpolated cubically has sd about 0.6 / norm
        return np.clip(0.5 + total / (self.norm * 0.6) / 5.0, 0.0, 1.0)


@dataclass(frozen=True)
class EventArea:
    """The tiles of an event: ``cols x rows`` tiles of ``tile_m`` metres, row by row."""

    cols: int
    rows: int
    tile_m: float
    pitch_m: float
    lon0: float  # north-west corner
    lat0: float

    @classmethod
    def of(cls, event: EventSpec, n_scenes: int, size: int, seed: int) -> EventArea:
        """The area of ``n_scenes`` tiles of ``size`` px around the event's centre."""
        pitch = float(event_rng(seed, event.name, 1).uniform(*PITCH_M))
        cols = max(1, math.ceil(math.sqrt(1.5 * n_scenes)))
        rows = math.ceil(n_scenes / cols)
        tile_m = size * pitch
        m_lon = METRES_PER_DEG_LON_EQUATOR * math.cos(math.radians(event.lat))
        lon0 = event.lon - cols * tile_m / 2 / m_lon
        lat0 = event.lat + rows * tile_m / 2 / METRES_PER_DEG_LAT
        return cls(cols, rows, tile_m, pitch, lon0, lat0)

    @property
    def width_m(self) -> float:
        return self.cols * self.tile_m

    @property
    def height_m(self) -> float:
        return self.rows * self.tile_m

    def tile_origin(self, index: int) -> tuple[float, float]:
        """Event-plane position (metres) of tile ``index``'s north-west corner."""
        return (index % self.cols) * self.tile_m, (index // self.cols) * self.tile_m

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude of event-plane positions."""
        lat = self.lat0 - np.asarray(y) / METRES_PER_DEG_LAT
        m_lon = METRES_PER_DEG_LON_EQUATOR * np.cos(np.radians(self.lat0))
        return self.lon0 + np.asarray(x) / m_lon, lat


class Hazard:
    """An event's footprint: the raw severity field and the calibrated class thresholds."""

    def __init__(self, event: EventSpec, area: EventArea, seed: int) -> None:
        self.kind = event.hazard
        self.area = area
        rng = event_rng(seed, event.name, 2)
        w, h = area.width_m, area.height_m
        self.coarse = SmoothField(rng, w, h, 180.0, 2)
        self.fine = SmoothField(rng, w, h, 40.0, 3)
        self.params = self._draw_params(rng)
        self.vulnerability = VULNERABILITY[self.kind]
        self.thresholds = np.full(3, np.inf)  # set by calibrate()

    def _draw_params(self, rng: np.random.Generator) -> dict[str, float]:
        w, h = self.area.width_m, self.area.height_m
        p: dict[str, float] = {"angle": float(rng.uniform(-math.pi, math.pi))}
        if self.kind == "tornado":  # mostly south-west to north-east, through the middle
            p.update(
                angle=float(rng.uniform(-0.45, 0.15)),
                x0=w / 2,
                y0=float(rng.uniform(0.35, 0.65)) * h,
                half_width=float(rng.uniform(0.25, 0.4)) * min(w, h),
            )
        elif self.kind == "floodplain":
            p.update(
                amplitude=float(rng.uniform(0.1, 0.25)) * h,
                y0=float(rng.uniform(0.3, 0.7)) * h,
                wavelength=float(rng.uniform(0.7, 1.5)) * w,
                phase=float(rng.uniform(0, 2 * math.pi)),
            )
        elif self.kind == "coast":
            p.update(side=float(rng.integers(4)), reach=float(rng.uniform(0.25, 0.5)))
        elif self.kind == "vent":
            p.update(flows=float(rng.integers(1, 4)), x0=float(rng.uniform(0, 1)) * w)
        return p

    def raw(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The raw severity field at event-plane positions (about 0 to 1)."""
        x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
        w, h, p = self.area.width_m, self.area.height_m, self.params
        coarse, fine = self.coarse(x, y), self.fine(x, y)
        if self.kind == "tornado":
            a = p["angle"]
            d = np.abs(-(x - p["x0"]) * math.sin(a) + (y - p["y0"]) * math.cos(a))
            along = (x - p["x0"]) * math.cos(a) + (y - p["y0"]) * math.sin(a)
            core = np.exp(-((d / p["half_width"]) ** 2))
            return core * (0.85 + 0.15 * np.sin(along / (0.7 * w) * math.pi)) * (0.7 + 0.6 * fine)
        if self.kind == "hurricane":
            a = p["angle"]
            ramp = 0.5 + ((x - w / 2) * math.cos(a) + (y - h / 2) * math.sin(a)) / (2 * max(w, h))
            return 0.35 * ramp + 0.35 * coarse + 0.5 * fine
        if self.kind == "floodplain":
            river = p["y0"] + p["amplitude"] * np.sin(
                2 * math.pi * x / p["wavelength"] + p["phase"]
            )
            elevation = np.abs(y - river) / h + 0.35 * coarse
            return 1.0 - elevation + 0.08 * fine
        if self.kind == "perimeter":
            a = p["angle"]
            ramp = ((x - w / 2) * math.cos(a) + (y - h / 2) * math.sin(a)) / max(w, h)
            fire = coarse + 0.6 * ramp + 0.15 * fine
            return 1 / (1 + np.exp(-(fire - 0.55) / 0.035))
        if self.kind == "epicentre":
            return 0.6 * fine + 0.25 * coarse
        if self.kind == "coast":
            side = int(p["side"])
            d = [x, w - x, y, h - y][side] / (w if side < 2 else h)
            return np.exp(-d / p["reach"]) + 0.25 * (fine - 0.5) + 0.15 * (coarse - 0.5)
        # vent: flows from the north edge, wandering south
        out = np.zeros_like(x)
        for k in range(int(p["flows"])):
            centre = (p["x0"] + (k - 1) * 0.3 * w) % w
            wander = centre + 0.15 * w * np.sin(y / (0.4 * h) + k)
            out = np.maximum(out, np.exp(-(((x - wander) / (0.08 * w)) ** 2)) * (1 - 0.5 * y / h))
        return out + 0.15 * fine

    def calibrate(
        self, shares: tuple[float, ...], labelled: np.ndarray, fragile: np.ndarray | None = None
    ) -> None:
        """Set the class thresholds so that ``labelled`` severities have the class ``shares``.

        Fragile buildings (sheds) are labelled by :meth:`label` (standing or gone), so
        the thresholds are set on the others, with the shares the sheds leave over,
        until the whole event has ``shares``.

        Args:
            shares: Shares of the four damage classes (no-damage first).
            labelled: The labelled severity of every building of the event.
            fragile: Which buildings are fragile (default: none).
        """
        labelled = np.asarray(labelled, np.float64)
        fragile = np.zeros(len(labelled), bool) if fragile is None else np.asarray(fragile, bool)
        target = np.asarray(shares, np.float64) * len(labelled)
        rest = labelled[~fragile] if (~fragile).any() else labelled
        wanted = np.asarray(shares, np.float64)
        for _ in range(CALIBRATION_ROUNDS if fragile.any() else 1):
            at_least = [wanted[k:].sum() / max(wanted.sum(), 1e-9) for k in (1, 2, 3)]
            self.thresholds = np.array(
                [np.quantile(rest, 1 - q) if q > 0 else np.inf for q in at_least], np.float64
            )
            sheds = np.bincount(self.label(labelled[fragile], True), minlength=4)
            wanted = np.clip(target - sheds, 0, None)

    def label(self, labelled: np.ndarray, fragile: bool | np.ndarray = False) -> np.ndarray:
        """Labelled class (0-3): a fragile building the hazard reached is destroyed.

        Light sheds in real xBD are mostly either standing or gone: on the real
        Joplin scenes a quarter of the no-damage and of the destroyed footprints are
        under 50 m2, against none of the major ones (``../shared/data/xbd-real``).
        Where the event has no destroyed class, classes stay as they are.
        """
        cls = self.classify(labelled)
        if not np.isfinite(self.thresholds[2]):
            return cls
        return np.where(np.asarray(fragile) & (cls >= 1), 3, cls)

    def classify(self, severity: np.ndarray) -> np.ndarray:
        """Damage class (0-3) of severities (labelled or true) under the calibrated thresholds."""
        return np.searchsorted(self.thresholds, severity, side="right").astype(np.int64)

    def within_class(self, severity: np.ndarray) -> np.ndarray:
        """Where each severity lies within its (true) class's band, 0 to 1."""
        cls = self.classify(severity)
        finite = np.where(np.isfinite(self.thresholds), self.thresholds, np.nan)
        bounds = np.concatenate([[np.nanmin(finite) - 0.3], finite, [np.nanmax(finite) + 0.3]])
        bounds = np.where(np.isnan(bounds), bounds[-1], bounds)
        lo, hi = bounds[cls], bounds[cls + 1]
        return np.clip((severity - lo) / np.maximum(hi - lo, 1e-6), 0.0, 1.0)
