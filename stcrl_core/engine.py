"""The training engine: the loop every pretraining method shares.

It handles the device (``auto`` = CUDA when available), bf16 autocast,
channels_last, pinned memory and non-blocking copies on CUDA,
DistributedDataParallel under ``torchrun``, a checkpoint every epoch (atomic,
state dicts only, loaded with ``weights_only=True``), exact ``--resume``
(model, optimiser, scheduler, RNG, epoch), ``metrics.jsonl`` and progress
reports. What is trained is a :class:`Task`, handed in by the caller (the
pipeline looks it up in the method registry); the engine imports no method. A
task trains on the building crops by default, or on its own data
(``load_data``, e.g. the segmentation patches of the triplet task) with its own
optimiser (``build_optimizer``, ``lr_factor``) when it defines them;
``prepare`` runs before anything else (e.g. the CSP task loading frozen
features and choosing buildings or patches, filling the settings derived from
its image run).

Reproducibility: the model is initialised from ``seed``; each epoch draws its
batches and augmentations from a generator seeded by ``(seed, epoch, rank)``,
so a run resumed from epoch k repeats exactly what an uninterrupted run does.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from dataclasses import asdict
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn

from stcrl_core.data.datasets import BuildingCrops, batch_loader
from stcrl_core.devices import DistInfo, resolve_device
from stcrl_core.errors import RunError
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.runs import (
    read_run_config_dict,
    run_files,
    save_checkpoint,
    write_metrics,
    write_run_config,
)

# Settings that may change when a run is resumed; any other difference is refused.
RESUMABLE_CHANGES = ("epochs", "device", "workers")


class TrainingConfig(Protocol):
    """What the engine reads of a run's settings (``PretrainConfig`` is one)."""

    method: str
    run: str
    arch: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    seed: int
    device: str
    workers: int


class Task(Protocol):
    """What a method trains; the engine does everything else.

    Optional hooks, used when a task defines them: ``prepare(workspace,
    config)`` runs before anything else (e.g. to load per-building data the
    steps index by ``batch["row"]``, or to choose ``views``; a task with no
    views reads no crops, or to fill settings derived from other runs, which
    are then saved in ``config.json``), ``load_data(workspace) -> (table,
    dataset)`` replaces the building crops, ``build_optimizer(model,
    config)`` replaces the default SGD and ``lr_factor(step, total)`` the
    cosine schedule.
    """

    views: tuple[str, ...]

    def build_model(self, config: Any) -> nn.Module:
        """The model; it must expose ``.encoder`` (images -> features)."""

    def training_rows(self, table: pd.DataFrame, config: Any) -> np.ndarray:
        """Rows of the building table to train on."""

    def epoch_batches(
        self,
        rows: np.ndarray,
        damage: np.ndarray,
        config: Any,
        generator: torch.Generator,
    ) -> list[np.ndarray]:
        """The global batches of one epoch (arrays of rows)."""

    def step(
        self,
        model: nn.Module,
        batch: dict[str, torch.Tensor],
        config: Any,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one (local) batch and statistics to log."""


def cosine_factor(step: int, total_steps: int) -> float:
    """Cosine annealing of the learning rate over the run (factor of the base rate)."""
    return 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))


def epoch_generator(seed: int, epoch: int, rank: int = 0) -> torch.Generator:
    """The generator of one epoch's draws (batches, augmentations) on one process."""
    return torch.Generator().manual_seed(
        int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])
    )


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _check_resume(old: TrainingConfig, new: TrainingConfig) -> None:
    diffs = [
        f"{k}: {getattr(old, k)!r} -> {getattr(new, k)!r}"
        for k in asdict(new)
        if k not in RESUMABLE_CHANGES and getattr(old, k) != getattr(new, k)
    ]
    if diffs:
        raise RunError(
            f"cannot resume run {new.run!r} with different settings ({'; '.join(diffs)}); "
            "use the original settings or another --run"
        )


def train(
    task: Task,
    config: TrainingConfig,
    workspace: Workspace,
    resume: bool = False,
    progress: ProgressCallback = no_progress,
    dist: DistInfo = DistInfo(),
) -> dict[str, Any]:
    """Train (or resume) a run of ``task`` and write it to ``WS/runs/<run>/``.

    Args:
        task: What to train (the method's task).
        config: The run's settings (a dataclass with ``from_dict``, saved as ``config.json``).
        workspace: A workspace holding the task's data.
        resume: Continue the run from its last checkpoint.
        progress: ``progress(done, total, message)`` callback (steps).
        dist: This process's place in a ``torchrun`` job.

    Returns:
        Summary: epochs done, final loss, seconds, device.

    Raises:
        RunError: If the run exists and ``resume`` is false, or settings differ
            on resume.
    """
    ws = workspace
    if hasattr(task, "prepare"):  # before the data: it may choose them (CSP on patches)
        task.prepare(ws, config)
    if hasattr(task, "load_data"):  # a task with its own data (e.g. segmentation patches)
        table, dataset = task.load_data(ws)
    else:
        table, dataset = ws.buildings(), BuildingCrops(ws, task.views)
    files = run_files(ws, config.run)
    if files.checkpoint.exists() and not resume:
        raise RunError(
            f"run {config.run!r} already exists in {ws.path}; pass --resume to continue it "
            "or choose another --run"
        )
    if resume and files.config.exists():
        _check_resume(type(config).from_dict(read_run_config_dict(ws, config.run)), config)
    device = resolve_device(config.device, dist)
    cuda = device.type == "cuda"
    if dist.world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    if config.batch_size % dist.world:
        raise ValueError(
            f"batch_size {config.batch_size} must divide by the {dist.world} processes"
        )
    torch.manual_seed(config.seed)
    model = task.build_model(config).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
        if config.seed is not None:
            torch.cuda.manual_seed_all(config.seed)
    rows = task.training_rows(table, config)
    steps_per_epoch = len(
        task.epoch_batches(rows, dataset.labels, config, epoch_generator(config.seed, 0))
    )
    total_steps = steps_per_epoch * config.epochs
    # a task may bring its own optimiser and learning-rate factor (default: cosine)
    factor = getattr(task, "lr_factor", cosine_factor)
    if hasattr(task, "build_optimizer"):
        optimizer = task.build_optimizer(model, config)
    else:
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: factor(s, total_steps))
    start_epoch = 0
    if resume and files.checkpoint.exists():
        state = torch.load(files.checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_torch"].cpu())
        start_epoch = int(state["epoch"])
        metrics = list(state["metrics"])  # the checkpoint is the source of truth
    else:
        metrics = []
    if dist.is_main:
        write_run_config(ws, config.run, asdict(config))
        write_metrics(ws, config.run, metrics)
        if config.epochs == 0 or not files.checkpoint.exists():
            state = _checkpoint_state(model, optimizer, scheduler, start_epoch, metrics)
            save_checkpoint(files.checkpoint, state)
    if dist.world > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if cuda else None
        )
    started = time.perf_counter()
    step = start_epoch * steps_per_epoch
    for epoch in range(start_epoch, config.epochs):
        model.train()
        batches = task.epoch_batches(
            rows, dataset.labels, config, epoch_generator(config.seed, epoch)
        )
        if dist.world > 1:  # equal local shares, so gathered batches line up
            batches = [b[: len(b) - len(b) % dist.world] for b in batches]
        local = [b[dist.rank :: dist.world] for b in batches] if dist.world > 1 else batches
        aug_generator = epoch_generator(config.seed, epoch, 1 + dist.rank)
        loader = batch_loader(dataset, local, pin_memory=cuda, workers=config.workers)
        sums: dict[str, float] = {}
        seen, t0 = 0, time.perf_counter()
        for batch in loader:
            batch = {k: v.to(device, non_blocking=cuda) for k, v in batch.items()}
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
                loss, stats = task.step(model, batch, config, aug_generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            n = len(batch["row"])
            seen += n
            for k, v in {"loss": float(loss.detach()), **stats}.items():
                sums[k] = sums.get(k, 0.0) + v * n
            message = f"epoch {epoch + 1}/{config.epochs} loss {sums['loss'] / seen:.4f}"
            progress(step, total_steps, message)
        seconds = time.perf_counter() - t0
        line = {"epoch": epoch + 1, **{k: v / max(seen, 1) for k, v in sums.items()}}
        line.update(
            lr=scheduler.get_last_lr()[0], pairs_per_s=seen * dist.world / seconds, seconds=seconds
        )
        if dist.world > 1:
            torch.distributed.barrier()
        if dist.is_main:
            metrics.append(line)
            state = _checkpoint_state(model, optimizer, scheduler, epoch + 1, metrics)
            save_checkpoint(files.checkpoint, state)
            write_metrics(ws, config.run, metrics)
    summary = {
        "epochs": config.epochs,
        "final_loss": metrics[-1]["loss"] if metrics else None,
        "seconds": time.perf_counter() - started,
        "device": str(device),
        "updated": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if dist.is_main:
        ws.register_run({"name": config.run, "method": config.method, "arch": config.arch,
                         **summary})  # fmt: skip
    return summary


def _checkpoint_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epoch: int,
    metrics: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "metrics": metrics,
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "rng_torch": torch.get_rng_state(),
    }
