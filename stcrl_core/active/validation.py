"""The ``validation`` strategy: a stratified random sample for an estimate that can be trusted.

Active strategies choose buildings the model finds hard, so their labels say
little about how many buildings are damaged. The validation sample is a
probability sample instead: the buildings are split into strata (the model's
predicted class, per event), each stratum gets ``n_h`` of the ``n`` labels by
Neyman allocation, ``n_h`` proportional to ``N_h S_h`` with ``S_h =
sqrt(p_h (1 - p_h))`` for the stratum's expected share ``p_h`` of damaged
buildings (the model's mean probability of damage there, kept within
[:data:`P_FLOOR`, 1 - :data:`P_FLOOR`] so that no stratum is left out), and
at least ``minimum`` labels per stratum; the ``n_h`` are drawn uniformly
without replacement within the stratum, so each sampled building's inclusion
probability is ``n_h / N_h``. The sample is presented in a random order, so a
sample labelled only in part is still a random subsample of every stratum.
Estimates from its labels: :mod:`stcrl_core.eval.estimate`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import pandas as pd

P_FLOOR = 0.05
MIN_PER_STRATUM = 2


@dataclass(frozen=True, eq=False)
class StratifiedSample:
    """A drawn validation sample.

    Attributes:
        rows: Sampled rows (positions in the population), in the random order
            they are to be labelled.
        strata: The stratum of each sampled row.
        inclusion: Each sampled row's inclusion probability ``n_h / N_h``.
        design: One row per stratum: ``stratum``, ``N``, ``S`` (the assumed
            standard deviation), ``n`` (labels allocated).
    """

    rows: np.ndarray
    strata: np.ndarray
    inclusion: np.ndarray
    design: pd.DataFrame


def neyman_allocation(
    sizes: np.ndarray, sds: np.ndarray, n: int, minimum: int = MIN_PER_STRATUM
) -> np.ndarray:
    """Split ``n`` labels among strata in proportion to ``N_h S_h``, as integers.

    Each stratum gets at least ``min(minimum, N_h)`` and at most ``N_h``; the
    rest goes one label at a time to the stratum whose variance term
    ``(N_h S_h)^2 / n_h`` it reduces most (the integer optimum of Neyman's
    allocation).

    Raises:
        ValueError: If ``n`` is smaller than the minimums or the arrays disagree.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    sds = np.asarray(sds, dtype=np.float64)
    if sizes.shape != sds.shape or sizes.ndim != 1:
        raise ValueError(f"sizes {sizes.shape} and sds {sds.shape} must be 1-D of one length")
    n = min(int(n), int(sizes.sum()))
    alloc = np.minimum(minimum, sizes)
    if alloc.sum() > n:
        raise ValueError(
            f"{len(sizes)} strata need at least {int(alloc.sum())} labels ({minimum} each); "
            f"ask for a larger sample than {n}"
        )
    weight = sizes * np.maximum(sds, 1e-9)
    heap = [
        (-(weight[h] ** 2) / (alloc[h] * (alloc[h] + 1)) if alloc[h] else -np.inf, h)
        for h in range(len(sizes))
        if alloc[h] < sizes[h]
    ]
    heapq.heapify(heap)
    for _ in range(n - int(alloc.sum())):
        _, h = heapq.heappop(heap)
        alloc[h] += 1
        if alloc[h] < sizes[h]:
            heapq.heappush(heap, (-(weight[h] ** 2) / (alloc[h] * (alloc[h] + 1)), h))
    return alloc


def stratified_sample(
    strata: np.ndarray,
    n: int,
    p_damaged: np.ndarray | None = None,
    seed: int = 0,
    minimum: int = MIN_PER_STRATUM,
) -> StratifiedSample:
    """Draw a stratified sample of ``n`` buildings with Neyman allocation.

    Args:
        strata: ``(N,)`` stratum of every building of the population.
        n: Sample size (at most ``N``).
        p_damaged: ``(N,)`` the model's probability that each building is
            damaged (minor or worse); None: every stratum gets ``S_h = 0.5``
            (proportional allocation).
        seed: Seed of the draw.
        minimum: Labels each stratum gets at least.
    """
    strata = np.asarray(strata).astype(str)
    names, inverse = np.unique(strata, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(names))
    if p_damaged is None:
        p = np.full(len(names), 0.5)
    else:
        p_damaged = np.asarray(p_damaged, dtype=np.float64)
        if p_damaged.shape != strata.shape:
            raise ValueError(f"p_damaged {p_damaged.shape} must match strata {strata.shape}")
        p = np.bincount(inverse, weights=p_damaged, minlength=len(names)) / sizes
    p = np.clip(p, P_FLOOR, 1 - P_FLOOR)
    sds = np.sqrt(p * (1 - p))
    alloc = neyman_allocation(sizes, sds, n, minimum)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(inverse == h), size=int(alloc[h]), replace=False)
        for h in range(len(names))
    ]
    rows = np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64)
    rows = rows[rng.permutation(len(rows))]
    inclusion = (alloc / sizes)[inverse[rows]]
    design = pd.DataFrame({"stratum": names, "N": sizes, "S": sds, "n": alloc})
    return StratifiedSample(rows=rows, strata=strata[rows], inclusion=inclusion, design=design)
