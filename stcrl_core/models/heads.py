"""Heads on top of encoder features."""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Sequential):
    """ST-CRL's projection MLP ``h -> h/2 -> out`` with ReLU (one hidden layer).

    Args:
        in_dim: Encoder feature size ``h``.
        out_dim: Size of the contrastive embedding ``z`` (128 in ST-CRL).
    """

    def __init__(self, in_dim: int, out_dim: int = 128) -> None:
        super().__init__(
            nn.Linear(in_dim, in_dim // 2), nn.ReLU(inplace=True), nn.Linear(in_dim // 2, out_dim)
        )


class EncoderWithHead(nn.Module):
    """An encoder followed by a head; ``features`` gives the encoder output alone."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features ``h`` (what downstream probes use)."""
        return self.encoder(x)
