"""Damage predictions for every building, from a probe on a run's features.

The probe is trained on the labelled train + tier3 buildings, class-balanced:
every damage class contributes as many buildings as the rarest one has (the
largest balanced label budget the data allows), so predictions are not pulled
towards the majority no-damage class. It then predicts every building of the
workspace. Written to ``WS/predictions/<name>.parquet`` (``uid``, ``row``,
``pred``, ``confidence``, ``proba_0`` .. ``proba_3``) with ``<name>.json``
(settings and the test + hold scores of the probe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stcrl_core.data.budget import BudgetError, draw_trials, training_and_eval_rows
from stcrl_core.devices import resolve_device
from stcrl_core.eval.features import run_features
from stcrl_core.eval.metrics import overall_f1, per_class_scores
from stcrl_core.eval.probes import PROBES
from stcrl_core.methods.config import read_run_config
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.predictions import write_prediction


def predict_damage(
    workspace: Workspace | str | Path,
    run: str,
    probe: str = "lr",
    features: str = "pre+post",
    name: str | None = None,
    device: str = "auto",
    seed: int = 0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a balanced probe on a run's features and predict every building.

    ``extra`` goes into the metadata as it is (e.g. how the model was chosen,
    :mod:`stcrl_core.eval.model_selection`).

    Returns:
        The prediction's metadata (also written as ``<name>.json``).
    """
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {', '.join(PROBES)}, got {probe!r}")
    ws = Workspace.of(workspace)
    read_run_config(ws, run)
    name = name or f"{run}-{probe}"
    table = ws.buildings()
    damage = table["damage"].to_numpy().astype(np.int64)
    train_rows, eval_rows = training_and_eval_rows(table)
    counts = np.bincount(damage[train_rows], minlength=4)
    if counts.min() == 0:
        raise BudgetError(
            f"the probe needs labelled buildings of every damage class in train/tier3, "
            f"found {counts.tolist()} (no-damage, minor, major, destroyed) in {ws.path}; "
            "ingest with known damage (e.g. ingest-geotiff --damage-column) first"
        )
    budget = 4 * int(counts.min())
    draw = draw_trials(damage[train_rows], budget, 1, seed)
    rows = train_rows[draw.indices[0]]
    feats = run_features(ws, run, features)
    model = PROBES[probe](device=str(resolve_device(device)), random_state=seed)
    model.fit(feats[rows], damage[rows])
    proba = model.predict_proba(feats)
    pred = proba.argmax(axis=1)
    out = pd.DataFrame(
        {"uid": table["uid"], "row": table["row"], "pred": pred.astype(np.int8),
         "confidence": proba.max(axis=1).astype(np.float32)}
    )  # fmt: skip
    for c in range(4):
        out[f"proba_{c}"] = proba[:, c].astype(np.float32)
    held = len(eval_rows) > 0
    scores = per_class_scores(damage[eval_rows], pred[eval_rows]) if held else None
    meta = {
        "name": name,
        "run": run,
        "probe": probe,
        "features": features,
        "seed": seed,
        "trained_on": len(rows),
        "per_class_train": int(budget // 4),
        "eval_overall_f1": overall_f1(damage[eval_rows], pred[eval_rows]) if held else None,
        "eval_f1": scores["f1"].tolist() if held else None,
        **(extra or {}),
    }
    write_prediction(ws, name, out, meta)
    return meta
