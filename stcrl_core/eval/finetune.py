"""The heavier probes of the label-budget curves: fine-tuning and supervised.

* ``finetune``: a run's pretrained encoder plus a linear head, all trained on
  the trial's labelled subset;
* ``supervised``: the same ResNet from scratch on the same subset (the paper's
  fully supervised comparison, at equal budgets and trials).

Both classify the post-disaster crop, with the pretraining augmentation, SGD
(momentum 0.9, weight decay 1e-4) and a cosine schedule; each trial starts
from a fresh copy of the weights and its own seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stcrl_core.data.augment import AugmentConfig, augment, eval_transform
from stcrl_core.data.datasets import BuildingCrops
from stcrl_core.devices import resolve_device
from stcrl_core.engine import epoch_generator
from stcrl_core.methods.checkpoints import load_encoder
from stcrl_core.models.encoders import build_encoder, feature_dim
from stcrl_core.models.heads import EncoderWithHead
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace

N_CLASSES = 4


def _fresh_model(
    workspace: Workspace, run: str | None, arch: str, crop: int
) -> tuple[nn.Module, int]:
    if run is not None:
        encoder, config = load_encoder(workspace, run)
        arch, crop = config.arch, config.crop
    else:
        encoder = build_encoder(arch)
    return EncoderWithHead(encoder, nn.Linear(feature_dim(arch), N_CLASSES)), crop


def finetune_predict(
    workspace: str | Path,
    run: str | None,
    trials: Sequence[np.ndarray],
    eval_rows: np.ndarray,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 0.01,
    arch: str = "resnet18",
    crop: int = 88,
    device: str = "auto",
    seed: int = 0,
    progress: ProgressCallback = no_progress,
) -> np.ndarray:
    """Train one network per trial and predict the evaluation buildings.

    Args:
        workspace: The workspace.
        run: Run whose encoder is fine-tuned, or None to train from scratch.
        trials: Per trial, the building rows of its labelled subset.
        eval_rows: Rows of the evaluation buildings.
        epochs: Epochs over each trial's subset.
        batch_size: Crops per step.
        lr: Initial SGD learning rate.
        arch: Architecture when training from scratch.
        crop: Input size when training from scratch (a run uses its own).
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: Seed; trial ``t`` uses ``(seed, t)``.
        progress: ``progress(done, total, message)`` over trials.

    Returns:
        ``(trials, len(eval_rows))`` predicted classes.
    """
    ws = Workspace.of(workspace)
    dev = resolve_device(device)
    data = BuildingCrops(ws, ("post",))
    preds = np.empty((len(trials), len(eval_rows)), dtype=np.int64)
    for t, rows in enumerate(trials):
        torch.manual_seed(seed * 1000 + t)
        model, size = _fresh_model(ws, run, arch, crop)
        model = model.to(dev).train()
        steps = epochs * max(1, math.ceil(len(rows) / batch_size))
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
        aug = AugmentConfig(out_size=size)
        for epoch in range(epochs):
            gen = epoch_generator(seed, epoch, 1000 + t)
            order = rows[torch.randperm(len(rows), generator=gen).numpy()]
            for start in range(0, len(order), batch_size):
                batch = data[order[start : start + batch_size]]
                if len(batch["row"]) < 2:
                    continue
                x = augment(batch["post"].to(dev), aug, gen)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    logits = model(x).float()
                loss = F.cross_entropy(logits, batch["damage"].to(dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(eval_rows), 256):
                batch = data[eval_rows[start : start + 256]]
                x = eval_transform(batch["post"].to(dev), size)
                preds[t, start : start + len(x)] = model(x).argmax(1).cpu().numpy()
        progress(t + 1, len(trials), f"trial {t + 1}/{len(trials)}")
    return preds
