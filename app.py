"""Streamlit entry point: workspace picker and what the workspace holds.

Run with ``streamlit run app.py`` (``make app`` builds the demo workspace first).
Pages only lay out widgets and call ``stcrl_core``; loaded artifacts are cached
by their arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import check_workspace_path, workspace_root
from stcrl_core.data.xbd import DAMAGE_NAMES
from stcrl_core.errors import StcrlError
from stcrl_core.workspace import Workspace

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_WORKSPACE = os.environ.get("STCRL_WORKSPACE", "demo-workspace")
CLASS_ORDER = [DAMAGE_NAMES[c] for c in (0, 1, 2, 3, -1)]


@st.cache_data(show_spinner="Reading the workspace…")
def load_summary(path: str, stamp: float) -> dict:
    """Building table aggregates and the ingest report of a workspace.

    ``stamp`` (the manifest's modification time) makes the cache follow updates.
    """
    ws = Workspace.open(path)
    manifest = ws.read_manifest()
    if not ws.has_objects():
        return {"manifest": manifest, "objects": False}
    table = ws.buildings()
    table["class"] = table["damage"].map(DAMAGE_NAMES)
    counts = pd.crosstab(table["event"], table["class"]).reindex(columns=CLASS_ORDER, fill_value=0)
    splits = pd.crosstab(table["split"], table["class"]).reindex(columns=CLASS_ORDER, fill_value=0)
    events = table.groupby("event").agg(
        disaster_type=("disaster_type", "first"),
        scenes=("scene", "nunique"),
        buildings=("uid", "size"),
        lon=("lon", "mean"),
        lat=("lat", "mean"),
    )
    return {
        "manifest": manifest,
        "objects": True,
        "report": ws.ingest_report(),
        "per_event_class": counts,
        "per_split_class": splits,
        "events": events,
        "buildings": len(table),
        "scenes": int(table["scene"].nunique()),
    }


def home() -> None:
    """The home page: what the chosen workspace holds."""
    st.title("ST-CRL building analysis")
    st.caption("Label-efficient building damage analysis from pre/post-disaster satellite imagery.")
    path = st.session_state.get("workspace", DEFAULT_WORKSPACE)
    try:
        ws = Workspace.open(check_workspace_path(path))
        summary = load_summary(str(ws.path.resolve()), ws.manifest_path.stat().st_mtime)
    except StcrlError as exc:
        st.error(str(exc))
        st.info("Build the demo with `make demo`, or enter another workspace in the sidebar.")
        st.stop()
    if not summary["objects"]:
        st.info(
            f"{path} holds no buildings yet: run `stcrl ingest-xbd --root DATA --workspace {path}`."
        )
        st.stop()
    cols = st.columns(4)
    cols[0].metric("Buildings", f"{summary['buildings']:,}")
    cols[1].metric("Scenes", summary["scenes"])
    cols[2].metric("Events", len(summary["events"]))
    cols[3].metric("Skipped at ingest", len(summary["report"]["skipped"]))
    st.subheader("Events")
    st.dataframe(summary["events"], width="stretch")
    st.subheader("Buildings per damage class")
    left, right = st.columns([3, 2])
    left.bar_chart(summary["per_event_class"], stack=True)
    right.dataframe(summary["per_split_class"], width="stretch")
    report = summary["report"]
    if report["skipped"]:
        with st.expander(f"{len(report['skipped'])} items skipped at ingest"):
            st.dataframe(pd.DataFrame(report["skipped"]), width="stretch")
    runs = summary["manifest"].get("runs", [])
    st.subheader("Runs")
    if runs:
        st.dataframe(pd.DataFrame(runs), width="stretch")
    else:
        st.write("No training runs yet.")


def main() -> None:
    """Build the navigation and the shared workspace picker."""
    st.set_page_config(page_title="ST-CRL building analysis", layout="wide")
    st.logo(str(ASSETS / "logo.svg"))
    if "workspace" not in st.session_state:
        st.session_state["workspace"] = DEFAULT_WORKSPACE
    with st.sidebar:
        st.text_input(
            "Workspace",
            key="workspace",
            help=f"A folder made by `stcrl ingest-xbd` or `stcrl demo`, under {workspace_root()}.",
        )
    nav = st.navigation(
        [
            st.Page(home, title="Home", icon="🏠", default=True),
            st.Page("pages/1_Damage_Map.py", title="Damage map", icon="🗺️"),
        ]
    )
    nav.run()


main()
