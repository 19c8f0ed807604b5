"""Pieces of the embedding explorer: the hovered point's crops and the selection's details."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st

from stcrl_core.explore.projection import DEFAULT_PARAMS
from stcrl_core.explore.scatter import CLASS_ORDER, class_bar_figure, pair_image
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.patches import load_patches

GALLERY = 24


def hover_crops(
    ws: Workspace, table: pd.DataFrame, patches: bool
) -> Callable[[int], tuple[np.ndarray, str]]:
    """``crops(row) -> (image, caption)`` of a building (pre | post) or a patch (image | mask)."""
    by_row = table.set_index("row")
    if patches:
        _, images, masks = load_patches(ws)

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
        label_selection(ws, [str(building["uid"])])
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
    label_selection(ws, chosen["uid"].astype(str).tolist())


def label_selection(ws: Workspace, uids: list[str]) -> None:
    """Buttons that give every selected building one label (source ``explorer``), into the
    Label page's store; a cluster of one kind is labelled in one click."""
    from app_pages.label_panels import label_buttons
    from stcrl_core.labels.store import record_labels

    st.caption(
        f"Label {'this building' if len(uids) == 1 else f'all {len(uids):,} selected buildings'} "
        "(into WS/labels/, as on the Label page):"
    )

    def give(key: str, name: str) -> None:
        record_labels(ws, uids, name, "explorer", session=st.session_state.get("label_session"))
        st.session_state["explorer_labelled"] = f"{len(uids):,} building(s) labelled {name}"

    label_buttons("selection", give, prefix="explorer", shortcuts=False)
    if st.session_state.get("explorer_labelled"):
        st.caption(st.session_state.pop("explorer_labelled"))


def patch_details(ws: Workspace, table: pd.DataFrame, rows: np.ndarray) -> None:
    """One patch's image and mask, or the gallery and make-up of a selection of patches."""
    _, images, masks = load_patches(ws)
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


def projection_settings(method: str) -> dict:
    """The chosen method's settings (sliders in an expander), defaults spelled out."""
    with st.expander("Projection settings"):
        params = dict(DEFAULT_PARAMS[method])
        if method == "umap":
            params["n_neighbors"] = st.slider("UMAP neighbours", 5, 100, 15)
            params["min_dist"] = st.slider("UMAP min_dist", 0.0, 0.99, 0.1, step=0.05)
        elif method == "tsne":
            params["perplexity"] = float(st.slider("t-SNE perplexity", 5, 100, 30))
        else:
            st.caption("PCA has no settings.")
    return params
