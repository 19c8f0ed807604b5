"""Embeddings of a CSP run: ``WS/runs/<run>/embeddings_loc.npy`` and its image features.

The run's location encoder (in eval mode: no dropout) embeds every building's
lon/lat; row i is the building with ``row == i`` in ``objects/buildings.parquet``
(float32, N x 256). A CSP run trained on the frozen features of another run
also gets that run's ``embeddings_{pre,post}.npy`` copied as its own image
features, so a label-budget experiment can compare the same image features
with and without the location prior.

A CSP run on the scene patches (trained on a triplet run's patch embeddings)
gets ``embeddings_patchloc.npy`` instead: its location encoder on every patch
centre of ``patches/patches.parquet`` (row i = patch row i, float32, N x 256).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from stcrl_core.devices import resolve_device
from stcrl_core.errors import RunError
from stcrl_core.methods.checkpoints import load_model
from stcrl_core.methods.config import read_run_config
from stcrl_core.methods.crop_features import embed_crops
from stcrl_core.methods.csp_patches import PatchLocations
from stcrl_core.models.location import LocationEncoder, check_lonlat
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_memmap, atomic_save_npy
from stcrl_core.workspace.embeddings import (
    BUILDING_VIEWS,
    LOCATION_VIEW,
    PATCH_LOCATION_VIEW,
    PATCH_VIEW,
    load_embeddings,
)
from stcrl_core.workspace.patches import load_patches
from stcrl_core.workspace.runs import run_files

if TYPE_CHECKING:
    from stcrl_core.methods.config import PretrainConfig

if TYPE_CHECKING:
    from stcrl_core.methods.config import PretrainConfig


def load_location_encoder(
    workspace: Workspace | str | Path, run: str, device: str | torch.device = "cpu"
) -> tuple[LocationEncoder, PretrainConfig]:
    """The trained location encoder of a CSP run (eval mode) and the run's config.

    Raises:
        RunError: If the run is missing, not a CSP run, or has no checkpoint.
    """
    model, config = load_csp_model(workspace, run, device)
    return model.location, config


def load_csp_model(
    workspace: Workspace | str | Path, run: str, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, PretrainConfig]:
    """The trained dual encoder of a CSP run (eval mode) and the run's config.

    Raises:
        RunError: If the run is missing, not a CSP run, or has no checkpoint.
    """
    workspace = Workspace.of(workspace)
    config = read_run_config(workspace, run)
    if config.method != "csp":
        raise RunError(
            f"run {run!r} is a {config.method} run without a location encoder; train one with "
            f"`stcrl pretrain --method csp --workspace {workspace.path} --run NAME`"
        )
    model, config = load_model(workspace, run, device)
    return model, config


def encode_locations(
    encoder: LocationEncoder,
    lonlat: np.ndarray,
    batch_size: int = 8192,
    progress: ProgressCallback = no_progress,
) -> np.ndarray:
    """Embed ``(N, 2)`` lon/lat degrees with ``encoder``: ``(N, out_dim)`` float32.

    Raises:
        LocationError: On NaN or out-of-range coordinates.
    """
    check_lonlat(lonlat)
    device = next(encoder.parameters()).device
    out = np.empty((len(lonlat), encoder.out_dim), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(lonlat), batch_size):
            stop = min(start + batch_size, len(lonlat))
            x = torch.tensor(np.asarray(lonlat[start:stop], dtype=np.float64), device=device)
            out[start:stop] = encoder(x).float().cpu().numpy()
            progress(stop, len(lonlat), f"locations {stop}/{len(lonlat)}")
    return out


def embed_locations(
    workspace: Workspace | str | Path,
    run: str,
    device: torch.device | str = "cpu",
    progress: ProgressCallback = no_progress,
) -> Path:
    """Write ``embeddings_loc.npy`` of a CSP run (one row per building); returns its path."""
    ws = Workspace.of(workspace)
    lonlat = ws.buildings()[["lon", "lat"]].to_numpy(dtype=np.float64)
    check_lonlat(lonlat, str(ws.objects.buildings))
    return _write_locations(ws, run, LOCATION_VIEW, lonlat, device, progress)


def _write_locations(
    ws: Workspace,
    run: str,
    view: str,
    lonlat: np.ndarray,
    device: torch.device | str,
    progress: ProgressCallback,
) -> Path:
    """The run's location encoder on ``lonlat``, written as ``embeddings_<view>.npy``."""
    encoder, _ = load_location_encoder(ws, run, device)
    target = run_files(ws, run).embeddings(view)
    atomic_save_npy(target, encode_locations(encoder, lonlat, progress=progress))
    return target


def embed_patch_locations(
    workspace: Workspace | str | Path,
    run: str,
    device: torch.device | str = "cpu",
    progress: ProgressCallback = no_progress,
) -> Path:
    """Write ``embeddings_patchloc.npy`` of a CSP run (one row per patch); returns its path.

    Raises:
        PatchStoreError: If the workspace holds no patches.
        LocationError: If a patch has no valid lon/lat.
    """
    ws = Workspace.of(workspace)
    lonlat = PatchLocations(ws).lonlat
    return _write_locations(ws, run, PATCH_LOCATION_VIEW, lonlat, device, progress)


def copy_image_features(
    workspace: Workspace | str | Path, run: str, image_run: str, chunk: int = 65536
) -> list[Path]:
    """Copy ``image_run``'s ``embeddings_{pre,post}.npy`` into ``run`` (in chunks).

    Raises:
        RunError: If ``image_run`` has no (current) embeddings.
    """
    ws = Workspace.of(workspace)
    files = []
    for view in BUILDING_VIEWS:
        source = load_embeddings(ws, image_run, view)
        target = run_files(ws, run).embeddings(view)
        with atomic_memmap(target, source.shape) as arr:
            for start in range(0, len(source), chunk):
                arr[start : start + chunk] = source[start : start + chunk]
        files.append(target)
    return files


def embed_csp_run(
    ws: Workspace,
    run: str,
    config: PretrainConfig,
    batch_size: int,
    device: str,
    progress: ProgressCallback,
) -> dict[str, Any]:
    """The CSP embed hook: location embeddings, and image features of the buildings.

    A run on buildings gets ``embeddings_loc.npy`` and ``embeddings_{pre,post}.npy``
    (copied from its image run when it trained on frozen features, else its own
    ResNet's); a run on patches only ``embeddings_patchloc.npy``.

    Returns:
        What ``embeddings.json`` holds.
    """
    dev = resolve_device(device)
    if config.subject == "patches":
        target = embed_patch_locations(ws, run, dev, progress)
        shape = np.load(target, mmap_mode="r").shape
        return {"rows": int(shape[0]), "dim": int(shape[1]), "run": run,
                "files": [target.name], "kind": PATCH_LOCATION_VIEW}  # fmt: skip
    loc = embed_locations(ws, run, dev, progress)
    if config.image_run:
        files = copy_image_features(ws, run, config.image_run)
        dim = int(np.load(files[0], mmap_mode="r").shape[1])
    else:
        files, dim = embed_crops(ws, run, batch_size, dev, progress)
    return {
        "rows": ws.building_count(),
        "dim": dim,
        "loc_dim": int(np.load(loc, mmap_mode="r").shape[1]),
        "run": run,
        "image_features": f"copied from run {config.image_run}" if config.image_run else run,
        "files": [f.name for f in [*files, loc]],
    }


def image_to_location_accuracy(workspace: Workspace | str | Path, run: str) -> dict[str, Any]:
    """How well a CSP run on patches finds a patch's city from its image alone.

    Each ``val`` patch's image embedding (the run's image head on its frozen
    triplet features) is compared (cosine) with the location embedding of the
    centre of each location's ``train`` patches; the most similar location is
    the prediction. No labels are used in training, so this is zero-shot.

    Returns:
        ``{"overall", "per_location": {location: accuracy}, "chance", "val"}``
        (``chance``: accuracy of always answering the most frequent location).

    Raises:
        RunError: If the run is not a CSP run on patches.
        ValueError: If there are no train or no val patches.
    """
    workspace = Workspace.of(workspace)
    model, config = load_csp_model(workspace, run)
    if config.subject != "patches":
        raise RunError(f"run {run!r} is not a CSP run on patches (--image-run TRIPLET_RUN)")
    table, _, _ = load_patches(workspace)
    train = (table["split"] == "train").to_numpy()
    if not train.any() or train.all():
        raise ValueError("need both train and val patches for an image -> location accuracy")
    names = sorted(table.loc[train, "location"].unique())
    centres = np.array(
        [
            table.loc[train & (table["location"] == n).to_numpy(), ["lon", "lat"]].mean()
            for n in names
        ]
    )
    feats = load_embeddings(workspace, config.image_run, PATCH_VIEW)
    feats = np.asarray(feats[~train], np.float32)
    with torch.inference_mode():
        img = F.normalize(model.image_head(torch.from_numpy(feats)), dim=1)
        loc = F.normalize(model.location(torch.from_numpy(centres)).float(), dim=1)
        predicted = np.asarray(names)[(img @ loc.T).argmax(1).numpy()]
    truth = table.loc[~train, "location"].to_numpy()
    correct = pd.Series(predicted == truth)
    per_location = correct.groupby(truth).mean()
    return {
        "overall": float(correct.mean()),
        "per_location": {str(k): float(v) for k, v in per_location.items()},
        "chance": float(pd.Series(truth).value_counts(normalize=True).iloc[0]),
        "val": int((~train).sum()),
    }
