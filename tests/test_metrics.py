"""Damage metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import precision_recall_fscore_support

from stcrl_core.eval.metrics import (
    DAMAGE_CLASS_NAMES,
    batched_confusion,
    batched_overall_f1,
    batched_per_class_scores,
    confusion_matrix,
    overall_f1,
    overall_f1_from_confusion,
    per_class_scores,
)

LABELS = [0, 1, 2, 3]


def _random_cases(count: int = 200, seed: int = 0):
    """Random (y_true, y_pred) pairs, many with classes missing from one or both."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(1, 60))
        true_classes = rng.choice(4, size=int(rng.integers(1, 5)), replace=False)
        pred_classes = rng.choice(4, size=int(rng.integers(1, 5)), replace=False)
        y_true = rng.choice(true_classes, size=n)
        y_pred = np.where(rng.random(n) < 0.5, y_true, rng.choice(pred_classes, size=n))
        yield y_true.astype(np.int64), y_pred.astype(np.int64)


def _xview2_df1(f1: np.ndarray) -> float:
    return 4 / sum(1 / (f + 1e-6) for f in f1)


def test_class_names() -> None:
    assert DAMAGE_CLASS_NAMES == ("no-damage", "minor-damage", "major-damage", "destroyed")


def test_confusion_and_scores_match_sklearn() -> None:
    for y_true, y_pred in _random_cases():
        cm = confusion_matrix(y_true, y_pred)
        assert cm.dtype == np.int64 and cm.shape == (4, 4)
        np.testing.assert_array_equal(cm, sk_confusion_matrix(y_true, y_pred, labels=LABELS))
        ours = per_class_scores(y_true, y_pred)
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=LABELS, zero_division=0)
        np.testing.assert_allclose(ours["precision"], p, rtol=1e-12, atol=0)
        np.testing.assert_allclose(ours["recall"], r, rtol=1e-12, atol=0)
        np.testing.assert_allclose(ours["f1"], f, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(ours["support"], s)


def test_confusion_layout_rows_true_columns_predicted() -> None:
    cm = confusion_matrix(np.array([0, 0, 3]), np.array([1, 1, 2]))
    assert cm[0, 1] == 2 and cm[3, 2] == 1 and cm.sum() == 3


def test_empty_input_gives_zeros() -> None:
    empty = np.array([], dtype=np.int64)
    assert confusion_matrix(empty, empty).sum() == 0
    assert per_class_scores(empty, empty)["f1"].tolist() == [0.0] * 4
    assert overall_f1(empty, empty) == 0.0


def test_overall_f1_perfect_is_one() -> None:
    y = np.array([0, 1, 2, 3, 3, 0, 1])
    assert overall_f1(y, y) == 1.0
    assert overall_f1(y, y, eps=1e-6) == pytest.approx(1.0, abs=1e-5)


def test_overall_f1_zero_when_a_class_is_never_right() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    y_pred = np.array([0, 0, 1, 1, 2, 2, 0, 0])  # "destroyed" never predicted
    assert per_class_scores(y_true, y_pred)["f1"][3] == 0.0
    assert overall_f1(y_true, y_pred) == 0.0
    # xView2's smoothed variant gives a tiny positive value instead.
    smoothed = overall_f1(y_true, y_pred, eps=1e-6)
    assert 0.0 < smoothed < 1e-5


def test_overall_f1_zero_when_a_class_is_absent() -> None:
    y = np.array([0, 1, 2, 0])  # no "destroyed" at all: F1_3 undefined -> 0
    assert overall_f1(y, y) == 0.0


def test_overall_f1_hand_computed() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    y_pred = np.array([0, 0, 1, 1, 2, 2, 3, 0])
    # class 0: TP 2, FP 1, FN 0 -> 4/5; classes 1, 2: 1; class 3: TP 1, FN 1 -> 2/3.
    np.testing.assert_allclose(per_class_scores(y_true, y_pred)["f1"], [0.8, 1, 1, 2 / 3])
    expected = 4 / (1 / 0.8 + 1 + 1 + 1.5)
    assert overall_f1(y_true, y_pred) == pytest.approx(expected, rel=1e-12)
    cm = confusion_matrix(y_true, y_pred)
    assert overall_f1_from_confusion(cm) == pytest.approx(expected, rel=1e-12)


def test_eps_variant_is_xview2_formula() -> None:
    for y_true, y_pred in _random_cases(100, seed=1):
        f1 = precision_recall_fscore_support(y_true, y_pred, labels=LABELS, zero_division=0)[2]
        assert overall_f1(y_true, y_pred, eps=1e-6) == pytest.approx(_xview2_df1(f1), rel=1e-12)
        exact = overall_f1(y_true, y_pred)
        if np.all(f1 > 0):
            assert exact == pytest.approx(4 / np.sum(1 / f1), rel=1e-12)
            assert exact == pytest.approx(_xview2_df1(f1), rel=1e-4)
        else:
            assert exact == 0.0


def test_batched_equals_looped() -> None:
    rng = np.random.default_rng(2)
    trials, n = 7, 80
    y_true = rng.integers(0, 4, size=(trials, n))
    y_pred = np.where(rng.random((trials, n)) < 0.6, y_true, rng.integers(0, 4, (trials, n)))
    y_pred[3] = np.minimum(y_pred[3], 2)  # one trial never predicts class 3
    cms = batched_confusion(y_true, y_pred)
    assert cms.shape == (trials, 4, 4) and cms.dtype == np.int64
    scores = batched_per_class_scores(y_true, y_pred)
    for eps in (0.0, 1e-6):
        f1s = batched_overall_f1(y_true, y_pred, eps=eps)
        assert f1s.shape == (trials,)
        for t in range(trials):
            np.testing.assert_array_equal(cms[t], confusion_matrix(y_true[t], y_pred[t]))
            single = per_class_scores(y_true[t], y_pred[t])
            for key in ("precision", "recall", "f1", "support"):
                np.testing.assert_array_equal(scores[key][t], single[key])
            assert f1s[t] == overall_f1(y_true[t], y_pred[t], eps=eps)
    assert batched_overall_f1(y_true, y_pred)[3] == 0.0
    np.testing.assert_array_equal(
        overall_f1_from_confusion(cms), batched_overall_f1(y_true, y_pred)
    )


def test_batched_shared_y_true() -> None:
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 4, size=50)
    y_pred = rng.integers(0, 4, size=(4, 50))
    np.testing.assert_array_equal(
        batched_confusion(y_true, y_pred), batched_confusion(np.tile(y_true, (4, 1)), y_pred)
    )


def test_other_class_counts() -> None:
    y_true, y_pred = np.array([0, 1, 1, 4]), np.array([0, 1, 4, 4])
    cm = confusion_matrix(y_true, y_pred, n_classes=5)
    assert cm.shape == (5, 5)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(y_true, y_pred, labels=range(5)))


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1, 2], [0, 1], r"same length.*\(3,\).*\(2,\)"),
        ([[0, 1]], [[0, 1]], r"1-D.*\(1, 2\)"),
        ([0, 1, 4], [0, 1, 2], r"y_true holds label 4.*\[0, 4\)"),
        ([0, 1, 2], [0, -1, 2], r"y_pred holds label -1.*un-classified"),
        ([0.0, 1.0], [0, 1], r"integer class labels.*float64"),
    ],
)
def test_bad_inputs(y_true: list, y_pred: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        confusion_matrix(np.array(y_true), np.array(y_pred))
    with pytest.raises(ValueError, match=message):
        overall_f1(np.array(y_true), np.array(y_pred))


def test_bad_batched_inputs_and_eps() -> None:
    with pytest.raises(ValueError, match=r"\(3, 5\).*\(2, 5\)"):
        batched_confusion(np.zeros((3, 5), int), np.zeros((2, 5), int))
    with pytest.raises(ValueError, match=r"\(4,\).*\(2, 5\)"):
        batched_overall_f1(np.zeros(4, int), np.zeros((2, 5), int))
    with pytest.raises(ValueError, match=r"\(5,\).*\(5,\)"):
        batched_confusion(np.zeros(5, int), np.zeros(5, int))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        overall_f1(np.array([0]), np.array([0]), eps=-1e-6)
    with pytest.raises(ValueError, match="n_classes"):
        confusion_matrix(np.array([0]), np.array([0]), n_classes=0)
    with pytest.raises(ValueError, match=r"shape \(4, 3\)"):
        overall_f1_from_confusion(np.zeros((4, 3)))
