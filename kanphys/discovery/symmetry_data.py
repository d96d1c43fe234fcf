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


# ------------------------------------------------------------------ trajectories with invariants


@dataclass(frozen=True)
class Trajectories:
    """Sampled trajectories of a mechanical system with known conserved quantities.

    Attributes
    ----------
    name : str
    names : tuple of str
        State names (coordinates, then velocities).
    t : array, shape (N,)
        Times (each trajectory restarts at 0).
    states, rates : array, shape (N, d)
        States and their exact time derivatives (from the vector field).
    conserved : dict of str to str
        The known conserved quantities, sympy syntax in the state names.
    lagrangian : str
        A Lagrangian in the coordinates and ``<name>_dot`` velocities ("" if not given).
    """

    name: str
    names: tuple[str, ...]
    t: np.ndarray
    states: np.ndarray
    rates: np.ndarray
    conserved: dict[str, str]
    lagrangian: str = ""

    def values(self, quantity: str) -> np.ndarray:
        """A known quantity evaluated along the samples."""
        from sympy.parsing.sympy_parser import parse_expr

        table = {name: sympy.Symbol(name, real=True) for name in self.names}
        expr = parse_expr(quantity, local_dict=table)
        function = sympy.lambdify([table[n] for n in self.names], expr, "numpy")
        return np.broadcast_to(
            np.asarray(function(*self.states.T), dtype=np.float64), (len(self.states),)
        ).copy()


def _integrate(
    field_: Any, starts: np.ndarray, duration: float, points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scipy.integrate import solve_ivp

    times, states, rates = [], [], []
    t_eval = np.linspace(0.0, duration, points)
    for start in starts:
        solution = solve_ivp(
            lambda t, s: field_(s), (0.0, duration), start, t_eval=t_eval, rtol=1e-11, atol=1e-12
        )
        times.append(solution.t)
        states.append(solution.y.T)
        rates.append(np.array([field_(s) for s in solution.y.T]))
    return np.concatenate(times), np.vstack(states), np.vstack(rates)


def harmonic_oscillator(
    trajectories: int = 4, points: int = 200, omega: float = 1.3, seed: int = 0
) -> Trajectories:
    """``x'' = -omega^2 x``; energy ``v^2/2 + omega^2 x^2/2``."""
    rng = np.random.default_rng(seed)
    starts = rng.uniform(-1.0, 1.0, (trajectories, 2))
    t, X, V = _integrate(lambda s: np.array([s[1], -(omega**2) * s[0]]), starts, 6.0, points)
    w2 = repr(omega**2)
    return Trajectories(
        "harmonic oscillator", ("x", "v"), t, X, V,
        {"energy": f"v**2/2 + {w2}*x**2/2"}, f"x_dot**2/2 - {w2}*x**2/2",
    )  # fmt: skip


def pendulum(
    trajectories: int = 4, points: int = 200, g_over_l: float = 9.81, seed: int = 0
) -> Trajectories:
    """``theta'' = -(g/l) sin(theta)``; energy ``omega^2/2 - (g/l) cos(theta)``."""
    rng = np.random.default_rng(seed)
    starts = np.column_stack(
        [rng.uniform(-2.0, 2.0, trajectories), rng.uniform(-1.0, 1.0, trajectories)]
    )
    t, X, V = _integrate(lambda s: np.array([s[1], -g_over_l * np.sin(s[0])]), starts, 4.0, points)
    k = repr(g_over_l)
    return Trajectories(
        "pendulum", ("theta", "omega"), t, X, V,
        {"energy": f"omega**2/2 - {k}*cos(theta)"}, f"theta_dot**2/2 + {k}*cos(theta)",
    )  # fmt: skip


def kepler(trajectories: int = 30, points: int = 60, seed: int = 0) -> Trajectories:
    """Planar Kepler problem with ``GM = 1``: energy and angular momentum."""
    rng = np.random.default_rng(seed)
    starts = []
    for _ in range(trajectories):
        r = rng.uniform(0.8, 1.5)
        speed = np.sqrt(1 / r) * rng.uniform(0.8, 1.15)  # bound, eccentric orbits
        angle = rng.uniform(0, 2 * np.pi)
        starts.append(
            [r * np.cos(angle), r * np.sin(angle), -speed * np.sin(angle), speed * np.cos(angle)]
        )

    def field_(s: np.ndarray) -> np.ndarray:
        r3 = (s[0] ** 2 + s[1] ** 2) ** 1.5
        return np.array([s[2], s[3], -s[0] / r3, -s[1] / r3])

    t, X, V = _integrate(field_, np.array(starts), 3.0, points)
    return Trajectories(
        "Kepler", ("x", "y", "vx", "vy"), t, X, V,
        {
            "energy": "(vx**2 + vy**2)/2 - 1/sqrt(x**2 + y**2)",
            "angular momentum": "x*vy - y*vx",
        },
    )  # fmt: skip


def differenced_rates(trajectories: Trajectories) -> np.ndarray:
    """Rates by second-order finite differences along each trajectory (what a user who only
    measured the states would have), instead of the exact ones."""
    starts = np.flatnonzero(trajectories.t == 0.0)
    bounds = [*starts.tolist(), len(trajectories.t)]
    pieces = []
    for lo, hi in itertools.pairwise(bounds):
        t, X = trajectories.t[lo:hi], trajectories.states[lo:hi]
        pieces.append(np.gradient(X, t, axis=0, edge_order=2))
    return np.vstack(pieces)
