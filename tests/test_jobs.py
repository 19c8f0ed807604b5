"""Background jobs: worker processes, progress, sharing, cancellation, failures."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from stcrl_core.jobs import JobError, _alive, cancel_job, list_jobs, read_job, start_job
from tests.fixture_workspaces import copy_with_run
from tests.job_waiting import wait_for_job, wait_for_job_to_start


@pytest.fixture(scope="module")
def ws(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_with_run(ingested, tmp_path_factory.mktemp("jobs") / "ws")


def test_job_runs_in_a_worker_and_reports(ws: Path) -> None:
    job_id = start_job(ws, "project", {"run": "rand", "view": "post", "method": "pca"})
    job = wait_for_job(ws, job_id)
    assert job["status"] == "done", job
    assert job["result"]["rows"] > 0 and job["pid"] != os.getpid()
    assert job["progress"]["done"] == job["progress"]["total"]
    assert next(j["id"] for j in list_jobs(ws)) == job_id
    assert (ws / "projections" / f"{job['result']['key']}.npy").exists()


def test_same_running_job_is_shared_and_can_be_cancelled(ws: Path) -> None:
    args = {"method": "stcrl", "run": "long", "epochs": 500, "batch_size": 16, "crop": 28}
    first = start_job(ws, "pretrain", args)
    second = start_job(ws, "pretrain", dict(args))
    assert first == second
    pid = wait_for_job_to_start(ws, first)["pid"]
    job = cancel_job(ws, first)
    assert job["status"] == "cancelled"
    assert not _alive(pid)  # gone (or a zombie awaiting its parent's wait)
    third = start_job(ws, "pretrain", {**args, "epochs": 1, "run": "short"})
    assert third != first


def test_failure_is_one_clear_line(ws: Path) -> None:
    job = wait_for_job(ws, start_job(ws, "predict", {"run": "ghost"}))
    assert job["status"] == "failed"
    assert "no run 'ghost'" in job["error"] and "\n" not in job["error"]
    with pytest.raises(JobError, match="unknown job kind"):
        start_job(ws, "teleport", {})


def test_dead_worker_is_noticed(ws: Path) -> None:
    job_id = start_job(
        ws, "pretrain", {"method": "stcrl", "run": "doomed", "epochs": 500, "crop": 28}
    )
    os.kill(wait_for_job_to_start(ws, job_id)["pid"], signal.SIGKILL)
    time.sleep(0.5)
    job = read_job(ws, job_id)
    assert job["status"] == "failed" and "ended unexpectedly" in job["error"]
    assert json.loads((ws / "jobs" / f"{job_id}.json").read_text())["status"] == "failed"
