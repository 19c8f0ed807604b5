"""The labelling steps: suggest the next buildings, refit the live model, import, export,
estimate. The ``stcrl`` commands (``suggest``, ``labels``, ``estimate``) and the Label
page call these same functions.

A :class:`LabellingContext` holds what the steps need of one run's features: the
buildings' uids in row order, the features, their distance space (for
``diversity``, ``hybrid`` and the cold start) and the live model. The page keeps
one per run and features (``st.cache_resource``), so the model refits warm from
one label to the next; the command makes a new one each time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stcrl_core.active.strategies import STRATEGIES, Pool, distance_space, suggest
from stcrl_core.eval.features import FEATURE_MODES, run_features
from stcrl_core.labels.files import export_labels, import_labels
from stcrl_core.labels.live import LabellingModel, cross_validated_predictions, prediction_name
from stcrl_core.labels.store import current_labels, handled_mask, labelled_rows, uids_by_row
from stcrl_core.labels.validation import (
    SampleError,
    draw_validation_sample,
    latest_sample,
    sample_estimate,
    sample_members,
)
from stcrl_core.methods.config import read_run_config
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.predictions import write_prediction

SUGGEST_STRATEGIES = (*STRATEGIES, "validation")
DEFAULT_SAMPLE = 200


class LabellingContext:
    """One run's features, their distance space and the live model, for the labelling steps.

    Args:
        workspace: The workspace.
        run: A run with building embeddings.
        features: Feature mode (``pre+post`` by default).
        device: Device of the live model (``cpu``: a refit is small).
    """

    def __init__(
        self, workspace: Workspace | str | Path, run: str, features: str = "pre+post",
        device: str = "cpu",
    ) -> None:  # fmt: skip
        if features not in FEATURE_MODES:
            raise ValueError(
                f"unknown features {features!r}; choose from {', '.join(FEATURE_MODES)}"
            )
        self.ws = Workspace.of(workspace)
        read_run_config(self.ws, run)  # a clear error for a missing run
        self.run, self.features = run, features
        buildings = self.ws.buildings()
        self.uids = uids_by_row(buildings)
        self.events = np.empty(len(buildings), dtype=object)
        self.events[buildings["row"].to_numpy()] = buildings["event"].to_numpy()
        self.matrix = run_features(self.ws, run, features)
        self.model = LabellingModel(self.matrix, device=device)
        self._space: np.ndarray | None = None

    @property
    def space(self) -> np.ndarray:
        """The distance space of the features (computed on first use)."""
        if self._space is None:
            self._space = distance_space(self.matrix)
        return self._space

    @property
    def prediction(self) -> str:
        """The name of the live model's stored prediction."""
        return prediction_name(self.run, self.features)

    def refresh(self, labels: pd.DataFrame | None = None, write: bool = True) -> dict[str, Any]:
        """Refit the live model on the current labels; write its prediction when it changed.

        Returns:
            ``{"ready", "trained_on", "classes", "seconds", "refitted", "prediction"}``.
        """
        labels = current_labels(self.ws) if labels is None else labels
        rows, classes = labelled_rows(labels, self.uids)
        refitted = self.model.update(rows, classes)
        if refitted and write:
            table = self.model.prediction_table(self.uids, np.arange(len(self.uids)))
            meta = {"name": self.prediction, "run": self.run, "features": self.features,
                    "probe": "lr", "class_weight": "balanced", "model": "labelling",
                    "trained_on": self.model.trained_on, "classes": self.model.classes}  # fmt: skip
            write_prediction(self.ws, self.prediction, table, meta)
        return {"ready": self.model.ready, "trained_on": self.model.trained_on,
                "classes": self.model.classes, "seconds": self.model.seconds,
                "refitted": refitted, "prediction": self.prediction}  # fmt: skip

    def suggest(
        self, strategy: str, n: int, seed: int = 0, event: str | None = None,
        measure: str = "margin", labels: pd.DataFrame | None = None,
        sample_size: int | None = None, new_sample: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        """The next ``n`` buildings to label (never one already labelled).

        Args:
            strategy: One of :data:`SUGGEST_STRATEGIES`.
            n: How many.
            seed: Seed of the strategy (and of a new validation sample).
            event: Only buildings of this event.
            measure: ``margin`` or ``entropy`` (uncertainty, hybrid).
            labels: The current labels (read if not given).
            sample_size: Size of a new validation sample (default ``n``).
            new_sample: Draw a new validation sample even if one exists.

        Returns:
            ``{"uids", "rows", "strategy" (the one used: ``cold-start`` when the
            asked one had nothing to go on yet), "sample" (validation only), "model"}``.
        """
        if strategy not in SUGGEST_STRATEGIES:
            raise ValueError(
                f"unknown strategy {strategy!r}; choose from {', '.join(SUGGEST_STRATEGIES)}"
            )
        labels = current_labels(self.ws) if labels is None else labels
        model = self.refresh(labels)
        handled = handled_mask(labels, self.uids)
        if strategy == "validation":
            return self._validation(n, seed, event, labels, sample_size, new_sample, model)
        eligible = ~handled if event is None else ~handled & (self.events == event)
        rows, _ = labelled_rows(labels, self.uids)
        labelled = np.zeros(len(self.uids), dtype=bool)
        labelled[rows] = True
        pool = Pool(self.space, eligible, labelled, self.model.proba)
        picked = suggest(strategy, pool, n, seed, measure)
        used = strategy
        if strategy != "random" and (not labelled.any() or (
            strategy in ("uncertainty", "hybrid") and not self.model.ready)):  # fmt: skip
            used = "cold-start"
        return {"uids": [str(self.uids[r]) for r in picked], "rows": picked.tolist(),
                "strategy": used, "sample": None, "model": model}  # fmt: skip

    def _validation(
        self, n: int, seed: int, event: str | None, labels: pd.DataFrame,
        sample_size: int | None, new_sample: bool, model: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        meta = None if new_sample else latest_sample(self.ws, self.run, event)
        if meta is None:
            meta = draw_validation_sample(self.ws, self.run, self.features, sample_size or n,
                                          self.model, seed, event)  # fmt: skip
        members = sample_members(self.ws, meta["id"])
        if event is not None:
            members = members[members["event"] == event]
        todo = members[~members["uid"].isin(labels["uid"])].head(n)
        return {"uids": todo["uid"].astype(str).tolist(), "rows": todo["row"].tolist(),
                "strategy": "validation", "sample": meta, "model": model,
                "sample_left": int((~members["uid"].isin(labels["uid"])).sum())}  # fmt: skip

    def disagreements(self, labels: pd.DataFrame | None = None, folds: int = 5) -> pd.DataFrame:
        """Labelled buildings whose label differs from their cross-validated prediction.

        Returns:
            ``uid``, ``label``, ``predicted``, ``confidence``, most confident first.
        """
        from stcrl_core.labels.store import CLASS_LABELS

        labels = current_labels(self.ws) if labels is None else labels
        rows, classes = labelled_rows(labels, self.uids)
        pred, conf = cross_validated_predictions(self.matrix, rows, classes, folds)
        wrong = (pred >= 0) & (pred != classes)
        out = pd.DataFrame({
            "uid": [str(self.uids[r]) for r in rows[wrong]],
            "label": [CLASS_LABELS[c] for c in classes[wrong]],
            "predicted": [CLASS_LABELS[c] for c in pred[wrong]],
            "confidence": conf[wrong].round(3),
        })  # fmt: skip
        return out.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


def run_suggest(workspace: Workspace | str | Path, settings: dict[str, Any]) -> dict[str, Any]:
    """``stcrl suggest``: settings ``run``, ``strategy``, ``n``, ``seed``, ``features``,
    ``event``, ``measure``, ``new_sample``."""
    context = LabellingContext(workspace, settings["run"], settings.get("features") or "pre+post")
    return context.suggest(
        settings.get("strategy") or "random", int(settings.get("n") or 1),
        seed=int(settings.get("seed") or 0), event=settings.get("event"),
        measure=settings.get("measure") or "margin", new_sample=bool(settings.get("new_sample")),
    )  # fmt: skip


def run_import_labels(
    workspace: Workspace | str | Path, file: str | Path, session: str | None = None
) -> dict[str, Any]:
    """``stcrl labels import``: the import report (see :func:`import_labels`)."""
    return import_labels(workspace, file, session=session)


def run_export_labels(workspace: Workspace | str | Path, out: str | Path) -> dict[str, Any]:
    """``stcrl labels export``: ``{"file", "labels"}``."""
    return export_labels(workspace, out)


def run_estimate(
    workspace: Workspace | str | Path, run: str, event: str | None = None,
    method: str = "wilson",
) -> dict[str, Any]:  # fmt: skip
    """``stcrl estimate``: the estimate from the newest validation sample of ``run``.

    Raises:
        SampleError: If ``run`` has no validation sample.
    """
    ws = Workspace.of(workspace)
    meta = latest_sample(ws, run, event)
    if meta is None:
        raise SampleError(
            f"no validation sample of run {run!r} in {ws.labels_dir / 'samples'}; draw one with "
            f"`stcrl suggest --workspace {ws.path} --run {run} --strategy validation --n "
            f"{DEFAULT_SAMPLE}` and label its buildings"
        )
    return sample_estimate(ws, meta["id"], event, method)
