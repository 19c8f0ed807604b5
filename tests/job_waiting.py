"""Wait for background jobs (``stcrl_core.jobs``) in tests, with a deadline.

Each wait polls the job files and fails the test with the last state it saw when the
deadline passes, instead of hanging until pytest's own timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from stcrl_core.jobs import list_jobs, read_job

ACTIVE = ("queued", "running")

T = TypeVar("T")


def wait_for_job(ws: Path, job_id: str, timeout: float = 120) -> dict:
    """Wait until job ``job_id`` has finished (done, failed or cancelled) and return it."""
    return _poll(lambda: read_job(ws, job_id), lambda job: job["status"] not in ACTIVE, timeout)


def wait_for_job_to_start(ws: Path, job_id: str, timeout: float = 60) -> dict:
    """Wait until job ``job_id`` is running (its worker has started) and return it."""
    return _poll(lambda: read_job(ws, job_id), lambda job: job["status"] == "running", timeout)


def wait_for_jobs(ws: Path, kind: str | None = None, timeout: float = 120) -> list[dict]:
    """Wait until there is a job (of ``kind``, or of any kind) and none of them is active.

    Returns:
        Those jobs, newest first (as ``list_jobs`` gives them).
    """

    def jobs() -> list[dict]:
        return [j for j in list_jobs(ws) if kind is None or j["kind"] == kind]

    return _poll(jobs, lambda js: bool(js) and all(j["status"] not in ACTIVE for j in js), timeout)


def _poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        state = read()
        if done(state):
            return state
        assert time.monotonic() < deadline, f"still waiting after {timeout} s: {state}"
        time.sleep(0.2)
