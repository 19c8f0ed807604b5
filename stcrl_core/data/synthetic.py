"""Generator of realistic data in the exact xBD on-disk format.

``generate_xbd`` writes ``<out>/<split>/{images,labels,targets}/`` with scenes of
named events (see :mod:`stcrl_core.data.synthetic_events`), so the built-in demo
and the tests exercise the same reader and ingest as real xBD. The scenes carry
the structure the methods learn from:

* region-specific appearance (roofs, building sizes, density, street layout,
  ground and vegetation, ground sample distance);
* pre/post pairs that differ by acquisition (sun angle and shadows, colour
  balance, haze, noise, up to 3 px of misregistration) even where nothing broke;
* damage drawn by disaster type and severity, spatially clustered through a
  hazard field, with roughly xBD's class balance and ~1.5% un-classified.

Like real xBD, a building's post polygon equals its pre polygon (annotations
were drawn once), so misregistration shows as a small offset in the post image.
"""

from __future__ import annotations

import datetime as _dt
import uuid
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from stcrl_core.atomic import atomic_path, atomic_write_json
from stcrl_core.data.synthetic_events import DEFAULT_EVENTS, EVENTS, EventSpec
from stcrl_core.data.synthetic_render import (
    Acquisition,
    SceneLayout,
    assign_damage,
    hazard_field,
    layout_scene,
    render,
)
from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.progress import ProgressCallback, no_progress

UNCLASSIFIED_RATE = 0.015
SENSORS = ("WORLDVIEW02", "WORLDVIEW03_VNIR", "GEOEYE01")
METRES_PER_DEG_LAT = 110_540.0
METRES_PER_DEG_LON_EQUATOR = 111_320.0


def split_plan(event: EventSpec, n: int) -> list[str]:
    """Which split each of an event's ``n`` scenes goes to.

    Tier3-only events go wholly to ``tier3``; others spread over train (about
    70%), test and hold (about 15% each, at least one each once ``n >= 3``).
    """
    if event.tier3:
        return ["tier3"] * n
    n_test = max(1, round(0.15 * n)) if n >= 2 else 0
    n_hold = max(1, round(0.15 * n)) if n >= 3 else 0
    plan = ["train"] * (n - n_test - n_hold) + ["test"] * n_test + ["hold"] * n_hold
    # interleave so that the splits are spread over the event's area
    order = np.argsort((np.arange(n) * 0.618) % 1.0, kind="stable")
    return [plan[i] for i in order]


def _wkt(points: np.ndarray) -> str:
    ring = [*points.tolist(), points[0].tolist()]
    return "POLYGON ((" + ", ".join(f"{x:.6f} {y:.6f}" for x, y in ring) + "))"


def _wkt_lnglat(points: np.ndarray) -> str:
    ring = [*points.tolist(), points[0].tolist()]
    return "POLYGON ((" + ", ".join(f"{x:.9f} {y:.9f}" for x, y in ring) + "))"


def _uid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _metadata(
    event: EventSpec, acq: Acquisition, gsd: float, size: int, date: str, img_name: str,
    rng: np.random.Generator,
) -> dict[str, Any]:  # fmt: skip
    sensor = SENSORS[rng.integers(len(SENSORS))]
    stamp = _dt.datetime.fromisoformat(date.replace("Z", "+00:00")) + _dt.timedelta(
        seconds=int(rng.integers(0, 600))
    )
    return {
        "sensor": sensor,
        "provider_asset_type": sensor,
        "gsd": round(gsd, 6),
        "capture_date": stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "off_nadir_angle": round(float(rng.uniform(5, 30)), 4),
        "pan_resolution": round(gsd / 4, 6),
        "sun_azimuth": round(acq.sun_azimuth, 4),
        "sun_elevation": round(acq.sun_elevation, 4),
        "target_azimuth": round(float(rng.uniform(0, 360)), 4),
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


def _acquisition(rng: np.random.Generator, lat: float, shifted: bool) -> Acquisition:
    return Acquisition(
        sun_azimuth=float(rng.uniform(110, 250) if lat >= 0 else rng.uniform(-70, 70) % 360),
        sun_elevation=float(rng.uniform(35, 75)),
        gain=tuple(float(g) for g in rng.uniform(0.9, 1.1, 3)),
        haze=float(rng.uniform(0.0, 0.22)),
        shift=tuple(int(s) for s in rng.integers(-3, 4, 2)) if shifted else (0, 0),
        noise_seed=int(rng.integers(2**31)),
    )


def generate_scene(event: EventSpec, scene_index: int, size: int, seed: int) -> dict[str, Any]:
    """Generate one scene (both acquisitions and both labels) in memory.

    The result depends only on ``(event.name, scene_index, size, seed)``.

    Returns:
        A dict with ``pre`` and ``post`` images (H x W x 3 uint8), ``labels``
        (``{"pre": json, "post": json}``), ``targets`` (``{"pre", "post"}``
        uint8 masks) and ``damage`` (list of per-building class codes).
    """
    rng = np.random.default_rng([seed, zlib.crc32(event.name.encode()), scene_index, size])
    gsd = float(rng.uniform(*event.region.gsd))
    layout: SceneLayout = layout_scene(rng, event.region, size, gsd)
    layout.hazard = hazard_field(rng, event.disaster_type, size, rng.random() < event.affected)
    assign_damage(rng, layout)
    acq_pre, acq_post = _acquisition(rng, event.lat, False), _acquisition(rng, event.lat, True)
    images = {
        "pre": render(layout, acq_pre, None, rng),
        "post": render(layout, acq_post, event.disaster_type, rng),
    }
    # scene origin: tiles placed around the event centre on a loose grid
    tile_m = size * gsd * 1.3
    gx, gy = scene_index % 5 - 2, scene_index // 5 - 1
    lat0 = event.lat - gy * tile_m / METRES_PER_DEG_LAT
    m_per_lon = METRES_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat0))
    lon0 = event.lon + gx * tile_m / m_per_lon
    stem = f"{event.name}_{scene_index:08d}"
    labels: dict[str, dict[str, Any]] = {}
    subtypes: list[str] = []
    uids = [_uid(rng) for _ in layout.buildings]
    for b in layout.buildings:
        unclassified = rng.random() < UNCLASSIFIED_RATE
        subtypes.append("un-classified" if unclassified else DAMAGE_NAMES[b.damage])
    for phase, acq, date in (
        ("pre", acq_pre, event.pre_date),
        ("post", acq_post, event.post_date),
    ):
        xy, lng_lat = [], []
        for uid, b, subtype in zip(uids, layout.buildings, subtypes, strict=True):
            props: dict[str, Any] = {"feature_type": "building"}
            if phase == "post":
                props["subtype"] = subtype
            props["uid"] = uid
            geo = np.column_stack(
                [lon0 + b.polygon[:, 0] * gsd / m_per_lon,
                 lat0 - b.polygon[:, 1] * gsd / METRES_PER_DEG_LAT]
            )  # fmt: skip
            xy.append({"properties": dict(props), "wkt": _wkt(b.polygon)})
            lng_lat.append({"properties": dict(props), "wkt": _wkt_lnglat(geo)})
        img_name = f"{stem}_{phase}_disaster.png"
        labels[phase] = {
            "features": {"lng_lat": lng_lat, "xy": xy},
            "metadata": _metadata(event, acq, gsd, size, date, img_name, rng),
        }
    targets = {}
    for phase in ("pre", "post"):
        mask = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(mask)
        for b, subtype in zip(layout.buildings, subtypes, strict=True):
            value = 1 if phase == "pre" or subtype == "un-classified" else b.damage + 1
            draw.polygon([tuple(p) for p in b.polygon], fill=value)
        targets[phase] = np.asarray(mask)
    damage = [
        -1 if s == "un-classified" else b.damage
        for b, s in zip(layout.buildings, subtypes, strict=True)
    ]
    return {"stem": stem, "pre": images["pre"], "post": images["post"], "labels": labels,
            "targets": targets, "damage": damage}  # fmt: skip


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


def generate_xbd(
    out: str | Path,
    events: Sequence[str] = DEFAULT_EVENTS,
    scenes_per_event: int = 4,
    size: int = 512,
    seed: int = 0,
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Write a synthetic dataset in the xBD layout under ``out``.

    Args:
        out: Output folder (created; existing scenes of the same names are
            overwritten, others left alone).
        events: Event names, from :data:`EVENTS`.
        scenes_per_event: Scenes (pre/post pairs) per event.
        size: Image side in pixels (xBD uses 1024).
        seed: Random seed; the same seed gives byte-identical output.
        progress: ``progress(done, total, message)`` callback.

    Returns:
        A summary: scenes per split and buildings per damage class.

    Raises:
        ValueError: For an unknown event, ``scenes_per_event < 1`` or a size
            under 64 px.
    """
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise ValueError(f"unknown event(s) {unknown}; choose from {', '.join(sorted(EVENTS))}")
    if scenes_per_event < 1:
        raise ValueError(f"scenes_per_event must be >= 1, got {scenes_per_event}")
    if size < 64:
        raise ValueError(f"size must be at least 64 px, got {size}")
    out = Path(out)
    total = len(events) * scenes_per_event
    splits: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    done = 0
    for name in events:
        event = EVENTS[name]
        for index, split in enumerate(split_plan(event, scenes_per_event)):
            scene = generate_scene(event, index, size, seed)
            write_scene(scene, out / split)
            splits[split] += 1
            classes.update(DAMAGE_NAMES[d] for d in scene["damage"])
            done += 1
            progress(done, total, scene["stem"])
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
