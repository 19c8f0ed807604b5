"""Embedding explorer: 2-D projections of a run's embeddings, clusters and selections.

Building embeddings (ST-CRL, untrained, supervised, a CSP run's image and location
embeddings) are shown one point per building; a triplet run's location embeddings
one point per segmentation patch, coloured by location or by the expert it is
routed to.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.common import current_workspace, stamp
from app_pages.explorer_panels import (
    building_details,
    hover_crops,
    patch_details,
    projection_settings,
)
from app_pages.hover_crops import hover_panel
from app_pages.jobs_panel import show_job_progress
from stcrl_core.errors import StcrlError
from stcrl_core.explore.clustering import cluster_summary, kmeans_clusters
from stcrl_core.explore.projection import (
    METHODS,
    point_count,
    projection_views,
    stored_projection_key,
    view_features,
)
from stcrl_core.explore.scatter import (
    BASE_COLOURS,
    PATCH_COLOURS,
    explorer_table,
    hover_columns,
    patch_explorer_table,
    scatter_figure,
    selected_rows,
)
from stcrl_core.jobs import read_job, start_job
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import PATCH_VIEWS, embedded_runs
from stcrl_core.workspace.experts import assignments_of, experts_stamp
from stcrl_core.workspace.patches import load_patches, patch_table_path
from stcrl_core.workspace.predictions import list_predictions, prediction_path, read_prediction
from stcrl_core.workspace.projections import projection_path, read_projection
from stcrl_core.workspace.runs import run_files

HOVER_LIMIT = 20_000  # above this many points the hover shows the row only (lean JSON)
CLUSTER = "k-means cluster"


@st.cache_data(show_spinner="Reading buildings…", max_entries=8)
def load_table(path: str, prediction: str | None, stamps: tuple) -> pd.DataFrame:
    """The explorer's building table (``stamps``: file times, so updates are picked up)."""
    ws = Workspace.open(path)
    predictions = read_prediction(ws, prediction) if prediction else None
    return explorer_table(ws.buildings(), predictions)


@st.cache_data(show_spinner="Reading patches…", max_entries=8)
def load_patch_table(path: str, run: str, stamps: tuple) -> pd.DataFrame:
    """The patch table with the routing of every experts run trained on ``run``."""
    ws = Workspace.open(path)
    return patch_explorer_table(load_patches(ws)[0], assignments_of(ws, run))


@st.cache_data(show_spinner=False, max_entries=16)
def load_projection(path: str, key: str, rows: int, mtime: float) -> tuple | None:
    return read_projection(Workspace.open(path), key, rows)


@st.cache_data(show_spinner="Clustering the embeddings…", max_entries=32)
def load_clusters(path: str, run: str, view: str, k: int, mtime: float) -> tuple[np.ndarray, float]:
    clusters = kmeans_clusters(view_features(path, run, view), k)
    return clusters.labels, clusters.silhouette


ws = current_workspace(need_objects=False)  # a workspace may hold only patches
path = str(ws.path)
st.title("Embedding explorer")
runs = embedded_runs(ws)
if not runs:
    st.info(
        "No run has embeddings yet: train one and run "
        f"`stcrl embed --workspace {path} --run RUN` (or start both from the home page)."
    )
    st.stop()

cols = st.columns(4)
run = cols[0].selectbox(
    "Embedding (run)", runs, index=runs.index("stcrl") if "stcrl" in runs else 0, key="explorer_run"
)
views = projection_views(path, run)
if not views:
    st.info(f"Run {run} has no embeddings yet: `stcrl embed --workspace {path} --run {run}`.")
    st.stop()
view = cols[1].selectbox(
    "View",
    views,
    index=views.index("post") if "post" in views else 0,
    key="explorer_view",
    help="pre/post: image features of the crops; post-pre: their difference; loc: a CSP "
    "run's location embedding of each building; patch: a triplet run's location embedding "
    "of each segmentation patch; patchloc: a CSP run's location embedding of each patch's "
    "lon/lat.",
)
method = cols[2].selectbox(
    "Projection", METHODS, format_func=str.upper, key="explorer_method", help="UMAP by default"
)
patches = view in PATCH_VIEWS
try:
    if patches:
        table = load_patch_table(path, run, (stamp(patch_table_path(ws)), experts_stamp(ws)))
        colour_columns = {**PATCH_COLOURS, **{c: c for c in table if c.startswith("expert (")}}
    else:
        colour_columns = dict(BASE_COLOURS)
        for name in list_predictions(ws):
            colour_columns[f"damage (predicted: {name})"] = "predicted_class"
except (StcrlError, ValueError) as exc:
    st.error(str(exc))
    st.stop()
colour_by = cols[3].selectbox("Colour by", [*colour_columns, CLUSTER], key="explorer_colour")
params = projection_settings(method)
k = st.slider("k-means clusters (k)", 2, 12, 5, key="explorer_k",
              help="Clusters are found in the embedding space, not the 2-D picture.")  # fmt: skip

if not patches:
    prediction = (
        colour_by.split(": ", 1)[1][:-1] if colour_by.startswith("damage (predicted") else None
    )
    stamps = (
        stamp(ws.objects.buildings),
        stamp(prediction_path(ws, prediction)) if prediction else 0.0,
    )
    try:
        table = load_table(path, prediction, stamps)
    except (StcrlError, ValueError) as exc:
        st.error(str(exc))
        st.stop()
key = stored_projection_key(run, view, method, **params)
npy = projection_path(ws, key)
job_args = {"run": run, "view": view, "method": method, **params}


@st.fragment(run_every=1.0)
def projection_progress() -> None:
    """Poll the projection job; rerun the page once it is done."""
    job_id = st.session_state.get("explorer_job")
    if not job_id:
        return
    job = read_job(path, job_id)
    if show_job_progress(job, "Computing the projection") or job["status"] == "failed":
        return
    if job["status"] == "cancelled":
        st.warning("The projection job was cancelled.")
    elif npy.exists():
        st.session_state.pop("explorer_job")
        st.rerun()


if not npy.exists():
    try:  # a job with the same settings that is already running is joined, not repeated
        st.session_state["explorer_job"] = start_job(path, "project", job_args)
    except StcrlError as exc:
        st.error(str(exc))
        st.stop()
    st.info(
        f"First {method.upper()} of {run} ({view}) with these settings: computing it in the "
        "background. It is stored, so it opens at once next time."
    )
    projection_progress()
    st.stop()

found = load_projection(path, key, point_count(ws, view), stamp(npy))
if found is None:  # stored for another row count: re-ingested since
    what = "patches" if patches else "buildings"
    st.error(
        f"{npy} does not match the workspace's {len(table)} {what} (re-ingested?); delete it "
        f"or run `stcrl project --workspace {path} --run {run}`."
    )
    st.stop()
coords, meta = found


def clusters_or_stop() -> tuple[np.ndarray, float]:
    """k-means labels and silhouette of the chosen embedding (cached)."""
    try:
        return load_clusters(path, run, view, k, stamp(run_files(ws, run).embeddings_info))
    except (StcrlError, ValueError) as exc:
        st.error(str(exc))
        st.stop()


labels, silhouette = clusters_or_stop() if colour_by == CLUSTER else (None, None)
if labels is not None:
    table["cluster"] = labels.astype(str)
column = "cluster" if colour_by == CLUSTER else colour_columns[colour_by]
hover = hover_columns(table, patches) if len(table) <= HOVER_LIMIT else None
figure = scatter_figure(
    coords, table[column], table["row"].to_numpy(), hover=hover, title=colour_by
)
left, right = st.columns([3, 1])
with left:
    event = st.plotly_chart(
        figure,
        key="explorer_scatter",
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
        config={"displaylogo": False},
    )
with right:
    st.metric("Points", f"{len(table):,}")
    silhouette_slot = st.empty()
    computed = "stored" if meta.get("seconds") is None else f"computed in {meta['seconds']:.1f} s"
    st.caption(f"{method.upper()} of the {view} embeddings of **{run}**, {computed}.")
    st.caption(
        "Hover a point to see its crops here; drag to lasso (or pick box select in the "
        "chart's toolbar) or click a point to see the selection below."
    )
    hover_panel("explorer_scatter", hover_crops(ws, table, patches))

if labels is None:  # clusters are still needed for the summary: found after the chart is drawn
    labels, silhouette = clusters_or_stop()
    table["cluster"] = labels.astype(str)
silhouette_slot.metric(f"Silhouette (k={k})", f"{silhouette:.3f}")
rows = selected_rows(event)
if len(rows):
    (patch_details if patches else building_details)(ws, table, rows)
else:
    st.caption("Select points (click, box or lasso) to see them and their make-up.")

st.subheader("Clusters")
summary = cluster_summary(
    labels, table, ["location", "split"] if patches else ["true_class", "event"]
)
summary.columns = [
    "patches" if patches else "buildings",
    "share",
    "locations" if patches else "damage classes",
    "splits" if patches else "events",
]
st.dataframe(summary, width="stretch")
