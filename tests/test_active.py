"""Suggestion strategies on data of known structure (``stcrl_core.active``)."""

from __future__ import annotations

import numpy as np
import pytest

from stcrl_core.active.strategies import (
    Pool,
    cold_start,
    distance_space,
    kcenter_greedy,
    suggest,
    uncertainty_scores,
)
from stcrl_core.active.validation import neyman_allocation, stratified_sample


def _blobs(
    centres: np.ndarray, per: int, spread: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.concatenate([c + spread * rng.normal(size=(per, centres.shape[1])) for c in centres])
    return X.astype(np.float32), np.repeat(np.arange(len(centres)), per)


def _proba_from_x(x: np.ndarray) -> np.ndarray:
    """Two classes split at x = 0: P(class 0) = sigmoid(4 x)."""
    p0 = 1 / (1 + np.exp(-4 * x))
    return np.stack([p0, 1 - p0, np.zeros_like(x), np.zeros_like(x)], axis=1)


@pytest.mark.parametrize("measure", ["margin", "entropy"])
def test_uncertainty_picks_the_boundary(measure: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=500)
    space = np.stack([x, rng.normal(size=500)], axis=1).astype(np.float32)
    labelled = np.zeros(500, dtype=bool)
    labelled[[np.argmin(x), np.argmax(x)]] = True
    pool = Pool(space, ~labelled, labelled, _proba_from_x(x))
    picks = suggest("uncertainty", pool, 10, seed=1, measure=measure)
    # five from each side of the boundary (each predicted class), the nearest first
    left, right = np.flatnonzero(x < 0), np.flatnonzero(x > 0)
    closest = np.concatenate([left[np.argsort(-x[left])[:5]], right[np.argsort(x[right])[:5]]])
    assert set(picks) == set(closest)


def test_uncertainty_labels_every_predicted_class_of_imbalanced_data() -> None:
    # 900 buildings predicted no-damage, 60 / 30 / 10 predicted the rarer classes; the
    # no-damage ones are the least certain, so the plain top-n would take only them
    rng = np.random.default_rng(11)
    sizes = [900, 60, 30, 10]
    predicted = np.repeat(np.arange(4), sizes)
    top = np.where(predicted == 0, rng.uniform(0.3, 0.4, 1000), rng.uniform(0.6, 0.9, 1000))
    proba = np.full((1000, 4), 0.0)
    proba[np.arange(1000), predicted] = top
    proba += ((1 - top) / 3)[:, None] * (np.arange(4)[None, :] != predicted[:, None])
    space = rng.normal(size=(1000, 3)).astype(np.float32)
    labelled = np.zeros(1000, dtype=bool)
    labelled[[0, 950]] = True
    pool = Pool(space, ~labelled, labelled, proba)
    picks = suggest("uncertainty", pool, 8, seed=0)
    assert np.bincount(predicted[picks], minlength=4).tolist() == [2, 2, 2, 2]
    scores = uncertainty_scores(proba)
    for c in range(4):  # within a class, its least certain buildings
        mine = picks[predicted[picks] == c]
        others = np.flatnonzero((predicted == c) & ~labelled & ~np.isin(np.arange(1000), mine))
        assert scores[mine].min() >= scores[others].max()
    # rarest predicted class first, and only what is left when a class runs out
    assert predicted[picks[0]] == 3
    assert np.bincount(predicted[suggest("uncertainty", pool, 60, seed=0)], minlength=4)[3] == 10


def test_uncertainty_scores_order() -> None:
    sure, unsure = [0.97, 0.01, 0.01, 0.01], [0.3, 0.3, 0.2, 0.2]
    for measure in ("margin", "entropy"):
        s = uncertainty_scores(np.array([sure, unsure]), measure)
        assert s[1] > s[0] and s.min() >= 0 and s.max() <= 1
    assert uncertainty_scores(np.full((1, 4), 0.25), "entropy")[0] == pytest.approx(1.0)


def test_diversity_covers_the_clusters_it_has_not_seen() -> None:
    centres = np.eye(5, 8) * 20
    X, cluster = _blobs(centres, 40, 0.5, seed=2)
    labelled = np.zeros(len(X), dtype=bool)
    labelled[np.flatnonzero(cluster == 0)[:3]] = True
    pool = Pool(X, ~labelled, labelled)
    picks = suggest("diversity", pool, 4, seed=0)
    assert sorted(cluster[picks]) == [1, 2, 3, 4]


def test_diversity_picks_typical_buildings_not_outliers() -> None:
    # four dense clusters and a sparse tail of 15 far-flung buildings in all directions:
    # k-center greedy takes the tail; diversity takes one building near the middle of each
    # cluster it has not seen
    rng = np.random.default_rng(12)
    centres = np.eye(4, 6) * 10
    X, cluster = _blobs(centres, 60, 1.0, seed=12)
    direction = rng.normal(size=(15, 6))
    radius = rng.uniform(15, 20, size=(15, 1))
    tail = direction / np.linalg.norm(direction, axis=1, keepdims=True) * radius
    space = np.concatenate([X, tail]).astype(np.float32)
    group = np.concatenate([cluster, np.full(15, -1)])
    labelled = np.zeros(len(space), dtype=bool)
    labelled[0] = True  # one label in cluster 0
    pool = Pool(space, ~labelled, labelled)
    picks = suggest("diversity", pool, 3, seed=0)
    assert sorted(group[picks]) == [1, 2, 3]
    for p in picks:  # near the cluster's centre (its buildings spread ~ 1 per axis)
        assert np.linalg.norm(space[p] - centres[group[p]]) < 2.5
    kcenter = kcenter_greedy(space, np.flatnonzero(~labelled), np.flatnonzero(labelled), 3)
    assert (group[kcenter] == -1).all()
    np.testing.assert_array_equal(picks, suggest("diversity", pool, 3, seed=0))


def test_cold_start_takes_one_building_per_cluster() -> None:
    centres = np.eye(6, 6) * 15
    X, cluster = _blobs(centres, 30, 0.5, seed=3)
    none = np.zeros(len(X), dtype=bool)
    for strategy in ("cold-start", "uncertainty", "hybrid", "diversity"):
        picks = suggest(strategy, Pool(X, ~none, none), 6, seed=4)
        assert sorted(cluster[picks]) == list(range(6)), strategy
    # a model without labels to go on: uncertainty and hybrid also start cold
    picks = suggest("uncertainty", Pool(X, ~none, none, proba=None), 6, seed=4)
    np.testing.assert_array_equal(picks, cold_start(X, np.arange(len(X)), 6, seed=4))


def test_hybrid_spreads_its_uncertain_picks_over_clusters() -> None:
    # two groups on the decision boundary (x ~ 0), far apart in y; group A a bit more uncertain
    rng = np.random.default_rng(5)
    a = np.stack([rng.normal(0.0, 0.01, 20), rng.normal(10, 0.3, 20)], axis=1)
    b = np.stack([rng.normal(0.15, 0.01, 20), rng.normal(-10, 0.3, 20)], axis=1)
    far = np.stack([rng.uniform(1.5, 3, 200) * rng.choice([-1, 1], 200), rng.normal(0, 3, 200)], 1)
    space = np.concatenate([a, b, far]).astype(np.float32)
    group = np.array([0] * 20 + [1] * 20 + [2] * 200)
    labelled = np.zeros(len(space), dtype=bool)
    labelled[40:45] = True
    pool = Pool(space, ~labelled, labelled, _proba_from_x(space[:, 0]))
    assert set(group[suggest("uncertainty", pool, 2, seed=0)]) == {0}
    assert set(group[suggest("hybrid", pool, 2, seed=0)]) == {0, 1}


@pytest.mark.parametrize("strategy", ["random", "uncertainty", "diversity", "hybrid", "cold-start"])
def test_never_a_labelled_building_and_deterministic(strategy: str) -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    labelled = rng.random(300) < 0.3
    unsure = ~labelled & (rng.random(300) < 0.1)  # unsure / skipped: not eligible either
    proba = rng.dirichlet(np.ones(4), size=300)
    pool = Pool(X, ~labelled & ~unsure, labelled, proba)
    picks = suggest(strategy, pool, 25, seed=7)
    assert len(picks) == 25 == len(set(picks.tolist()))
    assert not labelled[picks].any() and not unsure[picks].any()
    np.testing.assert_array_equal(picks, suggest(strategy, pool, 25, seed=7))
    few = Pool(X, np.isin(np.arange(300), [3, 4]), labelled, proba)
    assert sorted(suggest(strategy, few, 10, seed=7)) == [3, 4]
    assert len(suggest(strategy, Pool(X, np.zeros(300, bool), labelled, proba), 5)) == 0


def test_random_follows_the_seed_and_errors_name_the_problem() -> None:
    X = np.zeros((100, 2), dtype=np.float32)
    pool = Pool(X, np.ones(100, bool), np.zeros(100, bool))
    assert not np.array_equal(suggest("random", pool, 10, seed=1), suggest("random", pool, 10, 2))
    with pytest.raises(ValueError, match="unknown strategy"):
        suggest("greedy", pool, 1)
    with pytest.raises(ValueError, match="eligible must have shape"):
        Pool(X, np.ones(99, bool), np.zeros(100, bool))


def test_kcenter_greedy_and_distance_space() -> None:
    X = np.array([[0, 0], [1, 0], [10, 0], [5, 0]], dtype=np.float32)
    assert kcenter_greedy(X, np.array([1, 2, 3]), np.array([0]), 2).tolist() == [2, 3]
    rng = np.random.default_rng(0)
    space = distance_space(rng.normal(size=(200, 64)), dims=8)
    assert space.shape == (200, 8) and space.dtype == np.float32


def test_neyman_allocation_is_proportional_to_size_times_sd() -> None:
    sizes, sds = np.array([1000, 1000, 100]), np.array([0.1, 0.4, 0.5])
    alloc = neyman_allocation(sizes, sds, 300, minimum=2)
    assert alloc.sum() == 300
    ideal = 300 * sizes * sds / (sizes * sds).sum()
    assert np.abs(alloc - ideal).max() <= 1.5
    assert neyman_allocation(np.array([5, 1, 1000]), np.ones(3), 20, minimum=2).tolist() == [
        2, 1, 17,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="at least"):
        neyman_allocation(np.array([10, 10, 10]), np.ones(3), 4, minimum=2)


def test_stratified_sample_records_inclusion_probabilities() -> None:
    strata = np.array(["a"] * 700 + ["b"] * 200 + ["c"] * 100)
    p = np.concatenate([np.full(700, 0.02), np.full(200, 0.5), np.full(100, 0.9)])
    sample = stratified_sample(strata, 100, p, seed=9)
    design = sample.design.set_index("stratum")
    assert len(sample.rows) == 100 == len(set(sample.rows.tolist()))
    for name in "abc":
        chosen = sample.rows[sample.strata == name]
        assert len(chosen) == design.loc[name, "n"] and (strata[chosen] == name).all()
        pi = sample.inclusion[sample.strata == name]
        np.testing.assert_allclose(pi, design.loc[name, "n"] / design.loc[name, "N"])
    # the b stratum (p = 0.5, S = 0.5) gets more per building than a (p floored at 0.05)
    assert design.loc["b", "n"] / 200 > design.loc["a", "n"] / 700
    again = stratified_sample(strata, 100, p, seed=9)
    np.testing.assert_array_equal(sample.rows, again.rows)
    assert not np.array_equal(np.sort(sample.rows), sample.rows)  # a random labelling order


def test_diversity_fits_a_sample_of_a_large_pool() -> None:
    """Beyond MAX_FIT_POINTS the k-means sees every labelled row and a seeded sample of
    the rest; the picks are still eligible, distinct and reproducible."""
    from stcrl_core.active.strategies import MAX_FIT_POINTS, _fit_sample

    rows = _fit_sample(MAX_FIT_POINTS + 5_000, 300, 310, seed=3)
    assert len(rows) == MAX_FIT_POINTS and len(set(rows.tolist())) == len(rows)
    assert set(range(MAX_FIT_POINTS + 5_000, MAX_FIT_POINTS + 5_300)) <= set(rows.tolist())
    np.testing.assert_array_equal(rows, _fit_sample(MAX_FIT_POINTS + 5_000, 300, 310, seed=3))
    np.testing.assert_array_equal(_fit_sample(900, 100, 50, seed=0), np.arange(1_000))

    rng = np.random.default_rng(0)
    n = MAX_FIT_POINTS + 2_000
    space = rng.standard_normal((n, 8)).astype(np.float32)
    labelled = np.zeros(n, dtype=bool)
    labelled[rng.choice(n, 40, replace=False)] = True
    pool = Pool(space, ~labelled, labelled)
    picks = suggest("diversity", pool, 6, seed=1)
    assert len(set(picks.tolist())) == 6 and not labelled[picks].any()
    np.testing.assert_array_equal(picks, suggest("diversity", pool, 6, seed=1))
