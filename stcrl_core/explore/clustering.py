"""k-means clusters of embeddings and what each cluster holds.

Clusters are found in the embedding space itself (standardised, first 50
principal components, like the projections), not in the 2-D picture, so they
do not depend on the projection method. The silhouette score (computed on a
seeded sample of at most 5,000 points, which keeps it fast at 100,000 points)
tells how well separated a choice of k is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stcrl_core.explore.projection import reduce_dims

SILHOUETTE_SAMPLE = 5000


@dataclass(frozen=True)
class Clusters:
    """A k-means clustering of N points.

    Attributes:
        labels: ``(N,)`` cluster of each point (0 .. k-1).
        centroids: ``(k, d)`` centroids in the reduced space.
        silhouette: Mean silhouette score (-1 .. 1; higher is better separated).
        inertia: Sum of squared distances to the nearest centroid.
    """

    labels: np.ndarray
    centroids: np.ndarray
    silhouette: float
    inertia: float


def kmeans_clusters(features: np.ndarray, k: int, seed: int = 0) -> Clusters:
    """k-means with ``k`` clusters on standardised, PCA-reduced features.

    Args:
        features: ``(N, d)`` embeddings.
        k: Number of clusters (2 <= k < N).
        seed: Random seed (the result is deterministic given it).

    Raises:
        ValueError: If ``k`` is out of range for the number of points.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(features)
    if not 2 <= k < n:
        raise ValueError(f"k must be between 2 and {n - 1} for {n} points, got {k}")
    x = reduce_dims(np.asarray(features), seed=seed)
    model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(x)
    labels = model.labels_.astype(np.int64)
    sample = min(n, SILHOUETTE_SAMPLE)
    score = (
        float(silhouette_score(x, labels, sample_size=sample, random_state=seed))
        if len(np.unique(labels)) > 1
        else 0.0
    )
    return Clusters(labels, model.cluster_centers_.astype(np.float32), score, float(model.inertia_))


def composition(labels: np.ndarray, values: pd.Series) -> pd.DataFrame:
    """Share of each value within each cluster (rows: clusters, columns: values, rows sum to 1)."""
    if len(labels) != len(values):
        raise ValueError(f"labels {np.shape(labels)} and values {values.shape} differ in length")
    table = pd.crosstab(pd.Series(labels, name="cluster"), values.reset_index(drop=True))
    return table.div(table.sum(axis=1), axis=0)


def cluster_summary(labels: np.ndarray, table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Size of each cluster and its make-up by each of ``columns`` of ``table``.

    For every column the summary lists the most common values with their share,
    e.g. ``"no-damage 71% · destroyed 12% · minor 9%"``.

    Args:
        labels: ``(N,)`` cluster of each row of ``table``.
        table: One row per point.
        columns: Columns of ``table`` to summarise.
    """
    if len(labels) != len(table):
        raise ValueError(f"labels {np.shape(labels)} and table of {len(table)} rows differ")
    out = pd.DataFrame({"size": pd.Series(labels).value_counts().sort_index()})
    out.index.name = "cluster"
    out["share"] = (out["size"] / len(labels)).round(3)
    for column in columns:
        shares = composition(labels, table[column])
        out[column] = [
            " · ".join(
                f"{name} {share:.0%}"
                for name, share in row.sort_values(ascending=False)[:3].items()
                if share > 0
            )
            for _, row in shares.reindex(out.index).iterrows()
        ]
    return out
