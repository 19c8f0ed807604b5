"""The ST-CRL loss (spatiotemporal contrastive representation learning).

Reference: Peng, B., Huang, Q., Rao, J., "Spatiotemporal Contrastive Representation
Learning for Building Damage Classification", IGARSS 2021 (seed 000), eq. (1)::

    l_i = -log( e^{s(pre_i, post_i)/t} /
                ( e^{s(pre_i, post_i)/t}
                  + sum_{j != i} [ e^{s(pre_i, pre_j)/t} + e^{s(pre_i, post_j)/t}
                                 + e^{s(post_i, pre_j)/t} + e^{s(post_i, post_j)/t} ] ) )

with ``s`` the cosine similarity and the batch loss the mean of ``l_i``. Unlike
SimCLR's NT-Xent (one anchor per view, one denominator each), each building has a
single denominator holding its positive pair and all four cross-building pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from stcrl_core.data.augment import AugmentConfig, augment
from stcrl_core.data.budget import TRAIN_SPLITS
from stcrl_core.data.datasets import cut_batches
from stcrl_core.methods.crop_features import embed_building_crops
from stcrl_core.methods.gather import gather_with_grad
from stcrl_core.methods.registry import ConfigField, MethodSpec
from stcrl_core.models.encoders import build_encoder, feature_dim
from stcrl_core.models.heads import EncoderWithHead, ProjectionHead

if TYPE_CHECKING:
    from stcrl_core.methods.config import PretrainConfig

VARIANTS = ("stcrl", "simclr")


def _at_least_float32(z: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 (autocast) inputs are computed in float32; float64 stays float64."""
    return z.to(torch.promote_types(z.dtype, torch.float32))


def _check(z_pre: torch.Tensor, z_post: torch.Tensor, temperature: float, variant: str) -> None:
    if z_pre.ndim != 2 or z_pre.shape != z_post.shape:
        raise ValueError(
            f"z_pre and z_post must both be (batch, dim) of the same shape, got "
            f"{tuple(z_pre.shape)} and {tuple(z_post.shape)}"
        )
    if z_pre.shape[0] < 2:
        raise ValueError(
            f"need a batch of at least 2 buildings for negatives, got {z_pre.shape[0]}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def contrastive_rows(
    u_pre: torch.Tensor,
    u_post: torch.Tensor,
    k_pre: torch.Tensor,
    k_post: torch.Tensor,
    offset: int,
    temperature: float,
    variant: str = "stcrl",
) -> torch.Tensor:
    """Per-anchor losses of local buildings against a (possibly gathered) key batch.

    Args:
        u_pre: L2-normalised pre embeddings of the local buildings, ``(n, d)``.
        u_post: L2-normalised post embeddings of the local buildings, ``(n, d)``.
        k_pre: L2-normalised pre embeddings of all buildings of the batch, ``(N, d)``.
        k_post: Same for post.
        offset: Index of the first local building within the key batch.
        temperature: Softmax temperature.
        variant: ``"stcrl"`` (eq. 1, one loss per building) or ``"simclr"``
            (NT-Xent, one loss per view: ``2n`` values, pre anchors first).

    Returns:
        The per-anchor losses (float32).
    """
    n, big_n = u_pre.shape[0], k_pre.shape[0]
    idx = torch.arange(n, device=u_pre.device) + offset
    self_mask = torch.zeros(n, big_n, dtype=torch.bool, device=u_pre.device)
    self_mask[torch.arange(n, device=u_pre.device), idx] = True
    neg_inf = torch.finfo(torch.float32).min
    s_pp = (u_pre @ k_pre.T / temperature).masked_fill(self_mask, neg_inf)
    s_pq_full = u_pre @ k_post.T / temperature
    s_qp = (u_post @ k_pre.T / temperature).masked_fill(self_mask, neg_inf)
    s_qq = (u_post @ k_post.T / temperature).masked_fill(self_mask, neg_inf)
    positive = s_pq_full[torch.arange(n, device=u_pre.device), idx]
    s_pq = s_pq_full.masked_fill(self_mask, neg_inf)
    if variant == "stcrl":
        logits = torch.cat([positive[:, None], s_pp, s_pq, s_qp, s_qq], dim=1)
        return torch.logsumexp(logits, dim=1) - positive
    # NT-Xent: anchor pre_i against post_i (positive) and every other view of other buildings
    pre_logits = torch.cat([positive[:, None], s_pp, s_pq], dim=1)
    post_logits = torch.cat([positive[:, None], s_qq, s_qp], dim=1)
    return torch.cat(
        [
            torch.logsumexp(pre_logits, dim=1) - positive,
            torch.logsumexp(post_logits, dim=1) - positive,
        ]
    )


def stcrl_loss(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    temperature: float = 0.1,
    variant: str = "stcrl",
) -> torch.Tensor:
    """ST-CRL contrastive loss of a batch of pre/post building embeddings (eq. 1).

    Vectorised (no loop over the batch), stable (log-sum-exp) and computed in
    at least float32 even under bf16/fp16 autocast (float64 inputs stay float64).

    Args:
        z_pre: ``(N, d)`` embeddings of the pre-disaster crops (need not be normalised).
        z_post: ``(N, d)`` embeddings of the post-disaster crops, row i = building i.
        temperature: The temperature ``tau`` (> 0).
        variant: ``"stcrl"`` for the paper's loss, ``"simclr"`` for the usual
            symmetric NT-Xent (one anchor per view) for comparison.

    Returns:
        The scalar mean loss (float32, or float64 for float64 inputs).

    Raises:
        ValueError: On a shape mismatch, a batch of fewer than 2, a
            temperature <= 0 or an unknown variant.
    """
    return _mean_loss(z_pre, z_post, temperature, variant)


def distributed_stcrl_loss(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    temperature: float = 0.1,
    variant: str = "stcrl",
) -> torch.Tensor:
    """The ST-CRL loss with every process's buildings as negatives for all.

    Under ``torch.distributed`` with more than one process, embeddings are
    gathered (with gradients) from all processes; each process returns the mean
    loss of its own buildings against the global batch. With equal local batch
    sizes, the mean of these over processes equals :func:`stcrl_loss` on the
    concatenated global batch, and DDP's gradient averaging gives its gradient.
    Without a process group it is :func:`stcrl_loss`.
    """
    gathered = gather_with_grad()
    if gathered is None:
        return stcrl_loss(z_pre, z_post, temperature, variant)
    gather, rank = gathered
    return _mean_loss(z_pre, z_post, temperature, variant, gather, rank)


def _mean_loss(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    temperature: float,
    variant: str,
    gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
    rank: int = 0,
) -> torch.Tensor:
    """Checked, normalised, autocast-free mean loss; keys are ``gather``-ed when given."""
    _check(z_pre, z_post, temperature, variant)
    with torch.autocast(device_type=z_pre.device.type, enabled=False):
        u_pre = F.normalize(_at_least_float32(z_pre), dim=1)
        u_post = F.normalize(_at_least_float32(z_post), dim=1)
        if gather is None:
            k_pre, k_post, offset = u_pre, u_post, 0
        else:
            k_pre, k_post, offset = gather(u_pre), gather(u_post), rank * u_pre.shape[0]
        return contrastive_rows(u_pre, u_post, k_pre, k_post, offset, temperature, variant).mean()


def epoch_batches(
    rows: np.ndarray, batch_size: int, generator: torch.Generator
) -> list[np.ndarray]:
    """Shuffle ``rows`` and cut full batches (one short batch if rows < batch_size)."""
    return cut_batches(rows[torch.randperm(len(rows), generator=generator).numpy()], batch_size)


class ContrastiveTask:
    """ST-CRL pretraining: pre/post crops of a building are the positive pair.

    Trains on every train and tier3 building (labels are not used). Both views
    of a pair are augmented independently and encoded in one forward pass.

    Args:
        variant: ``"stcrl"`` (eq. 1) or ``"simclr"`` (NT-Xent).
    """

    views = ("pre", "post")

    def __init__(self, variant: str = "stcrl") -> None:
        self.variant = variant

    def build_model(self, config: PretrainConfig) -> EncoderWithHead:
        """ResNet encoder + projection MLP ``h -> h/2 -> 128``."""
        encoder = build_encoder(config.arch, config.weights)
        return EncoderWithHead(encoder, ProjectionHead(feature_dim(config.arch), 128))

    def training_rows(self, table: pd.DataFrame, config: PretrainConfig) -> np.ndarray:
        """All train and tier3 buildings."""
        return np.flatnonzero(table["split"].isin(TRAIN_SPLITS).to_numpy())

    def epoch_batches(
        self,
        rows: np.ndarray,
        damage: np.ndarray,
        config: PretrainConfig,
        generator: torch.Generator,
    ) -> list[np.ndarray]:
        """Shuffled full batches."""
        return epoch_batches(rows, config.batch_size, generator)

    def step(
        self,
        model: nn.Module,
        batch: dict[str, torch.Tensor],
        config: PretrainConfig,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Contrastive loss of one batch, with similarity and collapse statistics."""
        aug = AugmentConfig(out_size=config.crop)
        x = torch.cat(
            [augment(batch["pre"], aug, generator), augment(batch["post"], aug, generator)]
        )
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        z_pre, z_post = model(x).chunk(2)
        loss = distributed_stcrl_loss(z_pre, z_post, config.temperature, self.variant)
        with torch.no_grad():
            u_pre = F.normalize(z_pre.float(), dim=1)
            u_post = F.normalize(z_post.float(), dim=1)
            sim = u_pre @ u_post.T
            n = sim.shape[0]
            pos = sim.diagonal().mean()
            neg = (sim.sum() - sim.diagonal().sum()) / max(n * (n - 1), 1)
            stats = {
                "pos_sim": float(pos),
                "neg_sim": float(neg),
                "emb_std": float(u_pre.std(0).mean()),
            }
        return loss, stats


TEMPERATURE = ConfigField("temperature", float, 0.1, "contrastive temperature")


def _contrastive(name: str, summary: str, variant: str, rank: int, **fixed: Any) -> MethodSpec:
    """A method trained (or, ``epochs=0``, left untrained) by :class:`ContrastiveTask`."""
    return MethodSpec(
        name=name,
        summary=summary,
        task=lambda: ContrastiveTask(variant),
        embed=embed_building_crops,
        fields=(TEMPERATURE,),
        fixed=fixed,
        rank=rank,
    )


METHODS = (
    _contrastive("stcrl", "the paper's loss: pre/post crops of a building are the positive pair",
                 "stcrl", 0),
    _contrastive("simclr", "NT-Xent on the same pairs", "simclr", 1),
    _contrastive("random", "the encoder untrained (0 epochs)", "stcrl", 2, epochs=0),
)  # fmt: skip
