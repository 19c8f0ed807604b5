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
from stcrl_core.workspace import Workspace
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


def test_strategies_give_one_curve_each(ws: Path) -> None:
    strategies = ["random-balanced", "random", "uncertainty", "diversity", "hybrid"]
    config = BudgetConfig(runs=["rand"], probes=["lr"], budgets=[8, 16], trials=2, cap=True,
                          strategies=strategies, active_start=4, active_step=4)  # fmt: skip
    result = run_budget_experiment(config, ws)
    curves = pd.read_csv(Path(result["path"]) / "curves.csv")
    assert list(curves.columns[:4]) == ["run", "probe", "strategy", "budget"]
    assert sorted(curves["strategy"].unique()) == sorted(strategies)
    assert (curves.groupby("strategy").size() == 2).all()
    stored = json.loads((Path(result["path"]) / "results.json").read_text())
    assert {r["strategy"] for r in stored["records"]} == set(strategies)
    table = pd.read_csv(Path(result["path"]) / "table.csv", index_col=0)
    assert any("hybrid" in c for c in table.columns)


def test_active_selections_are_reproducible_and_never_repeat(ws: Path) -> None:
    from stcrl_core.eval.active_budget import random_draws, simulate_active

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(np.int64) + 2 * (X[:, 1] > 1)
    for strategy in ("uncertainty", "diversity", "hybrid"):
        first = simulate_active(strategy, X, y, [10, 30], trials=3, seed=1, start=6, step=5)
        again = simulate_active(strategy, X, y, [10, 30], trials=3, seed=1, start=6, step=5)
        assert first[30].shape == (3, 30)
        np.testing.assert_array_equal(first[30], again[30])
        np.testing.assert_array_equal(first[30][:, :10], first[10])  # nested budgets
        assert all(len(set(row.tolist())) == 30 for row in first[30])
    draws = random_draws(120, [10, 30], trials=2, seed=0)
    np.testing.assert_array_equal(draws[30][:, :10], draws[10])


def test_experiments_written_before_strategies_still_open(ws: Path) -> None:
    from stcrl_core.eval.budget_views import curve_figure, per_class_table
    from stcrl_core.eval.experiment import experiment_id

    config = BudgetConfig(runs=["rand"], probes=["lr"], budgets=[4], trials=2, cap=True)
    result = run_budget_experiment(config, ws)
    stored = json.loads((Path(result["path"]) / "results.json").read_text())
    for item in stored["records"] + stored["curves"]:
        item.pop("strategy")  # as written before strategies existed
    records = pd.DataFrame(stored["records"])
    curves = pd.DataFrame(stored["curves"]).assign(experiment=result["id"])
    assert per_class_table(records, [4])["strategy"].tolist() == ["random-balanced"]
    assert len(curve_figure(curves).data) == 2
    # the default strategy keeps the ids of earlier experiments (the key has no new fields)
    import dataclasses
    import hashlib

    key = {k: v for k, v in dataclasses.asdict(config).items()
           if k not in ("device", "strategies", "active_start", "active_step")}  # fmt: skip
    _, inputs = experiment_id(config, Workspace.open(ws))
    from stcrl_core.eval.probes import PROBES_VERSION

    old = hashlib.sha1(
        json.dumps(
            {"config": key, "inputs": inputs, "probes_version": PROBES_VERSION}, sort_keys=True
        ).encode()
    ).hexdigest()[:12]
    assert result["id"] == old


def test_changed_strategies_give_active_experiments_a_new_id(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stcrl_core.eval import experiment

    workspace = Workspace.open(ws)
    active = BudgetConfig(runs=["rand"], budgets=[8], strategies=["random", "diversity"])
    plain = BudgetConfig(runs=["rand"], budgets=[8], strategies=["random-balanced", "random"])
    before = [experiment.experiment_id(c, workspace)[0] for c in (active, plain)]
    monkeypatch.setattr(experiment, "STRATEGIES_VERSION", experiment.STRATEGIES_VERSION + 1)
    after = [experiment.experiment_id(c, workspace)[0] for c in (active, plain)]
    assert after[0] != before[0]  # a stored result of the old strategies is not reused
    assert after[1] == before[1]  # without an active strategy nothing changed


def test_bad_strategies_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        BudgetConfig(runs=["rand"], strategies=["greedy"])
    with pytest.raises(ValueError, match="supervised probe"):
        BudgetConfig(runs=["rand"], probes=["supervised"], strategies=["uncertainty"])
