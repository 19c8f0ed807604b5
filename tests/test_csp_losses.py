"""The three CSP losses against slow loop references and closed forms; the sampler."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from stcrl_core.methods.csp_losses import (
    distributed_in_batch_loss,
    distributed_simcse_loss,
    in_batch_loss,
    random_location_loss,
    simcse_loss,
    uniform_sphere_locations,
)
from tests.distributed_harness import run_gloo_workers


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a @ b) / (a.norm() * b.norm()))


def _reference_in_batch(loc: torch.Tensor, img: torch.Tensor, t: float) -> float:
    """Slow, obviously correct: a Python loop over anchors and candidates."""
    total = 0.0
    for i in range(len(loc)):
        denom = sum(math.exp(_cos(loc[i], img[j]) / t) for j in range(len(img)))
        total += -math.log(math.exp(_cos(loc[i], img[i]) / t) / denom)
    return total / len(loc)


def _reference_random(img: torch.Tensor, loc: torch.Tensor, rnd: torch.Tensor, t: float) -> float:
    total = 0.0
    for i in range(len(img)):
        pos = math.exp(_cos(img[i], loc[i]) / t)
        neg = sum(math.exp(_cos(img[i], rnd[i, k]) / t) for k in range(rnd.shape[1]))
        total += -math.log(pos / (pos + neg))
    return total / len(img)


@pytest.mark.parametrize("t", [0.07, 0.5, 1.0])
def test_losses_match_loop_references(t: float) -> None:
    g = torch.Generator().manual_seed(0)
    loc, img = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g) * 3
    rnd = torch.randn(7, 3, 5, generator=g)
    assert float(in_batch_loss(loc, img, t)) == pytest.approx(
        _reference_in_batch(loc, img, t), rel=1e-5
    )
    assert float(random_location_loss(img, loc, rnd, t)) == pytest.approx(
        _reference_random(img, loc, rnd, t), rel=1e-5
    )
    b = torch.randn(7, 5, generator=g)
    assert float(simcse_loss(loc, b, t)) == pytest.approx(_reference_in_batch(loc, b, t), rel=1e-5)


def test_closed_forms() -> None:
    t, n = 0.1, 4
    eye = torch.eye(n, dtype=torch.float64)  # positives identical, negatives orthogonal
    expected = math.log(1 + (n - 1) * math.exp(-1 / t))
    assert float(in_batch_loss(eye, 5 * eye, t)) == pytest.approx(expected, rel=1e-6)
    assert float(simcse_loss(eye, eye, t)) == pytest.approx(expected, rel=1e-6)
    rnd = torch.stack([torch.roll(eye, k + 1, dims=0) for k in range(2)], dim=1)  # (n, 2, n)
    assert float(random_location_loss(eye, eye, rnd, t)) == pytest.approx(
        math.log(1 + 2 * math.exp(-1 / t)), rel=1e-6
    )
    same = torch.ones(n, 3, dtype=torch.float64)  # all equal: chance, log of the candidates
    assert float(in_batch_loss(same, same, t)) == pytest.approx(math.log(n), rel=1e-6)
    assert float(
        random_location_loss(same, same, same[:, None].expand(n, 5, 3), t)
    ) == pytest.approx(math.log(6), rel=1e-6)


def test_losses_check_their_inputs() -> None:
    a = torch.randn(4, 3)
    with pytest.raises(ValueError, match="same shape"):
        in_batch_loss(a, torch.randn(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        simcse_loss(a[:1], a[:1])
    with pytest.raises(ValueError, match="temperature"):
        in_batch_loss(a, a, 0.0)
    with pytest.raises(ValueError, match=r"\(batch, K, dim\)"):
        random_location_loss(a, a, torch.randn(3, 2, 3))
    with pytest.raises(ValueError, match="dim"):
        random_location_loss(a, a, torch.randn(4, 2, 5))


def test_losses_have_gradients_and_stay_float32_under_bf16() -> None:
    loc = torch.randn(6, 4, requires_grad=True)
    img = torch.randn(6, 4)
    loss = in_batch_loss(loc.bfloat16(), img.bfloat16())
    assert loss.dtype == torch.float32
    loss.backward()
    assert loc.grad is not None and torch.isfinite(loc.grad).all()


def test_random_locations_are_uniform_on_the_sphere() -> None:
    """Chi-square on equal-area latitude bands (equal steps of sin(lat)) and lon bins."""
    points = uniform_sphere_locations(20_000, torch.Generator().manual_seed(0)).numpy()
    lon, lat = points[:, 0], points[:, 1]
    assert lon.min() >= -180 and lon.max() <= 180 and np.abs(lat).max() <= 90
    bands = np.histogram(np.sin(np.radians(lat)), bins=10, range=(-1, 1))[0]
    assert stats.chisquare(bands).pvalue > 0.001
    assert stats.chisquare(np.histogram(lon, bins=12, range=(-180, 180))[0]).pvalue > 0.001
    # the test has power: latitudes uniform in degrees (crowding the poles) fail it
    naive = np.random.default_rng(0).uniform(-90, 90, 20_000)
    naive_bands = np.histogram(np.sin(np.radians(naive)), bins=10, range=(-1, 1))[0]
    assert stats.chisquare(naive_bands).pvalue < 1e-6
    # and the sampler is reproducible from its generator
    again = uniform_sphere_locations(5, torch.Generator().manual_seed(0)).numpy()
    assert np.array_equal(again, points[:5])


def test_distributed_losses_without_process_group_are_the_plain_ones() -> None:
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert torch.equal(distributed_in_batch_loss(a, b, 0.2), in_batch_loss(a, b, 0.2))
    assert torch.equal(distributed_simcse_loss(a, b, 0.2), simcse_loss(a, b, 0.2))


# run by tests.distributed_harness after its prologue: rank, world, batch, torch, dist
WORKER = """
from stcrl_core.methods.csp_losses import distributed_in_batch_loss, distributed_simcse_loss

n = batch["a"].shape[0] // world
result = {}
for name, fn in (("batch", distributed_in_batch_loss), ("simcse", distributed_simcse_loss)):
    a = batch["a"][rank * n:(rank + 1) * n].clone().requires_grad_(True)
    b = batch["b"][rank * n:(rank + 1) * n].clone().requires_grad_(True)
    loss = fn(a, b, batch["tau"])
    loss.backward()
    mean = loss.detach().clone()
    dist.all_reduce(mean)
    result[name] = {"mean": mean / world, "grad_a": a.grad, "grad_b": b.grad}
"""


@pytest.mark.timeout(120)
def test_distributed_losses_match_the_full_batch(tmp_path: Path) -> None:
    world, n, tau = 2, 8, 0.1
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(n, 6, generator=g), torch.randn(n, 6, generator=g)
    results = run_gloo_workers(tmp_path, WORKER, {"a": a, "b": b, "tau": tau}, world, timeout=90)
    for name, fn in (("batch", in_batch_loss), ("simcse", simcse_loss)):
        fa, fb = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
        full = fn(fa, fb, tau)
        full.backward()
        for res in results:  # the mean of the per-rank losses is the full-batch loss
            torch.testing.assert_close(res[name]["mean"], full.detach(), rtol=1e-6, atol=1e-6)
        # all_gather's backward sums over ranks: / world is the gradient of the mean
        grad_a = torch.cat([res[name]["grad_a"] for res in results]) / world
        grad_b = torch.cat([res[name]["grad_b"] for res in results]) / world
        torch.testing.assert_close(grad_a, fa.grad, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad_b, fb.grad, rtol=1e-5, atol=1e-6)


def test_csp_random_locations_are_the_scripts_sphericalold() -> None:
    """lon = 180 sqrt(1-u^2) cos t, lat = 90 sqrt(1-u^2) sin t: a disc in (lon/180, lat/90)
    whose squared radius 1 - u^2 has mean 2/3; not uniform on the sphere."""
    from stcrl_core.methods.csp_losses import csp_random_locations

    points = csp_random_locations(40_000, torch.Generator().manual_seed(1)).numpy()
    r2 = (points[:, 0] / 180) ** 2 + (points[:, 1] / 90) ** 2
    assert r2.max() <= 1 + 1e-12
    assert abs(r2.mean() - 2 / 3) < 0.01
    again = csp_random_locations(5, torch.Generator().manual_seed(1)).numpy()
    np.testing.assert_array_equal(again, points[:5])
