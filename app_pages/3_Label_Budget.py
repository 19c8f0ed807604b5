"""Label-budget page: run damage-probe experiments on demand and compare F1 curves."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.common import current_workspace
from app_pages.jobs_panel import show_job_progress
from stcrl_core.devices import resolve_device
from stcrl_core.errors import StcrlError
from stcrl_core.eval.active_budget import BUDGET_STRATEGIES, PAPER_PROTOCOL
from stcrl_core.eval.budget_views import (
    curve_figure,
    estimate_seconds,
    per_class_table,
    summed_confusion,
)
from stcrl_core.eval.experiment import PROBE_KINDS
from stcrl_core.eval.features import FEATURE_MODES
from stcrl_core.eval.report import with_strategy
from stcrl_core.jobs import read_job, start_job
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import LOCATION_VIEW, embedded_runs
from stcrl_core.workspace.experiments import (
    experiment_chart,
    experiment_stamp,
    list_experiments,
    read_experiment,
)
from stcrl_core.workspace.runs import run_files


@st.cache_data(show_spinner=False, max_entries=16)
def load_results(path: str, exp_id: str, mtime: float) -> dict:
    return read_experiment(Workspace.open(path), exp_id)


ws = current_workspace()
path = str(ws.path)
st.title("Label budget")
device = resolve_device("auto")
st.caption(
    f"Probes run on **{device.type.upper()}**" + (" (no GPU found)" if device.type == "cpu" else "")
)
runs = embedded_runs(ws, buildings_only=True)  # not patch runs

with st.form("budget-form"):
    cols = st.columns(3)
    # RUN+loc: a CSP run's image features with its location prior, on the same trials
    located = [f"{r}+loc" for r in runs if run_files(ws, r).embeddings(LOCATION_VIEW).exists()]
    chosen_runs = cols[0].multiselect(
        "Runs (with embeddings)",
        runs + located,
        default=runs[:2],
        help="RUN+loc combines a CSP run's probe with its location prior: "
        "P(y|image) P(y|loc), normalised (lr and mlp probes).",
    )
    probes = cols[1].multiselect("Probes", list(PROBE_KINDS), default=["lr"])
    features = cols[2].selectbox("Features", list(FEATURE_MODES))
    cols = st.columns(3)
    budgets_text = cols[0].text_input("Budgets (multiples of 4)", "40,100,200,400")
    trials = cols[1].slider("Trials per budget", 1, 20, 5)
    epochs = cols[2].number_input("Epochs (fine-tune / supervised)", 1, 100, 5)
    strategies = st.multiselect(
        "Strategies",
        list(BUDGET_STRATEGIES),
        default=[PAPER_PROTOCOL],
        help="How each trial's labels are chosen. random-balanced: the paper's class-balanced "
        "draws (assumes the labels are known); random: the natural class mix; uncertainty, "
        "diversity, hybrid: an analyst labelling what the strategy suggests (the ground truth "
        "answers). One curve per strategy.",
    )
    accept_wait = st.checkbox("I accept a long wait for fine-tune / supervised on the CPU")
    submitted = st.form_submit_button("Run experiment")

try:
    budgets = sorted({int(b) for b in budgets_text.split(",") if b.strip()})
except ValueError:
    st.error(f"Budgets must be comma-separated whole numbers, got {budgets_text!r}.")
    st.stop()
estimate = estimate_seconds(
    probes, budgets, trials, len(chosen_runs), int(epochs), strategies or [PAPER_PROTOCOL]
)
st.caption(f"Estimated time: about {estimate:.0f} s on this machine's {device.type.upper()}.")
if submitted:
    heavy = {"finetune", "supervised"} & set(probes)
    if heavy and device.type == "cpu" and not accept_wait:
        st.warning(
            "Fine-tune and supervised probes train a network per trial: "
            "tick the box to accept the wait."
        )
    elif not probes or (not chosen_runs and probes != ["supervised"]):
        st.warning("Choose at least one run and one probe.")
    else:
        args = {
            "runs": chosen_runs,
            "probes": probes,
            "budgets": budgets,
            "trials": int(trials),
            "features": features,
            "finetune_epochs": int(epochs),
            "strategies": strategies or [PAPER_PROTOCOL],
        }
        try:
            st.session_state["budget_job"] = start_job(path, "budget", args)
        except StcrlError as exc:
            st.error(str(exc))


@st.fragment(run_every=1.5)
def job_status() -> None:
    job_id = st.session_state.get("budget_job")
    if not job_id:
        return
    job = read_job(path, job_id)
    if show_job_progress(job, "Experiment running"):
        return
    if job["status"] == "done" and st.session_state.get("budget_shown") != job_id:
        st.session_state["budget_shown"] = job_id
        st.session_state["budget_experiment"] = job["result"]["id"]
        st.rerun()


job_status()

ids = list_experiments(ws)
if not ids:
    st.info("No experiment yet: run one above (or with `stcrl budget`).")
    st.stop()
default = st.session_state.get("budget_experiment", ids[0])
exp_id = st.selectbox("Experiment", ids, index=ids.index(default) if default in ids else 0)
overlay = st.multiselect("Overlay earlier experiments", [i for i in ids if i != exp_id])
frames = []
for i in [exp_id, *overlay]:
    result = load_results(path, i, experiment_stamp(ws, i))
    curves = pd.DataFrame(result["curves"])
    curves["experiment"] = i
    frames.append(curves)
curves = pd.concat(frames, ignore_index=True)
result = load_results(path, exp_id, experiment_stamp(ws, exp_id))
config = result["config"]
st.caption(
    f"{', '.join(config['runs']) or 'supervised only'} · {config['features']} features · "
    f"{config['trials']} trials · evaluated on {result['eval_buildings']} test+hold buildings · "
    f"ran on {result['device']}"
)
st.plotly_chart(curve_figure(curves), key="curves")

records = with_strategy(pd.DataFrame(result["records"]))
st.subheader("Per-class F1")
table_budgets = config.get("table_budgets") or [min(config["budgets"]), max(config["budgets"])]
st.dataframe(per_class_table(records, table_budgets), hide_index=True, width="stretch")

st.subheader("Confusion matrix")
cols = st.columns(4)
run = cols[0].selectbox("Run", sorted(records["run"].unique()))
probe = cols[1].selectbox("Probe", sorted(records[records["run"] == run]["probe"].unique()))
strategy = cols[2].selectbox("Strategy", sorted(records["strategy"].unique()))
budget = cols[3].selectbox("Budget", sorted(records["budget"].unique()))
part = records[
    (records["run"] == run)
    & (records["probe"] == probe)
    & (records["strategy"] == strategy)
    & (records["budget"] == budget)
]
if len(part):
    st.dataframe(summed_confusion(part), width="stretch")
    st.caption(f"Summed over {len(part)} trials.")

st.subheader("Download")
cols = st.columns(3)
cols[0].download_button(
    "Curves (CSV)", curves.to_csv(index=False), f"curves-{exp_id}.csv", "text/csv"
)
flat = records.drop(columns=["confusion"]).to_csv(index=False)
cols[1].download_button("Every trial (CSV)", flat, f"results-{exp_id}.csv", "text/csv")
png = experiment_chart(ws, exp_id)
if png.exists():
    cols[2].download_button("Chart (PNG)", png.read_bytes(), f"curves-{exp_id}.png", "image/png")
