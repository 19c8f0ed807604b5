"""Triplet location embeddings: the loss against a direct formula, the network, the run."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from stcrl_core.cli import main
from stcrl_core.methods.config import PretrainConfig
from stcrl_core.methods.triplet import (
    TripletNet,
    location_knn_accuracy,
    poly_factor,
)
from stcrl_core.methods.triplet_loss import (
    distributed_triplet_margin_loss,
    triplet_margin_loss,
)
from stcrl_core.pipeline.embed import embed
from stcrl_core.pipeline.pretrain import pretrain
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import load_embeddings

TINY = {"arch": "resnet18", "embedding_dim": 32, "batch_size": 24, "lr": 1e-3, "seed": 1}


def reference_loss(z: np.ndarray, labels: np.ndarray, margin: float, mining: str) -> float:
    """Eq. (1) written out triplet by triplet (slow and obviously correct)."""

    def d(i: int, j: int) -> float:
        return 1 - float(z[i] @ z[j] / np.linalg.norm(z[i]) / np.linalg.norm(z[j]))

    n = len(z)
    if mining == "all":
        losses = [
            max(d(a, p) - d(a, q) + margin, 0.0)
            for a, p, q in itertools.product(range(n), repeat=3)
            if a != p and labels[a] == labels[p] and labels[q] != labels[a]
        ]
    else:
        losses = []
        for a in range(n):
            pos = [d(a, p) for p in range(n) if p != a and labels[p] == labels[a]]
            neg = [d(a, q) for q in range(n) if labels[q] != labels[a]]
            if pos and neg:
                losses.append(max(max(pos) - min(neg) + margin, 0.0))
    return float(np.mean(losses)) if losses else 0.0


@pytest.mark.parametrize("mining", ["all", "hard"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_matches_the_direct_formula(mining: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(9, 5))
    labels = rng.integers(0, 3, 9)
    got = triplet_margin_loss(torch.from_numpy(z), torch.from_numpy(labels), 0.3, mining)
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(reference_loss(z, labels, 0.3, mining), abs=1e-12)


def test_loss_closed_forms() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    # same location identical, other location orthogonal: d(a,p) = 0, d(a,n) = 1
    z = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    assert float(triplet_margin_loss(z, labels, 0.2)) == 0.0
    assert float(triplet_margin_loss(z, labels, 1.5)) == pytest.approx(0.5)
    # everything collapsed to one direction: every triplet costs the margin
    same = torch.ones(4, 3)
    for mining in ("all", "hard"):
        assert float(triplet_margin_loss(same, labels, 0.2, mining)) == pytest.approx(0.2)
    # positives opposite (d = 2); one negative identical (d = 0), one opposite (d = 2)
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    assert float(triplet_margin_loss(z, labels, 0.1)) == pytest.approx((2.1 + 0.1) / 2)
    assert float(triplet_margin_loss(z, labels, 0.1, "hard")) == pytest.approx(2.1)


def test_loss_without_triplets_is_zero_with_a_gradient() -> None:
    z = torch.randn(4, 3, requires_grad=True)
    loss = triplet_margin_loss(z, torch.zeros(4, dtype=torch.long))
    loss.backward()
    assert float(loss) == 0.0 and z.grad is not None


def test_loss_gradient_and_errors() -> None:
    z = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert torch.autograd.gradcheck(lambda x: triplet_margin_loss(x, labels, 0.5), (z,))
    with pytest.raises(ValueError, match=r"\(6, 4\) and \(5,\)"):
        triplet_margin_loss(z, labels[:5])
    with pytest.raises(ValueError, match="margin"):
        triplet_margin_loss(z, labels, -1.0)
    with pytest.raises(ValueError, match="mining"):
        triplet_margin_loss(z, labels, 0.2, "semi")


def test_network_shapes_and_poly_schedule() -> None:
    net = TripletNet("resnet18", embedding_dim=16)
    recon, z = net(torch.randn(2, 3, 64, 64))
    assert recon.shape == (2, 3, 64, 64) and z.shape == (2, 16)
    assert net.encoder(torch.randn(1, 3, 96, 96)).shape == (1, 16)
    assert poly_factor(0, 10) == 1.0 and poly_factor(10, 10) == 0.0
    assert poly_factor(5, 10) == pytest.approx(0.5**0.9)


def test_triplet_run_embeds_patches_and_separates_locations(patch_ws: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(patch_ws, ws)
    summary = pretrain(PretrainConfig(method="triplet", run="t", epochs=4, **TINY), ws)
    metrics = [
        json.loads(x) for x in (ws / "runs" / "t" / "metrics.jsonl").read_text().splitlines()
    ]
    assert summary["epochs"] == 4 and len(metrics) == 4
    assert metrics[-1]["triplet"] < metrics[0]["triplet"]
    assert metrics[-1]["reconstruction"] < metrics[0]["reconstruction"]
    assert metrics[-1]["neg_dist"] > metrics[-1]["pos_dist"]
    info = embed(ws, "t")
    assert info == {"rows": 72, "dim": 32, "run": "t", "files": ["embeddings_patch.npy"],
                    "kind": "patch"}  # fmt: skip
    z = load_embeddings(Workspace.open(ws), "t", "patch")
    assert z.shape == (72, 32) and z.dtype == np.float32
    accuracy = location_knn_accuracy(ws, "t", k=1)
    assert accuracy["overall"] > 0.6  # chance is 1/3
    # resume continues the same run
    pretrain(PretrainConfig(method="triplet", run="t", epochs=5, **TINY), ws, resume=True)
    assert len((ws / "runs" / "t" / "metrics.jsonl").read_text().splitlines()) == 5


def test_cli_pretrain_triplet_defaults(patch_ws: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(patch_ws, ws)
    assert main(["pretrain", "--method", "triplet", "--workspace", str(ws), "--run", "c",
                 "--epochs", "0", "--arch", "resnet18"]) == 0  # fmt: skip
    config = json.loads((ws / "runs" / "c" / "config.json").read_text())
    assert (config["lr"], config["weight_decay"], config["batch_size"]) == (1e-4, 5e-4, 32)
    assert (config["embedding_dim"], config["margin"]) == (2048, 0.2)
    assert main(["embed", "--workspace", str(ws), "--run", "c"]) == 0
    assert np.load(ws / "runs" / "c" / "embeddings_patch.npy").shape == (72, 2048)


def test_distributed_loss_without_process_group_is_the_plain_one() -> None:
    g = torch.Generator().manual_seed(0)
    z, labels = torch.randn(12, 5, generator=g), torch.arange(12) % 3
    for mining in ("all", "hard"):
        assert torch.equal(
            distributed_triplet_margin_loss(z, labels, 0.3, mining),
            triplet_margin_loss(z, labels, 0.3, mining),
        )


TRIPLET_WORKER = """
from stcrl_core.methods.triplet_loss import distributed_triplet_margin_loss

result = {}
n = batch["z"].shape[0] // world
for mining in ("all", "hard"):
    z = batch["z"][rank * n:(rank + 1) * n].clone().requires_grad_(True)
    loss = distributed_triplet_margin_loss(z, batch["labels"][rank * n:(rank + 1) * n], 0.3, mining)
    loss.backward()
    mean = loss.detach().clone()
    dist.all_reduce(mean)
    result[mining] = {"mean": mean / world, "grad": z.grad}
"""


@pytest.mark.timeout(120)
def test_distributed_loss_mines_the_global_batch(tmp_path: Path) -> None:
    from tests.distributed_harness import run_gloo_workers

    world = 2
    g = torch.Generator().manual_seed(7)
    # rank 0 holds only locations 0 and 1, rank 1 only 2: mining has to cross processes
    z, labels = torch.randn(8, 5, generator=g), torch.tensor([0, 1, 0, 1, 2, 2, 2, 2])
    results = run_gloo_workers(tmp_path, TRIPLET_WORKER, {"z": z, "labels": labels}, world)
    for mining in ("all", "hard"):
        full_z = z.clone().requires_grad_(True)
        full = triplet_margin_loss(full_z, labels, 0.3, mining)
        full.backward()
        for res in results:  # the mean of the per-rank losses is the global-batch loss
            torch.testing.assert_close(res[mining]["mean"], full.detach(), rtol=1e-6, atol=1e-6)
        # the gather's backward sums over ranks: / world is the gradient of the mean
        grad = torch.cat([res[mining]["grad"] for res in results]) / world
        torch.testing.assert_close(grad, full_z.grad, rtol=1e-5, atol=1e-6)
