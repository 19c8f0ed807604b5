"""How many buildings are damaged: a stratified estimate with an interval that stays in [0, N].

From a stratified random sample (:mod:`stcrl_core.active.validation`): in
stratum ``h`` of ``N_h`` buildings, ``k_h`` of the ``n_h`` labelled ones are
positive (e.g. damaged). The estimated total is ``sum_h N_h p_h`` with ``p_h =
k_h / n_h``. Its interval combines one interval per stratum, Wilson (default)
or Clopper-Pearson, with the finite-population correction ``(N_h - n_h) / (N_h
- 1)`` carried as an effective sample size ``n_h / fpc``, by MOVER (the method
of variance estimates recovery, Zou and Donner 2008):

    low  = T - sqrt(sum_h (N_h (p_h - l_h))^2)
    high = T + sqrt(sum_h (N_h (u_h - p_h))^2)

Since every ``l_h`` is in ``[0, p_h]`` and every ``u_h`` in ``[p_h, 1]``, and a
square root of a sum of squares is at most the sum, ``low >= 0`` and ``high <=
N``: the interval never leaves ``[0, N]``, unlike a Wald interval (which went
negative for 2 damaged in 199 in HASTE, issue #116). A stratum with no label
at all adds its whole ``[0, N_h]`` to the interval (and ``N_h / 2`` to the
estimate), with a warning; so does one with fewer than ``min_labels``.
``tests/test_estimate.py`` checks the coverage by simulation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

INTERVAL_METHODS = ("wilson", "clopper-pearson")
MIN_LABELS = 5


def proportion_interval(
    k: np.ndarray | float,
    n: np.ndarray | float,
    population: np.ndarray | float | None = None,
    level: float = 0.95,
    method: str = "wilson",
) -> tuple[np.ndarray, np.ndarray]:
    """Interval of a proportion from ``k`` positives of ``n`` drawn without replacement.

    Vectorised over arrays of one shape. ``n = 0`` gives ``[0, 1]``; a census
    (``n = population``) gives ``[k / n, k / n]``.

    Args:
        k: Positives.
        n: Labelled.
        population: Size of the population drawn from (None: infinite).
        level: Confidence level.
        method: ``wilson`` or ``clopper-pearson``.
    """
    if method not in INTERVAL_METHODS:
        raise ValueError(f"method must be one of {', '.join(INTERVAL_METHODS)}, got {method!r}")
    k, n = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64))
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("need 0 <= k <= n for every proportion")
    p = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
    if population is None:
        m = n.copy()
    else:
        big_n = np.broadcast_to(np.asarray(population, dtype=np.float64), n.shape)
        if np.any(n > big_n):
            raise ValueError("a stratum has more labels than buildings")
        fpc = np.divide(big_n - n, big_n - 1, out=np.zeros_like(n), where=big_n > 1)
        m = np.divide(n, fpc, out=np.full_like(n, np.inf), where=fpc > 0)
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "wilson":
            z2m = np.where(np.isinf(m), 0.0, z * z / m)
            centre = (p + z2m / 2) / (1 + z2m)
            half = (
                z * np.sqrt(np.where(np.isinf(m), 0.0, p * (1 - p) / m + z2m / (4 * m))) / (1 + z2m)
            )
            low, high = centre - half, centre + half
        else:
            x = p * m
            alpha = 1 - level
            low = np.where(x > 0, stats.beta.ppf(alpha / 2, x, m - x + 1), 0.0)
            high = np.where(x < m, stats.beta.ppf(1 - alpha / 2, x + 1, m - x), 1.0)
            low = np.where(np.isinf(m), p, low)
            high = np.where(np.isinf(m), p, high)
    low = np.clip(np.where(n > 0, low, 0.0), 0.0, p)
    high = np.clip(np.where(n > 0, high, 1.0), p, 1.0)
    return low, high


def stratified_total(
    sizes: np.ndarray,
    labelled: np.ndarray,
    positives: np.ndarray,
    level: float = 0.95,
    method: str = "wilson",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate, low and high of a stratified total; vectorised over leading axes.

    Args:
        sizes: ``(H,)`` buildings per stratum.
        labelled: ``(..., H)`` labels per stratum.
        positives: ``(..., H)`` positives among them.
        level: Confidence level.
        method: The per-stratum interval, ``wilson`` or ``clopper-pearson``.

    Returns:
        ``(total, low, high)``, each of the leading shape, all within ``[0, sum(sizes)]``.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    n = np.asarray(labelled, dtype=np.float64)
    k = np.asarray(positives, dtype=np.float64)
    low_h, high_h = proportion_interval(k, n, sizes, level, method)
    seen = n > 0
    p = np.divide(k, n, out=np.full_like(k, 0.5), where=seen)
    total = (sizes * p).sum(axis=-1)
    spread_low = np.sqrt((np.where(seen, sizes * (p - low_h), 0.0) ** 2).sum(axis=-1))
    spread_high = np.sqrt((np.where(seen, sizes * (high_h - p), 0.0) ** 2).sum(axis=-1))
    unseen = np.where(seen, 0.0, sizes / 2).sum(axis=-1)  # each empty stratum: [0, N_h]
    return total, total - spread_low - unseen, total + spread_high + unseen


@dataclass
class Estimate:
    """An estimated count with its interval.

    Attributes:
        count: Estimated number of buildings.
        ci95: ``[low, high]`` (at ``level``; the name follows the default).
        share: ``count / N``.
        share_ci95: The interval as shares.
        N: Buildings in the population.
        labelled: Labels used.
        level: Confidence level.
        method: Per-stratum interval.
        warnings: Strata with too few labels, and the like.
    """

    count: float
    ci95: list[float]
    share: float
    share_ci95: list[float]
    N: int
    labelled: int
    level: float
    method: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """As plain JSON-ready values."""
        return asdict(self)


def estimate_total(
    names: list[str],
    sizes: np.ndarray,
    labelled: np.ndarray,
    positives: np.ndarray,
    level: float = 0.95,
    method: str = "wilson",
    min_labels: int = MIN_LABELS,
) -> Estimate:
    """The stratified estimate of one total, with a warning for each thin stratum.

    Args:
        names: Stratum names (for the warnings).
        sizes: Buildings per stratum.
        labelled: Labels per stratum.
        positives: Positives per stratum.
        level: Confidence level.
        method: ``wilson`` or ``clopper-pearson``.
        min_labels: A stratum with fewer labels gets a warning.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    labelled = np.asarray(labelled, dtype=np.int64)
    total, low, high = stratified_total(sizes, labelled, positives, level, method)
    big_n = int(sizes.sum())
    warnings = []
    for name, size, n in zip(names, sizes, labelled, strict=True):
        if n == 0:
            warnings.append(
                f"stratum {name} ({size} buildings) has no label: it counts as anywhere "
                f"from 0 to {size}; label its buildings of the validation sample"
            )
        elif n < min_labels:
            warnings.append(
                f"stratum {name} ({size} buildings) has only {n} label(s), fewer than "
                f"{min_labels}: its share is uncertain"
            )
    share = float(total) / big_n if big_n else 0.0
    return Estimate(
        count=round(float(total), 2),
        ci95=[round(float(low), 2), round(float(high), 2)],
        share=round(share, 4),
        share_ci95=[round(float(low) / big_n, 4), round(float(high) / big_n, 4)] if big_n else
        [0.0, 0.0],
        N=big_n, labelled=int(labelled.sum()), level=level, method=method, warnings=warnings,
    )  # fmt: skip
