"""A generated event in the files a responder has: GeoTIFF tiles and a footprint file.

``generate_geotiff_event`` renders an event's scenes with the xBD-format
generator (:func:`~stcrl_core.data.synthetic.xbd_format.generate_scene`, one
pixel grid per scene over the event's area, :class:`EventArea`) and writes::

    OUT/pre/<event>-pre-r<row>c<col>.tif     pre-event tiles, the event's UTM zone
    OUT/post/<event>-post-r<row>c<col>.tif   post-event tiles on another grid: another
                                             pixel size and origin, and another CRS
                                             (EPSG:3857 by default)
    OUT/footprints.geojson                   one polygon per building, EPSG:4326, with
                                             building_id, source and (unless left out)
                                             damage (xBD class names)
    OUT/truth.csv                            building_id, damage (-1 to 3), lon, lat of
                                             the footprint's centroid
    OUT/synthetic.json                       what was written and the ingest command

Tiles are 8-bit RGB, tiled, nodata 0, several per date, resampled from the
scenes with ``rasterio.warp`` (bilinear) through a temporary mosaic in
EPSG:4326, so memory stays at one tile. A building cut by a scene border
appears in both scenes' labels; its pieces are joined into one footprint.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from stcrl_core.data.synthetic.events import EVENTS
from stcrl_core.data.synthetic.xbd_format import event_world, generate_scene
from stcrl_core.data.xbd import DAMAGE_CODES, DAMAGE_NAMES
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace.atomic import atomic_path, atomic_write_json

DEFAULT_EVENT = "joplin-tornado"
POST_PIXEL_RATIO = 1.25  # post pixels are this much larger on the ground than pre pixels
BORDER_EPS = 1e-6  # pixel coordinates this close to a scene's edge were clipped there


def _utm_epsg(lon: float, lat: float) -> int:
    zone = int((lon + 180) // 6) + 1
    return (32600 if lat >= 0 else 32700) + zone


def _scene(args: tuple[str, int, int, int, int]) -> tuple[int, dict[str, Any]]:
    name, index, size, seed, scenes = args
    return index, generate_scene(EVENTS[name], index, size, seed, scenes)


def _scenes(
    name: str, scenes: int, size: int, seed: int, workers: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    jobs = [(name, i, size, seed, scenes) for i in range(scenes)]
    if workers == 1:
        yield from map(_scene, jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        yield from pool.map(_scene, jobs)


def _pieces(scene: dict[str, Any], size: int) -> list[tuple[Any, bool, str]]:
    """``(lon/lat polygon, cut by the scene border, subtype)`` of every post label."""
    post = scene["labels"]["post"]
    out = []
    for xy, ll in zip(post["features"]["xy"], post["features"]["lng_lat"], strict=True):
        pixels = shapely.get_coordinates(shapely.from_wkt(xy["wkt"]))
        border = bool(((pixels < BORDER_EPS) | (pixels > size - BORDER_EPS)).any())
        out.append((shapely.from_wkt(ll["wkt"]), border, xy["properties"]["subtype"]))
    return out


def _join_pieces(pieces: list[tuple[int, Any, bool, str]]) -> list[tuple[Any, str]]:
    """One ``(polygon, subtype)`` per building: pieces cut by scene borders joined."""
    parent = list(range(len(pieces)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    border = [i for i, p in enumerate(pieces) if p[2]]
    tree = shapely.STRtree([shapely.buffer(pieces[i][1], 1e-8) for i in border])
    left, right = tree.query([pieces[i][1] for i in border], predicate="intersects")
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        i, j = border[a], border[b]
        if pieces[i][0] != pieces[j][0]:
            parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(pieces)):
        groups.setdefault(root(i), []).append(i)
    buildings = []
    for members in sorted(groups.values()):
        polygons = [pieces[i][1] for i in members]
        shape = shapely.union_all(polygons, grid_size=1e-9) if len(polygons) > 1 else polygons[0]
        if shape.geom_type != "Polygon":
            shape = shapely.buffer(shapely.buffer(shape, 1e-8), -1e-8)
        if shape.geom_type != "Polygon":
            shape = max(getattr(shape, "geoms", [shape]), key=lambda g: g.area)
        largest = max(members, key=lambda i: pieces[i][1].area)
        buildings.append((shape, pieces[largest][3]))
    return buildings


def _grid(
    crs: Any, bounds: tuple[float, ...], res: float, tile_px: int, shift: float
) -> list[tuple[int, int, Any]]:
    """Tiles ``(row, col, affine)`` of ``tile_px`` covering ``bounds``; the grid's origin is
    snapped to whole tiles and moved by ``shift`` pixels (so the two dates' grids differ)."""
    from affine import Affine

    left, bottom, right, top = bounds
    step = tile_px * res
    x0 = math.floor(left / step) * step + shift * res
    y0 = math.ceil(top / step) * step - shift * res
    if x0 > left:
        x0 -= step
    if y0 < top:
        y0 += step
    cols, rows = math.ceil((right - x0) / step), math.ceil((y0 - bottom) / step)
    return [(r, c, Affine(res, 0, x0 + c * step, 0, -res, y0 - r * step))
            for r in range(rows) for c in range(cols)]  # fmt: skip


def _write_tiles(
    mosaic: Path, folder: Path, stem: str, crs: Any, res: float, tile_px: int, shift: float,
    date: str,
) -> list[str]:  # fmt: skip
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    written = []
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(mosaic) as src:
        bounds = transform_bounds(src.crs, crs, *src.bounds, densify_pts=21)
        for row, col, transform in _grid(crs, bounds, res, tile_px, shift):
            with WarpedVRT(src, crs=crs, transform=transform, width=tile_px, height=tile_px,
                           resampling=Resampling.bilinear) as vrt:  # fmt: skip
                mask = vrt.read_masks(1)
                if not mask.any():
                    continue
                data = vrt.read()
            data[:, mask == 0] = 0
            profile = {"driver": "GTiff", "width": tile_px, "height": tile_px, "count": 3,
                       "dtype": "uint8", "crs": crs, "transform": transform, "nodata": 0,
                       "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
                       "photometric": "RGB"}  # fmt: skip
            path = folder / f"{stem}-r{row:02d}c{col:02d}.tif"
            with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
                dst.write(data)
                dst.update_tags(TIFFTAG_DATETIME=date[:19].replace("-", ":").replace("T", " "))
            written.append(str(path.relative_to(folder.parent)))
    return written


def generate_geotiff_event(
    out: str | Path,
    event: str = DEFAULT_EVENT,
    scenes: int = 6,
    size: int = 512,
    seed: int = 0,
    tile_px: int = 1024,
    post_crs: str = "EPSG:3857",
    damage_column: bool = True,
    workers: int = 1,
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Write a generated event as GeoTIFF tiles and a footprint GeoJSON under ``out``.

    Args:
        out: Output folder (``pre/``, ``post/``, ``footprints.geojson``, ``truth.csv``,
            ``synthetic.json``; earlier tiles there are replaced).
        event: An event of :data:`~stcrl_core.data.synthetic.events.EVENTS`.
        scenes: Generator scenes (tiles of the event's area) to render.
        size: Side of a generator scene in pixels.
        seed: Random seed; the same arguments give the same files.
        tile_px: Side of the written GeoTIFF tiles.
        post_crs: CRS of the post-event tiles (``utm+1``: the next UTM zone east).
        damage_column: Write the true damage into the footprints (``damage``).
        workers: Processes that render scenes.
        progress: ``progress(done, total, message)`` callback.

    Returns:
        The summary written to ``synthetic.json``.
    """
    import geopandas as gpd
    import pandas as pd
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS

    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; choose from {', '.join(sorted(EVENTS))}")
    if scenes < 1 or size < 64 or tile_px < 64:
        raise ValueError("scenes must be >= 1, size and tile_px >= 64 px")
    out = Path(out)
    spec = EVENTS[event]
    area = event_world(spec, scenes, size, seed).area
    lon0, lat0 = (float(v) for v in area.lonlat(np.array(0.0), np.array(0.0)))
    lon1, _ = (float(v) for v in area.lonlat(np.array(area.pitch_m), np.array(0.0)))
    _, lat1 = (float(v) for v in area.lonlat(np.array(0.0), np.array(area.pitch_m)))
    geo = Affine(lon1 - lon0, 0, lon0, 0, lat1 - lat0, lat0)  # scene pixels -> lon/lat
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    profile = {"driver": "GTiff", "width": area.cols * size, "height": area.rows * size,
               "count": 3, "dtype": "uint8", "crs": "EPSG:4326", "transform": geo, "nodata": 0,
               "tiled": True, "blockxsize": 256, "blockysize": 256}  # fmt: skip
    pieces, dates = [], {}
    total = scenes + 2
    try:
        with rasterio.open(work / "pre.tif", "w", **profile) as pre, \
                rasterio.open(work / "post.tif", "w", **profile) as post:  # fmt: skip
            for index, scene in _scenes(event, scenes, size, seed, workers):
                ox, oy = area.tile_origin(index)
                window = rasterio.windows.Window(round(ox / area.pitch_m), round(oy / area.pitch_m),
                                                 size, size)  # fmt: skip
                for phase, dst in (("pre", pre), ("post", post)):
                    image = np.maximum(scene[phase], 1)  # 0 is nodata
                    dst.write(image.transpose(2, 0, 1), window=window)
                    dates[phase] = scene["labels"][phase]["metadata"]["capture_date"]
                pieces += [(index, *piece) for piece in _pieces(scene, size)]
                progress(index + 1, total, f"rendered scene {index + 1} of {scenes}")
        centre_lon = lon0 + (lon1 - lon0) * area.cols * size / 2
        centre_lat = lat0 + (lat1 - lat0) * area.rows * size / 2
        pre_crs = CRS.from_epsg(_utm_epsg(centre_lon, centre_lat))
        post_crs_obj = (CRS.from_epsg(_utm_epsg(centre_lon, centre_lat) + 1)
                        if post_crs == "utm+1" else CRS.from_user_input(post_crs))  # fmt: skip
        post_res = area.pitch_m * POST_PIXEL_RATIO
        if post_crs_obj.to_epsg() == 3857:  # web-mercator units are 1/cos(lat) ground metres
            post_res /= math.cos(math.radians(centre_lat))
        tiles = {
            "pre": _write_tiles(work / "pre.tif", out / "pre", f"{event}-pre", pre_crs,
                                round(area.pitch_m, 3), tile_px, 0.37, dates["pre"]),
            "post": _write_tiles(work / "post.tif", out / "post", f"{event}-post", post_crs_obj,
                                 round(post_res, 3), tile_px, 137.61, dates["post"]),
        }  # fmt: skip
        progress(scenes + 1, total, "tiles written")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    buildings = _join_pieces(pieces)
    ids = [f"{event}-{k:06d}" for k in range(len(buildings))]
    codes = [DAMAGE_CODES[subtype] for _, subtype in buildings]
    frame = gpd.GeoDataFrame({"building_id": ids, "source": "synthetic"},
                             geometry=[b for b, _ in buildings], crs="EPSG:4326")  # fmt: skip
    if damage_column:
        frame["damage"] = [DAMAGE_NAMES[c] for c in codes]
    with atomic_path(out / "footprints.geojson") as tmp:
        tmp.unlink()
        frame.to_file(tmp, driver="GeoJSON")
    centroids = shapely.get_coordinates(
        frame.geometry.to_crs(pre_crs.to_wkt()).centroid.to_crs("EPSG:4326").to_numpy()
    )
    truth = pd.DataFrame({"building_id": ids, "damage": codes, "lon": centroids[:, 0],
                          "lat": centroids[:, 1]})  # fmt: skip
    with atomic_path(out / "truth.csv") as tmp:
        truth.to_csv(tmp, index=False)
    summary = {
        "event": event, "disaster_type": spec.disaster_type, "scenes": scenes, "size": size,
        "seed": seed, "tile_px": tile_px, "crs": {"pre": pre_crs.to_string(),
                                                   "post": post_crs_obj.to_string()},
        "pixel_m": {"pre": round(area.pitch_m, 3),
                    "post": round(area.pitch_m * POST_PIXEL_RATIO, 3)},
        "tiles": tiles, "buildings": len(frame),
        "buildings_per_class": {DAMAGE_NAMES[c]: codes.count(c) for c in sorted(set(codes))},
        "footprints": "footprints.geojson", "id_column": "building_id",
        "damage_column": "damage" if damage_column else None,
    }  # fmt: skip
    atomic_write_json(out / "synthetic.json", summary)
    progress(total, total, f"{len(frame)} footprints")
    return summary


def ingest_settings(folder: str | Path, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``stcrl ingest-geotiff`` settings that read a generated event folder."""
    folder = Path(folder)
    summary = summary or json.loads((folder / "synthetic.json").read_text(encoding="utf-8"))
    return {
        "pre": [str(folder / p) for p in summary["tiles"]["pre"]],
        "post": [str(folder / p) for p in summary["tiles"]["post"]],
        "footprints": str(folder / summary["footprints"]),
        "event": summary["event"],
        "id_column": summary["id_column"],
        "damage_column": summary["damage_column"],
        "disaster_type": summary["disaster_type"],
    }
