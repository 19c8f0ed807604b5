"""Choosing the damage model the map shows: the best validation F1, never test or hold.

Every candidate (a run's features x a probe x a feature mode) is trained on
80% of the labelled train + tier3 buildings (class-balanced, as
:func:`~stcrl_core.eval.predict.predict_damage` trains) and scored on the
other 20%, a stratified held-out part of train + tier3. The best overall F1
there picks the model, which is then trained on all of train + tier3 and
predicts every building; test and hold stay untouched until its final score.
The selection and every candidate's validation F1 are kept in the
prediction's metadata, so the map can say which model it shows and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stcrl_core.data.budget import draw_trials, training_and_eval_rows
from stcrl_core.devices import resolve_device
from stcrl_core.eval.features import run_features
from stcrl_core.eval.metrics import overall_f1
from stcrl_core.eval.predict import predict_damage
from stcrl_core.eval.probes import PROBES
from stcrl_core.methods.config import read_run_config
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import embedded_runs

VALIDATION_SHARE = 0.2
BEST_NAME = "best"


@dataclass(frozen=True)
class Candidate:
    """A damage model: a run's features in a mode, classified by a probe."""

    run: str
    probe: str = "lr"
    features: str = "pre+post"

    @property
    def label(self) -> str:
        """Short name, e.g. ``stcrl lr pre+post``."""
        return f"{self.run} {self.probe} {self.features}"


def default_candidates(workspace: Workspace | str | Path) -> list[Candidate]:
    """Every embedded run with building features of its own x {lr, mlp} x {post, pre+post}
    (a CSP run on frozen features carries its image run's features: not a candidate twice)."""
    ws = Workspace.of(workspace)
    runs = [r for r in embedded_runs(ws, buildings_only=True)
            if not getattr(read_run_config(ws, r), "image_run", None)]  # fmt: skip
    return [Candidate(r, p, f) for r in runs for p in ("lr", "mlp") for f in ("post", "pre+post")]


def validation_split(
    damage: np.ndarray, rows: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of ``rows`` (positions) into fitting and validation rows."""
    rng = np.random.default_rng(seed)
    fit, val = [], []
    for c in range(4):
        own = rows[damage[rows] == c]
        own = own[rng.permutation(len(own))]
        k = round(share * len(own))
        val.append(own[:k])
        fit.append(own[k:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(val))


def score_candidates(
    workspace: Workspace | str | Path,
    candidates: Sequence[Candidate],
    share: float = VALIDATION_SHARE,
    seed: int = 0,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Validation overall F1 of every candidate (fitted on the rest of train + tier3).

    Raises:
        ValueError: If train + tier3 lacks a class (no balanced probe can be fitted).
    """
    ws = Workspace.of(workspace)
    table = ws.buildings()
    damage = table["damage"].to_numpy().astype(np.int64)
    train_rows, _ = training_and_eval_rows(table)
    fit_rows, val_rows = validation_split(damage, train_rows, share, seed)
    counts = np.bincount(damage[fit_rows], minlength=4)
    if counts.min() == 0:
        raise ValueError(
            f"train + tier3 of {ws.path} lacks damage class(es) "
            f"{[int(c) for c in np.flatnonzero(counts == 0)]}: no balanced model can be chosen"
        )
    draw = draw_trials(damage[fit_rows], 4 * int(counts.min()), 1, seed)
    chosen = fit_rows[draw.indices[0]]
    dev = str(resolve_device(device))
    scores = []
    for candidate in candidates:
        feats = run_features(ws, candidate.run, candidate.features)
        model = PROBES[candidate.probe](device=dev, random_state=seed)
        model.fit(feats[chosen], damage[chosen])
        pred = model.predict(feats[val_rows])
        scores.append(
            {**asdict(candidate), "label": candidate.label,
             "validation_f1": overall_f1(damage[val_rows], pred)}
        )  # fmt: skip
    return scores


def predict_with_best_model(
    workspace: Workspace | str | Path,
    candidates: Sequence[Candidate] | None = None,
    name: str = BEST_NAME,
    share: float = VALIDATION_SHARE,
    seed: int = 0,
    device: str = "auto",
) -> dict[str, Any]:
    """Choose the candidate with the best validation F1 and predict every building with it.

    Returns:
        The prediction's metadata (``WS/predictions/<name>.json``) with a
        ``selection`` block: the validation share and seed, every candidate's
        validation F1 and the chosen one.
    """
    ws = Workspace.of(workspace)
    candidates = list(candidates) if candidates is not None else default_candidates(ws)
    if not candidates:
        raise ValueError(
            f"{ws.path} has no run with building embeddings to choose from; run "
            f"`stcrl embed --workspace {ws.path} --run RUN` first"
        )
    scores = score_candidates(ws, candidates, share, seed, device)
    best = max(range(len(scores)), key=lambda i: scores[i]["validation_f1"])
    chosen = candidates[best]
    selection = {
        "rule": "best overall F1 on a stratified held-out part of train + tier3",
        "validation_share": share,
        "seed": seed,
        "candidates": scores,
        "chosen": chosen.label,
        "validation_f1": scores[best]["validation_f1"],
    }
    return predict_damage(ws, chosen.run, chosen.probe, chosen.features, name=name,
                          device=device, seed=seed, extra={"selection": selection})  # fmt: skip
