"""Labels in and out of a workspace: CSV, GeoJSON and GeoPackage files.

Import (:func:`import_labels`) reads a ``uid`` column (the building uids of
``buildings.parquet``) and a ``damage`` column (an xBD class name, ``0`` to
``3``, ``unsure`` or ``skip``); other columns and any geometry are ignored. A
bad row (unknown uid, a value that is not a class) is skipped and reported
with its line, the rest is imported, as events with source ``import`` in one
locked append, so two imports at once both keep every label. Export
(:func:`export_labels`) writes the current label of every labelled building,
with its time, source, strategy and the building's event, position and
footprint, written atomically; an exported CSV imports again as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stcrl_core.errors import StcrlError
from stcrl_core.labels.store import CLASS_LABELS, LABELS, current_labels, record_labels
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_path

FORMATS = {".csv": "csv", ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg"}
REQUIRED = ("uid", "damage")


class LabelFileError(StcrlError):
    """A label file cannot be read or written."""


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LabelFileError(
            f"{path}: unsupported format {path.suffix or '(no suffix)'!r}; use a .csv, "
            ".geojson or .gpkg file"
        )
    return fmt


def read_label_file(path: str | Path) -> pd.DataFrame:
    """The rows of a label file as strings (``uid``, ``damage`` and whatever else it has).

    Raises:
        LabelFileError: If the file is missing, unreadable or lacks a required column.
    """
    path = Path(path)
    fmt = _format(path)
    if not path.exists():
        raise LabelFileError(f"{path} does not exist; give the path of a label file")
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            import geopandas as gpd

            frame = pd.DataFrame(gpd.read_file(path)).drop(columns="geometry", errors="ignore")
            frame = frame.astype(str)
    except Exception as exc:  # pandas, pyogrio: many kinds of unreadable
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LabelFileError(f"{path} cannot be read as {fmt} ({first}); check the file") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise LabelFileError(
            f"{path} has no column {', '.join(map(repr, missing))} (it has "
            f"{', '.join(map(repr, frame.columns)) or 'none'}); give columns uid (building "
            "uids) and damage (no-damage, minor-damage, major-damage, destroyed or 0-3; "
            "unsure, skip)"
        )
    return frame


def parse_label(value: Any) -> str | None:
    """A label name from a file's ``damage`` value (a class name, 0-3, unsure, skip), or None."""
    text = str(value).strip().lower()
    if text in LABELS:
        return text
    try:
        number = float(text)
    except ValueError:
        return None
    return CLASS_LABELS[int(number)] if number in (0, 1, 2, 3) else None


def import_labels(
    workspace: Workspace | str | Path, path: str | Path, session: str | None = None,
    user: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Import the labels of a file into the workspace's label store.

    Returns:
        ``{"file", "rows", "imported", "bad" (each {"line", "uid", "damage",
        "reason"}), "labels" (count per label)}``.

    Raises:
        LabelFileError: If the file cannot be read or lacks a required column.
    """
    ws = Workspace.of(workspace)
    path = Path(path)
    frame = read_label_file(path)
    known = set(ws.buildings()["uid"].astype(str))
    good_uids, good_labels, bad = [], [], []
    header_lines = 2 if _format(path) == "csv" else 1  # data line 1 is file line 2 in a CSV
    for i, (uid, value) in enumerate(zip(frame["uid"], frame["damage"], strict=True)):
        uid = str(uid).strip()
        label = parse_label(value)
        reason = None
        if uid not in known:
            reason = "unknown uid (not a building of this workspace)"
        elif label is None:
            reason = "damage is not a class: use no-damage, minor-damage, major-damage, "
            reason += "destroyed, 0-3, unsure or skip"
        if reason:
            bad.append({"line": i + header_lines, "uid": uid, "damage": str(value),
                        "reason": reason})  # fmt: skip
        else:
            good_uids.append(uid)
            good_labels.append(label)
    record_labels(ws, good_uids, good_labels, "import", session=session, user=user,
                  file=str(path))  # fmt: skip
    counts = pd.Series(good_labels, dtype=object).value_counts()
    return {
        "file": str(path), "rows": len(frame), "imported": len(good_uids), "bad": bad,
        "labels": {name: int(counts.get(name, 0)) for name in LABELS},
    }  # fmt: skip


def labels_table(workspace: Workspace | str | Path) -> pd.DataFrame:
    """The current labels joined with their buildings (for export and display)."""
    ws = Workspace.of(workspace)
    labels = current_labels(ws)
    cols = ["uid", "event", "scene", "split", "lon", "lat", "wkt"]
    table = labels.merge(ws.buildings()[cols], on="uid", how="left")
    table = table.rename(columns={"label": "damage", "damage": "damage_code"})
    order = ["uid", "damage", "damage_code", "time", "source", "strategy", "session", "user",
             "event", "scene", "split", "lon", "lat", "wkt"]  # fmt: skip
    return table[order]


def export_labels(workspace: Workspace | str | Path, out: str | Path) -> dict[str, Any]:
    """Write the current labels to ``out`` (``.csv``, ``.geojson`` or ``.gpkg``), atomically.

    Returns:
        ``{"file", "labels"}``: the path written and how many labels it holds.

    Raises:
        LabelFileError: For an unsupported suffix.
    """
    out = Path(out)
    fmt = _format(out)
    table = labels_table(workspace)
    if fmt == "csv":
        with atomic_path(out) as tmp:
            table.drop(columns="wkt").to_csv(tmp, index=False)
        return {"file": str(out), "labels": len(table)}
    import geopandas as gpd
    import shapely

    wkt = table["wkt"].to_numpy(dtype=object)
    geometry = shapely.from_wkt(np.where(pd.isna(wkt), None, wkt))
    frame = gpd.GeoDataFrame(table.drop(columns="wkt"), geometry=geometry, crs="EPSG:4326")
    with atomic_path(out, suffix=out.suffix) as tmp:
        if fmt == "geojson":
            tmp.write_text(frame.to_json(), encoding="utf-8")
        else:
            frame.to_file(tmp, driver="GPKG", layer="labels")
    return {"file": str(out), "labels": len(table)}
