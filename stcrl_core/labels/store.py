"""The analyst's labels: record, read the current ones, undo, count.

Every write is one more event in the workspace's append-only log
(:mod:`stcrl_core.workspace.labels`); nothing is ever overwritten, so labels
from two sessions or two imports at once are all kept, and the current label of
a building is the last event of its ``uid``. The labels are the analyst's,
separate from the xBD ground truth (``damage`` in ``buildings.parquet``): a
workspace without ground truth labels the same way.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from stcrl_core.errors import StcrlError
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.labels import append_label_events, labels_lock, read_label_events

CLASS_LABELS = ("no-damage", "minor-damage", "major-damage", "destroyed")
LABELS = (*CLASS_LABELS, "unsure", "skip")
SOURCES = ("page", "map", "explorer", "import")
NOT_A_CLASS = -1  # ``damage`` of an unsure or skipped building in :func:`current_labels`


class LabelError(StcrlError):
    """A label cannot be recorded or undone as asked."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def label_code(label: str | None) -> int:
    """0..3 for a class, :data:`NOT_A_CLASS` for unsure, skip or no label."""
    return CLASS_LABELS.index(label) if label in CLASS_LABELS else NOT_A_CLASS


def record_labels(
    workspace: Workspace | str | Path,
    uids: Sequence[str],
    labels: Sequence[str] | str,
    source: str,
    strategy: str | None = None,
    session: str | None = None,
    user: str | None = None,
    file: str | None = None,
) -> list[dict]:
    """Record labels of buildings (one event each, appended in one locked write).

    Args:
        workspace: The workspace.
        uids: Building uids.
        labels: One label for all, or one per uid: a name of :data:`LABELS`.
        source: Where the label was given, one of :data:`SOURCES`.
        strategy: The strategy that proposed the building(s), if any.
        session: The browser session or process that labelled.
        user: Who labelled, if known.
        file: The imported file, for ``source="import"``.

    Returns:
        The events written.

    Raises:
        LabelError: For an unknown label or source, or a length mismatch.
    """
    ws = Workspace.of(workspace)
    names = [labels] * len(uids) if isinstance(labels, str) else list(labels)
    if len(names) != len(uids):
        raise LabelError(f"got {len(uids)} uids but {len(names)} labels")
    bad = sorted({n for n in names if n not in LABELS})
    if bad:
        raise LabelError(f"unknown label(s) {bad}; use one of {', '.join(LABELS)}")
    if source not in SOURCES:
        raise LabelError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    time = _now()
    events = [
        {"id": uuid.uuid4().hex, "uid": str(uid), "label": name, "time": time, "source": source,
         "strategy": strategy, "session": session, "user": user, "file": file}
        for uid, name in zip(uids, names, strict=True)
    ]  # fmt: skip
    append_label_events(ws, events)
    return events


def label_events(workspace: Workspace | str | Path) -> pd.DataFrame:
    """Every label event in the order written (see :mod:`stcrl_core.workspace.labels`)."""
    return read_label_events(Workspace.of(workspace))[0]


def current_labels(
    workspace: Workspace | str | Path, events: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The current label of every labelled building: the last event of its uid.

    Buildings whose last event is an undo back to no label are left out.

    Returns:
        One row per uid: ``uid``, ``label``, ``damage`` (0..3, or
        :data:`NOT_A_CLASS` for unsure and skip), ``time``, ``source``,
        ``strategy``, ``session``, ``user``, in the order last labelled.
    """
    events = label_events(workspace) if events is None else events
    cols = ["uid", "label", "damage", "time", "source", "strategy", "session", "user"]
    if events.empty:
        return pd.DataFrame(columns=cols).astype({"damage": np.int8})
    last = events.drop_duplicates("uid", keep="last")
    last = last[last["label"].notna()].copy()
    last["damage"] = np.array([label_code(x) for x in last["label"]], dtype=np.int8)
    return last[cols].reset_index(drop=True)


def _undoable(events: pd.DataFrame, session: str) -> pd.Series | None:
    """The session's latest label still in effect: no one labelled its building since
    (or whatever came since was undone)."""
    undone = set(events["undoes"].dropna())
    given = events["undoes"].isna()
    mine = events[(events["session"] == session) & given & ~events["id"].isin(undone)]
    for position in mine.index[::-1]:
        target = events.loc[position]
        later = events.loc[position + 1 :]
        later = later[(later["uid"] == target["uid"]) & given.loc[position + 1 :]]
        if later["id"].isin(undone).all():  # nothing since, or only what was undone
            return target
    return None


def undo_last(workspace: Workspace | str | Path, session: str) -> dict | None:
    """Undo the latest label this session gave that is still in effect.

    The undo is one more event that restores the building's previous label (or
    no label). A label whose building someone else has labelled since is left
    alone (undoing it would overwrite theirs); the undo goes to the session's
    label before it. The read and the append hold the labels' lock, so two
    undos at once never undo the same label twice.

    Returns:
        The undo event, or None when the session has nothing left to undo.
    """
    ws = Workspace.of(workspace)
    with labels_lock(ws):
        events = label_events(ws)
        target = None if events.empty else _undoable(events, session)
        if target is None:
            return None
        position = int(target.name)
        before = events.loc[: position - 1]
        before = before[before["uid"] == target["uid"]]
        previous = before.iloc[-1]["label"] if len(before) else None
        event = {"id": uuid.uuid4().hex, "uid": target["uid"], "label": previous,
                 "time": _now(), "source": target["source"], "strategy": target["strategy"],
                 "session": session, "user": target["user"], "undoes": target["id"]}  # fmt: skip
        append_label_events(ws, [event])
    return event


def label_counts(labels: pd.DataFrame) -> dict[str, int]:
    """How many buildings carry each label (every name of :data:`LABELS`, 0 if none)."""
    counts = labels["label"].value_counts() if len(labels) else pd.Series(dtype=int)
    return {name: int(counts.get(name, 0)) for name in LABELS}


def labelled_rows(labels: pd.DataFrame, uids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the buildings labelled with a class, and their classes.

    Args:
        labels: :func:`current_labels`.
        uids: The buildings' uids in row order (``uids[i]`` is the building with ``row == i``).

    Returns:
        ``(rows, classes)``, int64 arrays; labels of uids not among ``uids``
        (buildings no longer in the workspace) are left out.
    """
    classes = labels[labels["damage"] >= 0]
    position = pd.Series(np.arange(len(uids)), index=pd.Index(list(uids)))
    known = classes[classes["uid"].isin(position.index)]
    rows = position.loc[known["uid"]].to_numpy().astype(np.int64)
    return rows, known["damage"].to_numpy().astype(np.int64)


def handled_mask(labels: pd.DataFrame, uids: Sequence[str]) -> np.ndarray:
    """Which buildings (in the order of ``uids``) carry any label, unsure and skip included."""
    return np.isin(np.asarray(uids, dtype=object), labels["uid"].to_numpy(dtype=object))


def uids_by_row(buildings: pd.DataFrame) -> np.ndarray:
    """The uid of every building row: ``out[i]`` is the uid of the building with ``row == i``."""
    out = np.empty(len(buildings), dtype=object)
    out[buildings["row"].to_numpy()] = buildings["uid"].to_numpy()
    return out
