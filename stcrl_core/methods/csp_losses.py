"""The three CSP objectives and the sampler of random negative locations.

Reference: Mai, G., Lao, N., He, Y., Song, J., Ermon, S., "CSP: Self-Supervised
Contrastive Spatial Pre-Training for Geospatial-Visual Representations",
ICML 2023 (seed 002). All three are cross-entropies over cosine similarities
of L2-normalised embeddings divided by a temperature:

* :func:`in_batch_loss` (image-location contrast): location ``i`` against the
  images of the batch, its own image ``i`` the positive;
* :func:`random_location_loss` (sampled negative locations): image ``i``
  against its own location (positive) and ``K`` random locations, drawn as
  the public CSP scripts draw them (:func:`csp_random_locations`, their
  ``sphericalold``: not uniform on the sphere) or uniformly on the sphere
  (:func:`uniform_sphere_locations`);
* :func:`simcse_loss` (SimCSE location-location): two dropout passes of the
  same locations are the positive pair, the other locations of the batch
  the negatives.

CSP's total loss is ``L_batch + w_random * L_random + w_simcse * L_simcse``.

Under ``torch.distributed`` with several processes,
:func:`distributed_in_batch_loss` and :func:`distributed_simcse_loss` gather
the keys (with gradients) from every process, so each process's anchors meet
the whole global batch, and the mean over processes equals the single-process
loss on the concatenated batch (as the ST-CRL loss does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stcrl_core.methods.gather import gather_with_grad


def _unit(z: torch.Tensor) -> torch.Tensor:
    """L2-normalised rows, in at least float32 (bf16 autocast inputs are promoted)."""
    return F.normalize(z.to(torch.promote_types(z.dtype, torch.float32)), dim=-1)


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must both be (batch, dim) of the same shape, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape[0] < 2:
        raise ValueError(f"need a batch of at least 2 for negatives, got {a.shape[0]}")


def _contrast(
    anchors: torch.Tensor, keys: torch.Tensor, offset: int, temperature: float
) -> torch.Tensor:
    """Mean cross-entropy of anchor i against all keys, key ``offset + i`` the positive."""
    with torch.autocast(device_type=anchors.device.type, enabled=False):
        logits = _unit(anchors) @ _unit(keys).T / temperature
        target = torch.arange(len(anchors), device=anchors.device) + offset
        return F.cross_entropy(logits, target)


def in_batch_loss(loc: torch.Tensor, img: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """CSP's in-batch image-location loss (mean over the batch).

    ``l_i = -log( e^{s(loc_i, img_i)/t} / sum_j e^{s(loc_i, img_j)/t} )`` with
    ``s`` the cosine similarity.

    Args:
        loc: ``(N, d)`` location embeddings.
        img: ``(N, d)`` image embeddings, row i = the image taken at location i.
        temperature: ``t`` (> 0).

    Raises:
        ValueError: On a shape mismatch, a batch below 2 or ``t <= 0``.
    """
    _check_pair(loc, img, ("loc", "img"))
    _check_temperature(temperature)
    return _contrast(loc, img, 0, temperature)


def distributed_in_batch_loss(
    loc: torch.Tensor, img: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """:func:`in_batch_loss` of the local locations against every process's images.

    Local batches must be of equal size. Without a multi-process group it is
    :func:`in_batch_loss`.
    """
    gathered = gather_with_grad()
    if gathered is None:
        return in_batch_loss(loc, img, temperature)
    _check_pair(loc, img, ("loc", "img"))
    _check_temperature(temperature)
    gather, rank = gathered
    return _contrast(loc, gather(img), rank * len(loc), temperature)


def random_location_loss(
    img: torch.Tensor, loc: torch.Tensor, random_loc: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """CSP's sampled-negative-location loss (mean over the batch).

    ``l_i = -log( e^{s(img_i, loc_i)/t} / (e^{s(img_i, loc_i)/t}
    + sum_k e^{s(img_i, r_ik)/t}) )`` with ``r_ik`` the embeddings of random
    locations drawn for image i.

    Args:
        img: ``(N, d)`` image embeddings.
        loc: ``(N, d)`` embeddings of their true locations.
        random_loc: ``(N, K, d)`` embeddings of ``K`` random locations per image.
        temperature: ``t`` (> 0).

    Raises:
        ValueError: On shape mismatches or ``t <= 0``.
    """
    if img.ndim != 2 or loc.shape != img.shape:
        raise ValueError(
            f"img and loc must both be (batch, dim), got {tuple(img.shape)} and {tuple(loc.shape)}"
        )
    if random_loc.ndim != 3 or random_loc.shape[0] != img.shape[0]:
        raise ValueError(
            f"random_loc must be (batch, K, dim) = ({img.shape[0]}, K, {img.shape[1]}), got "
            f"{tuple(random_loc.shape)}"
        )
    if random_loc.shape[2] != img.shape[1]:
        raise ValueError(f"random_loc has dim {random_loc.shape[2]} but img has dim {img.shape[1]}")
    _check_temperature(temperature)
    with torch.autocast(device_type=img.device.type, enabled=False):
        u_img = _unit(img)
        positive = (u_img * _unit(loc)).sum(-1, keepdim=True)
        negative = torch.einsum("nd,nkd->nk", u_img, _unit(random_loc))
        logits = torch.cat([positive, negative], dim=1) / temperature
        return F.cross_entropy(logits, torch.zeros(len(img), dtype=torch.long, device=img.device))


def simcse_loss(
    view_a: torch.Tensor, view_b: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """SimCSE loss of two dropout passes of the same locations (mean over the batch).

    ``l_i = -log( e^{s(a_i, b_i)/t} / sum_j e^{s(a_i, b_j)/t} )``.

    Args:
        view_a: ``(N, d)`` first dropout pass.
        view_b: ``(N, d)`` second dropout pass of the same locations.
        temperature: ``t`` (> 0).

    Raises:
        ValueError: On a shape mismatch, a batch below 2 or ``t <= 0``.
    """
    _check_pair(view_a, view_b, ("view_a", "view_b"))
    _check_temperature(temperature)
    return _contrast(view_a, view_b, 0, temperature)


def distributed_simcse_loss(
    view_a: torch.Tensor, view_b: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """:func:`simcse_loss` of the local first views against every process's second views."""
    gathered = gather_with_grad()
    if gathered is None:
        return simcse_loss(view_a, view_b, temperature)
    _check_pair(view_a, view_b, ("view_a", "view_b"))
    _check_temperature(temperature)
    gather, rank = gathered
    return _contrast(view_a, gather(view_b), rank * len(view_a), temperature)


def uniform_sphere_locations(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` locations uniform on the sphere, as ``(n, 2)`` float64 lon/lat degrees.

    ``lon ~ U(-180, 180)`` and ``lat = degrees(arcsin(U(-1, 1)))``: equal areas
    get equal mass (``sin(lat)`` is uniform), unlike ``lat ~ U(-90, 90)``, which
    crowds the poles.

    Args:
        n: Number of locations.
        generator: Source of randomness (CPU generator).
    """
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    lon = u[:, 0] * 360.0 - 180.0
    lat = torch.rad2deg(torch.asin(u[:, 1] * 2.0 - 1.0))
    return torch.stack([lon, lat], dim=1)


def csp_random_locations(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random locations as the public CSP scripts draw them (``sphericalold``).

    With ``u ~ U(-1, 1)`` and ``t ~ U(0, 2 pi)``: ``lon = 180 sqrt(1 - u^2) cos t``,
    ``lat = 90 sqrt(1 - u^2) sin t``, a disc in (lon, lat) degrees, not uniform
    on the sphere (CSP's code calls it the ICCV paper's biased version); returned
    as ``(n, 2)`` float64 lon/lat degrees.

    Args:
        n: Number of locations.
        generator: Source of randomness (CPU generator).
    """
    r = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    u, t = r[:, 0] * 2.0 - 1.0, r[:, 1] * 2.0 * torch.pi
    radius = torch.sqrt(1.0 - u * u)
    return torch.stack([180.0 * radius * torch.cos(t), 90.0 * radius * torch.sin(t)], dim=1)


RANDOM_LOCATION_DRAWS = {"csp": csp_random_locations, "uniform": uniform_sphere_locations}
