"""Regenerate the sample images and the generated tables of ``docs/synthetic-data.md``.

Writes two PNGs into ``docs/images/``:

* ``synthetic_pairs.png``: one scene per hazard kind, pre | post;
* ``synthetic_classes.png``: building crops (pre/post pairs) per damage class
  and hazard kind, cut as the xBD-obj ingest cuts them (window from the pixel
  size measured from the labels, not ``metadata.gsd``);

and rewrites the generated sections of ``docs/synthetic-data.md``: events,
regions, splits, sensors, captures, hazards, ground cover, class mix, the
demo's data and the Inria cities. Everything is generated in memory with the
demo's settings (:class:`~stcrl_core.pipeline.demo.DemoConfig`: scenes per
event, size, seed), so the output is deterministic. No real data is read. Run
from the repository root::

    .venv/bin/python docs/make_synthetic_samples.py
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from doc_sections import replace_section
from PIL import Image, ImageDraw, ImageFont

from stcrl_core.data import scenes as scene_geo
from stcrl_core.data.objects import IngestConfig, crop_box, cut_crop, scene_pixel_size
from stcrl_core.data.synthetic import events as events_module
from stcrl_core.data.synthetic import generate_scene, split_plan
from stcrl_core.data.synthetic import textures as textures_module
from stcrl_core.data.synthetic.damage import GROUND
from stcrl_core.data.synthetic.events import DEFAULT_EVENTS, EVENTS, HAZARDS, RegionStyle
from stcrl_core.data.synthetic.geography import ANNOTATION_NOISE, VULNERABILITY
from stcrl_core.data.synthetic.inria import CITIES, DEMO_CITIES, generate_inria, generate_tile
from stcrl_core.data.synthetic.sensor import SENSORS, Acquisition
from stcrl_core.data.synthetic.xbd_format import event_world
from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.pipeline.demo import DemoConfig

DEMO = DemoConfig()
SEED = DEMO.seed
SIZE = DEMO.size
N_SCENES = DEMO.scenes_per_event
COMMAND = "docs/make_synthetic_samples.py"
DOC = Path(__file__).resolve().parent / "synthetic-data.md"
OUT_DIR = Path(__file__).resolve().parent / "images"
# one event per hazard kind: the demo's where it has one
SAMPLE_EVENTS: tuple[str, ...] = tuple(
    next(
        (e for e in DEFAULT_EVENTS if EVENTS[e].hazard == h),
        next(e for e in EVENTS if EVENTS[e].hazard == h),
    )
    for h in HAZARDS
)
BUFFER_M = next(f.default for f in dataclasses.fields(IngestConfig) if f.name == "buffer_m")
INRIA_GSD = inspect.signature(generate_inria).parameters["gsd"].default
CLASSES = ("no-damage", "minor-damage", "major-damage", "destroyed", "un-classified")
PAIR_PX = 224  # side of each scene image in synthetic_pairs.png
CROP_PX = 72  # side of each crop in synthetic_classes.png
GAP = 4
LABEL_H = 18
PAIR_LABEL_H = 34
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
MAX_BYTES = 600_000

Scene = dict[str, Any]


def _font(size: int = 13) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` px."""
    return ImageFont.load_default(size=size)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _range(values: Sequence[float]) -> str:
    """``lo-hi``, or one value where both are equal."""
    lo, hi = values
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def pixel_size(scene: Scene) -> float:
    """Metres per pixel as the ingest measures them: pre ``xy`` against post ``lng_lat``."""
    pre, post = scene["labels"]["pre"], scene["labels"]["post"]
    pixel, geo = [], []
    for xy, ll in zip(pre["features"]["xy"], post["features"]["lng_lat"], strict=True):
        p = np.asarray(shapely.from_wkt(xy["wkt"]).exterior.coords)
        g = np.asarray(shapely.from_wkt(ll["wkt"]).exterior.coords)
        if p.shape == g.shape:
            pixel.append(p)
            geo.append(g)
    fit = scene_geo.fit_georeference(np.concatenate(pixel), np.concatenate(geo)) if pixel else None
    return scene_pixel_size(fit, geo, float(post["metadata"]["gsd"]))


def _scenes(event: str) -> list[Scene]:
    """The event's scenes at the demo's settings, each with its measured ``pixel_m``."""
    scenes = [generate_scene(EVENTS[event], i, SIZE, SEED, N_SCENES) for i in range(N_SCENES)]
    for scene in scenes:
        scene["pixel_m"] = pixel_size(scene)
    return scenes


def pick_scene(scenes: list[Scene]) -> Scene:
    """First scene with every damage class and >= 20% damaged; else the most damaged."""

    def damaged(scene: Scene) -> int:
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


def _title(event: str) -> str:
    """``event (disaster type, hazard)``."""
    spec = EVENTS[event]
    return f"{event} ({spec.disaster_type}, {spec.hazard})"


def make_pairs(scenes_by_event: dict[str, list[Scene]]) -> Image.Image:
    """One row per event: label, then pre | post of a damaged scene."""
    rows = len(scenes_by_event)
    width = 2 * PAIR_PX + GAP
    height = rows * (PAIR_LABEL_H + PAIR_PX + GAP)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for r, (event, scenes) in enumerate(scenes_by_event.items()):
        scene = pick_scene(scenes)
        counts = Counter(scene["damage"])
        y = r * (PAIR_LABEL_H + PAIR_PX + GAP)
        index = int(scene["stem"].rsplit("_", 1)[1])
        draw.text((2, y + 2), f"{_title(event)}: scene {index}", fill=TEXT, font=font)
        draw.text(
            (2, y + 17),
            f"none {counts[0]}, minor {counts[1]}, major {counts[2]}, "
            f"destroyed {counts[3]}, un-cl. {counts[-1]}",
            fill=TEXT,
            font=font,
        )
        for c, phase in enumerate(("pre", "post")):
            img = Image.fromarray(scene[phase]).resize((PAIR_PX, PAIR_PX), Image.Resampling.LANCZOS)
            sheet.paste(img, (c * (PAIR_PX + GAP), y + PAIR_LABEL_H))
    return sheet


def _polygon(scene: Scene, phase: str, k: int) -> shapely.Polygon:
    """Building ``k``'s pixel polygon in the ``phase`` label."""
    return shapely.from_wkt(scene["labels"][phase]["features"]["xy"][k]["wkt"])


def _crop_pair(scene: Scene, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pre and post crop of building ``k``, as the xBD-obj ingest cuts them."""
    crops = []
    for phase in ("pre", "post"):
        box = crop_box(_polygon(scene, phase, k).bounds, scene["pixel_m"], BUFFER_M)
        crops.append(cut_crop(Image.fromarray(scene[phase]), box, CROP_PX))
    return crops[0], crops[1]


def pick_building(scenes: list[Scene], damage: int) -> tuple[Scene, int] | None:
    """The largest building of class ``damage`` whose crop window lies inside the image."""
    best: tuple[float, Scene, int] | None = None
    for scene in scenes:
        for k, d in enumerate(scene["damage"]):
            if d != damage:
                continue
            poly = _polygon(scene, "pre", k)
            x0, y0, x1, y1 = crop_box(poly.bounds, scene["pixel_m"], BUFFER_M)
            if x0 < 0 or y0 < 0 or x1 > SIZE or y1 > SIZE:
                continue
            if best is None or poly.area > best[0]:
                best = (poly.area, scene, k)
    return None if best is None else (best[1], best[2])


def make_classes(scenes_by_event: dict[str, list[Scene]]) -> Image.Image:
    """One row per damage class, one pre/post crop pair per event."""
    names = list(scenes_by_event)
    cell_w = 2 * CROP_PX + GAP
    col_gap = 3 * GAP
    row_h = LABEL_H + CROP_PX + GAP
    width = len(names) * cell_w + (len(names) - 1) * col_gap
    sheet = Image.new("RGB", (width, 2 * LABEL_H + 4 * row_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for t, event in enumerate(names):
        x = t * (cell_w + col_gap) + 2
        draw.text((x, 2), event, fill=TEXT, font=font)
        draw.text((x, LABEL_H), f"{EVENTS[event].hazard}: pre | post", fill=TEXT, font=font)
    for damage in range(4):
        y = 2 * LABEL_H + damage * row_h
        draw.text((2, y + 3), DAMAGE_NAMES[damage], fill=TEXT, font=font)
        for t, event in enumerate(names):
            found = pick_building(scenes_by_event[event], damage)
            if found is None:
                continue
            pre, post = _crop_pair(*found)
            x = t * (cell_w + col_gap)
            sheet.paste(Image.fromarray(pre), (x, y + LABEL_H))
            sheet.paste(Image.fromarray(post), (x + CROP_PX + GAP, y + LABEL_H))
    return sheet


def _regions() -> dict[str, RegionStyle]:
    """The region styles of the events module, by their constant's name."""
    return {k: v for k, v in vars(events_module).items() if isinstance(v, RegionStyle)}


def _region_name(style: RegionStyle) -> str:
    """The constant's name of a region style (``GULF_SUBURB``...)."""
    return next(name for name, v in _regions().items() if v is style)


def events_table() -> str:
    """Every event of :data:`EVENTS`: where, what, its hazard and the real class counts."""
    rows = []
    for spec in EVENTS.values():
        counts = " / ".join(f"{c:,}" for c in spec.counts)
        shares = " / ".join(f"{100 * s:.1f}" for s in spec.shares)
        rows.append(
            (
                f"{spec.name}" + (" \\*" if spec.name in DEFAULT_EVENTS else ""),
                spec.disaster_type,
                f"{spec.lon:.2f}, {spec.lat:.2f}",
                f"`{_region_name(spec.region)}`",
                "yes" if spec.tier3 else "no",
                spec.hazard,
                counts,
                shares,
                "real" if spec.captures else "drawn",
                f"{spec.pre_date[:10]} / {spec.post_date[:10]}",
            )
        )
    header = (
        "Event",
        "Type",
        "Lon, lat",
        "Region",
        "tier3 only",
        "Hazard",
        "Real buildings: none / minor / major / destroyed / un-cl.",
        "Real shares of classified (%)",
        "Capture geometry",
        "Pre / post date",
    )
    note = (
        f"\n\n\\* in `DEFAULT_EVENTS` ({', '.join(DEFAULT_EVENTS)}): what `stcrl synth-xbd` "
        "and the demo generate unless told otherwise."
    )
    return _table(header, rows) + note


def regions_table() -> str:
    """The region styles and who uses them."""
    users: dict[str, list[str]] = {}
    for spec in EVENTS.values():
        users.setdefault(_region_name(spec.region), []).append(spec.name)
    for city in CITIES.values():
        users.setdefault(_region_name(city.style), []).append(f"Inria {city.name}")
    rows = []
    for name, style in _regions().items():
        materials = Counter(m for m, _ in style.roofs)
        rows.append(
            (
                f"`{name}`",
                ", ".join(f"{n} {m}" for m, n in materials.most_common()),
                _range(style.building_m),
                f"{style.lot_m:g}",
                f"{style.fill:g}",
                style.layout,
                style.block_lots,
                f"{style.street_m:g}",
                f"{style.vegetation:g}",
                f"{style.tree_density:g}",
                _range(style.storeys),
                " / ".join(f"{p:g}" for p in style.roof_kinds),
                f"{style.pools:g}",
                f"{style.cars:g}",
                "yes" if style.driveways else "no",
                f"{style.clutter:g}",
                f"{style.sheds:g}",
                ", ".join(users.get(name, [])),
            )
        )
    header = (
        "Region",
        "Roofs (colours per material)",
        "Building side (m)",
        "Lot (m)",
        "Fill",
        "Layout",
        "Lots per block",
        "Street (m)",
        "Vegetation",
        "Trees per lot",
        "Storeys",
        "Gable / hip / flat",
        "Pools",
        "Cars",
        "Driveways",
        "Flat-roof clutter",
        "Sheds",
        "Used by",
    )
    return _table(header, rows)


def splits_table() -> str:
    """``split_plan`` for a few scene counts (the CLI's default and the demo's among them)."""
    rows = []
    for n in sorted({1, 2, 3, 4, 6, N_SCENES, 10}):
        plan = split_plan(EVENTS[DEFAULT_EVENTS[0]], n)
        counts = Counter(plan)
        rows.append(
            (
                n,
                counts["train"],
                counts["test"],
                counts["hold"],
                " ".join(s[:2] for s in plan),
            )
        )
    return _table(("Scenes", "train", "test", "hold", "Split of scene 0, 1, ..."), rows)


def sensors_table() -> str:
    """The sensors the captures draw from."""
    rows = [(f"`{name}`", f"{gsd:g}", f"{sharp:g}") for name, (gsd, sharp) in SENSORS.items()]
    return _table(("Sensor", "Multispectral GSD at nadir (m)", "Sharpness"), rows)


def _capture_row(event: str, phase: str, acq: Acquisition, pixel: float) -> tuple[Any, ...]:
    """One row of the captures table."""
    spec = EVENTS[event]
    real = spec.captures is not None
    return (
        event if phase == "pre" else "",
        phase,
        f"`{acq.sensor}`",
        "real" if real else "drawn",
        f"{acq.off_nadir:.1f}",
        f"{acq.target_azimuth:.0f}",
        f"{acq.sun_azimuth:.0f}",
        f"{acq.sun_elevation:.0f}",
        f"{acq.multispectral_gsd:.2f}",
        f"{pixel:.3f}",
        f"{acq.multispectral_gsd / pixel:.1f}",
        f"{acq.blur:.2f}",
        f"{acq.haze:.2f}",
        acq.jpeg_quality,
        f"{acq.shift[0]:+.1f}, {acq.shift[1]:+.1f}" if phase == "post" else "",
        f"{acq.warp:.1f}" if phase == "post" else "",
    )


def captures_table(scenes_by_event: dict[str, list[Scene]]) -> str:
    """Each sample event's pre and post capture at the demo's settings."""
    rows = []
    for event, scenes in scenes_by_event.items():
        world = event_world(EVENTS[event], N_SCENES, SIZE, SEED)
        pixel = float(np.median([s["pixel_m"] for s in scenes]))
        rows.append(_capture_row(event, "pre", world.pre, pixel))
        rows.append(_capture_row(event, "post", world.post, pixel))
    header = (
        "Event",
        "Phase",
        "Sensor",
        "Geometry",
        "Off-nadir (°)",
        "Target az. (°)",
        "Sun az. (°)",
        "Sun el. (°)",
        "`metadata.gsd` (m)",
        "Pixel, measured (m)",
        "gsd / pixel",
        "Blur σ (px)",
        "Haze",
        "JPEG q",
        "Shift x, y (px)",
        "Warp (px)",
    )
    note = (
        f"\n\nSeed {SEED}, {N_SCENES} scenes per event of {SIZE} px (the demo's settings). "
        "Haze, gain and the shift vary a little per tile around these event values; "
        '"pixel, measured" is the median over the event\'s scenes of what the ingest '
        "measures from the labels."
    )
    return _table(header, rows) + note


def hazards_table() -> str:
    """Vulnerability per hazard kind, and which events have it."""
    rows = []
    for kind in HAZARDS:
        names = [e.name for e in EVENTS.values() if e.hazard == kind]
        rows.append((kind, f"{VULNERABILITY[kind]:g}", ", ".join(names)))
    table = _table(("Hazard", "Vulnerability σ", "Events"), rows)
    return table + f"\n\nAnnotation noise σ: {ANNOTATION_NOISE:g} (every hazard)."


def ground_table() -> str:
    """The post-disaster ground cover per disaster type."""
    names = {
        getattr(textures_module, n): n.lower()
        for n in dir(textures_module)
        if n.isupper() and isinstance(getattr(textures_module, n), int)
    }
    rows = [
        (
            kind,
            names[material],
            f"{start:g}",
            "fragments" if kind in ("wind", "earthquake") else "cover",
        )
        for kind, (material, _, start) in GROUND.items()
    ]
    return _table(("Type", "Material", "From damage level", "Kind"), rows)


def class_mix_table(scenes_by_event: dict[str, list[Scene]]) -> str:
    """Generated class shares against the real event's, per sample event."""
    rows = []
    for event, scenes in scenes_by_event.items():
        spec = EVENTS[event]
        counts = Counter(d for s in scenes for d in s["damage"])
        total = sum(counts.values())
        classified = total - counts[-1]
        cells = [
            f"{100 * counts[k] / max(classified, 1):.1f} ({100 * spec.shares[k]:.1f})"
            for k in range(4)
        ]
        cells.append(
            f"{100 * counts[-1] / max(total, 1):.1f} ({100 * spec.unclassified_share:.1f})"
        )
        rows.append((event, f"{total:,}", *cells))
    header = ("Event", "Buildings", *(f"{c} %" for c in CLASSES))
    note = (
        f"\n\nGenerated share (real share in brackets); damage classes as shares of the "
        f"classified buildings, un-classified of all. Seed {SEED}, {N_SCENES} scenes of {SIZE} px "
        "per event."
    )
    return _table(header, rows) + note


def demo_data(scenes_by_event: dict[str, list[Scene]]) -> str:
    """What the demo generates: scenes and buildings per split and class."""
    splits: Counter[str] = Counter()
    classes: dict[str, Counter[str]] = {}
    for event in DEFAULT_EVENTS:
        plan = split_plan(EVENTS[event], N_SCENES)
        for scene, split in zip(scenes_by_event[event], plan, strict=True):
            splits[split] += 1
            classes.setdefault(split, Counter()).update(DAMAGE_NAMES[d] for d in scene["damage"])
    order = [s for s in ("train", "tier3", "test", "hold") if s in splits]
    total: Counter[str] = sum((classes[s] for s in order), Counter())
    groups = [(s, [s]) for s in order]
    groups += [("train + tier3", ["train", "tier3"]), ("total", order)]
    rows = []
    for name, members in groups:
        counts: Counter[str] = sum((classes.get(s, Counter()) for s in members), Counter())
        n = sum(counts.values())
        rows.append(
            (
                name,
                sum(splits[s] for s in members),
                f"{n:,}",
                *(f"{counts[c]:,}" for c in CLASSES),
            )
        )
    shares = [f"{100 * total[c] / sum(total.values()):.1f}%" for c in CLASSES]
    rows.append(("share of all", "", "", *shares))
    return (
        f"`stcrl demo` (`DemoConfig`: `DEFAULT_EVENTS`, {N_SCENES} scenes per event, "
        f"{SIZE} px, seed {SEED}) generates:\n\n"
        + _table(("Split", "Scenes", "Buildings", *CLASSES), rows)
    )


def cities_table() -> str:
    """The Inria cities, their region style and the building share of the demo's tiles."""
    rows = []
    for city in CITIES.values():
        masks = [
            generate_tile(city, i, DEMO.inria_size, INRIA_GSD, SEED)["mask"]
            for i in range(1, DEMO.inria_tiles_per_city + 1)
        ]
        share = 100 * float(np.mean([(m > 0).mean() for m in masks]))
        rows.append(
            (
                city.name + (" \\*" if city.name in DEMO_CITIES else ""),
                f"{city.lon:.2f}, {city.lat:.2f}",
                f"EPSG:{city.epsg}",
                f"`{_region_name(city.style)}`",
                f"{share:.1f}%",
            )
        )
    header = ("City", "Lon, lat", "CRS", "Region", "Building pixels")
    note = (
        f"\n\n\\* in the demo (`DEMO_CITIES`). Building pixels: share of the mask over "
        f"{DEMO.inria_tiles_per_city} tiles of {DEMO.inria_size} px at {INRIA_GSD:g} m, "
        f"seed {SEED} (the demo's tiles)."
    )
    return _table(header, rows) + note


def write_doc(scenes_by_event: dict[str, list[Scene]]) -> None:
    """Rewrite every generated section of the doc."""
    sections = {
        "synthetic-events": events_table(),
        "synthetic-splits": splits_table(),
        "synthetic-regions": regions_table(),
        "synthetic-sensors": sensors_table(),
        "synthetic-captures": captures_table(scenes_by_event),
        "synthetic-hazards": hazards_table(),
        "synthetic-class-mix": class_mix_table(scenes_by_event),
        "synthetic-demo-data": demo_data(scenes_by_event),
        "synthetic-ground": ground_table(),
        "synthetic-inria-cities": cities_table(),
    }
    for name, body in sections.items():
        replace_section(DOC, name, COMMAND, body)
    print(f"rewrote {len(sections)} sections of {DOC}")


def main() -> None:
    """Generate the scenes, write both sample images and the doc's tables."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    scenes_by_event: dict[str, list[Scene]] = {}
    for event in SAMPLE_EVENTS:
        print(f"generating {N_SCENES} scenes of {event}", flush=True)
        scenes_by_event[event] = _scenes(event)
    _save(make_pairs(scenes_by_event), OUT_DIR / "synthetic_pairs.png")
    _save(make_classes(scenes_by_event), OUT_DIR / "synthetic_classes.png")
    write_doc(scenes_by_event)


if __name__ == "__main__":
    main()
