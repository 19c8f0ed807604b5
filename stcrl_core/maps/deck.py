"""The damage map's pydeck deck: basemap imagery, the location layer and the buildings."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pydeck as pdk

from stcrl_core.maps.imagery import blank_map_style

TOOLTIP = {
    "html": "<b>{uid}</b><br/>{event}<br/>true: {true}<br/>predicted: {pred} ({confidence}%)",
    "style": {"fontSize": "12px"},
}


def bitmap_layers(records: list[dict[str, Any]], prefix: str, opacity: float = 1.0) -> list:
    """One BitmapLayer per image record (``image`` data URL, ``bounds``), ids ``prefix-<name>``."""
    return [
        pdk.Layer(
            "BitmapLayer",
            id=f"{prefix}-{r.get('scene', r.get('event'))}",
            image=f"'{r['image']}'",  # quoted: a literal, not an accessor
            bounds=r["bounds"],
            opacity=opacity,
        )
        for r in records
    ]


def building_layer(frame: pd.DataFrame, mode: str) -> pdk.Layer:
    """The buildings as hexagons, polygons or points (``mode``), from :func:`deck_records`."""
    if mode == "hexagons":
        return pdk.Layer(
            "HexagonLayer", id="hexagons", data=frame[["lon", "lat"]],
            get_position=["lon", "lat"], radius=60, elevation_scale=2, extruded=False,
            pickable=False, opacity=0.6,
        )  # fmt: skip
    if mode == "polygons":
        return pdk.Layer(
            "PolygonLayer", id="buildings", data=frame, get_polygon="polygon",
            get_fill_color="color", get_line_color=[255, 255, 255, 120],
            line_width_min_pixels=0.5, pickable=True, auto_highlight=True,
        )  # fmt: skip
    return pdk.Layer(
        "ScatterplotLayer", id="buildings", data=frame, get_position=["lon", "lat"],
        get_fill_color="color", radius_min_pixels=2, radius_max_pixels=8, get_radius=6,
        pickable=True, auto_highlight=True,
    )  # fmt: skip


def damage_deck(shown: pd.DataFrame, layers: list, web_tiles: bool) -> pdk.Deck:
    """The deck, opened on the event with the most buildings shown.

    Args:
        shown: The buildings shown (``event``, ``lon``, ``lat``).
        layers: Its layers, bottom first.
        web_tiles: Draw a web basemap (needs internet); else the scene imagery is the base.
    """
    # events lie on several continents: open on the event with the most buildings shown
    focus = shown[shown["event"] == shown["event"].value_counts().index[0]]
    view = pdk.data_utils.compute_view(focus[["lon", "lat"]].to_numpy().tolist())
    view.zoom = min(max(view.zoom, 13), 18)
    return pdk.Deck(
        layers=layers,
        initial_view_state=view,
        map_provider="carto" if web_tiles else None,
        # offline by default: no web basemap, the scene imagery is the base
        map_style=None if web_tiles else blank_map_style(),
        tooltip=TOOLTIP,
    )
