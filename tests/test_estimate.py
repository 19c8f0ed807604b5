"""The stratified estimate of a damaged count and its interval (``stcrl_core.eval.estimate``)."""

from __future__ import annotations

import numpy as np
import pytest

from stcrl_core.active.validation import stratified_sample
from stcrl_core.eval.estimate import estimate_total, proportion_interval, stratified_total

# Populations of known truth: (buildings per stratum, damaged share per stratum, sample size).
# Strata as the validation sample makes them: the model's predicted classes, mostly right.
POPULATIONS = [
    ([3000, 500, 300, 200], [0.02, 0.3, 0.6, 0.95], 200),
    ([8000, 1200, 500, 300], [0.01, 0.2, 0.5, 0.9], 100),
    ([2000, 300], [0.05, 0.5], 400),
    ([10_000], [0.01], 199),
]


def _simulate(sizes, shares, n, method: str, reps: int, seed: int) -> tuple[float, np.ndarray]:
    """Coverage of the interval over ``reps`` Neyman samples of a fixed population."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes)
    damaged = np.round(sizes * np.asarray(shares)).astype(int)
    strata = np.repeat(np.arange(len(sizes)), sizes)
    truth = np.concatenate([np.arange(s) < d for s, d in zip(sizes, damaged, strict=True)])
    p_model = np.repeat(np.asarray(shares, dtype=float), sizes)  # the model's expected shares
    alloc = stratified_sample(strata, n, p_model, seed=0).design["n"].to_numpy()
    k = np.stack(
        [
            rng.hypergeometric(d, s - d, a, size=reps)
            for s, d, a in zip(sizes, damaged, alloc, strict=True)
        ],
        axis=1,
    )
    _, low, high = stratified_total(sizes, np.broadcast_to(alloc, k.shape), k, method=method)
    assert (low >= 0).all() and (high <= sizes.sum()).all()
    return float(np.mean((low <= truth.sum()) & (truth.sum() <= high))), high - low


@pytest.mark.parametrize("population", POPULATIONS)
def test_wilson_interval_covers_the_true_count_about_95_percent(population) -> None:
    coverage, _ = _simulate(*population, method="wilson", reps=4000, seed=1)
    assert 0.935 <= coverage <= 0.98, coverage


@pytest.mark.parametrize("population", POPULATIONS[:2])
def test_clopper_pearson_is_at_least_as_safe(population) -> None:
    coverage, width = _simulate(*population, method="clopper-pearson", reps=2000, seed=2)
    _, wilson_width = _simulate(*population, method="wilson", reps=2000, seed=2)
    assert coverage >= 0.945 and width.mean() >= wilson_width.mean()


def test_two_damaged_in_199_stays_positive() -> None:
    # HASTE issue #116: a Wald interval went negative for 2 damaged in a random sample of 199
    est = estimate_total(["all"], [12_000], [199], [2])
    low, high = est.ci95
    assert 0 < low < est.count < high < 12_000
    assert est.count == pytest.approx(12_000 * 2 / 199, rel=1e-3)
    none = estimate_total(["all"], [12_000], [199], [0])
    assert none.ci95[0] == 0 and none.ci95[1] > 0 and none.count == 0


def test_interval_stays_within_zero_and_n() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        h = rng.integers(1, 6)
        sizes = rng.integers(1, 500, size=h)
        n = np.minimum(rng.integers(0, 30, size=h), sizes)
        k = rng.binomial(n, rng.random(h))
        for method in ("wilson", "clopper-pearson"):
            total, low, high = stratified_total(sizes, n, k, method=method)
            assert -1e-9 <= low <= total <= high <= sizes.sum() + 1e-9


def test_census_and_empty_strata() -> None:
    # every building labelled: the count is known exactly
    total, low, high = stratified_total(np.array([50, 20]), np.array([50, 20]), np.array([5, 20]))
    assert total == low == high == 25
    # a stratum without labels counts as anywhere in [0, N_h], with a warning
    est = estimate_total(["a", "b"], [100, 40], [30, 0], [3, 0])
    assert est.ci95[0] <= 10 and est.ci95[1] >= 10 + 40
    assert any("b" in w and "no label" in w for w in est.warnings)
    thin = estimate_total(["a", "b"], [100, 40], [30, 2], [3, 1])
    assert any("only 2 label" in w for w in thin.warnings)


def test_proportion_interval_edges() -> None:
    low, high = proportion_interval(0, 0)
    assert (low, high) == (0.0, 1.0)
    low, high = proportion_interval(np.array([0, 10]), np.array([10, 10]))
    assert low[0] == 0 and high[1] == 1 and high[0] > 0 and low[1] < 1
    with pytest.raises(ValueError, match="method"):
        proportion_interval(1, 2, method="wald")
    with pytest.raises(ValueError, match="0 <= k <= n"):
        proportion_interval(3, 2)
