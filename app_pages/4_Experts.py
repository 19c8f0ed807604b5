"""Experts: location-embedding routing to expert segmentation networks, and how they score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from app_pages.common import current_workspace, stamp
from stcrl_core.data.patches import fit_to_patch, image_from_bytes
from stcrl_core.errors import StcrlError
from stcrl_core.explore.projection import project
from stcrl_core.methods.checkpoints import load_encoder
from stcrl_core.methods.routing import list_experts, load_experts, route_and_segment
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import PATCH_VIEW, load_embeddings
from stcrl_core.workspace.experts import experts_run_stamp, experts_stamp, read_experts
from stcrl_core.workspace.patches import has_patches, load_patches, patch_table_path
from stcrl_core.workspace.rows import check_rows
from stcrl_core.workspace.runs import run_files

MASK_COLOR = np.array([255, 64, 64], dtype=np.float32)


@st.cache_data(show_spinner="Reading the patches…", max_entries=4)
def patch_table(path: str, version: float) -> pd.DataFrame:
    return load_patches(Workspace.open(path))[0]


@st.cache_data(show_spinner=False, max_entries=4)
def experts_runs(path: str, version: float) -> pd.DataFrame:
    return list_experts(Workspace.open(path))


@st.cache_data(show_spinner=False, max_entries=8)
def experts_files(path: str, exp_id: str, version: float) -> dict:
    return read_experts(Workspace.open(path), exp_id)


@st.cache_data(show_spinner="Projecting the embeddings…", max_entries=8)
def projection(path: str, run: str, method: str, version: float) -> np.ndarray:
    return project(np.asarray(load_embeddings(Workspace.open(path), run, PATCH_VIEW)), method)


@st.cache_resource(show_spinner="Loading the networks…", max_entries=2)
def networks(path: str, exp_id: str, version: float) -> tuple:
    ws = Workspace.open(path)
    config, router, models, single = load_experts(ws, exp_id)
    encoder, _ = load_encoder(ws, config["embedding"])
    return encoder, router, models, single


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with building pixels tinted red."""
    alpha = 0.55 * mask.astype(np.float32)[..., None]
    return (image * (1 - alpha) + MASK_COLOR * alpha).astype(np.uint8)


def routing_panel(result: dict, k: int) -> None:
    """Which expert a patch went to and why: its distances to the centroids."""
    d = result["distances"]
    order = np.argsort(d)
    why = f"nearest centroid, distance {d[order[0]]:.3f}"
    if k > 1:
        why += f"; next is expert {order[1]} at {d[order[1]]:.3f}"
    st.markdown(f"**Routed to expert {result['expert']}** ({why})")
    frame = pd.DataFrame({"distance to centroid": d}, index=[f"expert {c}" for c in range(k)])
    st.bar_chart(frame, horizontal=True, height=60 + 28 * k)


ws = current_workspace(need_objects=False)
path = str(ws.path)
st.title("Experts")
st.caption(
    "Location embeddings (triplet network) cluster the patches; one U-Net expert per cluster "
    "segments buildings, and the nearest centroid picks the expert."
)
if not has_patches(ws):
    st.info(
        f"{ws.path} holds no segmentation patches yet: run "
        f"`stcrl ingest-inria --root DIR --workspace {ws.path}` or "
        f"`stcrl patches --from-objects --workspace {ws.path}`."
    )
    st.stop()
patches_stamp = stamp(patch_table_path(ws))
runs = experts_runs(path, experts_stamp(ws))
if runs.empty:
    st.info(
        "No experts yet: train a triplet run and experts, e.g. "
        f"`stcrl pretrain --method triplet --workspace {ws.path} --run triplet`, "
        f"`stcrl embed --workspace {ws.path} --run triplet`, "
        f"`stcrl experts --workspace {ws.path} --embedding triplet --k 5`."
    )
    st.stop()
runs = runs.sort_values(["k", "mtime"])
labels = {
    row.id: f"k = {row.k} · {row.arch} · {row.epochs} epochs · embedding {row.embedding} · {row.id}"
    for row in runs.itertuples()
}
exp_id = st.selectbox("Experts run", list(labels), format_func=labels.get, key="experts-run")
version = experts_run_stamp(ws, exp_id)
try:
    files = experts_files(path, exp_id, version)
except (OSError, ValueError, StcrlError) as exc:
    st.error(f"cannot read experts run {exp_id}: {exc}")
    st.stop()
config, metrics, assignments = files["config"], files["metrics"], files["assignments"]
k = int(config["k"])

st.subheader("Routed experts vs single network vs random expert")
st.caption(
    f"IoU of the building class and pixel accuracy (%) on {metrics['val_patches']} validation "
    f"patches, per location and overall (layout of the paper's Tables 1 and 2). "
    f"Trained on {metrics['train_patches']} patches on {metrics['device']}."
)
st.dataframe(files["table"], width="stretch")
per_expert = pd.DataFrame(metrics["experts"]).set_index("expert")
per_expert.insert(0, "train patches", metrics["patches_per_expert"])
per_expert[["iou", "chance_iou", "accuracy"]] = (
    per_expert[["iou", "chance_iou", "accuracy"]] * 100
).round(2)
per_expert = per_expert.rename(
    columns={"iou": "IoU on its val patches", "chance_iou": "chance IoU (all building)",
             "accuracy": "accuracy", "val_patches": "val patches"}
)  # fmt: skip
with st.expander("Each expert on the validation patches routed to it"):
    st.dataframe(per_expert, width="stretch")

table = patch_table(path, patches_stamp)
try:
    check_rows(f"experts run {exp_id}", len(assignments), len(table), "patches",
               "re-run `stcrl experts` on the new patches")  # fmt: skip
except StcrlError as exc:
    st.error(str(exc))
    st.stop()
try:
    embeddings_stamp = stamp(run_files(ws, config["embedding"]).embeddings(PATCH_VIEW))
    st.subheader("Embedding space")
    cols = st.columns([1, 1, 3])
    method = cols[0].radio("Projection", ["pca", "umap"], horizontal=True, key="experts-proj")
    color_by = cols[1].radio(
        "Colour by", ["location", "cluster", "expert"], horizontal=True, key="experts-color"
    )
    coords = projection(path, config["embedding"], method, embeddings_stamp)
except StcrlError as exc:
    st.error(str(exc))
    st.stop()
frame = table[["patch_id", "location", "split"]].copy()
frame["x"], frame["y"] = coords[:, 0], coords[:, 1]
frame["cluster"] = assignments["cluster"].astype(str).to_numpy()
frame["expert"] = assignments["expert"].astype(str).to_numpy()
fig = px.scatter(
    frame, x="x", y="y", color=color_by, symbol="split", hover_data=["patch_id", "location"],
    height=440, category_orders={"cluster": [str(c) for c in range(k)],
                                 "expert": [str(c) for c in range(k)]},
)  # fmt: skip
fig.update_traces(marker={"size": 6, "opacity": 0.8})
fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10})
st.plotly_chart(fig, width="stretch")
st.caption(
    f"{method.upper()} of the {coords.shape[0]} patch embeddings of run {config['embedding']}; "
    "circles are training patches (k-means clusters), others validation (nearest centroid)."
)

encoder, router, models, single = networks(path, exp_id, version)
_, images, masks = load_patches(ws)

st.subheader("One validation patch")
val = table[table["split"] == "val"]
cols = st.columns([1, 2])
location = cols[0].selectbox("Location", sorted(val["location"].unique()), key="experts-loc")
choices = val[val["location"] == location]
patch_id = cols[1].selectbox("Patch", choices["patch_id"].tolist(), key="experts-patch")
row = int(choices.loc[choices["patch_id"] == patch_id, "row"].iloc[0])
image = np.asarray(images[row])
result = route_and_segment(encoder, router, models, single, image)
cols = st.columns(4)
cols[0].image(image, caption="image", width="stretch")
cols[1].image(overlay(image, np.asarray(masks[row])), caption="ground truth", width="stretch")
cols[2].image(
    overlay(image, result["routed"] > 0.5),
    caption=f"routed expert {result['expert']}",
    width="stretch",
)
cols[3].image(overlay(image, result["single"] > 0.5), caption="single network", width="stretch")
routing_panel(result, k)

st.subheader("Route your own patch")
patch = int(images.shape[1])
upload = st.file_uploader(
    f"An aerial image patch (PNG or GeoTIFF; it is cut or resized to {patch} x {patch} px)",
    type=["png", "tif", "tiff", "jpg", "jpeg"],
    key="experts-upload",
)
if upload is not None:
    try:
        uploaded, note = fit_to_patch(image_from_bytes(upload.getvalue(), upload.name), patch)
    except StcrlError as exc:
        st.error(str(exc))
    else:
        st.caption(f"{upload.name}: {note}.")
        result = route_and_segment(encoder, router, models, single, uploaded)
        cols = st.columns(3)
        cols[0].image(uploaded, caption="your patch", width="stretch")
        cols[1].image(
            overlay(uploaded, result["routed"] > 0.5),
            caption=f"expert {result['expert']}",
            width="stretch",
        )
        cols[2].image(
            overlay(uploaded, result["single"] > 0.5), caption="single network", width="stretch"
        )
        routing_panel(result, k)
