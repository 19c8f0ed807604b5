"""CSP on the scene patches: a triplet run's frozen patch embeddings and the patch centres."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from stcrl_core.errors import RunError
from stcrl_core.explore.projection import point_count, projection_views
from stcrl_core.maps.location_layer import write_location_grid
from stcrl_core.methods.config import PretrainConfig, read_run_config
from stcrl_core.models.location import LocationError
from stcrl_core.pipeline.embed import embed
from stcrl_core.pipeline.pretrain import pretrain
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import available_views, load_embeddings
from stcrl_core.workspace.patches import load_patches
from tests.job_waiting import wait_for_jobs
from tests.pretrain_runs import assert_same_run, interrupted_after_epoch, run_metrics

APP = str(Path(__file__).resolve().parent.parent / "app.py")
CSP = {"method": "csp", "image_run": "trip", "batch_size": 16, "lr": 1e-3, "seed": 2,
       "min_radius": 0.001, "frequencies": 8, "device": "cpu"}  # fmt: skip


@pytest.fixture(scope="module")
def ws(experts_ws: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``experts_ws`` with a CSP run ``cspp`` on the patches of triplet run ``trip``."""
    target = tmp_path_factory.mktemp("csp-patches") / "ws"
    shutil.copytree(experts_ws, target)
    pretrain(PretrainConfig(run="cspp", epochs=3, **CSP), target)
    embed(target, "cspp", device="cpu")
    return target


def test_trains_on_the_train_patches_with_the_triplet_features(ws: Path) -> None:
    metrics = run_metrics(ws, "cspp")
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert all(np.isfinite(m["loss"]) for m in metrics)
    assert {"loss_batch", "loss_random", "loss_simcse", "pos_sim"} <= set(metrics[0])
    config = read_run_config(Workspace.open(ws), "cspp")
    trip_dim = load_embeddings(Workspace.open(ws), "trip", "patch").shape[1]
    assert config.subject == "patches" and config.image_dim == trip_dim == 32
    table, _, _ = load_patches(Workspace.open(ws))
    train = int((table["split"] == "train").sum())
    steps = train // CSP["batch_size"]
    assert metrics[0]["pairs_per_s"] > 0 and steps >= 1
    # the run has no image encoder of its own; its location encoder loads with the saved size
    from stcrl_core.methods.csp_embeddings import load_location_encoder

    encoder, loaded = load_location_encoder(ws, "cspp")
    assert loaded.image_dim == 32 and encoder.out_dim == 256


def test_resume_repeats_an_uninterrupted_run(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ws"
    shutil.copytree(ws, target, ignore=shutil.ignore_patterns("cspp"))
    with interrupted_after_epoch(monkeypatch, 1):
        pretrain(PretrainConfig(run="r", epochs=3, **CSP), target)
    # resumed with the settings as given (subject and image_dim unset): filled in again
    pretrain(PretrainConfig(run="r", epochs=3, **CSP), target, resume=True)
    assert_same_run(ws / "runs/cspp", target / "runs/r")


def test_embed_writes_one_location_embedding_per_patch(ws: Path) -> None:
    table, _, _ = load_patches(Workspace.open(ws))
    emb = load_embeddings(Workspace.open(ws), "cspp", "patchloc")
    assert emb.shape == (len(table), 256) and emb.dtype == np.float32
    assert np.isfinite(emb).all()
    assert available_views(Workspace.open(ws), "cspp") == ["patchloc"]
    info = json.loads((ws / "runs" / "cspp" / "embeddings.json").read_text())
    assert info["kind"] == "patchloc" and info["rows"] == len(table)
    assert projection_views(ws, "cspp") == ["patchloc"]
    assert point_count(ws, "patchloc") == len(table)
    with pytest.raises(RunError, match="only CSP runs on patches"):
        load_embeddings(Workspace.open(ws), "trip", "patchloc")
    with pytest.raises(RunError, match="only patchloc"):
        load_embeddings(Workspace.open(ws), "cspp", "loc")


def test_image_to_location_accuracy(ws: Path) -> None:
    from stcrl_core.methods.csp_embeddings import image_to_location_accuracy, load_csp_model

    acc = image_to_location_accuracy(ws, "cspp")
    table, _, _ = load_patches(Workspace.open(ws))
    val = table["split"] != "train"
    assert acc["val"] == int(val.sum())
    assert set(acc["per_location"]) == set(table["location"])
    assert 0.0 <= acc["overall"] <= 1.0 and acc["chance"] == pytest.approx(1 / 3)
    # the same by hand: cosine of each val patch's image embedding with each centre's location
    model, config = load_csp_model(ws, "cspp")
    names = sorted(table["location"].unique())
    train = ~val
    centres = torch.tensor(
        np.array(
            [table.loc[train & (table["location"] == n), ["lon", "lat"]].mean() for n in names]
        )
    )
    feats = torch.tensor(
        np.asarray(load_embeddings(Workspace.open(ws), config.image_run, "patch"))[val.to_numpy()]
    )
    with torch.no_grad():
        img, loc = model.image_head(feats), model.location(centres).float()
    sims = [[float(torch.cosine_similarity(i, c, dim=0)) for c in loc] for i in img]
    expected = np.asarray(names)[np.argmax(sims, axis=1)] == table.loc[val, "location"].to_numpy()
    assert acc["overall"] == pytest.approx(expected.mean())
    with pytest.raises(RunError, match="without a location encoder"):
        image_to_location_accuracy(ws, "trip")


def test_patches_of_one_city_are_closer_than_patches_of_different_cities(ws: Path) -> None:
    table, _, _ = load_patches(Workspace.open(ws))
    z = np.asarray(load_embeddings(Workspace.open(ws), "cspp", "patchloc"), dtype=np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T
    loc = table["location"].to_numpy()
    same = loc[:, None] == loc[None, :]
    off = ~np.eye(len(loc), dtype=bool)
    assert table["location"].nunique() == 3
    assert sim[same & off].mean() > sim[~same].mean() + 0.05


def test_grid_is_refused_for_a_run_on_patches(ws: Path) -> None:
    with pytest.raises(RunError, match="drop --grid"):
        write_location_grid(ws, "cspp")
    out = subprocess.run(
        [sys.executable, "-m", "stcrl_core.cli", "embed", "--workspace", str(ws), "--run", "cspp",
         "--grid", "--device", "cpu"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode != 0 and "drop --grid" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_bad_patch_locations_name_patches_parquet(ws: Path, tmp_path: Path) -> None:
    import pandas as pd

    target = tmp_path / "ws"
    shutil.copytree(ws, target, ignore=shutil.ignore_patterns("cspp"))
    path = target / "patches" / "patches.parquet"
    table = pd.read_parquet(path)
    table.loc[3, "lat"] = 123.0
    table.to_parquet(path)
    with pytest.raises(LocationError, match=r"patches\.parquet"):
        pretrain(PretrainConfig(run="bad", epochs=1, **CSP), target)


def test_a_patch_subject_needs_a_triplet_image_run() -> None:
    with pytest.raises(ValueError, match="--image-run TRIPLET_RUN"):
        PretrainConfig(run="x", method="csp", subject="patches")
    with pytest.raises(ValueError, match="unknown CSP subject"):
        PretrainConfig(run="x", method="csp", image_run="trip", subject="scenes")


def test_explorer_projects_the_patch_location_embedding(ws: Path, monkeypatch) -> None:
    monkeypatch.setenv("STCRL_WORKSPACE_ROOT", "/")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace"] = str(ws)
    at.run().switch_page("app_pages/2_Embedding_Explorer.py").run()
    at.selectbox(key="explorer_run").set_value("cspp").run()
    assert at.selectbox(key="explorer_view").options == ["patchloc"]
    at.selectbox(key="explorer_method").set_value("pca").run()
    assert not at.exception, at.exception
    wait_for_jobs(ws)
    at.run()
    assert not at.exception and not at.info
    assert "PCA of the patchloc embeddings of **cspp**" in " ".join(c.value for c in at.caption)
