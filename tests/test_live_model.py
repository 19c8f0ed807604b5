"""The labelling loop's live model: warm refits, predictions, cross-validated disagreements."""

from __future__ import annotations

import numpy as np
import pytest

from stcrl_core.eval.probes import LogisticProbe
from stcrl_core.labels.live import LabellingModel, cross_validated_predictions


def _data(n: int = 1200, d: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(4, size=n, p=[0.7, 0.1, 0.1, 0.1])
    centres = rng.normal(size=(4, d)) * 2.5
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def test_warm_refits_track_the_cold_optimum() -> None:
    X, y = _data()
    model = LabellingModel(X)
    order = np.random.default_rng(1).permutation(len(X))
    for n in range(8, 120, 7):
        assert model.update(order[:n], y[order[:n]]) == (len(set(y[order[:n]])) >= 2)
    cold = LogisticProbe(class_weight="balanced", tol=1e-6, max_iter=500).fit(
        X[order[:113]], y[order[:113]]
    )
    agree = (cold.predict(X) == model.proba.argmax(axis=1)).mean()
    assert agree > 0.99 and model.trained_on == 113
    assert not model.update(order[:113], y[order[:113]])  # the same labels: no refit


def test_warm_start_begins_from_the_previous_weights() -> None:
    X, y = _data(seed=2)
    probe = LogisticProbe(class_weight="balanced", warm_start=True, tol=1e-5, max_iter=300)
    probe.fit(X[:200], y[:200])
    first = probe.n_iter_
    probe.fit(X[:201], y[:201])
    assert probe.n_iter_ < first  # one more label: far fewer iterations than from zero
    cold = LogisticProbe(class_weight="balanced", tol=1e-5, max_iter=300).fit(X[:201], y[:201])
    np.testing.assert_allclose(probe.predict_proba(X), cold.predict_proba(X), atol=0.02)


def test_needs_two_classes_and_gives_every_building_a_prediction() -> None:
    X, y = _data(seed=3)
    model = LabellingModel(X)
    model.update(np.flatnonzero(y == 0)[:5], np.zeros(5, dtype=np.int64))
    assert not model.ready and model.uncertainty() is None
    rows = np.concatenate([np.flatnonzero(y == 0)[:5], np.flatnonzero(y == 3)[:2]])
    model.update(rows, y[rows])
    assert model.ready and model.classes == [0, 3]
    table = model.prediction_table(np.array([f"u{i}" for i in range(len(X))]), np.arange(len(X)))
    assert len(table) == len(X)
    assert set(table.columns) >= {"uid", "row", "pred", "confidence", "proba_3", "uncertainty",
                                  "margin"}  # fmt: skip
    assert table["uncertainty"].between(0, 1).all() and set(table["pred"]) <= {0, 3}
    with pytest.raises(ValueError, match="differ in shape"):
        model.update(rows, y[rows][:-1])


def test_cross_validation_finds_the_flipped_labels() -> None:
    X, y = _data(n=600, seed=4)
    rows = np.arange(300)
    labels = y[rows].copy()
    flipped = np.flatnonzero(labels == 0)[:4]
    labels[flipped] = 3
    pred, conf = cross_validated_predictions(X, rows, labels, folds=5)
    disagree = set(np.flatnonzero(pred != labels).tolist())
    assert set(flipped.tolist()) <= disagree and len(disagree) <= 10
    assert (conf[flipped] > 0.5).all()
    none, _ = cross_validated_predictions(X, rows[:3], labels[:3])
    assert (none == -1).all()
