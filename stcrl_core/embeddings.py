"""Encoder features of every building: ``WS/runs/<run>/embeddings_{pre,post}.npy``.

(A ``triplet`` run embeds the segmentation patches instead:
``embeddings_patch.npy``, see :func:`stcrl_core.methods.triplet.embed_patches`.)

Row i of each array is the building with ``row == i`` in
``objects/buildings.parquet``. Crops are read from the memory-mapped arrays in
batches and features written straight into a memory-mapped ``.npy`` file, so
memory stays flat; files appear atomically when complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stcrl_core.atomic import atomic_path, atomic_write_json
from stcrl_core.data.augment import eval_transform
from stcrl_core.engine import RunError, load_encoder, read_run_config, resolve_device, run_dir
from stcrl_core.models.encoders import feature_dim
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace

VIEWS = ("pre", "post")


def embed_run(
    workspace: str | Path,
    run: str,
    batch_size: int = 256,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Write the encoder features of every building's pre and post crop.

    Args:
        workspace: The workspace.
        run: A run with a checkpoint.
        batch_size: Crops per forward pass.
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: ``progress(done, total, message)`` callback (buildings).

    Returns:
        ``{"rows": N, "dim": h, "files": [...]}``.
    """
    ws = Workspace.open(workspace)
    if read_run_config(ws, run).method == "triplet":  # location embeddings of patches
        from stcrl_core.methods.triplet import embed_patches

        return embed_patches(ws.path, run, batch_size, device, progress)
    dev = resolve_device(device)
    encoder, config = load_encoder(ws.path, run, dev)
    if dev.type == "cuda":
        encoder = encoder.to(memory_format=torch.channels_last)
    dim = feature_dim(config.arch)
    out = run_dir(ws, run)
    n = len(ws.buildings())
    files = []
    for v_index, view in enumerate(VIEWS):
        crops = ws.crops(view)
        target = out / f"embeddings_{view}.npy"
        with atomic_path(target) as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dim))
            with torch.inference_mode():
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
            arr.flush()
            del arr
        files.append(str(target))
    info = {"rows": n, "dim": dim, "run": run, "files": [os.path.basename(f) for f in files]}
    atomic_write_json(out / "embeddings.json", info)
    return info


def load_embeddings(workspace: str | Path, run: str, view: str) -> np.ndarray:
    """Memory-mapped features of one view (``pre`` or ``post``) of a run.

    Raises:
        RunError: If the run has no embeddings or they do not match the buildings.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be 'pre' or 'post', got {view!r}")
    ws = Workspace.open(workspace)
    path = run_dir(ws, run) / f"embeddings_{view}.npy"
    if not path.exists():
        raise RunError(
            f"run {run!r} has no embeddings yet; run "
            f"`stcrl embed --workspace {ws.path} --run {run}`"
        )
    arr = np.load(path, mmap_mode="r")
    n = len(ws.buildings())
    if arr.shape[0] != n:
        raise RunError(
            f"{path} has {arr.shape[0]} rows but the workspace has {n} buildings (re-ingested?); "
            f"re-run `stcrl embed --workspace {ws.path} --run {run}`"
        )
    return arr
