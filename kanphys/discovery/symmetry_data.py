"""Labelled symmetry datasets: the ground truth the structure tests are measured against.

:func:`true_facts` computes, for a formula, whether each property that
:func:`~kanphys.discovery.properties.structure` tests really holds. The residual of each
property (the same one the numerical test scores, see :mod:`kanphys.discovery.properties`) is
built exactly with sympy derivatives and evaluated in 40-digit arithmetic (mpmath) at random
points of the sampling box: a property holds when every residual is below ``1e-25`` of its
terms. Evaluating exact derivatives this way decides the cases ``sympy.simplify`` cannot
close (nested radicals, trigonometric identities) and never misses a counterexample that a
random point exposes.

:data:`CONTROLS` adds formulas built to separate look-alike properties (the issue's negative
controls): ``a*sqrt(1 + (b/c)**2)`` depends on ``b/c`` and not on ``b*c``, a product plus a
constant is not multiplicatively separable, a difference squared is translation-invariant but
not scaling-invariant, and so on, each with user-given invariants to test.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy

from kanphys.discovery.properties import KINDS, _fact_key, _splits

__all__ = ["CONTROLS", "LabelledFormula", "sample", "true_facts"]

_DIGITS = 40
_ZERO = 1e-25
_POINTS = 12


@dataclass(frozen=True)
class LabelledFormula:
    """A formula with its sampling box and the invariants to test on it.

    Attributes
    ----------
    id : str
    formula : str
        In sympy syntax over ``names`` (data written by the project, not user input).
    names : tuple of str
    ranges : tuple of (float, float)
        Uniform sampling range of each input.
    invariants : tuple of str
        User-given invariants to test (``"b/c"``), labelled like the other facts.
    note : str
        What the control is for.
    """

    id: str
    formula: str
    names: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]
    invariants: tuple[str, ...] = ()
    note: str = ""
    symbols: dict[str, sympy.Symbol] = field(default_factory=dict, compare=False, repr=False)

    def expression(self) -> sympy.Expr:
        """The formula as a sympy expression in positive real symbols named ``names``."""
        from sympy.parsing.sympy_parser import parse_expr

        table = {name: sympy.Symbol(name, positive=True) for name in self.names}
        return parse_expr(self.formula, local_dict=table)  # type: ignore[no-any-return]


def _box(names: str, low: float = 1.0, high: float = 5.0) -> tuple[tuple[float, float], ...]:
    return tuple((low, high) for _ in names.split())


#: Negative and positive controls: look-alike properties that the tests must tell apart.
CONTROLS: tuple[LabelledFormula, ...] = (
    LabelledFormula(
        "ratio-not-product",
        "a*sqrt(1 + (b/c)**2)",
        ("a", "b", "c"),
        _box("a b c"),
        ("b/c", "b*c", "b - c"),
        "depends on b/c, not on b*c",
    ),
    LabelledFormula(
        "product-not-ratio",
        "a*sqrt(1 + (b*c)**2)",
        ("a", "b", "c"),
        _box("a b c", 0.2, 2.0),
        ("b/c", "b*c"),
        "depends on b*c, not on b/c",
    ),
    LabelledFormula(
        "difference",
        "exp(-(a - b)**2)*c",
        ("a", "b", "c"),
        _box("a b c"),
        ("a - b", "a/b", "a + b"),
        "translation in (a, b), not scaling; swap (a, b) holds",
    ),
    LabelledFormula(
        "product-plus-constant",
        "a*b + 1",
        ("a", "b"),
        _box("a b"),
        ("a*b",),
        "not multiplicatively separable, generally separable",
    ),
    LabelledFormula(
        "sum-of-products",
        "a*b + c*d",
        ("a", "b", "c", "d"),
        _box("a b c d"),
        ("a*b",),
        "additive split {a, b} + {c, d}",
    ),
    LabelledFormula(
        "coupled",
        "sin(a*b + c)",
        ("a", "b", "c"),
        _box("a b c", 0.1, 1.0),
        ("a*b",),
        "general separability {a, b} | {c} only",
    ),
    LabelledFormula(
        "antisymmetric",
        "a**2 - b**2 + c",
        ("a", "b", "c"),
        _box("a b c"),
        (),
        "additively separable, not swap-symmetric",
    ),
    LabelledFormula(
        "radial",
        "cos(a**2 + b**2)*exp(-c)",
        ("a", "b", "c"),
        _box("a b c", 0.0, 1.0),
        ("a**2 + b**2", "a*b"),
        "rotation invariant in (a, b): depends on a^2 + b^2",
    ),
    LabelledFormula(
        "homogeneous",
        "(a**3 + b**3)/(a*b*c)",
        ("a", "b", "c"),
        _box("a b c"),
        ("a/b",),
        "a/b + b/a-like; swap (a, b)",
    ),
    LabelledFormula(
        "near-separable",
        "a*b + 0.3*sin(a + b)",
        ("a", "b"),
        _box("a b", 0.0, 2.0),
        (),
        "weak coupling: neither additive nor multiplicative",
    ),
)


def sample(formula: LabelledFormula, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform samples of the formula's box and its values, float64."""
    rng = np.random.default_rng(seed)
    low = np.array([r[0] for r in formula.ranges])
    high = np.array([r[1] for r in formula.ranges])
    X = low + (high - low) * rng.random((n, len(formula.names)))
    expr = formula.expression()
    symbols = [sympy.Symbol(name, positive=True) for name in formula.names]
    y = np.asarray(sympy.lambdify(symbols, expr, "numpy")(*X.T), dtype=np.float64)
    return X, np.broadcast_to(y, (n,)).copy()


def _is_zero(
    residual: sympy.Expr, scale: sympy.Expr, symbols: Sequence[sympy.Symbol], points: np.ndarray
) -> bool:
    """Whether ``|residual| <= 1e-25 * |scale|`` at every point, in 40-digit arithmetic."""
    if residual == 0:
        return True
    r = sympy.lambdify(symbols, residual, "mpmath")
    s = sympy.lambdify(symbols, scale, "mpmath")
    with mpmath.workdps(_DIGITS):
        for point in points:
            args = [mpmath.mpf(float(v)) for v in point]
            value, size = abs(r(*args)), abs(s(*args))
            if value > _ZERO * max(size, mpmath.mpf(10) ** -_DIGITS):
                return False
    return True


def true_facts(
    formula: LabelledFormula,
    *,
    kinds: Sequence[str] = KINDS,
    seed: int = 0,
) -> dict[tuple[Any, ...], bool]:
    """The true value of every property :func:`structure` tests on ``formula``.

    Returns
    -------
    dict
        Keyed like the facts of :class:`~kanphys.discovery.properties.StructureFacts`
        (:meth:`~kanphys.discovery.properties.Fact.key`), value: whether the property holds.
    """
    expr = formula.expression()
    names = formula.names
    x = [sympy.Symbol(name, positive=True) for name in names]
    rng = np.random.default_rng(seed)
    low = np.array([r[0] for r in formula.ranges])
    high = np.array([r[1] for r in formula.ranges])
    points = low + (high - low) * rng.random((_POINTS, len(names)))
    grad = [sympy.diff(expr, v) for v in x]
    d = len(names)
    labels: dict[tuple[Any, ...], bool] = {}

    def zero(residual: sympy.Expr, scale: sympy.Expr) -> bool:
        return _is_zero(residual, scale, x, points)

    for kind in kinds:
        if kind in ("additive", "multiplicative", "general"):
            for a_cols, b_cols in _splits(d):
                groups = (tuple(names[k] for k in a_cols), tuple(names[k] for k in b_cols))
                labels[_fact_key(kind, groups)] = _separable(
                    kind, expr, x, grad, a_cols, b_cols, zero
                )
        elif kind in ("translation", "scaling", "swap"):
            for i, j in itertools.combinations(range(d), 2):
                pair = ((names[i], names[j]),)
                if kind == "translation":
                    value = zero(grad[i] + grad[j], abs(grad[i]) + abs(grad[j]) + 1)
                elif kind == "scaling":
                    first, second = x[i] * grad[i], x[j] * grad[j]
                    value = zero(first + second, abs(first) + abs(second) + 1)
                else:
                    swapped = expr.subs({x[i]: x[j], x[j]: x[i]}, simultaneous=True)
                    value = zero(swapped - expr, abs(expr) + 1)
                labels[_fact_key(kind, pair)] = value
        elif kind == "invariant":
            for text in formula.invariants:
                phi = LabelledFormula("", text, names, formula.ranges).expression()
                used = [k for k in range(d) if x[k] in phi.free_symbols]
                phi_grad = {k: sympy.diff(phi, x[k]) for k in used}
                value = all(
                    zero(
                        grad[s] * phi_grad[t] - grad[t] * phi_grad[s],
                        abs(grad[s] * phi_grad[t]) + abs(grad[t] * phi_grad[s]) + 1,
                    )
                    for s, t in itertools.combinations(used, 2)
                )
                labels[_fact_key("invariant", (tuple(names[k] for k in used),), text)] = value
    return labels


def _separable(
    kind: str,
    expr: sympy.Expr,
    x: list[sympy.Symbol],
    grad: list[sympy.Expr],
    A: Sequence[int],
    B: Sequence[int],
    zero: Any,
) -> bool:
    if kind == "additive":
        return all(
            zero(sympy.diff(grad[a], x[b]), abs(grad[a] * grad[b]) + 1) for a in A for b in B
        )
    if kind == "multiplicative":
        return all(
            zero(
                expr * sympy.diff(grad[a], x[b]) - grad[a] * grad[b],
                abs(expr * sympy.diff(grad[a], x[b])) + abs(grad[a] * grad[b]) + 1,
            )
            for a in A
            for b in B
        )
    # general: within-group gradient ratios depend on their own group only, and
    # log|f_a / f_b| is additive across the groups
    for group, other in ((A, B), (B, A)):
        for k in group[1:]:
            ratio = grad[k] / grad[group[0]]
            if not all(zero(sympy.diff(ratio, x[o]), abs(ratio) + 1) for o in other):
                return False
    log_ratio = (sympy.log(grad[A[0]] ** 2) - sympy.log(grad[B[0]] ** 2)) / 2
    first = [sympy.diff(log_ratio, x[a]) for a in A]
    return all(zero(sympy.diff(f, x[b]), abs(f) + 1) for f in first for b in B)
