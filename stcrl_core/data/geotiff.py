"""GeoTIFF / COG imagery: the raster side of ``stcrl ingest-geotiff``.

A responder's imagery is a few tiles per date (Maxar open data: 8-bit RGB COGs
in UTM, one per quadkey), pre and post on different grids. This module finds
the files of a date (paths, folders or globs: :func:`find_tiles`) and checks
each tile (:func:`inspect_raster`): it must open, have a CRS and a north-up
geotransform, and its pixels must be readable. Red, green and blue come from
the bands' colour names (else bands 1-3); a single-band (panchromatic) tile is
repeated to three bands, with a note. :mod:`~stcrl_core.data.geotiff_mosaic`
joins the tiles of a date into mosaics and reads the buildings' crops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

STRETCH_PERCENTILES = (2.0, 98.0)
SAMPLE_SIDE = 256  # longest side of the decimated read used to check a tile and sample it


class UnusableRasterError(Exception):
    """A raster that cannot be used; ``kind`` names the problem for the ingest report."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class RasterTile:
    """One usable imagery tile.

    Attributes:
        path: Absolute path.
        crs_wkt: Its CRS as WKT.
        transform: The affine ``(a, b, c, d, e, f)`` of pixel -> CRS coordinates.
        width, height: Size in pixels.
        bands: The 1-based source bands read as red, green, blue.
        dtype: Data type of those bands.
        capture_date: ``TIFFTAG_DATETIME`` as ISO text, or ``""``.
        notes: What was assumed about the tile (e.g. a panchromatic band repeated).
        sample: A decimated read (``3 x h x w``, at most :data:`SAMPLE_SIDE` px) of
            its valid pixels' values for the 8-bit stretch (not compared, not stored).
    """

    path: str
    crs_wkt: str
    transform: tuple[float, ...]
    width: int
    height: int
    bands: tuple[int, int, int]
    dtype: str
    capture_date: str = ""
    notes: tuple[str, ...] = ()
    sample: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def res(self) -> float:
        """Pixel size in CRS units (the larger of the two axes)."""
        return max(abs(self.transform[0]), abs(self.transform[4]))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in CRS units."""
        a, _, c, _, e, f = self.transform
        xs = (c, c + a * self.width)
        ys = (f, f + e * self.height)
        return min(xs), min(ys), max(xs), max(ys)

    def describe(self) -> dict:
        """The tile as recorded in the ingest report."""
        keys = ("path", "width", "height", "res", "bands", "dtype", "capture_date", "notes")
        return {"crs": crs_name(self.crs_wkt), **{k: getattr(self, k) for k in keys}}


def crs_name(wkt: str) -> str:
    from rasterio.crs import CRS

    crs = CRS.from_wkt(wkt)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def _rgb_bands(colorinterp: Sequence, count: int) -> tuple[tuple[int, int, int], list[str]]:
    from rasterio.enums import ColorInterp

    names = {ci: i + 1 for i, ci in enumerate(colorinterp)}
    rgb = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    if all(c in names for c in rgb):
        return tuple(names[c] for c in rgb), []  # type: ignore[return-value]
    if count >= 3:
        note = [] if count == 3 else [f"{count} bands without colour names: bands 1-3 read as RGB"]
        return (1, 2, 3), note
    return (1, 1, 1), [f"{count} band(s): panchromatic, band 1 repeated to 3 bands"]


def _capture_date(tags: dict) -> str:
    value = tags.get("TIFFTAG_DATETIME", "")
    if len(value) >= 19 and value[4] == ":" and value[7] == ":":
        return f"{value[:4]}-{value[5:7]}-{value[8:10]}T{value[11:19]}"
    return value


def inspect_raster(path: str | Path) -> RasterTile:
    """Check that a raster can be used and describe it.

    Reads the header and a decimated view of the data (which also catches most
    truncated or corrupt files before any crop is cut).

    Raises:
        UnusableRasterError: ``unreadable-raster``, ``no-crs``, ``no-georeference``
            or ``rotated-raster``, each with a reason that says what to do.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError

    path = str(Path(path).resolve())
    try:
        src = rasterio.open(path)
    except (RasterioError, OSError) as exc:
        raise UnusableRasterError(
            "unreadable-raster",
            f"cannot open the raster ({exc}); check that it is a complete "
            "GeoTIFF/COG (gdalinfo FILE)",
        ) from exc
    with src:
        if src.crs is None:
            raise UnusableRasterError(
                "no-crs",
                "the raster has no CRS; set it with `gdal_edit.py -a_srs EPSG:<code> "
                "FILE` (or give a copy with its .prj/.aux.xml)",
            )
        t = src.transform
        if t.is_identity:
            raise UnusableRasterError(
                "no-georeference",
                "the raster has no geotransform (pixel grid only); "
                "georeference it with gdalwarp (GCPs) or gdal_translate -a_ullr",
            )
        if t.b != 0 or t.d != 0:
            raise UnusableRasterError(
                "rotated-raster",
                "the raster's geotransform is rotated; make it north-up with "
                "`gdalwarp FILE OUT.tif`",
            )
        bands, notes = _rgb_bands(src.colorinterp, src.count)
        dtype = np.result_type(*(src.dtypes[b - 1] for b in set(bands))).name
        scale = max(src.width, src.height) / SAMPLE_SIDE
        shape = (
            max(1, round(src.height / max(scale, 1))),
            max(1, round(src.width / max(scale, 1))),
        )
        try:
            data = src.read(list(bands), out_shape=(3, *shape), resampling=Resampling.nearest)
            mask = src.read_masks(bands[0], out_shape=shape, resampling=Resampling.nearest)
        except (RasterioError, OSError) as exc:
            raise UnusableRasterError(
                "unreadable-raster",
                f"cannot read the raster's pixels ({exc}); the file is "
                "probably truncated or corrupt: copy it again",
            ) from exc
        if dtype != "uint8":
            notes.append(
                f"{dtype} values stretched to 8 bits (percentiles "
                f"{STRETCH_PERCENTILES[0]:g}-{STRETCH_PERCENTILES[1]:g} of the mosaic)"
            )
        return RasterTile(
            path=path,
            crs_wkt=src.crs.to_wkt(),
            transform=tuple(t)[:6],
            width=src.width,
            height=src.height,
            bands=bands,
            dtype=dtype,
            capture_date=_capture_date(src.tags()),
            notes=tuple(notes),
            sample=data[:, mask > 0],
        )


RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img")


def expand_raster_paths(items: Sequence[str]) -> list[Path]:
    """Files given as paths, folders (every GeoTIFF under them) or glob patterns, sorted.

    The order does not matter to the ingest: the same files give the same workspace.
    """
    import glob

    found: set[Path] = set()
    for item in items:
        path = Path(item).expanduser()
        if any(ch in item for ch in "*?["):
            found.update(Path(p).resolve() for p in glob.glob(item, recursive=True))
        elif path.is_dir():
            found.update(
                p.resolve()
                for p in path.rglob("*")
                if p.suffix.lower() in RASTER_SUFFIXES and p.is_file()
            )
        else:
            found.add(path.resolve())
    return sorted(found)


def find_tiles(
    items: Sequence[str], phase: str
) -> tuple[list[RasterTile], list[tuple[str, str, str]]]:
    """The usable tiles of one date, and ``(path, kind, reason)`` for every other file.

    Raises:
        DatasetNotFoundError: If no file of the phase can be used; the message
            lists why each was refused.
    """
    from stcrl_core.errors import DatasetNotFoundError

    paths = expand_raster_paths(items)
    tiles, problems = [], []
    for path in paths:
        if not path.exists():
            problems.append((str(path), "missing-file", "no such file; check the path"))
            continue
        try:
            tiles.append(inspect_raster(path))
        except UnusableRasterError as exc:
            problems.append((str(path), exc.kind, exc.reason))
    if not tiles:
        why = "; ".join(f"{p}: {r}" for p, _, r in problems[:3]) or "no file given"
        raise DatasetNotFoundError(
            f"no usable {phase}-event imagery in --{phase} {','.join(items)} ({why}); give "
            "GeoTIFF/COG files (or folders holding them) with a CRS"
        )
    return tiles, problems
