"""The xBD-obj builder: one square pre and post crop per building.

For every building a square window is centred on its polygon's bounding box,
enlarged by ``buffer_m / pixel size`` pixels on each side, padded with zeros
where it leaves the image, and resized to ``crop_size``. The pixel size is
measured from the labels (pixel polygons against their lon/lat twins), because
xBD's ``metadata.gsd`` is the multispectral ground sample distance, about four
times the pixel pitch of its images; ``metadata.gsd`` is the fallback. The pre
crop comes from the pre image and pre polygon, the post crop from the post image
and post polygon of the same ``uid`` (Peng et al., ST-CRL; seed 000).

The ingest runs in two passes: labels are parsed and validated first (so the
number of buildings is known), then worker processes decode the images and
write each crop straight into its row of ``crops_{pre,post}.npy`` with
``os.pwrite``, so memory stays flat whatever the number of scenes. Everything is
built in a hidden folder of the workspace and swapped into place at the end:
an interrupted ingest leaves the previous ``objects/`` (or none) untouched.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from stcrl_core.data.scenes import (
    PIXEL_SIZE_RANGE_M,
    PREVIEW_SIDE,
    fit_georeference,
    pixel_size_m,
    scene_table,
)
from stcrl_core.data.xbd import (
    DAMAGE_NAMES,
    SPLITS,
    LabelError,
    SkippedItem,
    XBDScenePaths,
    image_size,
    join_buildings,
    parse_label,
    scan_xbd,
)
from stcrl_core.errors import IngestError
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_write_json, atomic_write_parquet
from stcrl_core.workspace.objects import ObjectsFiles, allocate_crops, compact_crops

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class IngestConfig:
    """Settings of an xBD-obj ingest (saved in the report and ``workspace.json``).

    Attributes:
        root: The xBD root folder.
        splits: Splits to ingest.
        crop_size: Side of the saved crops in pixels.
        buffer_m: Context around each building, in metres, on every side.
        workers: Processes that decode images and cut crops.
    """

    root: str
    splits: tuple[str, ...] = SPLITS
    crop_size: int = 96
    buffer_m: float = 15.0
    workers: int = 1

    def __post_init__(self) -> None:
        if self.crop_size < 8:
            raise ValueError(f"crop_size must be at least 8 px, got {self.crop_size}")
        if self.buffer_m < 0:
            raise ValueError(f"buffer_m must be >= 0, got {self.buffer_m}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


def crop_box(bounds: tuple[float, float, float, float], gsd: float, buffer_m: float) -> Box:
    """Square pixel window centred on ``bounds`` with ``buffer_m`` of context.

    Args:
        bounds: ``(xmin, ymin, xmax, ymax)`` of the polygon in pixels.
        gsd: Ground sample distance in metres per pixel.
        buffer_m: Context on each side in metres.

    Returns:
        ``(x0, y0, x1, y1)`` integer window, possibly reaching outside the image.
    """
    xmin, ymin, xmax, ymax = bounds
    side = max(xmax - xmin, ymax - ymin) + 2 * buffer_m / gsd
    side_px = max(1, round(side))
    x0 = round((xmin + xmax) / 2 - side_px / 2)
    y0 = round((ymin + ymax) / 2 - side_px / 2)
    return (x0, y0, x0 + side_px, y0 + side_px)


def cut_crop(image: Image.Image, box: Box, crop_size: int) -> np.ndarray:
    """Cut ``box`` out of ``image`` (zero padding outside) and resize it.

    Returns:
        ``crop_size x crop_size x 3`` uint8 array.
    """
    crop = image.crop(box)
    if crop.size != (crop_size, crop_size):
        crop = crop.resize((crop_size, crop_size), Image.Resampling.BILINEAR)
    return np.asarray(crop, dtype=np.uint8)


@dataclass
class _ScenePlan:
    scene: XBDScenePaths
    size_pre: tuple[int, int]
    size_post: tuple[int, int]
    records: list[dict[str, Any]]
    boxes_pre: list[Box]
    boxes_post: list[Box]
    geo: list[float] | None = None


def _gsd(metadata: dict[str, Any]) -> float | None:
    try:
        gsd = float(metadata.get("gsd"))
    except (TypeError, ValueError):
        return None
    return gsd if gsd > 0 else None


def scene_pixel_size(
    geo: list[float] | None, geo_pts: list[np.ndarray], metadata_gsd: float
) -> float:
    """Metres per pixel of a scene: measured from its labels, else ``metadata.gsd``.

    See :func:`stcrl_core.data.scenes.pixel_size_m` for why the metadata's
    value (the multispectral GSD of xBD) is only the fallback.
    """
    if geo is None:
        return metadata_gsd
    lat = float(np.mean(np.concatenate(geo_pts)[:, 1]))
    measured = pixel_size_m(geo, lat)
    low, high = PIXEL_SIZE_RANGE_M
    return measured if low <= measured <= high else metadata_gsd


def plan_scene(
    scene: XBDScenePaths, buffer_m: float
) -> tuple[_ScenePlan | None, list[SkippedItem]]:
    """Parse and validate one scene's labels and image headers (pass 1)."""
    skipped: list[SkippedItem] = []
    labels = {}
    for phase, path in (("pre", scene.pre_label), ("post", scene.post_label)):
        try:
            labels[phase] = parse_label(path)
        except LabelError as exc:
            return None, [SkippedItem(str(path), "malformed-label", str(exc))]
    sizes = {}
    for phase, path in (("pre", scene.pre_image), ("post", scene.post_image)):
        try:
            sizes[phase] = image_size(path)
        except (OSError, ValueError) as exc:
            return None, [SkippedItem(str(path), "unreadable-image", f"cannot read image ({exc})")]
        meta = labels[phase].metadata
        expected = (meta.get("width"), meta.get("height"))
        if expected != sizes[phase]:
            return None, [
                SkippedItem(
                    str(path),
                    "size-mismatch",
                    f"image is {sizes[phase][0]}x{sizes[phase][1]} but its label says "
                    f"{expected[0]}x{expected[1]}",
                )
            ]
    gsds = {p: _gsd(labels[p].metadata) for p in ("pre", "post")}
    for phase, value in gsds.items():
        if value is None:
            path = scene.pre_label if phase == "pre" else scene.post_label
            return None, [SkippedItem(str(path), "bad-metadata", "metadata.gsd missing or <= 0")]
    width, height = sizes["post"]
    buildings, skipped_b = join_buildings(labels["pre"], labels["post"], width, height)
    skipped.extend(skipped_b)
    meta_pre, meta_post = labels["pre"].metadata, labels["post"].metadata
    pixel_pts, geo_pts = [], []
    for b in buildings:
        xy = np.asarray(b.pre_polygon.exterior.coords)
        ll = np.asarray(b.geo_polygon.exterior.coords)
        if xy.shape == ll.shape:
            pixel_pts.append(xy)
            geo_pts.append(ll)
    geo = (
        fit_georeference(np.concatenate(pixel_pts), np.concatenate(geo_pts)) if pixel_pts else None
    )
    pixel_m = scene_pixel_size(geo, geo_pts, gsds["post"])
    records, boxes_pre, boxes_post = [], [], []
    for b in buildings:
        pre_bounds, post_bounds = b.pre_polygon.bounds, b.post_polygon.bounds
        box_pre = crop_box(pre_bounds, pixel_m, buffer_m)
        box_post = crop_box(post_bounds, pixel_m, buffer_m)
        centroid = b.geo_polygon.centroid
        records.append(
            {
                "uid": b.uid,
                "event": scene.event,
                "disaster_type": str(meta_post.get("disaster_type", "")),
                "split": scene.split,
                "scene": scene.stem,
                "damage": b.damage,
                "subtype": b.subtype,
                "lon": centroid.x,
                "lat": centroid.y,
                "xmin": pre_bounds[0],
                "ymin": pre_bounds[1],
                "xmax": pre_bounds[2],
                "ymax": pre_bounds[3],
                "post_xmin": post_bounds[0],
                "post_ymin": post_bounds[1],
                "post_xmax": post_bounds[2],
                "post_ymax": post_bounds[3],
                "crop_x0": box_pre[0],
                "crop_y0": box_pre[1],
                "crop_side": box_pre[2] - box_pre[0],
                "gsd": pixel_m,
                "metadata_gsd": gsds["post"],
                "capture_date_pre": str(meta_pre.get("capture_date", "")),
                "capture_date_post": str(meta_post.get("capture_date", "")),
                "wkt": b.geo_polygon.wkt,
            }
        )
        boxes_pre.append(box_pre)
        boxes_post.append(box_post)
    plan = _ScenePlan(scene, sizes["pre"], sizes["post"], records, boxes_pre, boxes_post, geo)
    return plan, skipped


def _crop_scene(task: dict[str, Any]) -> tuple[int, SkippedItem | None]:
    """Worker (pass 2): decode a scene's images and write its crops into the arrays."""
    row_bytes = task["crop_size"] ** 2 * 3
    for phase in ("pre", "post"):
        path = task[f"{phase}_image"]
        try:
            with Image.open(path) as img:
                img.load()
                rgb = img.convert("RGB")
        except (OSError, ValueError, SyntaxError) as exc:
            return task["index"], SkippedItem(
                path, "unreadable-image", f"cannot decode image ({exc})"
            )
        if rgb.size != task[f"size_{phase}"]:
            return task["index"], SkippedItem(
                path, "size-mismatch", f"decoded size {rgb.size} differs from its header"
            )
        preview = rgb.copy()
        preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BILINEAR)
        preview.save(ObjectsFiles(task["objects_dir"]).preview(task["stem"], phase), quality=85)
        fd = os.open(task[f"{phase}_array"], os.O_WRONLY)
        try:
            offset = task[f"{phase}_offset"] + task["first_row"] * row_bytes
            for k, box in enumerate(task[f"boxes_{phase}"]):
                crop = cut_crop(rgb, box, task["crop_size"])
                os.pwrite(fd, crop.tobytes(), offset + k * row_bytes)
        finally:
            os.close(fd)
    return task["index"], None


def _summary_line(report: dict[str, Any], workspace: Path) -> str:
    per_split = ", ".join(f"{k} {v}" for k, v in report["buildings_per_split"].items())
    line = (
        f"ingested {report['buildings']} buildings from {report['scenes_ingested']} of "
        f"{report['scenes_found']} scenes ({per_split})"
    )
    if report["skipped"]:
        kinds = ", ".join(f"{v} {k}" for k, v in report["skipped_by_kind"].items())
        line += (
            f"; skipped {len(report['skipped'])} items ({kinds}); see "
            f"{Workspace(workspace).objects.report}"
        )
    return line


def build_objects(
    config: IngestConfig, workspace: str | Path, progress: ProgressCallback = no_progress
) -> dict[str, Any]:
    """Ingest xBD scenes under ``config.root`` into ``workspace/objects/``.

    Bad input never stops the ingest: each bad file or building is skipped and
    listed (``path``, ``kind``, ``reason``) in ``objects/ingest_report.json``.
    Re-running the same ingest gives the same workspace.

    Args:
        config: What to ingest and how.
        workspace: The workspace directory (created if needed).
        progress: ``progress(done, total, message)`` callback.

    Returns:
        The ingest report, with a one-line ``summary``.

    Raises:
        DatasetNotFoundError: If the root lacks the xBD layout.
        IngestError: If not a single building could be ingested.
        WorkspaceError: If another ingest is running in the same workspace.
    """
    scenes, skipped = scan_xbd(config.root, config.splits)
    ws = Workspace.create(workspace)
    with ws.building_objects() as out:
        report = _ingest_into(config, scenes, skipped, out, progress)
    report["summary"] = _summary_line(report, ws.path)
    entry = {
        "config": report["config"],
        "buildings": report["buildings"],
        "scenes": report["scenes_ingested"],
        "skipped": len(report["skipped"]),
    }
    ws.record_ingest("xbd", entry, replaces=("geotiff",))  # a GeoTIFF ingest's objects are gone
    return report


def _ingest_into(
    config: IngestConfig,
    scenes: Sequence[XBDScenePaths],
    skipped: list[SkippedItem],
    out: ObjectsFiles,
    progress: ProgressCallback,
) -> dict[str, Any]:
    plans: list[_ScenePlan] = []
    for i, scene in enumerate(scenes):
        plan, skipped_here = plan_scene(scene, config.buffer_m)
        skipped.extend(skipped_here)
        if plan is not None and plan.records:
            plans.append(plan)
        progress(i + 1, len(scenes), f"reading labels {scene.stem}")
    n = sum(len(p.records) for p in plans)
    if n == 0:
        kinds = Counter(s.kind for s in skipped)
        raise IngestError(
            f"nothing could be ingested from {config.root}: {len(scenes)} scenes found, "
            f"{len(skipped)} items skipped ({dict(kinds)}); fix the input or check --root/--splits"
        )
    arrays = {phase: out.crops(phase) for phase in ("pre", "post")}
    out.previews_dir.mkdir()
    offsets = {phase: allocate_crops(path, n, config.crop_size) for phase, path in arrays.items()}
    tasks, first = [], 0
    for index, plan in enumerate(plans):
        tasks.append(
            {
                "index": index,
                "stem": plan.scene.stem,
                "objects_dir": str(out.folder),
                "first_row": first,
                "crop_size": config.crop_size,
                "pre_image": str(plan.scene.pre_image),
                "post_image": str(plan.scene.post_image),
                "size_pre": plan.size_pre,
                "size_post": plan.size_post,
                "boxes_pre": plan.boxes_pre,
                "boxes_post": plan.boxes_post,
                **{f"{p}_array": str(arrays[p]) for p in arrays},
                **{f"{p}_offset": offsets[p] for p in offsets},
            }
        )
        first += len(plan.records)
    failed: dict[int, SkippedItem] = {}
    done, total = 0, len(tasks)
    if config.workers == 1:
        results = map(_crop_scene, tasks)
        for index, problem in results:
            if problem is not None:
                failed[index] = problem
            done += 1
            progress(done, total, f"cutting crops {plans[index].scene.stem}")
    else:
        with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_crop_scene, t) for t in tasks]
            for future in as_completed(futures):
                index, problem = future.result()
                if problem is not None:
                    failed[index] = problem
                done += 1
                progress(done, total, f"cutting crops {plans[index].scene.stem}")
    # scenes whose images failed to decode in pass 2 are reported and their rows removed
    records: list[dict[str, Any]] = []
    keep = np.zeros(n, dtype=bool)
    for index, (plan, task) in enumerate(zip(plans, tasks, strict=True)):
        if index in failed:
            skipped.append(failed[index])
            continue
        keep[task["first_row"] : task["first_row"] + len(plan.records)] = True
        records.extend(plan.records)
    if not records:
        raise IngestError(
            f"nothing could be ingested from {config.root}: every scene's images failed to "
            f"decode ({len(failed)} scenes); fix the input"
        )
    if failed:
        for path in arrays.values():
            compact_crops(path, keep)
    table = pd.DataFrame.from_records(records)
    table.insert(len(table.columns), "row", np.arange(len(table), dtype=np.int64))
    table["damage"] = table["damage"].astype("int8")
    atomic_write_parquet(out.buildings, table)
    scenes_frame = scene_table([p for i, p in enumerate(plans) if i not in failed], table)
    atomic_write_parquet(out.scenes_table, scenes_frame)
    for index in failed:
        for phase in ("pre", "post"):
            out.preview(plans[index].scene.stem, phase).unlink(missing_ok=True)
    report = {
        "config": asdict(config),
        "scenes_found": len(scenes),
        "scenes_ingested": len(plans) - len(failed),
        "buildings": len(table),
        "buildings_per_split": table["split"]
        .value_counts()
        .reindex(SPLITS)
        .dropna()
        .astype(int)
        .to_dict(),
        "buildings_per_event": table["event"].value_counts().sort_index().astype(int).to_dict(),
        "buildings_per_class": {
            DAMAGE_NAMES[int(k)]: int(v)
            for k, v in table["damage"].value_counts().sort_index().items()
        },
        "skipped_by_kind": dict(Counter(s.kind for s in skipped).most_common()),
        "skipped": [s.to_dict() for s in skipped],
    }
    atomic_write_json(out.report, report)
    return report
