"""Routing patches to experts: k-means on location embeddings, nearest centroid at inference.

Embeddings are L2-normalised first (the triplet loss compares them by cosine),
so centroid distances are Euclidean distances on the unit sphere. Trained
experts runs (:mod:`stcrl_core.methods.experts`) are listed, loaded and applied
to a patch here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans

from stcrl_core.methods.segmentation import predict_probabilities
from stcrl_core.models.unet import UNet
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.experts import (
    CENTROIDS,
    METRICS,
    SINGLE,
    expert_file,
    experts_run_dir,
    finished_experts,
    read_experts,
)

SETUPS = ("routed experts", "single network", "random expert")


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


def list_experts(workspace: Workspace | str | Path) -> pd.DataFrame:
    """Every finished experts run of a workspace: id, embedding run, k, arch, overall IoU."""
    rows = []
    for folder, config in finished_experts(Workspace.of(workspace)):
        path = folder / METRICS
        metrics = json.loads(path.read_text(encoding="utf-8"))
        overall = {s: metrics["setups"][s]["Overall"]["iou"] for s in SETUPS}
        rows.append({"id": config["id"], "embedding": config["embedding"], "k": config["k"],
                     "arch": config["arch"], "epochs": config["epochs"],
                     **{f"{s} IoU": round(100 * v, 2) for s, v in overall.items()},
                     "mtime": path.stat().st_mtime})  # fmt: skip
    return pd.DataFrame(rows)


def load_experts(
    workspace: Workspace | str | Path, exp_id: str, device: str | torch.device = "cpu"
) -> tuple[dict[str, Any], ExpertRouter, dict[int, UNet], UNet]:
    """A finished experts run: its config, router, experts and single network (eval mode).

    Raises:
        ExpertsError: If the run does not exist.
    """
    workspace = Workspace.of(workspace)
    config = read_experts(workspace, exp_id)["config"]
    folder = experts_run_dir(workspace, exp_id)
    router = ExpertRouter(config["k"], config["seed"])
    router.centroids_ = np.load(folder / CENTROIDS)
    models = {}
    for c in range(config["k"]):
        models[c] = _load_unet(folder / expert_file(c), config["arch"], device)
    return config, router, models, _load_unet(folder / SINGLE, config["arch"], device)


def _load_unet(path: Path, arch: str, device: str | torch.device) -> UNet:
    model = UNet(arch, 1)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()


def route_and_segment(
    encoder: torch.nn.Module,
    router: ExpertRouter,
    models: dict[int, UNet],
    single: UNet,
    image: np.ndarray,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Route one ``P x P x 3`` uint8 patch to its expert and segment it.

    Returns:
        ``{"expert", "distances" (k,), "routed" (P, P) probabilities, "single"}``.
    """
    from stcrl_core.methods.triplet import embed_images

    dev = torch.device(device)
    batch = np.asarray(image, dtype=np.uint8)[None]
    distances = router.transform(embed_images(encoder, batch, dev))[0]
    chosen = int(distances.argmin())
    return {
        "expert": chosen,
        "distances": distances,
        "routed": predict_probabilities(models[chosen], batch, dev)[0],
        "single": predict_probabilities(single, batch, dev)[0],
    }
