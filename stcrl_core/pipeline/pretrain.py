"""The pretraining step: resolve a run's settings from the method registry, then train it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stcrl_core.devices import DistInfo
from stcrl_core.engine import train
from stcrl_core.methods.config import PretrainConfig, resolve_settings
from stcrl_core.methods.registry import get_method
from stcrl_core.pipeline.settings import given
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace


def resolve_pretrain(workspace: Workspace | str | Path, settings: Mapping[str, Any]) -> Any:
    """The :class:`~stcrl_core.methods.config.PretrainConfig` of a new run.

    Args:
        workspace: The workspace (read for defaults derived from other runs).
        settings: ``method`` (default ``stcrl``), ``run`` and any other setting
            given; the rest comes from the registry (the method's defaults).

    Raises:
        StcrlError: If a setting of another method is given.
        ValueError: For a bad value.
    """
    ws = Workspace.of(workspace)
    method = settings.get("method") or "stcrl"
    return PretrainConfig(**resolve_settings(ws, method, given(settings)))


def pretrain(
    config: Any,
    workspace: Workspace | str | Path,
    resume: bool = False,
    progress: ProgressCallback = no_progress,
    dist: DistInfo = DistInfo(),
) -> dict[str, Any]:
    """Train (or resume) the run ``config`` describes with its method's task.

    Returns:
        The engine's summary: epochs, final loss, seconds, device.
    """
    task = get_method(config.method).task()
    return train(task, config, Workspace.of(workspace), resume, progress, dist)


def run_pretrain(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
    dist: DistInfo = DistInfo(),
) -> dict[str, Any]:
    """The step: resolve the settings (``resume`` continues a run), then train."""
    settings = dict(settings)
    resume = bool(settings.pop("resume", False))
    ws = Workspace.of(workspace)
    return pretrain(resolve_pretrain(ws, settings), ws, resume, progress, dist)


def describe_defaults() -> str:
    """Each method's defaults that differ from the common ones, in a sentence (for the app)."""
    from stcrl_core.methods.config import COMMON_FIELDS
    from stcrl_core.methods.registry import method_names

    common = {f.name: f.default for f in COMMON_FIELDS}
    parts = [", ".join(f"{k} {v}" for k, v in common.items()
                       if k in ("arch", "batch_size", "lr", "weight_decay"))]  # fmt: skip
    for name in method_names():
        spec = get_method(name)
        if spec.defaults:
            parts.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in spec.defaults.items()))
    return "; ".join(parts)
