"""Identified equations: the result object (text, sympy, JSON), the true equation's parser and
the comparison with it; shared by :func:`~kanphys.discovery.identify.identify_pde` and
:func:`~kanphys.discovery.identify.identify_ode`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from kanphys.discovery.derivatives import estimate_noise
from kanphys.errors import ConfigError, check_int

__all__ = ["Identification", "parse_terms"]


@dataclass(frozen=True)
class Identification:
    """An identified equation system.

    Attributes
    ----------
    targets : tuple of str
        Left-hand sides (``"u_t"``, or ``"x'"``, ``"y'"``, ... for ODEs).
    library : tuple of str
        Candidate term names (columns of every coefficient array).
    coefficients : ndarray, shape (n_targets, n_terms)
        Zero for terms not selected.
    coefficient_std : ndarray, shape (n_targets, n_terms)
        Spread of each selected coefficient over the resampled refits.
    frequencies : ndarray, shape (n_targets, n_terms)
        Share of the resampled selections that chose each term.
    residual : tuple of float
        Relative held-out residual ``||b - Theta xi|| / ||b||`` per target (before refinement).
    noise : float
        Estimated noise standard deviation of the data.
    kind : {"pde", "ode"}
    details : dict
        Settings, test functions, refinement and timings.
    truth : dict or None
        Comparison with the true equation when it was given.
    notes : tuple of str
    """

    targets: tuple[str, ...]
    library: tuple[str, ...]
    coefficients: np.ndarray
    coefficient_std: np.ndarray
    frequencies: np.ndarray
    residual: tuple[float, ...]
    noise: float
    kind: str
    details: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()

    def terms(self, target: int = 0) -> dict[str, float]:
        """Selected terms of one equation and their coefficients."""
        row = self.coefficients[target]
        return {name: float(c) for name, c in zip(self.library, row, strict=True) if c != 0}

    @property
    def text(self) -> list[str]:
        """One line per equation, e.g. ``u_t = -1.0001 u*u_x + 0.0999 u_xx``."""
        return [_format(lhs, self.terms(i)) for i, lhs in enumerate(self.targets)]

    @property
    def equations(self) -> list[sympy.Eq]:
        """The equations in sympy (``Derivative(u(t, x), t) = ...`` for a PDE)."""
        return [
            _sympy_equation(self.kind, lhs, self.terms(i)) for i, lhs in enumerate(self.targets)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary (lists, floats, strings)."""
        equations = []
        for i, lhs in enumerate(self.targets):
            chosen = self.coefficients[i] != 0
            equations.append(
                {
                    "lhs": lhs,
                    "text": self.text[i],
                    "sympy": str(self.equations[i]),
                    "terms": {
                        name: {
                            "coefficient": float(self.coefficients[i, j]),
                            "std": float(self.coefficient_std[i, j]),
                            "frequency": float(self.frequencies[i, j]),
                        }
                        for j, name in enumerate(self.library)
                        if chosen[j]
                    },
                    "residual": self.residual[i],
                }
            )
        return {
            "kind": self.kind,
            "equations": equations,
            "library": list(self.library),
            "frequencies": {
                lhs: dict(zip(self.library, map(float, self.frequencies[i]), strict=True))
                for i, lhs in enumerate(self.targets)
            },
            "noise_std": self.noise,
            "details": self.details,
            "truth": self.truth,
            "notes": list(self.notes),
        }


def _format(lhs: str, terms: Mapping[str, float]) -> str:
    if not terms:
        return f"{lhs} = 0"
    parts = []
    for k, (name, c) in enumerate(terms.items()):
        sign = "-" if c < 0 else "+"
        magnitude = f"{abs(c):.5g}"
        body = magnitude if name == "1" else f"{magnitude} {name}"
        parts.append(("-" if sign == "-" else "") + body if k == 0 else f"{sign} {body}")
    return f"{lhs} = " + " ".join(parts)


def _term_expression(kind: str, name: str) -> sympy.Expr:
    if kind == "ode":
        return sympy.sympify(name.replace("^", "**"))
    t, x = sympy.symbols("t x")
    u = sympy.Function("u")(t, x)
    expr: sympy.Expr = sympy.Integer(1)
    for factor in name.split("*"):
        base, _, power = factor.partition("^")
        if base == "1":
            continue
        order = base.count("x") if "_" in base else 0
        value = sympy.Derivative(u, (x, order)) if order else u
        expr *= value ** int(power or 1)
    return expr


def _sympy_equation(kind: str, lhs: str, terms: Mapping[str, float]) -> sympy.Eq:
    rhs = sum(
        (sympy.Float(c, 6) * _term_expression(kind, name) for name, c in terms.items()),
        sympy.Integer(0),
    )
    if kind == "pde":
        t, x = sympy.symbols("t x")
        left: sympy.Expr = sympy.Derivative(sympy.Function("u")(t, x), t)
    else:
        left = sympy.Derivative(
            sympy.Function(lhs.rstrip("'"))(sympy.Symbol("t")), sympy.Symbol("t")
        )
    return sympy.Eq(left, rhs)


# --------------------------------------------------------------------------------------------
# the true equation, for scoring
# --------------------------------------------------------------------------------------------


def parse_terms(text: str, library: Sequence[str], *, lhs: str | None = None) -> np.ndarray:
    """Coefficients of a right-hand side written with the library's term names.

    Parameters
    ----------
    text : str
        ``"u_t = -u*u_x + 0.1*u_xx"`` (or just the right-hand side); ``^`` means power,
        products may be written ``u*u_x``; for ODEs e.g. ``"10*(y - x)"``.
    library : list of str
        Term names (``u``, ``u^2``, ``u*u_x``, ``x*y``...).
    lhs : str, optional
        Expected left-hand side, checked when ``text`` has one.

    Returns
    -------
    ndarray, shape (len(library),)

    Raises
    ------
    ConfigError
        Unparsable text, another left-hand side, a term outside the library.
    """
    left, sep, right = text.partition("=")
    if sep:
        if lhs is not None and left.strip() != lhs:
            raise ConfigError(f"truth must be an equation for {lhs}; received {text!r}")
    else:
        right = left
    symbols: dict[str, sympy.Symbol] = {}
    variables: list[sympy.Symbol] = []
    expressions = []
    for name in library:
        if name == "1":
            expressions.append(sympy.Integer(1))
            continue
        for factor in name.split("*"):
            base = factor.partition("^")[0]
            if base not in symbols:
                symbols[base] = sympy.Symbol(base)
                variables.append(symbols[base])
        expressions.append(sympy.sympify(name.replace("^", "**"), locals=symbols))
    try:
        expr = sympy.expand(sympy.sympify(right.replace("^", "**"), locals=symbols))
        poly = sympy.Poly(expr, *variables)
    except (sympy.SympifyError, sympy.PolynomialError, SyntaxError, TypeError) as err:
        raise ConfigError(
            f"truth must be a polynomial in {sorted(symbols)}; cannot read {text!r} ({err})"
        ) from None
    monomials = [sympy.Poly(e, *variables).monoms()[0] for e in expressions]
    coefficients = np.zeros(len(library))
    for monomial, value in zip(poly.monoms(), poly.coeffs(), strict=True):
        if monomial not in monomials:
            term = sympy.Mul(*(v**p for v, p in zip(variables, monomial, strict=True)))
            raise ConfigError(
                f"truth term {term} is not in the candidate library {list(library)}; "
                "widen it (max_order, max_power) or correct the equation"
            )
        try:
            coefficients[monomials.index(monomial)] = float(value)
        except TypeError:
            raise ConfigError(f"truth coefficients must be numbers; received {value}") from None
    return coefficients


def _score(found: np.ndarray, true: np.ndarray, library: Sequence[str]) -> dict[str, Any]:
    found_support, true_support = found != 0, true != 0
    relative = np.abs(found[true_support] - true[true_support]) / np.abs(true[true_support])
    return {
        "coefficients": dict(zip(library, map(float, true), strict=True)),
        "correct_terms": bool(np.array_equal(found_support, true_support)),
        "missing": [
            n for n, f, t in zip(library, found_support, true_support, strict=True) if t and not f
        ],
        "extra": [
            n for n, f, t in zip(library, found_support, true_support, strict=True) if f and not t
        ],
        "relative_errors": {
            n: float(e) for n, e in zip(np.asarray(library)[true_support], relative, strict=True)
        },
        "mean_relative_error": float(relative.mean()) if relative.size else 0.0,
        "max_relative_error": float(relative.max()) if relative.size else 0.0,
    }


def truth_report(
    truth: Sequence[np.ndarray],
    coefficients: np.ndarray,
    library: Sequence[str],
    targets: Sequence[str],
) -> dict[str, Any]:
    scores = [_score(coefficients[i], truth[i], library) for i in range(len(targets))]
    relative = [e for s in scores for e in s["relative_errors"].values()]
    return {
        "per_equation": dict(zip(targets, scores, strict=True)),
        "correct_terms": all(s["correct_terms"] for s in scores),
        "mean_relative_error": float(np.mean(relative)) if relative else 0.0,
        "max_relative_error": float(np.max(relative)) if relative else 0.0,
    }


# --------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------


def check_selection(
    threshold: float | None,
    penalty: float,
    tolerance: float,
    n_resamples: int,
    min_frequency: float,
) -> None:
    if threshold is not None and not (isinstance(threshold, (int, float)) and threshold > 0):
        raise ConfigError(
            f"threshold must be a number > 0 (or None for the path); received {threshold!r}"
        )
    for name, value in (("penalty", penalty), ("tolerance", tolerance)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ConfigError(f"{name} must be a finite number >= 0; received {value!r}")
    check_int("n_resamples", n_resamples, minimum=0)
    if not (isinstance(min_frequency, (int, float)) and 0 < min_frequency <= 1):
        raise ConfigError(f"min_frequency must be a number in (0, 1]; received {min_frequency!r}")


def noise_level(u: np.ndarray, axes: Sequence[int]) -> float:
    estimates = [estimate_noise(u, a) for a in axes]
    finite = [e for e in estimates if math.isfinite(e)]
    return min(finite) if finite else 0.0
