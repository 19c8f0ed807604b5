"""Label page: label the suggested building, watch the live model and the damage estimate."""

from __future__ import annotations

import uuid

import streamlit as st

from app_pages.common import current_workspace, stamp
from app_pages.label_panels import estimate_panel, label_buttons, model_panel
from stcrl_core.errors import StcrlError
from stcrl_core.eval.features import FEATURE_MODES
from stcrl_core.labels.store import current_labels, label_counts, undo_last
from stcrl_core.labels.views import building_views
from stcrl_core.pipeline.labelling import DEFAULT_SAMPLE, SUGGEST_STRATEGIES, LabellingContext
from stcrl_core.workspace.embeddings import embedded_runs
from stcrl_core.workspace.runs import run_files

BATCH = 5  # suggestions asked for at a time (the model refits before each batch)


@st.cache_resource(show_spinner="Loading the run's features…", max_entries=4)
def labelling_context(path: str, run: str, features: str, stamps: tuple) -> LabellingContext:
    """One context (features, distance space, live model) per run and features, shared by
    sessions, so the model refits warm from one label to the next."""
    return LabellingContext(path, run, features)


ws = current_workspace()
path = str(ws.path)
st.title("Label")
st.caption(
    "Label the suggested building with its xBD class (keys 1-4), `unsure` (u) or `skip` (s); "
    "undo with z. Every label is written to the workspace at once (WS/labels/), so a reload "
    "or a server restart keeps it."
)
if "label_session" not in st.session_state:
    st.session_state["label_session"] = uuid.uuid4().hex
session = st.session_state["label_session"]
runs = embedded_runs(ws, buildings_only=True)
if not runs:
    st.info(
        f"No run with embeddings in {ws.path}: run `stcrl embed --workspace {ws.path} --run RUN`."
    )
    st.stop()
top = st.columns(4)
run = top[0].selectbox("Run (features)", runs)
features = top[1].selectbox("Features", list(FEATURE_MODES), index=1)
strategy = top[2].selectbox(
    "Strategy",
    list(SUGGEST_STRATEGIES),
    index=list(SUGGEST_STRATEGIES).index("hybrid"),
    help="random: natural class mix; uncertainty: the model's least certain, in turn from "
    "each class it predicts; diversity: typical buildings of the regions no label covers "
    "(k-means); hybrid: typical buildings of the uncertain regions (uncertainty-weighted "
    "k-means) (all start from k-means centroids while there are no labels); validation: a "
    "stratified random sample for the estimate below.",
)
events = sorted(ws.buildings()["event"].unique())
event = top[3].selectbox("Event", ["(all)", *events])
event = None if event == "(all)" else event
files = run_files(ws, run)
key = (stamp(ws.objects.buildings), stamp(files.embeddings("post")))
try:
    context = labelling_context(path, run, features, key)
except (StcrlError, ValueError) as exc:
    st.error(str(exc))
    st.stop()

labels = current_labels(ws)
queue_key = ("label_queue", run, features, strategy, event)
queue = [u for u in st.session_state.get(queue_key, []) if u not in set(labels["uid"])]
if not queue:
    seed = int(st.session_state.get("label_round", 0))
    st.session_state["label_round"] = seed + 1
    try:
        size = min(DEFAULT_SAMPLE, len(context.uids))  # of a new validation sample
        result = context.suggest(strategy, BATCH, seed=seed, event=event, labels=labels,
                                 sample_size=size)  # fmt: skip
    except (StcrlError, ValueError) as exc:
        st.error(str(exc))
        st.stop()
    queue = result["uids"]
    st.session_state["label_used"] = result["strategy"]
st.session_state[queue_key] = queue
used = st.session_state.get("label_used", strategy)


def give(uid: str, name: str) -> None:
    """Record the label (a button's callback: runs before the page reruns)."""
    from stcrl_core.labels.store import record_labels

    record_labels(path, [uid], [name], "page", strategy=used, session=session)
    st.session_state[queue_key] = [u for u in st.session_state[queue_key] if u != uid]
    st.session_state["label_last"] = f"{uid}: {name}"


def undo() -> None:
    """Undo this session's latest label still in effect."""
    event_ = undo_last(path, session)
    st.session_state["label_last"] = (
        f"undid {event_['uid']}" if event_ else "nothing of this session to undo"
    )


if not queue:
    st.success("Every building here is labelled." if strategy != "validation" else
               "The validation sample is fully labelled: see the estimate below.")  # fmt: skip
else:
    uid = queue[0]
    views = building_views(ws, uid)
    building = views["building"]
    st.subheader(f"Building {uid}")
    st.caption(
        f"{building['event']} · scene {building['scene']} · suggested by **{used}**"
        + (f" · {len(queue)} in this batch" if len(queue) > 1 else "")
    )
    cols = st.columns([1, 1, 2])
    cols[0].image(views["pre"], caption="pre-disaster", width="stretch")
    cols[1].image(views["post"], caption="post-disaster", width="stretch")
    if views["context"] is not None:
        cols[2].image(views["context"], caption="post-disaster scene around it", width="stretch")
    label_buttons(uid, give)
undo_col, last_col = st.columns([1, 4])
undo_col.button("Undo", key="undo", on_click=undo, shortcut="Z", icon=":material/undo:")
if st.session_state.get("label_last"):
    last_col.caption(f"Last: {st.session_state['label_last']}")

labels = current_labels(ws)
counts = label_counts(labels)
st.subheader("Labels so far")
metric_cols = st.columns(len(counts) + 1)
metric_cols[0].metric("labelled", f"{len(labels):,}")
for col, (name, count) in zip(metric_cols[1:], counts.items(), strict=True):
    col.metric(name, count)
model_panel(context, labels)
estimate_panel(path, run)
