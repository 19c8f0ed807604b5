"""CSP end to end on the fixture workspace: training, embeddings, grid, prior, CLI, map."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from stcrl_core.errors import RunError
from stcrl_core.eval.experiment import BudgetConfig, run_budget_experiment
from stcrl_core.eval.location_prior import combine_probabilities, parse_run_spec
from stcrl_core.explore.projection import compute_projection
from stcrl_core.maps.location_layer import (
    grid_bitmap_records,
    load_location_grid,
    runs_with_location_grid,
    write_location_grid,
)
from stcrl_core.methods.checkpoints import load_encoder
from stcrl_core.methods.config import PretrainConfig
from stcrl_core.pipeline.embed import embed
from stcrl_core.pipeline.pretrain import pretrain
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import available_views, load_embeddings
from tests.fixture_workspaces import copy_with_run
from tests.job_waiting import wait_for_jobs
from tests.pretrain_runs import assert_same_run, interrupted_after_epoch, run_metrics

APP = str(Path(__file__).resolve().parent.parent / "app.py")
CSP = {"method": "csp", "batch_size": 32, "lr": 1e-3, "seed": 2, "min_radius": 0.001,
       "frequencies": 8}  # fmt: skip


@pytest.fixture(scope="module")
def ws(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture workspace with run ``rand`` and a CSP run ``csp`` on its frozen features."""
    target = copy_with_run(ingested, tmp_path_factory.mktemp("csp") / "ws")
    pretrain(PretrainConfig(run="csp", image_run="rand", epochs=4, **CSP), target)
    embed(target, "csp")
    write_location_grid(target, "csp")
    return target


def test_csp_run_on_frozen_features(ws: Path) -> None:
    metrics = run_metrics(ws, "csp")
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4]
    assert {"loss_batch", "loss_random", "loss_simcse", "pos_sim"} <= set(metrics[0])
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    config = json.loads((ws / "runs" / "csp" / "config.json").read_text())
    assert config["method"] == "csp" and config["image_run"] == "rand"
    manifest = json.loads((ws / "workspace.json").read_text())
    assert any(r["name"] == "csp" and r["method"] == "csp" for r in manifest["runs"])
    assert available_views(Workspace.open(ws), "csp") == ["pre", "post", "loc"]
    assert available_views(Workspace.open(ws), "rand") == ["pre", "post"]
    loc = load_embeddings(Workspace.open(ws), "csp", "loc")
    n = len(load_embeddings(Workspace.open(ws), "rand", "post"))
    assert loc.shape == (n, 256) and loc.dtype == np.float32 and np.isfinite(loc).all()
    for view in ("pre", "post"):  # the image features it trained on, copied
        assert np.array_equal(
            load_embeddings(Workspace.open(ws), "csp", view),
            load_embeddings(Workspace.open(ws), "rand", view),
        )
    with pytest.raises(RunError, match="no image encoder of its own"):
        load_encoder(ws, "csp")
    with pytest.raises(RunError, match="only CSP runs"):
        load_embeddings(Workspace.open(ws), "rand", "loc")
    load_encoder(ws, "rand")  # other runs still load
    coords, _ = compute_projection(ws, "csp", "loc", "pca")
    assert coords.shape == (n, 2)


def test_defaults_follow_the_public_csp_code_and_old_runs_keep_theirs(ws: Path) -> None:
    """New runs take CSP's code and scripts' settings; a run saved before those settings
    existed (no keys in its config.json) loads with what it was trained with."""
    from stcrl_core.methods.config import read_run_config
    from stcrl_core.methods.csp import location_encoder_from_config

    config = read_run_config(ws, "csp")
    assert (config.location_mlp, config.location_activation, config.csp_random_draw) == (
        "csp", "leakyrelu", "csp",
    )  # fmt: skip
    assert (config.csp_temperature_batch, config.csp_temperature_random,
            config.csp_temperature_simcse) == (20.0, 1.0, 1.0)  # fmt: skip
    old = json.loads((ws / "runs" / "csp" / "config.json").read_text())
    for key in ("location_mlp", "location_activation", "csp_random_draw"):
        del old[key]
    legacy = PretrainConfig.from_dict(old)
    assert (legacy.location_mlp, legacy.location_activation, legacy.csp_random_draw) == (
        "stcrl-v1", "relu", "uniform",
    )  # fmt: skip
    encoder = location_encoder_from_config(legacy)
    assert sorted(encoder.state_dict())[-2:] == ["mlp.1.bias", "mlp.1.weight"]


def test_csp_resume_matches_uninterrupted(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    pretrain(PretrainConfig(run="a", image_run="rand", epochs=3, **CSP), copy)
    with interrupted_after_epoch(monkeypatch, 1):
        pretrain(PretrainConfig(run="b", image_run="rand", epochs=3, **CSP), copy)
    pretrain(PretrainConfig(run="b", image_run="rand", epochs=3, **CSP), copy, resume=True)
    assert_same_run(copy / "runs/a", copy / "runs/b")
    with pytest.raises(RunError, match="different settings"):
        pretrain(
            PretrainConfig(run="b", image_run="rand", epochs=3, **{**CSP, "min_radius": 0.1}),
            copy,
            resume=True,
        )


def test_csp_with_a_trainable_resnet(ws: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    settings = {**CSP, "location_encoder": "sphere", "crop": 28, "batch_size": 16}
    pretrain(PretrainConfig(run="r", epochs=1, **settings), copy)
    info = embed(copy, "r")
    assert info["dim"] == 512 and info["loc_dim"] == 256
    encoder, _ = load_encoder(copy, "r")
    assert sum(p.numel() for p in encoder.parameters()) > 1e6  # its own ResNet
    assert not np.array_equal(
        load_embeddings(Workspace.open(copy), "r", "post"),
        load_embeddings(Workspace.open(copy), "rand", "post"),
    )


def test_csp_checks_its_inputs(ws: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    with pytest.raises(RunError, match="no run 'nope'"):
        pretrain(PretrainConfig(run="x", image_run="nope", epochs=1, **CSP), copy)
    with pytest.raises(RunError, match="pass --arch resnet18"):
        pretrain(PretrainConfig(run="x", image_run="rand", arch="resnet50", **CSP), copy)
    with pytest.raises(ValueError, match="itself"):
        PretrainConfig(run="x", image_run="x", **CSP)
    with pytest.raises(ValueError, match="unknown location encoder"):
        PretrainConfig(run="x", location_encoder="hexagon", **CSP)
    import pandas as pd

    table = pd.read_parquet(copy / "objects/buildings.parquet")
    table.loc[5, "lat"] = 123.0
    table.to_parquet(copy / "objects/buildings.parquet")
    with pytest.raises(Exception, match=r"buildings\.parquet: row 5"):
        pretrain(PretrainConfig(run="y", image_run="rand", epochs=1, **CSP), copy)


def test_location_grid(ws: Path) -> None:
    grid = load_location_grid(ws, "csp")
    assert grid["rgb"].dtype == np.uint8 and grid["rgb"].shape == (len(grid["lon"]), 3)
    assert int((grid["nx"] * grid["ny"]).sum()) == len(grid["lon"])
    assert sorted(grid["events"]) == sorted(set(grid["event"]))
    assert grid["rgb"].min() == 0 and grid["rgb"].max() == 255  # spread by the percentiles
    buildings = json.loads((ws / "objects/ingest_report.json").read_text())["buildings_per_event"]
    assert set(grid["events"]) == set(buildings)
    records = grid_bitmap_records(grid)
    assert len(records) == len(grid["events"])
    (w, s), (w2, n), (e, n2), (e2, s2) = records[0]["bounds"]
    assert w == w2 and e == e2 and n == n2 and s == s2 and w < e and s < n
    assert records[0]["image"].startswith("data:image/png;base64,")
    assert runs_with_location_grid(ws) == ["csp"]
    with pytest.raises(RunError, match="without a location encoder"):
        write_location_grid(ws, "rand")
    with pytest.raises(ValueError, match="larger --grid-step"):
        write_location_grid(ws, "csp", step=1e-7)


def test_location_prior_helpers() -> None:
    assert parse_run_spec("csp+loc") == ("csp", True)
    assert parse_run_spec("csp") == ("csp", False)
    with pytest.raises(ValueError, match="names no run"):
        parse_run_spec("+loc")
    p_img = np.array([[0.7, 0.1, 0.1, 0.1]])
    p_loc = np.array([[0.1, 0.6, 0.2, 0.1]])
    product = np.array([0.07, 0.06, 0.02, 0.01])
    assert np.allclose(combine_probabilities(p_img, p_loc), product / product.sum())
    assert np.allclose(combine_probabilities(p_img, np.full((1, 4), 0.25)), p_img)
    tiny = np.array([[1e-200, 1e-200, 1e-250, 1e-250]])
    assert np.allclose(combine_probabilities(tiny, tiny), [[0.5, 0.5, 0, 0]])
    with pytest.raises(ValueError, match="same shape"):
        combine_probabilities(p_img, p_loc[:, :3])


def test_budget_curves_with_and_without_the_location_prior(ws: Path) -> None:
    config = BudgetConfig(
        runs=["rand", "csp", "csp+loc"], probes=["lr"], budgets=[4, 8], trials=2, cap=True
    )
    result = run_budget_experiment(config, ws)
    curves = {(c["run"], c["budget"]): c["mean"] for c in result["curves"]}
    assert {r for r, _ in curves} == {"rand", "csp", "csp+loc"}
    for budget in (4, 8):  # same features, same trials: the image-only curves agree
        assert curves[("csp", budget)] == curves[("rand", budget)]
    records = json.loads((Path(result["path"]) / "results.json").read_text())["records"]
    assert len([r for r in records if r["run"] == "csp+loc"]) == 4
    with pytest.raises(ValueError, match="lr and mlp"):
        BudgetConfig(runs=["csp+loc"], probes=["finetune"])
    with pytest.raises(RunError, match="only CSP runs"):
        run_budget_experiment(
            BudgetConfig(runs=["rand+loc"], probes=["lr"], budgets=[4], trials=1, cap=True), ws
        )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stcrl_core.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_cli_pretrain_embed_grid_budget(ws: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    result = _cli("pretrain", "--method", "csp", "--workspace", str(copy), "--run", "c",
                  "--image-run", "rand", "--epochs", "2", "--batch-size", "32",
                  "--location-encoder", "theory", "--frequencies", "8",
                  "--min-radius", "0.001")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "run c: 2 epochs" in result.stdout
    config = json.loads((copy / "runs/c/config.json").read_text())
    assert config["lr"] == 1e-3 and config["arch"] == "resnet18"
    assert config["location_encoder"] == "theory"
    result = _cli("embed", "--workspace", str(copy), "--run", "c", "--grid", "--grid-step", "0.001")
    assert result.returncode == 0, result.stderr
    assert "location embeddings (embeddings_loc.npy)" in result.stdout
    assert "wrote the location grid" in result.stdout and "step 0.001000" in result.stdout
    result = _cli("budget", "--workspace", str(copy), "--runs", "c,c+loc", "--probes", "lr",
                  "--budgets", "4", "--trials", "2", "--cap")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "c+loc" in result.stdout
    result = _cli("pretrain", "--workspace", str(copy), "--run", "d", "--image-run", "rand")
    assert result.returncode == 1 and "add --method csp" in result.stderr
    result = _cli("embed", "--workspace", str(copy), "--run", "c", "--grid-step", "0.01")
    assert result.returncode == 1 and "add --grid" in result.stderr


def test_damage_map_location_layer(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", "/")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(ws)
    at.run().switch_page("app_pages/1_Damage_Map.py").run()
    assert not at.exception, at.exception
    toggle = next(t for t in at.toggle if t.label == "Location embedding")
    assert toggle.value is False
    toggle.set_value(True).run()
    assert not at.exception, at.exception
    assert any("location embedding of CSP run csp" in c.value for c in at.caption)
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    ids = [layer["id"] for layer in deck["layers"]]
    assert sum(i.startswith("loc-") for i in ids) == len(load_location_grid(ws, "csp")["events"])


def test_explorer_projects_the_location_embedding(ws: Path, monkeypatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", "/")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(ws)
    at.run().switch_page("app_pages/2_Embedding_Explorer.py").run()
    at.selectbox(key="explorer_run").set_value("csp").run()
    assert "loc" in at.selectbox(key="explorer_view").options
    at.selectbox(key="explorer_method").set_value("pca")
    at.selectbox(key="explorer_view").set_value("loc").run()
    assert not at.exception, at.exception
    wait_for_jobs(ws)
    at.run()
    assert not at.exception and not at.info
    assert "PCA of the loc embeddings of **csp**" in " ".join(c.value for c in at.caption)
