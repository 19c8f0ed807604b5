"""2-D projections of building embeddings (UMAP, t-SNE or PCA), stored in the workspace.

A projection is keyed by its parameters (run, view, method and the method's
settings), stored as ``WS/projections/<key>.npy`` (float32 N x 2, rows aligned
with ``buildings.parquet``) plus ``<key>.json``, so it is computed once and
then opens at once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from stcrl_core.atomic import atomic_path, atomic_write_json
from stcrl_core.embeddings import load_embeddings
from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace

METHODS = ("umap", "tsne", "pca")
VIEWS = ("pre", "post", "post-pre", "loc")  # loc: a CSP run's location embeddings


def projection_key(run: str, view: str, method: str, params: dict[str, Any]) -> str:
    """File-name key of a projection with these parameters."""
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"{run}-{view}-{method}-{digest}"


def view_features(workspace: str | Path, run: str, view: str) -> np.ndarray:
    """The embedding of one view of every building (``post-pre``: the difference;
    ``loc``: a CSP run's location embeddings)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if view == "post-pre":
        return np.asarray(load_embeddings(workspace, run, "post")) - np.asarray(
            load_embeddings(workspace, run, "pre")
        )
    return np.asarray(load_embeddings(workspace, run, view))


def project(features: np.ndarray, method: str, seed: int = 0, **params: Any) -> np.ndarray:
    """Project ``(N, d)`` features to 2-D with ``method`` (standardised first)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    x = features.astype(np.float32)
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(float(params.get("perplexity", 30.0)), max(5.0, (len(x) - 1) / 3))
        return (
            TSNE(2, perplexity=perplexity, random_state=seed, init="pca")
            .fit_transform(x)
            .astype(np.float32)
        )
    import umap

    reducer = umap.UMAP(
        n_neighbors=int(params.get("n_neighbors", 15)),
        min_dist=float(params.get("min_dist", 0.1)),
        random_state=seed,
        n_jobs=1,
    )
    return reducer.fit_transform(x).astype(np.float32)


def compute_projection(
    workspace: str | Path,
    run: str,
    view: str = "post",
    method: str = "umap",
    seed: int = 0,
    progress: ProgressCallback = no_progress,
    **params: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Load a stored projection or compute and store it.

    Returns:
        ``(coords (N, 2), metadata)``; metadata has ``key``, ``cached``, ``seconds``.
    """
    import time

    ws = Workspace.open(workspace)
    settings = {"run": run, "view": view, "method": method, "seed": seed, **params}
    key = projection_key(run, view, method, settings)
    folder = ws.path / "projections"
    path = folder / f"{key}.npy"
    features = None
    if path.exists():
        coords = np.load(path)
        if coords.shape[0] == len(ws.buildings()):
            meta = json.loads((folder / f"{key}.json").read_text())
            return coords, {**meta, "cached": True}
    progress(0, 1, f"{method} of {run} ({view})")
    features = view_features(ws.path, run, view)
    started = time.perf_counter()
    coords = project(features, method, seed, **params)
    seconds = time.perf_counter() - started
    folder.mkdir(exist_ok=True)
    with atomic_path(path) as tmp:
        np.save(tmp, coords)
    meta = {"key": key, **settings, "rows": len(coords), "seconds": seconds}
    atomic_write_json(folder / f"{key}.json", meta)
    progress(1, 1, "done")
    return coords, {**meta, "cached": False}
