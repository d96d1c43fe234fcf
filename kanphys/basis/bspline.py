"""B-splines of any order on per-input knot grids, with closed-form derivatives.

Uniform knots (the default grid) take the cardinal B-spline polynomials, one small matrix
product per call; other knots take the Cox-de Boor recursion.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from kanphys.basis._cardinal import cardinal_weights
from kanphys.basis.types import BasisFamily, BasisValues, register_basis

__all__ = ["bspline_basis", "bspline_local", "extend_knots", "interior_points", "uniform_knots"]


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


@dataclass(frozen=True)
class _KnotFacts:
    """What the evaluation needs to know about one version of a knots tensor.

    Attributes
    ----------
    knots : Tensor, shape (d, M)
        The knots. Holding them keeps their memory from being handed to another tensor while
        these facts are cached, so the address in the cache key stays unambiguous.
    flat : Tensor, shape (d M,)
        The knots, flattened; row ``i`` starts at ``rows[i]``.
    rows : Tensor of int64, shape (d,)
    low, high : Tensor, shape (d,)
        First and last knot of every row.
    inverse_step : Tensor, shape (d,)
        ``(M - 1) / (high - low)``, the inverse mean spacing ``1 / h`` of every row.
    nearly_uniform : bool
        Every knot lies within a quarter spacing of the uniform grid with the same ends, so
        rounding ``(x - low) / h`` down is at most one interval off.
    uniform : bool
        Every row is equally spaced to rounding: ``|t_{j+1} - t_j - h| <= 64 eps (|t_0| +
        |t_{M-1}| + h)`` for all ``j``.
    shared_step : bool
        All rows have the same ``h`` (bit for bit).
    derived : dict
        Tensors derived from the knots on first use (see the methods).
    """

    knots: Tensor
    flat: Tensor
    rows: Tensor
    low: Tensor
    high: Tensor
    inverse_step: Tensor
    nearly_uniform: bool
    uniform: bool
    shared_step: bool
    derived: dict[tuple[object, ...], Tensor] = field(default_factory=dict)

    def starts(self) -> Tensor:
        """``(d, M - 1)``: the left knot of every interval, contiguous (for ``searchsorted``)."""
        key = ("starts",)
        if key not in self.derived:
            self.derived[key] = self.knots[:, :-1].contiguous()
        return self.derived[key]

    def padded_knots(self, spline_order: int) -> tuple[Tensor, Tensor]:
        """Flattened :func:`_pad_knots` of the knots, ``(d (M + 2k),)``, and the position of
        the first original knot of each row in it, ``(d,)``."""
        key, offsets = ("padded", spline_order), ("padded offsets", spline_order)
        if key not in self.derived:
            padded = _pad_knots(self.knots, spline_order)
            rows = torch.arange(padded.shape[0], device=padded.device) * padded.shape[-1]
            self.derived[offsets] = rows + spline_order
            self.derived[key] = padded.reshape(-1)
        return self.derived[key], self.derived[offsets]

    def uniform_lookup(self, spline_order: int) -> Tensor:
        """``(k + 2, d M)``: at column ``i M + s`` the knot ``t_{i,s}`` and the masks of the
        ``k + 1`` local values in knot interval ``s`` (:func:`_keep_table`; slot ``M - 1`` is
        for points outside the knots)."""
        key = ("lookup", spline_order)
        if key not in self.derived:
            d, count = self.knots.shape
            keep = _keep_table(count, spline_order, self.knots.dtype, self.knots.device)
            self.derived[key] = torch.cat([self.flat[None], keep.repeat(1, d)])
        return self.derived[key]

    def cardinal_weights(self, spline_order: int, first: int, stop: int) -> Tensor:
        """``cardinal_weights`` (:mod:`kanphys.basis._cardinal`) in the knots' dtype and
        device, with the factors ``h^-l`` of the levels included when all rows share ``h``."""
        key = ("weights", spline_order, first, stop)
        if key not in self.derived:
            weights = cardinal_weights(spline_order, first, stop, self.knots.dtype)
            weights = weights.to(self.knots.device)
            if self.shared_step:
                scales = self.level_scales(first, stop)[:, :1].reshape(-1, 1, 1)
                weights = (weights.view(stop - first, spline_order + 1, -1) * scales).flatten(0, 1)
            self.derived[key] = weights
        return self.derived[key]

    def level_scales(self, first: int, stop: int) -> Tensor:
        """``(stop - first, d)``: ``h_i^-l`` for the levels ``l = first .. stop - 1``."""
        key = ("scales", first, stop)
        if key not in self.derived:
            exponents = torch.arange(first, stop, dtype=self.knots.dtype, device=self.knots.device)
            self.derived[key] = self.inverse_step.pow(exponents.unsqueeze(-1))
        return self.derived[key]


def _inspect_knots(knots: Tensor) -> _KnotFacts:
    """Compute :class:`_KnotFacts`; the three flags cost one synchronisation together."""
    count = knots.shape[-1]
    low, high = knots[:, 0], knots[:, -1]
    step = ((high - low) / (count - 1)).unsqueeze(-1)
    positions = low.unsqueeze(-1) + step * torch.arange(
        count, dtype=knots.dtype, device=knots.device
    )
    near = ((knots - positions).abs() <= 0.25 * step).all()
    eps = torch.finfo(knots.dtype).eps
    rounding = 64 * eps * ((low.abs() + high.abs()).unsqueeze(-1) + step)
    strict = ((knots.diff(dim=-1) - step).abs() <= rounding).all()
    shared = (step == step[0]).all()
    flags = torch.stack([near, strict, shared]) & (step > 0).all()
    nearly_uniform, uniform, shared_step = flags.tolist()
    rows = torch.arange(knots.shape[0], device=knots.device) * count
    return _KnotFacts(
        knots,
        knots.reshape(-1),
        rows,
        low,
        high,
        1 / step.squeeze(-1),
        nearly_uniform,
        uniform,
        shared_step,
    )


_FACTS_CACHE_SIZE = 64
_facts_cache: OrderedDict[tuple[object, ...], _KnotFacts] = OrderedDict()
_facts_lock = threading.Lock()


def _knot_facts(knots: Tensor) -> _KnotFacts:
    """:class:`_KnotFacts` of ``knots``, cached so that repeated calls do not synchronise.

    The key is the knots' address, version counter, shape, strides, dtype and device: any
    in-place change through autograd-visible tensors (``copy_``, ``load_state_dict``, views)
    bumps the version counter and so misses the cache. Changes that bypass the counter
    (through ``.data`` or a NumPy view) are not seen. Inference tensors have no version
    counter and are inspected on every call. At most the 64 most recently used knots are
    remembered (and kept alive).
    """
    if knots.is_inference():
        return _inspect_knots(knots)
    key = (knots.data_ptr(), knots._version, knots.shape, knots.stride(), knots.dtype, knots.device)
    with _facts_lock:
        facts = _facts_cache.get(key)
        if facts is not None:
            _facts_cache.move_to_end(key)
            return facts
    facts = _inspect_knots(knots)
    with _facts_lock:
        _facts_cache[key] = facts
        while len(_facts_cache) > _FACTS_CACHE_SIZE:
            _facts_cache.popitem(last=False)
    return facts


def _locate(x: Tensor, facts: _KnotFacts) -> tuple[Tensor, Tensor]:
    """Knot interval ``j`` with ``t_j <= x < t_{j+1}`` (last interval closed) of every entry.

    Returns ``interval`` (int64, clamped into ``[0, M - 2]``) and ``inside`` (bool: ``x`` lies in
    ``[t_0, t_{M-1}]``), both of shape (N, d). On the CPU, nearly uniform grids (the default)
    take a floor guess corrected by one exact comparison each way, which gives the same
    interval as a search and is faster for large batches; other grids, and GPUs, use
    ``searchsorted``. The facts about the knots come from :func:`_knot_facts`.
    """
    count = facts.knots.shape[-1]
    inside = (x >= facts.low) & (x <= facts.high)
    if x.device.type == "cpu" and facts.nearly_uniform:
        guess = ((x - facts.low) * facts.inverse_step).floor_()
        # NaN inputs (a diverging run) must stay NaN in the values, not index out of range
        guess = guess.nan_to_num_(0.0).clamp_(0, count - 2).long()
        at = guess + facts.rows
        below = x < torch.take(facts.flat, at)
        above = x >= torch.take(facts.flat, at + 1)
        interval = guess.add_(above).sub_(below.long())
    else:
        interval = torch.searchsorted(facts.starts(), x.T.contiguous(), right=True).T - 1
    return interval.clamp_(0, count - 2), inside


@functools.lru_cache(maxsize=64)
def _index_table(count: int, spline_order: int, device: torch.device) -> Tensor:
    """``(M - 1, k + 1)`` int64: basis index ``j - k + r``, clamped into ``[0, n)``, of local
    value ``r`` in knot interval ``j``."""
    functions = count - spline_order - 1
    index = torch.arange(count - 1).unsqueeze(-1) + torch.arange(-spline_order, 1)
    return index.clamp_(0, functions - 1).to(device)


@functools.lru_cache(maxsize=64)
def _keep_table(count: int, spline_order: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(k + 1, M)``: 1 where local value ``r`` in knot interval ``j`` belongs to a function that
    exists (``0 <= j - k + r < n``), else 0; the last column, for points outside the knots, is 0.
    """
    index = torch.arange(-spline_order, 1).unsqueeze(-1) + torch.arange(count)
    exists = (index >= 0) & (index < count - spline_order - 1)
    exists[:, -1] = False
    return exists.to(device=device, dtype=dtype)


def _outside_to_last(interval: Tensor, inside: Tensor, count: int) -> Tensor:
    """``interval`` where ``x`` is inside the knots, ``M - 1`` (no interval) elsewhere."""
    return torch.where(inside, interval, count - 1)


def _local_index(interval: Tensor, spline_order: int, count: int) -> Tensor:
    """Index ``(N, d, k + 1)`` of the local values in knot ``interval`` (N, d)."""
    table = _index_table(count, spline_order, interval.device)
    index = table.index_select(0, interval.reshape(-1))
    return index.view(*interval.shape, spline_order + 1)


def _de_boor_levels(
    x: Tensor, facts: _KnotFacts, spline_order: int, levels: int, first: int = 0
) -> tuple[Tensor, list[Tensor]]:
    """:func:`_local_levels` on any non-decreasing knots, by the de Boor recursion.

    The local values are computed with the triangular recursion of de Boor (Piegl & Tiller,
    *The NURBS Book*, A2.2) on ``(N, d)`` tensors, and derivatives with
    ``B'_{m,p} = p (B_{m,p-1} / (t_{m+p} - t_m) - B_{m+1,p-1} / (t_{m+p+1} - t_{m+1}))`` applied
    to the lower-order local values (A2.3).
    """
    order = spline_order
    flat, offsets = facts.padded_knots(order)
    interval, inside = _locate(x, facts)
    base = interval + offsets  # position of t_j in the flattened padded knots
    x = x.clamp(facts.low, facts.high)  # points outside get finite (masked) values, not NaN

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

    count = facts.knots.shape[-1]
    keep_table = _keep_table(count, order, x.dtype, x.device)
    slot = _outside_to_last(interval, inside, count).reshape(-1)
    keep = keep_table.index_select(1, slot).view(order + 1, *x.shape)
    local = []
    for level in range(first, first + levels):
        if level > order:
            local.append(x.new_zeros(*x.shape, order + 1))
            continue
        values = history[order - level]
        for p in range(order - level + 1, order + 1):
            scaled = [values[q] / spans[p][q] for q in range(p)]
            # D_r = p (Q_{r-1} - Q_r) with Q_{-1} = Q_p = 0
            values = [-p * scaled[0]]
            values += [p * (scaled[r - 1] - scaled[r]) for r in range(1, p)]
            values.append(p * scaled[p - 1])
        local.append((torch.stack(values) * keep).permute(1, 2, 0))
    return _local_index(interval, order, count), local


class _UniformPoints(NamedTuple):
    """Where points lie on uniform knots: what all derivative levels at these points share.

    Attributes
    ----------
    basis_index : Tensor of int64, shape (N, d, k + 1)
        The ``index`` of :func:`_local_levels`.
    keep : Tensor, shape (k + 1, N d)
        Masks of the local values: 0 where the function does not exist or the point lies
        outside the knots.
    powers : Tensor, shape (k + 1, N d)
        ``1, u, ..., u^k`` with ``u = (x - t_j) / h``, clamped into ``[0, 1]`` so that points
        outside the knots get finite (masked) values.
    """

    basis_index: Tensor
    keep: Tensor
    powers: Tensor


def _uniform_points(x: Tensor, facts: _KnotFacts, spline_order: int) -> _UniformPoints:
    """Locate ``x`` (:func:`_locate`) and measure ``u`` from the left knot of its interval."""
    count = facts.knots.shape[-1]
    interval, inside = _locate(x, facts)
    slot = _outside_to_last(interval, inside, count).add_(facts.rows).reshape(-1)
    looked = facts.uniform_lookup(spline_order).index_select(1, slot)
    u = ((x - looked[0].view_as(x)) * facts.inverse_step).clamp_(0, 1).reshape(1, -1)
    powers = u.new_empty(spline_order + 1, u.shape[-1])
    powers[0] = 1
    torch.cumprod(u.expand(spline_order, -1), 0, out=powers[1:])
    return _UniformPoints(_local_index(interval, spline_order, count), looked[1:], powers)


def _uniform_levels(
    x: Tensor,
    facts: _KnotFacts,
    spline_order: int,
    levels: int,
    first: int = 0,
    points: _UniformPoints | None = None,
) -> tuple[Tensor, list[Tensor], _UniformPoints]:
    """:func:`_local_levels` on uniform knots, from the cardinal B-spline polynomials.

    With ``u = (x - t_j) / h`` measured from the left knot of the interval found by
    :func:`_locate`, the local values of the levels ``l`` are ``h^-l P_l^T [1, u, ..., u^k]``
    (``cardinal_matrix`` in :mod:`kanphys.basis._cardinal`), masked: one matrix product for
    all levels, computed on ``(levels (k + 1), N d)`` blocks. ``points`` from an earlier call
    at the same ``x`` skip the search; they are returned for the next call.
    """
    order = spline_order
    if points is None:
        points = _uniform_points(x, facts, order)
    stop = min(first + levels, order + 1)  # derivatives above the degree vanish
    local: list[Tensor] = []
    if stop > first:
        values = points.keep.unsqueeze(0)
        if order > 0:
            weights = facts.cardinal_weights(order, first, stop)
            values = (weights @ points.powers).view(stop - first, order + 1, -1).mul_(points.keep)
            if not facts.shared_step:
                scales = facts.level_scales(first, stop)[:, None, None, :]
                values = values.view(stop - first, order + 1, *x.shape).mul_(scales)
        blocks = values.view(stop - first, order + 1, *x.shape).permute(0, 2, 3, 1)
        local = list(blocks.unbind(0))
    local += [x.new_zeros(*x.shape, order + 1) for _ in range(first + levels - max(stop, first))]
    return points.basis_index, local, points


def _local_levels(
    x: Tensor,
    knots: Tensor,
    spline_order: int,
    levels: int,
    first: int = 0,
    points: _UniformPoints | None = None,
) -> tuple[Tensor, list[Tensor], _UniformPoints | None]:
    """The ``k + 1`` B-splines that do not vanish at each point, and their derivatives.

    For ``x`` in the knot interval ``[t_j, t_{j+1})`` only ``B_{j-k}, ..., B_j`` are non-zero.
    Uniform knots use the cardinal B-spline polynomials (:func:`_uniform_levels`), others the
    de Boor recursion (:func:`_de_boor_levels`); both give the same result to rounding.

    Parameters
    ----------
    x : Tensor, shape (N, d)
    knots : Tensor, shape (d, M)
    spline_order : int
    levels : int
        Number of derivative levels to return.
    first : int
        Lowest derivative level returned: levels ``first, ..., first + levels - 1``.
    points : _UniformPoints, optional
        Returned by an earlier call at the same ``x`` and knots (uniform knots only).

    Returns
    -------
    index : Tensor of int64, shape (N, d, k + 1)
        Basis index ``j - k + r`` of every local value, clamped into ``[0, n)``.
    local : list (per level) of Tensor, shape (N, d, k + 1)
        ``local[l][..., r]`` is the ``(first + l)``-th derivative of ``B_{j-k+r}``; 0 where that
        function does not exist (``j - k + r`` outside ``[0, n)``) or ``x`` lies outside
        ``[t_0, t_{M-1}]``. Stored as ``(k + 1, N, d)`` blocks (these are permuted views).
    points : _UniformPoints or None
        For the next call at the same ``x`` (None for non-uniform knots).
    """
    facts = _knot_facts(knots)
    if facts.uniform:
        return _uniform_levels(x, facts, spline_order, levels, first, points)
    return (*_de_boor_levels(x, facts, spline_order, levels, first), None)


def _densify(x: Tensor, index: Tensor, local: Tensor, functions: int) -> Tensor:
    """Place masked local values ``(N, d, k + 1)`` into a dense ``(N, d, n)`` block.

    Values of functions that do not exist (near the ends of the knots) and of points outside the
    knots are zero, and their clamped indices repeat valid ones, so they are added as zeros.
    Autograd differentiates the placement: the gradient of ``local`` gathers the dense one.
    """
    dense = torch.zeros(*x.shape, functions, dtype=x.dtype, device=x.device)
    return dense.scatter_add_(-1, index, local)


class _LocalBSpline(torch.autograd.Function):
    """Local values (:func:`_local_levels`) of levels ``first .. first + levels - 1`` with
    closed-form input gradients.

    Returns the index (not differentiable) and one ``(N, d, k + 1)`` tensor per level. The
    gradient with respect to ``x`` of level ``l`` is level ``l + 1`` at the same index. The
    forward pass keeps the local values of the next levels, and the backward pass contracts
    the incoming gradient with them. When a graph of the gradient is requested
    (``create_graph=True``) it applies this function again one level higher instead, so any
    number of nested differentiations works, all on local ``(N, d, k + 1)`` values.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        x: Tensor,
        knots: Tensor,
        spline_order: int,
        first: int,
        levels: int,
        points: _UniformPoints | None = None,
    ):
        needs_grad = ctx.needs_input_grad[0]
        index, local, points = _local_levels(
            x, knots, spline_order, levels + int(needs_grad), first, points
        )
        ctx.spline_order, ctx.first, ctx.levels, ctx.points = spline_order, first, levels, points
        ctx.save_for_backward(x, knots, *(local[1:] if needs_grad else []))
        ctx.mark_non_differentiable(index)
        ctx.set_materialize_grads(False)
        return (index, *local[:levels])

    @staticmethod
    def backward(ctx, _: None, *grads: Tensor | None):  # type: ignore[override]
        x, knots, *higher = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: keep the graph of the derivative
            again = (x, knots, ctx.spline_order, ctx.first + 1, ctx.levels, ctx.points)
            higher = list(_LocalBSpline.apply(*again)[1:])
        grad_x = None
        for grad, derivative in zip(grads, higher, strict=True):
            if grad is not None:
                # derivative first: the product takes the memory layout of the local values,
                # (k + 1, N, d), where the sum over the k + 1 values adds whole rows
                term = (derivative * grad).sum(dim=-1)
                grad_x = term if grad_x is None else grad_x + term
        return grad_x, None, None, None, None, None


def bspline_basis(x: Tensor, knots: Tensor, spline_order: int, derivatives: int = 0) -> BasisValues:
    """Evaluate B-splines of degree ``spline_order`` and their derivatives in closed form.

    Only the ``spline_order + 1`` functions that do not vanish at a point are computed (from
    the cardinal B-spline polynomials on uniform knots, by the de Boor recursion otherwise)
    and then placed into the dense result. Gradients with respect to ``x``
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
    index, *local = _LocalBSpline.apply(x, knots.detach(), spline_order, 0, derivatives + 1)
    functions = knots.shape[-1] - spline_order - 1
    return BasisValues(*(_densify(x, index, values, functions) for values in local))


def bspline_local(
    x: Tensor, knots: Tensor, spline_order: int, derivatives: int = 0
) -> tuple[Tensor, list[Tensor]]:
    """The ``k + 1`` non-zero B-splines at every point and their derivatives, not densified.

    The local form of :func:`bspline_basis` (same values, same closed-form input gradients):
    ``dense[n, i, index[n, i, r]] += local[level][n, i, r]`` gives its result. Layers that
    combine several derivative levels per point (Taylor jets) work on these ``(N, d, k + 1)``
    blocks and place them once.

    Returns
    -------
    index : Tensor of int64, shape (N, d, k + 1)
        Basis index of every local value, in ``[0, M - k - 1)``; indices of functions that do
        not exist repeat valid ones, with value 0.
    local : list of Tensor, shape (N, d, k + 1)
        Levels ``0 .. derivatives``.
    """
    index, *local = _LocalBSpline.apply(x, knots.detach(), spline_order, 0, derivatives + 1)
    return index, local


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
