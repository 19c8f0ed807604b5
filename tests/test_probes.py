"""Batched probes: correctness against scikit-learn, batching, separable and shuffled data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from stcrl_core.eval.metrics import overall_f1
from stcrl_core.eval.probes import LogisticProbe, MLPProbe


def _blobs(n: int, d: int, seed: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), n // 4)
    centres = rng.normal(0, 3, (4, d))
    return (centres[y] + rng.normal(0, spread, (len(y), d))).astype(np.float32), y


@pytest.mark.parametrize("probe", [LogisticProbe, MLPProbe])
def test_separable_data_gives_f1_near_one(probe) -> None:
    X, y = _blobs(200, 16, 0)
    Xe, ye = _blobs(400, 16, 0)
    model = probe(device="cpu", random_state=0).fit(X, y)
    assert model is not None and hasattr(model, "n_iter_")
    assert overall_f1(ye, model.predict(Xe)) > 0.95
    proba = model.predict_proba(Xe)
    assert proba.shape == (400, 4)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)


@pytest.mark.parametrize("probe", [LogisticProbe, MLPProbe])
def test_shuffled_labels_give_chance(probe) -> None:
    X, y = _blobs(400, 16, 1)
    Xe, ye = _blobs(2000, 16, 1)
    y = np.random.default_rng(0).permutation(y)
    f1 = overall_f1(ye, probe(device="cpu", random_state=0).fit(X, y).predict(Xe))
    assert f1 < 0.4  # chance is about 0.25


def test_logistic_matches_scikit_learn() -> None:
    X, y = _blobs(160, 8, 2, spread=4.0)
    Xe, _ = _blobs(400, 8, 3, spread=4.0)
    ours = LogisticProbe(device="cpu", max_iter=500, tol=1e-7).fit(X, y)
    scaler = StandardScaler().fit(X)
    ref = LogisticRegression(C=1.0, max_iter=2000, tol=1e-10).fit(scaler.transform(X), y)
    np.testing.assert_allclose(ours.coef_[0].numpy(), ref.coef_.T, atol=2e-3)
    np.testing.assert_allclose(
        ours.predict_proba(Xe), ref.predict_proba(scaler.transform(Xe)), atol=2e-3
    )


@pytest.mark.parametrize("probe", [LogisticProbe, MLPProbe])
def test_batched_trials_equal_separate_runs(probe) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 80, 12)).astype(np.float32)
    y = np.tile(np.repeat(np.arange(4), 20), (10, 1))
    X += y[..., None] * 0.3
    Xe = rng.normal(size=(50, 12)).astype(np.float32)
    kwargs = {"device": "cpu"} | ({"max_iter": 500, "tol": 1e-7} if probe is LogisticProbe else {})
    batched = probe(random_state=7, **kwargs).fit(X, y).predict_proba(Xe)
    assert batched.shape == (10, 50, 4)
    for t in range(10):
        single = probe(random_state=7 + t, **kwargs).fit(X[t], y[t]).predict_proba(Xe)
        np.testing.assert_allclose(batched[t], single, atol=2e-3)


def test_shape_errors_name_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        LogisticProbe(device="cpu").fit(np.zeros((5, 2)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="damage classes"):
        LogisticProbe(device="cpu").fit(np.zeros((4, 2)), np.array([0, 1, 2, 5]))
    model = LogisticProbe(device="cpu").fit(np.eye(4), np.arange(4))
    with pytest.raises(ValueError, match="4 features"):
        model.predict(np.zeros((3, 5)))


def _autograd_mlp(X: np.ndarray, y: np.ndarray, probe: MLPProbe) -> list[torch.Tensor]:
    """Reference: the same objective and initialisation trained through autograd."""
    Z = torch.as_tensor(X, dtype=torch.float32)[None]
    Z = (Z - Z.mean(1, keepdim=True)) / Z.std(1, unbiased=False, keepdim=True)
    n, d = X.shape
    g = torch.Generator().manual_seed(probe.random_state)

    def glorot(fan_in: int, fan_out: int) -> torch.Tensor:
        bound = math.sqrt(6 / (fan_in + fan_out))
        return ((torch.rand(fan_in, fan_out, generator=g)[None] * 2 - 1) * bound).requires_grad_()

    W1 = glorot(d, probe.hidden)
    W2 = glorot(probe.hidden, 4)
    b1 = torch.zeros(1, 1, probe.hidden, requires_grad=True)
    b2 = torch.zeros(1, 1, 4, requires_grad=True)
    opt = torch.optim.Adam([W1, b1, W2, b2], lr=probe.lr)
    target = torch.as_tensor(y)
    for _ in range(probe.max_iter):
        opt.zero_grad()
        logits = torch.relu(Z @ W1 + b1) @ W2 + b2
        loss = (
            torch.nn.functional.cross_entropy(logits[0], target)
            + probe.alpha * 0.5 * ((W1 * W1).sum() + (W2 * W2).sum()) / n
        )
        loss.backward()
        opt.step()
    return [W1.detach(), b1.detach(), W2.detach(), b2.detach()]


def test_mlp_hand_written_gradient_matches_autograd() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 12)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    probe = MLPProbe(hidden=8, max_iter=7, lr=0.01, precision="float32", random_state=3)
    probe.fit(X, y)
    for ours, ref in zip(probe.params_, _autograd_mlp(X, y, probe), strict=True):
        torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    assert probe.product_dtype_ == "float32"


def test_mlp_bfloat16_products_agree_with_float32() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 32)).astype(np.float32)
    y = (X[:, :4].argmax(1)).astype(np.int64)
    a = MLPProbe(precision="float32", random_state=0).fit(X, y)
    b = MLPProbe(precision="bfloat16", random_state=0).fit(X, y)
    assert b.product_dtype_ == "bfloat16"
    assert (a.predict(X) == b.predict(X)).mean() > 0.97
    with pytest.raises(ValueError, match="precision must be"):
        MLPProbe(precision="fp8").fit(X, y)
