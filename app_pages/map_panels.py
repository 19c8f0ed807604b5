"""Pieces of the damage map page: the colour legend and one building's panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.maps import damage
from stcrl_core.workspace import Workspace

CLASS_LABELS = {code: DAMAGE_NAMES[code] for code in (0, 1, 2, 3, -1)}


def legend(color_by: str) -> None:
    items = [(CLASS_LABELS[c], damage.CLASS_COLORS[c]) for c in (0, 1, 2, 3, -1)]
    if color_by == "correct":
        items = [("correct", damage.CORRECT_COLORS[True]), ("wrong", damage.CORRECT_COLORS[False])]
    elif color_by == "uncertainty":
        low, high = damage.UNCERTAINTY_COLORS
        items = [("certain", low), ("uncertain", high)]
    spans = " ".join(
        f"<span style='display:inline-block;width:12px;height:12px;background:rgb{rgb};"
        f"border-radius:2px;margin:0 4px 0 10px'></span>{name}"
        for name, rgb in items
    )
    st.markdown(f"<div style='font-size:0.9rem'>{spans}</div>", unsafe_allow_html=True)


def building_panel(
    ws: Workspace, table: pd.DataFrame, uid: str, prediction: str | None, where: str = "map"
) -> None:
    """Pre and post crops, labels and class probabilities of one building, and buttons that
    label it (into the Label page's store, source ``map``)."""
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
        label_here(ws, uid, f"map-{where}")


def label_here(ws: Workspace, uid: str, prefix: str) -> None:
    """The building's current analyst label and one button per label (source ``map``)."""
    from app_pages.label_panels import label_buttons
    from stcrl_core.labels.store import current_labels, record_labels

    labels = current_labels(ws)
    mine = labels[labels["uid"] == uid]
    st.caption(
        f"Your label: **{mine['label'].iloc[0]}** ({mine['source'].iloc[0]})"
        if len(mine)
        else "Not labelled yet: label it here (it goes to the Label page's store)."
    )

    def give(uid_: str, name: str) -> None:
        record_labels(ws, [uid_], [name], "map", session=st.session_state.get("label_session"))

    label_buttons(uid, give, prefix=prefix, shortcuts=False)
