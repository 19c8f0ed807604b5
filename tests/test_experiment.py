"""Label-budget experiments end to end on the fixture workspace."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stcrl_core.data.budget import BudgetError
from stcrl_core.errors import RunError
from stcrl_core.eval.experiment import BudgetConfig, run_budget_experiment
from stcrl_core.eval.features import combine_features
from tests.fixture_workspaces import copy_with_run


@pytest.fixture(scope="module")
def ws(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_with_run(ingested, tmp_path_factory.mktemp("exp") / "ws")


def test_experiment_writes_every_artifact_and_caches(ws: Path) -> None:
    config = BudgetConfig(runs=["rand"], probes=["lr", "mlp"], budgets=[8, 4], trials=3, cap=True)
    result = run_budget_experiment(config, ws)
    folder = Path(result["path"])
    assert not result["cached"] and result["device"] == "cpu"
    for name in ("config.json", "results.json", "curves.csv", "curves.png", "table.csv"):
        assert (folder / name).stat().st_size > 0, name
    stored = json.loads((folder / "results.json").read_text())
    assert len(stored["records"]) == 2 * 2 * 3
    record = stored["records"][0]
    assert set(record) >= {
        "run",
        "probe",
        "budget",
        "trial",
        "overall_f1",
        "precision",
        "recall",
        "f1",
    }
    assert (
        len(record["f1"]) == 4 and np.array(record["confusion"]).sum() == stored["eval_buildings"]
    )
    curves = pd.read_csv(folder / "curves.csv")
    assert sorted(curves["budget"].unique()) == [4, 8] and (curves["trials"] == 3).all()
    table = pd.read_csv(folder / "table.csv", index_col=0)
    assert list(table.index) == [
        "no-damage",
        "minor-damage",
        "major-damage",
        "destroyed",
        "overall",
    ]
    assert "±" in table.iloc[0, 0]
    again = run_budget_experiment(config, ws)
    assert again["cached"] and again["id"] == result["id"] and again["curves"] == result["curves"]


def test_heavier_probes_and_feature_modes(ws: Path) -> None:
    config = BudgetConfig(
        runs=["rand"], probes=["finetune", "supervised"], budgets=[4], trials=2, cap=True,
        finetune_epochs=1, features="pre+post",
    )  # fmt: skip
    result = run_budget_experiment(config, ws)
    runs = {(c["run"], c["probe"]) for c in result["curves"]}
    assert runs == {("rand", "finetune"), ("supervised-scratch", "supervised")}


def test_budget_a_class_cannot_fill_is_a_clear_error(ws: Path) -> None:
    with pytest.raises(BudgetError, match="minor-damage"):
        run_budget_experiment(BudgetConfig(runs=["rand"], budgets=[400], trials=1), ws)
    with pytest.raises(RunError, match="no run 'ghost'"):
        run_budget_experiment(BudgetConfig(runs=["ghost"], budgets=[4], trials=1), ws)


def test_feature_modes() -> None:
    pre = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    post = np.array([[1.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    assert combine_features(pre, post, "post").shape == (2, 2)
    assert combine_features(pre, post, "pre+post").shape == (2, 4)
    np.testing.assert_allclose(combine_features(pre, post, "post-pre"), post - pre)
    dist = combine_features(pre, post, "pair-distance")
    np.testing.assert_allclose(dist, [[0.0, 0.0], [1.0, np.sqrt(8)]], atol=1e-6)
    with pytest.raises(ValueError, match="unknown feature mode"):
        combine_features(pre, post, "mean")
