"""Damage map: every building coloured by predicted (or true) damage over the scene imagery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydeck as pdk
import streamlit as st

from app_pages.common import current_workspace, stamp
from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.eval.metrics import confusion_matrix, overall_f1
from stcrl_core.maps import damage, imagery, location_layer

CLASS_LABELS = {code: DAMAGE_NAMES[code] for code in (0, 1, 2, 3, -1)}


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
    return damage.export_buildings(map_table(path, prediction, stamps).iloc[list(rows)], fmt)


def legend(color_by: str) -> None:
    items = (
        [("correct", damage.CORRECT_COLORS[True]), ("wrong", damage.CORRECT_COLORS[False])]
        if color_by == "correct"
        else [(CLASS_LABELS[c], damage.CLASS_COLORS[c]) for c in (0, 1, 2, 3, -1)]
    )
    spans = " ".join(
        f"<span style='display:inline-block;width:12px;height:12px;background:rgb{rgb};"
        f"border-radius:2px;margin:0 4px 0 10px'></span>{name}"
        for name, rgb in items
    )
    st.markdown(f"<div style='font-size:0.9rem'>{spans}</div>", unsafe_allow_html=True)


def building_panel(ws, table: pd.DataFrame, uid: str, prediction: str | None) -> None:
    """Pre and post crops, labels and class probabilities of one building."""
    match = table[table["uid"] == uid]
    if match.empty:
        return
    building = match.iloc[0]
    with st.container(border=True, key=f"building-{uid}"):
        st.markdown(f"**Building {uid}**")
        cols = st.columns([1, 1, 2])
        row = int(building["row"])
        cols[0].image(np.asarray(ws.crops("pre")[row]), caption="pre-disaster", width="stretch")
        cols[1].image(np.asarray(ws.crops("post")[row]), caption="post-disaster", width="stretch")
        cols[2].write(f"**Event** {building['event']} · **split** {building['split']}")
        cols[2].write(f"**True class** {DAMAGE_NAMES[int(building['damage'])]}")
        if prediction:
            conf = float(building["confidence"])
            cols[2].write(f"**Predicted** {DAMAGE_NAMES[int(building['pred'])]} ({conf:.0%})")
            proba = pd.DataFrame(
                {"probability": [float(building[f"proba_{c}"]) for c in range(4)]},
                index=[DAMAGE_NAMES[c] for c in range(4)],
            )
            cols[2].bar_chart(proba, horizontal=True, height=160)


ws = current_workspace()
path = str(ws.path)
st.title("Damage map")
predictions = damage.list_predictions(path)
top = st.columns([2, 2, 2, 2])
prediction = top[0].selectbox(
    "Model", predictions or ["(none)"], help="Damage predictions made by `stcrl predict`."
)
prediction = None if prediction == "(none)" else prediction
color_options = list(damage.COLOR_BY) if prediction else ["true"]
color_by = top[1].radio("Colour by", color_options, horizontal=True)
display = top[2].radio("Draw", ["auto", "points", "polygons", "hexagons"], horizontal=True)
phase = top[3].radio(
    "Imagery",
    ["post", "pre", "none", "web tiles"],
    horizontal=True,
    help="Scene imagery works offline; web tiles need internet access.",
)

key = (
    stamp(ws.objects_dir / "buildings.parquet"),
    stamp(ws.path / "predictions" / f"{prediction}.parquet"),
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
    for record in basemap(path, phase, scenes, key[0]):
        layers.append(
            pdk.Layer(
                "BitmapLayer",
                id=f"img-{record['scene']}",
                image=f"'{record['image']}'",  # quoted: a literal, not an accessor
                bounds=record["bounds"],
            )
        )
if location_run:
    grid_stamp = stamp(ws.runs_dir / location_run / location_layer.GRID_FILE)
    for record in location_bitmaps(path, location_run, grid_stamp):
        layers.append(
            pdk.Layer(
                "BitmapLayer",
                id=f"loc-{record['event']}",
                image=f"'{record['image']}'",  # quoted: a literal, not an accessor
                bounds=record["bounds"],
                opacity=0.65,
            )
        )
if mode == "hexagons":
    layers.append(
        pdk.Layer(
            "HexagonLayer",
            id="hexagons",
            data=frame[["lon", "lat"]],
            get_position=["lon", "lat"],
            radius=60,
            elevation_scale=2,
            extruded=False,
            pickable=False,
            opacity=0.6,
        )
    )
elif mode == "polygons":
    layers.append(
        pdk.Layer(
            "PolygonLayer",
            id="buildings",
            data=frame,
            get_polygon="polygon",
            get_fill_color="color",
            get_line_color=[255, 255, 255, 120],
            line_width_min_pixels=0.5,
            pickable=True,
            auto_highlight=True,
        )
    )
else:
    layers.append(
        pdk.Layer(
            "ScatterplotLayer",
            id="buildings",
            data=frame,
            get_position=["lon", "lat"],
            get_fill_color="color",
            radius_min_pixels=2,
            radius_max_pixels=8,
            get_radius=6,
            pickable=True,
            auto_highlight=True,
        )
    )
# events lie on several continents: open on the event with the most buildings shown
focus = shown[shown["event"] == shown["event"].value_counts().index[0]]
view = pdk.data_utils.compute_view(focus[["lon", "lat"]].to_numpy().tolist())
view.zoom = min(max(view.zoom, 13), 18)
tooltip = {
    "html": "<b>{uid}</b><br/>{event}<br/>true: {true}<br/>predicted: {pred} ({confidence}%)",
    "style": {"fontSize": "12px"},
}
deck = pdk.Deck(
    layers=layers,
    initial_view_state=view,
    map_provider="carto" if phase == "web tiles" else None,
    # offline by default: no web basemap, the scene imagery is the base
    map_style=None if phase == "web tiles" else imagery.blank_map_style(),
    tooltip=tooltip,
)
event = st.pydeck_chart(
    deck, on_select="rerun", selection_mode="single-object", key="damage_map", height=560
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
    building_panel(ws, table, selected[0]["uid"], prediction)

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
scene_table = imagery.load_scenes(path)
scene_names = sorted(shown["scene"].unique())
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
    building_panel(ws, table, props["uid"], prediction)
else:
    st.caption("Click a building to see its pre and post crops, labels and class probabilities.")
