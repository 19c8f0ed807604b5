"""Embedding explorer: 2-D projections of a run's embeddings, clusters and selections.

Building embeddings (ST-CRL, untrained, supervised, a CSP run's image and location
embeddings) are shown one point per building; a triplet run's location embeddings
one point per segmentation patch, coloured by location or by the expert it is
routed to.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.common import current_workspace, stamp
from app_pages.hover_crops import hover_panel
from app_pages.jobs_panel import show_job_progress
from stcrl_core.embeddings import embedded_runs
from stcrl_core.errors import StcrlError
from stcrl_core.explore.clustering import cluster_summary, kmeans_clusters
from stcrl_core.explore.projection import (
    DEFAULT_PARAMS,
    METHODS,
    projection_views,
    stored_projection_key,
    view_features,
)
from stcrl_core.explore.scatter import (
    BASE_COLOURS,
    CLASS_ORDER,
    PATCH_COLOURS,
    class_bar_figure,
    explorer_table,
    pair_image,
    patch_explorer_table,
    scatter_figure,
    selected_rows,
)
from stcrl_core.jobs import read_job, start_job
from stcrl_core.maps.damage import list_predictions
from stcrl_core.workspace import Workspace

HOVER_LIMIT = 20_000  # above this many points the hover shows the row only (lean JSON)
GALLERY = 24
CLUSTER = "k-means cluster"


@st.cache_data(show_spinner="Reading buildings…", max_entries=8)
def load_table(path: str, prediction: str | None, stamps: tuple) -> pd.DataFrame:
    """The explorer's building table (``stamps``: file times, so updates are picked up)."""
    ws = Workspace.open(path)
    predictions = None
    if prediction:
        predictions = pd.read_parquet(ws.path / "predictions" / f"{prediction}.parquet")
    return explorer_table(ws.buildings(), predictions)


@st.cache_data(show_spinner="Reading patches…", max_entries=8)
def load_patch_table(path: str, run: str, stamps: tuple) -> pd.DataFrame:
    """The patch table with the routing of every experts run trained on ``run``."""
    from stcrl_core.data.patches import load_patches

    ws = Workspace.open(path)
    assignments = {}
    for config_path in sorted((ws.path / "experts").glob("*/config.json")):
        config = json.loads(config_path.read_text())
        frame = config_path.parent / "assignments.parquet"
        if config.get("embedding") == run and frame.exists():
            label = f"expert (k={config['k']}, {config_path.parent.name[:8]})"
            assignments[label] = pd.read_parquet(frame)
    return patch_explorer_table(load_patches(ws.path)[0], assignments)


@st.cache_data(show_spinner=False, max_entries=16)
def load_projection(path: str, key: str, mtime: float) -> tuple[np.ndarray, dict]:
    folder = Workspace.open(path).path / "projections"
    return np.load(folder / f"{key}.npy"), json.loads((folder / f"{key}.json").read_text())


@st.cache_data(show_spinner="Clustering the embeddings…", max_entries=32)
def load_clusters(path: str, run: str, view: str, k: int, mtime: float) -> tuple[np.ndarray, float]:
    clusters = kmeans_clusters(view_features(path, run, view), k)
    return clusters.labels, clusters.silhouette


def hover_crops(ws: Workspace, table: pd.DataFrame, patches: bool):
    """``crops(row) -> (image, caption)`` of a building (pre | post) or a patch (image | mask)."""
    by_row = table.set_index("row")
    if patches:
        from stcrl_core.data.patches import load_patches

        _, images, masks = load_patches(ws.path)

        def patch_crops(row: int) -> tuple[np.ndarray, str]:
            mask = np.repeat(np.asarray(masks[row])[..., None] * 255, 3, axis=2).astype(np.uint8)
            caption = f"{by_row.at[row, 'patch_id']} · {by_row.at[row, 'location']}"
            return pair_image(np.asarray(images[row]), mask), caption

        return patch_crops
    pre, post = ws.crops("pre"), ws.crops("post")

    def building_crops(row: int) -> tuple[np.ndarray, str]:
        caption = f"{by_row.at[row, 'uid'][:8]} · {by_row.at[row, 'true_class']} (pre | post)"
        return pair_image(np.asarray(pre[row]), np.asarray(post[row])), caption

    return building_crops


def building_details(ws: Workspace, table: pd.DataFrame, rows: np.ndarray) -> None:
    """One building's crops and facts, or the gallery and make-up of a selection."""
    by_row = table.set_index("row")
    if len(rows) == 1:
        building = by_row.loc[int(rows[0])]
        st.subheader(f"Building {building['uid']}")
        cols = st.columns([1, 1, 2])
        cols[0].image(ws.crops("pre")[int(rows[0])], caption="pre-disaster", width="stretch")
        cols[1].image(ws.crops("post")[int(rows[0])], caption="post-disaster", width="stretch")
        facts = {
            "true class": building["true_class"],
            "event": building["event"],
            "disaster type": building["disaster_type"],
            "split": building["split"],
            "cluster": building["cluster"],
        }
        if "predicted_class" in building:
            facts["predicted"] = building["predicted_class"]
        cols[2].table(pd.Series(facts, name="value"))
        return
    chosen = by_row.loc[rows]
    st.subheader(f"{len(rows):,} buildings selected")
    cols = st.columns(2)
    counts = chosen["true_class"].value_counts().reindex(CLASS_ORDER, fill_value=0)
    cols[0].plotly_chart(class_bar_figure(counts), key="explorer_makeup")
    makeup = pd.DataFrame(
        {
            "selected": counts,
            "share": (counts / len(chosen)).round(3),
            "share overall": table["true_class"].value_counts(normalize=True).round(3),
        }
    ).reindex(CLASS_ORDER)
    makeup.index.name = "class"
    cols[1].dataframe(makeup, width="stretch")
    cols[1].dataframe(
        chosen["event"].value_counts().rename("buildings").to_frame(), width="stretch"
    )
    shown = rows[:GALLERY]
    pre, post = ws.crops("pre"), ws.crops("post")
    st.image(
        [pair_image(pre[int(r)], post[int(r)]) for r in shown],
        caption=[f"{by_row.at[int(r), 'uid']} · {by_row.at[int(r), 'true_class']}" for r in shown],
        width=200,
    )
    more = f" (first {GALLERY} shown)" if len(rows) > GALLERY else ""
    st.caption(f"Pre | post crops of the selected buildings{more}.")
    st.download_button(
        "Selected buildings (CSV)",
        chosen.reset_index().drop(columns=["damage"]).to_csv(index=False),
        "selection.csv",
        "text/csv",
    )


def patch_details(ws: Workspace, table: pd.DataFrame, rows: np.ndarray) -> None:
    """One patch's image and mask, or the gallery and make-up of a selection of patches."""
    from stcrl_core.data.patches import load_patches

    _, images, masks = load_patches(ws.path)
    by_row = table.set_index("row")

    def with_mask(r: int) -> np.ndarray:
        mask = np.repeat(np.asarray(masks[r])[..., None] * 255, 3, axis=2).astype(np.uint8)
        return pair_image(np.asarray(images[r]), mask)

    if len(rows) == 1:
        patch = by_row.loc[int(rows[0])]
        st.subheader(f"Patch {patch['patch_id']}")
        cols = st.columns([2, 2])
        cols[0].image(with_mask(int(rows[0])), caption="image | building mask", width="stretch")
        cols[1].table(patch.drop(labels=["tile"]).astype(str).rename("value"))
        return
    chosen = by_row.loc[rows]
    st.subheader(f"{len(rows):,} patches selected")
    cols = st.columns(2)
    cols[0].dataframe(
        chosen["location"].value_counts().rename("patches").to_frame(), width="stretch"
    )
    cols[1].dataframe(chosen["split"].value_counts().rename("patches").to_frame(), width="stretch")
    shown = rows[:GALLERY]
    st.image(
        [with_mask(int(r)) for r in shown],
        caption=[
            f"{by_row.at[int(r), 'patch_id']} · {by_row.at[int(r), 'location']}" for r in shown
        ],
        width=200,
    )
    more = f" (first {GALLERY} shown)" if len(rows) > GALLERY else ""
    st.caption(f"Image | building mask of the selected patches{more}.")


ws = current_workspace(need_objects=False)  # a workspace may hold only patches
path = str(ws.path)
st.title("Embedding explorer")
runs = embedded_runs(path)
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
patches = view in ("patch", "patchloc")
try:
    if patches:
        table = load_patch_table(
            path, run, (stamp(ws.path / "patches" / "patches.parquet"), stamp(ws.path / "experts"))
        )
        colour_columns = {**PATCH_COLOURS, **{c: c for c in table if c.startswith("expert (")}}
    else:
        predictions = list_predictions(path)
        colour_columns = dict(BASE_COLOURS)
        for name in predictions:
            colour_columns[f"damage (predicted: {name})"] = "predicted_class"
except (StcrlError, ValueError) as exc:
    st.error(str(exc))
    st.stop()
colour_by = cols[3].selectbox("Colour by", [*colour_columns, CLUSTER], key="explorer_colour")
with st.expander("Projection settings"):
    params = dict(DEFAULT_PARAMS[method])
    if method == "umap":
        params["n_neighbors"] = st.slider("UMAP neighbours", 5, 100, 15)
        params["min_dist"] = st.slider("UMAP min_dist", 0.0, 0.99, 0.1, step=0.05)
    elif method == "tsne":
        params["perplexity"] = float(st.slider("t-SNE perplexity", 5, 100, 30))
    else:
        st.caption("PCA has no settings.")
k = st.slider(
    "k-means clusters (k)",
    2,
    12,
    5,
    key="explorer_k",
    help="Clusters are found in the embedding space, not in the 2-D picture.",
)

if not patches:
    prediction = (
        colour_by.split(": ", 1)[1][:-1] if colour_by.startswith("damage (predicted") else None
    )
    stamps = (
        stamp(ws.path / "objects" / "buildings.parquet"),
        stamp(ws.path / "predictions" / f"{prediction}.parquet") if prediction else 0.0,
    )
    try:
        table = load_table(path, prediction, stamps)
    except (StcrlError, ValueError) as exc:
        st.error(str(exc))
        st.stop()
key = stored_projection_key(run, view, method, **params)
npy = ws.path / "projections" / f"{key}.npy"
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

coords, meta = load_projection(path, key, stamp(npy))
if len(coords) != len(table):
    what = "patches" if patches else "buildings"
    st.error(
        f"{npy} has {len(coords)} points but the workspace has {len(table)} {what} "
        f"(re-ingested?); delete it or run `stcrl project --workspace {path} --run {run}`."
    )
    st.stop()


def clusters_or_stop() -> tuple[np.ndarray, float]:
    """k-means labels and silhouette of the chosen embedding (cached)."""
    try:
        return load_clusters(path, run, view, k, stamp(ws.runs_dir / run / "embeddings.json"))
    except (StcrlError, ValueError) as exc:
        st.error(str(exc))
        st.stop()


labels, silhouette = clusters_or_stop() if colour_by == CLUSTER else (None, None)
if labels is not None:
    table["cluster"] = labels.astype(str)
column = "cluster" if colour_by == CLUSTER else colour_columns[colour_by]
hover = None
if len(table) <= HOVER_LIMIT:
    if patches:
        hover = {"patch": table["patch_id"], "location": table["location"], "split": table["split"]}
    else:
        hover = {"building": table["uid"], "class": table["true_class"], "event": table["event"]}
        if "predicted_class" in table:
            hover["predicted"] = table["predicted_class"]
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
