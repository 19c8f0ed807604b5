"""Triplet margin loss with cosine distance, mined within the batch (the experts paper).

Reference: "Learning location-specific embeddings ... for building footprint
segmentation" (seed 001), eq. (1), after Balntas et al. (BMVC 2016)::

    L_triplet = max( d(y_a, y_p) - d(y_a, y_n) + margin, 0 ),  d(u, v) = 1 - cos(u, v)

with the anchor and positive from one location and the negative from another.
Triplets are mined within the batch (Hermans et al., "In Defense of the
Triplet Loss", 2017): every valid triplet (``mining="all"``) or each anchor's
hardest positive and negative (``"hard"``).

:func:`distributed_triplet_margin_loss` mines over the batch of all
``torch.distributed`` processes: each process's anchors meet every process's
positives and negatives, so training on ``P`` processes of ``B`` patches mines
like one process with ``P * B`` (see the function for how the mean is kept).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stcrl_core.methods.gather import gather_with_grad

MINING = ("all", "hard")


def cosine_distances(z: torch.Tensor) -> torch.Tensor:
    """``(N, N)`` matrix of ``1 - cos(z_i, z_j)`` (computed in at least float32)."""
    u = F.normalize(z.to(torch.promote_types(z.dtype, torch.float32)), dim=1)
    return 1 - u @ u.T


def _check(z: torch.Tensor, labels: torch.Tensor, margin: float, mining: str) -> None:
    if z.ndim != 2 or labels.shape != (z.shape[0],):
        raise ValueError(
            f"z must be (N, d) and labels (N,), got {tuple(z.shape)} and {tuple(labels.shape)}"
        )
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if mining not in MINING:
        raise ValueError(f"mining must be one of {MINING}, got {mining!r}")


def _sum_and_count(
    anchors: torch.Tensor, anchor_labels: torch.Tensor, keys: torch.Tensor,
    key_labels: torch.Tensor, offset: int, margin: float, mining: str,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Sum of the triplet terms of ``anchors`` (rows ``offset...`` of ``keys``) mined
    among ``keys``, and how many terms there are."""
    promote = torch.promote_types(anchors.dtype, torch.float32)
    a = F.normalize(anchors.to(promote), dim=1)
    k = F.normalize(keys.to(promote), dim=1)
    d = 1 - a @ k.T  # (n anchors, N keys)
    same = anchor_labels[:, None] == key_labels[None, :]
    own = torch.zeros_like(same)
    own[torch.arange(len(anchors)), torch.arange(len(anchors)) + offset] = True
    positive, negative = same & ~own, ~same
    if mining == "hard":
        valid = positive.any(1) & negative.any(1)
        hardest_pos = d.masked_fill(~positive, float("-inf")).amax(1)
        hardest_neg = d.masked_fill(~negative, float("inf")).amin(1)
        terms = F.relu(hardest_pos - hardest_neg + margin)[valid]
    else:
        valid = positive[:, :, None] & negative[:, None, :]  # (anchor, positive, negative)
        terms = F.relu(d[:, :, None] - d[:, None, :] + margin)[valid]
    return terms.sum(), valid.sum()


def triplet_margin_loss(
    z: torch.Tensor, labels: torch.Tensor, margin: float = 0.2, mining: str = "all"
) -> torch.Tensor:
    """Triplet margin loss with cosine distance, triplets mined within the batch (eq. 1).

    Args:
        z: ``(N, d)`` embeddings (need not be normalised).
        labels: ``(N,)`` location of each embedding; anchor and positive share
            one, the negative has another.
        margin: The margin (>= 0).
        mining: ``"all"``: mean over every valid triplet of the batch;
            ``"hard"``: for each anchor with a positive and a negative, its
            farthest positive and nearest negative, mean over those anchors.

    Returns:
        The scalar loss (0, with a gradient, when the batch has no valid triplet).

    Raises:
        ValueError: On a shape mismatch, a negative margin or unknown mining.
    """
    _check(z, labels, margin, mining)
    with torch.autocast(device_type=z.device.type, enabled=False):
        total, count = _sum_and_count(z, labels, z, labels, 0, margin, mining)
        return total / count if count else z.sum() * 0.0


def distributed_triplet_margin_loss(
    z: torch.Tensor, labels: torch.Tensor, margin: float = 0.2, mining: str = "all"
) -> torch.Tensor:
    """:func:`triplet_margin_loss` with triplets mined over every process's batch.

    Under ``torch.distributed`` with more than one process, embeddings and
    labels are gathered (embeddings with gradients); each process sums the
    terms of its own anchors against the global batch and divides by the
    global number of terms times ``1 / world``. With equal local batch sizes
    the mean of these over processes is :func:`triplet_margin_loss` of the
    concatenated batch, and DDP's gradient averaging gives its gradient.
    Without a process group it is :func:`triplet_margin_loss`.
    """
    gathered = gather_with_grad()
    if gathered is None:
        return triplet_margin_loss(z, labels, margin, mining)
    import torch.distributed as dist

    _check(z, labels, margin, mining)
    gather, rank = gathered
    with torch.autocast(device_type=z.device.type, enabled=False):
        keys, key_labels = gather(z), gather(labels)
        total, count = _sum_and_count(z, labels, keys, key_labels, rank * len(z), margin, mining)
        global_count = count.detach().clone()
        dist.all_reduce(global_count)
        if not global_count:
            return z.sum() * 0.0
        return total * dist.get_world_size() / global_count
