"""Expert segmentation networks chosen by location embeddings (the experts paper, seed 001).

k-means (k = 3 and 5 in the paper) on the triplet embeddings of the training
patches splits them into k clusters; one U-Net expert is trained per cluster
(:mod:`stcrl_core.methods.segmentation`), and at inference the nearest centroid
picks the expert. :func:`run_experts` trains them and scores, on the
validation patches, the paper's three set-ups: the routed experts, one network
trained on all the training patches ("single network", the paper's baseline 1)
and a randomly chosen expert (baseline 2); IoU of the building class and pixel
accuracy per location and overall, in the layout of the paper's Tables 1 and 2.

Embeddings are L2-normalised before k-means (the triplet loss compares them by
cosine), so centroid distances are Euclidean distances on the unit sphere.

Output, ``WS/experts/<id>/`` (built in a hidden folder and moved into place):
``config.json``, ``centroids.npy``, ``expert_<c>.pt`` (state dicts),
``single.pt``, ``assignments.parquet`` (``row``, ``cluster``, ``expert``,
``dist_0..dist_{k-1}``), ``table.csv`` and ``metrics.json``. The id is a hash of
the settings and the inputs, so the same configuration run twice returns the
stored result; the single network does not depend on k and is reused from
another experts folder with the same settings.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from stcrl_core.devices import resolve_device
from stcrl_core.methods.routing import SETUPS, ExpertRouter
from stcrl_core.methods.segmentation import (
    SegmentationCounts,
    epochs_for,
    predict_probabilities,
    train_segmenter,
)
from stcrl_core.models.unet import UNET_ARCHS, UNet
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import (
    atomic_directory,
    atomic_path,
    atomic_save_npy,
    atomic_write_json,
    atomic_write_parquet,
)
from stcrl_core.workspace.embeddings import PATCH_VIEW, load_embeddings
from stcrl_core.workspace.experts import (
    ASSIGNMENTS,
    CENTROIDS,
    CONFIG,
    METRICS,
    SINGLE,
    TABLE,
    ExpertsError,
    expert_file,
    experts_run_dir,
    find_single_network,
)
from stcrl_core.workspace.patches import load_patches, patch_table_path
from stcrl_core.workspace.runs import run_files


@dataclass
class ExpertsConfig:
    """An experts run (saved as ``config.json``).

    Attributes:
        embedding: The triplet run whose patch embeddings are clustered.
        k: Number of clusters and experts.
        arch: U-Net encoder (ResNet-101 in the paper).
        epochs: Training epochs of every network (30 in the paper).
        batch_size: Patches per step (8 in the paper).
        lr: Adam learning rate (1e-4).
        weight_decay: Adam weight decay (5e-4).
        alpha: Weight of the BCE in the loss (the rest is soft Jaccard).
        seed: Seed of k-means, the networks and the random expert.
        device: ``auto``, ``cpu`` or ``cuda``.
        weights: Optional local weights file for the U-Net encoders.
        min_steps: Every network trains for at least this many steps (more
            epochs for a small cluster); 0 (default): exactly ``epochs``, as the
            paper.
    """

    embedding: str
    k: int = 5
    arch: str = "resnet101"
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 5e-4
    alpha: float = 0.5
    seed: int = 0
    device: str = "auto"
    weights: str | None = None
    min_steps: int = 0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.arch not in UNET_ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; choose from {', '.join(UNET_ARCHS)}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(
                f"need epochs >= 1, batch_size >= 1 and lr > 0; got {self.epochs}, "
                f"{self.batch_size}, {self.lr}"
            )
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


def experts_id(config: ExpertsConfig, ws: Workspace) -> tuple[str, str]:
    """Ids of an experts run and of its single network (which does not depend on k)."""
    inputs = {
        "patches": _fingerprint(patch_table_path(ws)),
        "embeddings": _fingerprint(run_files(ws, config.embedding).embeddings(PATCH_VIEW)),
    }
    key = {k: v for k, v in asdict(config).items() if k != "device"}

    def digest(obj: dict[str, Any]) -> str:
        return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]

    single = {k: v for k, v in key.items() if k not in ("k", "embedding")}
    return digest({"config": key, "inputs": inputs}), digest(
        {"single": single, "patches": inputs["patches"]}
    )


def _save_state(model: torch.nn.Module, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp)


def run_experts(
    config: ExpertsConfig,
    workspace: Workspace | str | Path,
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Cluster the embeddings, train the experts and the single network, score the set-ups.

    Args:
        config: The run's settings.
        workspace: A workspace with patches and a triplet run with patch embeddings.
        progress: ``progress(done, total, message)`` callback (training steps).

    Returns:
        ``metrics.json`` plus ``id``, ``path`` and ``cached``.

    Raises:
        PatchStoreError, RunError: If the patches or embeddings are missing.
        ExpertsError: If there are too few training or validation patches.
    """
    ws = Workspace.of(workspace)
    table, images, masks = load_patches(ws)
    embeddings = load_embeddings(ws, config.embedding, PATCH_VIEW)
    exp_id, single_id = experts_id(config, ws)
    out = experts_run_dir(ws, exp_id)
    if (out / METRICS).exists():
        return {**json.loads((out / METRICS).read_text()), "cached": True}
    train = np.flatnonzero((table["split"] == "train").to_numpy())
    val = np.flatnonzero((table["split"] == "val").to_numpy())
    if len(train) < config.k or len(val) == 0:
        raise ExpertsError(
            f"need at least k={config.k} train patches and one val patch, got {len(train)} "
            f"and {len(val)}; ingest more tiles or lower --k"
        )
    device = resolve_device(config.device)
    started = time.perf_counter()
    router = ExpertRouter(config.k, config.seed).fit(embeddings[train])
    distances = router.transform(embeddings)
    expert = distances.argmin(1)
    cluster = expert.copy()
    cluster[train] = router.labels_
    reuse = find_single_network(ws, single_id)
    sizes = [int((cluster[train] == c).sum()) for c in range(config.k)] + [len(train)]
    epochs = [epochs_for(n, config.epochs, config.batch_size, config.min_steps) for n in sizes]
    steps = [-(-n // config.batch_size) * e for n, e in zip(sizes, epochs, strict=True)]
    if reuse:
        steps[-1] = 0
    total = sum(steps) + len(val)
    done_before = [0]

    def on_step(name: str) -> Any:
        def report(step: int, loss: float) -> None:
            progress(done_before[0] + step, total, f"{name} loss {loss:.3f}")

        return report

    with atomic_directory(out) as tmp:
        settings = dict(arch=config.arch, epochs=config.epochs, batch_size=config.batch_size,
                        lr=config.lr, weight_decay=config.weight_decay, alpha=config.alpha,
                        device=device, weights=config.weights,
                        min_steps=config.min_steps)  # fmt: skip
        models, expert_losses = {}, {}
        for c in range(config.k):
            rows = train[cluster[train] == c]
            models[c], expert_losses[c] = train_segmenter(
                images, masks, rows, seed=config.seed + 1 + c,
                on_step=on_step(f"expert {c + 1}/{config.k}"), **settings,
            )  # fmt: skip
            done_before[0] += steps[c]
            _save_state(models[c], tmp / expert_file(c))
        if reuse is not None:
            shutil.copyfile(reuse, tmp / SINGLE)
            single = UNet(config.arch, 1).to(device).eval()
            single.load_state_dict(torch.load(tmp / SINGLE, weights_only=True))
            single_losses: list[float] | None = None
        else:
            single, single_losses = train_segmenter(
                images, masks, train, seed=config.seed, on_step=on_step("single network"),
                **settings,
            )  # fmt: skip
            done_before[0] += steps[-1]
            _save_state(single, tmp / SINGLE)
        metrics = _evaluate(config, table, images, masks, val, expert, models, single, device,
                            lambda d, m: progress(done_before[0] + d, total, m))  # fmt: skip
        metrics.update(
            id=exp_id,
            path=str(out),
            k=config.k,
            train_patches=len(train),
            val_patches=len(val),
            patches_per_expert=sizes[:-1],
            epochs_per_expert=epochs[:-1],
            expert_losses={str(c): v for c, v in expert_losses.items()},
            single_losses=single_losses,
            single_reused_from=str(reuse.parent.name) if reuse else None,
            device=str(device),
            seconds=time.perf_counter() - started,
        )
        atomic_save_npy(tmp / CENTROIDS, router.centroids_)
        assignments = pd.DataFrame({"row": table["row"].to_numpy(), "cluster": cluster,
                                    "expert": expert})  # fmt: skip
        for c in range(config.k):
            assignments[f"dist_{c}"] = distances[:, c]
        atomic_write_parquet(tmp / ASSIGNMENTS, assignments)
        with atomic_path(tmp / TABLE) as path:
            results_table(metrics).to_csv(path)
        atomic_write_json(tmp / CONFIG, {**asdict(config), "id": exp_id,
                                         "single_id": single_id})  # fmt: skip
        atomic_write_json(tmp / METRICS, metrics)
    progress(total, total, "done")
    return {**metrics, "cached": False}


def _evaluate(
    config: ExpertsConfig,
    table: pd.DataFrame,
    images: np.ndarray,
    masks: np.ndarray,
    val: np.ndarray,
    expert: np.ndarray,
    models: dict[int, torch.nn.Module],
    single: torch.nn.Module,
    device: torch.device,
    progress: Any,
) -> dict[str, Any]:
    """IoU and accuracy of the three set-ups per location and overall, and of each expert."""
    rng = np.random.default_rng([config.seed, 7])
    random_expert = rng.integers(0, config.k, len(val))
    locations = table["location"].to_numpy()
    counts = {s: {} for s in SETUPS}
    own = {c: SegmentationCounts() for c in range(config.k)}
    done = 0
    for start in range(0, len(val), 32):
        rows = val[start : start + 32]
        batch, truth = np.array(images[rows]), np.array(masks[rows]).astype(bool)
        preds = {"single network": predict_probabilities(single, batch, device) > 0.5}
        by_expert: dict[int, np.ndarray] = {}
        for c in set(expert[rows].tolist()) | set(random_expert[start : start + 32].tolist()):
            by_expert[c] = predict_probabilities(models[c], batch, device) > 0.5
        picks = random_expert[start : start + len(rows)]
        preds["routed experts"] = np.stack(
            [by_expert[int(c)][i] for i, c in enumerate(expert[rows])]
        )
        preds["random expert"] = np.stack([by_expert[int(c)][i] for i, c in enumerate(picks)])
        for i, row in enumerate(rows):
            for setup in SETUPS:
                for group in (locations[row], "Overall"):
                    counts[setup].setdefault(group, SegmentationCounts()).add(
                        preds[setup][i], truth[i]
                    )
            own[int(expert[row])].add(preds["routed experts"][i], truth[i])
        done += len(rows)
        progress(done, f"evaluating {done}/{len(val)} val patches")
    groups = [*sorted(set(locations[val])), "Overall"]
    return {
        "setups": {
            s: {g: {"iou": counts[s][g].iou, "accuracy": counts[s][g].accuracy} for g in groups}
            for s in SETUPS
        },
        "experts": [
            {
                "expert": c,
                "val_patches": int((expert[val] == c).sum()),
                "iou": own[c].iou,
                "chance_iou": own[c].chance_iou,
                "accuracy": own[c].accuracy,
            }
            for c in range(config.k)
        ],
        "locations": groups[:-1],
    }


def results_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """The paper's Tables 1 and 2 layout: set-ups x (location IoU, Acc.), in percent."""
    groups = [*metrics["locations"], "Overall"]
    rows = {}
    for setup in SETUPS:
        values = metrics["setups"][setup]
        row = {}
        for g in groups:
            row[f"{g} IoU"] = round(100 * values[g]["iou"], 2)
            row[f"{g} Acc."] = round(100 * values[g]["accuracy"], 2)
        rows[setup] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "setup"
    return frame
