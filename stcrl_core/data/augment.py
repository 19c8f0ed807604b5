"""Batched augmentation of building crops, on the training device.

As in the public ST-CRL code: random flips, rotation up to 40 degrees (zero
fill), a random resized crop to 88 px with scale 0.8 to 1 (aspect ratio 3/4 to
4/3), and normalisation with xBD-obj's mean and std. All of it is one affine
``grid_sample`` per batch; each image (and each view of a pair) gets its own
random draw from an explicit ``torch.Generator``, so runs are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

MEAN = (0.393, 0.406, 0.327)
STD = (0.165, 0.144, 0.152)


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings (defaults follow the ST-CRL reference code)."""

    out_size: int = 88
    max_rotation_deg: float = 40.0
    scale: tuple[float, float] = (0.8, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True


def to_float(batch: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 -> ``(B, 3, H, W)`` float in [0, 1]."""
    return batch.permute(0, 3, 1, 2).float().div_(255)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Subtract the dataset mean and divide by its std, per channel."""
    mean = torch.tensor(MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def eval_transform(batch: torch.Tensor, out_size: int = 88) -> torch.Tensor:
    """Deterministic transform for embedding: resize to ``out_size`` and normalise.

    Args:
        batch: ``(B, H, W, 3)`` uint8 crops on any device.
    """
    x = to_float(batch)
    if x.shape[-1] != out_size:
        x = F.interpolate(
            x, size=(out_size, out_size), mode="bilinear", antialias=True, align_corners=False
        )
    return normalise(x)


def random_affine(n: int, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """``(n, 2, 3)`` affine matrices (output -> input, normalised coordinates)."""
    u = torch.rand(n, 6, generator=generator, dtype=torch.float64)
    area = config.scale[0] + (config.scale[1] - config.scale[0]) * u[:, 0]
    log_r = (
        math.log(config.ratio[0])
        + (math.log(config.ratio[1]) - math.log(config.ratio[0])) * u[:, 1]
    )
    ratio = torch.exp(log_r)
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (1 - w) * (2 * u[:, 2] - 1)
    cy = (1 - h) * (2 * u[:, 3] - 1)
    theta = math.radians(config.max_rotation_deg) * (2 * u[:, 4] - 1)
    flip = torch.ones(n, 2, dtype=torch.float64)
    if config.flip:
        signs = torch.randint(0, 2, (n, 2), generator=generator) * 2 - 1
        flip = signs.double()
    cos, sin = torch.cos(theta), torch.sin(theta)
    # input = Flip . Rot(theta) . (centre + diag(w, h) . output)
    a = torch.zeros(n, 2, 3, dtype=torch.float64)
    a[:, 0, 0] = flip[:, 0] * cos * w
    a[:, 0, 1] = -flip[:, 0] * sin * h
    a[:, 0, 2] = flip[:, 0] * (cos * cx - sin * cy)
    a[:, 1, 0] = flip[:, 1] * sin * w
    a[:, 1, 1] = flip[:, 1] * cos * h
    a[:, 1, 2] = flip[:, 1] * (sin * cx + cos * cy)
    return a.float()


def augment(batch: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Randomly flip, rotate, crop and resize a batch, then normalise it.

    Args:
        batch: ``(B, H, W, 3)`` uint8 crops (on the training device).
        config: Augmentation settings.
        generator: CPU generator that draws the per-image parameters.

    Returns:
        ``(B, 3, out_size, out_size)`` float tensor on ``batch``'s device.
    """
    x = to_float(batch)
    theta = random_affine(x.shape[0], config, generator).to(x.device)
    grid = F.affine_grid(
        theta, [x.shape[0], 3, config.out_size, config.out_size], align_corners=False
    )
    return normalise(
        F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    )
