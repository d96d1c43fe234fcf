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


def _pad_knots(knots: Tensor, spline_order: int) -> Tensor:
    """Add ``spline_order`` dummy knots per side so that local gathers never leave the array.

    The dummy knots only enter basis functions with indices outside ``[0, n)``, which are
    discarded, so their values do not matter as long as they keep the knots increasing.
    """
    if spline_order == 0:
        return knots
    count = knots.shape[-1]
    step = ((knots[:, -1:] - knots[:, :1]) / max(count - 1, 1)).clamp_min(1.0)
    offsets = torch.arange(1, spline_order + 1, dtype=knots.dtype, device=knots.device)
    return torch.cat(
        [knots[:, :1] - step * offsets.flip(0), knots, knots[:, -1:] + step * offsets], 1
    )


def _nearly_uniform(knots: Tensor) -> bool:
    """Whether every knot lies within a quarter spacing of the uniform grid with the same ends."""
    count = knots.shape[-1]
    spacing = (knots[:, -1:] - knots[:, :1]) / (count - 1)
    steps = torch.arange(count, dtype=knots.dtype, device=knots.device)
    uniform = knots[:, :1] + spacing * steps
    return bool(((knots - uniform).abs() <= 0.25 * spacing).all() and (spacing > 0).all())


def _locate(x: Tensor, knots: Tensor, flat_knots: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Knot interval ``j`` with ``t_j <= x < t_{j+1}`` (last interval closed) of every entry.

    Returns ``interval`` (int64, clamped into ``[0, M - 2]``) and ``inside`` (bool: ``x`` lies in
    ``[t_0, t_{M-1}]``), both of shape (N, d). On the CPU, nearly uniform grids (the default)
    take a floor guess corrected by one exact comparison each way, which gives the same
    interval as a search about ten times faster; other grids, and GPUs, use ``searchsorted``.
    """
    count = knots.shape[-1]
    low, high = knots[:, 0], knots[:, -1]
    inside = (x >= low) & (x <= high)
    if x.device.type == "cpu" and _nearly_uniform(knots):
        spacing = (high - low) / (count - 1)
        guess = ((x - low) / spacing).floor_().clamp_(0, count - 2).long()
        at = guess + rows
        below = x < torch.take(flat_knots, at)
        above = x >= torch.take(flat_knots, at + 1)
        interval = guess - below.long() + above.long()
    else:
        interval = (
            torch.searchsorted(knots[:, :-1].contiguous(), x.T.contiguous(), right=True).T - 1
        )
    return interval.clamp_(0, count - 2), inside


def _local_levels(
    x: Tensor, knots: Tensor, spline_order: int, levels: int
) -> tuple[Tensor, list[Tensor]]:
    """The ``k + 1`` B-splines that do not vanish at each point, and their derivatives.

    For ``x`` in the knot interval ``[t_j, t_{j+1})`` only ``B_{j-k}, ..., B_j`` are non-zero.
    They are computed with the triangular recursion of de Boor (Piegl & Tiller, *The NURBS
    Book*, A2.2) on ``(N, d)`` tensors, and derivatives with
    ``B'_{m,p} = p (B_{m,p-1} / (t_{m+p} - t_m) - B_{m+1,p-1} / (t_{m+p+1} - t_{m+1}))`` applied
    to the lower-order local values (A2.3).

    Parameters
    ----------
    x : Tensor, shape (N, d)
    knots : Tensor, shape (d, M)
    spline_order : int
    levels : int
        Number of derivative levels to return (1: values only; 3: values, first, second).

    Returns
    -------
    index : Tensor of int64, shape (N, d, k + 1)
        Basis index ``j - k + r`` of every local value, clamped into ``[0, n)``.
    local : list (per level) of Tensor, shape (N, d, k + 1)
        ``local[l][..., r]`` is the ``l``-th derivative of ``B_{j-k+r}``; 0 where that function
        does not exist (``j - k + r`` outside ``[0, n)``) or ``x`` lies outside ``[t_0, t_{M-1}]``.
    """
    order = spline_order
    padded = _pad_knots(knots, order)
    flat = padded.reshape(-1)
    rows = (torch.arange(knots.shape[0], device=x.device) * padded.shape[-1]).expand_as(x)
    interval, inside = _locate(x, padded[:, order : padded.shape[-1] - order], flat, rows + order)
    base = interval + order + rows  # position of t_j in the flattened padded knots

    def knot(shift: int) -> Tensor:
        return torch.take(flat, base + shift)

    # left[p] = x - t_{j+1-p} and right[p] = t_{j+p} - x for p = 1..k (index 0 unused)
    left = [x, *(x - knot(1 - p) for p in range(1, order + 1))]
    right = [x, *(knot(p) - x for p in range(1, order + 1))]
    tiny = torch.finfo(x.dtype).tiny
    # spans[p][q] = t_{j+q+1} - t_{j+q+1-p}, the support length of B_{j-p+1+q, p-1}
    spans: list[list[Tensor]] = [[]]
    history = [[torch.ones_like(x)]]  # history[p]: local values of order p
    for p in range(1, order + 1):
        lower = history[-1]
        spans.append([(right[q + 1] + left[p - q]).clamp_min_(tiny) for q in range(p)])
        saved: Tensor | float = 0.0
        current = []
        for q in range(p):
            temp = lower[q] / spans[p][q]
            current.append(saved + right[q + 1] * temp)
            saved = left[p - q] * temp
        current.append(saved)  # type: ignore[arg-type]
        history.append(current)

    local = []
    for level in range(levels):
        if level > order:
            local.append([torch.zeros_like(x) for _ in range(order + 1)])
            continue
        values = history[order - level]
        for p in range(order - level + 1, order + 1):
            scaled = [values[q] / spans[p][q] for q in range(p)]
            # D_r = p (Q_{r-1} - Q_r) with Q_{-1} = Q_p = 0
            values = [-p * scaled[0]]
            values += [p * (scaled[r - 1] - scaled[r]) for r in range(1, p)]
            values.append(p * scaled[p - 1])
        local.append(values)
    functions = knots.shape[-1] - order - 1
    index = interval.unsqueeze(-1) + torch.arange(-order, 1, device=x.device)
    keep = (inside.unsqueeze(-1) & (index >= 0) & (index < functions)).to(x.dtype)
    stacked = [torch.stack(values, dim=-1) * keep for values in local]
    return index.clamp_(0, functions - 1), stacked


def _densify(x: Tensor, index: Tensor, local: Tensor, functions: int) -> Tensor:
    """Place masked local values ``(N, d, k + 1)`` into a dense ``(N, d, n)`` block.

    Values of functions that do not exist (near the ends of the knots) and of points outside the
    knots are zero, and their clamped indices repeat valid ones, so they are added as zeros.
    """
    dense = torch.zeros(*x.shape, functions, dtype=x.dtype, device=x.device)
    return dense.scatter_add_(-1, index, local)


class _BSplineBasis(torch.autograd.Function):
    """Dense B-spline derivatives of levels ``0 .. levels - 1`` with closed-form input gradients.

    The gradient with respect to ``x`` of level ``l`` is level ``l + 1``. The forward pass keeps
    the local (non-zero) values of the next levels, and the backward pass contracts the
    incoming gradient with them directly. When a graph of the gradient is requested
    (``create_graph=True``) it applies this function again one level higher instead, so any
    number of nested differentiations works.
    """

    @staticmethod
    def forward(ctx, x: Tensor, knots: Tensor, spline_order: int, levels: int):  # type: ignore[override]
        needs_grad = ctx.needs_input_grad[0]
        functions = knots.shape[-1] - spline_order - 1
        index, local = _local_levels(x, knots, spline_order, levels + int(needs_grad))
        ctx.spline_order, ctx.levels = spline_order, levels
        ctx.save_for_backward(x, knots, index, *(local[1:] if needs_grad else []))
        return tuple(_densify(x, index, values, functions) for values in local[:levels])

    @staticmethod
    def backward(ctx, *grads: Tensor):  # type: ignore[override]
        x, knots, index, *higher = ctx.saved_tensors
        graph = torch.is_grad_enabled()  # double backward: keep the graph of the derivative
        if graph:
            higher = list(_BSplineBasis.apply(x, knots, ctx.spline_order, ctx.levels + 1)[1:])
        grad_x = None
        for grad, derivative in zip(grads, higher, strict=True):
            if grad is None:
                continue
            if graph:
                term = (grad * derivative).sum(dim=-1)
            else:
                # the local derivative values are zero where the index was clamped
                term = (grad.gather(-1, index) * derivative).sum(dim=-1)
            grad_x = term if grad_x is None else grad_x + term
        if grad_x is None:
            grad_x = torch.zeros_like(x)
        return grad_x, None, None, None


def bspline_basis(x: Tensor, knots: Tensor, spline_order: int, derivatives: int = 0) -> BasisValues:
    """Evaluate B-splines of degree ``spline_order`` and their derivatives in closed form.

    Only the ``spline_order + 1`` functions that do not vanish at a point are computed (local
    de Boor recursion) and then placed into the dense result. Gradients with respect to ``x``
    (also nested ones, for physics-informed losses) use the closed-form derivatives.

    Parameters
    ----------
    x : Tensor, shape (N, d)
        Points; input ``i`` is evaluated on ``knots[i]``.
    knots : Tensor, shape (d, M)
        Non-decreasing knots per input; there are ``M - spline_order - 1`` basis functions.
    spline_order : int
        Polynomial degree ``k`` (3 = cubic).
    derivatives : {0, 1, 2}
        Highest derivative with respect to ``x`` to return.

    Returns
    -------
    BasisValues
        Tensors of shape ``(N, d, M - k - 1)``. Basis functions vanish outside
        ``[knots[0], knots[-1]]``; intervals are half-open as in Cox-de Boor, except the last,
        which is closed.
    """
    dense = _BSplineBasis.apply(x, knots.detach(), spline_order, derivatives + 1)
    return BasisValues(*dense)


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
