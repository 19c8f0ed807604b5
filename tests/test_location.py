"""Location encoders: shapes, exact encodings, continuity and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stcrl_core.models.location import (
    ENCODINGS,
    LocationEncoder,
    LocationError,
    LocationMLP,
    PositionEncoding,
    check_lonlat,
    scale_radii,
)

POINTS = torch.tensor([[-85.66, 30.16], [119.87, -0.9], [0.0, 0.0], [179.5, 89.0]])


@pytest.mark.parametrize(("kind", "per_scale"), [("grid", 4), ("theory", 6), ("wrap", 4),
                                                 ("sphere", 3)])  # fmt: skip
def test_shapes(kind: str, per_scale: int) -> None:
    torch.manual_seed(0)
    position = PositionEncoding(kind, frequencies=8)
    assert position(POINTS).shape == (4, 8 * per_scale) and position.out_dim == 8 * per_scale
    encoder = LocationEncoder(kind, frequencies=8).eval()
    out = encoder(POINTS)
    assert out.shape == (4, 256) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_scales_are_geometric_from_min_to_max() -> None:
    radii = scale_radii(32, 0.1, 360.0)
    assert radii[0] == pytest.approx(0.1) and radii[-1] == pytest.approx(360.0)
    assert np.allclose(radii[1:] / radii[:-1], (3600.0) ** (1 / 31))
    assert scale_radii(1, 2.0, 5.0).tolist() == [2.0]
    with pytest.raises(ValueError, match="min_radius"):
        scale_radii(4, 0.0, 1.0)


def test_grid_and_theory_match_the_formulas() -> None:
    lon, lat = 12.5, -33.0
    x = torch.tensor([[lon, lat]])
    f = [1.0, 0.1]  # radii 1 and 10 degrees
    grid = PositionEncoding("grid", 2, 1.0, 10.0)(x)[0].double()
    angles = [lon * f[0], lon * f[1], lat * f[0], lat * f[1]]
    expected = [math.sin(a) for a in angles] + [math.cos(a) for a in angles]
    assert torch.allclose(grid, torch.tensor(expected, dtype=torch.float64), atol=1e-6)
    theory = PositionEncoding("theory", 2, 1.0, 10.0)(x)[0].double()
    units = [(1.0, 0.0), (-0.5, math.sqrt(3) / 2), (-0.5, -math.sqrt(3) / 2)]
    angles = [(lon * a + lat * b) * fs for a, b in units for fs in f]
    expected = [math.sin(a) for a in angles] + [math.cos(a) for a in angles]
    assert torch.allclose(theory, torch.tensor(expected, dtype=torch.float64), atol=1e-6)


def test_sphere_coarsest_scale_is_the_unit_vector_and_wrap_is_mac_aodha() -> None:
    lon, lat = -120.0, 40.0
    phi, lam = math.radians(lat), math.radians(lon)
    sphere = PositionEncoding("sphere", 1, 360.0, 360.0)(torch.tensor([[lon, lat]]))[0].double()
    unit = [math.sin(phi), math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam)]
    assert torch.allclose(sphere, torch.tensor(unit, dtype=torch.float64), atol=1e-6)
    assert float(sphere.norm()) == pytest.approx(1.0, abs=1e-6)
    wrap = PositionEncoding("wrap", 1, 360.0, 360.0)(torch.tensor([[lon, lat]]))[0].double()
    mac_aodha = [math.sin(math.pi * lon / 180), math.sin(math.pi * lat / 90),
                 math.cos(math.pi * lon / 180), math.cos(math.pi * lat / 90)]  # fmt: skip
    assert torch.allclose(wrap, torch.tensor(mac_aodha, dtype=torch.float64), atol=1e-6)


@pytest.mark.parametrize("kind", ENCODINGS)
def test_nearby_points_are_close_and_far_points_differ(kind: str) -> None:
    torch.manual_seed(1)
    encoder = LocationEncoder(kind, frequencies=16, min_radius=0.01).eval()
    base = torch.tensor([[-85.66, 30.16], [119.87, -0.9], [10.0, 50.0]])
    near = base + 1e-6
    far = torch.tensor([[-20.0, -40.0], [60.0, 10.0], [-150.0, 70.0]])
    with torch.no_grad():
        e_base, e_near, e_far = encoder(base), encoder(near), encoder(far)
    d_near = (e_base - e_near).norm(dim=1)
    d_far = (e_base - e_far).norm(dim=1)
    assert (d_near < 1e-3 * d_far).all(), (kind, d_near, d_far)
    # continuity at every scale: the position encoding moves by about |freq| * step
    position = encoder.position
    step = (position(base + 1e-6) - position(base)).abs().max()
    assert float(step) < 1e-6 * float(position.freq.max()) * 2 + 1e-6


def test_wrap_is_continuous_across_the_antimeridian() -> None:
    position = PositionEncoding("wrap", frequencies=16, min_radius=0.01)
    east = position(torch.tensor([[179.99999, 10.0]]))
    west = position(torch.tensor([[-179.99999, 10.0]]))
    grid = PositionEncoding("grid", frequencies=16, min_radius=0.01)
    gap = grid(torch.tensor([[179.99999, 10.0]])) - grid(torch.tensor([[-179.99999, 10.0]]))
    assert float((east - west).abs().max()) < 1e-2
    assert float(gap.abs().max()) > 0.5  # the plain grid encoding jumps there


def test_mlp_has_layernorm_skip_and_dropout() -> None:
    torch.manual_seed(0)
    mlp = LocationMLP(16, hidden=32, out_dim=8, layers=2, dropout=0.5)
    blocks = list(mlp)
    assert not blocks[0].skip and blocks[1].skip
    assert isinstance(blocks[0].norm, torch.nn.LayerNorm)
    x = torch.randn(5, 16)
    mlp.train()
    assert not torch.allclose(mlp(x), mlp(x))  # two dropout passes differ (SimCSE views)
    mlp.eval()
    assert torch.equal(mlp(x), mlp(x))
    with pytest.raises(ValueError, match="hidden layer"):
        LocationMLP(16, layers=0)


def test_bad_coordinates_get_clear_errors() -> None:
    encoder = LocationEncoder(frequencies=4)
    with pytest.raises(LocationError, match="NaN"):
        encoder(torch.tensor([[0.0, 0.0], [float("nan"), 1.0]]))
    with pytest.raises(LocationError, match=r"lon in \[-180, 180\]"):
        encoder(torch.tensor([[200.0, 10.0]]))
    with pytest.raises(LocationError, match="swapped"):
        check_lonlat(np.array([[10.0, 95.0]]), "buildings.parquet")
    with pytest.raises(LocationError, match=r"buildings\.parquet: row 0"):
        check_lonlat(np.array([[10.0, -91.0]]), "buildings.parquet")
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        encoder(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="unknown location encoding"):
        PositionEncoding("hexagon")
    check_lonlat(np.array([[-180.0, -90.0], [180.0, 90.0]]))  # the limits are valid


def _reference_csp_mlp(x: torch.Tensor, mlp: LocationMLP) -> torch.Tensor:
    """The public CSP code's MLP written out by hand from its layers' weights (eval mode):
    hidden ``LayerNorm(x + act(Wx + b))`` (skip when sizes match), output ``act(W h + b)``."""

    def leaky(v: torch.Tensor) -> torch.Tensor:
        return torch.where(v > 0, v, 0.2 * v)

    h = x
    for block in list(mlp)[:-1]:
        out = leaky(h @ block.linear.weight.T + block.linear.bias)
        h = torch.nn.functional.layer_norm(
            h + out if block.skip else out, (out.shape[1],), block.norm.weight, block.norm.bias
        )
    last = list(mlp)[-1]
    return leaky(h @ last.linear.weight.T + last.linear.bias)


def test_csp_mlp_is_the_public_codes() -> None:
    """Activation and dropout on the output, no LayerNorm there, Xavier-uniform weights."""
    torch.manual_seed(0)
    mlp = LocationMLP(16, hidden=32, out_dim=8, layers=2, dropout=0.5).eval()
    x = torch.randn(6, 16)
    torch.testing.assert_close(mlp(x), _reference_csp_mlp(x, mlp))
    w = mlp[0].linear.weight
    bound = (6 / (w.shape[0] + w.shape[1])) ** 0.5
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.8 * bound
    assert not isinstance(list(mlp)[-1], torch.nn.Linear)
    mlp.train()
    assert (mlp(x) == 0).float().mean() > 0.2  # dropout acts on the output too


def test_earlier_mlp_keeps_its_layout_for_old_runs() -> None:
    """``stcrl-v1``: ReLU and a plain linear output, so old checkpoints load unchanged."""
    old = LocationMLP(16, hidden=32, out_dim=8, layers=1, dropout=0.5, kind="stcrl-v1")
    assert isinstance(list(old)[-1], torch.nn.Linear)
    assert sorted(old.state_dict()) == ["0.linear.bias", "0.linear.weight", "0.norm.bias",
                                        "0.norm.weight", "1.bias", "1.weight"]  # fmt: skip
    with pytest.raises(ValueError, match="location MLP"):
        LocationMLP(16, kind="mystery")
