"""Routing patches to experts: k-means on location embeddings, nearest centroid at inference.

Embeddings are L2-normalised first (the triplet loss compares them by cosine),
so centroid distances are Euclidean distances on the unit sphere.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans


class ExpertRouter:
    """k-means on L2-normalised embeddings; the nearest centroid picks the expert.

    Args:
        n_experts: Number of clusters (experts).
        random_state: Seed of k-means (resolved in :meth:`fit`).

    Attributes:
        centroids_: ``(n_experts, d)`` cluster centres (on normalised embeddings).
        labels_: Cluster of each training embedding.
    """

    def __init__(self, n_experts: int = 5, random_state: int | None = 0) -> None:
        self.n_experts = n_experts
        self.random_state = random_state

    def fit(self, embeddings: np.ndarray) -> ExpertRouter:
        """Cluster ``(N, d)`` embeddings into ``n_experts`` groups."""
        x = _normalise(embeddings)
        if len(x) < self.n_experts:
            raise ValueError(
                f"need at least n_experts={self.n_experts} embeddings, got shape {x.shape}"
            )
        kmeans = KMeans(self.n_experts, n_init=10, random_state=self.random_state).fit(x)
        self.centroids_ = kmeans.cluster_centers_.astype(np.float32)
        self.labels_ = kmeans.labels_.astype(np.int64)
        return self

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        """``(N, n_experts)`` distances of normalised embeddings to every centroid."""
        x = _normalise(embeddings)
        if x.shape[1] != self.centroids_.shape[1]:
            raise ValueError(
                f"embeddings of shape {x.shape} do not match centroids of shape "
                f"{self.centroids_.shape}"
            )
        diff = x[:, None, :] - self.centroids_[None, :, :]
        return np.sqrt((diff**2).sum(-1)).astype(np.float32)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """The expert (nearest centroid) of each embedding."""
        return self.transform(embeddings).argmin(1)


def _normalise(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (N, d), got shape {x.shape}")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
