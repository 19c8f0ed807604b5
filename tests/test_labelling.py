"""The labelling steps end to end: suggest, import, export, estimate (CLI and library)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from stcrl_core.cli import main
from stcrl_core.labels.store import current_labels, record_labels
from stcrl_core.pipeline.labelling import LabellingContext, run_estimate
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_write_parquet
from stcrl_core.workspace.labels import list_validation_samples, read_validation_sample
from stcrl_core.workspace.predictions import read_prediction
from tests.fixture_workspaces import copy_with_run

NAMES = ["no-damage", "minor-damage", "major-damage", "destroyed"]


def stcrl(*args: str) -> SimpleNamespace:
    """``stcrl ARGS`` in this process (the command's own process is tested in test_cli)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture(scope="module")
def base(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_with_run(ingested, tmp_path_factory.mktemp("labelling") / "ws")


@pytest.fixture()
def ws(base: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(base, tmp_path / "ws"))


def _truth_csv(ws: Path, uids: list[str], path: Path) -> Path:
    damage = Workspace.open(ws).buildings().set_index("uid")["damage"]
    # an un-classified building is labelled no-damage, as the census test does
    labels = [max(int(damage[u]), 0) for u in uids]
    pd.DataFrame({"uid": uids, "damage": labels}).to_csv(path, index=False)
    return path


def test_suggest_import_suggest_never_repeats_a_label(ws: Path, tmp_path: Path) -> None:
    first = stcrl("suggest", "--workspace", str(ws), "--run", "rand", "--strategy", "uncertainty",
                  "--n", "12")  # fmt: skip
    assert first.returncode == 0, first.stderr
    uids = first.stdout.split()
    assert len(uids) == 12 == len(set(uids)) and "cold-start" in first.stderr
    done = stcrl("labels", "import", "--workspace", str(ws), "--file",
                 str(_truth_csv(ws, uids, tmp_path / "l.csv")))  # fmt: skip
    assert done.returncode == 0 and "imported 12 of 12 rows" in done.stdout
    for strategy in ("uncertainty", "diversity", "hybrid", "random"):
        out = stcrl("suggest", "--workspace", str(ws), "--run", "rand", "--strategy", strategy,
                    "--n", "8", "--seed", "3")  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert len(out.stdout.split()) == 8 and not set(out.stdout.split()) & set(uids)
    prediction = read_prediction(Workspace.open(ws), "labelling-rand-pre+post")
    assert len(prediction) == Workspace.open(ws).building_count()
    assert prediction["uncertainty"].between(0, 1).all()


def test_validation_sample_and_estimate(ws: Path, tmp_path: Path) -> None:
    fail = stcrl("estimate", "--workspace", str(ws), "--run", "rand")
    assert fail.returncode == 1
    assert fail.stderr.count("\n") == 1 and "--strategy validation" in fail.stderr
    record_labels(ws, _first_of_each_class(ws), NAMES, "page")  # a model to stratify with
    out = stcrl("suggest", "--workspace", str(ws), "--run", "rand", "--strategy", "validation",
                "--n", "60", "--seed", "5")  # fmt: skip
    assert out.returncode == 0, out.stderr
    sample = list_validation_samples(Workspace.open(ws))[-1]
    meta, table = read_validation_sample(Workspace.open(ws), sample["id"])
    assert meta["n"] == 60 and meta["stratified_by"] == "event and predicted class"
    assert set(table.columns) >= {"uid", "stratum", "inclusion_probability", "order"}
    suggested = out.stdout.split()
    assert set(suggested) == set(table["uid"]) - set(current_labels(ws)["uid"])
    _import(ws, table["uid"].tolist()[:40], tmp_path)
    again = stcrl("suggest", "--workspace", str(ws), "--run", "rand", "--strategy", "validation",
                  "--n", "60")  # fmt: skip
    left = set(table["uid"]) - set(current_labels(ws)["uid"])
    assert set(again.stdout.split()) == left and len(left) <= 20  # the same sample, continued
    est = stcrl("estimate", "--workspace", str(ws), "--run", "rand")
    assert est.returncode == 0, est.stderr
    result = json.loads(est.stdout)
    n_buildings = Workspace.open(ws).building_count()
    assert result["N"] == n_buildings and result["sample"] == sample["id"]
    low, high = result["ci95"]
    assert 0 <= low <= result["damaged"] <= high <= n_buildings
    assert 0 <= result["destroyed_ci95"][0] <= result["destroyed_ci95"][1] <= n_buildings
    assert set(result["events"]) == set(Workspace.open(ws).buildings()["event"])
    event = sorted(result["events"])[0]
    one = json.loads(stcrl("estimate", "--workspace", str(ws), "--run", "rand", "--event",
                           event).stdout)  # fmt: skip
    assert one["N"] == result["events"][event]["N"] < n_buildings


def _first_of_each_class(ws: Path) -> list[str]:
    table = Workspace.open(ws).buildings()
    return [str(table[table["damage"] == c]["uid"].iloc[0]) for c in range(4)]


def _import(ws: Path, uids: list[str], tmp_path: Path) -> None:
    done = stcrl("labels", "import", "--workspace", str(ws), "--file",
                 str(_truth_csv(ws, uids, tmp_path / "sample.csv")))  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_estimate_of_a_fully_labelled_sample_is_close_to_the_truth(ws: Path) -> None:
    context = LabellingContext(ws, "rand")
    n_buildings = Workspace.open(ws).building_count()
    result = context.suggest("validation", n_buildings, seed=1)  # the whole fixture: a census
    table = Workspace.open(ws).buildings().set_index("uid")
    members = read_validation_sample(Workspace.open(ws), result["sample"]["id"])[1]["uid"]
    names = [NAMES[max(int(table.loc[u, "damage"]), 0)] for u in members]
    record_labels(ws, members.tolist(), names, "import")
    est = run_estimate(ws, "rand")
    truth = int((table["damage"].clip(lower=0) >= 1).sum())
    assert est["damaged"] == est["ci95"][0] == est["ci95"][1] == truth  # every building labelled


def test_a_workspace_without_ground_truth_labels_and_estimates(ws: Path, tmp_path: Path) -> None:
    w = Workspace.open(ws)
    table = w.buildings()
    truth = table["damage"].copy()
    atomic_write_parquet(w.objects.buildings, table.assign(damage=np.int8(-1)))
    context = LabellingContext(ws, "rand")
    picks = context.suggest("hybrid", 5)["uids"]
    record_labels(ws, picks, [NAMES[max(int(truth[table["uid"] == u].iloc[0]), 0)] for u in picks],
                  "page")  # fmt: skip
    sample = context.suggest("validation", 30, seed=2)
    assert sample["sample"]["n"] == 30
    uids = sample["uids"]
    record_labels(ws, uids, "no-damage", "page")
    est = run_estimate(ws, "rand")
    assert est["damaged"] >= 0 and est["ci95"][1] <= len(table)
    budget = stcrl("budget", "--workspace", str(ws), "--runs", "rand", "--budgets", "4",
                   "--trials", "1")  # fmt: skip
    assert budget.returncode == 1 and "ground truth" in budget.stderr
    assert budget.stderr.count("\n") == 1


def test_export_import_and_bad_files_on_the_command_line(ws: Path, tmp_path: Path) -> None:
    record_labels(ws, _first_of_each_class(ws), NAMES, "page")
    out = stcrl("labels", "export", "--workspace", str(ws), "--out", str(tmp_path / "l.gpkg"))
    assert out.returncode == 0 and "exported 4 labels" in out.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("building,class\nx,1\n")
    fail = stcrl("labels", "import", "--workspace", str(ws), "--file", str(bad))
    assert fail.returncode == 1 and fail.stderr.count("\n") == 1
    assert str(bad) in fail.stderr and "give columns uid" in fail.stderr
    rows = tmp_path / "rows.csv"
    rows.write_text(f"uid,damage\nghost,1\n{_first_of_each_class(ws)[0]},destroyed\n")
    part = stcrl("labels", "import", "--workspace", str(ws), "--file", str(rows))
    assert part.returncode == 0 and f"{rows}:2: skipped 'ghost'" in part.stderr


def test_disagreements_list_labels_the_model_contradicts(ws: Path) -> None:
    context = LabellingContext(ws, "rand", features="post")
    table = Workspace.open(ws).buildings()
    uids = table["uid"].astype(str).tolist()[:60]
    record_labels(ws, uids, [NAMES[max(int(d), 0)] for d in table["damage"][:60]], "page")
    listed = context.disagreements()
    assert list(listed.columns) == ["uid", "label", "predicted", "confidence"]
    assert set(listed["uid"]) <= set(uids)
    assert (listed["label"] != listed["predicted"]).all()
