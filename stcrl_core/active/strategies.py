"""Which buildings to label next: the suggestion strategies.

Each strategy picks ``n`` rows of a :class:`Pool` among its ``eligible`` ones
(never a labelled building: the caller leaves those out of ``eligible``),
deterministically for a given seed:

* ``random``: uniformly at random, so the labels follow the natural class mix;
* ``uncertainty``: the current model's least certain buildings, by the margin
  between its two most probable classes (``measure="margin"``) or by the
  entropy of its class probabilities (``measure="entropy"``);
* ``diversity``: k-center greedy in the embedding space: each pick is the
  building farthest from every labelled (or already picked) one, so the labels
  cover the clusters of the data;
* ``hybrid``: uncertainty within diversity: k-center greedy among the
  ``pool_factor * n`` least certain buildings (at least ``MIN_POOL``);
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
MIN_POOL = 50
DISTANCE_DIMS = 32


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
    d2 = ((points[:, None, :] - km.cluster_centers_[None, :, :]) ** 2).sum(axis=2)
    picks: list[int] = []
    taken = np.zeros(len(candidates), dtype=bool)
    for c in np.argsort(np.bincount(km.labels_, minlength=n))[::-1]:  # biggest clusters first
        order = np.argsort(d2[:, c], kind="stable")
        first = order[~taken[order]][0]
        taken[first] = True
        picks.append(int(candidates[first]))
    return np.asarray(picks, dtype=np.int64)


def suggest(
    strategy: str,
    pool: Pool,
    n: int,
    seed: int = 0,
    measure: str = "margin",
    pool_factor: int = 10,
) -> np.ndarray:
    """Pick ``n`` buildings of ``pool`` to label next.

    Args:
        strategy: One of :data:`STRATEGIES`.
        pool: The buildings, what is eligible, what is labelled, the model's probabilities.
        n: How many to pick (fewer when fewer are eligible).
        seed: Seed of every random choice.
        measure: ``margin`` or ``entropy``, for ``uncertainty`` and ``hybrid``.
        pool_factor: ``hybrid`` runs k-center greedy among this many times ``n``
            of the least certain buildings.

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
        return kcenter_greedy(pool.space, candidates, centres, n)
    scores = uncertainty_scores(pool.proba[candidates], measure)
    ranked = candidates[_order(rng, scores)]
    if strategy == "uncertainty":
        return ranked[:n]
    top = ranked[: max(pool_factor * n, MIN_POOL)]
    return kcenter_greedy(pool.space, top, centres, n)
