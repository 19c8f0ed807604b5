"""Location embeddings of a CSP run: ``WS/runs/<run>/embeddings_loc.npy``.

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

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from stcrl_core.atomic import atomic_path
from stcrl_core.engine import PretrainConfig, RunError, read_run_config, run_dir
from stcrl_core.models.location import LocationEncoder, check_lonlat
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace

if TYPE_CHECKING:
    from stcrl_core.methods.csp import CSPModel

LOCATION_FILE = "embeddings_loc.npy"
PATCH_LOCATION_FILE = "embeddings_patchloc.npy"


def load_location_encoder(
    workspace: str | Path, run: str, device: str | torch.device = "cpu"
) -> tuple[LocationEncoder, PretrainConfig]:
    """The trained location encoder of a CSP run (eval mode) and the run's config.

    Raises:
        RunError: If the run is missing, not a CSP run, or has no checkpoint.
    """
    model, config = load_csp_model(workspace, run, device)
    return model.location, config


def load_csp_model(
    workspace: str | Path, run: str, device: str | torch.device = "cpu"
) -> tuple[CSPModel, PretrainConfig]:
    """The trained dual encoder of a CSP run (eval mode) and the run's config.

    Raises:
        RunError: If the run is missing, not a CSP run, or has no checkpoint.
    """
    from stcrl_core.methods.csp import CSPModel

    ws = Workspace.open(workspace)
    config = read_run_config(ws, run)
    if config.method != "csp":
        raise RunError(
            f"run {run!r} is a {config.method} run without a location encoder; train one with "
            f"`stcrl pretrain --method csp --workspace {ws.path} --run NAME`"
        )
    ckpt = run_dir(ws, run) / "checkpoint.pt"
    if not ckpt.exists():
        raise RunError(f"run {run!r} has no checkpoint yet ({ckpt}); train it first")
    model = CSPModel(dataclasses.replace(config, weights=None))
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config


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
    workspace: str | Path,
    run: str,
    device: torch.device | str = "cpu",
    progress: ProgressCallback = no_progress,
) -> Path:
    """Write ``embeddings_loc.npy`` of a CSP run (one row per building); returns its path."""
    ws = Workspace.open(workspace)
    encoder, _ = load_location_encoder(ws.path, run, device)
    table = ws.buildings()
    lonlat = table[["lon", "lat"]].to_numpy(dtype=np.float64)
    check_lonlat(lonlat, str(ws.objects_dir / "buildings.parquet"))
    emb = encode_locations(encoder, lonlat, progress=progress)
    target = run_dir(ws, run) / LOCATION_FILE
    with atomic_path(target) as tmp:
        np.save(tmp, emb)
    return target


def embed_patch_locations(
    workspace: str | Path,
    run: str,
    device: torch.device | str = "cpu",
    progress: ProgressCallback = no_progress,
) -> Path:
    """Write ``embeddings_patchloc.npy`` of a CSP run (one row per patch); returns its path.

    Raises:
        PatchStoreError: If the workspace holds no patches.
        LocationError: If a patch has no valid lon/lat.
    """
    from stcrl_core.data.patch_locations import PatchLocations

    ws = Workspace.open(workspace)
    encoder, _ = load_location_encoder(ws.path, run, device)
    emb = encode_locations(encoder, PatchLocations(ws).lonlat, progress=progress)
    target = run_dir(ws, run) / PATCH_LOCATION_FILE
    with atomic_path(target) as tmp:
        np.save(tmp, emb)
    return target


def copy_image_features(
    workspace: str | Path, run: str, image_run: str, chunk: int = 65536
) -> list[Path]:
    """Copy ``image_run``'s ``embeddings_{pre,post}.npy`` into ``run`` (in chunks).

    Raises:
        RunError: If ``image_run`` has no (current) embeddings.
    """
    from stcrl_core.embeddings import VIEWS, load_embeddings

    ws = Workspace.open(workspace)
    files = []
    for view in VIEWS:
        source = load_embeddings(ws.path, image_run, view)
        target = run_dir(ws, run) / f"embeddings_{view}.npy"
        with atomic_path(target) as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=source.shape)
            for start in range(0, len(source), chunk):
                arr[start : start + chunk] = source[start : start + chunk]
            arr.flush()
            del arr
        files.append(target)
    return files


def image_to_location_accuracy(workspace: str | Path, run: str) -> dict[str, Any]:
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
    from stcrl_core.data.patches import load_patches
    from stcrl_core.methods.triplet import load_patch_embeddings

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
    feats = np.asarray(load_patch_embeddings(workspace, config.image_run)[~train], np.float32)
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
