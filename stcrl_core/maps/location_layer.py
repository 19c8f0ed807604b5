"""A map layer of a CSP run's location embedding over the event areas.

``stcrl embed --grid`` evaluates the run's location encoder on a regular
lon/lat grid over each event's bounding box (plus a margin) and colours every
grid point by the first three principal components of the embedding (red,
green, blue), computed per event so each area uses the full colour range.
Stored as ``WS/runs/<run>/location_grid.npz``: ``lon``, ``lat`` (float64,
M), ``rgb`` (uint8, M x 3), ``event`` (M), and per event ``events``, ``nx``,
``ny`` (grid sides; points of an event are stored row by row from the south,
west to east), ``step`` (degrees) and ``explained`` (E x 3, the share of
variance of each component).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stcrl_core.devices import resolve_device
from stcrl_core.errors import RunError
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.atomic import atomic_path
from stcrl_core.workspace.runs import LOCATION_GRID, run_files, runs_with

MARGIN = 0.25  # share of an event's extent added on each side
AUTO_CELLS = 64  # with no step given: the widest event area gets this many cells
MAX_POINTS = 2_000_000


def event_boxes(table: pd.DataFrame, margin: float = MARGIN) -> dict[str, tuple[float, ...]]:
    """``{event: (lon_min, lat_min, lon_max, lat_max)}`` of the buildings, widened by ``margin``."""
    boxes = {}
    for event, part in table.groupby("event", sort=True):
        lon0, lon1 = float(part["lon"].min()), float(part["lon"].max())
        lat0, lat1 = float(part["lat"].min()), float(part["lat"].max())
        pad_lon = max((lon1 - lon0) * margin, 1e-4)
        pad_lat = max((lat1 - lat0) * margin, 1e-4)
        boxes[str(event)] = (
            max(lon0 - pad_lon, -180.0),
            max(lat0 - pad_lat, -90.0),
            min(lon1 + pad_lon, 180.0),
            min(lat1 + pad_lat, 90.0),
        )
    return boxes


def patch_grid_refusal(run: str) -> str:
    """The error for ``--grid`` on a CSP run trained on the scene patches."""
    return (
        f"run {run!r} is a CSP run on the scene patches; the location grid covers the "
        "buildings' event areas and is only made for CSP runs on buildings: drop --grid"
    )


def principal_colours(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 of the first three principal components, and their variance shares.

    Each component is scaled from its 2nd to its 98th percentile onto 0..255.
    """
    x = emb.astype(np.float64) - emb.mean(axis=0)
    # eigenvectors of the d x d scatter matrix: cheaper than an SVD of the M x d grid
    eigval, eigvec = np.linalg.eigh(x.T @ x)
    order = np.argsort(eigval)[::-1][: min(3, len(x), x.shape[1])]
    k = len(order)
    comps = np.zeros((len(x), 3))
    comps[:, :k] = x @ eigvec[:, order]
    total = float(np.clip(eigval, 0, None).sum())
    explained = np.zeros(3)
    if total > 0:
        explained[:k] = np.clip(eigval[order], 0, None) / total
    lo, hi = np.percentile(comps, 2, axis=0), np.percentile(comps, 98, axis=0)
    scaled = (comps - lo) / np.where(hi - lo > 1e-12, hi - lo, 1.0)
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8), explained


def write_location_grid(
    workspace: Workspace | str | Path,
    run: str,
    step: float | None = None,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Evaluate a CSP run's location encoder on a grid over the event areas and store it.

    Args:
        workspace: The workspace.
        run: A trained CSP run.
        step: Grid spacing in degrees (default: the widest event area / 64).
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: ``progress(done, total, message)`` callback (grid points).

    Returns:
        ``{"path", "points", "step", "events"}``.

    Raises:
        RunError: If the run is not a trained CSP run on buildings (a run on the
            scene patches has no event areas to cover).
        ValueError: If ``step`` is not positive or the grid would be too large.
    """
    from stcrl_core.methods.csp_embeddings import encode_locations, load_location_encoder

    ws = Workspace.of(workspace)
    encoder, config = load_location_encoder(ws, run, resolve_device(device))
    if config.subject == "patches":
        raise RunError(patch_grid_refusal(run))
    boxes = event_boxes(ws.buildings())
    if step is None:
        step = max(max(b[2] - b[0], b[3] - b[1]) for b in boxes.values()) / AUTO_CELLS
    if not step > 0:
        raise ValueError(f"grid step must be > 0 degrees, got {step}")
    sides = {
        e: (int(np.floor((b[2] - b[0]) / step)) + 1, int(np.floor((b[3] - b[1]) / step)) + 1)
        for e, b in boxes.items()
    }
    points = sum(nx * ny for nx, ny in sides.values())
    if points > MAX_POINTS:
        raise ValueError(
            f"a grid step of {step} degrees gives {points:,} points over the event areas "
            f"(limit {MAX_POINTS:,}); pass a larger --grid-step"
        )
    lons, lats, rgbs, names, explained = [], [], [], [], []
    done = 0
    for event, (lon0, lat0, _, _) in boxes.items():
        nx, ny = sides[event]
        lon, lat = np.meshgrid(lon0 + step * np.arange(nx), lat0 + step * np.arange(ny))
        lonlat = np.stack([lon.ravel(), lat.ravel()], axis=1)
        emb = encode_locations(encoder, lonlat)
        rgb, share = principal_colours(emb)
        lons.append(lonlat[:, 0])
        lats.append(lonlat[:, 1])
        rgbs.append(rgb)
        names.append(np.full(len(lonlat), event))
        explained.append(share)
        done += len(lonlat)
        progress(done, points, f"{event}: {nx} x {ny} points")
    target = run_files(ws, run).location_grid
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            lon=np.concatenate(lons),
            lat=np.concatenate(lats),
            rgb=np.concatenate(rgbs),
            event=np.concatenate(names).astype(str),
            events=np.array(list(boxes), dtype=str),
            nx=np.array([sides[e][0] for e in boxes]),
            ny=np.array([sides[e][1] for e in boxes]),
            step=np.float64(step),
            explained=np.array(explained),
        )
    return {"path": str(target), "points": points, "step": float(step), "events": len(boxes)}


def load_location_grid(workspace: Workspace | str | Path, run: str) -> dict[str, np.ndarray]:
    """The stored grid of a run (see the module docstring for its arrays).

    Raises:
        RunError: If the run has no grid yet.
    """
    ws = Workspace.of(workspace)
    path = run_files(ws, run).location_grid
    if not path.exists():
        raise RunError(
            f"run {run!r} has no location grid yet; run "
            f"`stcrl embed --workspace {ws.path} --run {run} --grid`"
        )
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def runs_with_location_grid(workspace: Workspace | str | Path) -> list[str]:
    """Names of the runs of a workspace that have a stored location grid."""
    return runs_with(Workspace.of(workspace), LOCATION_GRID)


def _png_data_url(rgb: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def grid_bitmap_records(
    grid: dict[str, np.ndarray], events: list[str] | None = None
) -> list[dict[str, Any]]:
    """One BitmapLayer record per event: a PNG data URL (north up) and its corners.

    ``bounds`` follow deck.gl's order (bottom-left, top-left, top-right,
    bottom-right, ``[lon, lat]``) and reach half a step beyond the outer grid
    points, so each pixel is centred on its grid point.
    """
    half = float(grid["step"]) / 2
    records = []
    offset = 0
    for event, nx, ny in zip(grid["events"], grid["nx"], grid["ny"], strict=True):
        n = int(nx) * int(ny)
        if events is None or str(event) in events:
            rgb = grid["rgb"][offset : offset + n].reshape(int(ny), int(nx), 3)[::-1]
            lon, lat = grid["lon"][offset : offset + n], grid["lat"][offset : offset + n]
            w, e = float(lon.min()) - half, float(lon.max()) + half
            s, north = float(lat.min()) - half, float(lat.max()) + half
            records.append(
                {
                    "event": str(event),
                    "image": _png_data_url(np.ascontiguousarray(rgb)),
                    "bounds": [[w, s], [w, north], [e, north], [e, s]],
                }
            )
        offset += n
    return records
