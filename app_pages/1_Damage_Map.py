"""Damage map: every building coloured by predicted (or true) damage over the scene imagery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.common import current_workspace, stamp
from app_pages.map_panels import CLASS_LABELS, building_panel, legend
from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.eval.metrics import confusion_matrix, overall_f1
from stcrl_core.maps import damage, deck, imagery, location_layer
from stcrl_core.workspace.predictions import prediction_path
from stcrl_core.workspace.runs import run_files


@st.cache_data(show_spinner="Loading buildings…", max_entries=4)
def map_table(path: str, prediction: str | None, stamps: tuple) -> pd.DataFrame:
    return damage.load_map_table(path, prediction)


@st.cache_data(show_spinner=False, max_entries=8)
def deck_frame(
    path: str, prediction: str | None, color_by: str, polygons: bool, rows: tuple, stamps: tuple
):
    table = map_table(path, prediction, stamps)
    return damage.deck_records(table.iloc[list(rows)], color_by, polygons)


@st.cache_data(show_spinner="Placing the scene imagery…", max_entries=4)
def basemap(path: str, phase: str, scenes: tuple, stamps: float) -> list[dict]:
    return imagery.basemap_records(path, phase, list(scenes))


@st.cache_data(show_spinner="Drawing the location embedding…", max_entries=4)
def location_bitmaps(path: str, run: str, stamps: float) -> list[dict]:
    return location_layer.grid_bitmap_records(location_layer.load_location_grid(path, run))


@st.cache_data(show_spinner=False, max_entries=4)
def export_bytes(path: str, prediction: str | None, rows: tuple, fmt: str, stamps: tuple) -> bytes:
    table = map_table(path, prediction, stamps).iloc[list(rows)]
    return damage.export_buildings(table, fmt, damage.source_footprints(path))


ws = current_workspace()
path = str(ws.path)
st.title("Damage map")
predictions = damage.list_predictions(path)
top = st.columns([2, 2, 2, 2])
prediction = top[0].selectbox(
    "Model",
    predictions or ["(none)"],
    index=damage.default_prediction(predictions),
    help="Damage predictions made by `stcrl predict` (`best`: chosen on validation data).",
)
prediction = None if prediction == "(none)" else prediction
if prediction:
    st.caption(damage.describe_prediction(path, prediction))
color_by = top[1].radio("Colour by", damage.color_options(path, prediction), horizontal=True)
display = top[2].radio("Draw", ["auto", "points", "polygons", "hexagons"], horizontal=True)
phase = top[3].radio(
    "Imagery",
    ["post", "pre", "none", "web tiles"],
    horizontal=True,
    help="Scene imagery works offline; web tiles need internet access.",
)

key = (
    stamp(ws.objects.buildings),
    stamp(prediction_path(ws, prediction)) if prediction else 0.0,
)
table = map_table(path, prediction, key)
filters = st.columns(3)
events = filters[0].multiselect("Events", sorted(table["event"].unique()))
splits = filters[1].multiselect("Splits", ["train", "tier3", "test", "hold"])
class_column = "pred" if prediction else "damage"
classes = filters[2].multiselect(
    "Predicted class" if prediction else "True class",
    list(CLASS_LABELS),
    format_func=CLASS_LABELS.get,
)
mask = np.ones(len(table), dtype=bool)
if events:
    mask &= table["event"].isin(events).to_numpy()
if splits:
    mask &= table["split"].isin(splits).to_numpy()
if classes:
    mask &= table[class_column].isin(classes).to_numpy()
rows = tuple(np.flatnonzero(mask).tolist())
grid_runs = location_layer.runs_with_location_grid(path)
location_run = None
if grid_runs:
    loc_cols = st.columns([2, 2, 4])
    if loc_cols[0].toggle(
        "Location embedding",
        help="A CSP run's location embedding on a grid over each event area: its first three "
        "principal components as red, green and blue (`stcrl embed --grid`).",
    ):
        location_run = loc_cols[1].selectbox("CSP run", grid_runs, label_visibility="collapsed")
shown = table.iloc[list(rows)]
if shown.empty:
    st.info("No building matches these filters.")
    st.stop()

mode = display
if mode == "auto":
    mode = damage.auto_mode(len(shown))
frame = deck_frame(path, prediction, color_by, mode == "polygons", rows, key)
layers = []
if phase in ("pre", "post"):
    scenes = tuple(sorted(shown["scene"].unique()))
    layers += deck.bitmap_layers(basemap(path, phase, scenes, key[0]), "img")
if location_run:
    grid_stamp = stamp(run_files(ws, location_run).location_grid)
    layers += deck.bitmap_layers(location_bitmaps(path, location_run, grid_stamp), "loc", 0.65)
layers.append(deck.building_layer(frame, mode))
chart = deck.damage_deck(shown, layers, web_tiles=phase == "web tiles")
event = st.pydeck_chart(
    chart, on_select="rerun", selection_mode="single-object", key="damage_map", height=560
)
legend(color_by)
st.caption(
    f"{len(shown):,} buildings drawn as {mode}"
    + (
        f" over the {phase}-disaster imagery (no web basemap needed)"
        if phase in ("pre", "post")
        else (" over web tiles" if phase == "web tiles" else "")
    )
    + (
        f"; location embedding of CSP run {location_run} (first 3 principal components as RGB)"
        if location_run
        else ""
    )
)

selection = (event or {}).get("selection") or {}  # dict-like in the app and in AppTest
selected = (selection.get("objects") or {}).get("buildings") or []
if selected:
    building_panel(ws, table, selected[0]["uid"], prediction, "deck")

st.subheader("Per event")
st.dataframe(damage.event_summary(shown), width="stretch")
if prediction:
    held = shown[shown["split"].isin(["test", "hold"]) & (shown["damage"] >= 0)]
    if len(held):
        left, right = st.columns([1, 2])
        left.metric("Overall F1 (test + hold)", f"{overall_f1(held['damage'], held['pred']):.3f}")
        left.caption("Harmonic mean of the four class F1 scores, on buildings the probe never saw.")
        cm = confusion_matrix(held["damage"].to_numpy(), held["pred"].to_numpy())
        names = [DAMAGE_NAMES[c] for c in range(4)]
        right.dataframe(
            pd.DataFrame(
                cm, index=[f"true {n}" for n in names], columns=[f"pred {n}" for n in names]
            ),
            width="stretch",
        )

st.subheader("Export")
ex = st.columns(3)
name = prediction or "buildings"
for col, (fmt, mime) in zip(
    ex,
    [
        ("csv", "text/csv"),
        ("geojson", "application/geo+json"),
        ("gpkg", "application/geopackage+sqlite3"),
    ],
    strict=True,
):
    col.download_button(
        f"Download {fmt.upper()}",
        data=export_bytes(path, prediction, rows, fmt, key),
        file_name=f"{name}.{fmt}",
        mime=mime,
        width="stretch",
    )

st.subheader("Scene view")
scene_table = ws.scenes()
scene_names = damage.scenes_by_damage(shown, class_column)
if scene_table.empty:
    st.info("This workspace was ingested without scene previews; re-run `stcrl ingest-xbd`.")
    st.stop()
scene = st.selectbox("Scene", scene_names)
from streamlit_folium import st_folium  # noqa: E402  (heavy import, only when drawn)

from stcrl_core.maps.scene_view import scene_map  # noqa: E402

fmap = scene_map(path, scene, prediction, table, phase if phase in ("pre", "post") else "post")
result = st_folium(
    fmap, height=480, width=None, key=f"scene-{scene}", returned_objects=["last_active_drawing"]
)
clicked = (result or {}).get("last_active_drawing") or {}
props = clicked.get("properties") or {}
if props.get("uid"):
    building_panel(ws, table, props["uid"], prediction, "scene")
else:
    st.caption("Click a building to see its pre and post crops, labels and class probabilities.")
