"""Trained runs: their settings and their networks, rebuilt from ``runs/<run>/``.

The model is rebuilt by the run's method (from the registry) and its
checkpoint loaded with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from stcrl_core.errors import RunError
from stcrl_core.methods.config import read_run_config
from stcrl_core.methods.registry import get_method
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.runs import load_checkpoint

if TYPE_CHECKING:
    from stcrl_core.methods.config import PretrainConfig


def load_model(
    workspace: Workspace | str | Path, run: str, device: str | torch.device = "cpu"
) -> tuple[nn.Module, PretrainConfig]:
    """The trained network of a run (eval mode, on ``device``) and the run's config.

    Raises:
        RunError: If the run or its checkpoint is missing.
    """
    ws = Workspace.of(workspace)
    config = read_run_config(ws, run)
    state = load_checkpoint(ws, run)
    task = get_method(config.method).task()
    model = task.build_model(dataclasses.replace(config, weights=None))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config


def load_encoder(
    workspace: Workspace | str | Path, run: str, device: str | torch.device = "cpu"
) -> tuple[nn.Module, PretrainConfig]:
    """The trained encoder of a run (images -> features, eval mode) and the run's config.

    Raises:
        RunError: If the run or its checkpoint is missing, or the run has no image
            encoder of its own (a CSP run on frozen features).
    """
    model, config = load_model(workspace, run, "cpu")
    if model.encoder is None:
        raise RunError(
            f"run {run!r} trained on the frozen features of run {config.image_run!r} and has "
            f"no image encoder of its own; use run {config.image_run!r} for its encoder"
        )
    return model.encoder.to(device).eval(), config
