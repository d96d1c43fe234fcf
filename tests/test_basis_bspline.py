"""B-splines against scipy: values, partition of unity, closed-form derivatives; the uniform-knot
path against the de Boor recursion, and the cache of knot facts."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

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
from torch import Tensor

from kanphys.basis import (
    BasisValues,
    bspline,
    bspline_basis,
    extend_knots,
    interior_points,
    uniform_knots,
)
from kanphys.basis._cardinal import cardinal_matrix
from kanphys.basis.bspline import _de_boor_levels, _knot_facts, _uniform_levels
from kanphys.layers import KANLayer
from kanphys.models import KAN, update_grid

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
    from kanphys.basis.bspline import _inspect_knots, _locate

    knots = uniform_knots(3, 7, 3, (-1.0, 2.0), dtype=F64)
    jitter = torch.rand(knots.shape, dtype=F64, generator=seeded(3)) * 0.2 - 0.1
    for grid in (knots, knots + jitter * (knots[:, 1:2] - knots[:, :1])):
        facts = _inspect_knots(grid)
        assert facts.nearly_uniform
        x = torch.cat(
            [
                torch.rand(400, 3, dtype=F64, generator=seeded(4)) * 5 - 2.5,
                grid.T.contiguous(),  # exactly on every knot
                torch.nextafter(grid, torch.full_like(grid, -10)).T.contiguous(),  # just below
            ]
        )
        fast, inside = _locate(x, facts)
        searched = torch.searchsorted(grid[:, :-1].contiguous(), x.T.contiguous(), right=True).T - 1
        assert torch.equal(fast, searched.clamp(0, grid.shape[-1] - 2))
        assert torch.equal(inside, (x >= grid[:, 0]) & (x <= grid[:, -1]))
    skewed = extend_knots(torch.tensor([[0.0, 0.01, 0.02, 0.5, 1.0]], dtype=F64), 3)
    assert not _inspect_knots(skewed).nearly_uniform  # such grids take the searchsorted path


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


# --------------------------------------------------------------------------------------------
# uniform knots: the cardinal polynomials against the de Boor recursion
# --------------------------------------------------------------------------------------------

LEVELS = 4  # values and derivatives 1, 2, 3


def uniform_grids(dtype: torch.dtype, order: int) -> dict[str, Tensor]:
    """Uniform knots with a different spacing per input, and the default grid (one spacing)."""
    return {
        "per input": extend_knots(grid_points("uniform"), order).to(dtype),
        "default": uniform_knots(3, GRID_SIZE, order, dtype=dtype),
    }


def path_points(knots: Tensor) -> Tensor:
    """(N, d): random points over the knots and half a spacing beyond, every knot, the floats
    just below every knot, and points far outside (+-1e30 and +-inf)."""
    low, high = knots[:, :1].T, knots[:, -1:].T
    step = (high - low) / (knots.shape[-1] - 1)
    fraction = torch.rand(300, knots.shape[0], dtype=knots.dtype, generator=seeded(11))
    spread = low - step / 2 + (high - low + step) * fraction
    below = torch.nextafter(knots, torch.full_like(knots, -torch.inf))
    far = torch.tensor([-torch.inf, -1e30, 1e30, torch.inf], dtype=knots.dtype)
    return torch.cat([spread, knots.T, below.T, far[:, None].expand(-1, knots.shape[0])])


def missing_or_outside(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """(N, d, k + 1) bool: local values whose function does not exist or whose point lies
    outside the knots (both paths must give exact zeros there)."""
    interval = torch.searchsorted(knots[:, :-1].contiguous(), x.T.contiguous(), right=True).T - 1
    interval = interval.clamp(0, knots.shape[-1] - 2)
    function = interval.unsqueeze(-1) + torch.arange(-order, 1)
    outside = (x < knots[:, 0]) | (x > knots[:, -1])
    return outside.unsqueeze(-1) | (function < 0) | (function >= knots.shape[-1] - order - 1)


def path_tolerance(knots: Tensor, order: int, level: int, tol) -> tuple[Tensor, Tensor]:
    """(d, 1) tolerance between the two paths (``Tolerance.spline_paths``) and the bound ``S``
    on the level's values: ``h^-l`` times the largest column sum of ``|P_l|``."""
    wide = knots.double()
    spacing = (wide[:, -1] - wide[:, 0]) / (knots.shape[-1] - 1)
    deviation = (wide.diff(dim=-1) - spacing[:, None]).abs().amax(dim=-1) / spacing
    matrix = cardinal_matrix(order, level)
    coefficients = max(sum(abs(row[r]) for row in matrix) for r in range(order + 1))
    bound = float(coefficients) * spacing**-level
    tolerance = tol.spline_paths(knots.dtype, order, level, bound, deviation)
    return tolerance[:, None].to(knots.dtype), bound[:, None]


@pytest.mark.parametrize("order", ORDERS)
def test_cardinal_matrices_are_exact(order: int) -> None:
    values = cardinal_matrix(order, 0)
    # the k + 1 local values sum to 1 for every u (partition of unity) ...
    assert [sum(row) for row in values] == [1] + [0] * order
    # ... and the last one is the first piece of the cardinal B-spline, u^k / k!
    assert [row[order] for row in values] == [0] * order + [Fraction(1, math.factorial(order))]
    for level in range(1, order + 2):  # each level is the u-derivative of the one below
        lower, matrix = cardinal_matrix(order, level - 1), cardinal_matrix(order, level)
        for i, row in enumerate(matrix):
            above = lower[i + 1] if i < order else [0] * (order + 1)
            assert list(row) == [(i + 1) * c for c in above]


@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("order", ORDERS)
def test_uniform_path_matches_de_boor(order: int, dtype: torch.dtype, tol) -> None:
    """Same index, exact zeros for missing functions and outside points (also far outside),
    and values and derivatives 1..3 within the rounding of the two recurrences."""
    for knots in uniform_grids(dtype, order).values():
        facts = _knot_facts(knots)
        assert facts.uniform
        x = path_points(knots)
        masked = missing_or_outside(x, knots, order)
        for first in (0, 2):
            index, fast, _ = _uniform_levels(x, facts, order, LEVELS - first, first)
            expected_index, slow = _de_boor_levels(x, facts, order, LEVELS - first, first)
            assert torch.equal(index, expected_index)
            for level, actual, expected in zip(range(first, LEVELS), fast, slow, strict=True):
                assert actual.shape == expected.shape == (*x.shape, order + 1)
                assert actual.dtype == expected.dtype == dtype
                if level > order:
                    assert not actual.any() and not expected.any()
                    continue
                assert not actual[masked].any() and not expected[masked].any()
                tolerance, bound = path_tolerance(knots, order, level, tol)
                if dtype == F64:
                    assert bool((tolerance <= 1e-12 * bound).all())
                assert_close(actual, expected, tolerance)


@pytest.mark.parametrize("order", ORDERS)
def test_nested_autograd_agrees_between_paths(
    order: int, tol, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Second and third derivatives through nested ``autograd.grad(create_graph=True)``, and
    the closed-form levels, are the same on both paths."""
    knots = extend_knots(grid_points("uniform"), order)
    x = path_points(knots)[:-4]  # finite points
    weights = torch.randn(3, GRID_SIZE + order, dtype=F64, generator=seeded(12))

    def evaluate() -> list[Tensor]:
        z = x.clone().requires_grad_(True)
        closed = bspline_basis(x, knots, order, derivatives=2)
        nested = [(bspline_basis(z, knots, order).values * weights).sum(dim=-1)]
        for _ in range(3):
            (derivative,) = torch.autograd.grad(nested[-1].sum(), z, create_graph=True)
            nested.append(derivative)
        return [*closed, *nested]  # type: ignore[list-item]

    fast = evaluate()
    inspect = bspline._knot_facts
    monkeypatch.setattr(
        bspline, "_knot_facts", lambda k: dataclasses.replace(inspect(k), uniform=False)
    )
    slow = evaluate()
    for level, (actual, expected) in enumerate(zip(fast[:3], slow[:3], strict=True)):
        assert_close(actual, expected, path_tolerance(knots, order, level, tol)[0])
    for level, (actual, expected) in enumerate(zip(fast[3:], slow[3:], strict=True)):
        # a spline sums k + 1 weighted local values
        scale = (order + 1) * weights.abs().amax(dim=-1)
        tolerance = path_tolerance(knots, order, level, tol)[0][:, 0] * scale
        assert_close(actual.detach(), expected.detach(), tolerance)


def test_non_uniform_knots_take_the_de_boor_path(tol, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object) -> None:
        raise AssertionError("wrong evaluation path")

    x = 0.5 * torch.randn(400, 2, dtype=F64, generator=seeded(13)).tanh()  # skewed samples
    model = KAN([2, 3, 1], grid_size=GRID_SIZE, dtype=F64, generator=seeded())
    adapted = update_grid(model, x)  # data-adaptive, non-uniform grids
    monkeypatch.setattr(bspline, "_uniform_levels", forbidden)
    for layer in adapted.kan_layers():
        assert not _knot_facts(layer.grid).uniform
    nonuniform = extend_knots(grid_points("nonuniform"), 3)
    assert not _knot_facts(nonuniform).uniform
    assert adapted(x).shape == (400, 1)
    assert_close(
        bspline_basis(x[:, :1].expand(-1, 3), nonuniform, 3).values,
        scipy_basis(nonuniform, 3, x[:, :1].expand(-1, 3)),
        tol.values(F64),
    )
    monkeypatch.undo()
    monkeypatch.setattr(bspline, "_de_boor_levels", forbidden)
    assert model(x).shape == (400, 1)  # the starting grid is uniform


def test_knot_facts_follow_in_place_changes_of_the_knots(tol) -> None:
    knots = uniform_knots(3, GRID_SIZE, 3, dtype=F64)
    x = sample_everywhere(knots, 3)
    assert _knot_facts(knots).uniform
    with torch.no_grad():  # move one interior knot: the grid is no longer uniform
        knots[:, 4] += 0.3 * (knots[:, 5] - knots[:, 4])
    assert not _knot_facts(knots).uniform
    assert_close(bspline_basis(x, knots, 3).values, scipy_basis(knots, 3, x), tol.values(F64))
    # a layer's grid overwritten in place by load_state_dict
    layer = KANLayer(3, 2, dtype=F64, generator=seeded())
    layer(x)
    state = layer.state_dict()
    state["grid"] = extend_knots(grid_points("nonuniform"), 3)
    layer.load_state_dict(state)
    assert not _knot_facts(layer.grid).uniform
    assert_close(layer.basis_values(x).values, scipy_basis(layer.grid, 3, x), tol.values(F64))


def test_knot_facts_keep_their_knots_alive() -> None:
    """Cached knots cannot be freed, so another tensor never reuses their address while their
    facts are cached."""
    cached = uniform_knots(3, GRID_SIZE, 3, dtype=F64)
    address = cached.data_ptr()
    assert _knot_facts(cached).uniform
    del cached
    other = extend_knots(grid_points("nonuniform"), 3)
    assert other.data_ptr() != address
    assert not _knot_facts(other).uniform


def test_inference_tensors_are_inspected_on_every_call(tol) -> None:
    with torch.inference_mode():  # inference tensors have no version counter
        knots = uniform_knots(3, GRID_SIZE, 3, dtype=F64)
        x = sample_everywhere(knots, 3)
        values = bspline_basis(x, knots, 3).values
        knots[:, 4] += 0.3 * (knots[:, 5] - knots[:, 4])
        moved = bspline_basis(x, knots, 3).values
    expected = scipy_basis(uniform_knots(3, GRID_SIZE, 3, dtype=F64), 3, x)
    assert_close(values, expected, tol.values(F64))
    assert_close(moved, scipy_basis(knots.clone(), 3, x), tol.values(F64))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_calls_do_not_synchronise(tol) -> None:
    """After a first call has inspected the knots, evaluation and nested gradients on the GPU
    never wait for the device."""
    knots = uniform_knots(3, GRID_SIZE, 3, dtype=F64)
    x = sample_everywhere(knots, 3)

    def pinn_step(z: Tensor, grid: Tensor) -> BasisValues:
        z = z.clone().requires_grad_(True)
        basis = bspline_basis(z, grid, 3, derivatives=2)
        (first,) = torch.autograd.grad(basis.values.sum(), z, create_graph=True)
        first.sum().backward()
        return basis

    pinn_step(x.cuda(), knots.cuda())  # fills the caches
    torch.cuda.set_sync_debug_mode("error")
    try:
        on_gpu = pinn_step(x.cuda(), knots.cuda())
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for actual, expected in zip(on_gpu, pinn_step(x, knots), strict=True):
        assert actual is not None and expected is not None
        assert_close(actual.detach().cpu(), expected.detach(), tol.derivatives(F64, 1e2))


@pytest.mark.parametrize("knots", ["uniform", "non-uniform"])
def test_nan_inputs_give_nan_values_not_an_index_error(knots: str) -> None:
    """A diverging run feeds NaN into the next layer: the basis must say NaN, not crash."""
    grid = uniform_knots(1, 5, 3, dtype=torch.float64)
    if knots == "non-uniform":
        grid = grid.clone()
        grid[0, 5] += 0.05
    x = torch.tensor([[0.3], [float("nan")], [-0.2]], dtype=torch.float64)
    basis = bspline_basis(x, grid, 3, derivatives=2)
    coefficients = torch.ones(grid.shape[-1] - 4, dtype=torch.float64)
    for level in basis:
        assert torch.isnan(level[1]).any()  # so any combination of the functions is NaN
        assert torch.isnan(level[1, 0] @ coefficients)
        assert torch.isfinite(level[[0, 2]]).all()
