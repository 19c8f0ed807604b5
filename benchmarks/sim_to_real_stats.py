"""Image statistics and probe protocol of the sim-to-real benchmark.

Everything here reads a workspace (building table + crop arrays) and returns
plain numbers, so that the same code measures the real xBD scenes and the
generated ones. Used by ``benchmarks/sim_to_real.py``.

* :func:`crop_statistics`: per-building statistics of the 96 px crops (colour,
  texture, pre/post change), computed on the crop centre (the middle half,
  mostly the building) and on the whole crop (building and context).
* :func:`colour_features`: the 26 colour statistics of the crops' centres that
  the issue uses as a non-learned baseline (mean and standard deviation per
  channel of pre, post, post - pre and |post - pre|, plus the edge energy of
  pre and post).
* :func:`cross_validated_f1`: repeated stratified k-fold cross-validation of a
  class-weighted logistic regression; overall F1 = harmonic mean of the four
  class F1 scores (seed 000's metric).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from stcrl_core.eval.metrics import overall_f1

CENTRE = slice(24, 72)  # middle half of a 96 px crop
HIST_BINS = 16
SPECTRUM_BANDS = ((0.0, 0.08), (0.08, 0.2), (0.2, 0.5))  # cycles per pixel
CHUNK = 512


def _gray(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114], np.float32)


def _edge_energy(gray: np.ndarray) -> np.ndarray:
    """Mean absolute horizontal + vertical difference per image (N,)."""
    dx = np.abs(np.diff(gray, axis=2)).mean(axis=(1, 2))
    dy = np.abs(np.diff(gray, axis=1)).mean(axis=(1, 2))
    return dx + dy


def _band_fractions(gray: np.ndarray) -> np.ndarray:
    """Share of (mean-removed) spectral power in each of :data:`SPECTRUM_BANDS` (N x 3)."""
    g = gray - gray.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(g)) ** 2
    fy = np.fft.fftfreq(g.shape[1])[:, None]
    fx = np.fft.fftfreq(g.shape[2])[None, :]
    radius = np.hypot(fy, fx)
    total = power.sum(axis=(1, 2)) + 1e-9
    return np.stack(
        [power[:, (radius >= lo) & (radius < hi)].sum(axis=1) / total for lo, hi in SPECTRUM_BANDS],
        axis=1,
    )


def crop_statistics(pre: np.ndarray, post: np.ndarray) -> pd.DataFrame:
    """Per-building statistics of aligned pre and post crops (N x S x S x 3 uint8).

    Returns:
        One row per building: centre mean brightness and colour (``post_r`` ...),
        centre standard deviation, edge energy (centre and whole crop), the
        spectral band shares of the whole post crop, the centre's mean
        |post - pre| and the correlation of pre and post brightness.
    """
    rows = []
    for start in range(0, len(pre), CHUNK):
        a = np.asarray(pre[start : start + CHUNK], np.float32)
        b = np.asarray(post[start : start + CHUNK], np.float32)
        ca, cb = a[:, CENTRE, CENTRE], b[:, CENTRE, CENTRE]
        ga, gb = _gray(ca), _gray(cb)
        full_a, full_b = _gray(a), _gray(b)
        bands = _band_fractions(full_b)
        za = ga.reshape(len(ga), -1) - ga.reshape(len(ga), -1).mean(1, keepdims=True)
        zb = gb.reshape(len(gb), -1) - gb.reshape(len(gb), -1).mean(1, keepdims=True)
        corr = (za * zb).sum(1) / np.maximum(
            np.linalg.norm(za, axis=1) * np.linalg.norm(zb, axis=1), 1e-6
        )
        frame = {
            "pre_brightness": ga.mean(axis=(1, 2)),
            "post_brightness": gb.mean(axis=(1, 2)),
            "pre_contrast": ga.std(axis=(1, 2)),
            "post_contrast": gb.std(axis=(1, 2)),
            "pre_edges": _edge_energy(ga),
            "post_edges": _edge_energy(gb),
            "pre_edges_crop": _edge_energy(full_a),
            "post_edges_crop": _edge_energy(full_b),
            "post_low": bands[:, 0],
            "post_mid": bands[:, 1],
            "post_high": bands[:, 2],
            "change": np.abs(gb - ga).mean(axis=(1, 2)),
            "pre_post_corr": corr,
        }
        for k, name in enumerate("rgb"):
            frame[f"pre_{name}"] = ca[..., k].mean(axis=(1, 2))
            frame[f"post_{name}"] = cb[..., k].mean(axis=(1, 2))
        rows.append(pd.DataFrame(frame))
    return pd.concat(rows, ignore_index=True)


def colour_histograms(crops: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Normalised per-channel histograms of the crop centres of ``rows`` (3 x HIST_BINS)."""
    hist = np.zeros((3, HIST_BINS))
    for start in range(0, len(rows), CHUNK):
        c = np.asarray(crops[rows[start : start + CHUNK]])[:, CENTRE, CENTRE]
        for k in range(3):
            hist[k] += np.bincount(c[..., k].ravel() // (256 // HIST_BINS), minlength=HIST_BINS)
    return hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)


def histogram_intersection(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over channels of sum(min(a, b)) of two normalised histograms (1 = identical)."""
    return float(np.minimum(a, b).sum(axis=1).mean())


def colour_features(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    """The 26 colour statistics of the crop centres (N x 26 float32)."""
    out = []
    for start in range(0, len(pre), CHUNK):
        a = np.asarray(pre[start : start + CHUNK], np.float32)[:, CENTRE, CENTRE]
        b = np.asarray(post[start : start + CHUNK], np.float32)[:, CENTRE, CENTRE]
        parts = []
        for img in (a, b, b - a, np.abs(b - a)):
            parts.append(img.mean(axis=(1, 2)))
            parts.append(img.std(axis=(1, 2)))
        parts.append(_edge_energy(_gray(a))[:, None])
        parts.append(_edge_energy(_gray(b))[:, None])
        out.append(np.concatenate(parts, axis=1))
    return np.concatenate(out).astype(np.float32)


def cross_validated_f1(
    X: np.ndarray,
    y: np.ndarray,
    repeats: int = 3,
    folds: int = 5,
    seed: int = 0,
    C: float = 1.0,
) -> tuple[float, float]:
    """Mean and standard deviation over repeats of the cross-validated overall F1.

    Each repeat shuffles the buildings into ``folds`` stratified folds, fits a
    class-weighted (``balanced``) logistic regression on standardised features
    of all folds but one (the library's L-BFGS probe, which minimises
    scikit-learn's objective; ``tests/test_probes.py`` checks the two agree),
    predicts the held-out fold, and scores the overall F1 of the pooled
    out-of-fold predictions.
    """
    from sklearn.model_selection import StratifiedKFold

    from stcrl_core.eval.probes import LogisticProbe

    X = np.ascontiguousarray(X, dtype=np.float32)
    scores = []
    for r in range(repeats):
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed + r)
        pred = np.empty_like(y)
        for train, test in splitter.split(X, y):
            probe = LogisticProbe(C=C, class_weight="balanced", max_iter=300, tol=1e-4,
                                  device="cpu")  # fmt: skip
            pred[test] = probe.fit(X[train], y[train]).predict(X[test])
        scores.append(overall_f1(y, pred))
    return float(np.mean(scores)), float(np.std(scores))


def summarise(values: Iterable[float]) -> str:
    """``median (p10-p90)`` of a sample, for the tables."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return "-"
    lo, med, hi = np.percentile(arr, [10, 50, 90])
    return f"{med:.3g} ({lo:.3g}-{hi:.3g})"
