"""Which features of a building to classify (a question users ask in itself).

Modes, from a run's encoder features of the pre and post crop:

* ``post``: the post-disaster features ``h_post``;
* ``pre+post``: ``[h_pre, h_post]`` concatenated;
* ``post-pre``: the difference ``h_post - h_pre``;
* ``pair-distance``: how far apart the two are: cosine distance and
  Euclidean distance (2 features).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import load_embeddings

FEATURE_MODES = ("post", "pre+post", "post-pre", "pair-distance")


def combine_features(pre: np.ndarray, post: np.ndarray, mode: str) -> np.ndarray:
    """Build the feature matrix of ``mode`` from pre and post features (rows aligned).

    Raises:
        ValueError: For an unknown mode or misaligned inputs.
    """
    if mode not in FEATURE_MODES:
        raise ValueError(f"unknown feature mode {mode!r}; choose from {', '.join(FEATURE_MODES)}")
    if pre.shape != post.shape:
        raise ValueError(f"pre and post features differ in shape: {pre.shape} vs {post.shape}")
    pre = np.asarray(pre, dtype=np.float32)
    post = np.asarray(post, dtype=np.float32)
    if mode == "post":
        return post
    if mode == "pre+post":
        return np.concatenate([pre, post], axis=1)
    if mode == "post-pre":
        return post - pre
    norms = np.linalg.norm(pre, axis=1) * np.linalg.norm(post, axis=1)
    cosine = 1 - (pre * post).sum(axis=1) / np.maximum(norms, 1e-12)
    euclid = np.linalg.norm(post - pre, axis=1)
    return np.stack([cosine, euclid], axis=1)


def run_features(
    workspace: Workspace | str | Path, run: str, mode: str, rows: np.ndarray | None = None
) -> np.ndarray:
    """Features of ``mode`` for a run's buildings (all rows, or the given ones)."""
    ws = Workspace.of(workspace)
    pre = load_embeddings(ws, run, "pre")
    post = load_embeddings(ws, run, "post")
    if rows is not None:
        pre, post = pre[rows], post[rows]
    return combine_features(pre, post, mode)
