"""B-splines against scipy: values, partition of unity, closed-form derivatives."""

from __future__ import annotations

import pytest
import torch
from basis_reference import (
    F64,
    GRID_SIZE,
    KNOT_KINDS,
    ORDERS,
    assert_close,
    autograd_derivatives,
    central_differences,
    grid_points,
    per_input,
    per_input_tolerance,
    sample_between_knots,
    sample_everywhere,
    scipy_basis,
    seeded,
)

from kanphys.basis import (
    bspline_basis,
    extend_knots,
    interior_points,
    uniform_knots,
)

# --------------------------------------------------------------------------------------------
# B-splines
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KNOT_KINDS)
@pytest.mark.parametrize("order", ORDERS)
def test_bspline_values_match_scipy(kind: str, order: int, tol) -> None:
    knots = extend_knots(grid_points(kind), order)
    x = sample_everywhere(knots, order)
    values = bspline_basis(x, knots, order).values
    assert values.shape == (x.shape[0], 3, GRID_SIZE + order)
    assert_close(values, scipy_basis(knots, order, x), tol.values(F64))


@pytest.mark.parametrize("kind", KNOT_KINDS)
@pytest.mark.parametrize("order", ORDERS)
def test_bspline_partition_of_unity_on_grid_range(kind: str, order: int, tol) -> None:
    points = grid_points(kind)
    knots = extend_knots(points, order)
    low, high = points[:, 0], points[:, -1]
    inside = low + (high - low) * torch.rand(200, 3, dtype=F64, generator=seeded())
    ends = [low, high] if order >= 1 else [low]  # for order 0 the last point is the last knot
    x = torch.cat([inside, torch.stack(ends)])
    total = bspline_basis(x, knots, order).values.sum(dim=-1)
    assert_close(total, torch.ones_like(total), tol.values(F64))
    if order >= 1:  # half an extension step outside, a B-spline of the full set is missing
        step = (high - low) / GRID_SIZE
        outside = torch.stack([low - step / 2, high + step / 2])
        missing = 1 - bspline_basis(outside, knots, order).values.sum(dim=-1)
        assert bool((missing > 1e3 * tol.values(F64)).all())


def test_bspline_order_zero_covers_the_last_grid_point(tol) -> None:
    points = grid_points("uniform")
    values = bspline_basis(points[:, -1:].T, extend_knots(points, 0), 0).values
    assert_close(values.sum(dim=-1), torch.ones(1, 3, dtype=F64), tol.values(F64))


def test_bspline_intervals_are_half_open_except_the_last() -> None:
    knots = extend_knots(grid_points("nonuniform"), 0)
    at_knots = knots.T.contiguous()  # row j holds knot j of every input
    values = bspline_basis(at_knots, knots, 0).values
    expected = torch.eye(GRID_SIZE + 1, GRID_SIZE, dtype=F64)
    expected[-1, -1] = 1.0  # the last interval is closed: the last knot belongs to it
    # B_j(t_j) = 1 and B_{j-1}(t_j) = 0: intervals are [t_j, t_{j+1}) ...
    assert torch.equal(values, expected.unsqueeze(1).expand(-1, 3, -1))
    beyond = knots[:, -1:].T + 1e-12
    assert torch.count_nonzero(bspline_basis(beyond, knots, 0).values) == 0  # ... and end there


@pytest.mark.parametrize("kind", KNOT_KINDS)
@pytest.mark.parametrize("order", ORDERS)
def test_bspline_derivatives_match_scipy(kind: str, order: int, tol) -> None:
    knots = extend_knots(grid_points(kind), order)
    x, _ = sample_between_knots(knots)
    basis = bspline_basis(x, knots, order, derivatives=2)
    for nu, actual in ((1, basis.first), (2, basis.second)):
        expected = scipy_basis(knots, order, x, nu)
        assert_close(actual, expected, per_input_tolerance(tol.derivatives, expected))


@pytest.mark.parametrize("order", ORDERS)
def test_bspline_derivatives_match_central_differences(order: int, tol) -> None:
    knots = extend_knots(grid_points("nonuniform"), order)
    x, gap = sample_between_knots(knots)
    dense = per_input([torch.linspace(float(t[0]), float(t[-1]), 3001, dtype=F64) for t in knots])
    steps, bounds = {1: [], 2: []}, {1: [], 2: []}
    for i in range(knots.shape[0]):  # per input: spacings, hence derivative bounds, differ
        for nu in (1, 2):
            bound = float(
                scipy_basis(knots[i : i + 1], order, dense[:, i : i + 1], nu + 2).abs().max()
            )
            h, error = tol.central_difference(
                nu, value_bound=1.0, derivative_bound=bound, max_step=float(gap[i]) / 2
            )
            steps[nu].append(h)
            bounds[nu].append(error)
    basis = bspline_basis(x, knots, order, derivatives=2)
    fn = lambda z: bspline_basis(z, knots, order).values  # noqa: E731
    for nu, actual in ((1, basis.first), (2, basis.second)):
        step = torch.tensor(steps[nu], dtype=F64)
        differences = central_differences(fn, x, step)[nu - 1]
        assert_close(actual, differences, torch.tensor(bounds[nu], dtype=F64)[:, None])


@pytest.mark.parametrize("order", ORDERS)
def test_bspline_derivatives_match_autograd(order: int, tol) -> None:
    knots = extend_knots(grid_points("nonuniform"), order)
    x, _ = sample_between_knots(knots)
    basis = bspline_basis(x, knots, order, derivatives=2)
    first, second = autograd_derivatives(lambda z: bspline_basis(z, knots, order).values, x)
    assert_close(basis.first, first, per_input_tolerance(tol.derivatives, first))
    assert_close(basis.second, second, per_input_tolerance(tol.derivatives, second))


@pytest.mark.parametrize("order", ORDERS)
def test_extend_knots_adds_mean_spacing_and_inverts(order: int, tol) -> None:
    points = grid_points("nonuniform")
    knots = extend_knots(points, order)
    assert knots.shape == (3, GRID_SIZE + 2 * order + 1)
    assert torch.equal(interior_points(knots, order), points)
    spacing = (points[:, -1:] - points[:, :1]) / GRID_SIZE
    steps = torch.cat([knots[:, : order + 1].diff(dim=1), knots[:, -order - 1 :].diff(dim=1)], 1)
    assert_close(steps, spacing.expand_as(steps), tol.values(F64, 5.0))
    uniform = uniform_knots(2, 4, order, (-1.0, 3.0), dtype=F64)
    assert_close(
        uniform,
        (torch.arange(-order, 5 + order, dtype=F64) - 1).expand(2, -1),
        tol.values(F64, 5.0),
    )


def test_uniform_fast_path_locates_the_same_intervals_as_a_search() -> None:
    """The floor-and-correct interval search of nearly uniform grids equals searchsorted."""
    from kanphys.basis.bspline import _locate, _nearly_uniform

    knots = uniform_knots(3, 7, 3, (-1.0, 2.0), dtype=F64)
    jitter = torch.rand(knots.shape, dtype=F64, generator=seeded(3)) * 0.2 - 0.1
    for grid in (knots, knots + jitter * (knots[:, 1:2] - knots[:, :1])):
        assert _nearly_uniform(grid)
        x = torch.cat(
            [
                torch.rand(400, 3, dtype=F64, generator=seeded(4)) * 5 - 2.5,
                grid.T.contiguous(),  # exactly on every knot
                torch.nextafter(grid, torch.full_like(grid, -10)).T.contiguous(),  # just below
            ]
        )
        flat = grid.reshape(-1)
        rows = (torch.arange(3) * grid.shape[-1]).expand_as(x)
        fast, inside = _locate(x, grid, flat, rows)
        searched = torch.searchsorted(grid[:, :-1].contiguous(), x.T.contiguous(), right=True).T - 1
        assert torch.equal(fast, searched.clamp(0, grid.shape[-1] - 2))
        assert torch.equal(inside, (x >= grid[:, 0]) & (x <= grid[:, -1]))
    skewed = extend_knots(torch.tensor([[0.0, 0.01, 0.02, 0.5, 1.0]], dtype=F64), 3)
    assert not _nearly_uniform(skewed)  # such grids take the searchsorted path


def test_nested_autograd_reaches_the_third_derivative() -> None:
    """Gradients of gradients use closed-form levels: d^3/dx^3 of a cubic spline is exact."""
    knots = uniform_knots(1, 6, 3, dtype=F64)
    x = torch.rand(50, 1, dtype=F64, generator=seeded(5)) * 1.8 - 0.9
    weights = torch.randn(9, dtype=F64, generator=seeded(6))
    xr = x.clone().requires_grad_()
    spline = (bspline_basis(xr, knots, 3).values[:, 0] * weights).sum()
    (first,) = torch.autograd.grad(spline, xr, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), xr, create_graph=True)
    (third,) = torch.autograd.grad(second.sum(), xr)
    closed = bspline_basis(x, knots, 3, derivatives=2)
    torch.testing.assert_close(first[:, 0], closed.first[:, 0] @ weights, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(second[:, 0], closed.second[:, 0] @ weights, rtol=1e-12, atol=1e-12)
    # the third derivative is piecewise constant: a difference quotient of the closed-form
    # second derivative inside each knot interval gives it to rounding
    h = 1e-4
    ahead = bspline_basis(x + h, knots, 3, derivatives=2).second[:, 0] @ weights
    same_interval = torch.floor((x[:, 0] + 1) / (2 / 6)) == torch.floor((x[:, 0] + h + 1) / (2 / 6))
    quotient = (ahead - closed.second[:, 0] @ weights) / h
    torch.testing.assert_close(
        third[same_interval, 0], quotient[same_interval], rtol=1e-7, atol=1e-7
    )


def test_float32_fast_path_matches_float64() -> None:
    knots = uniform_knots(4, 5, 3)
    x = torch.rand(300, 4, generator=seeded(7)) * 2.4 - 1.2
    single = bspline_basis(x, knots, 3, derivatives=2)
    double = bspline_basis(x.double(), knots.double(), 3, derivatives=2)
    for a, b in zip(single, double, strict=True):
        assert a is not None and b is not None and a.dtype == torch.float32
        torch.testing.assert_close(
            a.double(), b, rtol=1e-5, atol=1e-5 * max(1.0, float(b.abs().max()))
        )
