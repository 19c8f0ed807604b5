"""Expert segmentation: routing, the loss and metrics, and a full experts run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stcrl_core.cli import main
from stcrl_core.methods.experts import ExpertsConfig, run_experts
from stcrl_core.methods.routing import (
    SETUPS,
    ExpertRouter,
    list_experts,
    load_experts,
    route_and_segment,
)
from stcrl_core.methods.segmentation import SegmentationCounts, bce_jaccard_loss, soft_jaccard
from stcrl_core.workspace import Workspace
from tests.conftest import EXPERTS_TINY


def test_router_sends_a_patch_to_its_nearest_centroid() -> None:
    rng = np.random.default_rng(0)
    directions = np.eye(4)[:3] * 10
    z = np.concatenate([d + rng.normal(0, 0.3, (20, 4)) for d in directions])
    router = ExpertRouter(3, random_state=0).fit(z)
    assert router.centroids_.shape == (3, 4)
    query = rng.normal(size=(50, 4))
    unit = query / np.linalg.norm(query, axis=1, keepdims=True)
    manual = np.linalg.norm(unit[:, None] - router.centroids_[None], axis=2)
    assert np.allclose(router.transform(query), manual, atol=1e-5)
    assert (router.predict(query) == manual.argmin(1)).all()
    # each training group goes to one expert, and a centroid goes to itself
    assert len(set(router.predict(z[:20]))) == 1
    assert (router.predict(router.centroids_) == np.arange(3)).all()
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(3, 4\)"):
        router.transform(np.ones((2, 5)))


def test_loss_closed_forms_and_reference() -> None:
    y = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    confident = (y * 2 - 1) * 30
    assert float(bce_jaccard_loss(confident, y)) == pytest.approx(0.0, abs=1e-6)
    assert float(bce_jaccard_loss(-confident, y, alpha=0.0)) == pytest.approx(1.0, abs=1e-6)
    # against the formula written out
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 1, 4, 4))
    target = (rng.random((2, 1, 4, 4)) > 0.5).astype(float)
    p = 1 / (1 + np.exp(-logits))
    bce = -np.mean(target * np.log(p) + (1 - target) * np.log(1 - p))
    jac = (target * p).sum() / (target + p - target * p).sum()
    got = bce_jaccard_loss(torch.from_numpy(logits), torch.from_numpy(target[:, 0]), alpha=0.3)
    assert float(got) == pytest.approx(0.3 * bce + 0.7 * (1 - jac), rel=1e-5)
    assert float(soft_jaccard(torch.ones(3), torch.ones(3))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(1, 1, 2, 2\) and \(1, 1, 3, 3\)"):
        bce_jaccard_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 3))


def test_segmentation_counts() -> None:
    counts = SegmentationCounts()
    counts.add(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]]))
    counts.add(np.array([[0, 0], [0, 1]]), np.array([[0, 0], [1, 1]]))
    assert counts.iou == pytest.approx(2 / 4)
    assert counts.accuracy == pytest.approx(6 / 8)
    assert counts.chance_iou == pytest.approx(3 / 8)


def test_experts_run_writes_every_artifact(experts_ws: Path) -> None:
    folders = [p for p in (experts_ws / "experts").iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1
    out = folders[0]
    for name in ("config.json", "centroids.npy", "expert_0.pt", "expert_1.pt", "single.pt",
                 "assignments.parquet", "table.csv", "metrics.json"):  # fmt: skip
        assert (out / name).exists(), name
    patches = pd.read_parquet(experts_ws / "patches" / "patches.parquet")
    assignments = pd.read_parquet(out / "assignments.parquet")
    assert list(assignments.columns) == ["row", "cluster", "expert", "dist_0", "dist_1"]
    assert len(assignments) == len(patches)
    dists = assignments[["dist_0", "dist_1"]].to_numpy()
    assert (assignments["expert"].to_numpy() == dists.argmin(1)).all()
    table = pd.read_csv(out / "table.csv", index_col=0)
    assert list(table.index) == list(SETUPS)
    assert list(table.columns) == [
        "austin IoU", "austin Acc.", "kitsap IoU", "kitsap Acc.", "vienna IoU", "vienna Acc.",
        "Overall IoU", "Overall Acc.",
    ]  # fmt: skip
    assert ((table >= 0) & (table <= 100)).all().all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert sum(metrics["patches_per_expert"]) == metrics["train_patches"] == 48
    assert metrics["val_patches"] == 24 and len(metrics["experts"]) == 2
    assert list_experts(experts_ws)["k"].tolist() == [2]


@pytest.mark.slow
def test_same_config_returns_the_stored_result_and_single_network_is_reused(
    experts_ws: Path, tmp_path: Path
) -> None:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(experts_ws, ws)
    again = run_experts(ExpertsConfig(embedding="trip", k=2, **EXPERTS_TINY), ws)
    assert again["cached"]
    k3 = run_experts(ExpertsConfig(embedding="trip", k=3, **{**EXPERTS_TINY, "epochs": 1}), ws)
    assert not k3["cached"] and k3["single_reused_from"] is None  # other epochs: retrained
    k1 = run_experts(ExpertsConfig(embedding="trip", k=1, **EXPERTS_TINY), ws)
    assert k1["single_reused_from"] == again["id"]
    single_a = torch.load(ws / "experts" / again["id"] / "single.pt", weights_only=True)
    single_b = torch.load(ws / "experts" / k1["id"] / "single.pt", weights_only=True)
    assert all(torch.equal(single_a[k], single_b[k]) for k in single_a)


def test_route_and_segment_follows_the_stored_assignment(experts_ws: Path) -> None:
    from stcrl_core.methods.checkpoints import load_encoder
    from stcrl_core.workspace.patches import load_patches

    exp_id = list_experts(experts_ws)["id"].iloc[0]
    config, router, models, single = load_experts(experts_ws, exp_id)
    encoder, _ = load_encoder(experts_ws, config["embedding"])
    _, images, _ = load_patches(Workspace.open(experts_ws))
    assignments = pd.read_parquet(experts_ws / "experts" / exp_id / "assignments.parquet")
    for row in (0, 30, 60):
        result = route_and_segment(encoder, router, models, single, np.array(images[row]))
        assert result["expert"] == assignments["expert"].iloc[row]
        assert np.allclose(result["distances"], assignments.iloc[row][["dist_0", "dist_1"]],
                           atol=1e-4)  # fmt: skip
        assert result["routed"].shape == (64, 64) and result["single"].min() >= 0


def test_experts_errors(experts_ws: Path) -> None:
    with pytest.raises(ValueError, match="k must be"):
        ExpertsConfig(embedding="trip", k=0)
    assert main(["experts", "--workspace", str(experts_ws), "--embedding", "nope"]) == 1


@pytest.mark.slow
def test_every_demo_expert_beats_chance_on_its_cluster(tmp_path: Path) -> None:
    """The demo's Inria stages with the demo's settings: each expert's IoU on the val patches
    routed to it beats calling every pixel building, and the embedding separates cities."""
    from stcrl_core.pipeline.demo import DemoConfig, experts_stage, inria_stage, triplet_stage

    config = DemoConfig(device="cpu")
    ws = tmp_path / "ws"
    inria_stage(ws, tmp_path / "inria", config, lambda *a: None)
    knn = triplet_stage(ws, config, lambda *a: None)
    assert knn["overall"] > 2 * knn["chance"]
    results = experts_stage(ws, config, lambda *a: None)
    for k in config.experts_k:
        metrics = json.loads((ws / "experts" / results[str(k)]["id"] / "metrics.json").read_text())
        for expert in metrics["experts"]:
            assert expert["val_patches"] > 0
            assert expert["iou"] > expert["chance_iou"], (k, expert)
