"""Pieces of the Label page: the label buttons, the live model and the damage estimate.

The damage map and the embedding explorer label through :func:`label_buttons`
too (their own ``source``), into the same store.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from stcrl_core.errors import StcrlError
from stcrl_core.labels.store import LABELS
from stcrl_core.pipeline.labelling import LabellingContext, run_estimate

SHORTCUTS = {"no-damage": "1", "minor-damage": "2", "major-damage": "3", "destroyed": "4",
             "unsure": "U", "skip": "S"}  # fmt: skip


def label_buttons(
    uid: str, give: Callable[[str, str], None], prefix: str = "label", shortcuts: bool = True
) -> None:
    """One button per label (xBD classes, unsure, skip); a click calls ``give(uid, label)``.

    Args:
        uid: The building (or a key naming a selection) the buttons label.
        give: Callback recording the label.
        prefix: Widget key prefix (one per page part).
        shortcuts: Bind the keys 1-4, u and s (one set per page).
    """
    cols = st.columns(len(LABELS))
    for col, name in zip(cols, LABELS, strict=True):
        col.button(
            name,
            key=f"{prefix}-{name}",
            on_click=give,
            args=(uid, name),
            shortcut=SHORTCUTS[name] if shortcuts else None,
            type="primary" if name in SHORTCUTS and name not in ("unsure", "skip") else "secondary",
            width="stretch",
        )


def model_panel(context: LabellingContext, labels: pd.DataFrame) -> None:
    """The live model: refit on the labels (warm, when they changed) and what it says."""
    st.subheader("Live model")
    model = context.refresh(labels)
    if not model["ready"]:
        st.info("The model starts once there are labels in two classes.")
        return
    from stcrl_core.labels.store import CLASS_LABELS

    st.caption(
        f"Class-weighted logistic regression on {context.run} ({context.features}) features, "
        f"trained on {model['trained_on']} labels in "
        f"{', '.join(CLASS_LABELS[c] for c in model['classes'])}; last refit "
        f"{model['seconds']:.2f} s. Its predictions and uncertainty are the damage map's "
        f"model `{model['prediction']}`."
    )
    proba = context.model.proba
    predicted = pd.Series(proba.argmax(axis=1)).map(dict(enumerate(CLASS_LABELS)))
    st.bar_chart(predicted.value_counts().reindex(CLASS_LABELS, fill_value=0), height=180)
    if st.toggle("List labels the cross-validated model contradicts", key="disagree"):
        listed = context.disagreements(labels)
        if listed.empty:
            st.caption("None: every label agrees with a model that did not see it.")
        else:
            st.dataframe(listed, hide_index=True, width="stretch")


def estimate_panel(path: str, run: str) -> None:
    """The damaged and destroyed counts from the run's validation sample, with 95% intervals."""
    st.subheader("Damage estimate")
    try:
        est = run_estimate(path, run)
    except StcrlError as exc:
        st.info(
            f"{exc}. Choose the `validation` strategy above to draw and label one "
            "(about 200 buildings)."
        )
        return
    cols = st.columns(4)
    share = est["damaged"] / est["N"] if est["N"] else 0.0
    low, high = est["ci95"]
    cols[0].metric("Buildings", f"{est['N']:,}")
    cols[1].metric("Damaged (minor or worse)", f"{est['damaged']:,.0f}",
                   help="95% interval; stays within [0, N]")  # fmt: skip
    cols[1].caption(f"95% interval {low:,.0f} – {high:,.0f} ({share:.1%})")
    cols[2].metric("Destroyed", f"{est['destroyed']:,.0f}")
    d_low, d_high = est["destroyed_ci95"]
    cols[2].caption(f"95% interval {d_low:,.0f} – {d_high:,.0f}")
    cols[3].metric("Labelled in the sample", f"{est['labelled']:,}")
    for warning in est["warnings"]:
        st.warning(warning)
    if est.get("events"):
        rows = [{"event": e, "N": v["N"], "damaged": round(v["damaged"]),
                 "95% interval": f"{v['ci95'][0]:,.0f} – {v['ci95'][1]:,.0f}",
                 "destroyed": round(v["destroyed"])} for e, v in est["events"].items()]  # fmt: skip
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
