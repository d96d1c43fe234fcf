"""Domains and point samplers for physics-informed training.

:class:`Geometry` wraps a :class:`~kanphys.pde.problem.Domain`: membership, collocation points
(interior, spatial boundary with outward normals, planes ``variable = value``), evaluation grids
and a smooth boundary-distance function for hard constraints. Randomness comes only from the
``generator`` keyword; the work is done in float64 on the CPU, converted to ``dtype``/``device``.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy
import torch
from torch import Tensor

from kanphys._checks import check_input
from kanphys.errors import ConfigError, check_choice, check_int
from kanphys.pde.problem import Domain, input_symbol, is_finite_number

__all__ = ["SAMPLING_METHODS", "Geometry", "polygon_crossing_edges"]

SAMPLING_METHODS: tuple[str, ...] = ("uniform", "sobol", "lhs", "grid")
_F64 = torch.float64
_PLANAR_PARAMETERS = {"none": 0, "area": 2, "circle": 1, "segments": 1}
_CHUNK = 65536  # rows per block of the (N, n_vertices) point-in-polygon tests
Curve = tuple[Tensor, Tensor | None]  # (S, 2, 2) segment end points, (S, 2) normals or None


class Geometry:
    """Sampling, membership and boundary-distance queries for a :class:`Domain`.

    The domain is the product of a *planar shape* spanned by ``domain.spatial[:2]`` (a disk with
    ``center``, ``radius``, or a simple polygon with ``vertices`` in either orientation, enclosed
    by ``domain.bounds``; none for ``shape="box"``) and one interval per other input. "The
    boundary" is the spatial boundary for all times: the shape's curve times the intervals plus
    both end faces of each spatial interval not in ``domain.periodic``; never the time faces.
    Points and normals are ``(N, d)`` tensors with columns in ``domain.inputs`` order.

    The samplers share the keywords ``method`` (:data:`SAMPLING_METHODS`: ``"uniform"`` i.i.d.,
    ``"sobol"`` scrambled Sobol', ``"lhs"`` Latin hypercube, all giving exactly ``n`` points;
    ``"grid"``: a deterministic cell-centred tensor grid of *about* ``n`` points, the same count
    per sampled axis, planar shapes clipped from their bounding box), ``generator`` (a
    :class:`torch.Generator`, required unless ``method="grid"``; scipy's engines are seeded from
    it), ``dtype`` and ``device`` (of the result; default float64 on the CPU). An inconsistent
    domain raises :class:`ConfigError` naming the field (``domain.vertices``, ...).
    """

    def __init__(self, domain: Domain) -> None:
        _check_domain(domain)
        self.domain = domain
        inputs = domain.inputs
        self._d = len(inputs)
        time_col = inputs.index(domain.time) if domain.time is not None else None
        self._planar_cols: list[int] = []
        if domain.shape != "box":
            self._planar_cols = [inputs.index(v) for v in domain.spatial[:2]]
        self._interval_cols = [c for c in range(self._d) if c not in self._planar_cols]
        self._spatial_intervals = [c for c in self._interval_cols if c != time_col]
        self._wall_cols = [c for c in self._spatial_intervals if inputs[c] not in domain.periodic]
        self._low, self._high = torch.tensor(domain.bounds, dtype=_F64).T.contiguous()
        self._planar_area, self._perimeter, self._curve = 1.0, 0.0, None
        if domain.shape == "disk":
            assert domain.center is not None and domain.radius is not None  # checked above
            self._center = torch.tensor([float(c) for c in domain.center], dtype=_F64)
            self._radius = float(domain.radius)
            self._planar_area = math.pi * self._radius**2
            self._perimeter = 2 * math.pi * self._radius
            self._low[self._planar_cols] = self._center - self._radius
            self._high[self._planar_cols] = self._center + self._radius
        elif domain.shape == "polygon":
            self._vertices = v = torch.tensor(domain.vertices, dtype=_F64)
            segments = torch.stack((v, v.roll(-1, 0)), 1)  # (V, 2, 2) edges
            signed_area = 0.5 * float(torch.linalg.det(segments).sum())
            edges = segments[:, 1] - segments[:, 0]
            outward = torch.stack((edges[:, 1], -edges[:, 0]), 1) / edges.norm(dim=1)[:, None]
            self._curve = (segments, outward if signed_area > 0 else -outward)  # CCW: right
            self._planar_area, self._perimeter = abs(signed_area), float(edges.norm(dim=1).sum())
            self._low[self._planar_cols], self._high[self._planar_cols] = v.min(0)[0], v.max(0)[0]
        spans = self._high - self._low
        self._box_fraction = self._planar_area / float(spans[self._planar_cols].prod())
        self._scale = max(1.0, float(self._low.abs().max()), float(self._high.abs().max()))

    @property
    def bounding_box(self) -> tuple[tuple[float, float], ...]:
        """``(low, high)`` per input in ``domain.inputs`` order; tight around a disk or polygon."""
        return tuple(zip(self._low.tolist(), self._high.tolist(), strict=True))

    @property
    def measure(self) -> float:
        """Area/volume of the spatial part times the length of the time interval (if any)."""
        spans = self._high - self._low
        return self._planar_area * float(spans[self._interval_cols].prod())

    def contains(self, points: Tensor, *, tol: float | None = None) -> Tensor:
        """``(N, d)`` points -> ``(N,)`` bool (on their device): which lie in the closed domain.

        ``tol`` is an absolute slack, by default ``64 eps(points.dtype) * max(1, max |bound|)``.
        """
        check_input(points, self._d, name="points", owner="Geometry.contains")
        if tol is None:
            tol = 64 * torch.finfo(points.dtype).eps * self._scale
        elif not is_finite_number(tol) or tol < 0:
            raise ConfigError(f"tol must be a finite number >= 0; received {tol!r}")
        cols = self._interval_cols
        block, low, high = points[:, cols], self._low.to(points)[cols], self._high.to(points)[cols]
        inside = ((block >= low - tol) & (block <= high + tol)).all(dim=1)
        if self._planar_cols:
            inside &= self._planar_contains(points[:, self._planar_cols], float(tol))
        return inside

    def sample_interior(
        self,
        n: int,
        *,
        method: str = "uniform",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = _F64,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """``(n, d)`` points of the domain (collocation points; ``"grid"``: about ``n``).

        A disk uses the area-preserving map ``r = R sqrt(u)``, a polygon rejection from its
        bounding box; ``"grid"`` uses cell centres, so no grid point lies on a box face.
        """
        n, method = _check_request(n, method, generator, dtype)
        points, _ = self._draw(n, method, generator, "area" if self._planar_cols else "none")
        return points.to(device=device, dtype=dtype)

    def sample_boundary(
        self,
        n: int,
        *,
        method: str = "uniform",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = _F64,
        device: torch.device | str = "cpu",
    ) -> tuple[Tensor, Tensor]:
        """Points of the spatial boundary (for all times) and outward unit normals.

        The boundary pieces (the circle or the polygon's edges times the intervals; both end
        faces of each non-periodic spatial interval) share the ``n`` points in proportion to
        their measure (largest remainder); each piece is sampled with ``method``: a circle by
        uniform angle, polygon edges by arc length, time over its whole interval. Rows are
        grouped by piece. Raises :class:`ConfigError` if every spatial input is periodic.

        Returns
        -------
        points, normals
            ``(n, d)`` each; normals are unit in the spatial columns and zero in the time column.
        """
        n, method = _check_request(n, method, generator, dtype)
        spans = (self._high - self._low).tolist()
        pieces: list[tuple[float, str, dict[int, float], int, float]] = []
        if self._planar_cols:
            kind = "circle" if self._curve is None else "segments"
            others = math.prod(spans[c] for c in self._spatial_intervals)
            pieces.append((self._perimeter * others, kind, {}, -1, 0.0))
        kind = "area" if self._planar_cols else "none"
        for col in self._wall_cols:
            others = math.prod(spans[c] for c in self._spatial_intervals if c != col)
            face = self._planar_area * others
            pieces.append((face, kind, {col: float(self._low[col])}, col, -1.0))
            pieces.append((face, kind, {col: float(self._high[col])}, col, 1.0))
        message = "sample_boundary: the domain has no spatial boundary: every spatial input is in "
        _require(bool(pieces), message + f"domain.periodic={self.domain.periodic}")
        counts = _apportion(n, [piece[0] for piece in pieces])
        parts = []
        for (_, kind, fixed, col, sign), count in zip(pieces, counts, strict=True):
            if count == 0:
                continue
            points, planar_normals = self._draw(count, method, generator, kind, fixed, self._curve)
            normals = torch.zeros_like(points)
            if col < 0:
                normals[:, self._planar_cols] = planar_normals
            else:
                normals[:, col] = sign
            parts.append((points.to(device=device, dtype=dtype), normals.to(device, dtype)))
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def sample_plane(
        self,
        variable: str,
        value: float,
        n: int,
        *,
        method: str = "uniform",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = _F64,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """``(n, d)`` points of the domain whose ``variable`` column is exactly ``value``.

        ``t = 0`` gives the spatial shape at ``t = 0``, ``x = -1`` on a box that face, ``x = 0.5``
        through a disk the chord, through a polygon the closed intersection of the line with it
        (possibly several segments, sampled in proportion to length). Raises
        :class:`ConfigError` if ``variable`` is not an input or the plane misses the domain (the
        message gives the allowed range of ``value``).
        """
        n, method = _check_request(n, method, generator, dtype)
        if variable not in self.domain.inputs:
            raise ConfigError(
                f"sample_plane: variable {variable!r} (value {value!r}) is not an input; "
                f"allowed: {list(self.domain.inputs)}"
            )
        col = self.domain.inputs.index(variable)
        low, high = float(self._low[col]), float(self._high[col])
        if not is_finite_number(value) or not low <= value <= high:
            raise ConfigError(
                f"sample_plane: the plane {variable} = {value!r} misses the domain; "
                f"{variable} must lie in [{low}, {high}]"
            )
        kind = "segments" if col in self._planar_cols else "area" if self._planar_cols else "none"
        curve = (self._line_segments(col, float(value)), None) if kind == "segments" else None
        points, _ = self._draw(n, method, generator, kind, {col: float(value)}, curve)
        return points.to(device=device, dtype=dtype)

    def evaluation_grid(
        self, n_target: int, *, dtype: torch.dtype = _F64, device: torch.device | str = "cpu"
    ) -> tuple[Tensor, tuple[int, ...] | None]:
        """Points for error evaluation and plots, and the grid shape (``None`` if points dropped).

        The grid has ``k = max(2, round(n_target ** (1 / d)))`` points per axis, endpoints
        included, spans :attr:`bounding_box` and is flattened in ``torch.cartesian_prod`` ('ij')
        order. A box keeps all ``k ** d`` points, shape ``(k,) * d``; a disk or polygon keeps
        the ``M`` points inside, shape ``None`` (see :meth:`evaluation_grid_mask`).
        """
        grid, shape = self._full_grid(n_target)
        if not self._planar_cols:
            return grid.to(device=device, dtype=dtype), shape
        return grid[self.contains(grid)].to(device=device, dtype=dtype), None

    def evaluation_grid_mask(self, n_target: int) -> tuple[Tensor, tuple[int, ...]]:
        """``(k ** d,)`` bool mask of the full grid that :meth:`evaluation_grid` keeps, and
        ``(k,) * d``: ``full = torch.full((k ** d,), nan); full[mask] = values``, then reshape.
        """
        grid, shape = self._full_grid(n_target)
        return self.contains(grid), shape

    def boundary_distance_expression(self) -> sympy.Expr | None:
        """A smooth O(1) sympy function of the spatial inputs: 0 on the boundary, > 0 inside.

        The product of ``(v - a)(b - v) / ((b - a)/2)^2`` over the non-periodic spatial intervals
        and, for a disk, ``(R^2 - |p - c|^2) / R^2``, in the :func:`input_symbol` symbols;
        ``None`` for a polygon (not supported) or a domain without spatial boundary.
        """
        if self.domain.shape == "polygon":
            return None
        factors: list[sympy.Expr] = []
        exact = functools.partial(sympy.nsimplify, rational=True)  # 0.1 -> 1/10
        if self.domain.shape == "disk":
            assert self.domain.center is not None and self.domain.radius is not None
            x, y = (input_symbol(v) for v in self.domain.spatial[:2])
            cx, cy, r = (exact(v) for v in (*self.domain.center, self.domain.radius))
            factors.append((r**2 - (x - cx) ** 2 - (y - cy) ** 2) / r**2)
        for col in self._wall_cols:
            v = input_symbol(self.domain.inputs[col])
            a, b = (exact(e) for e in self.domain.bounds[col])
            factors.append((v - a) * (b - v) / ((b - a) / 2) ** 2)
        return sympy.Mul(*factors) if factors else None

    def _full_grid(self, n_target: int) -> tuple[Tensor, tuple[int, ...]]:
        per_axis = max(2, round(check_int("n_target", n_target, minimum=1) ** (1 / self._d)))
        axes = [torch.linspace(lo, hi, per_axis, dtype=_F64) for lo, hi in self.bounding_box]
        return torch.cartesian_prod(*axes).reshape(-1, self._d), (per_axis,) * self._d

    def _draw(
        self,
        n: int,
        method: str,
        generator: torch.Generator | None,
        planar: str,
        fixed: dict[int, float] | None = None,
        curve: Curve | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(n, d)`` float64 points and ``(n, 2)`` planar normals (zero off a curve) of a
        planar part ``"none"``, ``"area"``, ``"circle"`` or ``"segments"`` (``curve``, by arc
        length) times the intervals, ``fixed`` columns set to their value."""
        fixed = fixed or {}
        free = [c for c in self._interval_cols if c not in fixed]
        n_params = (n_planar := _PLANAR_PARAMETERS[planar]) + len(free)
        clip = planar == "area" and (method == "grid" or self.domain.shape == "polygon")
        fraction = self._box_fraction if clip else 1.0

        def place(unit: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            points = torch.empty(unit.shape[0], self._d, dtype=_F64)
            normals = torch.zeros(unit.shape[0], 2, dtype=_F64)
            keep = torch.ones(unit.shape[0], dtype=torch.bool)
            if planar == "area" and clip:
                low, high = self._low[self._planar_cols], self._high[self._planar_cols]
                xy = low + unit[:, :2] * (high - low)
                keep = self._planar_contains(xy, 0.0)
            elif planar == "area":  # disk: area-preserving polar map
                angle = 2 * math.pi * unit[:, 1]
                radius = self._radius * unit[:, :1].sqrt()
                xy = self._center + radius * torch.stack((angle.cos(), angle.sin()), 1)
            elif planar == "circle":
                angle = 2 * math.pi * unit[:, 0]
                normals = torch.stack((angle.cos(), angle.sin()), 1)
                xy = self._center + self._radius * normals
            elif planar == "segments":
                assert curve is not None
                xy, index = _on_segments(unit[:, 0], curve[0])
                normals = normals if curve[1] is None else curve[1][index]
            if planar != "none":
                points[:, self._planar_cols] = xy
            low, high = self._low[free], self._high[free]
            points[:, free] = low + unit[:, n_planar:] * (high - low)
            for col, value in fixed.items():
                points[:, col] = value
            return points, normals, keep

        if method == "grid":
            if n_params == 0:
                return place(torch.zeros(n, 0, dtype=_F64))[:2]
            per_axis = max(1, round((n / fraction) ** (1 / n_params)))
            while True:  # a coarse grid may miss a thin polygon: refine until a point lands
                unit = _cell_grid(per_axis, n_params)
                if planar == "segments":  # cell centres on each segment, never on a vertex
                    assert curve is not None
                    index = (unit[:, 0] * per_axis).long()
                    unit[:, 0] = _segment_centres(per_axis, curve[0])[index]
                points, normals, keep = place(unit)
                if bool(keep.any()):
                    return points[keep], normals[keep]
                per_axis += 1
        draw = _unit_stream(method, n_params, generator)
        chunks: list[tuple[Tensor, Tensor]] = []
        total = 0
        while total < n:
            batch = math.ceil((n - total) / fraction * 1.2) + 16 if clip else n - total
            points, normals, keep = place(draw(batch).cpu())
            chunks.append((points[keep], normals[keep]))
            total += int(keep.sum())
        return torch.cat([c[0] for c in chunks])[:n], torch.cat([c[1] for c in chunks])[:n]

    def _planar_contains(self, xy: Tensor, tol: float) -> Tensor:
        """``(N, 2)`` planar coordinates -> ``(N,)`` bool: in the disk/polygon up to ``tol``."""
        if self.domain.shape == "disk":
            return ((xy - self._center.to(xy)) ** 2).sum(dim=1) <= (self._radius + tol) ** 2
        assert self._curve is not None
        edges = self._curve[0].to(xy)
        return torch.cat([_in_polygon(block, edges, tol) for block in xy.split(_CHUNK)])

    def _line_segments(self, col: int, value: float) -> Tensor:
        """``(S, 2, 2)`` segments of the line ``inputs[col] = value`` in the planar shape."""
        axis = self._planar_cols.index(col)
        other = 1 - axis
        if self.domain.shape == "disk":
            center = self._center.tolist()
            half = math.sqrt(max(self._radius**2 - (value - center[axis]) ** 2, 0.0))
            intervals = [(center[other] - half, center[other] + half)]
        else:
            intervals = _polygon_chords(self._vertices.numpy(), axis, value)
        segments = torch.empty(len(intervals), 2, 2, dtype=_F64)
        segments[:, :, axis] = value
        segments[:, :, other] = torch.tensor(intervals, dtype=_F64)
        return segments


def _check_request(n: Any, method: Any, generator: Any, dtype: Any) -> tuple[int, str]:
    n = check_int("n", n, minimum=1)
    method = check_choice("method", method, SAMPLING_METHODS)
    message = f"generator must be a torch.Generator for method={method!r}; got {generator!r}"
    _require(method == "grid" or isinstance(generator, torch.Generator), message)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(f"dtype must be a floating-point torch.dtype; received {dtype!r}")
    return n, method


def _unit_stream(method: str, n_params: int, generator: Any) -> Callable[[int], Tensor]:
    """A function ``m -> (m, n_params)`` float64 samples of the unit cube for ``method``."""
    device = generator.device
    if method == "uniform" or n_params == 0:
        return lambda m: torch.rand((m, n_params), generator=generator, dtype=_F64, device=device)
    from scipy.stats import qmc  # imported here: scipy.stats is slow to import

    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
    keyword = "rng" if "rng" in inspect.signature(qmc.Sobol).parameters else "seed"  # scipy<1.15
    engine: Any
    if method == "sobol":
        engine = qmc.Sobol(n_params, scramble=True, **{keyword: seed})
    else:
        engine = qmc.LatinHypercube(n_params, **{keyword: seed})

    def draw(m: int) -> Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The balance properties", UserWarning)
            return torch.from_numpy(engine.random(m))

    return draw


def _cell_grid(per_axis: int, n_params: int) -> Tensor:
    """``(per_axis ** n_params, n_params)`` cell centres of the unit cube, 'ij' order."""
    axis = (torch.arange(per_axis, dtype=_F64) + 0.5) / per_axis
    return torch.cartesian_prod(*([axis] * n_params)).reshape(-1, n_params)


def _apportion(n: int, weights: Sequence[float]) -> list[int]:
    """Split ``n`` in proportion to ``weights`` (largest remainder, ties to the first)."""
    quota = n * np.asarray(weights, dtype=float) / float(np.sum(weights))
    counts = np.floor(quota).astype(int)
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: n - int(counts.sum())]] += 1
    return [int(c) for c in counts]


def _segment_centres(count: int, segments: Tensor) -> Tensor:
    """``(count,)`` arc-length fractions: each ``(S, 2, 2)`` segment gets a share of ``count``
    in proportion to its length, placed at the centres of equal cells along it."""
    lengths = (segments[:, 1] - segments[:, 0]).norm(dim=1) + 1e-300  # a tangent: one point
    shares = torch.tensor(_apportion(count, lengths.tolist()))
    index = torch.repeat_interleave(torch.arange(len(lengths)), shares)
    rank = torch.arange(count) - (shares.cumsum(0) - shares)[index]
    before = lengths.cumsum(0) - lengths
    arc = before[index] + (rank + 0.5) / shares[index] * lengths[index]
    return arc / lengths.sum()


def _on_segments(u: Tensor, segments: Tensor) -> tuple[Tensor, Tensor]:
    """``(m,)`` fractions of the total length -> ``(m, 2)`` points on ``(S, 2, 2)`` segments
    and the ``(m,)`` segment index of each."""
    starts, directions = segments[:, 0], segments[:, 1] - segments[:, 0]
    lengths = directions.norm(dim=1)
    cumulative = lengths.cumsum(0)
    arc = u * cumulative[-1]
    index = torch.searchsorted(cumulative, arc, right=True).clamp(max=len(lengths) - 1)
    local = (arc - cumulative[index] + lengths[index]) / lengths[index].clamp_min(1e-300)
    return starts[index] + local.clamp(0, 1)[:, None] * directions[index], index


def _in_polygon(xy: Tensor, edges: Tensor, tol: float) -> Tensor:
    """``(N, 2)`` points, ``(V, 2, 2)`` edges -> ``(N,)`` bool: inside by the even-odd rule or
    within ``tol`` of an edge."""
    x, y = xy[:, :1], xy[:, 1:]
    x0, y0, x1, y1 = edges[:, 0, 0], edges[:, 0, 1], edges[:, 1, 0], edges[:, 1, 1]
    straddle = (y0 > y) != (y1 > y)
    x_cross = x0 + (y - y0) * (x1 - x0) / torch.where(y1 == y0, torch.ones_like(y1), y1 - y0)
    inside = (straddle & (x < x_cross)).sum(dim=1) % 2 == 1
    return inside | (_edge_distance(xy, edges) <= tol) if tol > 0 else inside


def _edge_distance(xy: Tensor, edges: Tensor) -> Tensor:
    """``(N, 2)`` points, ``(V, 2, 2)`` edges -> ``(N,)`` distance to the nearest edge."""
    start, direction = edges[:, 0], edges[:, 1] - edges[:, 0]
    offset = xy[:, None, :] - start  # (N, V, 2)
    t = ((offset * direction).sum(-1) / (direction**2).sum(-1)).clamp(0, 1)
    return (offset - t[..., None] * direction).norm(dim=-1).min(dim=1).values


def _polygon_chords(vertices: np.ndarray, axis: int, value: float) -> list[tuple[float, float]]:
    """Merged ``(low, high)`` intervals of the other coordinate where the closed polygon meets
    the line ``coordinate[axis] = value`` (``value`` within the vertices' range): the union of
    both one-sided limits of the even-odd crossings and of the edges lying on the line."""
    a, b = vertices[:, axis], vertices[:, 1 - axis]
    a1, b1 = np.roll(a, -1), np.roll(b, -1)
    intervals: list[tuple[float, float]] = []
    for side in (np.greater, np.less):
        crossing = side(a, value) != side(a1, value)
        t = (value - a[crossing]) / (a1[crossing] - a[crossing])
        points = np.sort(b[crossing] + t * (b1[crossing] - b[crossing])).tolist()
        intervals += zip(points[0::2], points[1::2], strict=True)
    on_line = (a == value) & (a1 == value)
    intervals += zip(np.minimum(b, b1)[on_line], np.maximum(b, b1)[on_line], strict=True)
    merged: list[tuple[float, float]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _is_pair(value: Any) -> bool:
    pair = isinstance(value, (tuple, list)) and len(value) == 2
    return pair and all(is_finite_number(v) for v in value)


def _check_domain(domain: Any) -> None:
    _require(isinstance(domain, Domain), f"domain must be a Domain; received {domain!r}")
    inputs, bounds, shape = domain.inputs, domain.bounds, domain.shape
    _require(len(inputs) == len(set(inputs)) > 0, f"domain.inputs must be distinct; got {inputs}")
    message = f"domain.bounds must hold one (low, high) pair per input {inputs}; got {bounds}"
    _require(len(bounds) == len(inputs), message)
    for name, bound in zip(inputs, bounds, strict=True):
        _require(
            _is_pair(bound) and bound[0] < bound[1],
            f"domain.bounds of {name!r} must be (low, high) with finite low < high; got {bound!r}",
        )
    message = f"domain.time must be one of {list(inputs)}; received {domain.time!r}"
    _require(domain.time is None or domain.time in inputs, message)
    check_choice("domain.shape", shape, ("box", "disk", "polygon"))
    for key, owner in (("center", "disk"), ("radius", "disk"), ("vertices", "polygon")):
        _require(
            getattr(domain, key) is None or shape == owner,
            f"domain.{key} is only used with shape={owner!r}; received "
            f"{getattr(domain, key)!r} with shape={shape!r}",
        )
    _require(
        shape == "box" or len(domain.spatial) >= 2,
        f"domain.shape={shape!r} needs at least two spatial inputs (it spans "
        f"domain.spatial[:2]); received spatial inputs {domain.spatial}",
    )
    if shape == "disk":
        _check_disk(domain)
    elif shape == "polygon":
        _check_polygon(domain)
    allowed = [v for v in domain.spatial if shape == "box" or v not in domain.spatial[:2]]
    for name in domain.periodic:
        message = f"domain.periodic must name spatial interval inputs {allowed}; got {name!r}"
        _require(name in allowed, message)


def _check_disk(domain: Domain) -> None:
    center, radius = domain.center, domain.radius
    _require(_is_pair(center), f"domain.center must be a pair of finite numbers; got {center!r}")
    message = f"domain.radius must be a finite number > 0; received {radius!r}"
    _require(is_finite_number(radius) and radius > 0, message)  # type: ignore[operator]
    assert center is not None and radius is not None
    names = domain.spatial[:2]
    bounds = [domain.bound(v) for v in names]
    slack = 1e-12 * max(1.0, *(abs(e) for bound in bounds for e in bound))
    _require(
        all(
            lo - slack <= c - radius and c + radius <= hi + slack
            for c, (lo, hi) in zip(center, bounds, strict=True)
        ),
        f"the disk of domain.center {center} and domain.radius {radius} must lie inside "
        f"domain.bounds of {names}: {bounds}",
    )


def _check_polygon(domain: Domain) -> None:
    vertices = domain.vertices
    _require(
        vertices is not None and len(vertices) >= 3 and all(_is_pair(v) for v in vertices),
        f"domain.vertices must list at least 3 (x, y) pairs of finite numbers; got {vertices!r}",
    )
    points = np.asarray(vertices, dtype=float)
    following = np.roll(points, -1, axis=0)
    _require(
        not (points == following).all(axis=1).any(),
        "domain.vertices must not repeat a vertex consecutively (do not close the polygon by "
        f"repeating the first vertex); received {vertices!r}",
    )
    crossing = polygon_crossing_edges(points)
    message = f"domain.vertices must form a simple polygon; edges {crossing} meet in {vertices}"
    _require(crossing is None, message)
    names = domain.spatial[:2]
    bounds = np.array([domain.bound(v) for v in names])
    _require(
        bool(((points >= bounds[:, 0]) & (points <= bounds[:, 1])).all()),
        f"domain.vertices must lie inside domain.bounds of {names}: {bounds.tolist()}; "
        f"received {vertices!r}",
    )


def polygon_crossing_edges(points: np.ndarray) -> tuple[int, int] | None:
    """The first pair of edges of a closed polyline that meet illegally, or None: non-adjacent
    edges may not touch at all, adjacent edges may not fold back onto each other."""
    n = len(points)
    start, end = points, np.roll(points, -1, axis=0)

    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        ab, ac = b - a, c - a
        return ab[..., 0] * ac[..., 1] - ab[..., 1] * ac[..., 0]

    def on_segment(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        inside = (c >= np.minimum(a, b)) & (c <= np.maximum(a, b))
        return (orient(a, b, c) == 0) & inside.all(axis=-1)

    p, q, r, s = start[:, None], end[:, None], start[None, :], end[None, :]  # edge i, edge j
    proper = (orient(r, s, p) * orient(r, s, q) < 0) & (orient(p, q, r) * orient(p, q, s) < 0)
    touch = on_segment(r, s, p) | on_segment(r, s, q) | on_segment(p, q, r) | on_segment(p, q, s)
    i, j = np.indices((n, n))
    bad = (proper | touch) & (i != j) & ((i + 1) % n != j) & ((j + 1) % n != i)
    edge, following = end - start, np.roll(end - start, -1, axis=0)
    collinear = edge[:, 0] * following[:, 1] - edge[:, 1] * following[:, 0] == 0
    bad[np.arange(n), (np.arange(n) + 1) % n] |= collinear & ((edge * following).sum(axis=1) < 0)
    if not bad.any():
        return None
    first, second = np.argwhere(bad)[0]
    return int(first), int(second)
