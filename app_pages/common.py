"""Shared pieces of the app's pages: the chosen workspace and cached loaders.

Loaders are cached by their arguments only (the workspace path and the
modification time of what they read), so a re-ingest or a new run is picked up.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from stcrl_core.errors import StcrlError
from stcrl_core.workspace import Workspace


def workspace_root() -> Path:
    """Folder the app may open workspaces under: ``STCRL_WORKSPACE_ROOT``, else the cwd."""
    return Path(os.environ.get("STCRL_WORKSPACE_ROOT", os.getcwd())).resolve()


def check_workspace_path(path: str) -> Path:
    """Resolve a workspace path and make sure it lies under the configured root.

    Raises:
        StcrlError: If it lies outside ``STCRL_WORKSPACE_ROOT`` (default: the
            folder the app was started from).
    """
    root = workspace_root()
    resolved = Path(path).expanduser()
    resolved = (resolved if resolved.is_absolute() else root / resolved).resolve()
    if resolved != root and root not in resolved.parents:
        raise StcrlError(
            f"{resolved} is outside the workspace root {root}; choose a folder under it "
            "(or start the app with STCRL_WORKSPACE_ROOT set)"
        )
    return resolved


def current_workspace(need_objects: bool = True) -> Workspace:
    """The workspace chosen in the sidebar; stops the page with a clear message if unusable."""
    path = st.session_state.get("workspace", "")
    try:
        ws = Workspace.open(check_workspace_path(path))
    except StcrlError as exc:
        st.error(str(exc))
        st.info("Build the demo with `make demo`, or enter another workspace in the sidebar.")
        st.stop()
    if need_objects and not ws.has_objects():
        st.info(
            f"{ws.path} holds no buildings yet: run "
            f"`stcrl ingest-xbd --root DATA --workspace {ws.path}`."
        )
        st.stop()
    return ws


def stamp(path: Path) -> float:
    """Modification time of a file (0 if missing), to key caches on."""
    return path.stat().st_mtime_ns if path.exists() else 0.0
