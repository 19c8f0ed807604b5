"""Building data for the damage map, prepared once and sent lean.

Streamlit re-sends a whole pydeck deck as JSON on every rerun, so the map gets
only the columns it draws: position, colour and the few tooltip fields;
polygons only when few enough buildings are shown, and hexagon aggregates when
there are very many.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.predictions import (
    list_predictions as stored_predictions,
)
from stcrl_core.workspace.predictions import (
    prediction_path,
    read_prediction,
    read_prediction_meta,
)

# xView2-style palette: no-damage green, minor yellow, major orange, destroyed red.
CLASS_COLORS: dict[int, tuple[int, int, int]] = {
    0: (46, 160, 67),
    1: (250, 204, 21),
    2: (249, 115, 22),
    3: (220, 38, 38),
    -1: (148, 163, 184),
}
CORRECT_COLORS = {True: (37, 99, 235), False: (219, 39, 119)}
UNCERTAINTY_COLORS = ((37, 99, 235), (219, 39, 119))  # certain blue .. uncertain magenta
COLOR_BY = ("predicted", "true", "correct", "uncertainty")
POLYGON_LIMIT = 20_000  # above this many shown buildings, draw points
POINT_LIMIT = 50_000  # above this many, aggregate into hexagons (JSON stays small)


def auto_mode(n: int) -> str:
    """How to draw ``n`` buildings: polygons, points, or hexagon aggregates."""
    if n <= POLYGON_LIMIT:
        return "polygons"
    return "points" if n <= POINT_LIMIT else "hexagons"


def list_predictions(workspace: Workspace | str | Path) -> list[str]:
    """Names of the stored damage predictions of a workspace."""
    return stored_predictions(Workspace.of(workspace))


def default_prediction(names: list[str]) -> int:
    """Index of the prediction the map opens on: ``best`` (the validated choice) if any."""
    return names.index("best") if "best" in names else 0


def color_options(workspace: Workspace | str | Path, prediction: str | None) -> list[str]:
    """What the map can colour by: the true class only without a prediction;
    ``uncertainty`` only for a prediction that has it (the Label page's live model)."""
    if not prediction:
        return ["true"]
    import pyarrow.parquet as pq

    columns = pq.ParquetFile(prediction_path(Workspace.of(workspace), prediction)).schema.names
    return [c for c in COLOR_BY if c != "uncertainty" or "uncertainty" in columns]


def _score(f1: float | None) -> str:
    return "n/a (no labelled test/hold buildings)" if f1 is None else f"{f1:.3f}"


def describe_prediction(workspace: Workspace | str | Path, name: str) -> str:
    """One sentence on which model made a prediction and how well it scores."""
    meta = read_prediction_meta(Workspace.of(workspace), name)
    if meta.get("model") == "labelling":
        return (
            f"**{name}**: the Label page's live model, a class-weighted logistic-regression "
            f"probe on run `{meta.get('run')}`'s {meta.get('features')} features trained on "
            f"{meta.get('trained_on')} analyst labels (WS/labels/), refitted after each label."
        )
    probe = {"lr": "logistic-regression", "mlp": "MLP"}.get(meta.get("probe"), meta.get("probe"))
    text = (
        f"**{name}**: {probe} probe on run `{meta.get('run')}`'s {meta.get('features')} "
        f"features, trained on {meta.get('trained_on')} class-balanced labels of train + "
        f"tier3; overall F1 on test + hold {_score(meta.get('eval_overall_f1'))}"
    )
    selection = meta.get("selection")
    if selection:
        text += (
            f". Chosen as the best of {len(selection['candidates'])} models by overall F1 "
            f"on a held-out {selection['validation_share']:.0%} of train + tier3 "
            f"({selection['validation_f1']:.3f}); test and hold played no part in the choice"
        )
    return text + "."


def load_map_table(workspace: Workspace | str | Path, prediction: str | None) -> pd.DataFrame:
    """Buildings joined with a prediction (if any): the map's one source table.

    Columns: ``uid, event, split, scene, damage, lon, lat, wkt, row`` and, with
    a prediction, ``pred, confidence, proba_0 .. proba_3``.
    """
    ws = Workspace.of(workspace)
    cols = ["uid", "event", "disaster_type", "split", "scene", "damage", "lon", "lat", "wkt", "row"]
    table = ws.buildings()[cols]
    if prediction:
        pred = read_prediction(ws, prediction).drop(columns=["uid"])
        table = table.merge(pred, on="row", how="left")
    return table


def prediction_meta(workspace: Workspace | str | Path, prediction: str) -> dict:
    """The metadata (``<name>.json``) of a stored prediction."""
    return read_prediction_meta(Workspace.of(workspace), prediction)


def colour_column(table: pd.DataFrame, color_by: str) -> np.ndarray:
    """``(N, 4)`` uint8 RGBA colours of the buildings."""
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {COLOR_BY}, got {color_by!r}")
    if color_by == "correct":
        if "pred" not in table:
            raise ValueError("colouring by correctness needs a prediction")
        correct = table["pred"].to_numpy() == table["damage"].to_numpy()
        rgb = np.where(correct[:, None], CORRECT_COLORS[True], CORRECT_COLORS[False])
        rgb[table["damage"].to_numpy() < 0] = CLASS_COLORS[-1]
    elif color_by == "uncertainty":
        if "uncertainty" not in table:
            raise ValueError("colouring by uncertainty needs a prediction with an uncertainty")
        u = table["uncertainty"].to_numpy(dtype=np.float64)
        low, high = (np.asarray(c, dtype=np.float64) for c in UNCERTAINTY_COLORS)
        rgb = np.rint(low + np.clip(np.nan_to_num(u), 0, 1)[:, None] * (high - low))
        rgb = rgb.astype(np.int64)
        rgb[np.isnan(u)] = CLASS_COLORS[-1]
    else:
        codes = table["pred" if color_by == "predicted" else "damage"].to_numpy()
        lut = np.zeros((5, 3), dtype=np.int64)
        for code, rgb_ in CLASS_COLORS.items():
            lut[code + 1] = rgb_
        rgb = lut[codes.astype(np.int64) + 1]
    alpha = np.full((len(table), 1), 210)
    return np.hstack([rgb, alpha]).astype(np.uint8)


def deck_records(table: pd.DataFrame, color_by: str, polygons: bool) -> pd.DataFrame:
    """The lean frame the pydeck layer draws (and its tooltip shows)."""
    out = pd.DataFrame(
        {
            "uid": table["uid"].to_numpy(),
            "event": table["event"].to_numpy(),
            "true": table["damage"].map(DAMAGE_NAMES).to_numpy(),
            "lon": table["lon"].to_numpy().round(7),
            "lat": table["lat"].to_numpy().round(7),
        }
    )
    if "pred" in table:
        out["pred"] = table["pred"].map(DAMAGE_NAMES).to_numpy()
        out["confidence"] = (table["confidence"].to_numpy() * 100).round(0).astype(int)
    else:
        out["pred"] = "-"
        out["confidence"] = 0
    out["color"] = colour_column(table, color_by).tolist()  # plain lists serialise as JSON arrays
    if polygons:
        out["polygon"] = polygon_rings(table["wkt"].to_numpy())
    return out


def polygon_rings(wkt: np.ndarray) -> list[list[list[float]]]:
    """Exterior rings ``[[lon, lat], ...]`` of WKT polygons (vectorised parse)."""
    geoms = shapely.from_wkt(wkt)
    rings = shapely.get_exterior_ring(geoms)
    coords, index = shapely.get_coordinates(rings, return_index=True)
    splits = np.flatnonzero(np.diff(index)) + 1
    return [c.round(7).tolist() for c in np.split(coords, splits)]


def event_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per event: buildings, true and predicted counts per class, F1 on test+hold."""
    from stcrl_core.eval.metrics import overall_f1

    rows = []
    for event, part in table.groupby("event", sort=True):
        row: dict = {"event": event, "buildings": len(part)}
        for code in range(4):
            name = DAMAGE_NAMES[code]
            row[f"true {name}"] = int((part["damage"] == code).sum())
            if "pred" in part:
                row[f"predicted {name}"] = int((part["pred"] == code).sum())
        if "pred" in part:
            held = part[part["split"].isin(["test", "hold"]) & (part["damage"] >= 0)]
            row["F1 (test+hold)"] = (
                round(overall_f1(held["damage"].to_numpy(), held["pred"].to_numpy()), 3)
                if len(held)
                else None
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("event")


def to_geodataframe(table: pd.DataFrame):
    """Buildings (with predictions) as a GeoDataFrame in EPSG:4326, for export."""
    import geopandas as gpd

    cols = [c for c in table.columns if c not in ("wkt",)]
    frame = table[cols].copy()
    frame["true_class"] = frame["damage"].map(DAMAGE_NAMES)
    if "pred" in frame:
        frame["predicted_class"] = frame["pred"].map(DAMAGE_NAMES)
    return gpd.GeoDataFrame(
        frame, geometry=shapely.from_wkt(table["wkt"].to_numpy()), crs="EPSG:4326"
    )


EXPORT_FORMATS = ("csv", "geojson", "gpkg")


def source_footprints(workspace: Workspace | str | Path):
    """The copy of the footprint file of a GeoTIFF ingest (a GeoDataFrame), else None."""
    from stcrl_core.workspace.objects import read_source_footprints

    return read_source_footprints(Workspace.of(workspace).objects.footprints)


def export_frame(table: pd.DataFrame, footprints=None):
    """What an export holds: with the footprints of a GeoTIFF ingest, the footprint file's
    own rows and columns (of the buildings in ``table``) plus the predicted class, the class
    probabilities and their entropy
    (:func:`~stcrl_core.data.footprints.footprints_with_predictions`); else (xBD) the
    buildings with their predictions in EPSG:4326 (:func:`to_geodataframe`)."""
    if footprints is None:
        return to_geodataframe(table)
    from stcrl_core.data.footprints import footprints_with_predictions

    predictions = table if "pred" in table else None
    return footprints_with_predictions(footprints, predictions, uids=table["uid"].tolist())


def export_buildings(table: pd.DataFrame, fmt: str, footprints=None) -> bytes:
    """Buildings with their predictions as CSV, GeoJSON or GeoPackage bytes.

    Args:
        table: Rows of :func:`load_map_table`.
        fmt: ``csv``, ``geojson`` or ``gpkg``.
        footprints: :func:`source_footprints` of the workspace (GeoTIFF ingests: the
            export keeps the footprint file's schema), or None.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if fmt == "csv":
        if footprints is None:
            return table.drop(columns=["wkt"]).to_csv(index=False).encode()
        frame = export_frame(table, footprints)
        return pd.DataFrame(frame.drop(columns=frame.geometry.name)).to_csv(index=False).encode()
    gdf = export_frame(table, footprints)
    if fmt == "geojson":
        return gdf.to_crs("EPSG:4326").to_json().encode()
    import tempfile

    from stcrl_core.data.footprints import write_vector

    with tempfile.TemporaryDirectory() as tmp:
        return write_vector(gdf, Path(tmp) / "buildings.gpkg").read_bytes()


def write_export(workspace: Workspace | str | Path, prediction: str, path: str | Path) -> Path:
    """Write every building with a stored prediction to ``path`` (``.gpkg``, ``.geojson``,
    ``.parquet``, ``.fgb`` or ``.csv``): for a GeoTIFF ingest every row and column of the
    footprint file (in its CRS; GeoJSON in EPSG:4326) plus ``damage_class``,
    ``p_no_damage`` .. ``p_destroyed``, ``uncertainty`` and ``stcrl_status``."""
    from stcrl_core.data.footprints import write_vector
    from stcrl_core.workspace.atomic import atomic_write_bytes

    ws = Workspace.of(workspace)
    table = load_map_table(ws, prediction)
    footprints = source_footprints(ws)
    path = Path(path)
    if path.suffix.lower() == ".csv":
        atomic_write_bytes(path, export_buildings(table, "csv", footprints))
        return path
    if footprints is None:
        return write_vector(to_geodataframe(table), path)
    from stcrl_core.data.footprints import footprints_with_predictions

    # every footprint of the file, those the ingest left out too (stcrl_status says why)
    return write_vector(footprints_with_predictions(footprints, table), path)


def scenes_by_damage(table: pd.DataFrame, class_column: str = "damage") -> list[str]:
    """Scene names, those with the most damaged buildings first (then the most buildings).

    The scene view opens on the first: where there is most to see. ``class_column``
    is ``damage`` (the labels) or ``pred`` (a model's predictions).
    """
    damaged = table[class_column].to_numpy() > 0
    counts = pd.DataFrame({"scene": table["scene"], "damaged": damaged}).groupby("scene")
    order = (
        counts["damaged"]
        .agg(["sum", "size"])
        .sort_values(["sum", "size"], ascending=False, kind="stable")
    )
    return order.index.tolist()
