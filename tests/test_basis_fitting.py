"""Least squares curve -> coefficients, spline convergence, grid points from samples."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from basis_reference import (
    F64,
    GRID_SIZE,
    WINDOWS,
    assert_close,
    grid_points,
    seeded,
)
from torch import Tensor

from kanphys.basis import (
    bspline_basis,
    curve_to_coefficients,
    get_basis,
    grid_points_from_samples,
    refine_points,
    uniform_knots,
)
from kanphys.errors import ConfigError, NonFiniteError, ShapeError

# --------------------------------------------------------------------------------------------
# least squares: curve_to_coefficients
# --------------------------------------------------------------------------------------------


def family_grid(name: str, grid_size: int, order: int) -> Tensor:
    """A grid with different ranges per input (non-uniform points for B-splines and RBFs)."""
    family = get_basis(name)
    if name == "chebyshev":
        return WINDOWS["shifted"].clone()
    points = grid_points("nonuniform", seed=4, grid_size=family.num_points(grid_size) - 1)
    return family.points_to_grid(points, order)


@pytest.mark.parametrize(
    ("name", "grid_size", "order"),
    [("bspline", 8, 1), ("bspline", 8, 3), ("bspline", 5, 5), ("chebyshev", 6, 0), ("rbf", 8, 0)],
)
def test_curve_to_coefficients_recovers_coefficients_in_the_span(
    name: str, grid_size: int, order: int, tol
) -> None:
    family = get_basis(name)
    grid = family_grid(name, grid_size, order)
    points = family.grid_to_points(grid, order)
    low, high = points[:, 0], points[:, -1]
    x = low + (high - low) * torch.rand(300, 3, dtype=F64, generator=seeded())
    count = family.num_functions(grid_size, order)
    coefficients = torch.randn(3, 2, count, dtype=F64, generator=seeded(1))
    design = family.evaluate(x, grid, grid_size, order, 0).values
    y = torch.einsum("nim,iom->nio", design, coefficients)
    fitted = curve_to_coefficients(x, y, grid, family, grid_size, order)
    assert fitted.shape == (3, 2, count) and fitted.dtype == F64
    for i in range(3):
        kappa = float(np.linalg.cond(design[:, i].numpy()))
        atol = tol.least_squares(F64, kappa, float(coefficients[i].norm(dim=-1).max()))
        assert_close(fitted[i], coefficients[i], atol)


def test_curve_to_coefficients_errors() -> None:
    family = get_basis("bspline")
    grid = uniform_knots(2, 5, 3, dtype=F64)
    x = torch.rand(20, 2, dtype=F64, generator=seeded())
    y = torch.zeros(20, 2, 1, dtype=F64)
    fit = lambda a, b, **kw: curve_to_coefficients(a, b, grid, family, 5, 3, **kw)  # noqa: E731
    with pytest.raises(ShapeError, match=r"x of shape \(N, d\).*received x \(20,\) and y"):
        fit(x[:, 0], y)
    with pytest.raises(
        ShapeError, match=r"y of shape \(N, d, m\); received x \(20, 2\) and y \(20, 2\)"
    ):
        fit(x, y[..., 0])
    with pytest.raises(ShapeError, match=r"received x \(20, 2\) and y \(19, 2, 1\)"):
        fit(x, y[1:])
    bad_x = x.clone()
    bad_x[3, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="x contains 1 NaN or infinite value"):
        fit(bad_x, y)
    bad_y = y.clone()
    bad_y[0, 0, 0], bad_y[5, 1, 0] = float("inf"), float("nan")
    with pytest.raises(NonFiniteError, match="y contains 2 NaN or infinite value"):
        fit(x, bad_y)
    with pytest.raises(ConfigError, match=r"ridge must be >= 0; received -1"):
        fit(x, y, ridge=-1.0)


@pytest.mark.parametrize("order", [2, 3])
def test_spline_fit_converges_at_rate_h_to_the_k_plus_1(order: int, tol) -> None:
    family = get_basis("bspline")
    sizes = [5, 10, 20, 40]
    x_fit = torch.linspace(-1, 1, 2001, dtype=F64)[:, None]
    x_test = torch.linspace(-1, 1, 4003, dtype=F64)[:, None]
    errors = []
    for grid_size in sizes:
        knots = uniform_knots(1, grid_size, order, dtype=F64)
        target = torch.sin(math.pi * x_fit).unsqueeze(-1)
        coefficients = curve_to_coefficients(x_fit, target, knots, family, grid_size, order)
        fitted = bspline_basis(x_test, knots, order).values @ coefficients[0, 0]
        errors.append(float((fitted - torch.sin(math.pi * x_test)).abs().max()))
    rates = tol.observed_orders(sizes, errors)
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert rates.min() > tol.min_spline_rate(order), (errors, rates)
    assert rates.max() < order + 2, (errors, rates)  # not a higher degree than claimed


# --------------------------------------------------------------------------------------------
# grid points from samples, refinement of points
# --------------------------------------------------------------------------------------------


def skewed_samples(count: int = 500) -> Tensor:
    generator = seeded(2)
    normal = 0.3 * torch.randn(count, dtype=F64, generator=generator)
    exponential = -torch.log(torch.rand(count, dtype=F64, generator=generator))
    integers = torch.randint(0, 4, (count,), generator=generator).to(F64)  # many ties
    return torch.stack([normal, exponential, integers], dim=1)


def test_grid_points_without_uniform_part_are_the_sample_quantiles(tol) -> None:
    x = skewed_samples()
    points = grid_points_from_samples(x, 9, uniform_fraction=0.0)
    expected = np.quantile(x.numpy(), np.linspace(0, 1, 9), axis=0).T
    assert_close(points, torch.from_numpy(expected), tol.values(F64, float(x.abs().max())))


def test_grid_points_blend_uniform_and_quantile_points_and_strictly_increase(tol) -> None:
    x = skewed_samples()
    low, high = x.min(dim=0).values, x.max(dim=0).values
    levels = torch.linspace(0, 1, 9, dtype=F64)
    uniform = low[:, None] + (high - low)[:, None] * levels
    quantiles = grid_points_from_samples(x, 9, uniform_fraction=0.0)
    atol = tol.values(F64, float(x.abs().max()))
    assert_close(grid_points_from_samples(x, 9, uniform_fraction=1.0), uniform, atol)
    blended = grid_points_from_samples(x, 9, uniform_fraction=0.3)
    assert_close(blended, 0.3 * uniform + 0.7 * quantiles, atol)
    default = grid_points_from_samples(x, 9)
    assert bool((default.diff(dim=1) > 0).all())  # even for the tied integer column
    assert_close(default[:, [0, -1]], torch.stack([low, high], dim=1), atol)
    widened = grid_points_from_samples(x, 9, uniform_fraction=1.0, margin=0.5)
    assert_close(widened, (low - 0.5)[:, None] + (high - low + 1.0)[:, None] * levels, atol)


@pytest.mark.parametrize("margin", [0.0, 0.5])
@pytest.mark.parametrize("uniform_fraction", [0.0, 0.02, 1.0])
def test_grid_points_of_a_constant_input_span_value_plus_minus_one(
    uniform_fraction: float, margin: float, tol
) -> None:
    x = skewed_samples()
    x[:, 1] = 2.5
    points = grid_points_from_samples(x, 6, uniform_fraction=uniform_fraction, margin=margin)
    assert bool(torch.isfinite(points).all())
    assert_close(points[1], torch.linspace(1.5, 3.5, 6, dtype=F64), tol.values(F64, 3.5))
    assert bool((points[:2].diff(dim=1) > 0).all())


def test_grid_points_errors() -> None:
    x = skewed_samples()
    for bad in (-0.1, 1.5):
        with pytest.raises(
            ConfigError, match=rf"uniform_fraction must be in \[0, 1\]; received {bad}"
        ):
            grid_points_from_samples(x, 6, uniform_fraction=bad)
    with pytest.raises(ShapeError, match=r"samples of shape \(N >= 2, d\); received \(1, 3\)"):
        grid_points_from_samples(x[:1], 6)
    with pytest.raises(ShapeError, match=r"received \(500,\)"):
        grid_points_from_samples(x[:, 0], 6)
    with pytest.raises(ConfigError, match=r"num_points must be an integer >= 2; received 1"):
        grid_points_from_samples(x, 1)
    x[7, 2] = float("nan")
    with pytest.raises(NonFiniteError, match="grid samples contains 1 NaN"):
        grid_points_from_samples(x, 6)


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_refine_points_keeps_old_points_and_interpolates_between(factor: int, tol) -> None:
    points = grid_points("nonuniform")
    fine = refine_points(points, factor * GRID_SIZE + 1)
    assert fine.shape == (3, factor * GRID_SIZE + 1)
    atol = tol.values(F64, 5.0)
    assert_close(fine[:, ::factor], points, atol)
    for r in range(1, factor):
        between = points[:, :-1] + (r / factor) * points.diff(dim=1)
        assert_close(fine[:, r::factor], between, atol)
    assert bool((fine.diff(dim=1) > 0).all())
