"""Streets, lots, buildings, trees, pools and cars of one tile of an event.

The neighbourhood is laid out once for the whole event area, on a street grid
(straight, or curving for ``organic`` regions) in event-plane metres; every lot
draws its contents from a generator keyed by the lot's indices. A tile only
realises the lots it sees, so adjacent tiles continue each other's streets and
a building on a tile boundary is the same building in both.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import numpy as np
from shapely import Polygon, STRtree

from stcrl_core.data.synthetic.events import RGB, RegionStyle
from stcrl_core.data.synthetic.geography import EventArea, SmoothField, event_rng

KEY_OFFSET = 1 << 20  # lot indices can be negative; generator keys cannot
CAR_COLORS: tuple[RGB, ...] = (
    (220, 220, 222),
    (30, 30, 34),
    (150, 150, 156),
    (210, 212, 214),
    (120, 40, 40),
    (60, 70, 96),
    (200, 200, 190),
    (90, 90, 96),
)


@dataclass
class Building:
    """A building: footprint (px, not closed), height, roof and its event position."""

    polygon: np.ndarray
    height_m: float
    roof_kind: str  # gable, hip or flat
    material: str
    roof: RGB
    ridge: float  # roof ridge direction, radians in image coordinates
    key: tuple[int, ...]  # lot indices: stable over tiles
    event_xy: tuple[float, float]
    clutter: float = 0.0  # expected flat-roof boxes and tanks
    fragile: bool = False  # a light outbuilding: standing or gone (Hazard.label)
    severity: float = 0.0  # true severity (appearance)
    damage: int = 0  # labelled class


@dataclass
class TileLayout:
    """Everything about a tile that both acquisitions share (pixel coordinates)."""

    size: int
    pitch_m: float
    origin_m: tuple[float, float]  # event-plane position of the tile's north-west corner
    style: RegionStyle
    streets: list[tuple[list[tuple[float, float]], float]] = field(default_factory=list)
    lawns: list[tuple[np.ndarray, float]] = field(default_factory=list)  # polygon, tint
    driveways: list[np.ndarray] = field(default_factory=list)
    pools: list[np.ndarray] = field(default_factory=list)
    cars: list[tuple[np.ndarray, RGB]] = field(default_factory=list)
    trees: list[tuple[float, float, float]] = field(default_factory=list)  # x, y, r px
    hedges: list[tuple[list[tuple[float, float]], float]] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)

    def pixel_grid(self, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Event-plane coordinates of the tile's pixel centres (every ``step`` px)."""
        idx = (np.arange(0, self.size, step) + 0.5) * self.pitch_m
        return np.meshgrid(self.origin_m[0] + idx, self.origin_m[1] + idx)


def _rect(a: float, b: float, l_shape: bool, rng: np.random.Generator) -> np.ndarray:
    if l_shape:
        c, d = b * rng.uniform(0.45, 0.6), a * rng.uniform(0.45, 0.6)
        pts = [(0, 0), (a, 0), (a, c), (d, c), (d, b), (0, b)]
    else:
        pts = [(0, 0), (a, 0), (a, b), (0, b)]
    arr = np.array(pts, dtype=np.float64)
    return arr - (arr.max(axis=0) + arr.min(axis=0)) / 2


DISTRICT_M = 350.0  # about how far across a district of one look is


def _districts(rng: np.random.Generator, style: RegionStyle, area: EventArea) -> tuple:
    """Sites and looks of the event's districts.

    An event's area is not one look: subdivisions of different ages and
    sizes, denser and sparser streets, parks and schools, so that the
    appearance of a place (and of its pre-disaster image) changes across an
    event, as it does on the real scenes. Each district varies the region's
    style: how full and how large its lots' buildings are, which of the
    region's roofs and roof shapes it has, its trees, storeys and pools.
    """
    n = max(3, round(area.width_m * area.height_m / DISTRICT_M**2 * 1.5))
    sites = np.column_stack([rng.uniform(0, area.width_m, n), rng.uniform(0, area.height_m, n)])
    looks = []
    for _ in range(n):
        opened = rng.random() < 0.12  # a park, school or commercial block
        k = int(rng.integers(2, len(style.roofs) + 1))
        roofs = tuple(style.roofs[i] for i in rng.choice(len(style.roofs), k, replace=False))
        kinds = rng.dirichlet(np.asarray(style.roof_kinds) * 20 + 0.5)
        lo, hi = style.storeys
        shift = int(rng.integers(-1, 2)) if hi > 1 else 0
        looks.append(
            replace(
                style,
                fill=0.15
                if opened
                else float(np.clip(style.fill * rng.uniform(0.7, 1.12), 0.2, 1)),
                building_m=tuple(
                    v * (2.0 if opened else rng.uniform(0.8, 1.3)) for v in style.building_m
                ),
                tree_density=style.tree_density * rng.uniform(0.4, 1.8),
                roofs=roofs,
                roof_kinds=(0.0, 0.1, 0.9) if opened else tuple(float(v) for v in kinds),
                storeys=(max(1, lo + shift), max(1, hi + shift)),
                pools=style.pools * rng.uniform(0, 2),
            )
        )
    return sites, looks


def _drop_crowded_sheds(layout: TileLayout) -> None:
    """Remove sheds that touch another building (a neighbour's house leaning over the lot
    line); the layout includes two lots beyond the tile, so every tile decides alike."""
    if not any(b.fragile for b in layout.buildings):
        return
    shapes = [Polygon(b.polygon).buffer(0) for b in layout.buildings]
    tree = STRtree(shapes)
    keep = []
    for k, (b, shape) in enumerate(zip(layout.buildings, shapes, strict=True)):
        hits = [i for i in tree.query(shape, predicate="intersects") if i != k]
        keep.append(not (b.fragile and hits))
    layout.buildings = [b for b, ok in zip(layout.buildings, keep, strict=True) if ok]


class Neighbourhood:
    """The event's street grid, its districts and their lots' contents (metres, event plane)."""

    def __init__(self, event: str, style: RegionStyle, area: EventArea, seed: int) -> None:
        self.event, self.style, self.area, self.seed = event, style, area, seed
        rng = event_rng(seed, event, 3)
        organic = style.layout == "organic"
        self.theta = float(rng.uniform(-1.2, 1.2) if organic else rng.uniform(-0.3, 0.3))
        self.lot = style.lot_m
        self.block_u = style.block_lots * style.lot_m + style.street_m
        self.block_v = 2 * style.lot_m + style.street_m
        self.offset = rng.uniform(0, [self.block_u, self.block_v])
        self.wobble = 0.35 * style.lot_m if organic else 0.0
        self.jitter_angle = 0.12 if organic else 0.03
        self.woods = SmoothField(rng, area.width_m, area.height_m, 150.0, 2)
        self.sites, self.looks = _districts(rng, style, area)

    def look(self, x: float, y: float) -> RegionStyle:
        """The style of the district holding event-plane position ``(x, y)``."""
        return self.looks[int(np.argmin(np.hypot(self.sites[:, 0] - x, self.sites[:, 1] - y)))]

    def to_uv(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.theta), math.sin(self.theta)
        return x * c + y * s, -x * s + y * c

    def to_xy(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.theta), math.sin(self.theta)
        return u * c - v * s, u * s + v * c

    def _bend(self, u: np.ndarray, row: int) -> np.ndarray:
        return self.wobble * np.sin(np.asarray(u) / (3.2 * self.lot) + 1.7 * row)

    def tile(self, index: int, size: int) -> TileLayout:
        """The layout of tile ``index`` (``size`` px) in its pixel coordinates."""
        area, style = self.area, self.style
        ox, oy = area.tile_origin(index)
        pitch = area.pitch_m
        layout = TileLayout(size, pitch, (ox, oy), style)
        side = size * pitch
        margin = 2 * self.lot
        corners_x = np.array([ox - margin, ox + side + margin] * 2)
        corners_y = np.array([oy - margin] * 2 + [oy + side + margin] * 2)
        us, vs = self.to_uv(corners_x, corners_y)
        bu_range = range(
            math.floor((us.min() - self.offset[0]) / self.block_u) - 1,
            math.ceil((us.max() - self.offset[0]) / self.block_u) + 1,
        )
        bv_range = range(
            math.floor((vs.min() - self.offset[1]) / self.block_v) - 1,
            math.ceil((vs.max() - self.offset[1]) / self.block_v) + 1,
        )

        def px(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            x, y = self.to_xy(np.asarray(u, float), np.asarray(v, float))
            return np.stack([(x - ox) / pitch, (y - oy) / pitch], axis=-1)

        street = style.street_m
        u_line = np.linspace(us.min() - self.block_u, us.max() + self.block_u, 40)
        for bv in bv_range:  # streets along u, above each block row
            v = bv * self.block_v + self.offset[1] - street / 2 + self._bend(u_line, bv)
            layout.streets.append(([tuple(p) for p in px(u_line, v)], street / pitch))
        v_line = np.linspace(vs.min() - self.block_v, vs.max() + self.block_v, 12)
        for bu in bu_range:  # cross streets
            u = np.full_like(v_line, bu * self.block_u + self.offset[0] - street / 2)
            layout.streets.append(([tuple(p) for p in px(u, v_line)], street / pitch))
        for bu in bu_range:
            for bv in bv_range:
                for i in range(style.block_lots):
                    for j in range(2):
                        self._lot(layout, (bu, bv, i, j), px)
        _drop_crowded_sheds(layout)
        self._street_cars(layout, bu_range, bv_range, px)
        return layout

    def _lot(self, layout: TileLayout, key: tuple[int, int, int, int], px) -> None:
        lot = self.lot
        bu, bv, i, j = key
        rng = event_rng(self.seed, self.event, 10, *(k + KEY_OFFSET for k in key))
        u0 = bu * self.block_u + self.offset[0] + i * lot
        v0 = bv * self.block_v + self.offset[1] + j * lot
        uc, vc = u0 + lot / 2, v0 + lot / 2 + float(self._bend(u0 + lot / 2, bv))
        centre = px(uc, vc)
        if not (
            -2 * lot / layout.pitch_m < centre[0] < layout.size + 2 * lot / layout.pitch_m
            and -2 * lot / layout.pitch_m < centre[1] < layout.size + 2 * lot / layout.pitch_m
        ):
            return
        ex, ey = self.to_xy(np.array(uc), np.array(vc))
        style = self.look(float(ex), float(ey))
        wooded = float(self.woods(ex, ey)) > 1 - style.vegetation * 0.6
        corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)]) * lot / 2 * 0.98
        lawn_poly = px(uc + corners[:, 0], vc + corners[:, 1])
        layout.lawns.append((lawn_poly, float(rng.normal(0, 0.06)) + (-0.25 if wooded else 0)))
        n_trees = rng.poisson(style.tree_density * (3.0 if wooded else 1.0))
        if not wooded and rng.random() < 0.35 * style.tree_density:  # a hedge or fence line
            side = lawn_poly[int(rng.integers(4)) : int(rng.integers(4)) + 2]
            if len(side) == 2:
                layout.hedges.append(
                    ([tuple(p) for p in side], rng.uniform(0.4, 1.2) / layout.pitch_m)
                )
        toward_street = -1.0 if j == 0 else 1.0  # the lot's street side in v
        if not wooded and rng.random() < style.fill:
            lo_m, hi_m = style.building_m
            a = min(rng.uniform(lo_m, hi_m), 0.85 * lot)
            b = min(a * rng.uniform(0.55, 0.95), 0.8 * lot)
            setback = (lot / 2 - b / 2) * rng.uniform(0.1, 0.5) * toward_street
            if style.layout == "dense":  # row houses: the lot split into 1-3 buildings
                a, b, setback = 0.96 * lot, lot * rng.uniform(0.6, 0.95), 0.0
                cuts = np.sort(rng.uniform(-a / 2, a / 2, int(rng.integers(0, 3))))
                edges = np.concatenate([[-a / 2], cuts, [a / 2]])
                parts = [(lo, hi) for lo, hi in itertools.pairwise(edges) if hi - lo > 3.0]
            else:
                parts = [(-a / 2, a / 2)]
            angle = rng.normal(0, self.jitter_angle)
            rot = np.array(
                [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
            )
            shift = np.array([rng.normal(0, 0.04 * lot), setback])
            for k, (lo, hi) in enumerate(parts):
                if len(parts) == 1:
                    shape = _rect(a, b, rng.random() < 0.2, rng)
                else:
                    depth = b * rng.uniform(0.75, 1.0)
                    shape = _rect(hi - lo - 0.4, depth, False, rng) + np.array([(lo + hi) / 2, 0])
                local = shape @ rot.T + shift
                self._add_building(
                    style,
                    layout,
                    rng,
                    px(uc + local[:, 0], vc + local[:, 1]),
                    (*key, k),
                    (float(ex), float(ey)),
                )
            front = vc + setback + toward_street * b / 2  # the building's street-side edge
            if style.driveways:
                du = uc + rng.choice([-1, 1]) * (a / 2 - 1.8)
                street_edge = vc + toward_street * lot / 2
                dv = np.array([front, street_edge])
                drive = px([du - 1.6, du + 1.6, du + 1.6, du - 1.6], [dv[0], dv[0], dv[1], dv[1]])
                layout.driveways.append(drive)
                for k in range(rng.poisson(style.cars * 0.7)):
                    cv = street_edge - toward_street * (2.8 + 5.2 * k)
                    layout.cars.append(self._car(rng, du, cv, math.pi / 2, px))
            has_pool = rng.random() < style.pools
            if style.sheds > 0 and not has_pool and style.layout != "dense":
                gap = (lot / 2 - b / 2) + abs(setback)
                self._shed(layout, style, key, gap, toward_street, (uc, vc), angle, px, (ex, ey))
            if has_pool:
                pv = vc - toward_street * lot * 0.36
                pu = uc + rng.uniform(-0.2, 0.2) * lot
                w, h = rng.uniform(3, 5), rng.uniform(5, 9)
                layout.pools.append(
                    px(
                        [pu - w / 2, pu + w / 2, pu + w / 2, pu - w / 2],
                        [pv - h / 2, pv - h / 2, pv + h / 2, pv + h / 2],
                    )
                )
        if not wooded and layout.buildings and layout.buildings[-1].key[:4] == key:
            b = layout.buildings[-1]  # shrubs along the walls
            for _ in range(rng.poisson(1.5 * style.tree_density)):
                k = int(rng.integers(len(b.polygon)))
                p = (
                    b.polygon[k]
                    + (b.polygon[(k + 1) % len(b.polygon)] - b.polygon[k]) * rng.random()
                )
                out = (p - b.polygon.mean(axis=0)) * 0.12
                layout.trees.append(
                    (
                        float(p[0] + out[0]),
                        float(p[1] + out[1]),
                        rng.uniform(0.6, 1.4) / layout.pitch_m,
                    )
                )
        for _ in range(n_trees):  # mostly in the back of the lot
            tu = uc + rng.uniform(-0.5, 0.5) * lot
            tv = vc + (rng.uniform(-0.5, 0.3) * lot) * -toward_street
            radius = rng.uniform(2.0, 5.5)
            x, y = px(tu, tv)
            layout.trees.append((float(x), float(y), radius / layout.pitch_m))

    def _shed(
        self,
        layout: TileLayout,
        style: RegionStyle,
        key: tuple[int, int, int, int],
        gap: float,
        toward_street: float,
        centre: tuple[float, float],
        angle: float,
        px,
        event_xy: tuple[float, float],
    ) -> None:
        """Maybe an outbuilding (shed, detached garage) in the back corner of a lot.

        It has its own generator, so regions without sheds draw exactly as before.
        ``gap`` is the depth (m) between the main building's back and the lot's.
        """
        rng = event_rng(self.seed, self.event, 11, *(k + KEY_OFFSET for k in key))
        if rng.random() >= style.sheds:
            return
        w, d = rng.uniform(3.0, 7.5), rng.uniform(3.0, 6.0)
        if gap < d + 1.5:
            return
        lot = self.lot
        su = rng.choice([-1.0, 1.0]) * (lot / 2 - 1.0 - w / 2)
        sv = -toward_street * (lot / 2 - 1.0 - d / 2)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        local = _rect(w, d, False, rng) @ rot.T + np.array([su, sv])
        material, colour = (
            ("metal", (int(rng.integers(140, 190)),) * 3)
            if rng.random() < 0.5
            else style.roofs[int(rng.integers(len(style.roofs)))]
        )
        material = {"tile": "shingle", "concrete": "metal"}.get(material, material)
        tint = rng.normal(0, 7, 3)
        roof = tuple(int(np.clip(c + t, 0, 255)) for c, t in zip(colour, tint, strict=True))
        poly = px(centre[0] + local[:, 0], centre[1] + local[:, 1])
        long_axis = poly[1] - poly[0]
        layout.buildings.append(
            Building(
                poly,
                float(rng.uniform(2.2, 3.2)),
                "gable" if rng.random() < 0.6 else "flat",
                material,
                roof,
                math.atan2(long_axis[1], long_axis[0]),
                (*key, 9),
                (float(event_xy[0]), float(event_xy[1])),
                fragile=True,
            )
        )

    def _add_building(
        self,
        style: RegionStyle,
        layout: TileLayout,
        rng: np.random.Generator,
        poly: np.ndarray,
        key: tuple[int, ...],
        event_xy: tuple[float, float],
    ) -> None:
        kind = ("gable", "hip", "flat")[int(rng.choice(3, p=style.roof_kinds))]
        material, colour = style.roofs[int(rng.integers(len(style.roofs)))]
        if kind == "flat" and material in ("shingle", "tile"):
            material = "concrete"
        tint = rng.normal(0, 7, 3)
        roof = tuple(int(np.clip(c + t, 0, 255)) for c, t in zip(colour, tint, strict=True))
        storeys = int(rng.integers(style.storeys[0], style.storeys[1] + 1))
        long_axis = poly[1] - poly[0]
        layout.buildings.append(
            Building(
                poly,
                3.0 * storeys + (1.5 if kind != "flat" else 0.3),
                kind,
                material,
                roof,
                math.atan2(long_axis[1], long_axis[0]),
                key,
                event_xy,
                style.clutter if kind == "flat" else 0.0,
            )
        )

    def _car(self, rng: np.random.Generator, u: float, v: float, angle: float, px):
        c, s = math.cos(angle), math.sin(angle)
        local = np.array([(-2.2, -0.9), (2.2, -0.9), (2.2, 0.9), (-2.2, 0.9)])
        rotated = local @ np.array([[c, -s], [s, c]]).T
        colour = CAR_COLORS[int(rng.integers(len(CAR_COLORS)))]
        return px(u + rotated[:, 0], v + rotated[:, 1]), colour

    def _street_cars(self, layout: TileLayout, bu_range: range, bv_range: range, px) -> None:
        spacing = 10.0 / max(self.style.cars * 0.25, 1e-3)
        for bv in bv_range:
            rng = event_rng(self.seed, self.event, 11, bv + KEY_OFFSET)
            v = bv * self.block_v + self.offset[1] - self.style.street_m / 2
            u = bu_range.start * self.block_u + rng.uniform(0, spacing)
            end = bu_range.stop * self.block_u
            while u < end:
                side = rng.choice([-1, 1]) * (self.style.street_m / 2 - 1.3)
                vv = v + side + float(self._bend(u, bv))
                layout.cars.append(self._car(rng, u, vv, 0.0, px))
                u += rng.exponential(spacing)
