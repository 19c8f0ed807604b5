"""2-D projections of building embeddings (UMAP, t-SNE or PCA), stored in the workspace.

A projection is keyed by its parameters (run, view, method and the method's
settings), stored as ``WS/projections/<key>.npy`` (float32 N x 2, rows aligned
with ``buildings.parquet``) plus ``<key>.json``, so it is computed once and
then opens at once.

UMAP runs on the first 50 principal components with exact nearest neighbours
computed in torch (chunked matrix products) and handed to umap-learn as
``precomputed_knn``, initialised from PCA. That skips pynndescent, whose numba
compilation made the first projection of a process take 18-45 s; what is left
to compile costs about 4 s per process (:func:`warm_up` pays it up front), and
a 20,000-point projection then takes well under 15 s on 2 CPU cores
(``benchmarks/bench_projection.py``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from stcrl_core.progress import ProgressCallback, no_progress
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import (
    available_views,
    load_embeddings,
    view_rows,
)
from stcrl_core.workspace.projections import read_projection, write_projection

METHODS = ("umap", "tsne", "pca")
# loc: a CSP run's location embeddings of the buildings; patch: a triplet run's embeddings
# of the segmentation patches; patchloc: a CSP run's location embeddings of the patches
# (both with rows aligned with patches.parquet, not the buildings)
VIEWS = ("pre", "post", "post-pre", "loc", "patch", "patchloc")
# Bumped when the algorithm behind a method changes, so stored projections are redone.
ALGORITHM_VERSION = 2
PCA_DIMS = 50
# Each method's settings with their defaults; they are part of a projection's key.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "umap": {"n_neighbors": 15, "min_dist": 0.1},
    "tsne": {"perplexity": 30.0},
    "pca": {},
}


def projection_key(run: str, view: str, method: str, params: dict[str, Any]) -> str:
    """File-name key of a projection with these parameters."""
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"{run}-{view}-{method}-{digest}"


def view_features(workspace: Workspace | str | Path, run: str, view: str) -> np.ndarray:
    """The embedding of one view of every building (``post-pre``: the difference;
    ``loc``: a CSP run's location embeddings) or, for ``patch`` and ``patchloc``, of
    every patch."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    ws = Workspace.of(workspace)
    if view == "post-pre":
        return np.asarray(load_embeddings(ws, run, "post")) - np.asarray(
            load_embeddings(ws, run, "pre")
        )
    return np.asarray(load_embeddings(ws, run, view))


def projection_views(workspace: Workspace | str | Path, run: str) -> list[str]:
    """The views of a run that can be projected (``post-pre`` when it has both crops)."""
    have = available_views(Workspace.of(workspace), run)
    views = [v for v in ("pre", "post") if v in have]
    if len(views) == 2:
        views.append("post-pre")
    return views + [v for v in have if v not in ("pre", "post")]


def point_count(workspace: Workspace | str | Path, view: str) -> int:
    """How many points a projection of ``view`` has: patches for ``patch`` and ``patchloc``,
    else buildings."""
    return view_rows(Workspace.of(workspace), "post" if view == "post-pre" else view)


def reduce_dims(x: np.ndarray, dims: int = PCA_DIMS, seed: int = 0) -> np.ndarray:
    """Standardise ``(N, d)`` features and keep their first ``dims`` principal components."""
    x = x.astype(np.float32)
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)
    if x.shape[1] <= dims or len(x) <= dims:
        return x
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, random_state=seed).fit_transform(x).astype(np.float32)


def exact_knn(x: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours (each point first, at distance 0) by Euclidean distance.

    Returns:
        ``(indices (N, k) int64, distances (N, k) float32)``.
    """
    import torch

    if len(x) < k:
        raise ValueError(f"need at least k={k} points for the neighbour graph, got {len(x)}")
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    sq = (t * t).sum(1)
    indices, distances = [], []
    with torch.inference_mode():
        for start in range(0, len(t), chunk):
            block = t[start : start + chunk]
            d2 = sq[start : start + chunk, None] + sq[None, :] - 2.0 * block @ t.T
            own = torch.arange(start, start + len(block))
            d2[torch.arange(len(block)), own] = -1.0  # each point is its own first neighbour
            values, idx = torch.topk(d2, k, dim=1, largest=False)
            indices.append(idx)
            distances.append(values.clamp_min(0.0).sqrt())
    return torch.cat(indices).numpy(), torch.cat(distances).numpy()


def _umap(x: np.ndarray, seed: int, n_neighbors: int, min_dist: float) -> np.ndarray:
    import warnings

    import umap

    k = min(n_neighbors, len(x) - 1)
    indices, distances = exact_knn(x, k)
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=min_dist,
        random_state=seed,
        n_jobs=1,
        init="pca",
        precomputed_knn=(indices, distances, None),
    )
    with warnings.catch_warnings():
        # "no search index: transform() unavailable" and "n_jobs overridden by random_state"
        warnings.simplefilter("ignore", UserWarning)
        return reducer.fit_transform(x).astype(np.float32)


def project(features: np.ndarray, method: str, seed: int = 0, **params: Any) -> np.ndarray:
    """Project ``(N, d)`` features to 2-D with ``method`` (standardised and reduced first).

    Args:
        features: One row per point.
        method: ``umap``, ``tsne`` or ``pca``.
        seed: Random seed (the result is deterministic given it).
        **params: ``n_neighbors``/``min_dist`` (UMAP), ``perplexity`` (t-SNE).

    Raises:
        ValueError: If the method is unknown or there are too few points.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if features.ndim != 2 or len(features) < 3:
        raise ValueError(f"need a (N >= 3, d) feature matrix, got shape {features.shape}")
    x = reduce_dims(features, seed=seed)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(float(params.get("perplexity", 30.0)), max(1.0, (len(x) - 1) / 3))
        return (
            TSNE(2, perplexity=perplexity, random_state=seed, init="pca")
            .fit_transform(x)
            .astype(np.float32)
        )
    return _umap(x, seed, int(params.get("n_neighbors", 15)), float(params.get("min_dist", 0.1)))


def warm_up() -> float:
    """Compile UMAP's numba code in this process on a tiny problem; returns the seconds it took."""
    import time

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    _umap(rng.normal(size=(64, 8)).astype(np.float32), 0, 15, 0.1)
    return time.perf_counter() - started


def _settings(run: str, view: str, method: str, seed: int, params: dict[str, Any]) -> dict:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    unknown = set(params) - set(DEFAULT_PARAMS[method])
    if unknown:
        raise ValueError(f"{method} has no setting(s) {', '.join(sorted(unknown))}")
    return {
        "run": run,
        "view": view,
        "method": method,
        "seed": seed,
        "algorithm": ALGORITHM_VERSION,
        **DEFAULT_PARAMS[method],
        **params,
    }


def stored_projection_key(run: str, view: str, method: str, seed: int = 0, **params: Any) -> str:
    """The key (file stem under ``WS/projections/``) of a projection with these settings."""
    return projection_key(run, view, method, _settings(run, view, method, seed, params))


def stored_projection(
    workspace: Workspace | str | Path,
    run: str,
    view: str = "post",
    method: str = "umap",
    seed: int = 0,
    **params: Any,
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """A stored projection with these parameters, or None if there is none (never computes).

    A stored projection whose row count no longer matches the workspace (re-ingested)
    counts as missing.
    """
    ws = Workspace.of(workspace)
    key = stored_projection_key(run, view, method, seed, **params)
    found = read_projection(ws, key, point_count(ws, view))
    if found is None:
        return None
    coords, meta = found
    return coords, {**meta, "cached": True}


def compute_projection(
    workspace: Workspace | str | Path,
    run: str,
    view: str = "post",
    method: str = "umap",
    seed: int = 0,
    progress: ProgressCallback = no_progress,
    **params: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Load a stored projection or compute and store it.

    Args:
        workspace: The workspace.
        run: A run with embeddings.
        view: ``pre``, ``post`` or ``post-pre``.
        method: ``umap``, ``tsne`` or ``pca``.
        seed: Random seed.
        progress: ``progress(done, total, message)`` over the stages.
        **params: Method settings (part of the key).

    Returns:
        ``(coords (N, 2), metadata)``; metadata has ``key``, ``cached``, ``seconds``.
    """
    import time

    found = stored_projection(workspace, run, view, method, seed, **params)
    if found is not None:
        return found
    ws = Workspace.of(workspace)
    settings = _settings(run, view, method, seed, params)
    key = projection_key(run, view, method, settings)
    progress(0, 3, f"loading the {view} embeddings of {run}")
    features = view_features(ws, run, view)
    if method == "umap":
        progress(1, 3, "compiling UMAP (once per worker process)")
        warm_up()
    progress(2, 3, f"{method.upper()} of {len(features):,} points")
    started = time.perf_counter()
    coords = project(features, method, seed, **params)
    seconds = time.perf_counter() - started
    meta = {"key": key, **settings, "rows": len(coords), "seconds": seconds}
    write_projection(ws, key, coords, meta)
    progress(3, 3, "done")
    return coords, {**meta, "cached": False}
