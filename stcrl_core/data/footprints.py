"""Building-footprint files: reading them for ``stcrl ingest-geotiff`` and writing
predictions back in their own schema.

A responder's footprints come from Microsoft or Overture (GeoJSON lines,
GeoParquet), OSM, or their own GeoPackage or Shapefile, usually in EPSG:4326,
with an id column and no damage. The ingest keeps the id as the building's
``uid`` (so labels keyed by uid survive a re-ingest), checks every geometry and
keeps a copy of the whole file (``objects/footprints.parquet``: every row and
column, its CRS, plus ``stcrl_uid`` and ``stcrl_status``) for the round trip:
:func:`footprints_with_predictions` gives every input row with its columns
and the predicted class, the class probabilities and their entropy.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from stcrl_core.data.xbd import DAMAGE_CODES, DAMAGE_NAMES
from stcrl_core.errors import DatasetNotFoundError, IngestError
from stcrl_core.workspace.objects import FOOTPRINT_STATUS, FOOTPRINT_UID, INGESTED

if TYPE_CHECKING:
    import geopandas as gpd

READ_SUFFIXES = (
    ".geojson",
    ".json",
    ".geojsonl",
    ".geojsons",
    ".geojsonseq",
    ".ndjson",
    ".gpkg",
    ".shp",
    ".parquet",
    ".geoparquet",
    ".fgb",
)
WRITE_DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".parquet": "parquet",
    ".fgb": "FlatGeobuf",
}
ID_CANDIDATES = (
    "id",
    "uid",
    "building_id",
    "buildingid",
    "bldg_id",
    "osm_id",
    "@id",
    "fid",
    "objectid",
    "gid",
)
CLASS_COLUMNS = ("p_no_damage", "p_minor_damage", "p_major_damage", "p_destroyed")
ADDED_COLUMNS = ("damage_class", *CLASS_COLUMNS, "uncertainty")
ID_FROM_GEOMETRY = "(derived from the geometry)"


@dataclass
class FootprintFile:
    """A footprint file as read.

    Attributes:
        path: Absolute path.
        layer: The layer read (GeoPackage), or None.
        frame: Every row and column, in the file's CRS, index ``0..n-1``.
        crs: The CRS as ``EPSG:<code>`` (or WKT).
        id_column: The column the ids come from, or None when derived from the geometry.
        notes: What was assumed (a CRS, the id column, the layer).
    """

    path: str
    layer: str | None
    frame: gpd.GeoDataFrame
    crs: str
    id_column: str | None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        """As recorded in the ingest report."""
        return {
            "path": self.path,
            "layer": self.layer,
            "crs": self.crs,
            "rows": len(self.frame),
            "id_column": self.id_column or ID_FROM_GEOMETRY,
            "columns": [c for c in self.frame.columns if c != self.frame.geometry.name],
        }


def _read_frame(path: Path, layer: str | None, notes: list[str]) -> gpd.GeoDataFrame:
    import geopandas as gpd

    if path.suffix.lower() in (".parquet", ".geoparquet"):
        try:
            return gpd.read_parquet(path)
        except ValueError:  # plain Parquet with a WKB geometry column, no geo metadata
            plain = pd.read_parquet(path)
            if "geometry" not in plain:
                raise
            notes.append(
                f"{path.name}: Parquet without geo metadata; WKB column 'geometry' read "
                "as EPSG:4326"
            )
            geoms = shapely.from_wkb(plain.pop("geometry").to_numpy())
            return gpd.GeoDataFrame(plain, geometry=geoms, crs="EPSG:4326")
    if layer is None and path.suffix.lower() == ".gpkg":
        import pyogrio

        layers = pyogrio.list_layers(path)
        if len(layers) > 1:
            layer = str(layers[0][0])
            notes.append(
                f"{path.name} has {len(layers)} layers; read {layer!r} (choose with --layer)"
            )
    return gpd.read_file(path, layer=layer)


def read_footprint_file(
    path: str | Path,
    layer: str | None = None,
    id_column: str | None = None,
    damage_column: str | None = None,
) -> FootprintFile:
    """Read a footprint file, its CRS and the column of its ids.

    Args:
        path: GeoJSON (or GeoJSON lines), GeoPackage, GeoParquet, Shapefile or FlatGeobuf.
        layer: Layer of a multi-layer file (default: the first).
        id_column: Column of the building ids (default: the first of
            :data:`ID_CANDIDATES` present, else ids derived from the geometry).
        damage_column: Column of known damage, if any (checked to exist).

    Raises:
        DatasetNotFoundError: If the file is missing, of an unknown kind or unreadable,
            or a named column is not in it.
        IngestError: If it has no CRS and its coordinates are not lon/lat.
    """
    path = Path(path).expanduser().resolve()
    kinds = ", ".join(READ_SUFFIXES)
    if not path.is_file():
        raise DatasetNotFoundError(f"no footprint file {path}; give --footprints FILE ({kinds})")
    if path.suffix.lower() not in READ_SUFFIXES:
        raise DatasetNotFoundError(
            f"{path} is not a footprint file this reads; give one of {kinds}"
        )
    notes: list[str] = []
    try:
        frame = _read_frame(path, layer, notes)
    except Exception as exc:  # pyogrio/pyarrow raise many kinds for a bad file
        raise DatasetNotFoundError(
            f"cannot read footprints {path} ({type(exc).__name__}: {exc}); check the file "
            "(e.g. ogrinfo FILE) or convert it to GeoPackage"
        ) from exc
    frame = frame.reset_index(drop=True)
    if frame.crs is None:
        left, bottom, right, top = frame.total_bounds if len(frame) else (0, 0, 0, 0)
        if not (-180 <= left <= right <= 180 and -90 <= bottom <= top <= 90):
            raise IngestError(
                f"footprints {path} have no CRS and their coordinates are not lon/lat; add the "
                "CRS (a .prj beside a Shapefile, or re-save with one) and re-run"
            )
        frame = frame.set_crs("EPSG:4326")
        notes.append(f"{path.name} has no CRS; lon/lat coordinates read as EPSG:4326")
    epsg = frame.crs.to_epsg()
    crs = f"EPSG:{epsg}" if epsg else frame.crs.to_wkt()
    columns = [c for c in frame.columns if c != frame.geometry.name]
    for name, flag in ((id_column, "--id-column"), (damage_column, "--damage-column")):
        if name is not None and name not in columns:
            raise DatasetNotFoundError(
                f"no column {name!r} in {path} ({flag}); its columns are {', '.join(columns)}"
            )
    if id_column is None:
        lower = {c.lower(): c for c in columns}
        id_column = next((lower[c] for c in ID_CANDIDATES if c in lower), None)
        notes.append(
            f"ids from column {id_column!r} (choose another with --id-column)"
            if id_column
            else "no id column found: ids derived from each geometry (stable while the "
            "footprint is unchanged; give --id-column to keep the file's own ids)"
        )
    return FootprintFile(str(path), layer, frame, crs, id_column, notes)


def _id_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def footprint_ids(footprints: FootprintFile) -> list[str | None]:
    """Every row's id as text (None where missing), from the id column or the geometry."""
    frame = footprints.frame
    if footprints.id_column is not None:
        return [_id_text(v) for v in frame[footprints.id_column].tolist()]
    geoms = frame.geometry.to_crs("EPSG:4326").to_numpy()
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, 7))
    return [
        None if g is None else "g" + hashlib.sha1(shapely.to_wkb(g)).hexdigest()[:16]
        for g in rounded
    ]


def geometry_problem(geom: object) -> tuple[str, str] | None:
    """Why a footprint geometry cannot be used (``(kind, reason)``), or None."""
    if geom is None or shapely.is_empty(geom):
        return "missing-geometry", "the footprint has no geometry"
    kind = shapely.get_type_id(geom)
    if kind not in (3, 6):  # Polygon, MultiPolygon
        return "not-a-polygon", (
            f"the footprint is a {geom.geom_type}; building footprints must be (multi)polygons"
        )
    valid = shapely.is_valid(geom)
    if shapely.area(geom if valid else shapely.make_valid(geom)) <= 0:
        return "zero-area", "the polygon has zero area (its points are on a line or repeated)"
    if not valid:
        return "invalid-geometry", (
            f"invalid polygon ({shapely.is_valid_reason(geom)}); fix it "
            "(QGIS 'Fix geometries', or shapely.make_valid) and re-run"
        )
    return None


def main_polygon(geom: shapely.Geometry) -> shapely.Geometry:
    """A polygon itself, or the largest part of a multipolygon (the building table's ``wkt``)."""
    if shapely.get_type_id(geom) == 6:
        return max(geom.geoms, key=lambda g: g.area)
    return geom


def parse_damage(values: pd.Series) -> tuple[np.ndarray, Counter]:
    """Damage codes (int8, -1 un-classified) of a damage column, and the values not understood.

    Understood: xBD's class names (any case, ``_`` or spaces for ``-``;
    ``unclassified`` too), the codes 0 to 3 and -1, and missing values (-1).
    """
    codes = np.full(len(values), -1, dtype=np.int8)
    unknown: Counter = Counter()
    for i, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        text = str(value).strip().lower().replace("_", "-").replace(" ", "-")
        if text in ("", "unclassified"):
            continue
        if text in DAMAGE_CODES:
            codes[i] = DAMAGE_CODES[text]
            continue
        try:
            number = float(text)
        except ValueError:
            number = np.nan
        if number in (-1, 0, 1, 2, 3):
            codes[i] = int(number)
        else:
            unknown[str(value)] += 1
    return codes, unknown


def _entropy_bits(proba: np.ndarray) -> np.ndarray:
    p = np.clip(proba, 1e-12, 1.0)
    return -(proba * np.log2(p)).sum(axis=1)


def footprints_with_predictions(
    footprints: gpd.GeoDataFrame, predictions: pd.DataFrame | None, uids: list[str] | None = None
) -> gpd.GeoDataFrame:
    """The footprint file's rows and columns with the predictions added.

    Args:
        footprints: The copy of the footprint file (``objects/footprints.parquet``).
        predictions: ``uid``, ``pred``, ``proba_0`` .. ``proba_3`` (a stored prediction),
            or None for the footprints alone.
        uids: Only the footprints of these buildings (default: every row of the file,
            also those the ingest left out: their ``stcrl_status`` says why).

    Returns:
        Every input column (columns of the names below are replaced, so a file
        written here can be ingested again), ``stcrl_uid``, ``stcrl_status`` and,
        with predictions, ``damage_class`` (the predicted class's name),
        ``p_no_damage`` .. ``p_destroyed`` and ``uncertainty`` (the entropy of
        the four probabilities in bits: 0 certain, 2 uniform); empty where the
        building was not ingested.
    """
    out = footprints.drop(columns=[c for c in ADDED_COLUMNS if c in footprints.columns])
    if uids is not None:
        wanted = set(uids)
        keep = out[FOOTPRINT_UID].isin(wanted) & (out[FOOTPRINT_STATUS] == INGESTED)
        out = out[keep.to_numpy()]
    if predictions is None:
        return out.copy()
    proba = predictions[[f"proba_{c}" for c in range(4)]].to_numpy(dtype=np.float64)
    added = pd.DataFrame({"damage_class": predictions["pred"].map(DAMAGE_NAMES).to_numpy()})
    for c, name in enumerate(CLASS_COLUMNS):
        added[name] = proba[:, c]
    added["uncertainty"] = _entropy_bits(proba)
    added.index = pd.Index(predictions["uid"].astype(str).to_numpy())
    ingested = (out[FOOTPRINT_STATUS] == INGESTED).to_numpy()
    joined = added.reindex(np.where(ingested, out[FOOTPRINT_UID].to_numpy(), None))
    for name in ADDED_COLUMNS:
        out[name] = joined[name].to_numpy()
    return out


def write_vector(frame: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write a GeoDataFrame to ``path`` atomically, the format from the suffix.

    GeoPackage, GeoParquet and FlatGeobuf keep the frame's CRS; GeoJSON is
    written in EPSG:4326 (RFC 7946).

    Raises:
        ValueError: For a suffix it does not write (Shapefiles would cut the column
            names to 10 characters: write .gpkg instead).
    """
    from stcrl_core.workspace.atomic import atomic_path

    path = Path(path)
    driver = WRITE_DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise ValueError(
            f"cannot write {path.name}: give --out FILE ending in "
            f"{', '.join(WRITE_DRIVERS)} (a Shapefile would cut column names)"
        )
    with atomic_path(path) as tmp:
        tmp.unlink()  # GDAL drivers refuse to overwrite the empty temporary file
        if driver == "parquet":
            frame.to_parquet(tmp, index=False)
        elif driver == "GeoJSON":
            frame.to_crs("EPSG:4326").to_file(tmp, driver=driver)
        else:
            frame.to_file(tmp, driver=driver, layer=path.stem if driver == "GPKG" else None)
    return path


def parquet_safe(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` with object columns Parquet cannot store as they are turned into text."""
    import pyarrow as pa

    out = frame.copy()
    for name in out.columns:
        if name == out.geometry.name or out[name].dtype != object:
            continue
        try:
            pa.array(out[name].to_numpy(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            out[name] = [None if v is None else str(v) for v in out[name].tolist()]
    return out
