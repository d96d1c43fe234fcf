"""Conserved quantities and Lagrangians from trajectories.

Both are linear problems over a library of candidate terms ``phi_k`` of the state:

* a **conserved quantity** ``H = sum_k c_k phi_k`` is constant along every trajectory, so
  ``dH/dt = sum_k c_k grad(phi_k) . xdot = 0`` at every sample: ``c`` lies in the null space
  of the matrix ``M[n, k] = grad(phi_k)(x_n) . xdot_n``;
* a **Lagrangian** ``L = sum_k c_k phi_k(q, qdot)`` makes the Euler-Lagrange residual
  ``d/dt dL/dqdot_i - dL/dq_i`` vanish, which is again linear in ``c`` (rows for every sample
  and coordinate); terms whose residual is identically zero (null Lagrangians such as
  ``g(q) qdot`` in one dimension, or constants) are removed first, since they can be added to
  any Lagrangian.

Sparse null vectors are found by taking each term in turn as the unit pivot and regressing its
column on the others by sequentially thresholded least squares (columns at unit RMS); a fit
whose relative residual is below ``tolerance`` is a solution. Conserved quantities are searched
by complexity (simplest terms first), dropping those that are functions of quantities already
found; a Lagrangian is the sparsest solution. Everything is symbolic in the library (sympy), so
the answer is a formula.

Conserved quantities are defined up to an affine map (``a H + b``, and for several, any
invertible linear combination); :func:`affine_match` measures how well a found quantity
matches a known one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from kanphys.errors import ConfigError, NonFiniteError, ShapeError

__all__ = [
    "ConservedQuantity",
    "affine_match",
    "conserved_quantities",
    "default_library",
    "lagrangian",
]


@dataclass(frozen=True)
class ConservedQuantity:
    """One quantity found by :func:`conserved_quantities` or :func:`lagrangian`.

    Attributes
    ----------
    expression : sympy.Expr
        In the state symbols (real).
    residual : float
        Root mean square of ``dH/dt`` (or of the Euler-Lagrange residual) over the samples,
        relative to the root mean square of the terms that make it up.
    """

    expression: sympy.Expr
    residual: float

    def __str__(self) -> str:
        return f"{sympy.sstr(self.expression)}   (relative residual {self.residual:.2g})"

    def to_dict(self) -> dict[str, Any]:
        return {"expression": sympy.sstr(self.expression), "residual": self.residual}


def default_library(
    symbols: Sequence[sympy.Symbol],
    *,
    degree: int = 4,
    trig: bool = True,
    inverse_norms: bool = True,
) -> list[sympy.Expr]:
    """Monomials up to ``degree`` (no constant), ``sin``/``cos`` of each symbol and
    ``1/sqrt(s_i^2 + s_j^2)`` of each pair (the potential of a central force in a plane)."""
    terms: list[sympy.Expr] = []
    for total in range(1, degree + 1):
        for powers in itertools.combinations_with_replacement(symbols, total):
            terms.append(sympy.Mul(*powers))
    if trig:
        terms += [sympy.sin(s) for s in symbols] + [sympy.cos(s) for s in symbols]
    if inverse_norms:
        terms += [1 / sympy.sqrt(p**2 + q**2) for p, q in itertools.combinations(symbols, 2)]
    return terms


def _check_array(name: str, value: Any, ndim: int = 2) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name} must be a numeric array; {err}") from None
    if array.ndim == 1 and ndim == 2:
        array = array[:, None]
    if array.ndim != ndim:
        raise ShapeError(
            f"{name} must have {ndim} dimensions (samples, variables); got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise NonFiniteError(f"{name} contains NaN or infinite values")
    return array


def _names(names: Sequence[str] | None, d: int, what: str) -> list[sympy.Symbol]:
    resolved = list(names) if names is not None else [f"x{k}" for k in range(d)]
    if (
        len(resolved) != d
        or len(set(resolved)) != d
        or not all(isinstance(n, str) and n.isidentifier() for n in resolved)
    ):
        raise ConfigError(
            f"{what}: names must be {d} distinct identifiers, one per column; got {resolved}"
        )
    return [sympy.Symbol(name, real=True) for name in resolved]


def _evaluate(
    exprs: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol], X: np.ndarray
) -> np.ndarray:
    """Columns ``exprs`` evaluated at the rows of ``X``, shape ``(N, len(exprs))``."""
    function = sympy.lambdify(list(symbols), list(exprs), "numpy")
    columns = function(*X.T)
    return np.column_stack(
        [np.broadcast_to(np.asarray(c, dtype=np.float64), (len(X),)) for c in columns]
    )


def _number(value: float, digits: int = 6) -> sympy.Expr:
    """``value`` as an integer or a fraction with a small denominator when it is one (to
    1e-9 relative), else a float of ``digits`` significant digits."""
    for denominator in range(1, 13):
        numerator = round(value * denominator)
        if abs(value * denominator - numerator) <= 1e-9 * max(1.0, abs(value * denominator)):
            return sympy.Rational(numerator, denominator)
    return sympy.Float(float(f"{value:.{digits}g}"))


def _expression(terms: Sequence[sympy.Expr], coefficients: np.ndarray) -> sympy.Expr:
    return sympy.Add(
        *(_number(float(c)) * term for c, term in zip(coefficients, terms, strict=True) if c != 0)
    )


def conserved_quantities(
    states: Any,
    rates: Any,
    *,
    names: Sequence[str] | None = None,
    library: Sequence[str] | Sequence[sympy.Expr] | None = None,
    degree: int = 4,
    tolerance: float = 1e-4,
    max_quantities: int = 4,
) -> list[ConservedQuantity]:
    """Quantities ``H(state)`` conserved along the trajectories, as formulas.

    Parameters
    ----------
    states : array, shape (N, d)
        Samples of the state along one or more trajectories.
    rates : array, shape (N, d)
        Time derivatives of the state at the same samples (measured, or by differencing
        the trajectories: ``numpy.gradient`` of a finely sampled path).
    names : sequence of str, optional
        State names (``x0, x1, ...`` by default).
    library : sequence of str or sympy.Expr, optional
        Candidate terms; strings are parsed by kanphys' whitelist parser. By default
        :func:`default_library` of the state with ``degree``.
    degree : int
        Highest monomial degree of the default library.
    tolerance : float
        A combination counts as conserved when the root mean square of its ``dH/dt``, with
        the terms' columns at unit RMS, is below this.
    max_quantities : int

    Returns
    -------
    list of ConservedQuantity
        Sparse, simplest first (empty when nothing is conserved).
    """
    X = _check_array("states", states)
    V = _check_array("rates", rates)
    if V.shape != X.shape:
        raise ShapeError(f"rates must have the shape of states {X.shape}; got {V.shape}")
    symbols = _names(names, X.shape[1], "conserved_quantities")
    terms = _library(library, symbols, degree)
    gradients = [[sympy.diff(term, s) for s in symbols] for term in terms]
    flat = [g for row in gradients for g in row]
    G = _evaluate(flat, symbols, X).reshape(len(X), len(terms), len(symbols))
    if not np.isfinite(G).all():
        raise NonFiniteError("conserved_quantities: a library term is not finite on the states")
    M = np.einsum("nkd,nd->nk", G, V)
    values = _evaluate(terms, symbols, X)
    complexity = np.array([_complexity(term, symbols) for term in terms])
    kept: list[ConservedQuantity] = []
    columns: list[np.ndarray] = []
    for level in np.unique(complexity):
        # simplest terms first: H is found among quadratic terms before H**2 among quartic
        # ones, and a function of earlier quantities is not reported again
        inside = np.flatnonzero(complexity <= level)
        pivots = np.flatnonzero(complexity[inside] == level).tolist()
        for vector, residual in _sparse_null_vectors(M[:, inside], tolerance, pivots):
            coefficients = np.zeros(len(terms))
            coefficients[inside] = vector
            quantity = values @ coefficients
            if _dependent(quantity, columns):
                continue
            first = coefficients[np.flatnonzero(coefficients)[0]]
            kept.append(ConservedQuantity(_expression(terms, coefficients / first), residual))
            columns.append(quantity)
            if len(kept) == max_quantities:
                return kept
    return kept


def _complexity(term: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> int:
    """Polynomial degree; a function (sin, cos, 1/sqrt(...)) counts 2."""
    if term.is_polynomial(*symbols):
        return int(sympy.Poly(term, *symbols).total_degree())
    return 2


def _dependent(values: np.ndarray, columns: Sequence[np.ndarray]) -> bool:
    """Whether ``values`` is a function of the ``columns`` (a polynomial of degree 3 in them
    reproduces it to R^2 > 1 - 1e-6 on the samples), or is constant."""
    spread = float(np.sum((values - values.mean()) ** 2))
    if spread <= 1e-24 * max(float(np.sum(values**2)), 1e-300):
        return True
    if not columns:
        return False
    basis = [np.ones(len(values))]
    for total in range(1, 4):
        for combo in itertools.combinations_with_replacement(columns, total):
            basis.append(np.prod(combo, axis=0))
    B = np.column_stack(basis)
    B = B / np.maximum(np.sqrt(np.mean(B**2, axis=0)), 1e-300)
    coefficients, *_ = np.linalg.lstsq(B, values, rcond=None)
    return float(np.sum((values - B @ coefficients) ** 2)) < 1e-6 * spread


#: Coefficient thresholds (columns at unit RMS) tried by the sparse regression, sparsest first.
_THRESHOLDS = (0.2, 0.1, 0.05, 0.02, 0.01, 1e-3, 0.0)


def _sparse_null_vectors(
    M: np.ndarray, tolerance: float, pivots: Sequence[int] | None = None
) -> list[tuple[np.ndarray, float]]:
    """Sparse ``c`` with ``M c ~ 0``, one per library term taken as the unit pivot.

    For every term ``k``, column ``k`` is regressed on the others by sequentially thresholded
    least squares (columns at unit RMS); the sparsest fit whose relative residual is below
    ``tolerance`` is a candidate quantity (``pivots`` limits the terms tried as pivot).
    Candidates are returned by support size, so the
    simplest come first (duplicates and functions of earlier ones are removed by the
    caller). Unlike the plain null space, this stays sparse when the rates carry
    differencing error, which spreads small weights over every null direction.
    """
    scale = np.sqrt(np.mean(M**2, axis=0))
    usable = scale > 1e-12 * max(float(scale.max()), 1e-300)
    A = M[:, usable] / scale[usable]
    columns = np.flatnonzero(usable)
    K = A.shape[1]
    gram = A.T @ A / len(A)  # the regressions run on the Gram matrix: K solves of size < K
    ridge = 1e-12 * np.eye(K)
    pivots = range(K) if pivots is None else pivots
    found: list[tuple[int, np.ndarray, float]] = []
    for k in pivots:
        rest = np.delete(np.arange(K), k)
        best = None
        for threshold in _THRESHOLDS:
            support = rest.copy()
            w = np.zeros(0)
            for _ in range(10):
                block = gram[np.ix_(support, support)] + ridge[: support.size, : support.size]
                w = np.linalg.solve(block, -gram[support, k])
                small = np.abs(w) < threshold
                if not small.any():
                    break
                support = support[~small]
                if support.size == 0:
                    break
            if support.size == 0:
                continue
            w = np.linalg.solve(
                gram[np.ix_(support, support)] + ridge[: support.size, : support.size],
                -gram[support, k],
            )
            squared = gram[k, k] + 2 * w @ gram[support, k] + w @ gram[np.ix_(support, support)] @ w
            if squared < tolerance**2:
                w = np.linalg.lstsq(A[:, support], -A[:, k], rcond=None)[0]
                residual = float(np.sqrt(np.mean((A[:, k] + A[:, support] @ w) ** 2)))
                best = (support, w, residual)
                break
        if best is None:
            continue
        support, w, residual = best
        vector = np.zeros(M.shape[1])
        vector[columns[k]] = 1.0 / scale[columns[k]]
        vector[columns[support]] = w / scale[columns[support]]
        found.append((support.size, vector, residual))
    found.sort(key=lambda item: item[0])
    return [(vector, residual) for _, vector, residual in found]


def _library(
    library: Sequence[str] | Sequence[sympy.Expr] | None,
    symbols: Sequence[sympy.Symbol],
    degree: int,
) -> list[sympy.Expr]:
    if library is None:
        if not isinstance(degree, int) or not 1 <= degree <= 8:
            raise ConfigError(f"degree must be an integer from 1 to 8; got {degree!r}")
        return default_library(symbols, degree=degree)
    from kanphys.pde.expressions import parse_expression

    table = {s.name: s for s in symbols}
    terms = []
    for k, term in enumerate(library):
        if isinstance(term, str):
            term = parse_expression(
                term, names=table, inputs=(), fields=(), label=f"library[{k}]", source="library"
            )
        if not isinstance(term, sympy.Expr) or not term.free_symbols <= set(symbols):
            raise ConfigError(
                f"library[{k}] must be an expression in {[s.name for s in symbols]}; got {term!r}"
            )
        terms.append(term)
    if not terms:
        raise ConfigError("library must hold at least one term")
    return terms


def affine_match(found: Any, truth: Any) -> float:
    """R^2 of the best affine fit ``truth ~ a * found + b`` (1 when ``found`` is the true
    quantity up to scale and offset). Arrays of the two quantities' values at the samples."""
    f = np.asarray(found, dtype=np.float64).reshape(-1)
    t = np.asarray(truth, dtype=np.float64).reshape(-1)
    A = np.column_stack([f, np.ones_like(f)])
    coefficients, *_ = np.linalg.lstsq(A, t, rcond=None)
    residual = t - A @ coefficients
    total = np.sum((t - t.mean()) ** 2)
    return float(1 - np.sum(residual**2) / total) if total > 0 else 1.0


def lagrangian(
    q: Any,
    qdot: Any,
    qddot: Any,
    *,
    names: Sequence[str] | None = None,
    library: Sequence[str] | Sequence[sympy.Expr] | None = None,
    degree: int = 2,
    tolerance: float = 1e-4,
) -> ConservedQuantity:
    """A Lagrangian ``L(q, qdot)`` whose Euler-Lagrange equations the trajectories satisfy.

    Parameters
    ----------
    q, qdot, qddot : array, shape (N, n)
        Coordinates, velocities and accelerations at the samples.
    names : sequence of str, optional
        Coordinate names (``q0, q1, ...``); velocities are named ``<name>_dot``.
    library : sequence of str or sympy.Expr, optional
        Candidate terms in the coordinates and velocities; by default monomials of the
        velocities of degree 2, monomials of the coordinates up to ``degree``, and ``cos``
        and ``sin`` of each coordinate.
    tolerance : float
        As in :func:`conserved_quantities`.

    Returns
    -------
    ConservedQuantity
        ``expression`` is ``L``, scaled so that its first kinetic term ``qdot_i**2`` has
        coefficient 1/2 (a Lagrangian is defined up to scale and total derivatives).

    Raises
    ------
    ConfigError
        When no Lagrangian in the library fits (nothing below ``tolerance``).
    """
    Q = _check_array("q", q)
    Qd = _check_array("qdot", qdot)
    Qdd = _check_array("qddot", qddot)
    if not Q.shape == Qd.shape == Qdd.shape:
        raise ShapeError(
            f"q, qdot and qddot must have one shape; got {Q.shape}, {Qd.shape}, {Qdd.shape}"
        )
    coords = _names(
        names if names is not None else [f"q{k}" for k in range(Q.shape[1])],
        Q.shape[1],
        "lagrangian",
    )
    velocities = [sympy.Symbol(f"{s.name}_dot", real=True) for s in coords]
    accelerations = [sympy.Symbol(f"{s.name}_ddot", real=True) for s in coords]
    if library is None:
        kinetic = [a * b for a, b in itertools.combinations_with_replacement(velocities, 2)]
        potential = [
            sympy.Mul(*p)
            for total in range(1, degree + 1)
            for p in itertools.combinations_with_replacement(coords, total)
        ]
        terms = (
            kinetic + potential + [sympy.cos(s) for s in coords] + [sympy.sin(s) for s in coords]
        )
    else:
        terms = _library(library, coords + velocities, degree)
    symbols = coords + velocities + accelerations
    residuals = []
    for term in terms:
        rows = []
        for s, v in zip(coords, velocities, strict=True):
            momentum = sympy.diff(term, v)
            time_derivative = sum(
                sympy.diff(momentum, c) * cv + sympy.diff(momentum, cv) * ca
                for c, cv, ca in zip(coords, velocities, accelerations, strict=True)
            )
            rows.append(sympy.simplify(time_derivative - sympy.diff(term, s)))
        residuals.append(rows)
    keep = [k for k, rows in enumerate(residuals) if any(r != 0 for r in rows)]
    if not keep:
        raise ConfigError("lagrangian: every library term is a null Lagrangian")
    terms = [terms[k] for k in keep]
    data = np.hstack([Q, Qd, Qdd])
    blocks = [_evaluate([residuals[k][i] for k in keep], symbols, data) for i in range(len(coords))]
    M = np.vstack(blocks)
    found = _sparse_null_vectors(M, tolerance)
    if not found:
        raise ConfigError(
            "lagrangian: no combination of the library terms satisfies the Euler-Lagrange "
            "equations within the tolerance; widen the library or check the accelerations"
        )
    coefficients, residual = found[0]
    kinetic = [k for k, term in enumerate(terms) if term in {v**2 for v in velocities}]
    scale = next((2 * coefficients[k] for k in kinetic if coefficients[k] != 0), 1.0)
    return ConservedQuantity(_expression(terms, coefficients / scale), residual)
