"""Background jobs started from the app: heavy work in a worker process.

A Streamlit rerun stops the script thread, so long work (a pretraining, an
embedding, a projection, a label-budget experiment, predictions, expert
segmentation networks) never runs there. :func:`start_job` writes a job record
to ``WS/jobs/<id>.json`` and starts a worker process in its own session
(``python -m stcrl_core.jobs run WS ID``), which survives reruns, page
switches and closed tabs. The worker reports progress into the record
(atomically, a few times a second at most); every session reads the same
records, so all see every job, and starting a job that is already queued or
running with the same settings returns the running one. :func:`cancel_job`
stops a job's process group. Worker code never calls ``st.*``.
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
from pathlib import Path
from typing import Any

from stcrl_core.atomic import atomic_write_json
from stcrl_core.errors import StcrlError
from stcrl_core.workspace import Workspace

ACTIVE = ("queued", "running")


class JobError(StcrlError):
    """A job cannot be started or found."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _run_pretrain(ws: str, args: dict, progress) -> dict:
    from stcrl_core.engine import PretrainConfig, pretrain
    from stcrl_core.pretrain_defaults import pretrain_defaults

    resume = bool(args.pop("resume", False))
    args = pretrain_defaults(args["method"], ws, args.get("image_run")) | args
    return pretrain(PretrainConfig(**args), ws, resume=resume, progress=progress)


def _run_experts(ws: str, args: dict, progress) -> dict:
    from stcrl_core.methods.experts import ExpertsConfig, run_experts

    return run_experts(ExpertsConfig(**args), ws, progress)


def _run_embed(ws: str, args: dict, progress) -> dict:
    from stcrl_core.embeddings import embed_run

    return embed_run(ws, progress=progress, **args)


def _run_project(ws: str, args: dict, progress) -> dict:
    from stcrl_core.explore.projection import compute_projection

    _, meta = compute_projection(ws, progress=progress, **args)
    return meta


def _run_budget(ws: str, args: dict, progress) -> dict:
    from stcrl_core.eval.experiment import BudgetConfig, run_budget_experiment

    return run_budget_experiment(BudgetConfig(**args), ws, progress)


def _run_predict(ws: str, args: dict, progress) -> dict:
    from stcrl_core.eval.predict import predict_damage

    progress(0, 1, "training the probe")
    meta = predict_damage(ws, **args)
    progress(1, 1, "done")
    return meta


KINDS = {
    "pretrain": _run_pretrain,
    "embed": _run_embed,
    "project": _run_project,
    "budget": _run_budget,
    "predict": _run_predict,
    "experts": _run_experts,
}


def _jobs_dir(workspace: str | Path) -> Path:
    return Workspace.open(workspace).path / "jobs"


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


def read_job(workspace: str | Path, job_id: str) -> dict[str, Any]:
    """A job's record; a job whose worker died unannounced is marked failed.

    Raises:
        JobError: If there is no such job.
    """
    path = _jobs_dir(workspace) / f"{job_id}.json"
    if not path.exists():
        raise JobError(f"no job {job_id!r} in {Path(workspace)}")
    record = json.loads(path.read_text())
    pid = _pid(path.parent, record)
    if record["status"] in ACTIVE and pid and not _alive(pid):
        record.update(
            status="failed", error="the worker process ended unexpectedly", finished=_now()
        )
        atomic_write_json(path, record)
    return record


def list_jobs(workspace: str | Path) -> list[dict[str, Any]]:
    """Every job of the workspace, newest first."""
    folder = _jobs_dir(workspace)
    if not folder.exists():
        return []
    names = [p.name[: -len(".json")] for p in folder.glob("*.json")]
    jobs = [
        read_job(workspace, n) for n in names if not n.endswith(".pid") and not n.startswith(".")
    ]
    return sorted(jobs, key=lambda j: j["created"], reverse=True)


def start_job(workspace: str | Path, kind: str, args: dict[str, Any]) -> str:
    """Start ``kind`` with ``args`` in a worker process, or join the same running job.

    Returns:
        The job id.

    Raises:
        JobError: For an unknown kind.
    """
    if kind not in KINDS:
        raise JobError(f"unknown job kind {kind!r}; choose from {', '.join(KINDS)}")
    ws = Workspace.open(workspace)
    key = job_key(kind, args)
    for job in list_jobs(ws.path):
        if job["key"] == key and job["status"] in ACTIVE:
            return job["id"]
    job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{uuid.uuid4().hex[:6]}"
    folder = ws.path / "jobs"
    folder.mkdir(exist_ok=True)
    record = {
        "id": job_id, "kind": kind, "args": args, "key": key, "status": "queued",
        "created": _now(), "progress": {"done": 0, "total": 0, "message": "starting"},
        "pid": None, "error": None, "result": None,
    }  # fmt: skip
    atomic_write_json(folder / f"{job_id}.json", record)
    log = open(folder / f"{job_id}.log", "w")  # noqa: SIM115 - the worker inherits it
    proc = subprocess.Popen(
        [sys.executable, "-m", "stcrl_core.jobs", "run", str(ws.path), job_id],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    log.close()
    # the worker owns the record; its pid goes beside it so a dead start is noticed
    atomic_write_json(folder / f"{job_id}.pid.json", {"pid": proc.pid})
    return job_id


def _pid(folder: Path, record: dict[str, Any]) -> int | None:
    if record.get("pid"):
        return int(record["pid"])
    side = folder / f"{record['id']}.pid.json"
    return int(json.loads(side.read_text())["pid"]) if side.exists() else None


def cancel_job(workspace: str | Path, job_id: str) -> dict[str, Any]:
    """Stop a queued or running job (its whole process group) and mark it cancelled."""
    record = read_job(workspace, job_id)
    if record["status"] not in ACTIVE:
        return record
    pid = _pid(_jobs_dir(workspace), record)
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
    record = json.loads((_jobs_dir(workspace) / f"{job_id}.json").read_text())
    if record["status"] in ACTIVE:
        record.update(status="cancelled", finished=_now())
        atomic_write_json(_jobs_dir(workspace) / f"{job_id}.json", record)
    return record


def run_worker(workspace: str, job_id: str) -> int:
    """Body of the worker process: run the job and keep its record up to date."""
    path = Path(workspace) / "jobs" / f"{job_id}.json"
    record = json.loads(path.read_text())
    record.update(status="running", pid=os.getpid(), started=_now())
    atomic_write_json(path, record)
    last = [0.0]

    def progress(done: int, total: int, message: str) -> None:
        now = time.monotonic()
        # fine-grained loops are throttled; stage-level reports (few steps) always land
        if now - last[0] < 0.3 and done < total and total > 20:
            return
        last[0] = now
        record["progress"] = {"done": int(done), "total": int(total), "message": str(message)}
        atomic_write_json(path, record)

    def on_term(signum: int, frame: object) -> None:
        record.update(status="cancelled", finished=_now())
        atomic_write_json(path, record)
        os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    try:
        result = KINDS[record["kind"]](workspace, dict(record["args"]), progress)
    except Exception as exc:  # reported in the record, one line for the app
        traceback.print_exc()
        record.update(
            status="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0], finished=_now()
        )
        atomic_write_json(path, record)
        return 1
    record.update(
        status="done", finished=_now(), result=json.loads(json.dumps(result, default=str))
    )
    record["progress"]["done"] = record["progress"].get("total") or 1
    record["progress"]["total"] = record["progress"]["done"]
    atomic_write_json(path, record)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "run":
        print("usage: python -m stcrl_core.jobs run WORKSPACE JOB_ID", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_worker(sys.argv[2], sys.argv[3]))
