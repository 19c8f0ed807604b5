"""Building segmentation with a U-Net: the experts paper's loss, training loop and metrics.

Reference: the experts paper (seed 001), section 3.2: loss
``a * BCE + (1 - a) * L_Jaccard`` with the soft Jaccard index of Iglovikov et
al. (2017) ``J = sum(y * p) / sum(y + p - y * p)`` over the pixels, Adam with
learning rate 1e-4 and weight decay 5e-4, the "poly" schedule with power 0.9,
batch 8 and random horizontal and vertical flips. The paper subtracts
``(1 - a) * J``; here ``(1 - a) * (1 - J)`` is added, which has the same
gradient and keeps the loss non-negative.

Metrics: IoU of the building class (intersection over union of the predicted
and true building pixels, summed over the patches of a group, as the Inria
benchmark scores cumulatively) and pixel accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stcrl_core.methods.triplet import patch_input, poly_factor, random_flips
from stcrl_core.models.unet import UNet


def soft_jaccard(
    probabilities: torch.Tensor, target: torch.Tensor, eps: float = 1e-7
) -> torch.Tensor:
    """Soft Jaccard index ``sum(y p) / sum(y + p - y p)`` over every pixel of the batch."""
    p, y = probabilities.float(), target.float()
    intersection = (y * p).sum()
    return (intersection + eps) / ((y + p - y * p).sum() + eps)


def bce_jaccard_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.5
) -> torch.Tensor:
    """``alpha * BCE + (1 - alpha) * (1 - soft Jaccard)`` of building logits.

    Args:
        logits: ``(B, 1, H, W)`` or ``(B, H, W)`` building logits.
        target: Same shape (or without the channel), 1 building, 0 other.
        alpha: Weight of the binary cross-entropy, in [0, 1].

    Raises:
        ValueError: On a shape mismatch or ``alpha`` outside [0, 1].
    """
    if logits.ndim == 4 and target.ndim == 3:
        target = target[:, None]
    if logits.shape != target.shape:
        raise ValueError(
            f"logits and target shapes differ: {tuple(logits.shape)} and {tuple(target.shape)}"
        )
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    logits, target = logits.float(), target.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    return alpha * bce + (1 - alpha) * (1 - soft_jaccard(torch.sigmoid(logits), target))


@dataclass
class SegmentationCounts:
    """Pixel counts that IoU and accuracy are computed from (they add up over patches)."""

    intersection: int = 0
    union: int = 0
    correct: int = 0
    pixels: int = 0
    building: int = 0

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        """Count a batch of boolean masks (any shape, same for both)."""
        p, t = predicted.astype(bool), truth.astype(bool)
        self.intersection += int((p & t).sum())
        self.union += int((p | t).sum())
        self.correct += int((p == t).sum())
        self.pixels += int(p.size)
        self.building += int(t.sum())

    @property
    def iou(self) -> float:
        """IoU of the building class (1 when neither has building pixels)."""
        return self.intersection / self.union if self.union else 1.0

    @property
    def accuracy(self) -> float:
        """Fraction of correctly classified pixels."""
        return self.correct / self.pixels if self.pixels else float("nan")

    @property
    def chance_iou(self) -> float:
        """IoU of calling every pixel building (the best constant guess)."""
        return self.building / self.pixels if self.pixels else float("nan")


def epochs_for(rows: int, epochs: int, batch_size: int, min_steps: int = 0) -> int:
    """Epochs that give at least ``min_steps`` steps on ``rows`` patches (never fewer than
    ``epochs``)."""
    steps_per_epoch = -(-rows // batch_size)
    if steps_per_epoch == 0 or min_steps <= 0:
        return epochs
    return max(epochs, -(-min_steps // steps_per_epoch))


def _batches(rows: np.ndarray, size: int, generator: torch.Generator) -> list[np.ndarray]:
    """Shuffled batches of ``size`` (the last one may be shorter)."""
    order = rows[torch.randperm(len(rows), generator=generator).numpy()]
    return [order[i : i + size] for i in range(0, len(order), size)]


def train_segmenter(
    images: np.ndarray,
    masks: np.ndarray,
    rows: np.ndarray,
    arch: str,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    alpha: float,
    seed: int,
    device: torch.device,
    weights: str | None = None,
    on_step: Callable[[int, float], None] | None = None,
    min_steps: int = 0,
) -> tuple[UNet, list[float]]:
    """Train a U-Net on the patches ``rows`` of ``images``/``masks``.

    Adam, the poly schedule over all steps, random flips of image and mask
    together; deterministic given ``seed``.

    Args:
        images: ``(N, P, P, 3)`` uint8 patches (memory-mapped is fine).
        masks: ``(N, P, P)`` uint8 masks (1 building).
        rows: Which patches to train on.
        arch: U-Net encoder.
        epochs: Passes over ``rows``.
        batch_size: Patches per step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        alpha: BCE weight of the loss.
        seed: Seed of the initialisation, batches and flips.
        device: Training device.
        weights: Optional local weights file for the encoder.
        on_step: Called after each step with ``(steps done, loss)``.
        min_steps: Train for more epochs than ``epochs`` when needed to make at
            least this many steps (for small clusters); 0: exactly ``epochs``.

    Returns:
        The trained model (eval mode) and the mean loss of each epoch.
    """
    torch.manual_seed(seed)
    model = UNet(arch, 1, weights).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = -(-len(rows) // batch_size) if len(rows) else 0
    epochs = epochs_for(len(rows), epochs, batch_size, min_steps)
    total = steps_per_epoch * epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: poly_factor(s, total))
    losses: list[float] = []
    step = 0
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        model.train()
        total_loss, seen = 0.0, 0
        for batch in _batches(np.asarray(rows), batch_size, generator):
            sorted_rows = np.sort(batch)
            x = torch.from_numpy(np.array(images[sorted_rows])).to(device)
            y = torch.from_numpy(np.array(masks[sorted_rows])).to(device)
            both = torch.cat([patch_input(x), y[:, None].float()], dim=1)
            both = random_flips(both, generator)
            x, y = both[:, :3], both[:, 3:]
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
                logits = model(x)
            loss = bce_jaccard_loss(logits, y, alpha)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            total_loss += float(loss.detach()) * len(batch)
            seen += len(batch)
            if on_step is not None:
                on_step(step, float(loss.detach()))
        losses.append(total_loss / max(seen, 1))
    return model.eval(), losses


def predict_probabilities(
    model: nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 32
) -> np.ndarray:
    """Building probability ``(B, P, P)`` float32 of ``(B, P, P, 3)`` uint8 patches."""
    out = np.empty(images.shape[:3], dtype=np.float32)
    model.eval()
    with (
        torch.inference_mode(),
        torch.autocast(
            device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"
        ),
    ):
        for start in range(0, len(images), batch_size):
            x = patch_input(
                torch.from_numpy(np.array(images[start : start + batch_size])).to(device)
            )
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            out[start : start + len(x)] = torch.sigmoid(model(x).float())[:, 0].cpu().numpy()
    return out
