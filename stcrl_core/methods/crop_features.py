"""Encoder features of every building's crops: ``runs/<run>/embeddings_{pre,post}.npy``.

The embedding of every method whose encoder takes building crops (ST-CRL,
SimCLR, the untrained and supervised baselines, CSP with its own ResNet). Row
i of each array is the building with ``row == i`` in ``objects/buildings.parquet``.
Crops are read from the memory-mapped arrays in batches and features written
straight into a memory-mapped ``.npy`` file, so memory stays flat; files appear
atomically when complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from stcrl_core.data.augment import eval_transform
from stcrl_core.devices import resolve_device
from stcrl_core.models.encoders import feature_dim
from stcrl_core.progress import ProgressCallback
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_memmap
from stcrl_core.workspace.embeddings import BUILDING_VIEWS
from stcrl_core.workspace.runs import run_files

if TYPE_CHECKING:
    from stcrl_core.methods.config import PretrainConfig


def embed_crops(
    ws: Workspace, run: str, batch_size: int, dev: torch.device, progress: ProgressCallback
) -> tuple[list[Path], int]:
    """Encoder features of every pre and post crop, written as ``embeddings_{view}.npy``.

    Returns:
        The files written and the feature size.
    """
    from stcrl_core.methods.checkpoints import load_encoder  # builds on the registry

    encoder, config = load_encoder(ws, run, dev)
    if dev.type == "cuda":
        encoder = encoder.to(memory_format=torch.channels_last)
    dim = feature_dim(config.arch)
    n = ws.building_count()
    files = []
    for v_index, view in enumerate(BUILDING_VIEWS):
        crops = ws.crops(view)
        target = run_files(ws, run).embeddings(view)
        with atomic_memmap(target, (n, dim)) as arr, torch.inference_mode():
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                batch = torch.from_numpy(np.array(crops[start:stop])).to(dev)
                x = eval_transform(batch, config.crop)
                if dev.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(
                    device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"
                ):
                    feats = encoder(x)
                arr[start:stop] = feats.float().cpu().numpy()
                progress(v_index * n + stop, 2 * n, f"{view} {stop}/{n}")
        files.append(target)
    return files, dim


def embed_building_crops(
    ws: Workspace,
    run: str,
    config: PretrainConfig,
    batch_size: int,
    device: str,
    progress: ProgressCallback,
) -> dict[str, Any]:
    """The embed hook of methods with a crop encoder: features of both crops of every building.

    Returns:
        What ``embeddings.json`` holds: ``rows``, ``dim``, ``run``, ``files``.
    """
    files, dim = embed_crops(ws, run, batch_size, resolve_device(device), progress)
    return {"rows": ws.building_count(), "dim": dim, "run": run,
            "files": [f.name for f in files]}  # fmt: skip
