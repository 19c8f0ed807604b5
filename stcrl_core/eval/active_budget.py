"""Active learning in the budget engine: labelling simulated with the ground truth as the analyst.

The paper's protocol (``random-balanced``) draws class-balanced budgets, which
assumes the labels are known before anyone labels; a real analyst samples
blind. The other strategies of ``stcrl budget --strategy`` are what an analyst
can do, simulated here on the training candidates (train + tier3 with ground
truth):

* ``random``: a uniformly random order of the candidates; budget ``b`` is its
  first ``b`` (the natural class mix, nested budgets);
* ``uncertainty``, ``diversity``, ``hybrid``: the labelled set grows from a
  cold start (the buildings nearest ``start`` k-means centroids), ``step``
  buildings at a time, each step chosen by the strategy
  (:mod:`stcrl_core.active.strategies`) from the class-weighted logistic
  probe fitted on the labels so far, the same model the Label page refits.

All trials advance together: each step is one batched, warm-started fit over
the trials (:class:`~stcrl_core.eval.probes.LogisticProbe` with a leading trial
axis) and one batched prediction of every candidate. Trial ``t`` seeds its cold
start and choices with ``seed + t``; the same settings give the same draws.
"""

from __future__ import annotations

import numpy as np

from stcrl_core.active.strategies import Pool, cold_start, distance_space, suggest
from stcrl_core.data.budget import BudgetError
from stcrl_core.eval.probes import LogisticProbe

PAPER_PROTOCOL = "random-balanced"
ACTIVE_STRATEGIES = ("uncertainty", "diversity", "hybrid")
BUDGET_STRATEGIES = (PAPER_PROTOCOL, "random", *ACTIVE_STRATEGIES)


def random_draws(n_candidates: int, budgets: list[int], trials: int, seed: int) -> dict:
    """``{budget: (trials, budget) positions}``: the first ``budget`` of a random order per trial.

    Raises:
        BudgetError: If a budget exceeds the candidates.
    """
    _check(n_candidates, budgets)
    orders = [np.random.default_rng([seed, t, 1]).permutation(n_candidates) for t in range(trials)]
    return {b: np.stack([o[:b] for o in orders]) for b in budgets}


def _check(n_candidates: int, budgets: list[int]) -> None:
    if max(budgets) > n_candidates:
        raise BudgetError(
            f"budget {max(budgets)} exceeds the {n_candidates} training buildings with ground "
            "truth; use smaller budgets"
        )


def simulate_active(
    strategy: str,
    features: np.ndarray,
    labels: np.ndarray,
    budgets: list[int],
    trials: int,
    seed: int,
    start: int = 20,
    step: int = 20,
    device: str = "cpu",
) -> dict[int, np.ndarray]:
    """Simulate an analyst labelling by ``strategy``, with ``labels`` as their answers.

    Args:
        strategy: ``uncertainty``, ``diversity`` or ``hybrid``.
        features: ``(n, d)`` features of the candidates.
        labels: ``(n,)`` their ground-truth classes (0..3).
        budgets: The budgets to record (sorted).
        trials: Independent simulations.
        seed: Base seed (trial ``t`` uses ``seed + t``).
        start: Size of the cold start (at most the smallest budget).
        step: Buildings added per step.
        device: Device of the selection probe.

    Returns:
        ``{budget: (trials, budget) positions into the candidates}``, in the
        order labelled.
    """
    if strategy not in ACTIVE_STRATEGIES:
        raise ValueError(
            f"strategy must be one of {', '.join(ACTIVE_STRATEGIES)}, got {strategy!r}"
        )
    budgets = sorted(budgets)
    n = len(labels)
    _check(n, budgets)
    X = np.ascontiguousarray(features, dtype=np.float32)
    space = distance_space(X, seed=seed)
    everyone = np.arange(n)
    first = min(start, budgets[0])
    chosen = [list(cold_start(space, everyone, first, seed + t)) for t in range(trials)]
    probe = LogisticProbe(class_weight="balanced", warm_start=True, tol=1e-4, device=device)
    out: dict[int, np.ndarray] = {}
    round_ = 0
    while True:
        size = len(chosen[0])
        for b in budgets:
            if b == size:
                out[b] = np.array(chosen, dtype=np.int64)
        later = [b for b in budgets if b > size]
        if not later:
            return out
        idx = np.array(chosen, dtype=np.int64)
        y = labels[idx]
        probe.fit(X[idx], y)
        proba = probe.predict_proba(X)
        proba = proba if proba.ndim == 3 else proba[None]
        k = min(step, later[0] - size)
        round_ += 1
        for t in range(trials):
            labelled = np.zeros(n, dtype=bool)
            labelled[chosen[t]] = True
            two = len(set(y[t].tolist())) >= 2
            pool = Pool(space, ~labelled, labelled, proba[t] if two else None)
            chosen[t].extend(suggest(strategy, pool, k, seed=seed + t + 7919 * round_).tolist())
