"""The background-job registry, ``jobs/``::

    jobs/<id>.json       one record per job: kind, args, key, status, progress, pid, result
    jobs/<id>.log        the worker's output
    jobs/<id>.pid.json   the worker's pid, written by the starter beside the record

Every session reads the same records. Every read-modify-write of a record, and
the check-then-create of :func:`stcrl_core.jobs.start_job`, holds
:func:`registry_lock`, so two sessions starting the same job start it once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stcrl_core.workspace.atomic import atomic_write_json
from stcrl_core.workspace.locks import shared_file_lock

if TYPE_CHECKING:
    from stcrl_core.workspace.store import Workspace


def job_path(workspace: Workspace, job_id: str) -> Path:
    """``jobs/<id>.json``."""
    return workspace.jobs_dir / f"{job_id}.json"


def job_log_path(workspace: Workspace, job_id: str) -> Path:
    """``jobs/<id>.log``."""
    return workspace.jobs_dir / f"{job_id}.log"


@contextlib.contextmanager
def registry_lock(workspace: Workspace) -> Iterator[None]:
    """Hold the job registry's lock (``jobs/.registry.lock``)."""
    with shared_file_lock(workspace.jobs_dir / "registry"):
        yield


def job_ids(workspace: Workspace) -> list[str]:
    """Ids of every job record."""
    folder = workspace.jobs_dir
    if not folder.exists():
        return []
    names = [p.name[: -len(".json")] for p in folder.glob("*.json")]
    return [n for n in names if not n.endswith(".pid") and not n.startswith(".")]


def read_job_record(workspace: Workspace, job_id: str) -> dict[str, Any] | None:
    """A job's record as stored, or None if there is no such job."""
    path = job_path(workspace, job_id)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def write_job_record(workspace: Workspace, record: dict[str, Any]) -> None:
    """Write a job's record (atomically; hold :func:`registry_lock` around a read-modify-write)."""
    atomic_write_json(job_path(workspace, record["id"]), record)


def write_job_pid(workspace: Workspace, job_id: str, pid: int) -> None:
    """Record the worker's pid beside its record (before the worker writes its own)."""
    atomic_write_json(workspace.jobs_dir / f"{job_id}.pid.json", {"pid": pid})


def read_job_pid(workspace: Workspace, record: dict[str, Any]) -> int | None:
    """The worker's pid: from the record once it runs, else from the starter's side file."""
    if record.get("pid"):
        return int(record["pid"])
    side = workspace.jobs_dir / f"{record['id']}.pid.json"
    return int(json.loads(side.read_text(encoding="utf-8"))["pid"]) if side.exists() else None
