"""Tests of the ST-CRL loss (``stcrl_core.methods.stcrl``).

The vectorised loss is compared with slow, obviously-correct references written
straight from eq. (1) of the paper (and from SimCLR's NT-Xent) with explicit
Python loops, in float64. Also: closed forms, gradients, invariances, numerical
stability, bf16 autocast, argument checks and the distributed (all-gather) loss
on 2 gloo processes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stcrl_core.methods.stcrl import contrastive_rows, distributed_stcrl_loss, stcrl_loss
from tests.distributed_harness import run_gloo_workers

Vec = list[float]


# ---------------------------------------------------------------------------
# slow references (pure Python, float64)
# ---------------------------------------------------------------------------


def _unit(v: Vec) -> Vec:
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def _cos(a: Vec, b: Vec) -> float:
    """Cosine similarity of two already normalised vectors."""
    return sum(x * y for x, y in zip(a, b, strict=True))


def _rows(z: torch.Tensor) -> list[Vec]:
    return [_unit(row) for row in z.detach().double().tolist()]


def ref_stcrl(z_pre: torch.Tensor, z_post: torch.Tensor, tau: float) -> float:
    """Eq. (1): one loss per building, one denominator holding all four negative pairs."""
    pre, post = _rows(z_pre), _rows(z_post)
    n = len(pre)
    total = 0.0
    for i in range(n):
        numerator = math.exp(_cos(pre[i], post[i]) / tau)
        denominator = numerator
        for j in range(n):
            if j == i:
                continue
            denominator += math.exp(_cos(pre[i], pre[j]) / tau)
            denominator += math.exp(_cos(pre[i], post[j]) / tau)
            denominator += math.exp(_cos(post[i], pre[j]) / tau)
            denominator += math.exp(_cos(post[i], post[j]) / tau)
        total += -math.log(numerator / denominator)
    return total / n


def ref_simclr(z_pre: torch.Tensor, z_post: torch.Tensor, tau: float) -> float:
    """SimCLR NT-Xent over the 2N views: anchor pre_i has positive post_i and negatives
    pre_j, post_j (j != i); anchor post_i has positive pre_i and the same negatives."""
    pre, post = _rows(z_pre), _rows(z_post)
    n = len(pre)
    total = 0.0
    for anchor, other in ((pre, post), (post, pre)):
        for i in range(n):
            numerator = math.exp(_cos(anchor[i], other[i]) / tau)
            denominator = numerator
            for j in range(n):
                if j == i:
                    continue
                denominator += math.exp(_cos(anchor[i], pre[j]) / tau)
                denominator += math.exp(_cos(anchor[i], post[j]) / tau)
            total += -math.log(numerator / denominator)
    return total / (2 * n)


REFERENCES = {"stcrl": ref_stcrl, "simclr": ref_simclr}


def ref_stcrl_torch(z_pre: torch.Tensor, z_post: torch.Tensor, tau: float) -> torch.Tensor:
    """The same loops as :func:`ref_stcrl`, in torch float64 so autograd gives gradients."""
    pre = [row / row.norm() for row in z_pre.double()]
    post = [row / row.norm() for row in z_post.double()]
    n = len(pre)
    losses = []
    for i in range(n):
        numerator = torch.exp(pre[i] @ post[i] / tau)
        denominator = numerator
        for j in range(n):
            if j != i:
                denominator = denominator + torch.exp(pre[i] @ pre[j] / tau)
                denominator = denominator + torch.exp(pre[i] @ post[j] / tau)
                denominator = denominator + torch.exp(post[i] @ pre[j] / tau)
                denominator = denominator + torch.exp(post[i] @ post[j] / tau)
        losses.append(-torch.log(numerator / denominator))
    return torch.stack(losses).mean()


def ref_simclr_torch(z_pre: torch.Tensor, z_post: torch.Tensor, tau: float) -> torch.Tensor:
    """The same loops as :func:`ref_simclr`, in torch float64."""
    pre = [row / row.norm() for row in z_pre.double()]
    post = [row / row.norm() for row in z_post.double()]
    n = len(pre)
    losses = []
    for anchor, other in ((pre, post), (post, pre)):
        for i in range(n):
            numerator = torch.exp(anchor[i] @ other[i] / tau)
            denominator = numerator
            for j in range(n):
                if j != i:
                    denominator = denominator + torch.exp(anchor[i] @ pre[j] / tau)
                    denominator = denominator + torch.exp(anchor[i] @ post[j] / tau)
            losses.append(-torch.log(numerator / denominator))
    return torch.stack(losses).mean()


TORCH_REFERENCES = {"stcrl": ref_stcrl_torch, "simclr": ref_simclr_torch}

EPS32 = torch.finfo(torch.float32).eps


def approx(expected: float, tau: float) -> object:
    """1e-5 relative, with an absolute floor at the float32 resolution of the logits.

    The loss is ``logsumexp(logits) - positive`` in float32 with logits up to ``1/tau``,
    so when the loss is << 1 (a confident batch) its absolute error is ~eps32/tau: a
    loss of 1e-8 is exactly 0 in float32. ``4 * eps32 / tau`` is 9.5e-6 at tau = 0.05.
    """
    return pytest.approx(expected, rel=1e-5, abs=4 * EPS32 / tau)


def random_batch(
    n: int, d: int, seed: int, dtype: torch.dtype = torch.float32, paired: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised pre/post embeddings with row norms spread over ~4 decades.

    With ``paired``, post_i is correlated with pre_i (as for a trained encoder, so the
    loss can be small); otherwise the views are independent (loss of order log 4N).
    """
    g = torch.Generator().manual_seed(seed)
    pre = torch.randn(n, d, generator=g, dtype=torch.float64)
    post = float(paired) * pre + torch.randn(n, d, generator=g, dtype=torch.float64)
    pre = pre * 10 ** (4 * torch.rand(n, 1, generator=g, dtype=torch.float64) - 2)
    post = post * 10 ** (4 * torch.rand(n, 1, generator=g, dtype=torch.float64) - 2)
    return pre.to(dtype), post.to(dtype)


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["stcrl", "simclr"])
@pytest.mark.parametrize("tau", [0.05, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("d", [2, 16, 128])
@pytest.mark.parametrize("n", [2, 3, 8, 33])
def test_matches_loop_reference(n: int, d: int, tau: float, variant: str) -> None:
    z_pre, z_post = random_batch(n, d, seed=1000 * n + d)
    loss = stcrl_loss(z_pre, z_post, temperature=tau, variant=variant)
    expected = REFERENCES[variant](z_pre, z_post, tau)
    assert loss.dtype == torch.float32
    assert loss.shape == ()
    assert loss.item() == approx(expected, tau)
    # independent views: the loss is O(log 4N), 1e-5 relative with no absolute floor
    z_pre, z_post = random_batch(n, d, seed=1000 * n + d + 1, paired=False)
    loss = stcrl_loss(z_pre, z_post, temperature=tau, variant=variant)
    assert loss.item() == pytest.approx(REFERENCES[variant](z_pre, z_post, tau), rel=1e-5, abs=0)


def test_float64_inputs_match_reference() -> None:
    z_pre, z_post = random_batch(8, 16, seed=3, dtype=torch.float64)
    for variant, ref in REFERENCES.items():
        got = stcrl_loss(z_pre, z_post, 0.1, variant).item()
        assert got == pytest.approx(ref(z_pre, z_post, 0.1), rel=1e-5)


def test_closed_form_identity_2() -> None:
    """pre = post = I_2, tau = 1: each anchor has positive sim 1, all negatives sim 0.

    stcrl: 4 negatives per building -> log(1 + 4/e); simclr: 2 per view -> log(1 + 2/e).
    """
    eye = torch.eye(2)
    stcrl = stcrl_loss(eye, eye.clone(), temperature=1.0)
    simclr = stcrl_loss(eye, eye.clone(), temperature=1.0, variant="simclr")
    assert stcrl.item() == pytest.approx(math.log(1 + 4 / math.e), rel=1e-6)
    assert simclr.item() == pytest.approx(math.log(1 + 2 / math.e), rel=1e-6)


@pytest.mark.parametrize("n", [2, 5, 16])
@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_closed_form_orthonormal(n: int, tau: float) -> None:
    """pre = post = I_n: log(1 + 4(n-1) e^{-1/tau}) and log(1 + 2(n-1) e^{-1/tau})."""
    eye = torch.eye(n)
    stcrl = stcrl_loss(eye, eye.clone(), tau)
    simclr = stcrl_loss(eye, eye.clone(), tau, "simclr")
    assert stcrl.item() == approx(math.log1p(4 * (n - 1) * math.exp(-1 / tau)), tau)
    assert simclr.item() == approx(math.log1p(2 * (n - 1) * math.exp(-1 / tau)), tau)


@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
def test_closed_form_all_identical(tau: float) -> None:
    """All 2n views equal: every logit is 1/tau, so log(4n - 3) and log(2n - 1)."""
    n = 6
    z = torch.ones(n, 4)
    assert stcrl_loss(z, z.clone(), tau).item() == pytest.approx(math.log(4 * n - 3), rel=1e-5)
    simclr = stcrl_loss(z, z.clone(), tau, "simclr").item()
    assert simclr == pytest.approx(math.log(2 * n - 1), rel=1e-5)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["stcrl", "simclr"])
def test_gradcheck_vectorised_rows(variant: str) -> None:
    """The vectorised formula (normalise + contrastive_rows) passes gradcheck in float64."""

    def loss(z_pre: torch.Tensor, z_post: torch.Tensor) -> torch.Tensor:
        u_pre, u_post = F.normalize(z_pre, dim=1), F.normalize(z_post, dim=1)
        return contrastive_rows(u_pre, u_post, u_pre, u_post, 0, 0.5, variant).mean()

    z_pre, z_post = random_batch(4, 3, seed=11, dtype=torch.float64)
    z_pre.requires_grad_(True)
    z_post.requires_grad_(True)
    assert torch.autograd.gradcheck(loss, (z_pre, z_post), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("variant", ["stcrl", "simclr"])
def test_gradcheck_stcrl_loss_float64(variant: str) -> None:
    z_pre, z_post = random_batch(4, 3, seed=12, dtype=torch.float64)
    z_pre.requires_grad_(True)
    z_post.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b: stcrl_loss(a, b, 0.5, variant), (z_pre, z_post), eps=1e-6, atol=1e-5
    )


@pytest.mark.parametrize("variant", ["stcrl", "simclr"])
@pytest.mark.parametrize(("n", "d", "tau"), [(2, 3, 0.5), (5, 8, 0.1), (9, 16, 0.05)])
def test_gradients_match_loop_reference(n: int, d: int, tau: float, variant: str) -> None:
    z_pre, z_post = random_batch(n, d, seed=7 * n + d)
    a = z_pre.clone().requires_grad_(True)
    b = z_post.clone().requires_grad_(True)
    stcrl_loss(a, b, tau, variant).backward()
    ra = z_pre.double().requires_grad_(True)
    rb = z_post.double().requires_grad_(True)
    TORCH_REFERENCES[variant](ra, rb, tau).backward()
    assert a.grad is not None and b.grad is not None
    assert a.grad.dtype == torch.float32
    # Gradients scale as 1/|z_i| (row norms span 4 decades): compare row-relatively.
    for got, want, z in ((a.grad, ra.grad, ra), (b.grad, rb.grad, rb)):
        scale = z.detach().norm(dim=1, keepdim=True)
        torch.testing.assert_close(got.double() * scale, want * scale, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# invariances
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["stcrl", "simclr"])
@pytest.mark.parametrize("c", [1e-3, 0.37, 5.0, 1e4])
def test_scale_invariance(c: float, variant: str) -> None:
    z_pre, z_post = random_batch(8, 16, seed=21)
    base = stcrl_loss(z_pre, z_post, 0.1, variant)
    scaled = stcrl_loss(c * z_pre, c * z_post, 0.1, variant)
    torch.testing.assert_close(scaled, base, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", ["stcrl", "simclr"])
def test_permutation_invariance(variant: str) -> None:
    z_pre, z_post = random_batch(12, 16, seed=22)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    base = stcrl_loss(z_pre, z_post, 0.1, variant)
    permuted = stcrl_loss(z_pre[perm], z_post[perm], 0.1, variant)
    torch.testing.assert_close(permuted, base, rtol=1e-5, atol=1e-6)
    # permuting only one side breaks the pairs and changes the loss
    assert not torch.allclose(stcrl_loss(z_pre[perm], z_post, 0.1, variant), base)


# ---------------------------------------------------------------------------
# numerical stability and mixed precision
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["stcrl", "simclr"])
def test_stable_at_low_temperature(variant: str) -> None:
    g = torch.Generator().manual_seed(31)
    n = 16
    base = torch.randn(1, 32, generator=g)
    z_pre = (base + 1e-4 * torch.randn(n, 32, generator=g)).requires_grad_(True)
    z_post = (base + 1e-4 * torch.randn(n, 32, generator=g)).requires_grad_(True)
    loss = stcrl_loss(z_pre, z_post, temperature=0.01, variant=variant)
    loss.backward()
    assert torch.isfinite(loss)
    assert z_pre.grad is not None and z_post.grad is not None
    assert torch.isfinite(z_pre.grad).all() and torch.isfinite(z_post.grad).all()
    # nearly identical views: close to the all-equal closed form
    negatives = 4 * (n - 1) if variant == "stcrl" else 2 * (n - 1)
    assert loss.item() == pytest.approx(math.log(1 + negatives), abs=0.1)


def test_stable_with_far_apart_views() -> None:
    """Logits of +-100 (tau = 0.01, opposite views): no overflow, ~0 loss for clean pairs."""
    z_pre = torch.eye(4) * 3.0
    z_pre.requires_grad_(True)
    loss = stcrl_loss(z_pre, z_pre.detach() * 2.0, temperature=0.01)
    loss.backward()
    assert torch.isfinite(loss) and 0.0 <= loss.item() < 1e-6
    assert z_pre.grad is not None and torch.isfinite(z_pre.grad).all()
    flipped = stcrl_loss(torch.eye(4), -torch.eye(4), temperature=0.01)
    assert torch.isfinite(flipped) and flipped.item() > 100.0


@pytest.mark.parametrize("variant", ["stcrl", "simclr"])
def test_bf16_autocast(variant: str) -> None:
    torch.manual_seed(41)
    head = nn.Linear(32, 16)
    x_pre, x_post = torch.randn(8, 32), torch.randn(8, 32)
    x_post = 0.5 * x_pre + x_post
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h_pre, h_post = head(x_pre), head(x_post)
        assert h_pre.dtype == torch.bfloat16
        loss = stcrl_loss(h_pre, h_post, 0.1, variant)
    assert loss.dtype == torch.float32
    # the loss itself runs in float32: same value as on the bf16 outputs upcast by hand
    upcast = stcrl_loss(h_pre.float(), h_post.float(), 0.1, variant)
    torch.testing.assert_close(loss, upcast, rtol=1e-6, atol=1e-6)
    # and close to the all-float32 computation
    full = stcrl_loss(head(x_pre), head(x_post), 0.1, variant)
    assert full.dtype == torch.float32
    torch.testing.assert_close(loss, full, rtol=0, atol=2e-2)
    loss.backward()
    assert head.weight.grad is not None and torch.isfinite(head.weight.grad).all()


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------


def test_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"\(4, 8\).*\(4, 7\)"):
        stcrl_loss(torch.randn(4, 8), torch.randn(4, 7))
    with pytest.raises(ValueError, match=r"\(4, 8\).*\(5, 8\)"):
        stcrl_loss(torch.randn(4, 8), torch.randn(5, 8))


def test_rejects_1d_input() -> None:
    with pytest.raises(ValueError, match=r"\(batch, dim\).*\(8,\)"):
        stcrl_loss(torch.randn(8), torch.randn(8))


def test_rejects_batch_of_one() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        stcrl_loss(torch.randn(1, 8), torch.randn(1, 8))


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan")])
def test_rejects_bad_temperature(tau: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        stcrl_loss(torch.randn(4, 8), torch.randn(4, 8), temperature=tau)


def test_rejects_unknown_variant() -> None:
    with pytest.raises(ValueError, match=r"variant.*'moco'"):
        stcrl_loss(torch.randn(4, 8), torch.randn(4, 8), variant="moco")


def test_distributed_without_process_group_is_stcrl_loss() -> None:
    z_pre, z_post = random_batch(6, 8, seed=51)
    for variant in ("stcrl", "simclr"):
        torch.testing.assert_close(
            distributed_stcrl_loss(z_pre, z_post, 0.1, variant),
            stcrl_loss(z_pre, z_post, 0.1, variant),
        )


# ---------------------------------------------------------------------------
# distributed: 2 gloo processes on CPU
# ---------------------------------------------------------------------------

# run by tests.distributed_harness after its prologue: rank, world, batch, torch, dist
WORKER = """
from stcrl_core.methods.stcrl import distributed_stcrl_loss

n = batch["pre"].shape[0] // world
result = {}
for variant in ("stcrl", "simclr"):
    z_pre = batch["pre"][rank * n:(rank + 1) * n].clone().requires_grad_(True)
    z_post = batch["post"][rank * n:(rank + 1) * n].clone().requires_grad_(True)
    loss = distributed_stcrl_loss(z_pre, z_post, batch["tau"], variant)
    loss.backward()
    mean = loss.detach().clone()
    dist.all_reduce(mean)
    result[variant] = {"local": loss.detach(), "mean": mean / world,
                       "grad_pre": z_pre.grad, "grad_post": z_post.grad}
"""


@pytest.mark.timeout(120)
def test_distributed_matches_full_batch(tmp_path: Path) -> None:
    world, n, d, tau = 2, 8, 16, 0.1
    z_pre, z_post = random_batch(n, d, seed=61)
    batch = {"pre": z_pre, "post": z_post, "tau": tau}
    results = run_gloo_workers(tmp_path, WORKER, batch, world, timeout=90)  # inside the 120 s

    half = n // world
    for variant in ("stcrl", "simclr"):
        a = z_pre.clone().requires_grad_(True)
        b = z_post.clone().requires_grad_(True)
        full = stcrl_loss(a, b, tau, variant)
        full.backward()
        assert a.grad is not None and b.grad is not None
        for rank, res in enumerate(results):
            r = res[variant]
            # the all-reduced mean of the per-rank losses is the full-batch loss
            torch.testing.assert_close(r["mean"], full.detach(), rtol=1e-6, atol=1e-6)
            # each rank's own loss: its buildings (views) against the global batch
            rows = slice(rank * half, (rank + 1) * half)
            u_pre, u_post = F.normalize(z_pre, dim=1), F.normalize(z_post, dim=1)
            local = contrastive_rows(
                u_pre[rows], u_post[rows], u_pre, u_post, rank * half, tau, variant
            ).mean()
            torch.testing.assert_close(r["local"], local, rtol=1e-6, atol=1e-6)
        # all_gather's backward sums over ranks, so each rank holds
        # d(sum_r loss_r)/d(its slice); / world = d(mean_r loss_r)/d(slice)
        grad_pre = torch.cat([res[variant]["grad_pre"] for res in results]) / world
        grad_post = torch.cat([res[variant]["grad_post"] for res in results]) / world
        torch.testing.assert_close(grad_pre, a.grad, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad_post, b.grad, rtol=1e-5, atol=1e-6)
