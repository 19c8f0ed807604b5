"""Atomic artifact writes: write to a temporary file in the same directory, then
``os.replace`` it over the target, so that a crash never leaves a half-written
artifact behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it over ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.

    Args:
        path: The final location of the artifact.
        suffix: Suffix of the temporary file (defaults to the target's), for
            writers that infer the format from the name.

    Yields:
        The temporary path to write to.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.",
        suffix=suffix if suffix is not None else target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def replace_directory(new_dir: Path, target: Path) -> None:
    """Move the finished directory ``new_dir`` to ``target``, replacing any old one.

    The old directory is first renamed aside and deleted only after the new one
    is in place, so ``target`` is always either the complete old or the
    complete new version (never a mix).

    Args:
        new_dir: A complete directory on the same file system as ``target``.
        target: Where it should end up.
    """
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(new_dir, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a hidden sibling folder of ``target``; swap it into place on success.

    Half-built folders of earlier, interrupted attempts are removed first. On an
    exception the new folder is removed and ``target`` is untouched.

    Args:
        target: Where the finished folder should end up.

    Yields:
        The empty folder to build in (same file system as ``target``).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}-tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = target.with_name(f".{target.name}-tmp-{os.getpid()}-{time.time_ns()}")
    tmp.mkdir()
    try:
        yield tmp
        replace_directory(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_memmap(
    path: Path, shape: tuple[int, ...], dtype: str | np.dtype = "float32"
) -> Iterator[np.ndarray]:
    """Yield a zeroed, writable ``.npy`` memory map that appears at ``path`` when complete.

    The array is written through a memory map into a temporary file in the same
    folder (memory stays flat for large arrays) and moved into place on success.
    """
    with atomic_path(path) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        yield arr
        arr.flush()
        del arr


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as ``.npy`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        np.save(tmp, array)


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` (without its index) as Parquet to ``path`` atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
