"""Closed-form search for small problems: ``T(y) = P(u(x)) / Q(u(x))``.

A rational function of a few variables is found exactly, without any iterative fit, by
linearising ``T(y) * Q(u) - P(u) = 0`` in the coefficients of ``P`` and ``Q``: the coefficient
vector is the right singular vector of the smallest singular value of the design matrix
``[M_P, -T(y) M_Q]`` (columns scaled to unit norm), which needs no choice of which
coefficient to normalise. Degrees are tried in order of the number of coefficients, so the
first exact fit has the lowest degrees (higher ones only add a common factor to ``P`` and
``Q``); a sequentially thresholded refit (as in SINDy) then removes negligible terms.

The search runs over

* target transforms ``T``: identity, square and log (for targets of one sign), exp, sin
  (``y = asin(...)``) and atanh (``y = tanh(...)``);
* per-variable feature maps ``u``: ``x``, ``sqrt(x)``, ``log(x)``, ``exp(x)``, ``sin(x)``,
  ``cos(x)`` (at most ``max_mapped`` variables mapped at once, and only for problems of at
  most four variables).

It is the leaf solver of the structure search (:mod:`kanphys.discovery.reduction`), which
first reduces a law to such small pieces; it is the "polynomial fit" of AI Feynman
(Udrescu & Tegmark 2020) extended to rational functions and transformed variables.
Candidates are returned in the leaf's own symbols, with float coefficients: the caller
refits and snaps them against the data and judges them on held-out rows.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy

__all__ = ["FEATURES", "TRANSFORMS", "LeafCandidate", "rational_search"]

#: Relative error on the transformed target below which a fit counts as exact.
EXACT = 1e-10

#: Reweighted refits of each rational fit (see ``_reweighted``).
SK_ITERATIONS = 3

#: Sparse-support search of inexact (noisy) fits: designs of at most SUBSET_COLUMNS columns,
#: supports of up to SUBSET_TERMS terms, SUBSET_KEEP best supports per size.
SUBSET_COLUMNS = 30
SUBSET_TERMS = 4
SUBSET_KEEP = 4

#: With noisy data, the sin transform (``y = asin(...)``) is tried up to this factor times
#: pi/2 in ``|y|``.
NOISY_ASIN_MARGIN = 1.1

#: With noisy data, fits whose error is within this factor of the best one are ranked by
#: simplicity (their differences are below the noise's resolution).
NOISY_NEAR = 1.05


@dataclass(frozen=True)
class _Transform:
    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    symbolic: Callable[[sympy.Expr], sympy.Expr]
    #: ``dT/dy``: converts a residual of the transformed target into one of ``y``
    slope: Callable[[np.ndarray], np.ndarray]


def _signed(sign: float) -> tuple[_Transform, _Transform]:
    """The square and log transforms of a target of one ``sign``."""

    def square_inverse(t: np.ndarray) -> np.ndarray:
        return sign * np.sqrt(np.where(t >= 0, t, np.nan))

    def log_forward(v: np.ndarray) -> np.ndarray:
        return np.log(sign * v)

    def log_inverse(t: np.ndarray) -> np.ndarray:
        return sign * np.exp(t)

    return (
        _Transform(
            "square", np.square, square_inverse, lambda r: sign * sympy.sqrt(r), lambda v: 2 * v
        ),
        _Transform("log", log_forward, log_inverse, lambda r: sign * sympy.exp(r), lambda v: 1 / v),
    )


def _log_of_positive(t: np.ndarray) -> np.ndarray:
    return np.log(np.where(t > 0, t, np.nan))


def _asin_of_bounded(t: np.ndarray) -> np.ndarray:
    return np.arcsin(np.where(np.abs(t) <= 1, t, np.nan))


def _identity(v: np.ndarray) -> np.ndarray:
    return v


def _one(v: np.ndarray) -> np.ndarray:
    return np.ones_like(v)


def _transforms(y: np.ndarray, noisy: bool = False) -> list[_Transform]:
    """The target transforms these target values allow (``y = asin(...)`` also slightly
    beyond pi/2 for ``noisy`` data, whose noise can push values past the bound)."""
    found = [_Transform("identity", _identity, _identity, lambda r: r, _one)]
    sign = 1.0 if (y > 0).all() else -1.0 if (y < 0).all() else 0.0
    if sign:
        found.extend(_signed(sign))
    if float(np.max(y)) < 40.0:
        found.append(_Transform("exp", np.exp, _log_of_positive, sympy.log, np.exp))
    if float(np.max(np.abs(y))) < math.pi / 2 * (NOISY_ASIN_MARGIN if noisy else 1.0):
        found.append(_Transform("sin", np.sin, _asin_of_bounded, sympy.asin, np.cos))
    if float(np.max(np.abs(y))) < 1.0:
        found.append(_Transform("atanh", np.arctanh, np.tanh, sympy.tanh, lambda v: 1 / (1 - v**2)))
    return found


#: Per-variable feature maps: name -> (numpy map, sympy map, validity test).
FEATURES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[..., sympy.Expr]]] = {
    "x": (lambda v: v, lambda s: s),
    "sqrt": (np.sqrt, sympy.sqrt),
    "log": (np.log, sympy.log),
    "exp": (np.exp, sympy.exp),
    "sin": (np.sin, sympy.sin),
    "cos": (np.cos, sympy.cos),
}

TRANSFORMS = ("identity", "square", "log", "exp", "sin", "atanh")

#: Scales tried inside exp, sin and cos for one-variable problems (``exp(h w / (2 pi))``).
SCALES = (
    sympy.Integer(1),
    sympy.Integer(2),
    sympy.Rational(1, 2),
    sympy.Integer(3),
    sympy.Rational(1, 3),
    sympy.pi,
    2 * sympy.pi,
    1 / sympy.pi,
    1 / (2 * sympy.pi),
)


def _scaled_features(
    names: Sequence[str],
) -> dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[..., sympy.Expr]]]:
    """``g(b * x)`` and ``g(b / x)`` for ``g`` in exp, sin, cos and every scale in SCALES."""
    table: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[..., sympy.Expr]]] = {}
    for name in names:
        if name not in ("exp", "sin", "cos"):
            continue
        numeric, symbolic = FEATURES[name]
        for power in (1, -1):
            for scale in SCALES:
                if scale == 1 and power == 1:
                    continue
                table[f"{name}({scale}*x**{power})"] = _scaled(numeric, symbolic, scale, power)
    return table


def _scaled(
    numeric: Callable[[np.ndarray], np.ndarray],
    symbolic: Callable[..., sympy.Expr],
    scale: sympy.Expr,
    power: int,
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[..., sympy.Expr]]:
    b = float(scale)

    def values(v: np.ndarray) -> np.ndarray:
        return numeric(b * v**power)

    def expression(x: sympy.Expr) -> sympy.Expr:
        return symbolic(scale * x**power)

    return values, expression


def _feature_allowed(name: str, column: np.ndarray) -> bool:
    """Whether feature ``name`` (a :data:`FEATURES` key or a scaled ``g(b*x**p)``) is
    defined, and identifiable, on ``column``."""
    if name in ("sqrt", "log"):
        return bool((column > 0).all())
    if not name.startswith(("exp", "sin", "cos")):
        return True
    argument = column
    if "(" in name:  # g(b*x**p)
        scale, power = name[name.index("(") + 1 : -1].split("*x**")
        if int(power) < 0 and not (column != 0).all():
            return False
        argument = float(sympy.sympify(scale)) * column ** int(power)
    if name.startswith("exp"):
        return float(np.max(np.abs(argument))) < 20.0
    # a periodic feature of a variable spanning many periods is not identifiable
    return float(np.ptp(argument)) < 4 * math.pi


@dataclass(frozen=True, eq=False)
class LeafCandidate:
    """A formula of the leaf's variables, with its error on the data it was fitted to.

    The sympy expression is built on first use (:attr:`expr`): the search scores thousands of
    fits numerically and only the kept ones become formulas.
    """

    rmse: float
    terms: int
    transform: str
    features: tuple[str, ...]
    _build: Callable[[], sympy.Expr]

    @property
    def expr(self) -> sympy.Expr:
        cached = self.__dict__.get("_expr")
        if cached is None:
            cached = self._build()
            object.__setattr__(self, "_expr", cached)
        return cached


def _monomials(m: int, degree: int) -> list[tuple[int, ...]]:
    """Exponent tuples of all monomials of total degree <= ``degree`` in ``m`` variables."""
    found: list[tuple[int, ...]] = []
    for total in range(degree + 1):
        for combo in itertools.combinations_with_replacement(range(m), total):
            exponents = [0] * m
            for k in combo:
                exponents[k] += 1
            found.append(tuple(exponents))
    return found


def _design(U: np.ndarray, exponents: Sequence[tuple[int, ...]]) -> np.ndarray:
    columns = np.ones((U.shape[0], len(exponents)))
    for j, powers in enumerate(exponents):
        for k, p in enumerate(powers):
            if p:
                columns[:, j] *= U[:, k] ** p
    return columns


def _null_vector(A: np.ndarray) -> tuple[np.ndarray, float, bool] | None:
    """Unit-norm null vector of the column-scaled ``A``, in ``A``'s own coefficients."""
    norms = np.linalg.norm(A, axis=0)
    if not np.isfinite(norms).all():
        return None
    norms = np.where(norms > 0, norms, 1.0)
    try:
        _, s, vt = np.linalg.svd(A / norms, full_matrices=False)
    except np.linalg.LinAlgError:
        return None
    # a null space of dimension > 1 (to round-off) means the degrees are higher than needed
    degenerate = len(s) > 1 and s[-2] <= 1e-9 * s[0]
    return vt[-1] / norms, float(s[-1] / max(s[0], 1e-300)), degenerate


def rational_search(
    X: np.ndarray,
    y: np.ndarray,
    symbols: Sequence[sympy.Symbol],
    *,
    max_degree: int = 6,
    max_denominator_degree: int = 4,
    max_columns: int = 160,
    max_mapped: int = 2,
    max_mapped_columns: int = 60,
    transforms: Sequence[str] = TRANSFORMS,
    features: Sequence[str] = tuple(FEATURES),
    keep: int = 6,
    max_rows: int = 1000,
    deadline: float | None = None,
    noisy: bool = False,
) -> list[LeafCandidate]:
    """Rational fits ``T(y) = P(u(x)) / Q(u(x))`` of ``(X, y)``, best first.

    Parameters
    ----------
    X : array, shape (N, d)
    y : array, shape (N,)
    symbols : sequence of sympy.Symbol, length d
    max_degree, max_denominator_degree : int
        Total degrees of ``P`` and ``Q`` tried.
    max_columns : int
        Largest number of coefficients (``P`` and ``Q`` together) tried; at most N / 3.
    max_mapped : int
        Variables given a non-identity feature map at once (only when d <= 4).
    max_mapped_columns : int
        Largest number of coefficients tried with non-identity feature maps.
    transforms, features : sequence of str
        Subsets of :data:`TRANSFORMS` and :data:`FEATURES`.
    keep : int
        Candidates returned: the Pareto set of (terms, error), then the most accurate.
    max_rows : int
        Rows used (evenly spaced); the caller refits the candidates on all its data.
    deadline : float, optional
        ``time.perf_counter()`` value after which no new fit starts.
    noisy : bool
        The data are noisy: inexact fits are also refined by reweighting (see
        ``_reweighted``) and their sparse supports searched directly (``_sparse_supports``),
        since thresholding a noisy null vector seldom leaves the right terms; fits have at
        most :data:`SUBSET_COLUMNS` coefficients, and the candidates are ranked as in
        ``_select``.

    Returns
    -------
    list of LeafCandidate
        Sorted by error on ``(X, y)``; formulas whose denominator changes sign on the data
        (a pole inside the domain) are never returned.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(y) > max_rows:  # evenly spaced rows: the fit is exact or not on a few hundred
        rows = np.linspace(0, len(y) - 1, max_rows).round().astype(int)
        X, y = X[rows], y[rows]
    n, d = X.shape
    columns_limit = min(max_columns, n // 3)
    if noisy:  # larger fits only fit the noise, and would leave no time for feature maps
        columns_limit = min(columns_limit, SUBSET_COLUMNS)
    spread = float(np.sqrt(np.mean(y**2))) or 1.0
    found: list[LeafCandidate] = []
    seen: set[str] = set()
    table = dict(FEATURES)
    if d == 1:  # one variable: also scaled arguments, exp(b x) and exp(b / x)
        table.update(_scaled_features(features))
    names = [name for name in table if name in features or "(" in name]
    maps = _feature_combinations(
        X, names, min(max_mapped, 1 if d > 2 else 2) if d <= 4 else 0, table
    )
    degree_pairs = sorted(
        (
            (p, q)
            for p in range(max_degree + 1)
            for q in range(max_denominator_degree + 1)
            if not (p == 0 and q == 0)
        ),
        key=lambda pq: (math.comb(d + pq[0], d) + math.comb(d + pq[1], d), pq[1]),
    )
    prepared = []
    for transform in (t for t in _transforms(y, noisy) if t.name in transforms):
        with np.errstate(all="ignore"):
            target = transform.forward(y)
        if np.isfinite(target).all():
            prepared.append((transform, target))
    features_of = {
        combo: np.column_stack([table[name][0](X[:, k]) for k, name in enumerate(combo)])
        for combo in maps
    }
    exact_size: int | None = None
    # identity features first, then mapped ones; within each, the smallest problems first,
    # over every transform: the first exact fit bounds the size of everything tried after it
    plain = [combo for combo in maps if all(name == "x" for name in combo)]
    mapped = [combo for combo in maps if combo not in plain]
    for combos, limit in ((plain, columns_limit), (mapped, min(columns_limit, max_mapped_columns))):
        for p, q in degree_pairs:
            numerator = _monomials(d, p)
            denominator = _monomials(d, q)
            size = len(numerator) + len(denominator)
            if size > limit or (exact_size is not None and size > exact_size):
                continue
            for transform, target in prepared:
                for combo in combos:
                    if deadline is not None and time.perf_counter() > deadline:
                        return _select(found, keep, noisy)
                    for candidate in _fit_pair(
                        features_of[combo],
                        target,
                        y,
                        numerator,
                        denominator,
                        transform,
                        combo,
                        symbols,
                        spread,
                        table,
                        noisy,
                    ):
                        key = (
                            f"{candidate.transform} {combo} {candidate.terms} {candidate.rmse:.6e}"
                        )
                        if key in seen:
                            continue
                        seen.add(key)
                        found.append(candidate)
                        if candidate.rmse <= EXACT * spread * 10 and exact_size is None:
                            exact_size = size
    return _select(found, keep, noisy)


def _feature_combinations(
    X: np.ndarray, features: Sequence[str], max_mapped: int, table: dict[str, tuple]
) -> list[tuple[str, ...]]:
    d = X.shape[1]
    allowed = [
        [name for name in features if name != "x" and _feature_allowed(name, X[:, k])]
        for k in range(d)
    ]
    combos: list[tuple[str, ...]] = [("x",) * d]
    for count in range(1, max_mapped + 1):
        for chosen in itertools.combinations(range(d), count):
            for names in itertools.product(*(allowed[k] for k in chosen)):
                combo = ["x"] * d
                for k, name in zip(chosen, names, strict=True):
                    combo[k] = name
                combos.append(tuple(combo))
    return combos


def _solve(A: np.ndarray, support: np.ndarray) -> np.ndarray | None:
    """The null vector of ``A``'s ``support`` columns, scattered into all columns; ``None``
    when there is none or it is not unique."""
    solved = _null_vector(A[:, support])
    if solved is None or solved[2]:
        return None
    coefficients = np.zeros(A.shape[1])
    coefficients[support] = solved[0]
    return coefficients


def _fit_pair(
    U: np.ndarray,
    target: np.ndarray,
    y: np.ndarray,
    numerator: list[tuple[int, ...]],
    denominator: list[tuple[int, ...]],
    transform: _Transform,
    combo: tuple[str, ...],
    symbols: Sequence[sympy.Symbol],
    spread: float,
    table: dict[str, tuple],
    noisy: bool = False,
) -> list[LeafCandidate]:
    """The fit of one pair of degrees, then its sequentially thresholded sparser versions;
    for ``noisy`` data whose fit is not exact, its best sparse supports instead."""
    with np.errstate(all="ignore"):
        MP = _design(U, numerator)
        MQ = _design(U, denominator)
    A = np.hstack([MP, -target[:, None] * MQ])
    if not np.isfinite(A).all():
        return []
    n_p = len(numerator)
    norms = np.linalg.norm(A, axis=0)

    def candidate(coefficients: np.ndarray) -> LeafCandidate | None:
        return _candidate(
            coefficients[:n_p],
            coefficients[n_p:],
            U,
            y,
            numerator,
            denominator,
            transform,
            combo,
            symbols,
            spread,
            table,
        )

    support = np.ones(A.shape[1], dtype=bool)
    solved = _solve(A, support)
    first = candidate(solved) if solved is not None else None
    results: list[LeafCandidate] = [first] if first is not None else []
    if noisy and (first is None or first.rmse > 10 * EXACT * spread):
        # noisy data: the null vector of a nearly collinear monomial design is mostly noise,
        # and thresholding it rarely leaves the right terms; search the sparse supports
        if A.shape[1] > SUBSET_COLUMNS:
            return results
        with np.errstate(all="ignore"):
            slope = np.abs(transform.slope(y))
        for sparse in _sparse_supports(A, n_p, slope):
            refined = _reweighted(A, sparse != 0, sparse, MQ, n_p, slope, spread)
            found = candidate(refined)
            if found is not None:
                results.append(found)
        return results
    if solved is None:
        return results
    coefficients: np.ndarray = solved
    for threshold in (1e-6, 1e-3, 1e-2, 5e-2):
        # thresholds act on each term's size on the data (coefficient times column norm)
        size = np.abs(coefficients) * norms
        new_support = size > threshold * size.max()
        if new_support.sum() == support.sum():
            continue
        support = new_support
        solved = _solve(A, support)
        if solved is None:
            break
        coefficients = solved
        found = candidate(coefficients)
        if found is not None:
            results.append(found)
    return results


def _sparse_supports(
    A: np.ndarray,
    n_p: int,
    slope: np.ndarray,
    max_terms: int = SUBSET_TERMS,
    keep: int = SUBSET_KEEP,
) -> list[np.ndarray]:
    """The best sparse coefficient vectors of ``A c = 0``, ``keep`` per number of terms.

    Every support of 2 to ``max_terms`` columns with at least one numerator column is solved
    with each of its denominator columns as the pivot (coefficient 1): a least-squares fit of
    the pivot's column by the others, all at once from the Gram matrix of ``A`` with row
    ``i`` divided by ``|T'(y_i)|`` (residuals in units of ``y``, up to ``Q``). Supports are
    ranked by ``|A c| / |c * column norms|``, which does not depend on the pivot.
    """
    with np.errstate(all="ignore"):
        weights = 1.0 / slope
    if not np.isfinite(weights).all():
        return []
    weights = weights / float(np.median(weights))
    Aw = A * np.clip(weights, 1e-3, 1e3)[:, None]
    norms = np.linalg.norm(Aw, axis=0)
    if not (np.isfinite(norms).all() and (norms > 0).all()):
        return []
    G = (Aw / norms).T @ (Aw / norms)
    m = A.shape[1]
    found: list[np.ndarray] = []
    for size in range(2, max_terms + 1):
        scored: list[tuple[float, np.ndarray]] = []
        for pivot in range(n_p, m):
            others = [j for j in range(m) if j != pivot]
            combos = np.array(list(itertools.combinations(others, size - 1)), dtype=int).reshape(
                -1, size - 1
            )
            combos = combos[(combos < n_p).any(axis=1)]
            if not len(combos):
                continue
            S = G[combos[:, :, None], combos[:, None, :]]
            b = G[combos, pivot]
            S = S + 1e-12 * np.eye(size - 1)
            try:
                solution = -np.linalg.solve(S, b[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                continue
            residual = G[pivot, pivot] + np.einsum("ck,ck->c", b, solution)
            length = 1.0 + np.einsum("ck,ck->c", solution, solution)
            score = np.sqrt(np.clip(residual, 0.0, None) / length)
            for index in np.argsort(score)[:keep]:
                vector = np.zeros(m)
                vector[combos[index]] = solution[index]
                vector[pivot] = 1.0
                scored.append((float(score[index]), vector / norms))
        scored.sort(key=lambda item: item[0])
        found += [vector for _, vector in scored[:keep]]
    return found


def _reweighted(
    A: np.ndarray,
    support: np.ndarray,
    coefficients: np.ndarray,
    MQ: np.ndarray,
    n_p: int,
    slope: np.ndarray,
    spread: float,
    iterations: int = SK_ITERATIONS,
) -> np.ndarray:
    """Sanathanan-Koerner iterations: the null vector of ``A`` with row ``i`` divided by
    ``|Q_i T'(y_i)|`` from the previous iterate.

    The linearised residual ``T(y) Q - P`` is ``Q T'(y)`` times the residual in ``y``: without
    the weights, noise makes the fit favour denominators that are small on the data (and a
    poor fit in ``y``). Exact data have an exact null vector, which the weights do not move,
    so they are skipped when the residual is already at round-off.
    """
    if not np.isfinite(slope).all() or not np.any(slope):
        return coefficients
    for _ in range(iterations):
        Q = MQ @ coefficients[n_p:]
        residual = A[:, support] @ coefficients[support]
        with np.errstate(all="ignore"):
            y_residual = residual / (Q * slope)
        if not np.isfinite(y_residual).all() or Q.min() * Q.max() <= 0:
            return coefficients
        if float(np.sqrt(np.mean(y_residual**2))) <= 10 * EXACT * spread:
            return coefficients
        weights = 1.0 / np.abs(Q * slope)
        weights /= float(np.median(weights))
        weights = np.clip(weights, 1e-3, 1e3)
        solved = _solve(A * weights[:, None], support)
        if solved is None:
            return coefficients
        coefficients = solved
    return coefficients


def _candidate(
    p: np.ndarray,
    q: np.ndarray,
    U: np.ndarray,
    y: np.ndarray,
    numerator: list[tuple[int, ...]],
    denominator: list[tuple[int, ...]],
    transform: _Transform,
    combo: tuple[str, ...],
    symbols: Sequence[sympy.Symbol],
    spread: float,
    table: dict[str, tuple],
) -> LeafCandidate | None:
    if not np.any(q):
        return None
    with np.errstate(all="ignore"):
        Q = _design(U, denominator) @ q
        # a denominator that changes sign (or nearly vanishes) on the data has a pole there
        if Q.min() * Q.max() <= 0 or np.min(np.abs(Q)) < 1e-9 * np.max(np.abs(Q)):
            return None
        P = _design(U, numerator) @ p
        prediction = transform.inverse(P / Q)
        rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    if not math.isfinite(rmse) or rmse > spread:
        return None
    # normalise by the largest denominator coefficient (by its term's size on the data)
    sizes = np.abs(q) * np.linalg.norm(_design(U, denominator), axis=0)
    scale = q[int(np.argmax(sizes))]
    p, q = p / scale, q / scale
    kept_p = np.abs(p) >= 1e-13 * float(np.max(np.abs(p)) if p.size else 0.0)
    kept_q = np.abs(q) >= 1e-13 * float(np.max(np.abs(q)))
    p, q = np.where(kept_p, p, 0.0), np.where(kept_q, q, 0.0)

    def build() -> sympy.Expr:
        u = [table[name][1](s) for name, s in zip(combo, symbols, strict=True)]

        def polynomial(coefficients: np.ndarray, exponents: list[tuple[int, ...]]) -> sympy.Expr:
            terms = []
            for c, powers in zip(coefficients, exponents, strict=True):
                if c == 0:
                    continue
                monomial = sympy.Mul(*(ui**e for ui, e in zip(u, powers, strict=True) if e))
                terms.append((sympy.Integer(1) if c == 1 else sympy.Float(float(c))) * monomial)
            return sympy.Add(*terms)

        return transform.symbolic(polynomial(p, numerator) / polynomial(q, denominator))

    terms = int(np.count_nonzero(p) + np.count_nonzero(q))
    return LeafCandidate(rmse, terms, transform.name, combo, build)


def _cost(candidate: LeafCandidate) -> int:
    """Terms, plus one per transform or feature map and two per scaled feature map."""
    maps = sum(2 if "(" in name else 1 for name in candidate.features if name != "x")
    return candidate.terms + maps + (candidate.transform != "identity")


def _select(found: list[LeafCandidate], keep: int, noisy: bool = False) -> list[LeafCandidate]:
    """The Pareto set over (terms, rmse), then the most accurate of the rest.

    With ``noisy`` data, errors within :data:`NOISY_NEAR` of the best are equal to the
    noise's accuracy: the simplest of those (by :func:`_cost`) come first.
    """
    if noisy and found:
        best = min(c.rmse for c in found)
        near = sorted(
            (c for c in found if c.rmse <= NOISY_NEAR * best), key=lambda c: (_cost(c), c.rmse)
        )
        chosen = near[:keep]
        rest = [c for c in _select(found, keep) if c not in chosen]
        return chosen + rest[:keep]
    front: list[LeafCandidate] = []
    for candidate in sorted(found, key=lambda c: (c.terms, c.rmse)):
        if not front or candidate.rmse < front[-1].rmse * 0.5:
            front.append(candidate)
    chosen = sorted(front, key=lambda c: c.rmse)[:keep]
    rest = [c for c in sorted(found, key=lambda c: c.rmse) if c not in chosen]
    return chosen + rest[: max(0, keep - len(chosen))]
