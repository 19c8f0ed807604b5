"""Location encoders: multi-scale sinusoids of lon/lat followed by an MLP.

Used by CSP (Mai et al., "CSP: Self-Supervised Contrastive Spatial
Pre-Training for Geospatial-Visual Representations", ICML 2023, seed 002). A
location encoder maps ``(lon, lat)`` in degrees to an embedding in two steps:

1. a fixed *position encoding* at ``S`` scales ``r_s = min_radius *
   (max_radius / min_radius) ** (s / (S - 1))`` (degrees), ``s = 0 .. S-1``:

   * ``grid`` (Space2Vec-grid): ``sin`` and ``cos`` of ``lon / r_s`` and
     ``lat / r_s``; ``4 S`` features.
   * ``theory`` (Space2Vec-theory): ``sin`` and ``cos`` of the projections of
     ``(lon, lat)`` on three unit vectors 120 degrees apart, divided by ``r_s``;
     ``6 S`` features.
   * ``wrap``: the "wrap" encoding of Mac Aodha et al. (2019),
     ``sin``/``cos`` of ``pi * lon / 180`` and ``pi * lat / 90``, taken at ``S``
     integer harmonics ``m_s`` (the scale's frequency rounded to whole cycles
     per circle, at least 1) so every feature stays periodic across the
     antimeridian; ``4 S`` features (``m = 1`` is exactly Mac Aodha's wrap).
   * ``sphere`` (Sphere2Vec "sphereC"): with ``phi``/``lam`` the latitude and
     longitude in radians and ``w_s = max_radius / r_s`` (1 .. max/min),
     ``[sin(w_s phi), cos(w_s phi) cos(w_s lam), cos(w_s phi) sin(w_s lam)]``;
     ``3 S`` features. At ``w = 1`` this is the point's 3-D unit vector, so the
     coarsest scale is continuous over the whole sphere, poles included.
     TorchSpatial's sphereC takes ``w_s = 1 / r_s`` instead, so this ``sphere``
     with ``(min_radius, max_radius) = (m, M)`` equals TorchSpatial's with
     ``(m / M, 1)``: our default (0.1, 360) is theirs with (2.78e-4, 1), inside
     the range of their tuned scripts (``M = 1``, ``m`` 1e-4 to 1e-3). With
     ``max_radius = 1`` the two coincide.

   ``grid`` and ``theory`` equal gengchenmai/csp's and TorchSpatial's up to a
   fixed order of the features (checked to 3e-8).

2. an MLP (:class:`LocationMLP`), as the public CSP code builds it
   (``kind="csp"``, the default): hidden blocks ``LayerNorm(x + Dropout(act(
   Linear(x))))`` (the skip only where sizes match), then an output block
   ``Dropout(act(Linear(h)))`` with no LayerNorm, Xavier-uniform weights; the
   activation LeakyReLU(0.2) by default (the code's default; its fMoW script
   uses GELU); 32 frequencies, min radius 0.1, max radius 360, one hidden
   layer of 512, output 256, dropout 0.5. ``kind="stcrl-v1"`` is this project's
   earlier MLP (ReLU, PyTorch's default initialisation, a plain linear output
   layer), kept so that runs trained with it load and embed as they were.

Inputs are validated: lon in [-180, 180], lat in [-90, 90], no NaN.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from stcrl_core.errors import StcrlError

ENCODINGS = ("grid", "theory", "wrap", "sphere")
# features per scale of each position encoding
FEATURES_PER_SCALE = {"grid": 4, "theory": 6, "wrap": 4, "sphere": 3}


class LocationError(StcrlError):
    """Coordinates outside lon [-180, 180] / lat [-90, 90], or NaN."""


def check_lonlat(lonlat: torch.Tensor | np.ndarray, what: str = "locations") -> None:
    """Raise a clear error unless ``lonlat`` is ``(N, 2)`` lon/lat degrees in range.

    Args:
        lonlat: ``(N, 2)`` array of ``(lon, lat)`` in degrees.
        what: What the coordinates are (named in the error, e.g. a file).

    Raises:
        ValueError: If the shape is not ``(N, 2)``.
        LocationError: On NaN, lon outside [-180, 180] or lat outside [-90, 90].
    """
    arr = lonlat.detach().cpu().numpy() if isinstance(lonlat, torch.Tensor) else np.asarray(lonlat)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{what} must be (N, 2) lon/lat pairs, got shape {arr.shape}")
    if arr.size == 0:
        return
    if np.isnan(arr).any():
        bad = int(np.flatnonzero(np.isnan(arr).any(axis=1))[0])
        raise LocationError(
            f"{what}: row {bad} has a NaN coordinate; drop or fix the buildings without a position"
        )
    lon, lat = arr[:, 0], arr[:, 1]
    if np.abs(lon).max() > 180 or np.abs(lat).max() > 90:
        bad = int(np.flatnonzero((np.abs(lon) > 180) | (np.abs(lat) > 90))[0])
        raise LocationError(
            f"{what}: row {bad} is ({lon[bad]}, {lat[bad]}); need lon in [-180, 180] and lat "
            "in [-90, 90] degrees (are lon and lat swapped, or the coordinates projected?)"
        )


def scale_radii(frequencies: int, min_radius: float, max_radius: float) -> np.ndarray:
    """The ``S`` geometric scales ``r_s`` in degrees, finest first.

    Raises:
        ValueError: Unless ``frequencies >= 1`` and ``0 < min_radius <= max_radius``.
    """
    if frequencies < 1 or not 0 < min_radius <= max_radius:
        raise ValueError(
            f"need frequencies >= 1 and 0 < min_radius <= max_radius, got {frequencies}, "
            f"{min_radius}, {max_radius}"
        )
    if frequencies == 1:
        return np.array([min_radius], dtype=np.float64)
    s = np.arange(frequencies, dtype=np.float64)
    return min_radius * np.exp(s * math.log(max_radius / min_radius) / (frequencies - 1))


class PositionEncoding(nn.Module):
    """Fixed multi-scale sinusoidal encoding of ``(lon, lat)`` degrees (no parameters).

    Args:
        kind: ``grid``, ``theory``, ``wrap`` or ``sphere`` (see the module docstring).
        frequencies: Number of scales ``S``.
        min_radius: Finest scale in degrees.
        max_radius: Coarsest scale in degrees.
    """

    def __init__(
        self, kind: str = "grid", frequencies: int = 32, min_radius: float = 0.1,
        max_radius: float = 360.0,
    ) -> None:  # fmt: skip
        super().__init__()
        if kind not in ENCODINGS:
            raise ValueError(f"unknown location encoding {kind!r}; choose from {ENCODINGS}")
        self.kind = kind
        radii = scale_radii(frequencies, min_radius, max_radius)
        if kind == "wrap":
            # whole cycles per circle of the scale's frequency 1 / r_s (rad per degree)
            freq = np.maximum(np.rint(360.0 / (2 * math.pi * radii)), 1.0)
        elif kind == "sphere":
            freq = max_radius / radii
        else:
            freq = 1.0 / radii
        self.register_buffer("freq", torch.tensor(freq, dtype=torch.float64), persistent=False)
        self.out_dim = FEATURES_PER_SCALE[kind] * frequencies

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        """``(N, 2)`` lon/lat degrees -> ``(N, out_dim)`` float32 features.

        Computed in float64 (fine scales of large angles lose precision in
        float32) and returned as float32.
        """
        check_lonlat(lonlat)
        x = lonlat.to(torch.float64)
        lon, lat = x[:, :1], x[:, 1:]
        f = self.freq.to(x.device)
        if self.kind == "grid":
            angles = torch.cat([lon * f, lat * f], dim=1)
            out = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
        elif self.kind == "theory":
            s3 = math.sqrt(3) / 2
            proj = [lon, -0.5 * lon + s3 * lat, -0.5 * lon - s3 * lat]
            angles = torch.cat([p * f for p in proj], dim=1)
            out = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
        elif self.kind == "wrap":
            angles = torch.cat([torch.deg2rad(lon) * f, torch.deg2rad(2 * lat) * f], dim=1)
            out = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
        else:
            phi, lam = torch.deg2rad(lat) * f, torch.deg2rad(lon) * f
            out = torch.cat(
                [torch.sin(phi), torch.cos(phi) * torch.cos(lam), torch.cos(phi) * torch.sin(lam)],
                dim=1,
            )
        return out.float()


ACTIVATIONS = ("relu", "leakyrelu", "gelu")
MLP_KINDS = ("csp", "stcrl-v1")


def activation(name: str) -> nn.Module:
    """The activation module of ``name`` (LeakyReLU with slope 0.2, as CSP's code)."""
    if name == "relu":
        return nn.ReLU()
    if name == "leakyrelu":
        return nn.LeakyReLU(0.2)
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")


class HiddenBlock(nn.Module):
    """``LayerNorm(skip + Dropout(act(Linear(x))))``; the skip only when sizes match."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float, act: str = "relu") -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.act = activation(act)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(out_dim)
        self.skip = in_dim == out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.act(self.linear(x)))
        return self.norm(x + h if self.skip else h)


class OutputBlock(nn.Module):
    """CSP's last block: ``Dropout(act(Linear(h)))``, no LayerNorm and no skip."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float, act: str) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.act = activation(act)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.act(self.linear(h)))


class LocationMLP(nn.Sequential):
    """Hidden blocks (:class:`HiddenBlock`) then the output block.

    Args:
        in_dim: Size of the position encoding.
        hidden: Width of the hidden layers.
        out_dim: Size of the location embedding.
        layers: Number of hidden layers (the first has no skip: sizes differ).
        dropout: Dropout probability after each activation.
        act: ``relu``, ``leakyrelu`` or ``gelu``.
        kind: ``csp`` (the public CSP code: :class:`OutputBlock`, Xavier-uniform
            weights) or ``stcrl-v1`` (ReLU, a plain linear output layer, PyTorch's
            default initialisation; for runs trained before the MLP followed CSP).
    """

    def __init__(
        self, in_dim: int, hidden: int = 512, out_dim: int = 256, layers: int = 1,
        dropout: float = 0.5, act: str = "leakyrelu", kind: str = "csp",
    ) -> None:  # fmt: skip
        if layers < 1:
            raise ValueError(f"need at least one hidden layer, got {layers}")
        if kind not in MLP_KINDS:
            raise ValueError(f"unknown location MLP {kind!r}; choose from {', '.join(MLP_KINDS)}")
        if kind == "stcrl-v1":
            act = "relu"
        blocks: list[nn.Module] = [HiddenBlock(in_dim, hidden, dropout, act)]
        blocks += [HiddenBlock(hidden, hidden, dropout, act) for _ in range(layers - 1)]
        last = (
            OutputBlock(hidden, out_dim, dropout, act)
            if kind == "csp"
            else nn.Linear(hidden, out_dim)
        )
        super().__init__(*blocks, last)
        if kind == "csp":
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight)
                    nn.init.zeros_(module.bias)


class LocationEncoder(nn.Module):
    """A position encoding followed by an MLP: ``(N, 2)`` lon/lat -> ``(N, out_dim)``.

    Args:
        kind: ``grid``, ``theory``, ``wrap`` or ``sphere``.
        frequencies: Number of scales ``S`` (32 in CSP).
        min_radius: Finest scale in degrees (0.1 in CSP).
        max_radius: Coarsest scale in degrees (360 in CSP).
        hidden: Hidden width (512).
        out_dim: Embedding size (256).
        layers: Hidden layers (1).
        dropout: Dropout probability (0.5); it also makes CSP's SimCSE views.
        act: Activation of the MLP (``leakyrelu``, as CSP's code).
        mlp: ``csp`` or ``stcrl-v1`` (see :class:`LocationMLP`).
    """

    def __init__(
        self, kind: str = "grid", frequencies: int = 32, min_radius: float = 0.1,
        max_radius: float = 360.0, hidden: int = 512, out_dim: int = 256, layers: int = 1,
        dropout: float = 0.5, act: str = "leakyrelu", mlp: str = "csp",
    ) -> None:  # fmt: skip
        super().__init__()
        self.position = PositionEncoding(kind, frequencies, min_radius, max_radius)
        self.mlp = LocationMLP(self.position.out_dim, hidden, out_dim, layers, dropout, act, mlp)
        self.out_dim = out_dim

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        """Embed ``(N, 2)`` lon/lat degrees; raises :class:`LocationError` on bad input."""
        return self.mlp(self.position(lonlat))
