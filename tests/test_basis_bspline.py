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
