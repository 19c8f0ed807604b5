"""Encoder features of every building: ``WS/runs/<run>/embeddings_{pre,post}.npy``.

A CSP run also gets ``embeddings_loc.npy`` (its location encoder on every
building's lon/lat, see :mod:`stcrl_core.location_embeddings`); a CSP run
trained on another run's frozen features gets that run's pre/post features.
(A ``triplet`` run embeds the segmentation patches instead:
``embeddings_patch.npy``, see :func:`stcrl_core.methods.triplet.embed_patches`;
a CSP run on patches writes the location embedding of every patch:
``embeddings_patchloc.npy``, see
:func:`stcrl_core.location_embeddings.embed_patch_locations`.)

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
LOCATION_VIEW = "loc"
PATCH_VIEW = "patch"  # a triplet run's embeddings of the segmentation patches
PATCH_LOCATION_VIEW = "patchloc"  # a CSP run's location embeddings of the patches
ALL_VIEWS = (*VIEWS, LOCATION_VIEW, PATCH_VIEW, PATCH_LOCATION_VIEW)


def embed_run(
    workspace: str | Path,
    run: str,
    batch_size: int = 256,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Write the encoder features of every building's pre and post crop.

    For a CSP run, also the location embeddings (``embeddings_loc.npy``); a
    CSP run trained on frozen features copies that run's pre/post features. A
    CSP run on patches writes only the patches' location embeddings
    (``embeddings_patchloc.npy``).

    Args:
        workspace: The workspace.
        run: A run with a checkpoint.
        batch_size: Crops per forward pass.
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: ``progress(done, total, message)`` callback (buildings).

    Returns:
        ``{"rows": N, "dim": h, "files": [...]}`` (plus ``"loc_dim"`` for CSP;
        ``"kind": "patch"`` or ``"patchloc"`` with rows = patches for runs on patches).
    """
    ws = Workspace.open(workspace)
    config = read_run_config(ws, run)
    if config.method == "triplet":  # location embeddings of patches
        from stcrl_core.methods.triplet import embed_patches

        return embed_patches(ws.path, run, batch_size, device, progress)
    dev = resolve_device(device)
    out = run_dir(ws, run)
    if config.method == "csp" and config.subject == "patches":
        from stcrl_core.location_embeddings import embed_patch_locations

        target = embed_patch_locations(ws.path, run, dev, progress)
        shape = np.load(target, mmap_mode="r").shape
        info = {"rows": int(shape[0]), "dim": int(shape[1]), "run": run,
                "files": [target.name], "kind": PATCH_LOCATION_VIEW}  # fmt: skip
        atomic_write_json(out / "embeddings.json", info)
        return info
    if config.method == "csp":
        from stcrl_core.location_embeddings import (
            copy_image_features,
            embed_locations,
        )

        loc = embed_locations(ws.path, run, dev, progress)
        if config.image_run:
            files = copy_image_features(ws.path, run, config.image_run)
            dim = int(np.load(files[0], mmap_mode="r").shape[1])
        else:
            files, dim = _embed_crops(ws, run, batch_size, dev, progress)
        info = {
            "rows": len(ws.buildings()),
            "dim": dim,
            "loc_dim": int(np.load(loc, mmap_mode="r").shape[1]),
            "run": run,
            "image_features": f"copied from run {config.image_run}" if config.image_run else run,
            "files": [os.path.basename(f) for f in [*files, loc]],
        }
        atomic_write_json(out / "embeddings.json", info)
        return info
    files, dim = _embed_crops(ws, run, batch_size, dev, progress)
    info = {"rows": len(ws.buildings()), "dim": dim, "run": run,
            "files": [os.path.basename(f) for f in files]}  # fmt: skip
    atomic_write_json(out / "embeddings.json", info)
    return info


def _embed_crops(
    ws: Workspace,
    run: str,
    batch_size: int,
    dev: torch.device,
    progress: ProgressCallback,
) -> tuple[list[Path], int]:
    """Encoder features of every pre and post crop, written as ``embeddings_{view}.npy``."""
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
        files.append(target)
    return files, dim


def available_views(workspace: str | Path, run: str) -> list[str]:
    """The embedding views a run has on disk, in the order of :data:`ALL_VIEWS`."""
    folder = run_dir(Workspace.open(workspace), run)
    return [v for v in ALL_VIEWS if (folder / f"embeddings_{v}.npy").exists()]


def embedded_runs(workspace: str | Path, buildings_only: bool = False) -> list[str]:
    """Names of the runs whose embeddings are written, sorted.

    Args:
        workspace: The workspace.
        buildings_only: Only runs with building features (``embeddings_post.npy``),
            not a triplet run's patch embeddings.
    """
    runs_dir = Workspace.open(workspace).runs_dir
    pattern = "*/embeddings_post.npy" if buildings_only else "*/embeddings.json"
    return sorted(p.parent.name for p in runs_dir.glob(pattern))


def load_embeddings(workspace: str | Path, run: str, view: str) -> np.ndarray:
    """Memory-mapped features of one view of a run.

    Args:
        workspace: The workspace.
        run: The run.
        view: ``pre``, ``post`` (image features), ``loc`` (a CSP run's
            location embeddings), ``patch`` (a triplet run's patch embeddings) or
            ``patchloc`` (a CSP run's location embeddings of the patches); the
            rows of the last two are aligned with the patch store, not the buildings.

    Raises:
        RunError: If the run has no embeddings or they do not match the buildings.
    """
    if view not in ALL_VIEWS:
        raise ValueError(f"view must be one of {', '.join(ALL_VIEWS)}, got {view!r}")
    if view == PATCH_VIEW:
        from stcrl_core.methods.triplet import load_patch_embeddings

        return load_patch_embeddings(workspace, run)
    ws = Workspace.open(workspace)
    if view == PATCH_LOCATION_VIEW:
        return _load_patch_locations(ws, run)
    path = run_dir(ws, run) / f"embeddings_{view}.npy"
    if not path.exists():
        has_config = (run_dir(ws, run) / "config.json").exists()
        if has_config and read_run_config(ws, run).subject == "patches":
            raise RunError(
                f"run {run!r} is a CSP run on the scene patches: it has no {view} embeddings "
                f"of the buildings, only {PATCH_LOCATION_VIEW} (one row per patch)"
            )
        if view == LOCATION_VIEW and read_run_config(ws, run).method != "csp":
            raise RunError(
                f"run {run!r} has no location embeddings: only CSP runs have them "
                f"(`stcrl pretrain --method csp --workspace {ws.path} --run NAME`)"
            )
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


def _load_patch_locations(ws: Workspace, run: str) -> np.ndarray:
    """Memory-mapped ``embeddings_patchloc.npy`` of a CSP run on patches, checked against
    the patch store."""
    from stcrl_core.data.patches import load_patches

    path = run_dir(ws, run) / f"embeddings_{PATCH_LOCATION_VIEW}.npy"
    if not path.exists():
        config = read_run_config(ws, run)
        if not (config.method == "csp" and config.subject == "patches"):
            raise RunError(
                f"run {run!r} has no patch location embeddings: only CSP runs on patches have "
                f"them (`stcrl pretrain --method csp --image-run TRIPLET_RUN --workspace "
                f"{ws.path} --run NAME`)"
            )
        raise RunError(
            f"run {run!r} has no embeddings yet; run "
            f"`stcrl embed --workspace {ws.path} --run {run}`"
        )
    arr = np.load(path, mmap_mode="r")
    n = len(load_patches(ws.path)[0])
    if arr.shape[0] != n:
        raise RunError(
            f"{path} has {arr.shape[0]} rows but the workspace has {n} patches (re-ingested?); "
            f"re-run `stcrl embed --workspace {ws.path} --run {run}`"
        )
    return arr
