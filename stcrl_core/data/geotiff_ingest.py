"""The GeoTIFF ingest: building objects from pre/post GeoTIFF tiles and a footprint file.

Writes the same ``objects/`` as the xBD ingest (``docs/workspace.md``), so every
later command and page works on a responder's own event. Two passes, as the
xBD ingest: first the footprints are read, checked and placed on the imagery
(:mod:`~stcrl_core.data.geotiff_plan`), then worker processes read each
building's pre and post window from the mosaics (:mod:`~stcrl_core.data.geotiff`)
and write the crops straight into their rows of ``crops_{pre,post}.npy``.
Everything is built in a hidden folder and swapped in at the end
(``Workspace.building_objects``): an interrupted ingest leaves the previous
``objects/`` intact, and the same input gives the same workspace.

Bad input never stops the rest; each item is listed in ``ingest_report.json``:
unreadable or missing rasters, rasters without a CRS, footprints with a
missing, invalid, non-polygon or zero-area geometry, a missing or duplicate id
(the first is kept), footprints outside the imagery of a date, and buildings
whose crop window holds no valid pixel of a date. Buildings kept carry the
share of their crop window without data in each date (``nodata_pre``,
``nodata_post``) and whether their footprint leaves the imagery
(``outside_pre``, ``outside_post``).
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np
import pandas as pd
import shapely

from stcrl_core.data import geotiff, geotiff_mosaic
from stcrl_core.data.footprints import (
    main_polygon,
    parquet_safe,
    parse_damage,
    read_footprint_file,
)
from stcrl_core.data.geotiff_plan import (
    FootprintPlan,
    holdout_split,
    plan_footprints,
    reading_order,
)
from stcrl_core.data.geotiff_previews import write_scenes
from stcrl_core.data.xbd import DAMAGE_NAMES, SPLITS, SkippedItem
from stcrl_core.errors import IngestError
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_write_json, atomic_write_parquet
from stcrl_core.workspace.objects import (
    FOOTPRINT_STATUS,
    FOOTPRINT_UID,
    PHASES,
    ObjectsFiles,
    allocate_crops,
    compact_crops,
    write_crop_rows,
    write_source_footprints,
)

EVENT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
TASK_BUILDINGS = 256  # buildings per worker task (progress granularity, load balance)


@dataclass(frozen=True)
class GeoTiffIngestConfig:
    """Settings of a GeoTIFF ingest (saved in the report and ``workspace.json``).

    Attributes:
        pre: Pre-event rasters: files, folders (every GeoTIFF under them) or globs.
        post: Post-event rasters, likewise.
        footprints: The building-footprint file.
        event: Event name (letters, digits, ``-``); scenes are ``<event>_<8 digits>``.
        id_column: Column of the footprint ids (default: found by name, else derived
            from the geometry).
        damage_column: Column of known damage (xBD class names or 0-3), if any.
        layer: Layer of a multi-layer footprint file.
        disaster_type: Written to every building (xBD's types, or anything).
        crop_size: Side of the saved crops in pixels.
        buffer_m: Context around each building, in metres, on every side.
        workers: Processes that read the crops.
        holdout: Share of the buildings (in blocks of about 250 m) put in the
            ``test`` and ``hold`` splits, to score probes when damage is known;
            0 puts every building in ``train``.
    """

    pre: tuple[str, ...]
    post: tuple[str, ...]
    footprints: str
    event: str
    id_column: str | None = None
    damage_column: str | None = None
    layer: str | None = None
    disaster_type: str = "unknown"
    crop_size: int = 96
    buffer_m: float = 15.0
    workers: int = 1
    holdout: float = 0.0

    def __post_init__(self) -> None:
        if not EVENT_PATTERN.match(self.event):
            raise ValueError(
                f"event must be letters, digits and '-' (as xBD's), got {self.event!r}"
            )
        if not self.pre or not self.post:
            raise ValueError("give the pre- and the post-event imagery (--pre and --post)")
        if self.crop_size < 8:
            raise ValueError(f"crop_size must be at least 8 px, got {self.crop_size}")
        if self.buffer_m < 0:
            raise ValueError(f"buffer_m must be >= 0, got {self.buffer_m}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if not 0 <= self.holdout < 1:
            raise ValueError(f"holdout must be in [0, 1), got {self.holdout}")


def _crop_task(task: dict[str, Any]) -> dict[str, Any]:
    """Worker: read one chunk of buildings' crops from the mosaics and write their rows."""
    import rasterio
    from rasterio.errors import RasterioError

    rows = task["rows"]
    size = task["crop_size"]
    nodata = {p: np.ones(len(rows), dtype=np.float32) for p in PHASES}
    errors: list[tuple[int, str, str]] = []
    with rasterio.Env(GDAL_CACHEMAX=geotiff_mosaic.GDAL_CACHE_BYTES):
        for phase in PHASES:
            mosaics, opened = task["mosaics"][phase], {}
            crops = np.zeros((len(rows), size, size, 3), dtype=np.uint8)
            try:
                for k, (m, bounds) in enumerate(zip(task[f"{phase}_mosaic"], task[f"{phase}_crop"],
                                                    strict=True)):  # fmt: skip
                    if m not in opened:
                        opened[m] = geotiff_mosaic.open_mosaic(mosaics[m])
                    try:
                        crops[k], nodata[phase][k] = geotiff_mosaic.read_crop(
                            opened[m], mosaics[m], bounds, size
                        )
                    except (RasterioError, OSError) as exc:
                        errors.append((int(rows[k]), phase, str(exc).splitlines()[0]))
            finally:
                for dataset in opened.values():
                    dataset.close()
            write_crop_rows(task[f"{phase}_array"], task[f"{phase}_offset"], rows, crops)
    return {"rows": rows, "nodata_pre": nodata["pre"], "nodata_post": nodata["post"],
            "errors": errors}  # fmt: skip


def build_geotiff_objects(
    config: GeoTiffIngestConfig, workspace: Any, progress: ProgressCallback = no_progress
) -> dict[str, Any]:
    """Ingest GeoTIFF imagery and building footprints into ``workspace/objects/``.

    Args:
        config: What to ingest and how.
        workspace: The workspace directory (created if needed).
        progress: ``progress(done, total, message)`` callback.

    Returns:
        The ingest report, with a one-line ``summary``.

    Raises:
        DatasetNotFoundError: If no usable imagery of a date or no footprint file is found.
        IngestError: If not a single building could be ingested.
        WorkspaceError: If another ingest is running in the same workspace.
    """
    skipped: list[SkippedItem] = []
    tiles = {}
    for phase in PHASES:
        found, problems = geotiff.find_tiles(getattr(config, phase), phase)
        tiles[phase] = found
        skipped.extend(SkippedItem(path, kind, reason) for path, kind, reason in problems)
    mosaics = {phase: geotiff_mosaic.build_mosaics(phase, tiles[phase]) for phase in PHASES}
    progress(0, 3, "reading footprints")
    footprints = read_footprint_file(config.footprints, config.layer, config.id_column,
                                     config.damage_column)  # fmt: skip
    plan = plan_footprints(footprints, mosaics, config.buffer_m, skipped, progress)
    if len(plan.kept) == 0:
        kinds = dict(Counter(s.kind for s in skipped))
        raise IngestError(
            f"nothing could be ingested from {config.footprints}: {len(plan.status)} footprints, "
            f"none with a usable footprint inside both dates' imagery ({kinds}); check that the "
            "footprints cover the imagery (CRS, extent) and see the reasons above"
        )
    ws = Workspace.create(workspace)
    with ws.building_objects() as out:
        report = _ingest_into(config, mosaics, plan, skipped, out, progress)
    report["summary"] = _summary_line(report, ws)
    entry = {key: report[key] for key in ("config", "buildings")}
    entry["footprints"] = {
        k: report["footprints"][k] for k in ("path", "layer", "crs", "id_column")
    }
    entry.update(scenes=report["scenes_ingested"], skipped=len(report["skipped"]))
    ws.record_ingest("geotiff", entry, replaces=("xbd",))
    return report


def _read_crops(
    config: GeoTiffIngestConfig,
    mosaics: dict[str, list[geotiff_mosaic.Mosaic]],
    plan: FootprintPlan,
    out: ObjectsFiles,
    progress: ProgressCallback,
) -> tuple[dict[str, np.ndarray], list[tuple[int, str, str]]]:
    n = len(plan.kept)
    arrays = {phase: out.crops(phase) for phase in PHASES}
    offsets = {phase: allocate_crops(path, n, config.crop_size) for phase, path in arrays.items()}
    order = reading_order(plan.placements["pre"], mosaics["pre"])
    tasks = []
    for start in range(0, n, TASK_BUILDINGS):
        rows = np.sort(order[start : start + TASK_BUILDINGS])
        task: dict[str, Any] = {"rows": rows, "crop_size": config.crop_size, "mosaics": mosaics}
        for phase in PHASES:
            task[f"{phase}_mosaic"] = plan.placements[phase].mosaic[rows]
            task[f"{phase}_crop"] = plan.placements[phase].crop[rows]
            task[f"{phase}_array"], task[f"{phase}_offset"] = arrays[phase], offsets[phase]
        tasks.append(task)
    nodata = {phase: np.ones(n, dtype=np.float32) for phase in PHASES}
    errors: list[tuple[int, str, str]] = []

    def collect(result: dict[str, Any], done: int) -> None:
        for phase in PHASES:
            nodata[phase][result["rows"]] = result[f"nodata_{phase}"]
        errors.extend(result["errors"])
        progress(done, len(tasks), f"cutting crops ({min(done * TASK_BUILDINGS, n)} of {n})")

    if config.workers == 1:
        for done, task in enumerate(tasks, start=1):
            collect(_crop_task(task), done)
    else:
        with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_crop_task, t) for t in tasks]
            for done, future in enumerate(as_completed(futures), start=1):
                collect(future.result(), done)
    return nodata, sorted(errors)


def _ingest_into(
    config: GeoTiffIngestConfig,
    mosaics: dict[str, list[geotiff_mosaic.Mosaic]],
    plan: FootprintPlan,
    skipped: list[SkippedItem],
    out: ObjectsFiles,
    progress: ProgressCallback,
) -> dict[str, Any]:
    nodata, errors = _read_crops(config, mosaics, plan, out, progress)
    keep = np.ones(len(plan.kept), dtype=bool)
    path = plan.footprints.path
    for k, phase, message in errors:
        if keep[k]:
            row = int(plan.kept[k])
            keep[k] = False
            plan.status[row] = "unreadable-raster"
            reason = f"row {row}: cannot read the {phase}-event pixels ({message})"
            skipped.append(SkippedItem(path, "unreadable-raster", reason, plan.uids[row]))
    for phase in PHASES:
        for k in np.flatnonzero(keep & (nodata[phase] >= 1.0)):
            row = int(plan.kept[k])
            keep[k] = False
            plan.status[row] = "no-data"
            skipped.append(SkippedItem(path, "no-data", f"row {row}: no valid {phase}-event pixel "
                                       "in the crop window (the tiles' nodata or mask)",
                                       plan.uids[row]))  # fmt: skip
    if not keep.any():
        raise IngestError(
            f"nothing could be ingested from {path}: every placed footprint's crop lacks data "
            f"({dict(Counter(s.kind for s in skipped))}); check the imagery's nodata and coverage"
        )
    if not keep.all():
        for phase in PHASES:
            compact_crops(out.crops(phase), keep)
    table = _building_table(config, mosaics, plan, nodata, keep)
    atomic_write_parquet(out.buildings, table)
    copy = plan.footprints.frame.copy()
    copy[FOOTPRINT_UID] = plan.uids
    copy[FOOTPRINT_STATUS] = plan.status
    write_source_footprints(out.footprints, parquet_safe(copy))
    progress(0, 1, "scene previews")
    scenes = write_scenes(config, mosaics, table, out)
    atomic_write_parquet(out.scenes_table, scenes)
    report = _report(config, mosaics, plan, table, scenes, skipped)
    atomic_write_json(out.report, report)
    return report


def tiles_of(
    mosaics: dict[str, list[geotiff_mosaic.Mosaic]],
) -> dict[str, list[geotiff.RasterTile]]:
    """Every tile of each date, in mosaic order (the order ``Placement.tile`` counts in)."""
    return {phase: [t for m in mosaics[phase] for t in m.tiles] for phase in PHASES}


def _building_table(
    config: GeoTiffIngestConfig,
    mosaics: dict[str, list[geotiff_mosaic.Mosaic]],
    plan: FootprintPlan,
    nodata: dict[str, np.ndarray],
    keep: np.ndarray,
) -> pd.DataFrame:
    source = plan.footprints.frame.iloc[plan.kept[keep]]
    geographic = source.geometry.to_crs("EPSG:4326").to_numpy()
    pre, post = plan.placements["pre"], plan.placements["post"]
    if config.damage_column:
        damage, _ = parse_damage(source[config.damage_column])
    else:
        damage = np.full(len(source), -1, dtype=np.int8)
    lonlat = plan.lonlat[keep]
    tiles = tiles_of(mosaics)
    post_tiles = [t.path for t in tiles["post"]]
    scene_index = {p: i for i, p in enumerate(sorted(post_tiles))}
    scene = [f"{config.event}_{scene_index[post_tiles[t]]:08d}" for t in post.tile[keep]]
    pre_px, post_px = pre.footprint_pixels(mosaics["pre"]), post.footprint_pixels(mosaics["post"])
    crop_px = pre.crop_pixels(mosaics["pre"])
    table = pd.DataFrame({
        "uid": [plan.uids[i] for i in plan.kept[keep]],
        "event": config.event,
        "disaster_type": config.disaster_type,
        "split": holdout_split(lonlat[:, 0], lonlat[:, 1], config.holdout),
        "scene": scene,
        "damage": damage.astype(np.int8),
        "subtype": [DAMAGE_NAMES[int(d)] for d in damage],
        "lon": lonlat[:, 0],
        "lat": lonlat[:, 1],
        **{name: pre_px[keep, i] for i, name in enumerate(("xmin", "ymin", "xmax", "ymax"))},
        **{f"post_{name}": post_px[keep, i] for i, name in enumerate(("xmin", "ymin", "xmax",
                                                                        "ymax"))},
        "crop_x0": np.round(crop_px[keep, 0]).astype(np.int64),
        "crop_y0": np.round(crop_px[keep, 1]).astype(np.int64),
        "crop_side": np.round(crop_px[keep, 2] - crop_px[keep, 0]).astype(np.int64),
        "gsd": post.pixel_m[keep],
        "capture_date_pre": [tiles["pre"][t].capture_date for t in pre.tile[keep]],
        "capture_date_post": [tiles["post"][t].capture_date for t in post.tile[keep]],
        "wkt": shapely.to_wkt(np.array([main_polygon(g) for g in geographic]),
                              rounding_precision=9),
        "nodata_pre": nodata["pre"][keep],
        "nodata_post": nodata["post"][keep],
        "outside_pre": pre.partly_outside[keep],
        "outside_post": post.partly_outside[keep],
    })  # fmt: skip
    table["row"] = np.arange(len(table), dtype=np.int64)
    return table


def _report(
    config: GeoTiffIngestConfig,
    mosaics: dict[str, list[geotiff_mosaic.Mosaic]],
    plan: FootprintPlan,
    table: pd.DataFrame,
    scenes: pd.DataFrame,
    skipped: list[SkippedItem],
) -> dict[str, Any]:
    tiles = tiles_of(mosaics)
    notes = [f"{phase} {t.path}: {note}" for phase in PHASES for t in tiles[phase]
             for note in t.notes]  # fmt: skip
    notes += plan.footprints.notes
    if config.damage_column:
        _, unknown = parse_damage(plan.footprints.frame[config.damage_column])
        if unknown:
            examples = ", ".join(repr(v) for v, _ in unknown.most_common(3))
            notes.append(
                f"{sum(unknown.values())} values of column {config.damage_column!r} "
                f"are neither xBD classes nor 0-3 (e.g. {examples}): un-classified"
            )
    return {
        "config": asdict(config),
        "kind": "geotiff",
        "footprints": plan.footprints.describe(),
        "imagery": {phase: [t.describe() for t in tiles[phase]] for phase in PHASES},
        "mosaics": {phase: [m.describe() for m in mosaics[phase]] for phase in PHASES},
        "notes": notes,
        "scenes_found": len(tiles["post"]),
        "scenes_ingested": len(scenes),
        "footprints_found": len(plan.status),
        "buildings": len(table),
        "buildings_per_split": table["split"].value_counts().reindex(SPLITS).dropna().astype(int)
        .to_dict(),
        "buildings_per_event": {config.event: len(table)},
        "buildings_per_class": {DAMAGE_NAMES[int(k)]: int(v) for k, v in
                                table["damage"].value_counts().sort_index().items()},
        "flagged": {
            "nodata_pre": int((table["nodata_pre"] > 0).sum()),
            "nodata_post": int((table["nodata_post"] > 0).sum()),
            "outside_pre": int(table["outside_pre"].sum()),
            "outside_post": int(table["outside_post"].sum()),
        },
        "skipped_by_kind": dict(Counter(s.kind for s in skipped).most_common()),
        "skipped": [s.to_dict() for s in skipped],
    }  # fmt: skip


def _summary_line(report: dict[str, Any], ws: Workspace) -> str:
    line = (f"ingested {report['buildings']} of {report['footprints_found']} footprints over "
            f"{report['scenes_ingested']} post-event tiles")  # fmt: skip
    flagged = report["flagged"]
    partial = max(flagged["nodata_pre"], flagged["nodata_post"])
    if partial:
        line += f"; {partial} with part of their crop outside the imagery or without data"
    if report["skipped"]:
        kinds = ", ".join(f"{v} {k}" for k, v in report["skipped_by_kind"].items())
        n = len(report["skipped"])
        line += f"; skipped {n} item{'s' * (n != 1)} ({kinds}); see {ws.objects.report}"
    return line
