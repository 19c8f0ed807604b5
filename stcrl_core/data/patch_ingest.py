"""Cutting segmentation patches into the patch store, from Inria tiles or xBD scenes.

* :func:`ingest_inria` reads Inria tiles (image + ground truth, with their CRS
  and transform), cuts non-overlapping ``patch`` squares and keeps the city as
  the location. Tiles 1 to 5 of each city are validation.
* :func:`patches_from_objects` cuts the pre-disaster images of the xBD scenes
  that a workspace's xBD ingest came from, with a mask rasterised from the
  pre-disaster building polygons (``xy`` pixel coordinates) and the event as the
  location; train and tier3 scenes are ``train``, test and hold ``val``.

Bad inputs are skipped and listed in ``patches/report.json``, like the xBD
ingest; nothing usable at all raises :class:`IngestError`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from rasterio.warp import transform as warp_transform

from stcrl_core.data.inria import VAL_TILES, TileError, read_tile, scan_inria, tile_header
from stcrl_core.data.patches import patch_grid, summarise
from stcrl_core.data.xbd import SPLITS, LabelError, SkippedItem, parse_label, scan_xbd
from stcrl_core.errors import IngestError, WorkspaceError
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.locks import exclusive_work
from stcrl_core.workspace.patches import PatchStoreWriter, patch_report_path

XBD_PATCH_SPLIT = {"train": "train", "tier3": "train", "test": "val", "hold": "val"}


@dataclass(frozen=True)
class InriaIngestConfig:
    """Settings of an Inria patch ingest (saved in the report and ``workspace.json``).

    Attributes:
        root: The Inria root (``AerialImageDataset`` or the folder above it).
        patch: Patch side in pixels.
        val_tiles: Tile numbers of each city used for validation.
    """

    root: str
    patch: int = 512
    val_tiles: tuple[int, ...] = VAL_TILES

    def __post_init__(self) -> None:
        if self.patch < 16:
            raise ValueError(f"patch must be at least 16 px, got {self.patch}")


def _locked(ws: Workspace) -> Any:
    """One patch ingest at a time in a workspace (a second one fails at once)."""
    return exclusive_work(ws.path, "patches", "patch ingest")


def _centres_lonlat(
    transform: Any, crs: str, corners: Sequence[tuple[int, int]], patch: int
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for x0, y0 in corners:
        x, y = transform @ (x0 + patch / 2, y0 + patch / 2)
        xs.append(x)
        ys.append(y)
    if crs.upper() in ("EPSG:4326", "OGC:CRS84"):
        return xs, ys
    lon, lat = warp_transform(crs, "EPSG:4326", xs, ys)
    return list(lon), list(lat)


def _record_manifest(ws: Workspace, key: str, entry: dict[str, Any]) -> None:
    ws.record_ingest(key, entry, replaces=("patches-inria", "patches-xbd"))


def _summary_line(report: dict[str, Any], what: str, ws: Workspace) -> str:
    per_split = ", ".join(f"{k} {v}" for k, v in report["patches_per_split"].items())
    line = f"cut {report['patches']} patches of {report['patch']} px from {what} ({per_split})"
    if report["skipped"]:
        kinds = ", ".join(f"{v} {k}" for k, v in report["skipped_by_kind"].items())
        line += f"; skipped {len(report['skipped'])} items ({kinds}); see {patch_report_path(ws)}"
    return line


def ingest_inria(
    config: InriaIngestConfig, workspace: str | Path, progress: ProgressCallback = no_progress
) -> dict[str, Any]:
    """Cut the patches of every Inria tile under ``config.root`` into ``WS/patches/``.

    Args:
        config: What to ingest and how.
        workspace: The workspace (created if needed).
        progress: ``progress(done, total, message)`` callback (tiles).

    Returns:
        The ingest report, with a one-line ``summary``.

    Raises:
        DatasetNotFoundError: If the root lacks the Inria layout.
        IngestError: If no tile could be used.
    """
    tiles, skipped = scan_inria(config.root, config.val_tiles)
    ws = Workspace.create(workspace)
    plans = []
    for paths in tiles:
        try:
            height, width, _, _ = tile_header(paths)
        except TileError as exc:
            skipped.append(exc.item)
            continue
        corners = patch_grid(height, width, config.patch)
        if not corners:
            skipped.append(
                SkippedItem(
                    str(paths.image), "too-small", f"smaller than one {config.patch} px patch"
                )
            )
            continue
        plans.append((paths, corners))
    n = sum(len(c) for _, c in plans)
    if n == 0:
        raise IngestError(
            f"nothing could be ingested from {config.root}: {len(tiles)} tiles found, "
            f"{len(skipped)} items skipped ({dict(Counter(s.kind for s in skipped))}); "
            "fix the input or check --root"
        )
    with _locked(ws):
        writer = PatchStoreWriter(ws, n, config.patch)
        try:
            records: list[dict[str, Any]] = []
            for done, (paths, corners) in enumerate(plans, start=1):
                first = len(records)
                try:
                    tile = read_tile(paths)
                except TileError as exc:
                    skipped.append(exc.item)
                    tile = None
                lon, lat = (
                    _centres_lonlat(tile.transform, tile.crs, corners, config.patch)
                    if tile is not None
                    else ([np.nan] * len(corners), [np.nan] * len(corners))
                )
                p = config.patch
                for k, (x0, y0) in enumerate(corners):
                    records.append(
                        {
                            "patch_id": f"{paths.stem}_{x0}_{y0}",
                            "source": "inria",
                            "location": paths.city,
                            "split": paths.split,
                            "tile": paths.stem,
                            "x0": x0,
                            "y0": y0,
                            "lon": float(lon[k]),
                            "lat": float(lat[k]),
                            "crs": tile.crs if tile is not None else "",
                        }
                    )
                    if tile is not None:
                        writer.put(
                            first + k,
                            tile.image[y0 : y0 + p, x0 : x0 + p],
                            tile.mask[y0 : y0 + p, x0 : x0 + p],
                        )
                progress(done, len(plans), f"cutting {paths.stem}")
            if not writer.written.any():
                raise IngestError(
                    f"nothing could be ingested from {config.root}: every tile failed to decode"
                )
            report = _report(asdict(config), len(tiles), skipped, writer, records)
            table = writer.commit(records, report)
        except BaseException:
            writer.abort()
            raise
    report.update(summarise(table))
    report["summary"] = _summary_line(report, f"{report['inputs_used']} Inria tiles", ws)
    _record_manifest(ws, "patches-inria", {
        "config": report["config"], "patches": len(table), "tiles": report["inputs_used"],
        "skipped": len(skipped),
    })  # fmt: skip
    return report


def _report(
    config: dict[str, Any],
    found: int,
    skipped: list[SkippedItem],
    writer: PatchStoreWriter,
    records: list[dict[str, Any]],
) -> dict[str, Any]:
    kept = [records[i] for i in np.flatnonzero(writer.written)]
    table = pd.DataFrame.from_records(kept)
    report = {
        "config": config,
        "patch": writer.patch,
        "inputs_found": found,
        "inputs_used": int(table["tile"].nunique()),
        **summarise(table),
        "skipped_by_kind": dict(Counter(s.kind for s in skipped).most_common()),
        "skipped": [s.to_dict() for s in skipped],
    }
    return report


def _rasterise(polygons: list[np.ndarray], width: int, height: int) -> np.ndarray:
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    for poly in polygons:
        if len(poly) >= 3:
            draw.polygon([tuple(p) for p in poly], fill=1)
    return np.asarray(mask, dtype=np.uint8)


def _pre_polygons(label_path: Path) -> list[np.ndarray]:
    import shapely

    label = parse_label(label_path)
    polygons = []
    for wkt, _ in label.xy.values():
        try:
            geom = shapely.from_wkt(wkt)
        except shapely.errors.GEOSException:
            continue
        parts = getattr(geom, "geoms", [geom])
        polygons.extend(np.asarray(g.exterior.coords)[:-1] for g in parts if not g.is_empty)
    return polygons


def patches_from_objects(
    workspace: str | Path,
    patch: int = 512,
    root: str | Path | None = None,
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Cut patches of the pre-disaster xBD scenes of a workspace into ``WS/patches/``.

    Args:
        workspace: A workspace with an xBD ingest (its root and splits are reused).
        patch: Patch side in pixels.
        root: The xBD root (default: the one recorded by ``stcrl ingest-xbd``).
        progress: ``progress(done, total, message)`` callback (scenes).

    Returns:
        The ingest report, with a one-line ``summary``.

    Raises:
        WorkspaceError: If the workspace has no xBD ingest.
        IngestError: If no scene could be used.
    """
    if patch < 16:
        raise ValueError(f"patch must be at least 16 px, got {patch}")
    ws = Workspace.open(workspace)
    xbd = ws.read_manifest().get("ingests", {}).get("xbd")
    if xbd is None or not ws.has_objects():
        raise WorkspaceError(
            f"{ws.path} has no xBD ingest to cut patches from; run "
            f"`stcrl ingest-xbd --root DATA --workspace {ws.path}` first"
        )
    root = str(root or xbd["config"]["root"])
    splits = tuple(xbd["config"].get("splits", SPLITS))
    scenes, skipped = scan_xbd(root, splits)
    geo = ws.scenes().set_index("scene")
    plans = []
    for scene in scenes:
        try:
            with Image.open(scene.pre_image) as img:
                width, height = img.size
        except (OSError, ValueError) as exc:
            skipped.append(SkippedItem(str(scene.pre_image), "unreadable-image", str(exc)))
            continue
        corners = patch_grid(height, width, patch)
        if not corners:
            skipped.append(SkippedItem(str(scene.pre_image), "too-small", f"< {patch} px"))
            continue
        if scene.stem not in geo.index or not np.isfinite(geo.loc[scene.stem, "geo_a"]):
            skipped.append(
                SkippedItem(str(scene.pre_label), "no-georeference", "scene not in the xBD ingest")
            )
            continue
        plans.append((scene, corners))
    n = sum(len(c) for _, c in plans)
    if n == 0:
        raise IngestError(
            f"no xBD scene under {root} could be cut into {patch} px patches "
            f"({len(skipped)} items skipped); check the ingest root or use a smaller --patch"
        )
    with _locked(ws):
        writer = PatchStoreWriter(ws, n, patch)
        try:
            records: list[dict[str, Any]] = []
            for done, (scene, corners) in enumerate(plans, start=1):
                first = len(records)
                image = mask = None
                try:
                    polygons = _pre_polygons(scene.pre_label)
                    with Image.open(scene.pre_image) as img:
                        image = np.asarray(img.convert("RGB"), dtype=np.uint8)
                    mask = _rasterise(polygons, image.shape[1], image.shape[0])
                except LabelError as exc:
                    skipped.append(SkippedItem(str(scene.pre_label), "malformed-label", str(exc)))
                except (OSError, ValueError, SyntaxError) as exc:
                    skipped.append(SkippedItem(str(scene.pre_image), "unreadable-image", str(exc)))
                a, b, c, d, e, f = (
                    geo.loc[scene.stem, k] for k in ("geo_a", "geo_b", "geo_c", "geo_d",
                                                     "geo_e", "geo_f")
                )  # fmt: skip
                for k, (x0, y0) in enumerate(corners):
                    cx, cy = x0 + patch / 2, y0 + patch / 2
                    records.append(
                        {
                            "patch_id": f"{scene.stem}_{x0}_{y0}",
                            "source": "xbd",
                            "location": scene.event,
                            "split": XBD_PATCH_SPLIT[scene.split],
                            "tile": scene.stem,
                            "x0": x0,
                            "y0": y0,
                            "lon": float(a * cx + b * cy + c),
                            "lat": float(d * cx + e * cy + f),
                            "crs": "EPSG:4326",
                        }
                    )
                    if image is not None and mask is not None:
                        writer.put(
                            first + k,
                            image[y0 : y0 + patch, x0 : x0 + patch],
                            mask[y0 : y0 + patch, x0 : x0 + patch],
                        )
                progress(done, len(plans), f"cutting {scene.stem}")
            if not writer.written.any():
                raise IngestError(f"no xBD scene under {root} could be decoded")
            config = {"root": root, "patch": patch, "splits": list(splits)}
            report = _report(config, len(scenes), skipped, writer, records)
            table = writer.commit(records, report)
        except BaseException:
            writer.abort()
            raise
    report.update(summarise(table))
    report["summary"] = _summary_line(
        report, f"{report['inputs_used']} xBD pre-disaster scenes", ws
    )
    _record_manifest(ws, "patches-xbd", {
        "config": report["config"], "patches": len(table), "scenes": report["inputs_used"],
        "skipped": len(skipped),
    })  # fmt: skip
    return report
