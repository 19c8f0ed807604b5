"""The fully supervised baseline: the same ResNet trained from scratch on damage labels.

As in the ST-CRL paper's comparison, the encoder plus a linear layer is trained
for 4-class damage classification of the post-disaster crop, on the labelled
train and tier3 buildings (un-classified left out), with class-balanced sampling
(every class equally likely in each batch). ``labels=N`` restricts training to
a class-balanced subset of N buildings (N/4 per class), drawn like a
label-budget trial.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from stcrl_core.data.augment import AugmentConfig, augment
from stcrl_core.data.budget import draw_trials, training_and_eval_rows
from stcrl_core.data.datasets import cut_batches
from stcrl_core.methods.crop_features import embed_building_crops
from stcrl_core.methods.registry import ConfigField, MethodSpec
from stcrl_core.models.encoders import build_encoder, feature_dim
from stcrl_core.models.heads import EncoderWithHead

if TYPE_CHECKING:
    from stcrl_core.methods.config import PretrainConfig

N_CLASSES = 4


class SupervisedTask:
    """Damage classification of post crops with a ResNet trained from scratch."""

    views = ("post",)

    def build_model(self, config: PretrainConfig) -> EncoderWithHead:
        """ResNet encoder + linear classifier (4 damage classes)."""
        encoder = build_encoder(config.arch, config.weights)
        return EncoderWithHead(encoder, nn.Linear(feature_dim(config.arch), N_CLASSES))

    def training_rows(self, table: pd.DataFrame, config: PretrainConfig) -> np.ndarray:
        """Labelled train and tier3 buildings (a balanced subset with ``labels``)."""
        rows, _ = training_and_eval_rows(table)
        if config.labels is not None:
            draw = draw_trials(table["damage"].to_numpy()[rows], config.labels, 1, config.seed)
            rows = np.sort(rows[draw.indices[0]])
        return rows

    def epoch_batches(
        self,
        rows: np.ndarray,
        damage: np.ndarray,
        config: PretrainConfig,
        generator: torch.Generator,
    ) -> list[np.ndarray]:
        """``len(rows)`` class-balanced draws (with replacement), cut into batches."""
        labels = damage[rows]
        weights = 1.0 / np.bincount(labels, minlength=N_CLASSES).astype(np.float64)[labels]
        picks = torch.multinomial(
            torch.from_numpy(weights), len(rows), replacement=True, generator=generator
        )
        return cut_batches(rows[picks.numpy()], config.batch_size)

    def step(
        self,
        model: nn.Module,
        batch: dict[str, torch.Tensor],
        config: PretrainConfig,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy of one batch, with its accuracy."""
        x = augment(batch["post"], AugmentConfig(out_size=config.crop), generator)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x).float()
        loss = F.cross_entropy(logits, batch["damage"])
        accuracy = float((logits.argmax(1) == batch["damage"]).float().mean())
        return loss, {"accuracy": accuracy}


METHODS = (
    MethodSpec(
        name="supervised",
        summary="trained from scratch on damage labels",
        task=SupervisedTask,
        embed=embed_building_crops,
        fields=(
            ConfigField(
                "labels",
                int,
                None,
                "train on a class-balanced subset of N labels (default: all)",
                optional=True,
            ),
        ),
        rank=3,
    ),
)
