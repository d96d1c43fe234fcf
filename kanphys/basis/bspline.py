"""B-splines of any order on per-input knot grids (Cox-de Boor), with closed-form derivatives."""

from __future__ import annotations

import torch
from torch import Tensor

from kanphys.basis.types import BasisFamily, BasisValues, register_basis

__all__ = ["bspline_basis", "extend_knots", "interior_points", "uniform_knots"]


def extend_knots(points: Tensor, spline_order: int) -> Tensor:
    """Extend grid points by ``spline_order`` knots on each side, as in the KAN paper.

    Parameters
    ----------
    points : Tensor, shape (d, G + 1)
        Increasing grid points of each input; their first and last entries bound the region
        where the spline basis is complete (a partition of unity).
    spline_order : int
        Polynomial degree ``k`` of the spline.

    Returns
    -------
    Tensor, shape (d, G + 2k + 1)
        Knots; the extension uses the mean spacing ``(points[-1] - points[0]) / G``.
    """
    grid_size = points.shape[-1] - 1
    if spline_order == 0:
        return points.clone()
    spacing = (points[:, -1:] - points[:, :1]) / max(grid_size, 1)
    steps = torch.arange(1, spline_order + 1, dtype=points.dtype, device=points.device)
    left = points[:, :1] - spacing * steps.flip(0)
    right = points[:, -1:] + spacing * steps
    return torch.cat([left, points, right], dim=1)


def interior_points(knots: Tensor, spline_order: int) -> Tensor:
    """Inverse of :func:`extend_knots`: drop the ``spline_order`` extension knots per side."""
    if spline_order == 0:
        return knots.clone()
    return knots[:, spline_order:-spline_order].clone()


def uniform_knots(
    in_features: int,
    grid_size: int,
    spline_order: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Uniform knots for ``in_features`` inputs, shape ``(in_features, G + 2k + 1)``."""
    low, high = grid_range
    points = torch.linspace(low, high, grid_size + 1, dtype=dtype, device=device)
    return extend_knots(points.expand(in_features, -1), spline_order)


def _reciprocal(denominator: Tensor) -> Tensor:
    """1 / denominator with 0 where the denominator is 0 (repeated knots)."""
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return torch.where(denominator == 0, torch.zeros_like(denominator), 1.0 / safe)


def _raise_order(lower: Tensor, offsets: Tensor, knots: Tensor, order: int) -> Tensor:
    """One Cox-de Boor step: order ``order - 1`` values -> order ``order`` values.

    With ``w_i = (x - t_i) / (t_{i+p} - t_i)`` the recursion reads
    ``B_{i,p} = w_i B_{i,p-1} + (1 - w_{i+1}) B_{i+1,p-1}``; writing ``q = w * B_{p-1}`` it is
    ``q_i + B_{i+1,p-1} - q_{i+1}``: three full-size operations plus one for ``w``. Where knots
    repeat, ``w`` is set to 0 and the dropped term multiplies a basis function that is 0.
    ``offsets`` holds ``x - t_j`` for every knot, shape (N, d, M).
    """
    count = knots.shape[-1]
    spans = knots[:, order:] - knots[:, : count - order]
    weights = offsets[..., : count - order] * _reciprocal(spans)
    scaled = weights * lower
    return scaled[..., :-1] + lower[..., 1:] - scaled[..., 1:]


def _differentiate(lower: Tensor, knots: Tensor, order: int) -> Tensor:
    """d/dx of order-``order`` B-splines, given order ``order - 1`` values (or their derivatives).

    ``B'_{i,p} = p * (B_{i,p-1} / (t_{i+p} - t_i) - B_{i+1,p-1} / (t_{i+p+1} - t_{i+1}))``;
    the map is linear, so applying it to derivatives of the lower order gives higher derivatives.
    """
    count = knots.shape[-1]
    left = _reciprocal(knots[:, order : count - 1] - knots[:, : count - order - 1])
    right = _reciprocal(knots[:, order + 1 :] - knots[:, 1 : count - order])
    return order * (lower[..., :-1] * left - lower[..., 1:] * right)


def bspline_basis(x: Tensor, knots: Tensor, spline_order: int, derivatives: int = 0) -> BasisValues:
    """Evaluate B-splines of degree ``spline_order`` (and derivatives) with Cox-de Boor.

    Parameters
    ----------
    x : Tensor, shape (N, d)
        Points; input ``i`` is evaluated on ``knots[i]``.
    knots : Tensor, shape (d, M)
        Non-decreasing knots per input; there are ``M - spline_order - 1`` basis functions.
    spline_order : int
        Polynomial degree ``k`` (3 = cubic).
    derivatives : {0, 1, 2}
        Highest derivative with respect to ``x`` to return, computed in closed form.

    Returns
    -------
    BasisValues
        Tensors of shape ``(N, d, M - k - 1)``. Basis functions vanish outside
        ``[knots[0], knots[-1]]``; intervals are half-open as in Cox-de Boor, except the last,
        which is closed.
    """
    xe = x.unsqueeze(-1)
    t = knots.unsqueeze(0)
    inside = (xe >= t[..., :-1]) & (xe < t[..., 1:])
    # close the last interval so that x == knots[-1] is covered (matters for order 0, whose
    # knots are the grid points themselves; for higher orders every function vanishes there)
    inside[..., -1] |= xe[..., 0] == t[..., -1]
    values = inside.to(x.dtype)
    history = [values]
    offsets = xe - t
    for order in range(1, spline_order + 1):
        values = _raise_order(values, offsets, knots, order)
        history.append(values)
    first = second = None
    if derivatives >= 1:
        if spline_order >= 1:
            first = _differentiate(history[-2], knots, spline_order)
        else:
            first = torch.zeros_like(values)
    if derivatives >= 2:
        if spline_order >= 2:
            lower_first = _differentiate(history[-3], knots, spline_order - 1)
            second = _differentiate(lower_first, knots, spline_order)
        else:
            second = torch.zeros_like(values)
    return BasisValues(values, first, second)


BSPLINE = register_basis(
    BasisFamily(
        name="bspline",
        evaluate=lambda x, grid, grid_size, order, derivatives: bspline_basis(
            x, grid, order, derivatives
        ),
        num_functions=lambda grid_size, order: grid_size + order,
        num_points=lambda grid_size: grid_size + 1,
        points_to_grid=extend_knots,
        grid_to_points=interior_points,
        min_grid_size=1,
        uses_order=True,
        description="B-splines of degree spline_order on grid_size intervals (G + k functions)",
    )
)
