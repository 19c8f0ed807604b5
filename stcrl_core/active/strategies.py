"""Which buildings to label next: the suggestion strategies.

Each strategy picks ``n`` rows of a :class:`Pool` among its ``eligible`` ones
(never a labelled building: the caller leaves those out of ``eligible``),
deterministically for a given seed:

* ``random``: uniformly at random, so the labels follow the natural class mix;
* ``uncertainty``: the current model's least certain buildings, by the margin
  between its two most probable classes (``measure="margin"``) or by the
  entropy of its class probabilities (``measure="entropy"``), taken in turn
  from each class the model predicts (the class with the fewest predicted
  buildings first), so buildings the model thinks are rare classes get
  labelled too: on imbalanced data the plain top-``n`` sits on the boundaries
  of the majority class;
* ``diversity``: typical buildings of the regions no label covers yet: a
  k-means with ``labelled + n`` clusters over the eligible and labelled
  buildings, then from the ``n`` clusters with the fewest labels (the biggest
  first) the eligible building nearest each centroid. k-center greedy (each
  pick the farthest from every label) picks the outliers of heavy-tailed
  feature spaces instead (issue #14: on the demo it labelled fewer minority
  buildings than random sampling);
* ``hybrid``: uncertainty with diversity: a k-means with ``n`` clusters over
  the eligible buildings, each weighted by the model's uncertainty, and the
  building nearest each centroid: typical buildings of the uncertain regions;
* ``cold-start``: with no labels (or no model yet), the buildings nearest the
  centroids of a k-means with ``n`` clusters; ``uncertainty``, ``diversity`` and
  ``hybrid`` fall back to it.

The distances of ``diversity``, ``hybrid`` and the cold start are measured in
:func:`distance_space`: the standardised features reduced by PCA, computed once
per feature matrix. Strategies take arrays only (no workspace, no model), so the
Label page, ``stcrl suggest`` and the budget engine's simulation share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRATEGIES = ("random", "uncertainty", "diversity", "hybrid", "cold-start")
MEASURES = ("margin", "entropy")
# Part of the ids of label-budget experiments with an active strategy: bump it when a
# strategy picks differently. 2: class-balanced uncertainty, typical-point diversity and
# uncertainty-weighted k-means hybrid (issue #14); 1 (implicit): top-n margin, k-center greedy.
STRATEGIES_VERSION = 2
DISTANCE_DIMS = 32
MAX_FIT_POINTS = 10_000  # diversity's k-means is fitted on at most this many rows ...
FIT_POINTS_PER_CLUSTER = 5  # ... or this many per cluster, whichever is more


@dataclass(frozen=True, eq=False)
class Pool:
    """The buildings a strategy chooses from.

    Attributes:
        space: ``(N, r)`` float32 coordinates of every building in the space
            distances are measured in (:func:`distance_space`).
        eligible: ``(N,)`` bool, the buildings that may be suggested.
        labelled: ``(N,)`` bool, the buildings labelled so far (k-center's centres).
        proba: ``(N, 4)`` class probabilities of the current model, or None
            when there is no model yet.
    """

    space: np.ndarray
    eligible: np.ndarray
    labelled: np.ndarray
    proba: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.space.shape[0]
        if self.space.ndim != 2:
            raise ValueError(f"space must be (N, r), got shape {self.space.shape}")
        for name in ("eligible", "labelled"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"{name} must have shape ({n},) like space {self.space.shape}, "
                    f"got {getattr(self, name).shape}"
                )
        if self.proba is not None and self.proba.shape[0] != n:
            raise ValueError(
                f"proba must have {n} rows like space {self.space.shape}, got {self.proba.shape}"
            )


def distance_space(features: np.ndarray, dims: int = DISTANCE_DIMS, seed: int = 0) -> np.ndarray:
    """Standardised features reduced to ``dims`` principal components (float32).

    Args:
        features: ``(N, d)`` features of every building.
        dims: Components kept (fewer when ``N`` or ``d`` is smaller).
        seed: Seed of the randomised SVD.
    """
    X = np.asarray(features, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"features must be (N, d), got shape {X.shape}")
    scale = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(scale > 1e-12, scale, 1.0)
    k = min(dims, Z.shape[0], Z.shape[1])
    if k == Z.shape[1]:
        return Z.astype(np.float32)
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k, svd_solver="randomized", random_state=seed)
    return pca.fit_transform(Z).astype(np.float32)


def uncertainty_scores(proba: np.ndarray, measure: str = "margin") -> np.ndarray:
    """How uncertain the model is about each building: higher is less certain.

    ``margin``: 1 minus the gap between the two most probable classes;
    ``entropy``: the entropy of the class probabilities over ``log(k)`` (0 to 1).
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    p = np.asarray(proba, dtype=np.float64)
    if measure == "margin":
        top2 = np.sort(p, axis=-1)[..., -2:]
        return 1.0 - (top2[..., 1] - top2[..., 0])
    return -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(axis=-1) / np.log(p.shape[-1])


def _order(rng: np.random.Generator, scores: np.ndarray) -> np.ndarray:
    """Positions by descending score, ties broken at random (reproducibly)."""
    tie = rng.permutation(len(scores))
    return np.lexsort((tie, -scores))


def min_distances(space: np.ndarray, centres: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Distance of every row of ``space`` to its nearest centre (inf with no centre)."""
    best = np.full(space.shape[0], np.inf, dtype=np.float64)
    sq = (space.astype(np.float64) ** 2).sum(axis=1)
    for start in range(0, len(centres), chunk):
        c = centres[start : start + chunk].astype(np.float64)
        d2 = sq[:, None] - 2 * space @ c.T + (c**2).sum(axis=1)[None, :]
        best = np.minimum(best, np.sqrt(np.maximum(d2.min(axis=1), 0.0)))
    return best


def kcenter_greedy(
    space: np.ndarray, candidates: np.ndarray, centres: np.ndarray, n: int
) -> np.ndarray:
    """k-center greedy: ``n`` candidates, each the farthest from the centres and earlier picks.

    Args:
        space: ``(N, r)`` coordinates.
        candidates: Rows that may be picked.
        centres: Rows already covered (labelled); at least one is needed.
        n: How many to pick.

    Returns:
        The picked rows, in the order picked.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    points = space[candidates]
    dist = min_distances(points, space[np.asarray(centres, dtype=np.int64)])
    picks: list[int] = []
    for _ in range(min(n, len(candidates))):
        best = int(np.argmax(dist))
        picks.append(int(candidates[best]))
        step = np.sqrt(((points - points[best]) ** 2).sum(axis=1))
        dist = np.minimum(dist, step)
        dist[best] = -np.inf
    return np.asarray(picks, dtype=np.int64)


def _nearest_to_centroids(
    points: np.ndarray, centroids: np.ndarray, clusters: np.ndarray
) -> list[int]:
    """For each cluster in ``clusters`` (in order), the point nearest its centroid not yet taken."""
    picks: list[int] = []
    taken = np.zeros(len(points), dtype=bool)
    for c in clusters:
        d2 = ((points - centroids[c]) ** 2).sum(axis=1)
        order = np.argsort(d2, kind="stable")
        free = order[~taken[order]]
        if len(free) == 0:
            break
        taken[free[0]] = True
        picks.append(int(free[0]))
    return picks


def cold_start(space: np.ndarray, candidates: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """The candidates nearest the centroids of a k-means with ``n`` clusters (one per cluster).

    Returns:
        ``min(n, len(candidates))`` distinct rows.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) <= n:
        return candidates.copy()
    from sklearn.cluster import KMeans

    points = space[candidates].astype(np.float64)
    km = KMeans(n_clusters=n, n_init=3, random_state=seed).fit(points)
    biggest = np.argsort(np.bincount(km.labels_, minlength=n))[::-1]  # biggest clusters first
    return candidates[_nearest_to_centroids(points, km.cluster_centers_, biggest)]


def typical_uncovered(
    space: np.ndarray, candidates: np.ndarray, centres: np.ndarray, n: int, seed: int = 0
) -> np.ndarray:
    """Typical candidates of the regions the centres do not cover (``diversity``).

    A k-means with ``len(centres) + n`` clusters over the candidates and the
    centres; the ``n`` clusters with the fewest centres (ties: the biggest
    first) each give the candidate nearest their centroid. This is TypiClust's
    selection (Hacohen et al., ICML 2022) with the distance to the centroid as
    the typicality: for small budgets, typical points label better than the
    outliers k-center greedy picks.

    Args:
        space: ``(N, r)`` coordinates.
        candidates: Rows that may be picked.
        centres: Rows already labelled.
        n: How many to pick.

    Returns:
        ``min(n, len(candidates))`` distinct candidates, in the order picked.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    centres = np.asarray(centres, dtype=np.int64)
    if len(candidates) <= n:
        return candidates.copy()
    from sklearn.cluster import KMeans

    rows = np.concatenate([candidates, centres])
    points = space[rows].astype(np.float64)
    k = min(len(centres) + n, len(rows))
    fit = _fit_sample(len(candidates), len(centres), k, seed)
    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(points[fit])
    labels = km.labels_ if len(fit) == len(rows) else km.predict(points)
    covered = np.bincount(labels[len(candidates) :], minlength=k)
    free = np.bincount(labels[: len(candidates)], minlength=k)
    ranked = [c for c in np.lexsort((-free, covered)) if free[c] > 0]
    picks: list[int] = []
    for c in ranked[:n]:
        members = np.flatnonzero(labels[: len(candidates)] == c)
        d2 = ((points[members] - km.cluster_centers_[c]) ** 2).sum(axis=1)
        picks.append(int(candidates[members[np.argmin(d2)]]))
    if len(picks) < n:  # fewer non-empty clusters than n: fill with k-center greedy
        rest = np.setdiff1d(candidates, picks)
        picks.extend(kcenter_greedy(space, rest, np.concatenate([centres, picks]), n - len(picks)))
    return np.asarray(picks, dtype=np.int64)


def _fit_sample(n_candidates: int, n_centres: int, k: int, seed: int) -> np.ndarray:
    """Rows (candidates first, then centres) the k-means of ``diversity`` is fitted on.

    Every row while there are at most ``MAX_FIT_POINTS`` (or ``FIT_POINTS_PER_CLUSTER``
    per cluster); beyond that every centre and a seeded sample of the candidates, so a
    suggestion stays interactive on a large event (the clusters are then assigned to
    every row). The demo's pools are below the cap: their picks do not change.
    """
    total = n_candidates + n_centres
    cap = max(MAX_FIT_POINTS, FIT_POINTS_PER_CLUSTER * k)
    if total <= cap:
        return np.arange(total)
    keep = max(cap - n_centres, k)
    sample = np.random.default_rng([seed, 2]).choice(n_candidates, keep, replace=False)
    return np.concatenate([np.sort(sample), np.arange(n_candidates, total)])


def balanced_uncertain(
    proba: np.ndarray, candidates: np.ndarray, n: int, rng: np.random.Generator,
    measure: str = "margin",
) -> np.ndarray:  # fmt: skip
    """The least certain candidates, taken in turn from each predicted class (``uncertainty``).

    The classes go round in order of how many candidates the model predicts
    for each (fewest first); within a class the least certain come first, and
    a class with no candidate left drops out of the turn.

    Args:
        proba: ``(N, k)`` class probabilities of every row.
        candidates: Rows that may be picked.
        n: How many to pick.
        rng: Breaks ties in the uncertainty at random.
        measure: ``margin`` or ``entropy``.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    order = _order(rng, uncertainty_scores(proba[candidates], measure))
    ranked = candidates[order]
    predicted = proba[ranked].argmax(axis=1)
    queues = [ranked[predicted == c] for c in range(proba.shape[1])]
    classes = sorted((c for c in range(len(queues)) if len(queues[c])),
                     key=lambda c: (len(queues[c]), c))  # fmt: skip
    picks: list[int] = []
    for turn in range(max((len(queues[c]) for c in classes), default=0)):
        for c in classes:
            if turn < len(queues[c]) and len(picks) < n:
                picks.append(int(queues[c][turn]))
        if len(picks) >= n:
            break
    return np.asarray(picks, dtype=np.int64)


def uncertain_typical(
    space: np.ndarray, candidates: np.ndarray, scores: np.ndarray, n: int, seed: int = 0
) -> np.ndarray:
    """The candidates nearest the centroids of an uncertainty-weighted k-means (``hybrid``).

    A k-means with ``n`` clusters over the candidates, each weighted by its
    uncertainty score (Zhdanov's diverse mini-batch active learning, 2019,
    over the whole pool): its centroids sit in the uncertain regions, and the
    candidate nearest each is a typical building of one of them.

    Args:
        space: ``(N, r)`` coordinates.
        candidates: Rows that may be picked.
        scores: ``(len(candidates),)`` their uncertainty (higher: less certain).
        n: How many to pick.
        seed: Seed of the k-means.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) <= n:
        return candidates.copy()
    from sklearn.cluster import KMeans

    points = space[candidates].astype(np.float64)
    weights = np.asarray(scores, dtype=np.float64) + 1e-6  # a certain building still counts
    km = KMeans(n_clusters=n, n_init=1, random_state=seed).fit(points, sample_weight=weights)
    heaviest = np.argsort(np.bincount(km.labels_, weights=weights, minlength=n))[::-1]
    return candidates[_nearest_to_centroids(points, km.cluster_centers_, heaviest)]


def suggest(
    strategy: str,
    pool: Pool,
    n: int,
    seed: int = 0,
    measure: str = "margin",
) -> np.ndarray:
    """Pick ``n`` buildings of ``pool`` to label next.

    Args:
        strategy: One of :data:`STRATEGIES`.
        pool: The buildings, what is eligible, what is labelled, the model's probabilities.
        n: How many to pick (fewer when fewer are eligible).
        seed: Seed of every random choice.
        measure: ``margin`` or ``entropy``, for ``uncertainty`` and ``hybrid``.

    Returns:
        int64 rows, all eligible, distinct, in the order suggested.

    Raises:
        ValueError: For an unknown strategy or measure, or ``n < 1``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(pool.eligible).astype(np.int64)
    if len(candidates) == 0:
        return candidates
    if strategy == "random":
        return rng.choice(candidates, size=min(n, len(candidates)), replace=False)
    centres = np.flatnonzero(pool.labelled)
    needs_model = strategy in ("uncertainty", "hybrid")
    if strategy == "cold-start" or (needs_model and pool.proba is None) or len(centres) == 0:
        return cold_start(pool.space, candidates, n, seed)
    if strategy == "diversity":
        return typical_uncovered(pool.space, candidates, centres, n, seed)
    if strategy == "uncertainty":
        return balanced_uncertain(pool.proba, candidates, n, rng, measure)
    scores = uncertainty_scores(pool.proba[candidates], measure)
    return uncertain_typical(pool.space, candidates, scores, n, seed)
