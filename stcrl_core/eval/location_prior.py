"""The CSP location prior: ``P(y | image, loc) proportional to P(y | image) P(y | loc)``.

CSP (Mai et al., ICML 2023, seed 002) fine-tunes with few labels by combining
an image classifier with a classifier on the pretrained location embedding.
Here, in each label-budget trial, ``P(y | image)`` is the trial's probe on the
image features and ``P(y | loc)`` a logistic regression on the run's location
embeddings (``embeddings_loc.npy``) fitted on the same labelled buildings. Both
are trained on class-balanced subsets, so their implicit class prior is
uniform and the normalised product is the naive-Bayes combination of the two.

In ``stcrl budget --runs``, a run written ``RUN+loc`` is scored with the
location prior of ``RUN`` and ``RUN`` alone with its image features only, on
the same trials.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stcrl_core.eval.probes import LogisticProbe
from stcrl_core.workspace import Workspace
from stcrl_core.workspace.embeddings import LOCATION_VIEW, load_embeddings

LOCATION_SUFFIX = "+loc"


def parse_run_spec(spec: str) -> tuple[str, bool]:
    """``"csp+loc"`` -> ``("csp", True)``; ``"csp"`` -> ``("csp", False)``.

    Raises:
        ValueError: For an empty run name.
    """
    with_location = spec.endswith(LOCATION_SUFFIX)
    run = spec[: -len(LOCATION_SUFFIX)] if with_location else spec
    if not run:
        raise ValueError(f"run spec {spec!r} names no run; write RUN or RUN{LOCATION_SUFFIX}")
    return run, with_location


def combine_probabilities(p_image: np.ndarray, p_location: np.ndarray) -> np.ndarray:
    """Normalised product ``p_image * p_location`` over the last (class) axis.

    Raises:
        ValueError: If the shapes differ.
    """
    if p_image.shape != p_location.shape:
        raise ValueError(
            f"p_image and p_location must have the same shape, got {p_image.shape} and "
            f"{p_location.shape}"
        )
    # in log space, so products of tiny probabilities do not underflow to 0 / 0
    log = np.log(np.maximum(p_image, 1e-300)) + np.log(np.maximum(p_location, 1e-300))
    log -= log.max(axis=-1, keepdims=True)
    out = np.exp(log)
    return out / out.sum(axis=-1, keepdims=True)


def location_probabilities(
    workspace: Workspace | str | Path,
    run: str,
    train_rows: np.ndarray,
    y_train: np.ndarray,
    eval_rows: np.ndarray,
    device: str = "auto",
    seed: int = 0,
) -> np.ndarray:
    """``P(y | loc)`` of every evaluation building, one logistic probe per trial.

    Args:
        workspace: The workspace.
        run: A CSP run with ``embeddings_loc.npy``.
        train_rows: ``(T, n)`` building rows of each trial's labelled subset.
        y_train: ``(T, n)`` their damage classes.
        eval_rows: ``(m,)`` building rows to predict.
        device: Where the probes train.
        seed: The probes' ``random_state``.

    Returns:
        ``(T, m, 4)`` class probabilities.
    """
    loc = load_embeddings(Workspace.of(workspace), run, LOCATION_VIEW)
    train_rows = np.atleast_2d(train_rows)
    x_train = np.asarray(loc[train_rows.ravel()], dtype=np.float32)
    x_train = x_train.reshape(*train_rows.shape, loc.shape[1])
    probe = LogisticProbe(device=device, random_state=seed).fit(x_train, np.atleast_2d(y_train))
    proba = probe.predict_proba(np.asarray(loc[eval_rows], dtype=np.float32))
    return proba if proba.ndim == 3 else proba[None]
