"""Damage-classification metrics: confusion matrix, per-class scores, overall F1.

Damage classes are ``0`` no-damage, ``1`` minor, ``2`` major and ``3``
destroyed (:data:`DAMAGE_CLASS_NAMES`). Un-classified buildings (``-1``) are
never part of a damage task and are rejected here like any other out-of-range
label.

Per-class precision, recall and F1 follow scikit-learn's
``precision_recall_fscore_support(..., zero_division=0)``: a score whose
denominator is zero is 0, and ``F1_c = 2 TP / (2 TP + FP + FN)``.

Overall F1
----------
The overall score is the harmonic mean of the per-class F1 scores, as in the
ST-CRL paper (eq. 3)::

    F1 = C / sum_c (1 / F1_c)

so a class whose F1 is 0 (never predicted correctly, or absent from both the
labels and the predictions) makes the overall score exactly 0: the harmonic
mean of a set containing 0 is 0.

The official xView2 scorer uses a smoothed variant instead::

    df1 = 4 / sum_c (1 / (F1_c + 1e-6))

which gives a tiny non-zero value (about ``4e-6``) where one class fails
completely and differs from the exact harmonic mean by a relative ~1e-6
otherwise. :func:`overall_f1` computes the paper's definition by default
(``eps=0.0``); pass ``eps=1e-6`` to reproduce xView2's number.

The batched functions (:func:`batched_confusion`, :func:`batched_per_class_scores`,
:func:`batched_overall_f1`) score many trials at once, vectorised over the
trial axis; probes use them to score all trials of a label budget in one call.
"""

from __future__ import annotations

import numpy as np

DAMAGE_CLASS_NAMES: tuple[str, ...] = ("no-damage", "minor-damage", "major-damage", "destroyed")
N_DAMAGE_CLASSES = len(DAMAGE_CLASS_NAMES)

__all__ = [
    "DAMAGE_CLASS_NAMES",
    "N_DAMAGE_CLASSES",
    "batched_confusion",
    "batched_overall_f1",
    "batched_per_class_scores",
    "confusion_matrix",
    "overall_f1",
    "overall_f1_from_confusion",
    "per_class_scores",
    "scores_from_confusion",
]


# -- validation ----------------------------------------------------------------
def _check_n_classes(n_classes: int) -> None:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise ValueError(f"n_classes must be an integer, got {n_classes!r}")
    if n_classes < 1:
        raise ValueError(f"n_classes must be at least 1, got {n_classes}")


def _check_labels(name: str, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Return ``labels`` as int64 after checking dtype and range."""
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must hold integer class labels, got dtype {labels.dtype} "
            f"(shape {labels.shape})"
        )
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{name} holds label {bad}, outside [0, {n_classes}); un-classified "
                "buildings (-1) must be removed before scoring"
            )
    return labels.astype(np.int64, copy=False)


def _check_1d_pair(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    _check_n_classes(n_classes)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(
            "y_true and y_pred must be 1-D arrays of the same length, got shapes "
            f"{y_true.shape} and {y_pred.shape}"
        )
    return (
        _check_labels("y_true", y_true, n_classes),
        _check_labels("y_pred", y_pred, n_classes),
    )


def _check_batched_pair(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    _check_n_classes(n_classes)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.ndim != 2 or y_true.ndim not in (1, 2) or y_true.shape[-1] != y_pred.shape[-1]:
        raise ValueError(
            "batched scoring needs y_pred of shape (trials, n) and y_true of shape "
            f"(trials, n) or (n,), got shapes {y_true.shape} and {y_pred.shape}"
        )
    if y_true.ndim == 2 and y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            "y_true and y_pred must have the same number of trials, got shapes "
            f"{y_true.shape} and {y_pred.shape}"
        )
    y_true = _check_labels("y_true", y_true, n_classes)
    y_pred = _check_labels("y_pred", y_pred, n_classes)
    return np.broadcast_to(y_true, y_pred.shape), y_pred


def _check_confusion(confusion: np.ndarray) -> np.ndarray:
    confusion = np.asarray(confusion)
    if confusion.ndim < 2 or confusion.shape[-1] != confusion.shape[-2]:
        raise ValueError(
            f"a confusion matrix must have shape (..., C, C), got shape {confusion.shape}"
        )
    return confusion


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not eps >= 0.0:  # also rejects NaN
        raise ValueError(f"eps must be >= 0, got {eps}")
    return eps


# -- confusion matrices ---------------------------------------------------------
def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_DAMAGE_CLASSES
) -> np.ndarray:
    """Count (true class, predicted class) pairs.

    Args:
        y_true: True labels, integer array of shape ``(n,)`` in ``[0, n_classes)``.
        y_pred: Predicted labels, same shape and range.
        n_classes: Number of classes ``C``.

    Returns:
        int64 array of shape ``(C, C)``; entry ``[i, j]`` counts samples of true
        class ``i`` predicted as ``j`` (rows true, columns predicted).

    Raises:
        ValueError: If the shapes differ, an input is not 1-D or not integer, or
            a label is outside ``[0, n_classes)``.
    """
    y_true, y_pred = _check_1d_pair(y_true, y_pred, n_classes)
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.astype(np.int64, copy=False).reshape(n_classes, n_classes)


def batched_confusion(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_DAMAGE_CLASSES
) -> np.ndarray:
    """Confusion matrices of many trials at once.

    Args:
        y_true: True labels of shape ``(T, n)``, or ``(n,)`` when every trial is
            scored on the same evaluation set.
        y_pred: Predicted labels of shape ``(T, n)``.
        n_classes: Number of classes ``C``.

    Returns:
        int64 array of shape ``(T, C, C)``; ``out[t]`` equals
        ``confusion_matrix(y_true[t], y_pred[t])``.

    Raises:
        ValueError: If the shapes do not match or a label is out of range.
    """
    y_true, y_pred = _check_batched_pair(y_true, y_pred, n_classes)
    trials = y_pred.shape[0]
    cells = n_classes * n_classes
    offsets = (np.arange(trials, dtype=np.int64) * cells)[:, None]
    flat = np.bincount((offsets + y_true * n_classes + y_pred).ravel(), minlength=trials * cells)
    return flat.astype(np.int64, copy=False).reshape(trials, n_classes, n_classes)


# -- per-class scores -------------------------------------------------------------
def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0."""
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def scores_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support from confusion matrices.

    Args:
        confusion: Array of shape ``(..., C, C)``, rows true, columns predicted.

    Returns:
        Dict with ``"precision"``, ``"recall"``, ``"f1"`` (float64) and
        ``"support"`` (int64, number of true samples per class), each of shape
        ``(..., C)``. Undefined scores (zero denominator) are 0.

    Raises:
        ValueError: If ``confusion`` is not of shape ``(..., C, C)``.
    """
    confusion = _check_confusion(confusion)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    support = confusion.sum(axis=-1)  # true count per class
    predicted = confusion.sum(axis=-2)  # predicted count per class
    return {
        "precision": _safe_divide(tp, predicted),
        "recall": _safe_divide(tp, support),
        # 2 TP / (2 TP + FP + FN) == 2 TP / (predicted + support), like scikit-learn.
        "f1": _safe_divide(2 * tp, predicted + support),
        "support": support.astype(np.int64, copy=False),
    }


def per_class_scores(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_DAMAGE_CLASSES
) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support.

    Matches scikit-learn's ``precision_recall_fscore_support(y_true, y_pred,
    labels=range(n_classes), zero_division=0)``.

    Args:
        y_true: True labels, integer array of shape ``(n,)``.
        y_pred: Predicted labels, same shape.
        n_classes: Number of classes ``C``.

    Returns:
        Dict with keys ``"precision"``, ``"recall"``, ``"f1"`` and ``"support"``,
        each an array of shape ``(C,)``; 0 where a score is undefined.

    Raises:
        ValueError: As :func:`confusion_matrix`.
    """
    return scores_from_confusion(confusion_matrix(y_true, y_pred, n_classes))


def batched_per_class_scores(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_DAMAGE_CLASSES
) -> dict[str, np.ndarray]:
    """:func:`per_class_scores` of many trials; arrays of shape ``(T, C)``.

    Args and errors as :func:`batched_confusion`.
    """
    return scores_from_confusion(batched_confusion(y_true, y_pred, n_classes))


# -- overall F1 -------------------------------------------------------------------
def _harmonic_mean(f1: np.ndarray, eps: float) -> np.ndarray:
    """Harmonic mean over the last axis; 0 where any entry is 0 and ``eps`` is 0."""
    n = f1.shape[-1]
    shifted = f1 + eps
    positive = np.all(shifted > 0, axis=-1)
    inverse = _safe_divide(np.ones_like(shifted), shifted).sum(axis=-1)
    out = np.zeros(positive.shape, dtype=np.float64)
    np.divide(n, inverse, out=out, where=positive)
    return out


def overall_f1_from_confusion(confusion: np.ndarray, eps: float = 0.0) -> np.ndarray | float:
    """Overall F1 (harmonic mean of per-class F1) from confusion matrices.

    Args:
        confusion: Array of shape ``(..., C, C)``.
        eps: 0 for the paper's harmonic mean, ``1e-6`` for xView2's variant.

    Returns:
        A float for a single ``(C, C)`` matrix, else an array of shape ``(...)``.

    Raises:
        ValueError: If ``confusion`` has the wrong shape or ``eps`` is negative.
    """
    eps = _check_eps(eps)
    out = _harmonic_mean(scores_from_confusion(confusion)["f1"], eps)
    return float(out) if out.ndim == 0 else out


def overall_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int = N_DAMAGE_CLASSES,
    eps: float = 0.0,
) -> float:
    """Overall damage F1: harmonic mean of the per-class F1 scores.

    With ``eps=0`` (default) this is the paper's ``C / sum(1 / F1_c)``, and any
    class with ``F1_c = 0`` makes it 0. With ``eps > 0`` it is xView2's
    ``C / sum(1 / (F1_c + eps))`` (the official scorer uses ``eps=1e-6``).

    Args:
        y_true: True labels, integer array of shape ``(n,)``.
        y_pred: Predicted labels, same shape.
        n_classes: Number of classes ``C``.
        eps: Smoothing added to every per-class F1; must be >= 0.

    Returns:
        The overall F1 in ``[0, 1]``.

    Raises:
        ValueError: As :func:`confusion_matrix`, or if ``eps`` is negative.
    """
    eps = _check_eps(eps)
    f1 = per_class_scores(y_true, y_pred, n_classes)["f1"]
    return float(_harmonic_mean(f1, eps))


def batched_overall_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int = N_DAMAGE_CLASSES,
    eps: float = 0.0,
) -> np.ndarray:
    """:func:`overall_f1` of many trials at once.

    Args:
        y_true: True labels of shape ``(T, n)`` or ``(n,)`` (shared by all trials).
        y_pred: Predicted labels of shape ``(T, n)``.
        n_classes: Number of classes ``C``.
        eps: As :func:`overall_f1`.

    Returns:
        float64 array of shape ``(T,)``.

    Raises:
        ValueError: As :func:`batched_confusion`, or if ``eps`` is negative.
    """
    eps = _check_eps(eps)
    f1 = batched_per_class_scores(y_true, y_pred, n_classes)["f1"]
    return _harmonic_mean(f1, eps)
