"""Benchmark of the ST-CRL training step with and without data loading.

Measures pairs (buildings) per second of one ST-CRL training step done two ways:

* **full step**, the engine's way (:func:`stcrl_core.engine.train`): a
  :class:`~stcrl_core.data.datasets.BuildingCrops` over the workspace's
  memory-mapped crops, :func:`~stcrl_core.data.datasets.batch_loader` over the
  shuffled index batches of the training rows, then copy to the device,
  augment both views, forward, ST-CRL loss, backward, SGD step, LR-scheduler
  step;
* **model step alone** (the baseline): the same step (augmentation included)
  on one uint8 batch already in memory on the device, reused every step.

Loading overhead = ``1 - full / model-only`` (goal: under 10 %). A third row,
the forward/backward/SGD step on already augmented tensors, shows how much of
the step the on-device augmentation takes.

Both start from the same seeded resnet18 (+ projection head); after
``--warmup`` untimed steps, ``--repeats`` rounds each time ``--steps`` steps
of every mode, the modes taking turns step by step so that load from other
processes hits them alike (median pairs/s over rounds taken). On CUDA the
script does what the engine does: bf16 autocast, channels_last, pinned memory
and non-blocking copies (and synchronises before reading the clock).

Data: ``benchmarks/out/pretrain-ws``, ingested (if missing) from synthetic
xBD scenes ``stcrl synth-xbd --events hurricane-michael,palu-tsunami
--scenes-per-event 3 --size 512 --seed 0`` (96 px crops); its training rows
are cycled over as many seeded epochs as the steps need. Results are printed
as Markdown and written to ``benchmarks/out/pretrain.json``; record them in
``docs/benchmarks.md``.

Usage: ``python benchmarks/bench_pretrain.py [--device auto] [--batch-size 64] [--steps 10]
[--warmup 3] [--repeats 3] [--arch resnet18] [--workers 0]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stcrl_core.data.augment import AugmentConfig, augment
from stcrl_core.data.datasets import BuildingCrops, batch_loader
from stcrl_core.data.objects import IngestConfig, build_objects
from stcrl_core.data.synthetic import generate_xbd
from stcrl_core.devices import resolve_device
from stcrl_core.engine import epoch_generator
from stcrl_core.methods.config import PretrainConfig
from stcrl_core.methods.registry import get_method
from stcrl_core.methods.stcrl import stcrl_loss
from stcrl_core.workspace import Workspace

EVENTS = ("hurricane-michael", "palu-tsunami")


def ensure_workspace(out: Path) -> Path:
    """The benchmark workspace, generated and ingested when missing."""
    data, ws = out / "pretrain-data", out / "pretrain-ws"
    if not (data / "synthetic.json").exists():
        print(f"generating synthetic xBD scenes in {data}")
        generate_xbd(data, events=EVENTS, scenes_per_event=3, size=512, seed=0)
    if not (ws / "objects" / "buildings.parquet").exists():
        print(f"ingesting {data} into {ws}")
        build_objects(IngestConfig(root=data), ws)
    return ws


class Trainer:
    """Model, optimiser and scheduler set up as :func:`stcrl_core.engine.train` does."""

    def __init__(self, config: PretrainConfig, device: torch.device, total_steps: int) -> None:
        self.config, self.device = config, device
        self.cuda = device.type == "cuda"
        self.task = get_method(config.method).task()
        torch.manual_seed(config.seed)
        self.model = self.task.build_model(config).to(device)
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.train()
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)),
        )
        self.aug_generator = epoch_generator(config.seed, 0, 1)

    def _update(self, loss: torch.Tensor) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    def step(self, batch: dict[str, torch.Tensor]) -> float:
        """One engine training step on a batch (moved to the device first)."""
        batch = {k: v.to(self.device, non_blocking=self.cuda) for k, v in batch.items()}
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.cuda):
            loss, _ = self.task.step(self.model, batch, self.config, self.aug_generator)
        return self._update(loss)

    def network_step(self, x: torch.Tensor) -> float:
        """Forward, loss, backward and SGD on already augmented views ``(2B, 3, S, S)``."""
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.cuda):
            z_pre, z_post = self.model(x).chunk(2)
            loss = stcrl_loss(z_pre, z_post, self.config.temperature)
        return self._update(loss)


def endless_batches(
    dataset: BuildingCrops, rows: np.ndarray, trainer: Trainer, n: int
) -> Iterator[dict[str, torch.Tensor]]:
    """``n`` batches through the engine's loader, over as many seeded epochs as needed."""
    batches: list[np.ndarray] = []
    epoch = 0
    while len(batches) < n:
        batches += trainer.task.epoch_batches(
            rows, dataset.damage, trainer.config, epoch_generator(trainer.config.seed, epoch)
        )
        epoch += 1
    return iter(
        batch_loader(dataset, batches[:n], pin_memory=trainer.cuda, workers=trainer.config.workers)
    )


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of one call of ``fn`` (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per step (default 64)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (median taken; default 3)")
    parser.add_argument("--arch", default="resnet18", help="encoder (default resnet18)")
    parser.add_argument("--crop", type=int, default=88, help="augmented crop side (default 88)")
    parser.add_argument("--workers", type=int, default=0, help="loader processes (default 0)")
    parser.add_argument("--out", default="benchmarks/out", help="where data and results go")
    args = parser.parse_args()
    out = Path(args.out)
    ws_path = ensure_workspace(out)
    device = resolve_device(args.device)
    config = PretrainConfig(
        method="stcrl", run="bench", arch=args.arch, batch_size=args.batch_size, crop=args.crop,
        device=str(device), workers=args.workers,
    )  # fmt: skip
    ws = Workspace.open(ws_path)
    dataset = BuildingCrops(ws, ("pre", "post"))
    rows = get_method("stcrl").task().training_rows(ws.buildings(), config)
    if len(rows) < args.batch_size:
        raise SystemExit(f"only {len(rows)} training rows for a batch of {args.batch_size}")
    steps_total = args.warmup + args.steps * args.repeats
    full, alone, net = (Trainer(config, device, steps_total) for _ in range(3))

    loader = endless_batches(dataset, rows, full, steps_total)
    fixed = {k: v.to(device) for k, v in dataset[rows[: args.batch_size]].items()}
    aug, g = AugmentConfig(out_size=args.crop), epoch_generator(config.seed, 0, 1)
    with torch.no_grad():  # the step's augmentation, done once up front
        views = torch.cat([augment(fixed["pre"], aug, g), augment(fixed["post"], aug, g)])
    if device.type == "cuda":
        views = views.contiguous(memory_format=torch.channels_last)
    modes: dict[str, Callable[[], Any]] = {
        "full": lambda: full.step(next(loader)),
        "model_only": lambda: alone.step(fixed),
        "network_only": lambda: net.network_step(views),
    }
    for fn in modes.values():  # warm-up
        for _ in range(args.warmup):
            fn()
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):  # modes interleaved step by step: load hits them alike
        spent = dict.fromkeys(modes, 0.0)
        for _ in range(args.steps):
            for name, fn in modes.items():
                spent[name] += timed(fn, device)
        for name in modes:
            seconds[name].append(spent[name])
    pairs = args.steps * args.batch_size
    rates = {m: pairs / statistics.median(s) for m, s in seconds.items()}
    results: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "arch": args.arch,
        "batch_size": args.batch_size,
        "crop": args.crop,
        "workers": args.workers,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "training_rows": len(rows),
        "crop_size_stored": int(dataset.crops["pre"].shape[1]),
        "seconds": seconds,
        "pairs_per_s": rates,
        "loading_overhead": 1 - rates["full"] / rates["model_only"],
        "augment_share_of_model_step": 1 - rates["model_only"] / rates["network_only"],
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg()[0],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "pretrain.json").write_text(json.dumps(results, indent=2))
    print(f"\nmachine: {results['machine']}; date: {results['date']}; device {device}, "
          f"{results['torch_threads']} torch threads; {args.arch}, batch {args.batch_size}, "
          f"crop {args.crop}, loader workers {args.workers}; load avg {load_before:.2f} -> "
          f"{results['loadavg_after']:.2f}\n")  # fmt: skip
    print(f"Median of {args.repeats} rounds of {args.steps} steps; "
          "baseline = the model step alone:\n")  # fmt: skip
    print("| step | pairs/s | s/step | ratio vs baseline |")
    print("|---|---|---|---|")
    labels = {
        "model_only": "model step alone, batch in memory (baseline)",
        "full": "full step: loader + augment + model",
        "network_only": "forward/backward/SGD only (pre-augmented)",
    }
    for name in ("model_only", "full", "network_only"):
        print(f"| {labels[name]} | {rates[name]:.1f} | {args.batch_size / rates[name]:.3f} | "
              f"{rates[name] / rates['model_only']:.3f} |")  # fmt: skip
    print(f"\nloading overhead 1 - full/model-only = {results['loading_overhead']:.1%} "
          f"(goal < 10%); augmentation = {results['augment_share_of_model_step']:.1%} "
          "of the model step")  # fmt: skip


if __name__ == "__main__":
    main()
