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

from app_pages.common import check_workspace_path, workspace_root
from app_pages.jobs_panel import jobs_panel, start_work_panel
from app_pages.new_event import new_event_form
from stcrl_core.errors import StcrlError
from stcrl_core.explore.overview import experiments_table, runs_table, workspace_overview
from stcrl_core.maps.damage import CLASS_COLORS
from stcrl_core.workspace import Workspace

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_WORKSPACE = os.environ.get("STCRL_WORKSPACE", "demo-workspace")


@st.cache_data(show_spinner="Reading the workspace…")
def load_summary(path: str, stamp: float) -> dict:
    """What the workspace holds (``stamp``, the manifest's modification time, makes the
    cache follow updates)."""
    return workspace_overview(Workspace.open(path))


def buildings_summary(summary: dict) -> None:
    """Counts of the workspace's buildings per event, damage class and split, and what
    ingest skipped."""
    cols = st.columns(4)
    cols[0].metric("Buildings", f"{summary['buildings']:,}")
    cols[1].metric("Scenes", summary["scenes"])
    cols[2].metric("Events", len(summary["events"]))
    cols[3].metric("Skipped at ingest", len(summary["report"]["skipped"]))
    st.subheader("Events")
    st.dataframe(summary["events"], width="stretch")
    st.subheader("Buildings per damage class")
    left, right = st.columns([3, 2])
    palette = ["#{:02x}{:02x}{:02x}".format(*CLASS_COLORS[c]) for c in (0, 1, 2, 3, -1)]
    left.bar_chart(summary["per_event_class"], stack=True, color=palette)
    right.dataframe(summary["per_split_class"], width="stretch")
    report = summary["report"]
    if report["skipped"]:
        with st.expander(f"{len(report['skipped'])} items skipped at ingest"):
            st.dataframe(pd.DataFrame(report["skipped"]), width="stretch")


def home() -> None:
    """The home page: what the chosen workspace holds."""
    st.title("ST-CRL building analysis")
    st.caption("Label-efficient building damage analysis from pre/post-disaster satellite imagery.")
    path = st.session_state.get("workspace", DEFAULT_WORKSPACE)
    try:
        folder = check_workspace_path(path)
    except StcrlError as exc:
        st.error(str(exc))
        st.stop()
    if not (folder / "workspace.json").exists() and not (folder.is_dir() and any(folder.iterdir())):
        st.info(f"{path} is no workspace yet: build the demo with `make demo`, enter another "
                "workspace in the sidebar, or ingest a new event into it here.")  # fmt: skip
        new_event_panel(folder, expanded=True)
        st.stop()
    try:
        ws = Workspace.open(folder)
        summary = load_summary(str(ws.path.resolve()), ws.manifest_path.stat().st_mtime)
    except StcrlError as exc:
        st.error(str(exc))
        st.info("Build the demo with `make demo`, or enter another workspace in the sidebar.")
        st.stop()
    if summary["objects"]:
        buildings_summary(summary)
    elif summary["patches"] is None:
        st.info(
            f"{path} holds no buildings or patches yet: ingest a new event below, or run "
            f"`stcrl ingest-xbd --root DATA --workspace {path}` (buildings) or "
            "`stcrl ingest-inria` (segmentation patches)."
        )
        new_event_panel(ws.path, expanded=True)
        st.subheader("Background jobs")
        jobs_panel(ws)
        st.stop()
    else:
        st.info(
            f"{path} holds segmentation patches but no buildings: the damage map, explorer "
            "building views and label-budget pages need `stcrl ingest-xbd`."
        )
    if summary["patches"] is not None:
        st.subheader("Segmentation patches")
        st.caption("Patches per location and split (`stcrl ingest-inria`).")
        st.dataframe(summary["patches"], width="stretch")
    st.subheader("Pages")
    links = st.columns(5)
    links[0].page_link("app_pages/1_Damage_Map.py", label="Damage map", icon="🗺️")
    links[1].page_link("app_pages/2_Embedding_Explorer.py", label="Embedding explorer", icon="🔭")
    links[2].page_link("app_pages/3_Label_Budget.py", label="Label budget", icon="📈")
    links[3].page_link("app_pages/4_Experts.py", label="Experts", icon="🧩")
    links[4].page_link("app_pages/5_Label.py", label="Label", icon="🏷️")
    st.subheader("Runs")
    runs = runs_table(ws, summary["manifest"])
    if runs.empty:
        st.write("No training runs yet: start one below or run `stcrl pretrain`.")
    else:
        st.dataframe(runs, width="stretch", hide_index=True)
    experiments = experiments_table(ws)
    st.subheader("Label-budget experiments")
    if experiments.empty:
        st.write("No experiments yet: run `stcrl budget`.")
    else:
        st.dataframe(experiments, width="stretch", hide_index=True)
    st.subheader("Background jobs")
    jobs_panel(ws)
    with st.expander("Start work in the background"):
        start_work_panel(ws, runs)
    new_event_panel(ws.path, expanded=False)


def new_event_panel(folder: Path, expanded: bool) -> None:
    """The new-event form (GeoTIFF tiles and footprints in, this workspace's buildings out)."""
    st.subheader("New event from GeoTIFF imagery and footprints")
    with st.expander("Ingest a new event (replaces this workspace's buildings)", expanded):
        new_event_form(folder)


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
    # The pages live in app_pages/, not pages/: Streamlit treats a pages/ folder as a
    # multipage app of its own before st.navigation runs, so opening a page's URL directly
    # ran that file without this script (no workspace picker) or showed "Page not found".
    nav = st.navigation(
        [
            st.Page(home, title="Home", icon="🏠", default=True),
            st.Page(
                "app_pages/1_Damage_Map.py", title="Damage map", icon="🗺️", url_path="damage-map"
            ),
            st.Page(
                "app_pages/2_Embedding_Explorer.py",
                title="Embedding explorer",
                icon="🔭",
                url_path="embedding-explorer",
            ),
            st.Page(
                "app_pages/3_Label_Budget.py",
                title="Label budget",
                icon="📈",
                url_path="label-budget",
            ),
            st.Page("app_pages/4_Experts.py", title="Experts", icon="🧩", url_path="experts"),
            st.Page("app_pages/5_Label.py", title="Label", icon="🏷️", url_path="label"),
        ]
    )
    nav.run()


main()
