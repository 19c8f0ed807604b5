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
from stcrl_core.methods.registry import method_names
from stcrl_core.models.unet import UNET_ARCHS
from stcrl_core.pipeline.pretrain import describe_defaults, resolve_pretrain
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


NO_RUN = "(none)"


def start_work_panel(ws: Workspace, runs: pd.DataFrame) -> None:
    """Forms that start pretraining, embedding, predictions, projections and expert
    networks as jobs. ``runs`` is :func:`stcrl_core.explore.overview.runs_table`."""
    names = [] if runs.empty else runs["run"].tolist()
    tabs = st.tabs(["Pretrain", "Embed", "Predict damage", "Project", "Experts"])
    with tabs[0], st.form("start-pretrain"):
        cols = st.columns(5)
        name = cols[0].text_input("Run name", value="stcrl-new")
        method = cols[1].selectbox("Method", method_names())
        epochs = cols[2].number_input("Epochs", min_value=0, max_value=500, value=5)
        batch = cols[3].number_input(
            "Batch size", min_value=0, max_value=4096, value=0, help="0: the method's default"
        )
        image_run = cols[4].selectbox(
            "Image run (CSP)",
            [NO_RUN, *names],
            help="CSP only: train on the frozen features of this run",
        )
        st.caption(
            f"Defaults follow each paper ({describe_defaults()}); triplet needs patches "
            "(`stcrl ingest-inria`)."
        )
        if st.form_submit_button("Start pretraining"):
            args = {"method": method, "run": name, "epochs": int(epochs)}
            if batch:
                args["batch_size"] = int(batch)
            if image_run != NO_RUN:
                args["image_run"] = image_run
            try:  # refuse settings the job would fail on (e.g. an image run without csp)
                resolve_pretrain(ws, args)
            except (StcrlError, ValueError) as exc:
                st.error(str(exc))
            else:
                _start(ws, "pretrain", args)
    with tabs[1], st.form("start-embed"):
        run = st.selectbox("Run", names, key="embed-run")
        if st.form_submit_button("Embed every building", disabled=not names):
            _start(ws, "embed", {"run": run})
    with tabs[2], st.form("start-predict"):
        cols = st.columns(3)
        run = cols[0].selectbox("Run", names, key="predict-run")
        probe = cols[1].selectbox("Probe", ["lr", "mlp"])
        features = cols[2].selectbox("Features", ["pre+post", "post", "post-pre", "pair-distance"])
        if st.form_submit_button("Predict damage", disabled=not names):
            _start(ws, "predict", {"run": run, "probe": probe, "features": features})
    with tabs[3]:
        _project_form(ws, names)
    with tabs[4]:
        _experts_form(ws, runs)


def _project_form(ws: Workspace, names: list[str]) -> None:
    from stcrl_core.explore.projection import projection_views

    run = st.selectbox("Run", names, key="project-run")
    views = projection_views(ws.path, run) if run else []
    with st.form("start-project"):
        cols = st.columns(2)
        view = cols[0].selectbox("View", views, help="the run's embeddings to project")
        method = cols[1].selectbox("Method", ["umap", "pca", "tsne"])
        if st.form_submit_button("Compute projection", disabled=not views):
            _start(ws, "project", {"run": run, "view": view, "method": method})
        if run and not views:
            st.caption(f"Run {run} has no embeddings yet: embed it first.")


def _experts_form(ws: Workspace, runs: pd.DataFrame) -> None:
    import torch

    triplet = [] if runs.empty else runs.loc[runs["method"] == "triplet", "run"].tolist()
    if not triplet:
        st.caption(
            "Expert segmentation networks need a triplet run with patch embeddings: "
            "pretrain one (method triplet) and embed it."
        )
        return
    gpu = torch.cuda.is_available()  # paper settings on a GPU, the demo's on a CPU
    with st.form("start-experts"):
        cols = st.columns(5)
        embedding = cols[0].selectbox("Triplet run", triplet)
        k = cols[1].number_input("Experts (k)", min_value=1, max_value=20, value=5 if gpu else 3)
        arch = cols[2].selectbox("U-Net encoder", UNET_ARCHS, index=3 if gpu else 0)
        epochs = cols[3].number_input("Epochs", min_value=1, max_value=500, value=30 if gpu else 6)
        min_steps = cols[4].number_input(
            "Min. steps", min_value=0, max_value=10_000, value=0 if gpu else 24,
            help="every network trains at least this many steps (small clusters get more epochs)",
        )  # fmt: skip
        st.caption(
            "One U-Net per k-means cluster of the patch embeddings plus one on all patches, "
            "scored on the val patches (the Experts page shows them). "
            + ("Paper settings (ResNet-101, 30 epochs)." if gpu else "CPU: the demo's small "
               "settings; the paper's ResNet-101 x 30 epochs takes hours here.")
        )  # fmt: skip
        if st.form_submit_button("Train experts"):
            _start(ws, "experts", {"embedding": embedding, "k": int(k), "arch": arch,
                                   "epochs": int(epochs), "min_steps": int(min_steps)})  # fmt: skip


def _start(ws: Workspace, kind: str, args: dict) -> None:
    try:
        job_id = start_job(ws.path, kind, args)
    except StcrlError as exc:
        st.error(str(exc))
        return
    st.session_state.setdefault("my_jobs", []).append(job_id)
    st.toast(f"Started {kind} job {job_id}")
