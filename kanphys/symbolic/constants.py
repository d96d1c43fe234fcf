"""Formula constants: refit them to data, snap them to simple values, simplify the result.

* :func:`refit_constants` fits every floating-point constant of a formula to data by
  Levenberg-Marquardt (``scipy.optimize.least_squares``) with the Jacobian from torch
  reverse-mode autograd with one copy of the constants per data row (one backward pass for the
  whole Jacobian), in float64.
* :func:`snap_constants` greedily replaces constants by simple exact values (``0``, integers,
  ``p/q`` with ``q <= 12``, and those times ``pi``, ``1/pi``, ``sqrt(2)``, ``sqrt(pi)``,
  ``sqrt(2 pi)``) as long as the fit does not get worse than a tolerance.
* :func:`complexity` and :func:`simplify_formula` measure and shorten formulas.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.optimize
import sympy
import torch
from torch import Tensor

from kanphys.errors import ConfigError, ShapeError, check_choice
from kanphys.symbolic.evaluate import constants_as_parameters, to_torch

__all__ = ["complexity", "refit_constants", "simplify_formula", "snap_constants"]

logger = logging.getLogger(__name__)

#: multipliers of the rational snap targets, with their exact sympy forms
SNAP_MULTIPLIERS: tuple[sympy.Expr, ...] = (
    sympy.Integer(1),
    sympy.pi,
    1 / sympy.pi,
    sympy.sqrt(2),
    sympy.sqrt(sympy.pi),
    sympy.sqrt(2 * sympy.pi),
    1 / sympy.sqrt(sympy.pi),
    1 / sympy.sqrt(2 * sympy.pi),
    sympy.pi**2,
    sympy.pi**-2,
    sympy.pi**-3,
)
MAX_DENOMINATOR = 12

#: With ``order="simplest"``, snap targets are taken from within this distance of the
#: fitted value (noisy fits are this uncertain; the acceptance test still decides).
SIMPLEST_RADIUS = 0.02
#: ``count_ops`` above which :func:`sympy.simplify` is skipped: under it a call takes ~0.1-1 s
#: (measured on KAN-like sums of nested sin/exp/tanh/atan terms); above it, seconds or more
SIMPLIFY_MAX_OPS = 16
#: ``count_ops`` above which the cheaper rewrites (cancel, factor, together) are skipped
REWRITE_MAX_OPS = 150
_PENALTY = 1e6  # residual given to a non-finite prediction, times (1 + max |y|)


def complexity(expr: sympy.Expr) -> int:
    """Number of operations, ``sympy.count_ops(expr, visual=False)``.

    The same measure as the Feynman symbolic-regression benchmark (AI Feynman, SRBench) uses,
    so complexities are comparable with published tables.
    """
    return int(sympy.count_ops(sympy.sympify(expr), visual=False))


def _prepare(
    X: Tensor | np.ndarray, y: Tensor | np.ndarray, symbols: Sequence[sympy.Symbol], owner: str
) -> tuple[Tensor, Tensor]:
    X = torch.as_tensor(X).to(torch.float64)
    y = torch.as_tensor(y).to(dtype=torch.float64, device=X.device)
    if X.dim() == 1 and len(symbols) == 1:
        X = X[:, None]
    if X.dim() != 2 or X.shape[1] != len(symbols):
        raise ShapeError(
            f"{owner}: X must have shape (N, {len(symbols)}) with columns "
            f"{[s.name for s in symbols]}; received {tuple(X.shape)}"
        )
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (X.shape[0],):
        raise ShapeError(f"{owner}: y must have shape ({X.shape[0]},); received {tuple(y.shape)}")
    return X, y


def _rmse(expr: sympy.Expr, X: Tensor, y: Tensor, symbols: Sequence[sympy.Symbol]) -> float:
    """Root mean square error of ``expr`` on the data; ``inf`` when it is not finite anywhere."""
    try:
        prediction = to_torch(expr, symbols)(X)
    except ConfigError:
        return math.inf
    value = float(torch.sqrt(torch.mean((prediction - y) ** 2)))
    return value if math.isfinite(value) else math.inf


def refit_constants(
    expr: sympy.Expr,
    X: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    symbols: Sequence[sympy.Symbol],
    *,
    method: str = "lm",
    max_evaluations: int = 400,
) -> tuple[sympy.Expr, float]:
    """Least-squares refit of every :class:`sympy.Float` constant of ``expr`` to data.

    The current constants are the starting point. Predictions that are NaN or infinite give a
    huge residual, so steps into a region where the formula is undefined are rejected; the
    result is never worse than the start.

    Parameters
    ----------
    expr : sympy.Expr
    X : Tensor or array, shape (N, d)
        Inputs, column ``k`` holding ``symbols[k]``; evaluated in float64.
    y : Tensor or array, shape (N,)
        Targets.
    symbols : sequence of sympy.Symbol, length d
    method : {"lm", "trf", "lbfgs"}
        ``"lm"``/``"trf"``: :func:`scipy.optimize.least_squares` (``"lm"`` falls back to
        ``"trf"`` when there are fewer points than constants); ``"lbfgs"``: torch L-BFGS.
    max_evaluations : int
        Budget of residual evaluations.

    Returns
    -------
    expr : sympy.Expr
        The formula with refitted constants.
    rmse : float
        Its root mean square error on ``(X, y)``.
    """
    check_choice("method", method, ["lm", "trf", "lbfgs"])
    symbols = tuple(symbols)
    X, y = _prepare(X, y, symbols, "refit_constants")
    expr = sympy.sympify(expr)
    parametric, constants, start = constants_as_parameters(expr)
    if not constants:
        return expr, _rmse(expr, X, y, symbols)
    formula = to_torch(parametric, (*symbols, *constants))
    columns = {s.name: X[:, k] for k, s in enumerate(symbols)}
    penalty = _PENALTY * (1.0 + float(y.abs().max()) if y.numel() else 1.0)

    def residual_tensor(theta: Tensor) -> Tensor:
        env = dict(columns)
        # theta is (P,) or, for the Jacobian, (N, P) with one copy of the constants per row
        env.update({c.name: theta[..., k] for k, c in enumerate(constants)})
        residual = formula(env) - y
        return torch.where(torch.isfinite(residual), residual, torch.full_like(residual, penalty))

    theta0 = torch.tensor(start, dtype=torch.float64, device=X.device)
    if method == "lbfgs":
        theta = _lbfgs(residual_tensor, theta0, max_evaluations)
    else:
        theta = _least_squares(residual_tensor, theta0, method, max_evaluations)

    def substitute(values: Tensor) -> sympy.Expr:
        mapping = {c: sympy.Float(float(v)) for c, v in zip(constants, values, strict=True)}
        return parametric.xreplace(mapping)

    fitted = substitute(theta)
    fitted_rmse = _rmse(fitted, X, y, symbols)
    start_rmse = _rmse(expr, X, y, symbols)
    if not fitted_rmse <= start_rmse:
        return expr, start_rmse
    return fitted, fitted_rmse


def _jacobian(residual: Any, theta: Tensor, n_points: int) -> Tensor:
    """``d residual / d theta``, ``(N, P)``, in one reverse pass.

    Residual ``n`` depends only on row ``n`` of the data, so giving every row its own copy of
    the constants (``(N, P)``, one row each) makes the gradient of ``sum(residual)`` with respect
    to the copies exactly the Jacobian: one forward and one backward pass for all constants.
    """
    rows = theta.detach().expand(n_points, -1).clone().requires_grad_(True)
    with torch.enable_grad():
        value = residual(rows)
        (gradient,) = torch.autograd.grad(value.sum(), rows, allow_unused=True)
    if gradient is None:
        return torch.zeros(n_points, theta.shape[0], dtype=theta.dtype, device=theta.device)
    return torch.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)


def _least_squares(residual: Any, theta0: Tensor, method: str, budget: int) -> Tensor:
    n_points = residual(theta0).shape[0]
    if method == "lm" and n_points < theta0.shape[0]:
        method = "trf"

    def fun(theta: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return residual(torch.as_tensor(theta, device=theta0.device)).cpu().numpy()

    def jac(theta: np.ndarray) -> np.ndarray:
        jacobian = _jacobian(residual, torch.as_tensor(theta, device=theta0.device), n_points)
        return jacobian.cpu().numpy()

    result = scipy.optimize.least_squares(
        fun, theta0.cpu().numpy(), jac=jac, method=method, max_nfev=budget, x_scale="jac"
    )
    return torch.as_tensor(result.x, device=theta0.device)


def _lbfgs(residual: Any, theta0: Tensor, budget: int) -> Tensor:
    theta = theta0.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [theta],
        max_iter=budget,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-14,
        tolerance_change=1e-16,
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = torch.mean(residual(theta) ** 2)
        loss.backward()
        if theta.grad is not None:
            theta.grad = torch.nan_to_num(theta.grad, nan=0.0, posinf=0.0, neginf=0.0)
        return loss

    optimizer.step(closure)
    return theta.detach()


def _targets(value: float, exponent: bool) -> list[tuple[float, sympy.Expr]]:
    """Simple exact values near ``value``, as (distance, value), nearest first.

    The distance is ``|value - s| / max(|s|, 1)``: relative for large targets, absolute near 0.
    """
    candidates: dict[float, tuple[float, sympy.Expr]] = {}

    def add(target: sympy.Expr) -> None:
        number = float(target)
        distance = abs(value - number) / max(abs(number), 1.0)
        if number not in candidates or distance < candidates[number][0]:
            candidates[number] = (distance, target)

    add(sympy.Integer(0))
    if exponent:
        add(sympy.Rational(round(2 * value), 2))
    else:
        for multiplier in SNAP_MULTIPLIERS:
            ratio = value / float(multiplier)
            for denominator in range(1, MAX_DENOMINATOR + 1):
                numerator = round(ratio * denominator)
                if numerator:
                    add(sympy.Rational(numerator, denominator) * multiplier)
    return sorted(candidates.values(), key=lambda item: (item[0], sympy.count_ops(item[1])))


def snap_constants(
    expr: sympy.Expr,
    X: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    symbols: Sequence[sympy.Symbol],
    *,
    tolerance: float = 0.02,
    absolute_tolerance: float | None = None,
    X_val: Tensor | np.ndarray | None = None,
    y_val: Tensor | np.ndarray | None = None,
    max_candidates: int = 3,
    method: str = "lm",
    simplify: bool = True,
    order: str = "nearest",
    deadline: float | None = None,
) -> list[tuple[sympy.Expr, float]]:
    """Greedily replace constants by simple exact values while the fit stays as good.

    1. Refit all constants (:func:`refit_constants`); its error is the reference ``e_ref``.
    2. For every Float constant list simple targets (``0``; integers and ``p/q``, ``q <= 12``,
       times ``1, pi, 1/pi, sqrt(2), sqrt(pi), sqrt(2 pi), 1/sqrt(pi), 1/sqrt(2 pi), pi^2,
       pi^-2, pi^-3``; exponents of powers snap to
       integers and halves only), keep the ``max_candidates`` nearest per constant, and try all
       of them nearest first (distance ``|c - s| / max(|s|, 1)``); with ``order="simplest"``,
       the ``2 * max_candidates`` simplest targets within distance :data:`SIMPLEST_RADIUS`
       instead, simplest first.
    3. A tentative snap refits the remaining Float constants and is accepted when
       ``e_new <= e_ref * (1 + tolerance) + absolute_tolerance``; snapping a coefficient to 0
       removes its term. After an acceptance the formula is simplified
       (:func:`simplify_formula`) and the search restarts; it stops when no snap is accepted.

    Parameters
    ----------
    expr : sympy.Expr
    X : Tensor or array, shape (N, d)
    y : Tensor or array, shape (N,)
    symbols : sequence of sympy.Symbol, length d
    tolerance : float
        Allowed relative growth of the error over the reference (default 2 %).
    absolute_tolerance : float, optional
        Allowed absolute growth; default ``1e-8 * rms(y)`` (round-off for exact data).
    X_val, y_val : optional
        Validation data; when given, the errors compared (and returned) are measured on it,
        while constants are always refitted on ``(X, y)``.
    max_candidates : int
        Targets tried per constant.
    method : str
        Passed to :func:`refit_constants`.
    simplify : bool
        Simplify after every accepted snap.
    order : {"nearest", "simplest"}
        Which targets are tried first. ``"nearest"`` suits exact data, where only the true
        value passes. With noisy data several targets pass the tolerance (``22/(7 pi)`` as
        well as ``1`` for a fitted 1.0004); ``"simplest"`` tries them by
        :func:`sympy.count_ops` first, then by distance, so the simplest acceptable one wins.
    deadline : float, optional
        ``time.perf_counter()`` value after which no further snap is tried (the chain so far
        is returned).

    Returns
    -------
    list of (sympy.Expr, float)
        The chain of accepted formulas with their rmse: first the refitted input, then one entry
        per accepted snap (fewer constants each time), for a complexity/accuracy Pareto front.
    """
    symbols = tuple(symbols)
    X, y = _prepare(X, y, symbols, "snap_constants")
    if (X_val is None) != (y_val is None):
        raise ConfigError("snap_constants: pass both X_val and y_val, or neither")
    if X_val is not None:
        X_score, y_score = _prepare(X_val, y_val, symbols, "snap_constants")  # type: ignore[arg-type]
    else:
        X_score, y_score = X, y
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise ConfigError(f"tolerance must be a number >= 0; received {tolerance!r}")
    if order not in ("nearest", "simplest"):
        raise ConfigError(f"order must be 'nearest' or 'simplest'; received {order!r}")
    if absolute_tolerance is None:
        absolute_tolerance = 1e-8 * float(torch.sqrt(torch.mean(y_score**2)))

    def score(candidate: sympy.Expr) -> float:
        return _rmse(candidate, X_score, y_score, symbols)

    current, _ = refit_constants(expr, X, y, symbols, method=method)
    reference = score(current)
    chain = [(current, reference)]
    if not math.isfinite(reference):
        logger.info("snap_constants: the formula is not finite on the data; nothing snapped")
        return chain
    limit = reference * (1 + tolerance) + absolute_tolerance
    tried: set[str] = set()
    while deadline is None or time.perf_counter() < deadline:
        accepted = _snap_once(
            current, X, y, symbols, score, limit, tried, max_candidates, method, order, deadline
        )
        if accepted is None:
            return chain
        if simplify:
            accepted = simplify_formula(accepted)
        current = accepted
        chain.append((current, score(current)))
        logger.debug("snap_constants: accepted %s (rmse %.3g)", current, chain[-1][1])
    return chain


def _snap_once(
    current: sympy.Expr,
    X: Tensor,
    y: Tensor,
    symbols: tuple[sympy.Symbol, ...],
    score: Any,
    limit: float,
    tried: set[str],
    max_candidates: int,
    method: str,
    order: str = "nearest",
    deadline: float | None = None,
) -> sympy.Expr | None:
    """The first acceptable snap of ``current`` (nearest or simplest first), or None."""
    parametric, constants, values = constants_as_parameters(current)
    exponents = {
        node.exp
        for node in sympy.preorder_traversal(parametric)
        if isinstance(node, sympy.Pow) and node.exp in constants
    }
    options = []
    for k, (constant, value) in enumerate(zip(constants, values, strict=True)):
        targets = _targets(value, constant in exponents)
        if order == "simplest":
            # every target within the radius (at least the nearest few), simplest first
            near = [t for t in targets if t[0] <= SIMPLEST_RADIUS] or targets[:max_candidates]
            ranked = sorted(near, key=lambda t: (int(sympy.count_ops(t[1])), t[0]))
            for distance, target in ranked[: 2 * max_candidates]:
                options.append((int(sympy.count_ops(target)), distance, k, target))
            continue
        for distance, target in targets[:max_candidates]:
            options.append((0, distance, k, target))
    options.sort(key=lambda item: (item[0], item[1], item[2]))
    for _, _, k, target in options:
        if deadline is not None and time.perf_counter() > deadline:
            return None
        others = {
            c: sympy.Float(v)
            for j, (c, v) in enumerate(zip(constants, values, strict=True))
            if j != k
        }
        structure = parametric.xreplace({constants[k]: target})
        key = sympy.srepr(structure)
        if key in tried:
            continue
        tried.add(key)
        tentative = structure.xreplace(others)
        if tentative.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            continue
        refitted, _ = refit_constants(tentative, X, y, symbols, method=method)
        if score(refitted) <= limit:
            return refitted
    return None


def _agrees(candidate: sympy.Expr, original: sympy.Expr, points: dict[str, Tensor]) -> bool:
    """Whether ``candidate`` equals ``original`` wherever ``original`` is finite on ``points``."""
    symbols = sorted(original.free_symbols | candidate.free_symbols, key=lambda s: s.name)
    try:
        X = torch.stack([points[s.name] for s in symbols], dim=1) if symbols else None
        if X is None:
            a, b = complex(original), complex(candidate)
            return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))
        expected = to_torch(original, symbols)(X)
        received = to_torch(candidate, symbols)(X)
    except (ConfigError, TypeError, ValueError):
        return False
    finite = torch.isfinite(expected)
    if not bool(finite.any()) or not bool(torch.isfinite(received[finite]).all()):
        return False
    scale = expected[finite].abs().max().clamp(min=1.0)
    return bool(((received[finite] - expected[finite]).abs() <= 1e-9 * scale).all())


def simplify_formula(expr: sympy.Expr, *, max_ops: int = SIMPLIFY_MAX_OPS) -> sympy.Expr:
    """The shortest (by :func:`complexity`) of several rewrites that evaluates the same.

    Candidates: the input, ``powsimp``, ``expand`` and, up to ``REWRITE_MAX_OPS`` (150)
    operations, ``cancel``, ``together``, ``factor_terms``, and up to ``max_ops`` operations
    ``sympy.simplify`` (whose run time grows quickly with the size: the default 16 keeps the
    call around a second at most). A rewrite is kept only if it agrees with the input to 1e-9
    at 64 fixed pseudo-random points in ``[-2, 2]`` wherever the input is finite.

    Parameters
    ----------
    expr : sympy.Expr
    max_ops : int
        Largest :func:`complexity` for which ``sympy.simplify`` is tried.
    """
    expr = sympy.sympify(expr)
    if not isinstance(expr, sympy.Basic) or not expr.free_symbols:
        return expr
    size = complexity(expr)
    generator = torch.Generator().manual_seed(0)
    names = sorted(s.name for s in expr.free_symbols)
    points = {
        name: 4 * torch.rand(64, generator=generator, dtype=torch.float64) - 2 for name in names
    }
    rewrites = [sympy.powsimp, sympy.expand]
    if size <= REWRITE_MAX_OPS:
        rewrites += [sympy.cancel, sympy.together, sympy.factor_terms]
    if size <= max_ops:
        rewrites.append(sympy.simplify)
    best, best_size = expr, size
    for rewrite in rewrites:
        try:
            candidate = rewrite(expr)
        except (TypeError, ValueError, NotImplementedError, sympy.PolynomialError):
            continue
        candidate_size = complexity(candidate)
        if candidate_size < best_size and _agrees(candidate, expr, points):
            best, best_size = candidate, candidate_size
    return best


def drop_negligible_terms(
    expr: sympy.Expr,
    X: Tensor | np.ndarray,
    symbols: Sequence[sympy.Symbol],
    *,
    relative: float = 1e-6,
    max_points: int = 256,
) -> sympy.Expr:
    """Remove the terms of every sum whose size on the data is negligible.

    A KAN's formula carries terms that the network drove to almost nothing (an edge's offset of
    1e-17, a product whose factor is 1e-8 ...). In every ``Add`` node, bottom-up, a term whose
    root mean square over the rows of ``X`` is below ``relative`` times that of the whole sum
    is dropped, so the constants that remain can be refitted and snapped.

    Parameters
    ----------
    expr : sympy.Expr
    X : Tensor or array, shape (N, d)
        Inputs, column ``k`` holding ``symbols[k]`` (at most ``max_points`` evenly spaced rows
        are used).
    symbols : sequence of sympy.Symbol
    relative : float
        Threshold on the RMS ratio of a term to its sum.
    """
    symbols = tuple(symbols)
    X = torch.as_tensor(np.asarray(X, dtype=np.float64) if not isinstance(X, Tensor) else X)
    X = X.to(torch.float64)
    if X.shape[0] > max_points:
        X = X[torch.linspace(0, X.shape[0] - 1, max_points).long()]
    columns = {s.name: X[:, k] for k, s in enumerate(symbols)}

    def size(term: sympy.Expr) -> float:
        if not term.free_symbols:
            return abs(float(term)) if term.is_real else math.inf
        try:
            values = to_torch(term, symbols)(columns)
        except ConfigError:
            return math.inf
        value = float(torch.sqrt(torch.mean(values.square())))
        return value if math.isfinite(value) else math.inf

    def clean(node: sympy.Basic) -> sympy.Basic:
        if not node.args or node.is_Number or isinstance(node, sympy.Symbol):
            return node
        node = node.func(*(clean(arg) for arg in node.args))
        if isinstance(node, sympy.Add):
            total = size(node)
            if math.isfinite(total) and total > 0:
                kept = [term for term in node.args if size(term) >= relative * total]
                if kept and len(kept) < len(node.args):
                    node = sympy.Add(*kept)
        return node

    return clean(sympy.sympify(expr))
