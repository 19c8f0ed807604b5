"""The evaluation steps: label-budget experiments, predictions, projections, experts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stcrl_core.pipeline.settings import config_from, given
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace


def run_budget(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """A label-budget experiment (settings: the fields of ``BudgetConfig``)."""
    from stcrl_core.eval.experiment import BudgetConfig, run_budget_experiment

    return run_budget_experiment(config_from(BudgetConfig, settings), Workspace.of(workspace),
                                 progress)  # fmt: skip


def run_predict(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Damage predictions of every building (settings: ``run``, ``probe``,
    ``features``, ``name``, ``device``, ``seed``)."""
    from stcrl_core.eval.predict import predict_damage

    progress(0, 1, "training the probe")
    meta = predict_damage(Workspace.of(workspace), **given(settings))
    progress(1, 1, "done")
    return meta


def run_predict_best(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Predictions of the model with the best validation F1 (settings: ``name``,
    ``seed``, ``device``; candidates: every embedded run x lr/mlp x post/pre+post)."""
    from stcrl_core.eval.model_selection import predict_with_best_model

    progress(0, 1, "choosing the model on a held-out part of train + tier3")
    meta = predict_with_best_model(Workspace.of(workspace), **given(settings))
    progress(1, 1, "done")
    return meta


def run_project(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """A stored 2-D projection (settings: ``run``, ``view``, ``method``, ``seed`` and the
    method's own settings; defaults from ``explore.projection.DEFAULT_PARAMS``)."""
    from stcrl_core.explore.projection import compute_projection

    _, meta = compute_projection(Workspace.of(workspace), progress=progress, **given(settings))
    return meta


def run_experts(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Expert segmentation networks (settings: the fields of ``ExpertsConfig``)."""
    from stcrl_core.methods.experts import ExpertsConfig
    from stcrl_core.methods.experts import run_experts as train_experts

    return train_experts(config_from(ExpertsConfig, settings), Workspace.of(workspace), progress)
