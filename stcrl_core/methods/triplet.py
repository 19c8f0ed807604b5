"""Location-specific triplet embeddings of image patches (the experts paper, seed 001).

Reference: "Learning location-specific embeddings ... for building footprint
segmentation" (seed 001 in ``/work/shared/seeds``; settings in REFERENCE.md):
an autoencoder with a ResNet-34 encoder, trained with a SmoothL1 reconstruction
loss, plus an embedding branch on the bottleneck (5x5 average pooling and two
fully connected layers, a 2048-d embedding) trained with the triplet margin
loss (Balntas et al., BMVC 2016), eq. (1)::

    L_triplet = max( d(y_a, y_p) - d(y_a, y_n) + margin, 0 ),  d(u, v) = 1 - cos(u, v)

where the anchor ``a`` and positive ``p`` come from the same location and the
negative ``n`` from another. The network is trained end to end on the sum of
both losses.

Choices where the paper is silent: triplets are mined within each batch
(Hermans et al., "In Defense of the Triplet Loss", 2017; the loss is in
:mod:`stcrl_core.methods.triplet_loss`): every valid (anchor, positive,
negative) of the batch (``mining="all"``, the default) or the hardest positive
and negative of each anchor (``"hard"``), over every process's batch under
torchrun; the margin is 0.2. On a 512 px patch the paper's 5x5 pooling of the
16 x 16 bottleneck gives about a 3 x 3 grid; here the bottleneck is average-pooled to a 3 x 3 grid
whatever the patch size, so small patches (64 px in the demo) work with the
same layers. The autoencoder has no skip connections, so the bottleneck has to
hold the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from stcrl_core.data.augment import normalise, to_float
from stcrl_core.data.datasets import cut_batches
from stcrl_core.data.patches import PatchImages
from stcrl_core.devices import resolve_device
from stcrl_core.methods.registry import ConfigField, MethodSpec
from stcrl_core.methods.triplet_loss import (
    cosine_distances,
    distributed_triplet_margin_loss,
)
from stcrl_core.models.unet import ResNetTrunk, UNetDecoder
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_memmap
from stcrl_core.workspace.embeddings import PATCH_VIEW, load_embeddings
from stcrl_core.workspace.patches import load_patches
from stcrl_core.workspace.runs import run_files

if TYPE_CHECKING:
    from stcrl_core.methods.config import PretrainConfig

POOL_GRID = 3


class PatchEncoder(nn.Module):
    """Image patches -> location-specific embedding: the ResNet trunk and the embedding branch.

    Args:
        arch: Encoder architecture (ResNet-34 in the paper).
        embedding_dim: Size of the embedding (2048 in the paper).
        weights: Optional local weights file for the ResNet.
    """

    def __init__(
        self, arch: str = "resnet34", embedding_dim: int = 2048, weights: str | None = None
    ) -> None:
        super().__init__()
        self.trunk = ResNetTrunk(arch, weights)
        channels = self.trunk.channels[-1]
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(POOL_GRID),
            nn.Flatten(),
            nn.Linear(channels * POOL_GRID * POOL_GRID, embedding_dim),
            nn.ReLU(inplace=True),
            nn.Linear(embedding_dim, embedding_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)[-1])


class TripletNet(nn.Module):
    """The embedding network: autoencoder plus embedding branch on its bottleneck.

    ``forward`` returns ``(reconstruction, embedding)``; ``encoder`` alone maps
    images to embeddings.
    """

    def __init__(
        self, arch: str = "resnet34", embedding_dim: int = 2048, weights: str | None = None
    ) -> None:
        super().__init__()
        self.encoder = PatchEncoder(arch, embedding_dim, weights)
        self.decoder = UNetDecoder(self.encoder.trunk.channels, out_channels=3, skips=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder.trunk(x)
        return self.decoder(features), self.encoder.head(features[-1])


def random_flips(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image (and, given the same draws, its mask) horizontally and vertically at random.

    Args:
        x: ``(B, C, H, W)`` tensor.
        generator: CPU generator for the draws.
    """
    flips = torch.randint(0, 2, (x.shape[0], 2), generator=generator).to(x.device).bool()
    x = torch.where(flips[:, 0, None, None, None], x.flip(-1), x)
    return torch.where(flips[:, 1, None, None, None], x.flip(-2), x)


def patch_input(images: torch.Tensor) -> torch.Tensor:
    """``(B, P, P, 3)`` uint8 patches -> normalised ``(B, 3, P, P)`` float."""
    return normalise(to_float(images))


class TripletTask:
    """Trains the embedding network on the training patches of the patch store."""

    views = ("image",)

    def load_data(self, workspace: Workspace) -> tuple[pd.DataFrame, PatchImages]:
        """The patch table and the patch dataset (labels: location codes)."""
        dataset = PatchImages(workspace)
        return dataset.table, dataset

    def build_model(self, config: PretrainConfig) -> TripletNet:
        """Autoencoder + embedding branch with ``config.arch`` and ``config.embedding_dim``."""
        return TripletNet(config.arch, config.embedding_dim, config.weights)

    def training_rows(self, table: pd.DataFrame, config: PretrainConfig) -> np.ndarray:
        """The ``train`` patches."""
        return np.flatnonzero((table["split"] == "train").to_numpy())

    def epoch_batches(
        self,
        rows: np.ndarray,
        labels: np.ndarray,
        config: PretrainConfig,
        generator: torch.Generator,
    ) -> list[np.ndarray]:
        """Shuffled full batches (triplets are mined inside each)."""
        return cut_batches(rows[torch.randperm(len(rows), generator=generator).numpy()],
                           config.batch_size)  # fmt: skip

    def build_optimizer(self, model: nn.Module, config: PretrainConfig) -> torch.optim.Optimizer:
        """Adam with ``config.lr`` and ``config.weight_decay`` (as the paper's networks)."""
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    @staticmethod
    def lr_factor(step: int, total_steps: int) -> float:
        """The "poly" policy: ``(1 - step / total) ** 0.9``."""
        return poly_factor(step, total_steps)

    def step(
        self,
        model: nn.Module,
        batch: dict[str, torch.Tensor],
        config: PretrainConfig,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Reconstruction + triplet loss of one batch, with both parts and distances."""
        x = random_flips(patch_input(batch["image"]), generator)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        reconstruction, z = model(x)
        recon_loss = F.smooth_l1_loss(reconstruction.float(), x.float())
        labels = batch["location"]
        trip_loss = distributed_triplet_margin_loss(z, labels, config.margin)
        with torch.no_grad():
            d = cosine_distances(z.float())
            same = labels[:, None] == labels[None, :]
            off = ~torch.eye(len(labels), dtype=torch.bool, device=d.device)
            stats = {
                "reconstruction": float(recon_loss.detach()),
                "triplet": float(trip_loss.detach()),
                "pos_dist": float(d[same & off].mean()) if (same & off).any() else float("nan"),
                "neg_dist": float(d[~same].mean()) if (~same).any() else float("nan"),
            }
        return recon_loss + trip_loss, stats


def poly_factor(step: int, total_steps: int, power: float = 0.9) -> float:
    """Learning-rate factor of the "poly" policy ``(1 - step / total) ** power``."""
    return (1 - min(step, total_steps) / max(total_steps, 1)) ** power


def embed_patches(
    ws: Workspace,
    run: str,
    config: PretrainConfig,
    batch_size: int = 64,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """The triplet embed hook: the location embedding of every patch, ``embeddings_patch.npy``.

    Row i is the patch with ``row == i`` (float32, N x embedding_dim), written
    through a memory map into a temporary file and moved into place when done.

    Returns:
        ``{"rows": N, "dim": D, "run": run, "files": ["embeddings_patch.npy"], "kind": "patch"}``.
    """
    from stcrl_core.methods.checkpoints import load_encoder  # builds on the registry

    dev = resolve_device(device)
    encoder, config = load_encoder(ws, run, dev)
    if dev.type == "cuda":
        encoder = encoder.to(memory_format=torch.channels_last)
    _, images, _ = load_patches(ws)
    n = len(images)
    target = run_files(ws, run).embeddings(PATCH_VIEW)
    with atomic_memmap(target, (n, config.embedding_dim)) as arr:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            arr[start:stop] = embed_images(encoder, np.asarray(images[start:stop]), dev)
            progress(stop, n, f"patches {stop}/{n}")
    return {"rows": n, "dim": config.embedding_dim, "run": run, "files": [target.name],
            "kind": "patch"}  # fmt: skip


def embed_images(encoder: nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """Embeddings ``(B, D)`` float32 of ``(B, P, P, 3)`` uint8 patches with a patch encoder."""
    x = patch_input(torch.from_numpy(np.array(images, dtype=np.uint8)).to(device))
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with (
        torch.inference_mode(),
        torch.autocast(
            device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"
        ),
    ):
        return encoder(x).float().cpu().numpy()


def location_knn_accuracy(
    workspace: Workspace | str | Path, run: str, k: int = 5
) -> dict[str, Any]:
    """How well a run's embedding separates locations: k-NN location accuracy.

    A k-nearest-neighbour classifier (cosine distance) fitted on the embeddings
    of the ``train`` patches predicts the location of every ``val`` patch.

    Returns:
        ``{"k", "overall", "per_location": {location: accuracy}, "chance", "train", "val"}``
        (``chance``: accuracy of always answering the most frequent location).
    """
    from sklearn.neighbors import KNeighborsClassifier

    workspace = Workspace.of(workspace)
    table, _, _ = load_patches(workspace)
    z = np.asarray(load_embeddings(workspace, run, PATCH_VIEW), dtype=np.float32)
    train = (table["split"] == "train").to_numpy()
    val = ~train
    if not train.any() or not val.any():
        raise ValueError("need both train and val patches for a k-NN location accuracy")
    locations = table["location"].to_numpy()
    knn = KNeighborsClassifier(n_neighbors=min(k, int(train.sum())), metric="cosine")
    predicted = knn.fit(z[train], locations[train]).predict(z[val])
    correct = pd.Series(predicted == locations[val], index=table.index[val])
    per_location = correct.groupby(table.loc[val, "location"]).mean()
    return {
        "k": k,
        "overall": float(correct.mean()),
        "per_location": {str(loc): float(v) for loc, v in per_location.items()},
        "chance": float(pd.Series(locations[val]).value_counts(normalize=True).iloc[0]),
        "train": int(train.sum()),
        "val": int(val.sum()),
    }


METHODS = (
    MethodSpec(
        name="triplet",
        summary="location embedding network on the segmentation patches (WS/patches/)",
        task=TripletTask,
        embed=embed_patches,
        fields=(
            ConfigField("embedding_dim", int, 2048, "size of the location embedding"),
            ConfigField("margin", float, 0.2, "triplet margin on 1 - cosine"),
        ),
        # the experts paper: ResNet-34, Adam 1e-4, batches of 32, weight decay 5e-4, poly
        defaults={"arch": "resnet34", "batch_size": 32, "lr": 1e-4, "weight_decay": 5e-4},
        rank=5,
    ),
)
