"""Scene imagery as an offline basemap: previews placed by their georeference."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
from PIL import Image

from stcrl_core.workspace import Workspace

BASEMAP_SIDE = 256  # side of the images embedded in the deck (kept small: sent every rerun)


def blank_map_style(background: str = "#e8e6e1") -> str:
    """A MapLibre style with no sources, as a ``data:`` URL.

    Streamlit fills in a CARTO basemap (fetched from the web) when a deck has
    no map style; this style draws only a plain background, so the map needs
    no network and the scene imagery is the basemap.
    """
    import json

    style = {
        "version": 8,
        "sources": {},
        "layers": [
            {"id": "background", "type": "background", "paint": {"background-color": background}}
        ],
    }
    return "data:application/json;base64," + base64.b64encode(json.dumps(style).encode()).decode(
        "ascii"
    )


def load_scenes(workspace: Workspace | str | Path) -> pd.DataFrame:
    """``objects/scenes.parquet`` (empty frame for workspaces ingested before it existed)."""
    return Workspace.of(workspace).scenes()


def image_data_url(path: Path, side: int | None = None) -> str:
    """A JPEG ``data:`` URL of an image file, optionally shrunk to ``side`` px."""
    import io

    with Image.open(path) as img:
        img = img.convert("RGB")
        if side is not None:
            img.thumbnail((side, side), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def basemap_records(
    workspace: Workspace | str | Path, phase: str, scenes: list[str] | None = None
) -> list[dict]:
    """One record per georeferenced scene: image data URL and its four corners.

    ``bounds`` follow deck.gl's BitmapLayer order: bottom-left, top-left,
    top-right, bottom-right, as ``[lon, lat]``.
    """
    if phase not in ("pre", "post"):
        raise ValueError(f"phase must be 'pre' or 'post', got {phase!r}")
    ws = Workspace.of(workspace)
    table = ws.scenes()
    if table.empty:
        return []
    if scenes is not None:
        table = table[table["scene"].isin(scenes)]
    table = table.dropna(subset=["geo_a"])
    records = []
    for row in table.itertuples():
        records.append(
            {
                "scene": row.scene,
                "image": image_data_url(
                    ws.objects.stored(getattr(row, f"preview_{phase}")), BASEMAP_SIDE
                ),
                "bounds": [
                    [row.lon_bl, row.lat_bl],
                    [row.lon_tl, row.lat_tl],
                    [row.lon_tr, row.lat_tr],
                    [row.lon_br, row.lat_br],
                ],
            }
        )
    return records
