"""Shared files under concurrent writers: the manifest and the job registry.

Both are read-modify-written by several processes (pretraining runs registering
themselves, app sessions starting jobs); without a lock a write based on a stale
read drops another's update. These tests start the writers together (a barrier)
and check that no update is lost and no job starts twice.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from stcrl_core.jobs import list_jobs, start_job
from stcrl_core.workspace import Workspace
from tests.fixture_workspaces import copy_with_run
from tests.job_waiting import wait_for_job

WRITERS, RUNS_EACH = 6, 20


def _register_runs(path: str, writer: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    ws = Workspace.open(path)
    barrier.wait()
    for i in range(RUNS_EACH):
        ws.register_run({"name": f"w{writer}-r{i}", "method": "random", "arch": "resnet18"})


def test_concurrent_run_registrations_are_all_kept(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [
        ctx.Process(target=_register_runs, args=(str(ws.path), w, barrier)) for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    names = [r["name"] for r in ws.runs()]
    assert len(names) == len(set(names)) == WRITERS * RUNS_EACH


def test_concurrent_ingest_records_and_run_registrations(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    barrier = threading.Barrier(4)

    def ingest(key: str) -> None:
        barrier.wait()
        for i in range(10):
            ws.record_ingest(f"{key}-{i}", {"n": i})

    def register(prefix: str) -> None:
        barrier.wait()
        for i in range(10):
            ws.register_run({"name": f"{prefix}{i}"})

    threads = [threading.Thread(target=ingest, args=(k,)) for k in "ab"]
    threads += [threading.Thread(target=register, args=(p,)) for p in "xy"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    manifest = ws.read_manifest()
    assert len(manifest["ingests"]) == 20 and len(manifest["runs"]) == 20


@pytest.fixture(scope="module")
def job_ws(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_with_run(ingested, tmp_path_factory.mktemp("job-race") / "ws")


def test_the_same_job_started_at_once_from_many_sessions_starts_once(job_ws: Path) -> None:
    args = {"run": "rand", "view": "post", "method": "pca"}
    starters = 6
    barrier = threading.Barrier(starters)
    ids: list[str] = []

    def session() -> None:
        barrier.wait()
        ids.append(start_job(job_ws, "project", dict(args)))

    threads = [threading.Thread(target=session) for _ in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(ids) == starters and len(set(ids)) == 1
    jobs = [j for j in list_jobs(job_ws) if j["kind"] == "project"]
    assert [j["id"] for j in jobs] == [ids[0]]
    assert wait_for_job(job_ws, ids[0])["status"] == "done"
