"""Choosing the map's model on validation data: never test or hold, always the best."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stcrl_core.data.budget import training_and_eval_rows
from stcrl_core.eval.model_selection import (
    Candidate,
    predict_with_best_model,
    score_candidates,
    validation_split,
)
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_write_parquet
from tests.fixture_workspaces import copy_with_run


def test_validation_split_is_stratified_and_inside_train() -> None:
    damage = np.repeat(np.arange(4), [50, 20, 10, 20])
    rows = np.arange(100)[::-1]
    fit, val = validation_split(damage, rows, 0.2, seed=3)
    assert set(fit).isdisjoint(val) and set(fit) | set(val) == set(rows)
    assert np.bincount(damage[val], minlength=4).tolist() == [10, 4, 2, 4]
    again = validation_split(damage, rows, 0.2, seed=3)
    assert np.array_equal(again[1], val)


def test_best_model_is_chosen_without_test_or_hold(ingested: Path, tmp_path: Path) -> None:
    candidates = [Candidate("rand", "lr", "post"), Candidate("rand", "lr", "pre+post"),
                  Candidate("rand", "mlp", "post")]  # fmt: skip
    ws = Workspace.open(copy_with_run(ingested, tmp_path / "ws"))  # run "rand", embedded
    scores = score_candidates(ws, candidates, seed=1, device="cpu")
    assert [s["label"] for s in scores] == [c.label for c in candidates]
    meta = predict_with_best_model(ws, candidates, seed=1, device="cpu")
    best = max(scores, key=lambda s: s["validation_f1"])
    assert meta["selection"]["chosen"] == best["label"]
    assert meta["selection"]["validation_f1"] == best["validation_f1"]
    assert meta["name"] == "best" and (ws.predictions_dir / "best.parquet").exists()
    # shuffling the test and hold labels changes nothing of the choice
    table = ws.buildings()
    _, eval_rows = training_and_eval_rows(table)
    damage = table["damage"].to_numpy().copy()
    damage[eval_rows] = np.random.default_rng(0).permutation(damage[eval_rows])
    atomic_write_parquet(ws.objects.buildings, table.assign(damage=damage))
    assert score_candidates(ws, candidates, seed=1, device="cpu") == scores
