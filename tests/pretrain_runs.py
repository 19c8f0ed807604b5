"""Checks on pretraining runs in tests: their metrics, an interruption, resumed runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from stcrl_core import engine


def run_metrics(ws: Path, run: str) -> list[dict]:
    """The lines of ``runs/<run>/metrics.jsonl`` of workspace ``ws``, one per epoch."""
    return _metrics(ws / "runs" / run)


@contextmanager
def interrupted_after_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int = 1) -> Iterator[None]:
    """Inside, training stops with KeyboardInterrupt right after saving ``epoch``'s checkpoint.

    The block must raise that KeyboardInterrupt (the test fails otherwise); the checkpoint
    writer is restored on leaving it.
    """
    original = engine.save_checkpoint

    def save_then_stop(path: Path, state: dict) -> None:
        original(path, state)
        if state["epoch"] == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", save_then_stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        monkeypatch.setattr(engine, "save_checkpoint", original)


def assert_same_run(a: Path, b: Path) -> None:
    """Runs in folders ``a`` and ``b`` have the same loss at every epoch and equal weights."""
    assert [m["loss"] for m in _metrics(a)] == [m["loss"] for m in _metrics(b)]
    model_a = torch.load(a / "checkpoint.pt", weights_only=True)["model"]
    model_b = torch.load(b / "checkpoint.pt", weights_only=True)["model"]
    assert model_a.keys() == model_b.keys()
    assert all(torch.equal(model_a[k], model_b[k]) for k in model_a)


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
