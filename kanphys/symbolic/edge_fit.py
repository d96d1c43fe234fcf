"""Fit ``y ~ a f(b x + c) + d`` for every primitive ``f`` of a library to many edges at once.

:func:`fit_edges` returns, for every (edge, primitive) pair, the best parameters found and the
coefficient of determination ``R^2`` as an :class:`EdgeFits`; :meth:`EdgeFits.best` picks one
primitive per edge. Everything is vectorised over edges and candidates; Python loops run only
over primitives, over grid chunks and over iterations:

1. At most ``max_samples`` points per edge (64 for the grid search) are used: evenly spaced
   order statistics of ``x``, so the smallest and largest inputs are always kept.
2. Grid search over ``(b, c)``, ``z = f(b x + c)`` evaluated in chunks of bounded size: ``(a,
   d)`` is the least-squares line of ``y`` on ``z`` and ``R^2 = cov(z, y)^2 / (var z var y)``.
   A cell is infeasible when ``[b x_min + c, b x_max + c]`` leaves the domain or comes within
   :data:`~kanphys.symbolic.library.SAFE_EPS` of a singularity. Among the cells within rounding
   of the best ``R^2`` the one with ``|b|`` nearest 1 and smallest ``|c|`` wins.
3. Batched Levenberg-Marquardt refinement of all pairs at once: analytic Jacobian from
   :meth:`~kanphys.symbolic.library.Primitive.derivative`, one ``torch.linalg.solve_ex`` on the
   ``(E, K, 4, 4)`` damped normal equations, per-pair damping and accept/reject; steps that
   leave the domain are rejected.
4. The identity and the zero function get their exact fits ``a x + d`` and ``d = mean(y)``
   (reported as ``(a, 1, 0, d)`` and ``(0, 1, 0, d)``).

Redundant parameters are removed with :func:`~kanphys.symbolic.library.detect_symmetry`, which
also makes the results canonical: even and odd primitives have ``b > 0``; powers (``x^2``,
``1/x``, ``sqrt``, ``abs``...) and ``log`` have ``|b| = 1``; ``exp`` has ``c = 0``. Edges whose
``y`` is constant (to rounding) get ``a = 0``, ``d = mean(y)`` and ``R^2 = 1`` for every feasible
primitive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from kanphys.errors import ConfigError, NonFiniteError, ShapeError, TensorTypeError, check_int
from kanphys.symbolic.library import (
    SAFE_EPS,
    Library,
    Primitive,
    Symmetry,
    detect_symmetry,
    get_library,
)

__all__ = ["EdgeChoice", "EdgeFits", "fit_edges"]

_CHUNK_ELEMENTS = 1 << 21  # elements of one (E, cells, N) block of the grid search
_GRID_SAMPLES = 64  # samples per edge used by the grid search (it only locates the basin)
_B_MIN_FRACTION = 1e-2  # smallest |b| on the grid, as a fraction of the largest
_DAMPING_INIT, _DAMPING_MIN, _DAMPING_MAX = 1e-3, 1e-12, 1e8
_DAMPING_DOWN, _DAMPING_UP = 0.2, 10.0


@dataclass(frozen=True)
class EdgeChoice:
    """One primitive per edge, as chosen by :meth:`EdgeFits.best`.

    Attributes
    ----------
    indices : Tensor of int64, shape ``(E,)``
        Index of the chosen primitive in :attr:`EdgeFits.names`.
    names : tuple of str, length ``E``
        Name of the chosen primitive of each edge.
    params : Tensor, shape ``(E, 4)``
        Its ``(a, b, c, d)``: the edge is ``a f(b x + c) + d``.
    r2 : Tensor, shape ``(E,)``
        Its coefficient of determination.
    complexity : Tensor of int64, shape ``(E,)``
        Its complexity.
    """

    indices: Tensor
    names: tuple[str, ...]
    params: Tensor
    r2: Tensor
    complexity: Tensor


@dataclass(frozen=True)
class EdgeFits:
    """Candidate fits ``a f(b x + c) + d`` for ``E`` edges and ``K`` primitives.

    Attributes
    ----------
    names : tuple of str, length ``K``
        Primitive names, in library order.
    params : Tensor, shape ``(E, K, 4)``
        Best ``(a, b, c, d)`` found per (edge, primitive); NaN where infeasible.
    r2 : Tensor, shape ``(E, K)``
        Coefficient of determination ``1 - SSE / SST`` on the samples; ``-inf`` where no
        parameters keep the argument inside the primitive's domain.
    complexity : Tensor of int64, shape ``(K,)``
        Complexity of each primitive.
    """

    names: tuple[str, ...]
    params: Tensor
    r2: Tensor
    complexity: Tensor

    def __post_init__(self) -> None:
        n_edges, count = self.params.shape[0] if self.params.dim() else 0, len(self.names)
        expected = {"params": (n_edges, count, 4), "r2": (n_edges, count), "complexity": (count,)}
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ShapeError(
                    f"EdgeFits: {name} must have shape {shape} ({n_edges} edges, {count} "
                    f"primitives); received {tuple(getattr(self, name).shape)}"
                )

    @property
    def n_edges(self) -> int:
        """Number of edges ``E``."""
        return int(self.params.shape[0])

    def best(self, *, r2_tolerance: float = 1e-6, complexity_weight: float = 0.5) -> EdgeChoice:
        """Choose one primitive per edge, trading accuracy against complexity.

        The score of primitive ``k`` on an edge is ::

            log10(1 - R^2_k + r2_tolerance) + complexity_weight * complexity_k

        and the lowest score wins (ties, to ``1e-9``: lower complexity, then library order).
        Each unit of complexity must therefore buy a factor ``10**complexity_weight`` in
        ``1 - R^2 + r2_tolerance``. With ``complexity_weight > log10(2) ~ 0.3`` (default 0.5)
        this contains the rule *the simplest primitive whose 1 - R^2 is within r2_tolerance of
        the best wins*; it also sends pure-noise edges (every ``R^2`` small) to ``"0"``.

        Parameters
        ----------
        r2_tolerance : float, default 1e-6
            Differences of ``1 - R^2`` below this are not worth any complexity.
        complexity_weight : float, default 0.5
            Decades of ``1 - R^2`` one unit of complexity is worth.

        Returns
        -------
        EdgeChoice
            Indices, names, params ``(E, 4)``, ``R^2`` ``(E,)`` and complexities ``(E,)``.
        """
        tolerance = _non_negative("EdgeFits.best: r2_tolerance", r2_tolerance)
        weight = _non_negative("EdgeFits.best: complexity_weight", complexity_weight)
        complexity = self.complexity.to(self.r2.dtype)
        score = torch.log10((1 - self.r2).clamp_min(0) + tolerance) + weight * complexity
        score = torch.where(torch.isfinite(self.r2), score, torch.full_like(score, math.inf))
        lowest = score.min(dim=-1, keepdim=True).values
        near = score <= lowest + 1e-9
        key = complexity.expand_as(score)
        indices = torch.where(near, key, torch.full_like(key, math.inf)).argmin(dim=-1)
        rows = torch.arange(self.n_edges, device=indices.device)
        return EdgeChoice(
            indices=indices,
            names=tuple(self.names[i] for i in indices.tolist()),
            params=self.params[rows, indices],
            r2=self.r2[rows, indices],
            complexity=self.complexity[indices],
        )

    def ranking(self, edge: int) -> list[tuple[str, float, int, tuple[float, float, float, float]]]:
        """All primitives of one edge, best ``R^2`` first; ``R^2`` equal to 12 decimals are
        ties, broken by lower complexity, then library order.

        Returns
        -------
        list of (name, r2, complexity, (a, b, c, d))
        """
        check_int("EdgeFits.ranking: edge", edge, minimum=0)
        if edge >= self.n_edges:
            raise ConfigError(
                f"EdgeFits.ranking: edge must be < {self.n_edges} (the number of edges); "
                f"received {edge}"
            )
        r2 = self.r2[edge].tolist()
        complexity = self.complexity.tolist()
        params = self.params[edge].tolist()
        order = sorted(range(len(r2)), key=lambda k: (-round(r2[k], 12), complexity[k], k))
        return [(self.names[k], r2[k], complexity[k], tuple(params[k])) for k in order]  # type: ignore[misc]


def _non_negative(label: str, value: Any) -> float:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{label} must be a finite number >= 0; received {value!r}")
    return float(value)


# ----------------------------------------------------------------------------------------
# input checks and grids


def _check_samples(x: Any, y: Any) -> None:
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, Tensor):
            problem = f"be a torch.Tensor; received {type(value).__name__}"
        elif value.dim() != 2:
            problem = f"have shape (E, N) (edges, samples); received {tuple(value.shape)}"
        elif not value.is_floating_point():
            problem = f"be a floating-point tensor; received {value.dtype}"
        else:
            continue
        raise ShapeError(f"fit_edges: {name} must {problem}")
    if x.shape != y.shape:
        raise ShapeError(
            f"fit_edges: x and y must have the same shape (E, N); received x {tuple(x.shape)} "
            f"and y {tuple(y.shape)}"
        )
    if x.shape[0] < 1 or x.shape[1] < 4:
        raise ShapeError(
            "fit_edges: x and y need at least 1 edge and 4 samples per edge (4 parameters are "
            f"fitted); received shape {tuple(x.shape)}"
        )
    if y.dtype != x.dtype or y.device != x.device:
        raise TensorTypeError(
            f"fit_edges: y ({y.dtype}, {y.device}) must have the dtype and device of x "
            f"({x.dtype}, {x.device})"
        )
    for name, value in (("x", x), ("y", y)):
        bad = int((~torch.isfinite(value)).any(dim=1).sum())
        if bad:
            raise NonFiniteError(
                f"fit_edges: {name} contains NaN or infinite values on {bad} of "
                f"{value.shape[0]} edges"
            )


def _check_range(label: str, value: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        low, high = math.nan, math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(
            f"fit_edges: {label} must be a finite pair (low, high) with low < high; "
            f"received {value!r}"
        )
    return low, high


def _axis(low: float, high: float, count: int, snap: float, *, log: bool) -> list[float]:
    """``count`` values from ``low`` to ``high``, evenly or (``log``) geometrically spaced; the
    one nearest ``snap`` is replaced by ``snap`` when that lies inside."""
    if count == 1:
        return [min(max(snap, low), high)]
    fractions = [i / (count - 1) for i in range(count)]
    values = [low * (high / low) ** t if log else low + (high - low) * t for t in fractions]
    if low <= snap <= high:
        values[min(range(count), key=lambda i: abs(values[i] - snap))] = snap
    return values


def _b_values(b_range: tuple[float, float], count: int) -> list[float]:
    """Magnitudes log-spaced from ``max|b_range| / 100``, both signs (zero excluded), with
    ``+-1`` when inside."""
    low, high = b_range
    smallest = _B_MIN_FRACTION * max(-low, high)
    if low >= 0 or high <= 0:
        sign = 1.0 if low >= 0 else -1.0
        small, large = sorted((abs(low), abs(high)))
        return [sign * v for v in _axis(max(small, smallest), large, count, 1.0, log=True)]
    negative = _axis(min(smallest, -low), -low, max(1, count // 2), 1.0, log=True)
    positive = _axis(min(smallest, high), high, max(1, count - count // 2), 1.0, log=True)
    return sorted(-v for v in negative) + positive


def _interval_ok(
    primitive: Primitive, b: Tensor, c: Tensor, x_low: Tensor, x_high: Tensor
) -> Tensor:
    """True where ``b x + c`` stays in the domain, away from singularities, for all
    ``x_low <= x <= x_high`` (broadcast shapes)."""
    u_low, u_high = b * x_low + c, b * x_high + c
    u_low, u_high = torch.minimum(u_low, u_high), torch.maximum(u_low, u_high)
    ok = primitive.in_domain(u_low) & primitive.in_domain(u_high)
    for point in primitive.singularities:
        ok = ok & ~((u_low <= point + SAFE_EPS) & (u_high >= point - SAFE_EPS))
    return ok


# ----------------------------------------------------------------------------------------
# the three stages


@dataclass(frozen=True)
class _Samples:
    """The samples of every edge and their statistics."""

    x: Tensor  # (E, n)
    y: Tensor  # (E, n)
    x_low: Tensor  # (E,)
    x_high: Tensor  # (E,)
    y_mean: Tensor  # (E,)
    y_var: Tensor  # (E,) population variance
    constant: Tensor  # (E,) bool, y constant to rounding

    @classmethod
    def of(cls, x: Tensor, y: Tensor) -> _Samples:
        eps = torch.finfo(x.dtype).eps
        y_mean = y.mean(dim=1)
        y_var = (y - y_mean[:, None]).square().mean(dim=1)
        scale = y.square().mean(dim=1)
        constant = y_var <= (16 * eps) ** 2 * scale + torch.finfo(x.dtype).tiny
        return cls(x, y, x.amin(dim=1), x.amax(dim=1), y_mean, y_var, constant)


def _subsample(x: Tensor, y: Tensor, max_samples: int) -> tuple[Tensor, Tensor]:
    """Evenly spaced order statistics of ``x`` (first and last included), ``(E, max_samples)``."""
    if x.shape[1] <= max_samples:
        return x, y
    x_sorted, order = torch.sort(x, dim=1)
    y_sorted = torch.gather(y, 1, order)
    pick = torch.linspace(0, x.shape[1] - 1, max_samples, device=x.device).round().long()
    return x_sorted[:, pick], y_sorted[:, pick]


def _grid_search(
    primitive: Primitive, samples: _Samples, b_cells: Tensor, c_cells: Tensor
) -> tuple[Tensor, Tensor]:
    """Best grid cell per edge: parameters ``(E, 4)`` (NaN rows where infeasible) and a
    feasibility mask ``(E,)``."""
    x, y = samples.x, samples.y
    n_edges, n_samples = x.shape
    eps, tiny = torch.finfo(x.dtype).eps, torch.finfo(x.dtype).tiny
    x_low, x_high = samples.x_low[:, None], samples.x_high[:, None]
    feasible = _interval_ok(primitive, b_cells, c_cells, x_low, x_high)
    y_centred = (y - samples.y_mean[:, None])[:, None, :]
    r2, slope, offset = torch.empty(3, n_edges, b_cells.numel(), dtype=x.dtype, device=x.device)
    chunk = max(1, _CHUNK_ELEMENTS // (n_edges * n_samples))
    for start in range(0, b_cells.numel(), chunk):
        cells = slice(start, start + chunk)
        z = primitive.safe_fn(x[:, None, :] * b_cells[cells, None] + c_cells[cells, None])
        z_mean = z.mean(dim=-1)
        z = z - z_mean[..., None]
        spread = z.abs().amax(dim=-1)
        flat = spread <= 64 * eps * (z_mean.abs() + tiny)  # z constant to rounding
        spread = torch.where(flat, torch.ones_like(spread), spread)
        z = z / spread[..., None]
        z_var = z.square().mean(dim=-1)
        cov = (z * y_centred).mean(dim=-1)
        z_var = torch.where(flat, torch.ones_like(z_var), z_var)
        cov = torch.where(flat, torch.zeros_like(cov), cov)
        r2[:, cells] = (cov.square() / (z_var * samples.y_var[:, None])).clamp(max=1.0)
        slope[:, cells] = cov / z_var / spread
        offset[:, cells] = samples.y_mean[:, None] - slope[:, cells] * z_mean
    constant = samples.constant[:, None]
    r2 = torch.where(constant, torch.ones_like(r2), r2)
    slope = torch.where(constant, torch.zeros_like(slope), slope)
    offset = torch.where(constant, samples.y_mean[:, None].expand_as(offset), offset)
    feasible = feasible & torch.isfinite(r2) & torch.isfinite(slope) & torch.isfinite(offset)
    r2 = torch.where(feasible, r2, torch.full_like(r2, -math.inf))
    # among the cells within rounding of the best, prefer |b| near 1 and small |c|
    near = r2 >= r2.max(dim=1, keepdim=True).values - 64 * eps
    penalty = b_cells.abs().log().abs() + 0.1 * c_cells.abs()
    best = torch.where(near, penalty, torch.full_like(r2, math.inf)).argmin(dim=1)
    rows = torch.arange(n_edges, device=x.device)
    params = torch.stack(
        [slope[rows, best], b_cells[best], c_cells[best], offset[rows, best]], dim=-1
    )
    ok = feasible[rows, best]
    return torch.where(ok[:, None], params, torch.full_like(params, math.nan)), ok


def _linearise(
    primitives: list[Primitive], samples: _Samples, theta: Tensor, free: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Gauss-Newton matrices ``J^T J`` ``(E, K, 4, 4)``, gradients ``J^T r`` ``(E, K, 4)`` and
    sums of squared residuals ``(E, K)`` of ``a f(b x + c) + d - y`` at ``theta`` ``(E, K, 4)``;
    the Jacobian columns of the parameters that are not ``free`` ``(K, 4)`` are zero."""
    x, y = samples.x, samples.y
    matrices, gradients, sums = [], [], []
    for k, primitive in enumerate(primitives):
        a, b, c, d = (p[:, None] for p in theta[:, k].unbind(-1))
        u = b * x + c
        value = primitive.safe_fn(u)
        slope = a * primitive.derivative(u)
        residual = a * value + d - y
        jacobian = torch.stack([value, slope * x, slope, torch.ones_like(value)], dim=-1)
        jacobian = jacobian * free[k]
        matrices.append(jacobian.transpose(-1, -2) @ jacobian)
        gradients.append((jacobian.transpose(-1, -2) @ residual[..., None])[..., 0])
        sums.append(residual.square().sum(dim=-1))
    return torch.stack(matrices, dim=1), torch.stack(gradients, dim=1), torch.stack(sums, dim=1)


def _refine(
    primitives: list[Primitive],
    samples: _Samples,
    theta: Tensor,
    active: Tensor,
    free: Tensor,
    steps: int,
) -> Tensor:
    """Batched Levenberg-Marquardt on ``theta`` ``(E, K, 4)`` where ``active`` ``(E, K)``,
    updating the ``free`` ``(K, 4)`` parameters only.

    A pair stops when its sum of squares reaches rounding level, decreases by less than
    ``max(1e-8, 64 eps)`` relative in an accepted step, or its damping reaches the maximum;
    primitives whose pairs have all stopped are no longer evaluated."""
    eps, tiny = torch.finfo(theta.dtype).eps, torch.finfo(theta.dtype).tiny
    x_low, x_high = samples.x_low, samples.x_high
    matrix, gradient, sse = _linearise(primitives, samples, theta, free)
    floor_sse = (4 * eps) ** 2 * samples.y.square().sum(dim=-1)[:, None]  # rounding level
    stall = max(1e-8, 64 * eps)
    damping = torch.full_like(sse, _DAMPING_INIT)
    done = ~active | (sse <= floor_sse)
    for _ in range(steps):
        live = [k for k, stopped in enumerate(done.all(dim=0).tolist()) if not stopped]
        if not live:
            break
        chosen = [primitives[k] for k in live]
        current, current_sse, lam = theta[:, live], sse[:, live], damping[:, live]
        diagonal = matrix[:, live].diagonal(dim1=-2, dim2=-1)
        floor = eps * diagonal.amax(dim=-1, keepdim=True) + tiny
        damped = matrix[:, live] + torch.diag_embed(lam[..., None] * diagonal.clamp_min(floor))
        step, info = torch.linalg.solve_ex(damped, -gradient[:, live, :, None])
        candidate = current + step[..., 0]
        ok = ~done[:, live] & (info == 0) & torch.isfinite(candidate).all(dim=-1)
        inside = [
            _interval_ok(p, candidate[:, j, 1], candidate[:, j, 2], x_low, x_high)
            for j, p in enumerate(chosen)
        ]
        ok = ok & torch.stack(inside, dim=1)
        candidate = torch.where(ok[..., None], candidate, current)
        new_matrix, new_gradient, new_sse = _linearise(chosen, samples, candidate, free[live])
        improved = ok & (new_sse < current_sse)
        stalled = improved & (current_sse - new_sse <= stall * current_sse)
        new_sse = torch.where(improved, new_sse, current_sse)
        theta[:, live], sse[:, live] = torch.where(improved[..., None], candidate, current), new_sse
        matrix[:, live] = torch.where(improved[..., None, None], new_matrix, matrix[:, live])
        gradient[:, live] = torch.where(improved[..., None], new_gradient, gradient[:, live])
        lam = torch.where(improved, lam * _DAMPING_DOWN, lam * _DAMPING_UP)
        damping[:, live] = lam.clamp(_DAMPING_MIN, _DAMPING_MAX)
        done[:, live] |= stalled | (lam >= _DAMPING_MAX) | (new_sse <= floor_sse)
    return theta


def _normalise(
    primitive: Primitive, symmetry: Symmetry, params: Tensor, samples: _Samples
) -> Tensor:
    """Remove the redundant parameter of ``symmetry`` from ``params`` ``(E, 4)``: ``|b| = 1``
    for power and logarithmic primitives, ``c = 0`` for exponential ones (rows that would leave
    the domain are kept as they are)."""
    a, b, c, d = params.unbind(-1)
    scale, sign = b.abs(), torch.where(b < 0, -torch.ones_like(b), torch.ones_like(b))
    if symmetry.invariance == "power":
        new = torch.stack([a * scale**symmetry.rate, sign, c / scale, d], dim=-1)
    elif symmetry.invariance == "logarithmic":
        new = torch.stack([a, sign, c / scale, d + a * symmetry.rate * scale.log()], dim=-1)
    elif symmetry.invariance == "exponential":
        new = torch.stack([a * torch.exp(symmetry.rate * c), b, torch.zeros_like(c), d], dim=-1)
    else:
        return params
    ok = torch.isfinite(new).all(dim=-1)
    ok = ok & _interval_ok(primitive, new[:, 1], new[:, 2], samples.x_low, samples.x_high)
    return torch.where(ok[:, None], new, params)


def _closed_form(kind: str, samples: _Samples) -> Tensor:
    """Least-squares ``(a, 1, 0, d)`` ``(E, 4)`` of ``a x + d`` (``kind = "identity"``) or of
    the constant ``d`` (``"zero"``)."""
    x, y = samples.x, samples.y
    zeros, ones = torch.zeros_like(samples.y_mean), torch.ones_like(samples.y_mean)
    if kind == "zero":
        return torch.stack([zeros, ones, zeros, samples.y_mean], dim=-1)
    x_mean = x.mean(dim=1)
    x_var = (x - x_mean[:, None]).square().mean(dim=1)
    cov = ((x - x_mean[:, None]) * (y - samples.y_mean[:, None])).mean(dim=1)
    slope = torch.where(x_var > 0, cov / x_var.clamp_min(torch.finfo(x.dtype).tiny), zeros)
    slope = torch.where(samples.constant, zeros, slope)
    return torch.stack([slope, ones, zeros, samples.y_mean - slope * x_mean], dim=-1)


def _canonical(params: Tensor, parity: int) -> Tensor:
    """Flip ``b < 0`` to ``b > 0`` for even (``parity = 1``) or odd (``-1``) primitives."""
    if parity == 0:
        return params
    a, b, c, d = params.unbind(-1)
    sign = torch.where(b < 0, -torch.ones_like(b), torch.ones_like(b))
    return torch.stack([a * sign if parity == -1 else a, sign * b, sign * c, d], dim=-1)


def fit_edges(
    x: Tensor,
    y: Tensor,
    library: Library | Iterable[str] | None = None,
    *,
    b_range: tuple[float, float] = (-10.0, 10.0),
    c_range: tuple[float, float] = (-10.0, 10.0),
    grid_points: int | tuple[int, int] = (32, 21),
    refine_steps: int = 60,
    max_samples: int = 256,
) -> EdgeFits:
    """Fit ``y ~ a f(b x + c) + d`` for every edge and every primitive ``f`` of ``library``.

    Parameters
    ----------
    x, y : Tensor, shape ``(E, N)``
        Inputs and activations of ``E`` edges, ``N >= 4`` samples each (an explicit batch);
        finite, same floating dtype and device (which the results use).
    library : Library, iterable of str or None, default None
        Primitives to try (see :func:`~kanphys.symbolic.library.get_library`).
    b_range, c_range : (float, float), default ``(-10, 10)``
        Ranges of the initial ``(b, c)`` grid; the refinement may leave them.
    grid_points : int or (int, int), default ``(32, 21)``
        Numbers of ``b`` and ``c`` grid values. ``b`` values are log-spaced in magnitude from
        ``max|b_range| / 100`` with both signs (half each; even and odd primitives use the
        positive half) and include ``+-1``; ``c`` values are evenly spaced and include 0.
    refine_steps : int, default 60
        Maximum Levenberg-Marquardt iterations (0 keeps the grid result).
    max_samples : int, default 256
        Samples per edge used by the grid search and the refinement (evenly spaced order
        statistics of ``x``); ``R^2`` is reported on all ``N`` samples.

    Returns
    -------
    EdgeFits
        ``params`` ``(E, K, 4)``, ``r2`` ``(E, K)``, ``complexity`` ``(K,)``.

    Raises
    ------
    ShapeError, TensorTypeError, NonFiniteError
        Samples that are not finite ``(E, N)`` tensors of one dtype and device.
    ConfigError
        Invalid settings or an empty library.
    """
    _check_samples(x, y)
    chosen = get_library(library)
    if len(chosen) == 0:
        raise ConfigError("fit_edges: library is empty; give at least one primitive")
    b_range = _check_range("b_range", b_range)
    c_range = _check_range("c_range", c_range)
    if isinstance(grid_points, int):
        grid_points = (grid_points, grid_points)
    if not isinstance(grid_points, tuple) or len(grid_points) != 2:
        raise ConfigError(
            f"fit_edges: grid_points must be an int or a pair (n_b, n_c); received {grid_points!r}"
        )
    n_b = check_int("fit_edges: grid_points[0] (number of b values)", grid_points[0], minimum=2)
    n_c = check_int("fit_edges: grid_points[1] (number of c values)", grid_points[1], minimum=1)
    steps = check_int("fit_edges: refine_steps", refine_steps, minimum=0)
    n_fit = check_int("fit_edges: max_samples", max_samples, minimum=4)

    # fit on each edge's input mapped to [-1, 1], so the (b, c) grid suits any input range;
    # the parameters are mapped back to the original input at the end
    original, y = x.detach(), y.detach()
    low, high = original.amin(dim=1, keepdim=True), original.amax(dim=1, keepdim=True)
    centre, half = 0.5 * (low + high), 0.5 * (high - low)
    half = torch.where(half > 0, half, torch.ones_like(half))
    x = (original - centre) / half
    full, samples = _Samples.of(x, y), _Samples.of(*_subsample(x, y, n_fit))
    coarse = _Samples.of(*_subsample(samples.x, samples.y, _GRID_SAMPLES))
    like: dict[str, Any] = {"dtype": x.dtype, "device": x.device}
    b_all = torch.tensor(_b_values(b_range, n_b), **like)
    c_all = torch.tensor(_axis(*c_range, n_c, 0.0, log=False), **like)
    n_edges, primitives = x.shape[0], list(chosen.values())

    params = torch.full((n_edges, len(primitives), 4), math.nan, **like)
    feasible = torch.zeros(n_edges, len(primitives), dtype=torch.bool, device=x.device)
    symmetries = [detect_symmetry(p) for p in primitives]
    free = torch.ones(len(primitives), 4, **like)
    general = []
    for k, (primitive, symmetry) in enumerate(zip(primitives, symmetries, strict=True)):
        if symmetry.closed_form is not None:
            params[:, k] = _closed_form(symmetry.closed_form, full)
            feasible[:, k] = True
            continue
        b_own = b_all[b_all > 0] if symmetry.parity and bool((b_all > 0).any()) else b_all
        c_own = torch.zeros_like(c_all[:1]) if symmetry.invariance == "exponential" else c_all
        b_cells, c_cells = (t.reshape(-1) for t in torch.meshgrid(b_own, c_own, indexing="ij"))
        start, feasible[:, k] = _grid_search(primitive, coarse, b_cells, c_cells)
        params[:, k] = _normalise(primitive, symmetry, start, samples)
        frozen = {"power": 1, "logarithmic": 1, "exponential": 2}.get(symmetry.invariance or "")
        if frozen is not None:
            free[k, frozen] = 0.0
        general.append(k)

    if general and steps > 0:
        active = feasible[:, general] & ~samples.constant[:, None]
        dummy = torch.tensor([0.0, 1.0, 0.0, 0.0], **like)
        start = torch.where(active[..., None], params[:, general], dummy)
        subset = [primitives[k] for k in general]
        refined = _refine(subset, samples, start, active, free[general], steps)
        params[:, general] = torch.where(active[..., None], refined, params[:, general])
    x, full = original, _Samples.of(original, y)
    for k in general:
        # f(b u + c) with u = (x - centre) / half  is  f(b' x + c'); then canonical form
        mapped = params[:, k].clone()
        mapped[:, 1] = params[:, k, 1] / half[:, 0]
        mapped[:, 2] = params[:, k, 2] - params[:, k, 1] * centre[:, 0] / half[:, 0]
        mapped = _normalise(primitives[k], symmetries[k], mapped, full)
        params[:, k] = _canonical(mapped, symmetries[k].parity)
    for k, symmetry in enumerate(symmetries):
        if symmetry.closed_form is not None:
            params[:, k] = _closed_form(symmetry.closed_form, full)

    r2 = torch.full((n_edges, len(primitives)), -math.inf, **like)
    total = (y - full.y_mean[:, None]).square().sum(dim=1)
    for k, primitive in enumerate(primitives):
        a, b, c, d = (p[:, None] for p in params[:, k].unbind(-1))
        residual = a * primitive.safe_fn(b * x + c) + d - y
        fit_r2 = 1 - residual.square().sum(dim=1) / total.clamp_min(torch.finfo(x.dtype).tiny)
        fit_r2 = torch.where(full.constant, torch.ones_like(fit_r2), fit_r2)
        r2[:, k] = torch.where(feasible[:, k], fit_r2, r2[:, k])
    complexity = torch.tensor([p.complexity for p in primitives], device=x.device)
    return EdgeFits(names=chosen.names, params=params, r2=r2, complexity=complexity)
