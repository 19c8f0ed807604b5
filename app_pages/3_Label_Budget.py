"""Label-budget page: run damage-probe experiments on demand and compare F1 curves."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app_pages.common import current_workspace
from app_pages.jobs_panel import show_job_progress
from stcrl_core.embeddings import embedded_runs
from stcrl_core.engine import resolve_device
from stcrl_core.errors import StcrlError
from stcrl_core.eval.experiment import PROBE_KINDS
from stcrl_core.eval.features import FEATURE_MODES
from stcrl_core.eval.metrics import DAMAGE_CLASS_NAMES
from stcrl_core.jobs import read_job, start_job

# Seconds per trial, per labelled building, measured on a 2-core CPU
# (benchmarks/bench_probes.py, bench_pretrain.py); a GPU is far faster.
COST_PER_LABEL = {"lr": 1e-5, "mlp": 1e-5, "finetune": 0.13, "supervised": 0.13}


@st.cache_data(show_spinner=False, max_entries=16)
def load_results(path: str, exp_id: str, mtime: float) -> dict:
    return json.loads((current_experiments_dir(path) / exp_id / "results.json").read_text())


def current_experiments_dir(path: str):
    from pathlib import Path

    return Path(path) / "experiments"


def estimate_seconds(
    probes: list[str], budgets: list[int], trials: int, runs: int, epochs: int
) -> float:
    total = 0.0
    for probe in probes:
        per = COST_PER_LABEL[probe] * (epochs if probe in ("finetune", "supervised") else 1)
        copies = 1 if probe == "supervised" else max(runs, 1)
        total += copies * trials * sum(budgets) * per + copies * len(budgets) * 0.05
    return total


def curve_figure(curves: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for (label, run, probe), part in curves.groupby(["experiment", "run", "probe"], sort=True):
        part = part.sort_values("budget")
        name = f"{run} · {probe}" + (f" ({label})" if curves["experiment"].nunique() > 1 else "")
        upper, lower = part["mean"] + part["std"], part["mean"] - part["std"]
        fig.add_trace(
            go.Scatter(
                x=list(part["budget"]) + list(part["budget"])[::-1],
                y=list(upper) + list(lower)[::-1],
                fill="toself",
                opacity=0.15,
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(go.Scatter(x=part["budget"], y=part["mean"], mode="lines+markers", name=name))
    fig.update_layout(
        xaxis={
            "title": "labelled training buildings (class-balanced)",
            "type": "log",
            "tickvals": sorted(curves["budget"].unique().tolist()),
        },
        yaxis={"title": "overall F1 (harmonic mean of 4 classes)"},
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


ws = current_workspace()
path = str(ws.path)
st.title("Label budget")
device = resolve_device("auto")
st.caption(
    f"Probes run on **{device.type.upper()}**" + (" (no GPU found)" if device.type == "cpu" else "")
)
runs = embedded_runs(ws.path, buildings_only=True)  # not patch runs

with st.form("budget-form"):
    cols = st.columns(3)
    # RUN+loc: a CSP run's image features with its location prior, on the same trials
    located = [f"{r}+loc" for r in runs if (ws.runs_dir / r / "embeddings_loc.npy").exists()]
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
    accept_wait = st.checkbox("I accept a long wait for fine-tune / supervised on the CPU")
    submitted = st.form_submit_button("Run experiment")

try:
    budgets = sorted({int(b) for b in budgets_text.split(",") if b.strip()})
except ValueError:
    st.error(f"Budgets must be comma-separated whole numbers, got {budgets_text!r}.")
    st.stop()
estimate = estimate_seconds(probes, budgets, trials, len(chosen_runs), int(epochs))
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

folder = current_experiments_dir(path)
stored = sorted(folder.glob("*/results.json"), key=lambda p: p.stat().st_mtime, reverse=True)
if not stored:
    st.info("No experiment yet: run one above (or with `stcrl budget`).")
    st.stop()
ids = [p.parent.name for p in stored]
default = st.session_state.get("budget_experiment", ids[0])
exp_id = st.selectbox("Experiment", ids, index=ids.index(default) if default in ids else 0)
overlay = st.multiselect("Overlay earlier experiments", [i for i in ids if i != exp_id])
frames = []
for i in [exp_id, *overlay]:
    result = load_results(path, i, (folder / i / "results.json").stat().st_mtime)
    curves = pd.DataFrame(result["curves"])
    curves["experiment"] = i
    frames.append(curves)
curves = pd.concat(frames, ignore_index=True)
result = load_results(path, exp_id, (folder / exp_id / "results.json").stat().st_mtime)
config = result["config"]
st.caption(
    f"{', '.join(config['runs']) or 'supervised only'} · {config['features']} features · "
    f"{config['trials']} trials · evaluated on {result['eval_buildings']} test+hold buildings · "
    f"ran on {result['device']}"
)
st.plotly_chart(curve_figure(curves), key="curves")

records = pd.DataFrame(result["records"])
st.subheader("Per-class F1")
table_budgets = config.get("table_budgets") or [min(config["budgets"]), max(config["budgets"])]
rows = []
for (run, probe, budget), part in records.groupby(["run", "probe", "budget"]):
    if budget not in table_budgets:
        continue
    f1 = pd.DataFrame(part["f1"].tolist(), columns=list(DAMAGE_CLASS_NAMES))
    row = {"run": run, "probe": probe, "budget": budget}
    for name in DAMAGE_CLASS_NAMES:
        row[name] = f"{f1[name].mean():.3f} ± {f1[name].std(ddof=0):.3f}"
    row["overall"] = f"{part['overall_f1'].mean():.3f} ± {part['overall_f1'].std(ddof=0):.3f}"
    rows.append(row)
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.subheader("Confusion matrix")
cols = st.columns(3)
run = cols[0].selectbox("Run", sorted(records["run"].unique()))
probe = cols[1].selectbox("Probe", sorted(records[records["run"] == run]["probe"].unique()))
budget = cols[2].selectbox("Budget", sorted(records["budget"].unique()))
part = records[
    (records["run"] == run) & (records["probe"] == probe) & (records["budget"] == budget)
]
if len(part):
    matrix = sum(pd.DataFrame(c).to_numpy() for c in part["confusion"])
    names = list(DAMAGE_CLASS_NAMES)
    st.dataframe(
        pd.DataFrame(
            matrix, index=[f"true {n}" for n in names], columns=[f"pred {n}" for n in names]
        ),
        width="stretch",
    )
    st.caption(f"Summed over {len(part)} trials.")

st.subheader("Download")
cols = st.columns(3)
cols[0].download_button(
    "Curves (CSV)", curves.to_csv(index=False), f"curves-{exp_id}.csv", "text/csv"
)
flat = records.drop(columns=["confusion"]).to_csv(index=False)
cols[1].download_button("Every trial (CSV)", flat, f"results-{exp_id}.csv", "text/csv")
png = folder / exp_id / "curves.png"
if png.exists():
    cols[2].download_button("Chart (PNG)", png.read_bytes(), f"curves-{exp_id}.png", "image/png")
