"""U-Net with a ResNet encoder, for building segmentation and the triplet autoencoder.

The encoder is a torchvision ResNet (18, 34, 50 or 101 layers; random weights or
a local weights file, see :func:`stcrl_core.models.encoders.build_encoder`)
whose stem and four stages give features at strides 2, 4, 8, 16 and 32. The
decoder upsamples five times by 2 (bilinear), each time concatenating the
encoder feature of the same size (the U-Net skip connections, Ronneberger et
al. 2015) and applying two 3x3 conv-BN-ReLU layers, then a 1x1 convolution
gives the output channels. Without skips it is a plain encoder-decoder whose
bottleneck has to hold the whole image (the autoencoder of the triplet
embedding network).

Input sides must be multiples of 32. The segmentation output is a logit map;
the sigmoid of the experts paper is applied by the loss and at prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stcrl_core.models.encoders import build_encoder

UNET_ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")
DECODER_CHANNELS = (256, 128, 64, 32, 16)


def encoder_channels(arch: str) -> tuple[int, int, int, int, int]:
    """Channels of the five encoder features (strides 2 to 32) of a ResNet."""
    if arch not in UNET_ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(UNET_ARCHS)}")
    if arch in ("resnet18", "resnet34"):
        return (64, 64, 128, 256, 512)
    return (64, 256, 512, 1024, 2048)


class ResNetTrunk(nn.Module):
    """A ResNet's stem and four stages: images -> five feature maps (strides 2..32).

    Args:
        arch: One of :data:`UNET_ARCHS`.
        weights: Optional local weights file for the ResNet.
    """

    def __init__(self, arch: str = "resnet34", weights: str | Path | None = None) -> None:
        super().__init__()
        self.channels = encoder_channels(arch)
        net = build_encoder(arch, weights)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.pool = net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1, net.layer2, net.layer3, net.layer4
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"input sides must be multiples of 32, got {tuple(x.shape[-2:])}")
        s2 = self.stem(x)
        s4 = self.layer1(self.pool(s2))
        s8 = self.layer2(s4)
        s16 = self.layer3(s8)
        return [s2, s4, s8, s16, self.layer4(s16)]


class DecoderBlock(nn.Module):
    """Upsample by 2, concatenate a skip feature (if any), two 3x3 conv-BN-ReLU."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_ch + skip_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.convs(x)


class UNetDecoder(nn.Module):
    """Five decoder blocks from the stride-32 feature to full resolution, then a 1x1 conv.

    Args:
        channels: Encoder feature channels (strides 2 to 32).
        out_channels: Output channels (1 for building logits, 3 for an image).
        skips: Use the U-Net skip connections.
        decoder_channels: Channels of the five blocks.
    """

    def __init__(
        self,
        channels: Sequence[int],
        out_channels: int = 1,
        skips: bool = True,
        decoder_channels: Sequence[int] = DECODER_CHANNELS,
    ) -> None:
        super().__init__()
        self.skips = skips
        skip_channels = [*reversed(channels[:-1]), 0] if skips else [0] * 5
        blocks, in_ch = [], channels[-1]
        for skip_ch, out_ch in zip(skip_channels, decoder_channels, strict=True):
            blocks.append(DecoderBlock(in_ch, skip_ch, out_ch))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(in_ch, out_channels, 1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        skips = [*reversed(features[:-1]), None]
        for block, skip in zip(self.blocks, skips, strict=True):
            x = block(x, skip if self.skips else None)
        return self.head(x)


class UNet(nn.Module):
    """U-Net with a ResNet encoder: ``(B, 3, H, W)`` -> ``(B, out_channels, H, W)`` logits.

    Args:
        arch: Encoder architecture, one of :data:`UNET_ARCHS`.
        out_channels: Output channels (1: building logit).
        weights: Optional local weights file for the encoder.
        skips: Use skip connections (False: plain encoder-decoder).
    """

    def __init__(
        self,
        arch: str = "resnet34",
        out_channels: int = 1,
        weights: str | Path | None = None,
        skips: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = ResNetTrunk(arch, weights)
        self.decoder = UNetDecoder(self.encoder.channels, out_channels, skips)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
