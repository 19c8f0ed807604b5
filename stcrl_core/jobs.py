"""Background jobs started from the app: heavy work in a worker process.

A Streamlit rerun stops the script thread, so long work (a pretraining, an
embedding, a projection, a label-budget experiment, predictions, expert
segmentation networks, a GeoTIFF ingest) never runs there. :func:`start_job` writes a job record
to ``WS/jobs/<id>.json`` and starts a worker process in its own session
(``python -m stcrl_core.jobs run WS ID``), which survives reruns, page
switches and closed tabs. The worker reports progress into the record
(atomically, a few times a second at most); every session reads the same
records, so all see every job, and starting a job that is already queued or
running with the same settings returns the running one. :func:`cancel_job`
stops a job's process group. Each kind runs the pipeline step of the same name
(:mod:`stcrl_core.pipeline`), so a job does exactly what the command does.
Every read-modify-write of the registry holds its lock
(:func:`stcrl_core.workspace.jobs.registry_lock`). Worker code never calls ``st.*``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stcrl_core.errors import StcrlError
from stcrl_core.progress import ProgressCallback
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.jobs import (
    job_ids,
    job_log_path,
    read_job_pid,
    read_job_record,
    registry_lock,
    write_job_pid,
    write_job_record,
)

ACTIVE = ("queued", "running")
# Each kind runs the pipeline step of the same name (``stcrl_core.pipeline``).
KINDS = ("pretrain", "embed", "project", "budget", "predict", "experts", "ingest-geotiff",
         "demo-geotiff")  # fmt: skip

Step = Callable[[Workspace, Mapping[str, Any], ProgressCallback], dict[str, Any]]


class JobError(StcrlError):
    """A job cannot be started or found."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _step(kind: str) -> Step:
    """The pipeline step a job kind runs (imported in the worker only)."""
    from stcrl_core.pipeline import embed, ingest, pretrain, steps

    return {
        "ingest-geotiff": ingest.run_ingest_geotiff,
        "demo-geotiff": ingest.run_geotiff_demo,
        "pretrain": pretrain.run_pretrain,
        "embed": embed.run_embed,
        "project": steps.run_project,
        "budget": steps.run_budget,
        "predict": steps.run_predict,
        "experts": steps.run_experts,
    }[kind]


def job_key(kind: str, args: dict[str, Any]) -> str:
    """Identity of a job's work: the same kind and settings give the same key."""
    return hashlib.sha1(
        json.dumps({"kind": kind, "args": args}, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (finished, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _checked(ws: Workspace, record: dict[str, Any]) -> dict[str, Any]:
    """``record``, marked failed (under the registry lock) if its worker died unannounced."""
    pid = read_job_pid(ws, record)
    if record["status"] not in ACTIVE or not pid or _alive(pid):
        return record
    with registry_lock(ws):
        record = read_job_record(ws, record["id"]) or record
        if record["status"] in ACTIVE:
            record.update(
                status="failed", error="the worker process ended unexpectedly", finished=_now()
            )
            write_job_record(ws, record)
    return record


def read_job(workspace: Workspace | str | Path, job_id: str) -> dict[str, Any]:
    """A job's record; a job whose worker died unannounced is marked failed.

    Raises:
        JobError: If there is no such job.
    """
    ws = Workspace.of(workspace)
    record = read_job_record(ws, job_id)
    if record is None:
        raise JobError(f"no job {job_id!r} in {ws.path}")
    return _checked(ws, record)


def list_jobs(workspace: Workspace | str | Path) -> list[dict[str, Any]]:
    """Every job of the workspace, newest first."""
    ws = Workspace.of(workspace)
    jobs = [read_job(ws, n) for n in job_ids(ws)]
    return sorted(jobs, key=lambda j: j["created"], reverse=True)


def start_job(workspace: Workspace | str | Path, kind: str, args: dict[str, Any]) -> str:
    """Start ``kind`` with ``args`` in a worker process, or join the same running job.

    The check for a running job and the creation of a new one hold the job
    registry's lock, so two sessions starting the same job at once start it once.

    Returns:
        The job id.

    Raises:
        JobError: For an unknown kind.
    """
    if kind not in KINDS:
        raise JobError(f"unknown job kind {kind!r}; choose from {', '.join(KINDS)}")
    ws = Workspace.of(workspace)
    key = job_key(kind, args)
    with registry_lock(ws):
        for job in list_jobs(ws):
            if job["key"] == key and job["status"] in ACTIVE:
                return job["id"]
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{uuid.uuid4().hex[:6]}"
        record = {
            "id": job_id, "kind": kind, "args": args, "key": key, "status": "queued",
            "created": _now(), "progress": {"done": 0, "total": 0, "message": "starting"},
            "pid": None, "error": None, "result": None,
        }  # fmt: skip
        write_job_record(ws, record)
        log = open(job_log_path(ws, job_id), "w")  # noqa: SIM115 - the worker inherits it
        proc = subprocess.Popen(
            [sys.executable, "-m", "stcrl_core.jobs", "run", str(ws.path), job_id],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        # the worker owns the record; its pid goes beside it so a dead start is noticed
        write_job_pid(ws, job_id, proc.pid)
    return job_id


def cancel_job(workspace: Workspace | str | Path, job_id: str) -> dict[str, Any]:
    """Stop a queued or running job (its whole process group) and mark it cancelled."""
    ws = Workspace.of(workspace)
    record = read_job(ws, job_id)
    if record["status"] not in ACTIVE:
        return record
    pid = read_job_pid(ws, record)
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
    with registry_lock(ws):
        record = read_job_record(ws, job_id) or record
        if record["status"] in ACTIVE:
            record.update(status="cancelled", finished=_now())
            write_job_record(ws, record)
    return record


def run_worker(workspace: str, job_id: str) -> int:
    """Body of the worker process: run the job and keep its record up to date."""
    ws = Workspace.open(workspace)
    with registry_lock(ws):
        record = read_job_record(ws, job_id)
        if record is None or record["status"] not in ACTIVE:  # cancelled before it started
            return 0
        record.update(status="running", pid=os.getpid(), started=_now())
        write_job_record(ws, record)
    last = [0.0]

    def save() -> None:  # the worker owns its record; others only mark a dead one
        write_job_record(ws, record)

    def progress(done: int, total: int, message: str) -> None:
        now = time.monotonic()
        # fine-grained loops are throttled; stage-level reports (few steps) always land
        if now - last[0] < 0.3 and done < total and total > 20:
            return
        last[0] = now
        record["progress"] = {"done": int(done), "total": int(total), "message": str(message)}
        save()

    def on_term(signum: int, frame: object) -> None:
        record.update(status="cancelled", finished=_now())
        save()
        os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    try:
        result = _step(record["kind"])(ws, dict(record["args"]), progress)
    except Exception as exc:  # reported in the record, one line for the app
        traceback.print_exc()
        record.update(
            status="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0], finished=_now()
        )
        save()
        return 1
    record.update(
        status="done", finished=_now(), result=json.loads(json.dumps(result, default=str))
    )
    record["progress"]["done"] = record["progress"].get("total") or 1
    record["progress"]["total"] = record["progress"]["done"]
    save()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "run":
        print("usage: python -m stcrl_core.jobs run WORKSPACE JOB_ID", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_worker(sys.argv[2], sys.argv[3]))
