"""Locks on the shared files of a workspace.

Two kinds, both backed by ``filelock`` (``fcntl`` locks on a hidden file beside
what they guard, released by the kernel when a process dies):

* :func:`shared_file_lock`: a blocking lock held around every read-modify-write
  of a file that several processes update (``workspace.json``, the job
  registry, later the labels), so no update is lost when two of them write at
  once;
* :func:`exclusive_work`: a non-blocking lock that makes a second ingest of the
  same store fail at once with a clear message instead of waiting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from stcrl_core.errors import WorkspaceError

# A writer holds a shared-file lock for milliseconds; a minute means something is stuck.
LOCK_TIMEOUT_S = 60.0


def lock_path(path: Path) -> Path:
    """The hidden lock file that guards ``path``: ``.<name>.lock`` in the same folder."""
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def shared_file_lock(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock of a shared file for one read-modify-write.

    Re-entrant within a thread (one lock object per file), so a locked update
    may call another one; other threads and processes wait.

    Args:
        path: The shared file (it need not exist yet).
        timeout: Seconds to wait for another process's update.

    Raises:
        WorkspaceError: If the lock is not free within ``timeout``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(path).resolve(), is_singleton=True)
    try:
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise WorkspaceError(
            f"{path} has been locked by another process for {timeout:.0f} s; if no stcrl "
            f"process is running, delete {lock_path(path)}"
        ) from exc
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def exclusive_work(folder: Path, name: str, what: str) -> Iterator[None]:
    """Run one ``what`` at a time in ``folder``; a second one fails at once.

    Args:
        folder: The workspace folder.
        name: The lock's name (``.<name>.lock``).
        what: The work, named in the error (e.g. ``"ingest"``).

    Raises:
        WorkspaceError: If another process is doing the same work there.
    """
    lock = FileLock(folder / f".{name}.lock")
    try:
        lock.acquire(blocking=False)
    except Timeout as exc:
        raise WorkspaceError(
            f"another {what} is running in {folder}; wait for it to finish"
        ) from exc
    try:
        yield
    finally:
        lock.release()
