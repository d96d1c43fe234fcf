"""Chebyshev and RBF bases against numpy, and what every registered family shares."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from basis_reference import (
    F64,
    FAMILIES,
    WINDOWS,
    assert_close,
    autograd_derivatives,
    central_differences,
    grid_points,
    per_input_tolerance,
    seeded,
)
from numpy.polynomial import chebyshev as npcheb
from torch import Tensor

from kanphys.basis import (
    BASES,
    chebyshev_basis,
    get_basis,
    rbf_basis,
    register_basis,
)
from kanphys.errors import ConfigError
from kanphys.layers import initial_grid

# --------------------------------------------------------------------------------------------
# Chebyshev
# --------------------------------------------------------------------------------------------

DEGREE = 7


def chebyshev_samples(window: Tensor, count: int = 60, seed: int = 0) -> Tensor:
    low, high = window[:, 0], window[:, 1]
    fraction = 3 * torch.rand(count, window.shape[0], dtype=F64, generator=seeded(seed)) - 1
    return low + (high - low) * fraction  # the window and as much again on each side


def chebyshev_reference(x: Tensor, window: Tensor, degree: int) -> tuple[Tensor, Tensor, Tensor]:
    """Values and x-derivatives of T_n(tanh((x - c)/s)) with numpy's chebvander/chebder."""
    centre = 0.5 * (window[:, 0] + window[:, 1]).numpy()
    half = 0.5 * (window[:, 1] - window[:, 0]).numpy()
    z = np.tanh((x.numpy() - centre) / half)
    units = np.eye(degree + 1)
    d1 = np.stack([npcheb.chebval(z, npcheb.chebder(u)) for u in units], axis=-1)
    d2 = np.stack([npcheb.chebval(z, npcheb.chebder(u, 2)) for u in units], axis=-1)
    dz = ((1 - z * z) / half)[..., None]
    d2z = (-2 * z * (1 - z * z) / half**2)[..., None]
    values = npcheb.chebvander(z, degree)
    return tuple(torch.from_numpy(a) for a in (values, d1 * dz, d2 * dz**2 + d1 * d2z))


@pytest.mark.parametrize("window_name", sorted(WINDOWS))
def test_chebyshev_values_match_numpy(window_name: str, tol) -> None:
    window = WINDOWS[window_name]
    x = chebyshev_samples(window)
    values = chebyshev_basis(x, window, DEGREE).values
    assert values.shape == (x.shape[0], 3, DEGREE + 1)
    assert_close(values, chebyshev_reference(x, window, DEGREE)[0], tol.values(F64))


@pytest.mark.parametrize("window_name", sorted(WINDOWS))
def test_chebyshev_derivatives_match_numpy_and_autograd(window_name: str, tol) -> None:
    window = WINDOWS[window_name]
    x = chebyshev_samples(window)
    basis = chebyshev_basis(x, window, DEGREE, derivatives=2)
    _, first_np, second_np = chebyshev_reference(x, window, DEGREE)
    first_ag, second_ag = autograd_derivatives(
        lambda z: chebyshev_basis(z, window, DEGREE).values, x
    )
    for actual, references in (
        (basis.first, (first_np, first_ag)),
        (basis.second, (second_np, second_ag)),
    ):
        for expected in references:
            assert_close(actual, expected, per_input_tolerance(tol.derivatives, expected))


def nth_derivative_bound(fn: Callable[[Tensor], Tensor], x: Tensor, order: int) -> Tensor:
    """Per-input max over x of |d^order fn / dx^order| (all functions), by nested autograd."""
    x = x.detach().clone().requires_grad_(True)
    values = fn(x)
    bound = torch.zeros(x.shape[1], dtype=x.dtype)
    for m in range(values.shape[-1]):
        current = values[..., m]
        for _ in range(order):
            (current,) = torch.autograd.grad(current.sum(), x, create_graph=True)
        bound = torch.maximum(bound, current.detach().abs().max(dim=0).values)
    return bound


@pytest.mark.parametrize("window_name", sorted(WINDOWS))
def test_chebyshev_derivatives_match_central_differences(window_name: str, tol) -> None:
    window = WINDOWS[window_name]
    x = chebyshev_samples(window)
    fn = lambda z: chebyshev_basis(z, window, DEGREE).values  # noqa: E731
    dense = chebyshev_samples(window, count=1000, seed=1)
    basis = chebyshev_basis(x, window, DEGREE, derivatives=2)
    for nu, actual in ((1, basis.first), (2, basis.second)):
        bound = nth_derivative_bound(fn, dense, nu + 2)
        pairs = [
            tol.central_difference(nu, value_bound=1.0, derivative_bound=float(b), max_step=1e-2)
            for b in bound
        ]
        step = torch.tensor([h for h, _ in pairs], dtype=F64)
        errors = torch.tensor([e for _, e in pairs], dtype=F64)[:, None]
        assert_close(actual, central_differences(fn, x, step)[nu - 1], errors)


# --------------------------------------------------------------------------------------------
# Gaussian RBFs
# --------------------------------------------------------------------------------------------


def rbf_centres() -> Tensor:
    """Uniform centres on input 0, random sorted centres on inputs 1 and 2."""
    points = grid_points("nonuniform", seed=3, grid_size=6)
    points[0] = torch.linspace(-1, 1, 7, dtype=F64)
    return points


def test_rbf_values_match_numpy(tol) -> None:
    centres = rbf_centres()
    x = chebyshev_samples(centres[:, [0, -1]])
    values = rbf_basis(x, centres).values
    c = centres.numpy()
    width = (c[:, -1] - c[:, 0]) / (c.shape[1] - 1)
    expected = np.exp(-(((x.numpy()[..., None] - c) / width[:, None]) ** 2))
    assert_close(values, torch.from_numpy(expected), tol.values(F64))


def test_rbf_derivatives_match_autograd(tol) -> None:
    centres = rbf_centres()
    x = chebyshev_samples(centres[:, [0, -1]])
    basis = rbf_basis(x, centres, derivatives=2)
    first, second = autograd_derivatives(lambda z: rbf_basis(z, centres).values, x)
    assert_close(basis.first, first, per_input_tolerance(tol.derivatives, first))
    assert_close(basis.second, second, per_input_tolerance(tol.derivatives, second))


# --------------------------------------------------------------------------------------------
# every family: registry, dtype, grid conversions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("name", FAMILIES)
def test_dtype_in_dtype_out(name: str, dtype: torch.dtype, tol) -> None:
    family = get_basis(name)
    grid = initial_grid(name, 3, 6, 3, (-1.0, 1.0), dtype=dtype)
    x = 2.4 * torch.rand(50, 3, dtype=F64, generator=seeded()) - 1.2
    result = family.evaluate(x.to(dtype), grid, 6, 3, 2)
    for tensor in result:
        assert tensor.dtype == dtype
        assert tensor.shape == (50, 3, family.num_functions(6, 3))
    if dtype == torch.float32:  # and agrees with float64 to float32 accuracy
        exact = family.evaluate(x.to(dtype).to(F64), grid.to(F64), 6, 3, 2)
        for nu, (actual, expected) in enumerate(zip(result, exact, strict=True)):
            scale = float(expected.abs().max())
            atol = tol.values(dtype, scale) if nu == 0 else tol.derivatives(dtype, scale)
            assert_close(actual.to(F64), expected, atol)


@pytest.mark.parametrize("name", FAMILIES)
def test_family_grid_conversions_round_trip(name: str) -> None:
    family = get_basis(name)
    grid_size, order = 6, 2
    grid = initial_grid(name, 3, grid_size, order, (-1.0, 2.0), dtype=F64)
    points = family.grid_to_points(grid, order)
    assert points.shape == (3, family.num_points(grid_size))
    assert float(points[0, 0]) == -1.0 and float(points[0, -1]) == 2.0
    assert torch.equal(family.points_to_grid(points, order), grid)
    assert family.evaluate(points.T[:2], grid, grid_size, order, 0).values.shape[-1] == (
        family.num_functions(grid_size, order)
    )


def test_get_basis_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(
        ConfigError, match=r"basis must be one of \[.*'bspline'.*\]; received 'nope'"
    ):
        get_basis("nope")
    with pytest.raises(ConfigError, match=r"'chebyshev'.*'rbf'.*received 3"):
        get_basis(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"received \['bspline'\]"):
        get_basis(["bspline"])  # type: ignore[arg-type]


def test_register_basis_rejects_a_taken_name() -> None:
    before = dict(BASES)
    with pytest.raises(ConfigError, match="basis 'bspline' is already registered"):
        register_basis(BASES["bspline"])
    assert BASES == before


def test_family_check_errors() -> None:
    with pytest.raises(ConfigError, match="grid_size must be an integer >= 1; received 0"):
        get_basis("bspline").check(0, 3)
    with pytest.raises(ConfigError, match="grid_size must be an integer >= 2; received 1"):
        get_basis("rbf").check(1, 3)
    with pytest.raises(ConfigError, match="grid_size must be an integer >= 1; received True"):
        get_basis("chebyshev").check(True, 3)
    with pytest.raises(ConfigError, match="spline_order must be an integer >= 0; received -1"):
        get_basis("bspline").check(5, -1)
