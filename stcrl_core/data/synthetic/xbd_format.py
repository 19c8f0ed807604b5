"""Scenes of named events written in the exact xBD layout and schema.

``generate_xbd`` writes ``<out>/<split>/{images,labels,targets}/`` so that the
demo and the tests go through the same reader and ingest as real xBD. Each
event is one area tiled by its scenes (:mod:`~stcrl_core.data.synthetic.geography`),
laid out once (:mod:`~stcrl_core.data.synthetic.layout`), captured twice
(:mod:`~stcrl_core.data.synthetic.sensor`): a scene depends only on
``(event, scene_index, scenes_per_event, size, seed)``.

Like real xBD: a building's post polygon equals its pre polygon (annotations
were drawn once); polygons are clipped at the image border; ``metadata.gsd``
is the multispectral GSD of the capture (about four times the pixel size,
which the ingest measures from the polygons); about the real event's share of
buildings is ``un-classified``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from shapely.geometry import Polygon, box

from stcrl_core.data.synthetic.damage import DamageContext
from stcrl_core.data.synthetic.events import DEFAULT_EVENTS, EVENTS, EventSpec
from stcrl_core.data.synthetic.geography import ANNOTATION_NOISE, EventArea, Hazard, event_rng
from stcrl_core.data.synthetic.layout import KEY_OFFSET, Building, Neighbourhood, TileLayout
from stcrl_core.data.synthetic.render import render_tile
from stcrl_core.data.synthetic.sensor import Acquisition, draw_acquisition, for_tile
from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace.atomic import atomic_path, atomic_write_json

MIN_AREA_PX = 6.0  # clipped polygons smaller than this are not labelled


@dataclass(frozen=True)
class EventWorld:
    """Everything an event's scenes share."""

    area: EventArea
    hazard: Hazard
    neighbourhood: Neighbourhood
    pre: Acquisition
    post: Acquisition
    downwind: tuple[float, float]


@functools.lru_cache(maxsize=32)
def event_world(event: EventSpec, n_scenes: int, size: int, seed: int) -> EventWorld:
    """The area, hazard, street grid and the two captures of an event (cached)."""
    area = EventArea.of(event, n_scenes, size, seed)
    rng = event_rng(seed, event.name, 4)
    angle = float(rng.uniform(0, 2 * math.pi))
    hazard = Hazard(event, area, seed)
    neighbourhood = Neighbourhood(event.name, event.region, area, seed)
    seen = [
        b
        for index in range(n_scenes)
        for b in neighbourhood.tile(index, size).buildings
        if _clip(b.polygon, size) is not None
    ]
    labelled = np.array([_severities(event, hazard, b, seed)[1] for b in seen], np.float64)
    hazard.calibrate(event.shares, labelled, np.array([b.fragile for b in seen], bool))
    return EventWorld(
        area=area,
        hazard=hazard,
        neighbourhood=neighbourhood,
        pre=draw_acquisition(rng, event.lat, False, event.captures and event.captures[0]),
        post=draw_acquisition(rng, event.lat, True, event.captures and event.captures[1]),
        downwind=(math.cos(angle), math.sin(angle)),
    )


def split_plan(event: EventSpec, n: int) -> list[str]:
    """Which split each of an event's ``n`` scenes goes to.

    Tier3-only events go wholly to ``tier3``; others spread over train (about
    70%), test and hold (about 15% each, at least one each once ``n >= 3``),
    interleaved over the event's area (so test tiles have training neighbours).
    """
    if event.tier3:
        return ["tier3"] * n
    n_test = max(1, round(0.15 * n)) if n >= 2 else 0
    n_hold = max(1, round(0.15 * n)) if n >= 3 else 0
    plan = ["train"] * (n - n_test - n_hold) + ["test"] * n_test + ["hold"] * n_hold
    order = np.argsort((np.arange(n) * 0.618) % 1.0, kind="stable")
    return [plan[i] for i in order]


def _wkt(points: np.ndarray, digits: int) -> str:
    ring = [*points.tolist(), points[0].tolist()]
    return "POLYGON ((" + ", ".join(f"{x:.{digits}f} {y:.{digits}f}" for x, y in ring) + "))"


def _clip(poly: np.ndarray, size: int) -> np.ndarray | None:
    """The polygon clipped to the image (largest part), or None if too little is left."""
    shape = Polygon(poly).buffer(0).intersection(box(0, 0, size, size))
    if shape.is_empty:
        return None
    if shape.geom_type != "Polygon":
        shape = max(getattr(shape, "geoms", []), key=lambda g: g.area, default=None)
        if shape is None or shape.geom_type != "Polygon":
            return None
    if shape.area < MIN_AREA_PX:
        return None
    return np.asarray(shape.exterior.coords)[:-1]


def _severities(
    event: EventSpec, hazard: Hazard, b: Building, seed: int
) -> tuple[float, float, bool]:
    """A building's true and labelled severity and whether it is un-classified (drawn
    from its own generator, so the same in every tile that shows it)."""
    rng = event_rng(seed, event.name, 30, *(k + KEY_OFFSET for k in b.key))
    raw = float(hazard.raw(np.array(b.event_xy[0]), np.array(b.event_xy[1])))
    true = raw + float(rng.normal(0, hazard.vulnerability))
    labelled = true + float(rng.normal(0, ANNOTATION_NOISE))
    return true, labelled, bool(rng.random() < event.unclassified_share)


def _label_buildings(
    event: EventSpec, world: EventWorld, layout: TileLayout, seed: int
) -> list[tuple[Building, np.ndarray, str]]:
    """Buildings seen in the tile, with their clipped polygon and subtype; sets severities."""
    seen = []
    for b in layout.buildings:
        polygon = _clip(b.polygon, layout.size)
        if polygon is None:
            continue
        b.severity, labelled, unclassified = _severities(event, world.hazard, b, seed)
        b.damage = int(world.hazard.label(np.array(labelled), b.fragile))
        if b.fragile and b.damage == 3 and world.hazard.classify(np.array(b.severity)) < 3:
            # a shed the hazard reached is gone: drawn as destroyed, as it is labelled
            b.severity = float(world.hazard.thresholds[2]) + 0.5 * abs(b.severity - labelled)
        seen.append((b, polygon, "un-classified" if unclassified else DAMAGE_NAMES[b.damage]))
    return seen


def _metadata(
    event: EventSpec,
    acq: Acquisition,
    size: int,
    date: str,
    img_name: str,
    rng: np.random.Generator,
) -> dict[str, Any]:
    stamp = _dt.datetime.fromisoformat(date.replace("Z", "+00:00"))
    gsd = acq.multispectral_gsd
    return {
        "sensor": acq.sensor,
        "provider_asset_type": acq.sensor,
        "gsd": round(gsd, 6),
        "capture_date": stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "off_nadir_angle": round(acq.off_nadir, 4),
        "pan_resolution": round(gsd / 4, 6),
        "sun_azimuth": round(acq.sun_azimuth, 4),
        "sun_elevation": round(acq.sun_elevation, 4),
        "target_azimuth": round(acq.target_azimuth, 4),
        "disaster": event.name,
        "disaster_type": event.disaster_type,
        "catalog_id": rng.bytes(8).hex(),
        "original_width": size,
        "original_height": size,
        "width": size,
        "height": size,
        "id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "img_name": img_name,
    }


def generate_scene(
    event: EventSpec, scene_index: int, size: int, seed: int, scenes_per_event: int = 1
) -> dict[str, Any]:
    """Generate one scene (both captures, both labels, both targets) in memory.

    Args:
        event: The event.
        scene_index: The tile, numbered row by row over the event's area.
        size: Image side in pixels.
        seed: Random seed.
        scenes_per_event: How many tiles the event's area has (its size).

    Returns:
        A dict with ``stem``, ``pre`` and ``post`` images (H x W x 3 uint8),
        ``labels`` (``{"pre": json, "post": json}``), ``targets`` (``{"pre",
        "post"}`` uint8 masks) and ``damage`` (per-building class codes, -1
        un-classified).
    """
    world = event_world(event, scenes_per_event, size, seed)
    layout = world.neighbourhood.tile(scene_index, size)
    buildings = _label_buildings(event, world, layout, seed)
    layout.buildings = [b for b, _, _ in buildings]
    rng = event_rng(seed, event.name, 20, scene_index, size)
    acq_pre = for_tile(world.pre, rng, misregistered=False)
    acq_post = for_tile(world.post, rng, misregistered=True)
    texture_seed = int(rng.integers(2**31))
    damage = DamageContext(event.disaster_type, world.hazard, world.downwind)
    images = {
        "pre": render_tile(layout, acq_pre, acq_pre, None, texture_seed, rng),
        "post": render_tile(layout, acq_post, acq_pre, damage, texture_seed, rng),
    }
    stem = f"{event.name}_{scene_index:08d}"
    ox, oy = world.area.tile_origin(scene_index)
    labels: dict[str, dict[str, Any]] = {}
    uids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in buildings]
    for phase, acq, date in (("pre", acq_pre, event.pre_date), ("post", acq_post, event.post_date)):
        xy, lng_lat = [], []
        for uid, (_, polygon, subtype) in zip(uids, buildings, strict=True):
            props: dict[str, Any] = {"feature_type": "building"}
            if phase == "post":
                props["subtype"] = subtype
            props["uid"] = uid
            lon, lat = world.area.lonlat(
                ox + polygon[:, 0] * layout.pitch_m, oy + polygon[:, 1] * layout.pitch_m
            )
            xy.append({"properties": dict(props), "wkt": _wkt(polygon, 6)})
            lng_lat.append({"properties": dict(props), "wkt": _wkt(np.column_stack([lon, lat]), 9)})
        img_name = f"{stem}_{phase}_disaster.png"
        labels[phase] = {
            "features": {"lng_lat": lng_lat, "xy": xy},
            "metadata": _metadata(event, acq, size, date, img_name, rng),
        }
    targets = {}
    for phase in ("pre", "post"):
        mask = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(mask)
        for b, polygon, subtype in buildings:
            value = 1 if phase == "pre" or subtype == "un-classified" else b.damage + 1
            draw.polygon([tuple(p) for p in polygon], fill=value)
        targets[phase] = np.asarray(mask)
    damage_codes = [-1 if s == "un-classified" else b.damage for b, _, s in buildings]
    return {
        "stem": stem,
        "pre": images["pre"],
        "post": images["post"],
        "labels": labels,
        "targets": targets,
        "damage": damage_codes,
    }


def _save_png(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", compress_level=1)


def write_scene(scene: dict[str, Any], split_dir: Path) -> None:
    """Write one generated scene into an xBD split folder."""
    for phase in ("pre", "post"):
        name = f"{scene['stem']}_{phase}_disaster"
        _save_png(scene[phase], split_dir / "images" / f"{name}.png")
        _save_png(scene["targets"][phase], split_dir / "targets" / f"{name}_target.png")
        atomic_write_json(split_dir / "labels" / f"{name}.json", scene["labels"][phase])


def _render_and_write(
    task: tuple[str, int, str, int, int, int, str],
) -> tuple[str, list[str], str]:
    """Render one scene and write it (a worker's job): its split, damage names and stem."""
    name, index, split, size, seed, scenes_per_event, out = task
    scene = generate_scene(EVENTS[name], index, size, seed, scenes_per_event)
    write_scene(scene, Path(out) / split)
    return split, [DAMAGE_NAMES[d] for d in scene["damage"]], scene["stem"]


def generate_xbd(
    out: str | Path,
    events: Sequence[str] = DEFAULT_EVENTS,
    scenes_per_event: int = 4,
    size: int = 512,
    seed: int = 0,
    progress: ProgressCallback = no_progress,
    workers: int = 1,
) -> dict[str, Any]:
    """Write a synthetic dataset in the xBD layout under ``out``.

    Args:
        out: Output folder (created; existing scenes of the same names are
            overwritten, others left alone).
        events: Event names, from :data:`EVENTS`.
        scenes_per_event: Scenes (tiles of the event's area) per event.
        size: Image side in pixels (xBD uses 1024).
        seed: Random seed; the same seed gives byte-identical output.
        progress: ``progress(done, total, message)`` callback.
        workers: Processes that render scenes side by side (scenes are
            independent, so the output does not depend on it).

    Returns:
        A summary: scenes per split and buildings per damage class.

    Raises:
        ValueError: For an unknown event, ``scenes_per_event < 1``, a size
            under 64 px or ``workers < 1``.
    """
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise ValueError(f"unknown event(s) {unknown}; choose from {', '.join(sorted(EVENTS))}")
    if scenes_per_event < 1:
        raise ValueError(f"scenes_per_event must be >= 1, got {scenes_per_event}")
    if size < 64:
        raise ValueError(f"size must be at least 64 px, got {size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = Path(out)
    tasks = [
        (name, index, split, size, seed, scenes_per_event, str(out))
        for name in events
        for index, split in enumerate(split_plan(EVENTS[name], scenes_per_event))
    ]
    results: list[tuple[str, list[str], str]] = []
    if workers == 1:
        for task in tasks:
            results.append(_render_and_write(task))
            progress(len(results), len(tasks), results[-1][2])
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_render_and_write, task) for task in tasks]
            for done, future in enumerate(as_completed(futures), 1):
                progress(done, len(tasks), future.result()[2])
            results = [future.result() for future in futures]  # in task order, as for 1 worker
    splits: Counter[str] = Counter(split for split, _, _ in results)
    classes: Counter[str] = Counter(name for _, damage, _ in results for name in damage)
    summary = {
        "events": list(events),
        "scenes_per_event": scenes_per_event,
        "size": size,
        "seed": seed,
        "scenes_per_split": dict(splits),
        "buildings_per_class": dict(classes),
    }
    atomic_write_json(out / "synthetic.json", summary)
    return summary
