"""Batched probes: correctness against scikit-learn, batching, separable and shuffled data."""

from __future__ import annotations

import numpy as np
import pytest
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
