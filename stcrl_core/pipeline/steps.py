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
    ``features``, ``name``, ``device``, ``seed``; ``out``: also write them to this file,
    for a GeoTIFF ingest in the footprint file's own schema, see
    :func:`stcrl_core.maps.damage.write_export`)."""
    from stcrl_core.eval.predict import predict_damage

    options = given(settings)
    out = options.pop("out", None)
    progress(0, 1, "training the probe")
    ws = Workspace.of(workspace)
    meta = _exported(ws, predict_damage(ws, **options), out)
    progress(1, 1, "done")
    return meta


def _exported(ws: Workspace, meta: dict[str, Any], out: str | Path | None) -> dict[str, Any]:
    """``meta`` of a stored prediction, written to ``out`` too when given (``meta["out"]``)."""
    if out is not None:
        from stcrl_core.maps.damage import write_export

        meta["out"] = str(write_export(ws, meta["name"], out))
    return meta


def run_predict_best(
    workspace: Workspace | str | Path,
    settings: Mapping[str, Any],
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Predictions of the model with the best validation F1 (settings: ``name``,
    ``seed``, ``device``; candidates: every embedded run x lr/mlp x post/pre+post;
    ``out``: also write them to this file, as :func:`run_predict`)."""
    from stcrl_core.eval.model_selection import predict_with_best_model

    options = given(settings)
    out = options.pop("out", None)
    progress(0, 1, "choosing the model on a held-out part of train + tier3")
    ws = Workspace.of(workspace)
    meta = _exported(ws, predict_with_best_model(ws, **options), out)
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
