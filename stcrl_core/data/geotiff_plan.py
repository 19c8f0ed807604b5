"""Where each footprint's crops come from: the geometry pass of the GeoTIFF ingest.

The footprints are reprojected into each mosaic's own CRS (never the imagery
into the footprints'). A building is read from the mosaic of a date whose tiles
contain its centroid (else the first one its footprint touches); its crop is a
square on the ground, centred on the footprint's bounding box in that CRS, its
side the longer bounding-box side plus ``buffer_m`` on each side. Metres are
converted into CRS units at each building with the projection's scale factor
(1/cos(latitude) in web mercator, about 0.9996 in UTM; per degree of longitude
and latitude in a geographic CRS), so the buffer is the same on the ground
whatever the CRS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from stcrl_core.data.footprints import FootprintFile, footprint_ids, geometry_problem
from stcrl_core.data.geotiff_mosaic import Mosaic
from stcrl_core.data.scenes import METRES_PER_DEG_LAT, METRES_PER_DEG_LON_EQUATOR
from stcrl_core.data.xbd import SkippedItem
from stcrl_core.progress import ProgressCallback
from stcrl_core.workspace.objects import INGESTED, PHASES

HOLDOUT_BLOCK_M = 250.0  # side of the blocks held out together (neighbours share a split)


def ground_scale(crs_wkt: str, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres on the ground per CRS unit along x and y at the given places."""
    import pyproj

    crs = pyproj.CRS.from_wkt(crs_wkt)
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    if crs.is_geographic:
        kx = METRES_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat))
        return kx, np.full_like(kx, METRES_PER_DEG_LAT)
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    try:
        factors = pyproj.Proj(crs).get_factors(lon, lat)
        scale = np.sqrt(np.asarray(factors.areal_scale, dtype=np.float64))
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    except pyproj.exceptions.ProjError:
        scale = np.ones_like(lon)
    k = unit / scale
    return k, k.copy()


@dataclass
class Placement:
    """Where the crops of one date come from, one entry per footprint.

    Attributes:
        mosaic: Index of the mosaic read (-1: the footprint touches no tile).
        tile: Index (into the date's tiles, in mosaic order) of the tile holding the
            centroid, or the nearest one; -1 where ``mosaic`` is -1.
        footprint: ``(n, 4)`` bounds of the footprint in the mosaic's CRS.
        crop: ``(n, 4)`` bounds of the crop window in the mosaic's CRS.
        partly_outside: The footprint is not wholly inside the mosaic's tiles.
        pixel_m: Ground size of one mosaic pixel at the building (metres).
    """

    mosaic: np.ndarray
    tile: np.ndarray
    footprint: np.ndarray
    crop: np.ndarray
    partly_outside: np.ndarray
    pixel_m: np.ndarray

    def crop_pixels(self, mosaics: Sequence[Mosaic]) -> np.ndarray:
        """``(n, 4)`` crop windows ``x0, y0, x1, y1`` in their mosaic's pixels (NaN if none)."""
        return self._pixels(self.crop, mosaics)

    def footprint_pixels(self, mosaics: Sequence[Mosaic]) -> np.ndarray:
        """``(n, 4)`` footprint bounding boxes in their mosaic's pixels (NaN if none)."""
        return self._pixels(self.footprint, mosaics)

    def _pixels(self, bounds: np.ndarray, mosaics: Sequence[Mosaic]) -> np.ndarray:
        out = np.full(bounds.shape, np.nan)
        for m, mosaic in enumerate(mosaics):
            sel = self.mosaic == m
            x0, y0 = mosaic.pixel(bounds[sel, 0], bounds[sel, 3])
            x1, y1 = mosaic.pixel(bounds[sel, 2], bounds[sel, 1])
            out[sel] = np.column_stack([x0, y0, x1, y1])
        return out


def place(
    geoms: np.ndarray,
    source_crs: str,
    lonlat: np.ndarray,
    mosaics: Sequence[Mosaic],
    buffer_m: float,
) -> Placement:
    """Place every footprint on the mosaics of one date.

    Args:
        geoms: Valid (multi)polygons in ``source_crs``.
        source_crs: The footprint file's CRS.
        lonlat: ``(n, 2)`` centroids in lon/lat (for the scale factors).
        mosaics: The date's mosaics, most tiles first (preferred in this order).
        buffer_m: Context on every side of the crop, in metres.
    """
    import geopandas as gpd

    n = len(geoms)
    out = Placement(
        mosaic=np.full(n, -1, dtype=np.int64),
        tile=np.full(n, -1, dtype=np.int64),
        footprint=np.full((n, 4), np.nan),
        crop=np.full((n, 4), np.nan),
        partly_outside=np.zeros(n, dtype=bool),
        pixel_m=np.full(n, np.nan),
    )
    series = gpd.GeoSeries(geoms, crs=source_crs)
    local = [series.to_crs(mosaic.crs_wkt).to_numpy() for mosaic in mosaics]
    boxes = [shapely.box(*np.array([t.bounds for t in mosaic.tiles]).T) for mosaic in mosaics]
    unions = [shapely.union_all(b) for b in boxes]
    centroids = [shapely.centroid(g) for g in local]
    holds = np.stack([shapely.contains(u, c) for u, c in zip(unions, centroids, strict=True)])
    touches = np.stack([shapely.intersects(u, g) for u, g in zip(unions, local, strict=True)])
    out.mosaic[:] = np.where(
        holds.any(axis=0),
        holds.argmax(axis=0),
        np.where(touches.any(axis=0), touches.argmax(axis=0), -1),
    )
    first_tile = 0
    for m, mosaic in enumerate(mosaics):
        rows = np.flatnonzero(out.mosaic == m)
        if len(rows):
            bounds = shapely.bounds(local[m][rows])
            out.footprint[rows] = bounds
            out.partly_outside[rows] = ~shapely.within(local[m][rows], unions[m])
            kx, ky = ground_scale(mosaic.crs_wkt, lonlat[rows, 0], lonlat[rows, 1])
            cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
            width, height = (bounds[:, 2] - bounds[:, 0]) * kx, (bounds[:, 3] - bounds[:, 1]) * ky
            side = np.maximum(width, height) + 2 * buffer_m
            hx, hy = side / 2 / kx, side / 2 / ky
            out.crop[rows] = np.column_stack([cx - hx, cy - hy, cx + hx, cy + hy])
            out.pixel_m[rows] = mosaic.res * kx
            distance = np.stack([shapely.distance(b, centroids[m][rows]) for b in boxes[m]])
            out.tile[rows] = first_tile + distance.argmin(axis=0)
        first_tile += len(mosaic.tiles)
    return out


def holdout_split(lon: np.ndarray, lat: np.ndarray, share: float) -> np.ndarray:
    """``train``, or ``test``/``hold`` (half of ``share`` each) by blocks of about 250 m.

    The split of a block depends only on where it is, so re-ingesting gives the
    same splits and neighbouring buildings share one (as xBD's tiles do).
    """
    split = np.full(len(lon), "train", dtype=object)
    if share <= 0 or len(lon) == 0:
        return split
    m_lon = METRES_PER_DEG_LON_EQUATOR * np.cos(np.radians(np.asarray(lat)))
    bx = np.floor(np.asarray(lon) * m_lon / HOLDOUT_BLOCK_M).astype(np.int64)
    by = np.floor(np.asarray(lat) * METRES_PER_DEG_LAT / HOLDOUT_BLOCK_M).astype(np.int64)
    for i, key in enumerate(zip(bx.tolist(), by.tolist(), strict=True)):
        u = int(hashlib.sha1(f"{key[0]},{key[1]}".encode()).hexdigest()[:8], 16) / 2**32
        if u < share / 2:
            split[i] = "test"
        elif u < share:
            split[i] = "hold"
    return split


def reading_order(
    placement: Placement, mosaics: Sequence[Mosaic], band_px: int = 512
) -> np.ndarray:
    """Buildings in the order their crops are read: by mosaic, then in strips of
    ``band_px`` rows, west to east (neighbouring reads hit GDAL's block cache)."""
    pixels = placement.crop_pixels(mosaics)
    cx = np.nan_to_num((pixels[:, 0] + pixels[:, 2]) / 2)
    band = np.nan_to_num((pixels[:, 1] + pixels[:, 3]) / 2 // band_px)
    return np.lexsort((cx, band, placement.mosaic))


@dataclass
class FootprintPlan:
    """The footprints of a GeoTIFF ingest, checked and placed on both dates' mosaics.

    Attributes:
        footprints: The file as read.
        status: Per source row: ``"ingested"`` so far, or the kind that leaves it out.
        uids: Per source row: its id (None where missing).
        kept: Source rows of the buildings to read, in file order.
        placements: Per date, the :class:`Placement` of the kept buildings.
        lonlat: ``(n, 2)`` centroids of the kept buildings in lon/lat.
    """

    footprints: FootprintFile
    status: list[str]  # per source row: "ingested" or why not
    uids: list[str | None]
    kept: np.ndarray  # source rows of the buildings to read
    placements: dict[str, Placement]
    lonlat: np.ndarray


def _check_footprints(
    footprints: FootprintFile, skipped: list[SkippedItem]
) -> tuple[list[str], list[str | None]]:
    """Per source row: ``"ingested"`` so far or the kind that leaves it out, and its id."""
    uids = footprint_ids(footprints)
    status, seen = [], {}
    geometry = footprints.frame.geometry.to_numpy()
    for i, (uid, geom) in enumerate(zip(uids, geometry, strict=True)):
        problem = geometry_problem(geom)
        if problem is None and uid is None:
            problem = ("missing-id", f"no id in column {footprints.id_column!r}")
        if problem is None and uid in seen:
            problem = ("duplicate-id", f"id {uid!r} already used by row {seen[uid]} (kept)")
        if problem is None:
            seen[uid] = i
        status.append(INGESTED if problem is None else problem[0])
        if problem is not None:
            skipped.append(SkippedItem(footprints.path, problem[0], f"row {i}: {problem[1]}",
                                       uid))  # fmt: skip
    return status, uids


def plan_footprints(
    footprints: FootprintFile,
    mosaics: dict[str, list[Mosaic]],
    buffer_m: float,
    skipped: list[SkippedItem],
    progress: ProgressCallback,
) -> FootprintPlan:
    """Check every footprint and place the good ones on both dates' mosaics.

    Footprints left out (bad geometry or id, duplicates, outside a date's tiles)
    are appended to ``skipped``, each with its row and id.
    """
    status, uids = _check_footprints(footprints, skipped)
    progress(1, 3, "placing footprints on the imagery")
    valid = np.flatnonzero(np.array(status) == INGESTED)
    geoms = footprints.frame.geometry.to_numpy()[valid]
    valid_geoms = footprints.frame.geometry.iloc[valid]
    local = valid_geoms.estimate_utm_crs() if len(valid) else "EPSG:4326"
    centroids = valid_geoms.to_crs(local).centroid.to_crs("EPSG:4326")
    lonlat = shapely.get_coordinates(centroids.to_numpy())
    placements = {
        phase: place(geoms, footprints.frame.crs.to_wkt(), lonlat, mosaics[phase], buffer_m)
        for phase in PHASES
    }
    outside = np.zeros(len(valid), dtype=bool)
    for phase in PHASES:
        missing = placements[phase].mosaic < 0
        for k in np.flatnonzero(missing & ~outside):
            row = int(valid[k])
            status[row] = "outside-imagery"
            skipped.append(SkippedItem(footprints.path, "outside-imagery",
                                       f"row {row}: the footprint touches no {phase}-event tile",
                                       uids[row]))  # fmt: skip
        outside |= missing
    keep = ~outside
    placements = {p: _subset(pl, keep) for p, pl in placements.items()}
    progress(2, 3, "placed")
    return FootprintPlan(footprints, status, uids, valid[keep], placements, lonlat[keep])


def _subset(placement: Placement, keep: np.ndarray) -> Placement:
    return Placement(**{k: v[keep] for k, v in vars(placement).items()})
