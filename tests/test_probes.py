"""Batched probes: correctness against scikit-learn, batching, separable and shuffled data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from stcrl_core.eval.metrics import overall_f1
from stcrl_core.eval.probes import LogisticProbe, MLPProbe, minibatch_windows


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


def test_balanced_class_weight_matches_scikit_learn() -> None:
    X, y = _blobs(240, 8, 5, spread=4.0)
    keep = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y > 0)[::4]]  # 60 : 15 : 15 : 15
    X, y = X[keep], y[keep]
    ours = LogisticProbe(device="cpu", max_iter=500, tol=1e-7, class_weight="balanced").fit(X, y)
    scaler = StandardScaler().fit(X)
    ref = LogisticRegression(C=1.0, max_iter=2000, tol=1e-10, class_weight="balanced")
    ref.fit(scaler.transform(X), y)
    np.testing.assert_allclose(ours.coef_[0].numpy(), ref.coef_.T, atol=2e-3)
    # a class absent from a trial gets no weight, and the other classes' weights follow
    # scikit-learn's n / (k n_c) over the k classes present
    three = y < 3
    ours3 = LogisticProbe(device="cpu", max_iter=500, tol=1e-7, class_weight="balanced")
    ours3.fit(X[three], y[three])
    ref3 = LogisticRegression(C=1.0, max_iter=2000, tol=1e-10, class_weight="balanced")
    ref3.fit(StandardScaler().fit_transform(X[three]), y[three])
    np.testing.assert_allclose(ours3.predict(X[three]), ref3.predict(
        StandardScaler().fit(X[three]).transform(X[three])))  # fmt: skip
    with pytest.raises(ValueError, match="class_weight"):
        LogisticProbe(class_weight="auto").fit(X, y)


@pytest.mark.parametrize("probe", [LogisticProbe, MLPProbe, "mlp-minibatch"])
def test_batched_trials_equal_separate_runs(probe) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 80, 12)).astype(np.float32)
    y = np.tile(np.repeat(np.arange(4), 20), (10, 1))
    X += y[..., None] * 0.3
    Xe = rng.normal(size=(50, 12)).astype(np.float32)
    kwargs = {"device": "cpu"} | ({"max_iter": 500, "tol": 1e-7} if probe is LogisticProbe else {})
    if probe == "mlp-minibatch":  # 80 rows in minibatches of 26: shuffles are per trial too
        probe, kwargs = MLPProbe, kwargs | {"batch_size": 30}
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
    """Reference: the same objective, initialisation and minibatches trained through
    autograd, one trial, row by row as written in the docstrings."""
    Z = torch.as_tensor(X, dtype=torch.float32)
    Z = (Z - Z.mean(0)) / Z.std(0, unbiased=False)
    n, d = X.shape
    g = torch.Generator().manual_seed(probe.random_state)

    def glorot(fan_in: int, fan_out: int) -> torch.Tensor:
        bound = math.sqrt(6 / (fan_in + fan_out))
        return ((torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound).requires_grad_()

    W1 = glorot(d, probe.hidden)
    W2 = glorot(probe.hidden, 4)
    b1 = torch.zeros(probe.hidden, requires_grad=True)
    b2 = torch.zeros(4, requires_grad=True)
    order = torch.randperm(n, generator=g)
    Z, target = torch.cat([Z[order]] * 2), torch.as_tensor(y)[order].repeat(2)
    opt = torch.optim.Adam([W1, b1, W2, b2], lr=probe.lr)
    k = math.ceil(n / probe.batch_size)
    updates = min(probe.max_iter, probe.max_epochs * k)
    for start, stop in minibatch_windows(n, probe.batch_size, updates):
        opt.zero_grad()
        logits = torch.relu(Z[start:stop] @ W1 + b1) @ W2 + b2
        loss = torch.nn.functional.cross_entropy(logits, target[start:stop]) + probe.alpha * 0.5 * (
            (W1 * W1).sum() + (W2 * W2).sum()
        ) / (stop - start)
        loss.backward()
        opt.step()
    return [W1.detach()[None], b1.detach()[None, None], W2.detach()[None], b2.detach()[None, None]]


@pytest.mark.parametrize("batch_size", [200, 24])
def test_mlp_hand_written_gradient_matches_autograd(batch_size: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 12)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    probe = MLPProbe(
        hidden=8, max_iter=9, lr=0.01, alpha=0.1, batch_size=batch_size, precision="float32",
        random_state=3,
    )  # fmt: skip
    probe.fit(X, y)
    assert probe.n_iter_ == 9
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


def test_logistic_folded_standardisation_survives_large_offsets() -> None:
    # The probe folds mean and scale into the weights rather than standardising X,
    # unless features lie far from zero for their spread: then it standardises.
    X, y = _blobs(160, 8, 5, spread=4.0)
    X = X * 0.01 + np.linspace(-300, 500, 8, dtype=np.float32)
    ours = LogisticProbe(device="cpu", max_iter=500, tol=1e-7).fit(X, y)
    scaler = StandardScaler().fit(X)
    ref = LogisticRegression(C=1.0, max_iter=2000, tol=1e-10).fit(scaler.transform(X), y)
    np.testing.assert_allclose(ours.coef_[0].numpy(), ref.coef_.T, atol=2e-3)


@pytest.mark.parametrize(
    ("n", "batch_size", "updates"), [(100, 200, 5), (500, 200, 20), (64, 24, 9)]
)
def test_minibatch_windows_split_each_epoch_evenly(n: int, batch_size: int, updates: int) -> None:
    windows = minibatch_windows(n, batch_size, updates)
    k = math.ceil(n / batch_size)
    assert len(windows) == updates
    assert {stop - start for start, stop in windows} == {n // k}
    assert all(start >= 0 and stop <= 2 * n for start, stop in windows)
    for e in range(0, updates - k + 1, k):  # within an epoch: adjacent, distinct rows
        epoch = windows[e : e + k]
        assert all(a[1] == b[0] for a, b in itertools.pairwise(epoch))
        rows = np.concatenate([np.arange(a, b) % n for a, b in epoch])
        assert len(set(rows.tolist())) == len(rows) == k * (n // k)
    if k == 1:
        assert set(windows) == {(0, n)}
    else:  # later epochs start elsewhere, so minibatches mix
        assert len({windows[e][0] for e in range(0, updates, k)}) > 1
    with pytest.raises(ValueError, match="batch_size"):
        minibatch_windows(n, 0, updates)


def test_mlp_updates_are_capped_by_epochs() -> None:
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(100, 6)).astype(np.float32), np.arange(100) % 4
    assert MLPProbe(max_iter=75, max_epochs=50).fit(X, y).n_iter_ == 50  # full batch
    assert MLPProbe(max_iter=75, max_epochs=50, batch_size=40).fit(X, y).n_iter_ == 75
    assert MLPProbe(max_iter=75, max_epochs=10, batch_size=40).fit(X, y).n_iter_ == 30
    with pytest.raises(ValueError, match="batch_size"):
        MLPProbe(batch_size=0).fit(X, y)
