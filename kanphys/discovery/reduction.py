"""Symmetries of a law, read from the gradients of a KAN fitted to the data, and the
divide-and-conquer search that uses them.

A smooth surrogate ``f`` (a KAN) is fitted to the data; its gradients on a batch of inputs
reveal two kinds of structure, each as the null space of a matrix of per-row derivatives
(every row scaled to unit norm, so the test is relative):

* **translation**: ``sum_k c_k df/dx_k = 0`` for all x means ``f`` is constant along ``c``
  and depends on ``x`` only through the combinations ``l . x`` with ``l`` orthogonal to every
  such ``c`` (``sqrt((x2 - x1)^2 + (y2 - y1)^2)`` depends on ``x2 - x1`` and ``y2 - y1``);
* **scaling** (generalised homogeneity, Euler's relation) on positive variables:
  ``sum_k a_k x_k df/dx_k = b f`` means ``f(lambda^a x) = lambda^b f(x)``, so
  ``f = prod x^beta * F(z)`` with ``A beta = b`` and invariant monomials ``z = prod x^m``,
  ``A m = 0``. A power-law variable (``f = x_k^p g(rest)``) is the case ``a = e_k``;
  ``n_0 exp(-m g x / (kb T))`` has five such relations and reduces to one variable.

A direction counts when its singular value, divided by ``sqrt(N)``, is below ``tolerance``
(the relative error of the surrogate's derivatives sets it; 0.02 by default). Directions
are snapped to small rationals (denominators up to 4) and kept only if the snapped vector
still passes the test.

:func:`structured_search` then recurses: try the closed-form leaf solver
(:func:`~kanphys.discovery.closed_form.rational_search`); when it is not exact, fit a
surrogate, reduce by the translations found (new variables ``l . x``) or else the scalings
(new target ``y / prod x^beta`` and variables ``z``, both computed from the data exactly, not
from the surrogate), and search the smaller problem. The recombined formulas are returned in
the original variables, for the caller to refit, snap and judge on held-out rows, so a wrong
structure decision costs time, never a wrong answer. When neither symmetry holds but the law is
additively (else multiplicatively) separable (:func:`~kanphys.discovery.properties.separable_groups`
on an accurate surrogate), each group's piece is searched on the surrogate's values with the
other groups held at the median row, and the pieces are recombined.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy
import torch

from kanphys.discovery.closed_form import EXACT, rational_search

__all__ = [
    "Reduction",
    "Surrogate",
    "scaling_symmetries",
    "structured_search",
    "translation_symmetries",
]

logger = logging.getLogger(__name__)

#: Default relative tolerance of the symmetry tests.
TOLERANCE = 0.02

#: Largest relative error of the surrogate for which a separable law is split into pieces.
SPLIT_ACCURACY = 1e-3

#: Rows a surrogate of noisy data is trained on (at least).
NOISY_ROWS = 8000

#: Closed-form candidates kept per leaf, and rows they are fitted on, for noisy data (more
#: than for exact data: under noise several forms fit as well and the refit decides).
NOISY_KEEP = 10
NOISY_LEAF_ROWS = 2000


class Surrogate:
    """A KAN fitted to ``(X, y)`` (inputs scaled to [-1, 1], target standardised), with
    derivatives in the original coordinates.

    Parameters
    ----------
    X : array, shape (N, d)
    y : array, shape (N,)
    hidden : int, optional
        Hidden nodes (default ``2 d + 1``, capped at 12).
    steps : int
        L-BFGS iterations.
    seed : int
    time_limit : float, optional
        Seconds; training stops early when it passes.
    log_inputs : bool
        Positive inputs enter as logs.
    grid_size : int
        Initial grid intervals (refined to 10 half-way, except with ``noisy``).
    noisy : bool
        For noisy data: train on at least :data:`NOISY_ROWS` rows, keep the coarse grid, and
        weight rows by ``y^2`` when ``log|y|`` is modelled, so that the loss is that of ``y``
        (additive noise of size ``s`` is noise of size ``s / |y|`` on ``log|y|``).
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        hidden: int | None = None,
        steps: int = 1000,
        seed: int = 0,
        max_rows: int = 2000,
        time_limit: float | None = None,
        log_inputs: bool = True,
        grid_size: int = 5,
        noisy: bool = False,
    ) -> None:
        from kanphys.models import KAN

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        self.noisy = noisy
        if noisy:  # noise is averaged out by more rows and a coarser grid (set in _train)
            max_rows = max(max_rows, NOISY_ROWS)
        rows = np.random.default_rng(seed).permutation(len(y))[:max_rows]
        # positive inputs enter as logs and a target of one sign as log|y|: power laws become
        # linear, and the fit is relative, so that derivatives are accurate where |y| is small
        self.log_inputs = (X > 0).all(axis=0) & log_inputs
        self.sign = 1.0 if (y > 0).all() else -1.0 if (y < 0).all() else 0.0
        U = self._coordinates(X)
        self.low, self.high = U.min(axis=0), U.max(axis=0)
        self.span = np.where(self.high > self.low, self.high - self.low, 1.0)
        target = np.log(self.sign * y) if self.sign else y
        self.mean, self.std = float(np.mean(target)), float(np.std(target)) or 1.0
        d = X.shape[1]
        width = [d, hidden or min(2 * d + 1, 12), 1]
        generator = torch.Generator().manual_seed(seed)
        self.model = KAN(width, grid_size=grid_size, dtype=torch.float64, generator=generator)
        u = torch.as_tensor(self._scale(U[rows]))
        t = torch.as_tensor((target[rows] - self.mean) / self.std)[:, None]
        # additive noise on y is noise of size noise/|y| on log|y|: rows are weighted by y^2
        # so that the fit's loss is the loss in y (where |y| is small, log|y| is mostly noise)
        weights = None
        if noisy and self.sign:
            squares = y[rows] ** 2
            weights = torch.as_tensor(squares / np.mean(squares))[:, None]
        self.rmse = self._train(u, t, steps, time_limit, weights)

    @property
    def log_target(self) -> bool:
        """Whether the network models ``log|y|`` (a target of one sign)."""
        return bool(self.sign)

    def _coordinates(self, X: np.ndarray) -> np.ndarray:
        return np.where(self.log_inputs, np.log(np.where(self.log_inputs, X, 1.0)), X)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return 2.0 * (X - self.low) / self.span - 1.0

    def _train(
        self,
        u: torch.Tensor,
        t: torch.Tensor,
        steps: int,
        limit: float | None,
        weights: torch.Tensor | None = None,
    ) -> float:
        from kanphys.models import refine_grid

        stop = None if limit is None else time.perf_counter() + limit
        optimizer = torch.optim.LBFGS(
            self.model.parameters(), lr=1.0, max_iter=20, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            squared = (self.model(u) - t) ** 2
            loss = torch.mean(squared if weights is None else weights * squared)
            loss.backward()
            return loss

        for round_ in range(max(1, steps // 20)):
            # a finer grid once the shape is learnt (not for noisy data: it would fit noise)
            if round_ == max(1, steps // 40) and not self.noisy:
                self.model = refine_grid(self.model, 10, u)
                optimizer = torch.optim.LBFGS(
                    self.model.parameters(), lr=1.0, max_iter=20, line_search_fn="strong_wolfe"
                )
            loss = optimizer.step(closure)
            if not torch.isfinite(loss) or (stop is not None and time.perf_counter() > stop):
                break
        with torch.no_grad():
            return float(torch.sqrt(torch.mean((self.model(u) - t) ** 2))) * self.std

    def _modelled(self, x: torch.Tensor) -> torch.Tensor:
        """The modelled target (``log|y|`` or ``y``) at original inputs, differentiable."""
        logs = torch.as_tensor(self.log_inputs)
        u = torch.where(logs, torch.log(torch.where(logs, x, torch.ones_like(x))), x)
        low = torch.as_tensor(self.low)
        span = torch.as_tensor(self.span)
        out: torch.Tensor = self.model(2.0 * (u - low) / span - 1.0)[:, 0] * self.std + self.mean
        return out

    def torch_function(self, x: torch.Tensor) -> torch.Tensor:
        """The surrogate of ``y`` at original inputs ``(N, d)`` (float64), differentiable by
        torch: what :func:`~kanphys.discovery.properties.structure` tests."""
        out = self._modelled(x)
        return self.sign * torch.exp(out) if self.sign else out

    def gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The modelled target (``log|y|`` when :attr:`log_target`, else ``y``), ``(N,)``,
        and its gradient with respect to the original inputs, ``(N, d)``."""
        x = torch.as_tensor(np.asarray(X, dtype=np.float64)).requires_grad_(True)
        out = self._modelled(x)
        (grad,) = torch.autograd.grad(out.sum(), x)
        return out.detach().numpy(), grad.numpy()


def _null_space(M: np.ndarray, tolerance: float) -> np.ndarray:
    """Orthonormal rows spanning the approximate null space of the row-normalised ``M``."""
    norms = np.linalg.norm(M, axis=1, keepdims=True)
    keep = norms[:, 0] > 0
    M = M[keep] / norms[keep]
    if M.shape[0] < M.shape[1]:
        return np.zeros((0, M.shape[1]))
    _, s, vt = np.linalg.svd(M, full_matrices=False)
    small = s / math.sqrt(M.shape[0]) < tolerance
    return vt[small]


def _snap_basis(basis: np.ndarray, M: np.ndarray, tolerance: float) -> list[list[Fraction]]:
    """Row-reduce a null-space basis, snap it to small rationals and keep what still passes."""
    if basis.shape[0] == 0:
        return []
    # reduced row echelon form, columns left to right: pivots fall on the earliest variables
    # (never on a scaling relation's degree b, the last column, unless it must)
    B = basis.copy()
    rows, cols = B.shape
    row = 0
    for col in range(cols):
        if row == rows:
            break
        best = row + int(np.argmax(np.abs(B[row:, col])))
        if abs(B[best, col]) < 0.2:  # not independent in this column, to the tests' accuracy
            continue
        B[[row, best]] = B[[best, row]]
        B[row] /= B[row, col]
        for other in range(rows):
            if other != row:
                B[other] -= B[other, col] * B[row]
        row += 1
    B = B[:row]
    norms = np.linalg.norm(M, axis=1, keepdims=True)
    M = M[norms[:, 0] > 0] / norms[norms[:, 0] > 0]
    snapped: list[list[Fraction]] = []
    for row in B:
        vector = [Fraction(float(v)).limit_denominator(4) for v in row]
        values = np.array([float(v) for v in vector])
        if not values.any():
            continue
        residual = np.linalg.norm(M @ values) / (math.sqrt(M.shape[0]) * np.linalg.norm(values))
        if residual < tolerance:
            snapped.append(vector)
    return snapped


def translation_symmetries(
    gradients: np.ndarray, tolerance: float = TOLERANCE
) -> list[list[Fraction]]:
    """Directions ``c`` with ``sum_k c_k df/dx_k = 0`` on every row, as rational vectors."""
    basis = _null_space(gradients, tolerance)
    return _snap_basis(basis, gradients, tolerance)


def scaling_symmetries(
    X: np.ndarray,
    values: np.ndarray,
    gradients: np.ndarray,
    columns: Sequence[int],
    tolerance: float = TOLERANCE,
    *,
    log_target: bool = False,
) -> list[tuple[list[Fraction], Fraction]]:
    """Relations ``sum_k a_k x_k df/dx_k = b f`` over ``columns`` (positive variables).

    ``values`` and ``gradients`` are those of ``f``, or of ``log|f|`` when ``log_target``
    (then the relation reads ``sum_k a_k x_k d log|f| / dx_k = b``, better conditioned where
    ``f`` is small). Returns ``(a, b)`` pairs, ``a`` indexed like ``columns``; relations
    with ``a = 0`` are dropped.
    """
    columns = list(columns)
    if not columns:
        return []
    last = np.ones_like(values) if log_target else values
    M = np.column_stack([X[:, columns] * gradients[:, columns], -last])
    basis = _null_space(M, tolerance)
    found = []
    for vector in _snap_basis(basis, M, tolerance):
        a, b = vector[:-1], vector[-1]
        if any(a):
            found.append((a, b))
    return found


def _integer_nullspace(matrix: list[list[Fraction]], n: int) -> list[list[int]]:
    """Integer basis vectors ``m`` (length n) with ``matrix @ m = 0``."""
    if not matrix:
        return [[int(i == j) for j in range(n)] for i in range(n)]
    rational = sympy.Matrix(
        [[sympy.Rational(v.numerator, v.denominator) for v in row] for row in matrix]
    )
    basis = []
    for vector in rational.nullspace():
        denominators = [sympy.fraction(v)[1] for v in vector]
        scale = sympy.ilcm(*denominators) if denominators else 1
        integers = [int(v * scale) for v in vector]
        divisor = math.gcd(*integers) or 1
        integers = [v // divisor for v in integers]
        # a leading positive entry: x1 - x2 rather than -x1 + x2
        first = next((v for v in integers if v), 1)
        basis.append([v if first > 0 else -v for v in integers])
    return basis


@dataclass
class Reduction:
    """One step of the divide and conquer: how the smaller problem maps back.

    ``kind`` is "translation" or "scaling"; ``variables`` are the new variables as sympy
    expressions of the parent's symbols, ``prefactor`` multiplies the child's formula.
    """

    kind: str
    variables: list[sympy.Expr]
    prefactor: sympy.Expr
    X: np.ndarray
    y: np.ndarray
    relations: list[Any] = field(default_factory=list)


def translation_reduction(
    X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol], directions: list[list[Fraction]]
) -> Reduction:
    n = X.shape[1]
    combos = _integer_nullspace(directions, n)
    L = np.array(combos, dtype=np.float64).reshape(len(combos), n)
    variables = [
        sympy.Add(*(c * s for c, s in zip(row, symbols, strict=True) if c)) for row in combos
    ]
    return Reduction("translation", variables, sympy.Integer(1), X @ L.T, y, directions)


def scaling_reduction(
    X: np.ndarray,
    y: np.ndarray,
    symbols: Sequence[sympy.Symbol],
    columns: Sequence[int],
    relations: list[tuple[list[Fraction], Fraction]],
) -> Reduction | None:
    columns = list(columns)
    n = X.shape[1]
    A = sympy.Matrix(
        [[sympy.Rational(v.numerator, v.denominator) for v in a] for a, _ in relations]
    )
    b = sympy.Matrix([sympy.Rational(r.numerator, r.denominator) for _, r in relations])
    try:
        solution, free = A.gauss_jordan_solve(b)
    except ValueError:  # inconsistent relations: the snapping went wrong
        return None
    beta = [sympy.nsimplify(v) for v in solution.subs(dict.fromkeys(free, 0))]
    invariants = _integer_nullspace([list(a) for a, _ in relations], len(columns))
    positive = X[:, columns]
    log_x = np.log(positive)
    beta_f = np.array([float(v) for v in beta])
    with np.errstate(all="ignore"):
        F = y / np.exp(log_x @ beta_f)
        Z = [np.exp(log_x @ np.array(m, dtype=np.float64)) for m in invariants]
    others = [k for k in range(n) if k not in columns]
    new_X = np.column_stack(Z + [X[:, k] for k in others]) if Z or others else np.zeros((len(y), 0))
    if not (np.isfinite(F).all() and np.isfinite(new_X).all()):
        return None
    chosen = [symbols[k] for k in columns]
    prefactor = sympy.Mul(*(s**e for s, e in zip(chosen, beta, strict=True) if e))
    variables = [
        sympy.Mul(*(s**e for s, e in zip(chosen, m, strict=True) if e)) for m in invariants
    ] + [symbols[k] for k in others]
    return Reduction("scaling", variables, prefactor, new_X, F, relations)


@dataclass
class StructureReport:
    """What :func:`structured_search` did, for result.json."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    surrogate_rmse: float = math.inf


def structured_search(
    X: np.ndarray,
    y: np.ndarray,
    symbols: Sequence[sympy.Symbol],
    *,
    deadline: float,
    seed: int = 0,
    tolerance: float = TOLERANCE,
    max_depth: int = 3,
    report: StructureReport | None = None,
    leaf_share: float = 0.4,
    noisy: bool = False,
    _depth: int = 0,
) -> list[sympy.Expr]:
    """Formulas for ``y = f(X)`` in ``symbols``: closed-form fits of the problem and of the
    smaller problems its symmetries reduce it to (see the module docstring).

    ``noisy`` trains the surrogates for noisy data (all rows, a coarse grid, and the loss of
    ``y`` itself when ``log|y|`` is modelled: see :class:`Surrogate`)."""
    report = report if report is not None else StructureReport()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    spread = float(np.sqrt(np.mean(y**2))) or 1.0
    formulas: list[sympy.Expr] = []
    if X.shape[1] == 0:
        return [sympy.Float(float(np.mean(y)))]
    left = deadline - time.perf_counter()
    if left <= 0:
        return formulas
    leaf_symbols = list(symbols)
    leaves = rational_search(
        X,
        y,
        leaf_symbols,
        deadline=time.perf_counter() + leaf_share * left,
        noisy=noisy,
        keep=NOISY_KEEP if noisy else 6,
        max_rows=NOISY_LEAF_ROWS if noisy else 1000,
    )
    formulas += [leaf.expr for leaf in leaves]
    exact = any(leaf.rmse <= 10 * EXACT * spread for leaf in leaves)
    report.steps.append(
        {
            "depth": _depth,
            "variables": [str(s) for s in symbols],
            "leaf_best_relative_rmse": (leaves[0].rmse / spread) if leaves else None,
            "exact": exact,
        }
    )
    # an exact fit ends the search, unless it is long for its size: then symmetries may give
    # a shorter form (sqrt(x1^2 - 2 x1 x2 + x2^2 + ...) is sqrt((x1 - x2)^2 + ...))
    long = bool(leaves) and _depth == 0 and X.shape[1] >= 3 and leaves[0].terms > X.shape[1] + 1
    if (exact and not long) or _depth >= max_depth or time.perf_counter() > deadline:
        return formulas
    remaining = deadline - time.perf_counter()
    surrogate = Surrogate(X, y, seed=seed, time_limit=0.3 * remaining, noisy=noisy)
    if _depth == 0:
        report.surrogate_rmse = surrogate.rmse
    rows = np.random.default_rng(seed).permutation(len(y))[:1000]
    values, gradients = surrogate.gradient(X[rows])
    reductions: list[Reduction] = []
    directions = translation_symmetries(gradients, tolerance)
    if directions:
        reductions.append(translation_reduction(X, y, symbols, directions))
    positive = [k for k in range(X.shape[1]) if (X[:, k] > 0).all()]
    relations = scaling_symmetries(
        X[rows], values, gradients, positive, tolerance, log_target=surrogate.log_target
    )
    if relations:
        reduction = scaling_reduction(X, y, symbols, positive, relations)
        if reduction is not None:
            reductions.append(reduction)
    report.steps[-1]["surrogate_relative_rmse"] = surrogate.rmse / spread
    report.steps[-1]["reductions"] = [
        {"kind": r.kind, "variables": [str(v) for v in r.variables], "prefactor": str(r.prefactor)}
        for r in reductions
    ]
    # pieces of a separable law are read off the surrogate, so they can only be exact when the
    # surrogate is: below SPLIT_ACCURACY relative error
    relative = surrogate.rmse if surrogate.log_target else surrogate.rmse / spread
    if not reductions and X.shape[1] >= 2 and relative <= SPLIT_ACCURACY:
        formulas += _separable_search(
            surrogate, X, y, symbols, rows, deadline, seed, tolerance, max_depth, report,
            leaf_share, _depth,
        )  # fmt: skip
    for reduction in reductions:
        if time.perf_counter() > deadline:
            break
        child = [
            sympy.Symbol(f"_z{_depth}_{k}", positive=bool((reduction.X[:, k] > 0).all()))
            for k in range(reduction.X.shape[1])
        ]
        found = structured_search(
            reduction.X,
            reduction.y,
            child,
            deadline=deadline,
            seed=seed,
            tolerance=tolerance,
            max_depth=max_depth,
            report=report,
            leaf_share=leaf_share,
            noisy=noisy,
            _depth=_depth + 1,
        )
        mapping = dict(zip(child, reduction.variables, strict=True))
        formulas += [reduction.prefactor * expr.xreplace(mapping) for expr in found]
    return formulas


def _separable_search(
    surrogate: Surrogate,
    X: np.ndarray,
    y: np.ndarray,
    symbols: Sequence[sympy.Symbol],
    rows: np.ndarray,
    deadline: float,
    seed: int,
    tolerance: float,
    max_depth: int,
    report: StructureReport,
    leaf_share: float,
    depth: int,
) -> list[sympy.Expr]:
    """Split an additively (else multiplicatively) separable law into its groups of variables
    (:func:`~kanphys.discovery.properties.separable_groups` on the surrogate), search each
    group's piece, and recombine.

    A piece is the surrogate with the other groups held at the median row ``x0``:
    ``f = sum_j f(x_Gj, x0_rest) - (k - 1) f(x0)``, or ``prod_j f(x_Gj, x0_rest) / f(x0)^(k-1)``.
    Its values come from the surrogate (the data have no rows with the other groups fixed),
    so the recombined formula's constants are approximate until the caller refits them on
    the data.
    """
    from kanphys.discovery.properties import separable_groups

    names = [str(s) for s in symbols]
    anchor = np.median(X, axis=0)
    for kind in ("additive", "multiplicative"):
        if kind == "multiplicative" and not surrogate.log_target:
            break
        groups = separable_groups(surrogate, X[rows], names, kind)
        if len(groups) < 2:
            continue
        report.steps[-1]["split"] = {"kind": kind, "groups": [list(g) for g in groups]}
        with torch.no_grad():
            center = float(surrogate.torch_function(torch.as_tensor(anchor[None, :]))[0])
        pieces: list[list[sympy.Expr]] = []
        for group in groups:
            columns = [names.index(name) for name in group]
            Z = np.tile(anchor, (len(X), 1))
            Z[:, columns] = X[:, columns]
            with torch.no_grad():
                values = surrogate.torch_function(torch.as_tensor(Z)).numpy()
            found = structured_search(
                X[:, columns],
                values,
                [symbols[k] for k in columns],
                deadline=deadline,
                seed=seed,
                tolerance=tolerance,
                max_depth=max_depth,
                report=report,
                leaf_share=leaf_share,
                _depth=depth + 1,
            )
            if not found:
                return []
            pieces.append(found[:2])
        combined = []
        for choice in itertools.islice(itertools.product(*pieces), 4):
            if kind == "additive":
                combined.append(sympy.Add(*choice) - (len(groups) - 1) * sympy.Float(center))
            else:
                combined.append(sympy.Mul(*choice) / sympy.Float(center) ** (len(groups) - 1))
        return combined
    return []
