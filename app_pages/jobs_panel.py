"""Start heavy work from the app and watch it: background jobs (``stcrl_core.jobs``).

The job records live in the workspace, so every session sees every job and a
job outlives reruns, page switches and closed tabs; only the job ids go into
the session state.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from stcrl_core.errors import StcrlError
from stcrl_core.jobs import cancel_job, list_jobs, start_job
from stcrl_core.workspace import Workspace


def show_job_progress(job: dict, text: str) -> bool:
    """Draw a queued/running job's progress bar (``text`` before its message) or a failed
    job's error; returns whether the job is still active."""
    prog = job["progress"]
    if job["status"] in ("queued", "running"):
        share = prog["done"] / prog["total"] if prog.get("total") else 0.0
        st.progress(min(share, 1.0), text=f"{text}: {prog.get('message', '')}")
        return True
    if job["status"] == "failed":
        st.error(job["error"])
    return False


@st.fragment(run_every=2)
def jobs_panel(ws: Workspace) -> None:
    """Live status of the workspace's jobs (polled every 2 s), with cancel buttons."""
    jobs = list_jobs(ws.path)
    if not jobs:
        st.caption("No background jobs yet.")
        return
    for job in jobs[:8]:
        prog = job["progress"]
        done, total = prog.get("done", 0), prog.get("total", 0)
        label = f"**{job['kind']}** `{job['id']}` · {job['status']}"
        cols = st.columns([4, 1])
        if job["status"] in ("queued", "running"):
            fraction = min(done / total, 1.0) if total else 0.0
            cols[0].progress(fraction, text=f"{label} · {prog.get('message', '')}")
            if cols[1].button("Cancel", key=f"cancel-{job['id']}"):
                cancel_job(ws.path, job["id"])
                st.rerun(scope="fragment")
        elif job["status"] == "failed":
            cols[0].error(f"{label}: {job['error']}")
        else:
            cols[0].markdown(label)


def start_work_panel(ws: Workspace, runs: list[str]) -> None:
    """Forms that start pretraining, embedding, predictions and projections as jobs."""
    tabs = st.tabs(["Pretrain", "Embed", "Predict damage", "Project"])
    with tabs[0], st.form("start-pretrain"):
        cols = st.columns(4)
        name = cols[0].text_input("Run name", value="stcrl-new")
        method = cols[1].selectbox("Method", ["stcrl", "simclr", "random", "supervised"])
        epochs = cols[2].number_input("Epochs", min_value=0, max_value=500, value=5)
        batch = cols[3].number_input("Batch size", min_value=4, max_value=4096, value=128)
        if st.form_submit_button("Start pretraining"):
            _start(
                ws,
                "pretrain",
                {"method": method, "run": name, "epochs": int(epochs), "batch_size": int(batch)},
            )
    with tabs[1], st.form("start-embed"):
        run = st.selectbox("Run", runs, key="embed-run")
        if st.form_submit_button("Embed every building", disabled=not runs):
            _start(ws, "embed", {"run": run})
    with tabs[2], st.form("start-predict"):
        cols = st.columns(3)
        run = cols[0].selectbox("Run", runs, key="predict-run")
        probe = cols[1].selectbox("Probe", ["lr", "mlp"])
        features = cols[2].selectbox("Features", ["pre+post", "post", "post-pre", "pair-distance"])
        if st.form_submit_button("Predict damage", disabled=not runs):
            _start(ws, "predict", {"run": run, "probe": probe, "features": features})
    with tabs[3], st.form("start-project"):
        cols = st.columns(3)
        run = cols[0].selectbox("Run", runs, key="project-run")
        view = cols[1].selectbox("View", ["post", "pre", "post-pre"])
        method = cols[2].selectbox("Method", ["umap", "pca", "tsne"])
        if st.form_submit_button("Compute projection", disabled=not runs):
            _start(ws, "project", {"run": run, "view": view, "method": method})


def _start(ws: Workspace, kind: str, args: dict) -> None:
    try:
        job_id = start_job(ws.path, kind, args)
    except StcrlError as exc:
        st.error(str(exc))
        return
    st.session_state.setdefault("my_jobs", []).append(job_id)
    st.toast(f"Started {kind} job {job_id}")


def runs_frame(manifest: dict, ws: Workspace) -> pd.DataFrame:
    """The runs of a workspace with their key metrics and what they have produced."""
    rows = []
    for run in manifest.get("runs", []):
        folder = ws.runs_dir / run["name"]
        rows.append(
            {
                "run": run["name"],
                "method": run.get("method"),
                "arch": run.get("arch"),
                "epochs": run.get("epochs"),
                "final loss": run.get("final_loss"),
                "device": run.get("device"),
                "embeddings": (folder / "embeddings.json").exists(),
                "updated": run.get("updated"),
            }
        )
    return pd.DataFrame(rows)
