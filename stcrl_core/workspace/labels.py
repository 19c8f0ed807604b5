"""The analyst's labels, ``labels/``: an append-only event log and the validation samples::

    labels/events.jsonl              one JSON object per label event, in the order written
    labels/.events.jsonl.lock        the lock every append holds
    labels/samples/<id>.json         a validation sample: settings and its strata
    labels/samples/<id>.parquet      the sampled buildings: uid, row, event, stratum, order,
                                     inclusion_probability

Labels are never rewritten, only appended: a new label, a correction and an undo
are each one more event, and the current label of a building is the last event
of its ``uid``. Every append holds :func:`~stcrl_core.workspace.locks.shared_file_lock`
and is one ``write`` followed by ``fsync``, so two sessions or two imports
writing at the same moment both keep every label, and a crash can at worst cut
the last line short: the reader skips (and counts) a line that is not JSON, and
the next append starts on a fresh line. Labels are keyed by the building
``uid``, so they survive a re-ingest. A validation sample is written once,
atomically, and never changed.

An event holds ``id`` (unique), ``uid``, ``label`` (``no-damage``,
``minor-damage``, ``major-damage``, ``destroyed``, ``unsure``, ``skip``, or
null: no label, after an undo), ``time`` (UTC, ISO 8601), ``source`` (``page``,
``map``, ``explorer``, ``import``), ``strategy`` (what proposed the building, or
null), ``session``, ``user``, ``undoes`` (the id of the event an undo reverts)
and, for imports, ``file``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from stcrl_core.errors import WorkspaceError
from stcrl_core.workspace.atomic import atomic_write_json, atomic_write_parquet
from stcrl_core.workspace.locks import shared_file_lock

if TYPE_CHECKING:
    from stcrl_core.workspace.store import Workspace

EVENTS = "events.jsonl"
EVENT_FIELDS = ("id", "uid", "label", "time", "source", "strategy", "session", "user",
                "undoes", "file")  # fmt: skip


def events_path(workspace: Workspace) -> Path:
    """``labels/events.jsonl``."""
    return workspace.labels_dir / EVENTS


def samples_dir(workspace: Workspace) -> Path:
    """``labels/samples/``."""
    return workspace.labels_dir / "samples"


def labels_stamp(workspace: Workspace) -> tuple[int, int]:
    """``(size, mtime_ns)`` of the event log ((0, 0) before the first label), to key caches on."""
    path = events_path(workspace)
    if not path.exists():
        return (0, 0)
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns)


@contextlib.contextmanager
def labels_lock(workspace: Workspace) -> Iterator[None]:
    """Hold the event log's lock (``labels/.events.jsonl.lock``) around a read-then-append."""
    with shared_file_lock(events_path(workspace)):
        yield


def append_label_events(workspace: Workspace, events: list[dict[str, Any]]) -> None:
    """Append events to the log: one locked write, flushed to disk before returning.

    Args:
        workspace: The workspace.
        events: Events with the fields of :data:`EVENT_FIELDS` (missing ones are null).
    """
    if not events:
        return
    lines = "".join(
        json.dumps({k: e.get(k) for k in EVENT_FIELDS}, separators=(",", ":")) + "\n"
        for e in events
    )
    path = events_path(workspace)
    with labels_lock(workspace):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            # a crash mid-append can leave a last line without its newline: start a new one
            if size and os.pread(fd, 1, size - 1) != b"\n":
                lines = "\n" + lines
            data = lines.encode("utf-8")
            while data:
                written = os.write(fd, data)
                data = data[written:]
            os.fsync(fd)
        finally:
            os.close(fd)


def read_label_events(workspace: Workspace) -> tuple[pd.DataFrame, int]:
    """Every label event in the order written, and how many lines could not be read.

    Returns:
        ``(events, bad_lines)``: a frame with the columns of :data:`EVENT_FIELDS`
        (empty before the first label) and the count of lines that are not a
        JSON event (a cut-off last line after a crash).
    """
    path = events_path(workspace)
    rows: list[dict[str, Any]] = []
    bad = 0
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    bad += 1
                    continue
                if not isinstance(event, dict) or "uid" not in event:
                    bad += 1
                    continue
                rows.append(event)
    frame = pd.DataFrame(rows, columns=list(EVENT_FIELDS))
    return frame.astype({"uid": str}) if len(frame) else frame, bad


def sample_paths(workspace: Workspace, sample_id: str) -> tuple[Path, Path]:
    """``samples/<id>.json`` and ``samples/<id>.parquet``."""
    folder = samples_dir(workspace)
    return folder / f"{sample_id}.json", folder / f"{sample_id}.parquet"


def write_validation_sample(
    workspace: Workspace, sample_id: str, meta: dict[str, Any], table: pd.DataFrame
) -> None:
    """Write a validation sample (the table first, so a listed sample is always complete)."""
    meta_path, table_path = sample_paths(workspace, sample_id)
    atomic_write_parquet(table_path, table)
    atomic_write_json(meta_path, meta)


def list_validation_samples(workspace: Workspace) -> list[dict[str, Any]]:
    """The metadata of every stored validation sample, oldest first."""
    folder = samples_dir(workspace)
    if not folder.exists():
        return []
    metas = []
    for path in folder.glob("*.json"):
        if path.with_suffix(".parquet").exists():
            metas.append(json.loads(path.read_text(encoding="utf-8")))
    return sorted(metas, key=lambda m: (m.get("created", ""), m.get("id", "")))


def read_validation_sample(
    workspace: Workspace, sample_id: str
) -> tuple[dict[str, Any], pd.DataFrame]:
    """A stored validation sample: its metadata and its sampled buildings.

    Raises:
        WorkspaceError: If there is no such sample.
    """
    meta_path, table_path = sample_paths(workspace, sample_id)
    if not (meta_path.exists() and table_path.exists()):
        raise WorkspaceError(
            f"no validation sample {sample_id!r} in {samples_dir(workspace)}; draw one with "
            f"`stcrl suggest --workspace {workspace.path} --run RUN --strategy validation --n 200`"
        )
    return json.loads(meta_path.read_text(encoding="utf-8")), pd.read_parquet(table_path)
