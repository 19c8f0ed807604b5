"""The labelling loop's live model: refitted after each label, predicting every building.

A class-weighted (``class_weight="balanced"``, since an analyst's labels follow
the natural, unbalanced class mix) multinomial :class:`LogisticProbe` on a
run's features (``pre+post`` by default), warm-started from its previous
weights, so a refit after one more label takes a few L-BFGS steps
(``benchmarks/bench_live_probe.py``: well under 1 s for 10,000 buildings x 512
features on the CPU). It needs labels in at least two classes (HASTE needs 3
labels in 2 classes). After each fit it holds the class probabilities,
prediction and uncertainty (normalised entropy) of every building; its table is
written as a normal prediction (``predictions/labelling-<run>-<features>.parquet``,
with ``uncertainty`` and ``margin`` columns), which the damage map colours by.

:func:`cross_validated_predictions` predicts each labelled building by a model
that did not see its label (k folds): where it disagrees with the label, the
label or the model is worth a second look.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch

from stcrl_core.active.strategies import uncertainty_scores
from stcrl_core.eval.probes import LogisticProbe

PREDICTION_PREFIX = "labelling-"
MIN_CLASSES = 2


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (None: unchanged), then restore."""
    before = torch.get_num_threads()
    if threads is not None and threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def prediction_name(run: str, features: str) -> str:
    """Name of the live model's stored prediction: ``labelling-<run>-<features>``."""
    return f"{PREDICTION_PREFIX}{run}-{features}"


def _probe(C: float, max_iter: int, tol: float, device: str, warm: bool) -> LogisticProbe:
    return LogisticProbe(C=C, max_iter=max_iter, tol=tol, device=device,
                         class_weight="balanced", warm_start=warm)  # fmt: skip


class LabellingModel:
    """A live model over one feature matrix; thread-safe (app sessions may share one).

    Args:
        features: ``(N, d)`` features of every building (row i = building row i).
        C: Inverse regularisation strength.
        max_iter: L-BFGS iterations per refit.
        tol: Gradient tolerance.
        device: ``cpu`` (default: a refit is small), ``cuda`` or ``auto``.
        threads: Torch CPU threads during a refit (default 1; None: torch's setting).
            These fits are tiny: on a busy 2-core machine two threads spend their
            time synchronising (``benchmarks/bench_live_probe.py``: 1.45 s vs 0.10 s
            at 20 labels, 10,000 x 512, load average 11).
    """

    def __init__(
        self, features: np.ndarray, C: float = 1.0, max_iter: int = 200, tol: float = 1e-5,
        device: str = "cpu", threads: int | None = 1,
    ) -> None:  # fmt: skip
        self.features = np.ascontiguousarray(features, dtype=np.float32)
        self.threads = threads
        if self.features.ndim != 2:
            raise ValueError(f"features must be (N, d), got shape {self.features.shape}")
        self.C, self.max_iter, self.tol, self.device = C, max_iter, tol, device
        self.probe = _probe(C, max_iter, tol, device, warm=True)
        self.proba: np.ndarray | None = None
        self.trained_on = 0
        self.classes: list[int] = []
        self.seconds = 0.0
        self._key: str | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether the model has been fitted (labels in two classes or more)."""
        return self.proba is not None

    def update(self, rows: np.ndarray, classes: np.ndarray) -> bool:
        """Refit (warm) on the labelled ``rows`` with ``classes``, unless they are unchanged.

        With labels in fewer than two classes the model is reset (no predictions).

        Returns:
            Whether the model was refitted.

        Raises:
            ValueError: If ``rows`` and ``classes`` differ in length or a row is out of range.
        """
        rows = np.asarray(rows, dtype=np.int64)
        classes = np.asarray(classes, dtype=np.int64)
        if rows.shape != classes.shape:
            raise ValueError(f"rows {rows.shape} and classes {classes.shape} differ in shape")
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self.features)):
            raise ValueError(f"rows must lie in 0..{len(self.features) - 1}")
        key = hashlib.sha1(rows.tobytes() + b"|" + classes.tobytes()).hexdigest()
        with self._lock:
            if key == self._key:
                return False
            self._key = key
            present = sorted(set(classes.tolist()))
            if len(present) < MIN_CLASSES:
                self.proba, self.trained_on, self.classes = None, len(rows), present
                return False
            start = time.perf_counter()
            with _torch_threads(self.threads):
                self.probe.fit(self.features[rows], classes)
                self.proba = self.probe.predict_proba(self.features)
            self.seconds = time.perf_counter() - start
            self.trained_on, self.classes = len(rows), present
            return True

    def uncertainty(self, measure: str = "entropy") -> np.ndarray | None:
        """Uncertainty of every building (entropy over log 4, or 1 - margin), None before a fit."""
        proba = self.proba
        return None if proba is None else uncertainty_scores(proba, measure)

    def prediction_table(self, uids: np.ndarray, rows: np.ndarray) -> pd.DataFrame | None:
        """The stored prediction's table: ``uid``, ``row``, ``pred``, ``confidence``,
        ``proba_0`` .. ``proba_3``, ``uncertainty``, ``margin`` (None before a fit)."""
        proba = self.proba
        if proba is None:
            return None
        p = proba[np.asarray(rows, dtype=np.int64)]
        out = pd.DataFrame({"uid": uids, "row": rows, "pred": p.argmax(axis=1).astype(np.int8),
                            "confidence": p.max(axis=1).astype(np.float32)})  # fmt: skip
        for c in range(p.shape[1]):
            out[f"proba_{c}"] = p[:, c].astype(np.float32)
        out["uncertainty"] = uncertainty_scores(p, "entropy").astype(np.float32)
        out["margin"] = (1 - uncertainty_scores(p, "margin")).astype(np.float32)
        return out


def cross_validated_predictions(
    features: np.ndarray, rows: np.ndarray, classes: np.ndarray, folds: int = 5, seed: int = 0,
    C: float = 1.0, device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Predict each labelled building with a model fitted on the other folds.

    Folds are stratified by class (a label's fold is its rank within its class,
    shuffled, modulo ``folds``); a fold whose training part has a single class
    predicts that class.

    Returns:
        ``(pred, confidence)`` for each of ``rows``; ``pred`` is -1 where no
        prediction was possible (fewer than ``folds`` labels in all).
    """
    rows = np.asarray(rows, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    pred = np.full(len(rows), -1, dtype=np.int64)
    conf = np.zeros(len(rows), dtype=np.float32)
    if len(rows) < max(folds, 2) or len(set(classes.tolist())) < MIN_CLASSES:
        return pred, conf
    rng = np.random.default_rng(seed)
    fold = np.empty(len(rows), dtype=np.int64)
    for c in np.unique(classes):
        members = rng.permutation(np.flatnonzero(classes == c))
        fold[members] = (np.arange(len(members)) + rng.integers(folds)) % folds
    X = np.ascontiguousarray(features[rows], dtype=np.float32)
    for f in range(folds):
        test, train = fold == f, fold != f
        if not test.any():
            continue
        if len(set(classes[train].tolist())) < MIN_CLASSES:
            pred[test] = classes[train][0] if train.any() else -1
            conf[test] = 1.0
            continue
        probe = _probe(C, 100, 1e-3, device, warm=False).fit(X[train], classes[train])
        proba = probe.predict_proba(X[test])
        pred[test] = proba.argmax(axis=1)
        conf[test] = proba.max(axis=1)
    return pred, conf
