"""Candidate libraries and the linear systems of equation identification.

**Library.** A :class:`Term` ``(power, order)`` is ``u^power * d^order u/dx^order``
(``order = 0``: ``u^(power + 1)``; ``(-1, 0)``: the constant 1). :func:`pde_library` lists
``1, u, u^2, ..., u^(P+1)`` and ``u^p d^k u/dx^k`` for ``p = 0..P``, ``k = 1..K``.

**Weak form** (Messenger and Bortz 2021). Each row of the system is the equation integrated
against a test function ``phi(t, x) = psi_t(t) psi_x(x)``, ``psi(s) = (1 - s^2)^q`` on a
support of ``2 m + 1`` grid points, and the derivatives are moved onto ``phi`` by parts (its
derivatives vanish at the edge of the support):

* ``<phi, u_t> = -<phi_t, u>``, ``<phi, d^k u> = (-1)^k <d^k phi, u>``;
* ``<phi, u^p u_x> = -<phi_x, u^(p+1)> / (p + 1)`` (a flux);
* ``<phi, u^p d^k u> = -<phi_x, u^p d^(k-1) u> - p <phi, u^(p-1) u_x d^(k-1) u>`` for
  ``p >= 1, k >= 2``: one derivative moved; the rest come from the smoothed field.

Every integral is a separable correlation of a field with 1-D weights, so a whole column is two
vectorised window products. Noise enters only through integrals of ``u`` against smooth
weights, which average it out; no derivative of noisy data is taken except in the
``p >= 1, k >= 2`` terms.

**Strong form.** Rows are grid points; ``u_t`` and the terms come from derivatives of the data
(:mod:`kanphys.discovery.derivatives`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.polynomial import Polynomial

__all__ = [
    "Term",
    "TestFunctions",
    "bump_weights",
    "choose_radius",
    "ode_library",
    "pde_library",
    "strong_pde_system",
    "test_functions",
    "weak_ode_system",
    "weak_pde_system",
]

#: Exponent ``q`` of the test functions is the highest derivative put on them plus this.
SMOOTHNESS_MARGIN = 8
#: The test function's spectrum at the data's corner wavenumber is ``exp(-CORNER_DECAY)``.
CORNER_DECAY = 4.0
MAX_CENTRES = 64


@dataclass(frozen=True, order=True)
class Term:
    """``u^power * d^order u / dx^order``; ``order = 0`` means ``u^(power + 1)`` and
    ``(-1, 0)`` the constant."""

    power: int
    order: int

    def name(self, field: str = "u", variable: str = "x") -> str:
        """``1``, ``u``, ``u^2``, ``u_xx``, ``u*u_x``, ``u^2*u_xxx``..."""
        if self.order == 0:
            exponent = self.power + 1
            return "1" if exponent == 0 else field if exponent == 1 else f"{field}^{exponent}"
        derivative = f"{field}_{variable * self.order}"
        if self.power == 0:
            return derivative
        factor = field if self.power == 1 else f"{field}^{self.power}"
        return f"{factor}*{derivative}"


def pde_library(max_order: int, max_power: int, *, constant: bool = True) -> tuple[Term, ...]:
    """The candidate terms, ordered by derivative order then power (see the module doc)."""
    terms = [Term(-1, 0)] if constant else []
    terms += [Term(p, 0) for p in range(max_power + 1)]
    terms += [Term(p, k) for k in range(1, max_order + 1) for p in range(max_power + 1)]
    return tuple(terms)


def ode_library(n_states: int, max_power: int, *, constant: bool = True) -> list[tuple[int, ...]]:
    """Monomial exponents of ``n_states`` variables up to total degree ``max_power``."""
    exponents = []
    for degree in range(0 if constant else 1, max_power + 1):
        for combination in combinations_with_replacement(range(n_states), degree):
            exponents.append(tuple(combination.count(i) for i in range(n_states)))
    return exponents


# --------------------------------------------------------------------------------------------
# test functions
# --------------------------------------------------------------------------------------------


def bump_weights(radius: int, spacing: float, degree: int, max_order: int) -> np.ndarray:
    """Quadrature weights of ``d^j psi / ds^j``, ``j = 0..max_order``, shape
    ``(max_order + 1, 2 radius + 1)``: ``psi(s) = (1 - (s / (radius spacing))^2)^degree``
    sampled at ``s = -radius..radius`` grid steps, times the step (the trapezoid rule; the
    end values are 0)."""
    poly = Polynomial([1.0, 0.0, -1.0]) ** degree
    s = np.arange(-radius, radius + 1) / radius
    half_width = radius * spacing
    rows = [poly.deriv(j)(s) / half_width**j if j else poly(s) for j in range(max_order + 1)]
    return np.asarray(rows) * spacing


def choose_radius(
    u: np.ndarray, axis: int, noise: float, degree: int, *, minimum: int, maximum: int
) -> int:
    """Support half-width in grid points along ``axis`` from the data's spectrum.

    The corner is the highest wavenumber where the mean power of the Hann-windowed data
    exceeds ten times the white-noise floor (``noise^2 sum(w^2)``, at least ``1e-12`` of the
    peak); the test function, about a Gaussian of variance ``(m h)^2 / (2 q)``, is made to
    fall to ``exp(-CORNER_DECAY)`` there: ``m = 2 sqrt(q CORNER_DECAY) / k_corner``.
    """
    values = np.moveaxis(u, axis, -1)
    n = values.shape[-1]
    values = values - values.mean(axis=-1, keepdims=True)
    window = np.hanning(n)
    power = np.mean(
        np.abs(np.fft.rfft(values * window, axis=-1)) ** 2, axis=tuple(range(values.ndim - 1))
    )
    floor = max(noise**2 * float(np.sum(window**2)), 1e-12 * float(power.max()))
    above = np.flatnonzero(power > 10.0 * floor)
    corner = max(int(above.max()) if above.size else 1, 1)
    corner_wave = 2 * np.pi * corner / n  # radians per grid step
    radius = math.ceil(2.0 * math.sqrt(degree * CORNER_DECAY) / corner_wave)
    return int(min(max(radius, min(minimum, maximum)), maximum))


@dataclass(frozen=True)
class TestFunctions:
    """Separable test functions: degrees, half-widths (grid points) and centre indices per axis,
    and the rows held out for validation (``(n_centres_t * n_centres_x,)`` boolean)."""

    degree: tuple[int, ...]
    radius: tuple[int, ...]
    centres: tuple[np.ndarray, ...]
    validation: np.ndarray

    def to_dict(self) -> dict[str, object]:
        return {
            "degree": list(self.degree),
            "radius_points": list(self.radius),
            "n_centres": [int(c.size) for c in self.centres],
        }


def _centres(n: int, radius: int, max_centres: int) -> np.ndarray:
    count = min(n - 2 * radius, max_centres)
    return np.unique(np.round(np.linspace(radius, n - 1 - radius, count)).astype(int))


def test_functions(
    shape: tuple[int, ...],
    radius: tuple[int, ...],
    degree: tuple[int, ...],
    *,
    max_centres: int = MAX_CENTRES,
) -> TestFunctions:
    """Centres on each axis (at most ``max_centres``, evenly spread, every support inside the
    grid) and the validation
    rows: every fourth of ten contiguous blocks along the first axis (time), so that held-out
    rows overlap the training rows only at block edges."""
    centres = tuple(_centres(n, m, max_centres) for n, m in zip(shape, radius, strict=True))
    n_first = centres[0].size
    block = (np.arange(n_first) * 10) // n_first
    held = (block % 4) == 3
    grid = np.broadcast_to(
        held.reshape(-1, *([1] * (len(centres) - 1))), tuple(c.size for c in centres)
    )
    return TestFunctions(degree, radius, centres, grid.ravel().copy())


def _correlate(
    field: np.ndarray, weights: np.ndarray, centres: np.ndarray, axis: int
) -> np.ndarray:
    """``sum_j weights[j] field[c - m + j]`` for each centre ``c`` along ``axis``."""
    radius = (weights.size - 1) // 2
    windows = sliding_window_view(field, weights.size, axis=axis)
    picked = np.take(windows, centres - radius, axis=axis)
    return picked @ weights


# --------------------------------------------------------------------------------------------
# systems
# --------------------------------------------------------------------------------------------


def weak_pde_system(
    u: np.ndarray,
    spacing: tuple[float, float],
    library: tuple[Term, ...],
    functions: TestFunctions,
    smooth: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The weak-form system for ``u_t = sum xi_j term_j``.

    Parameters
    ----------
    u : ndarray, shape (n_t, n_x)
    spacing : (dt, dx)
    library : tuple of Term
    functions : TestFunctions
    smooth : list of ndarray, optional
        ``[u, u_x, ..., d^(K-1) u]`` of the (smoothed) data on the grid, needed only for terms
        ``u^p d^k u`` with ``p >= 1, k >= 2``.

    Returns
    -------
    theta : ndarray, shape (n_rows, n_terms)
    target : ndarray, shape (n_rows,)
    """
    dt, dx = spacing
    max_order = max(term.order for term in library)
    w_t = bump_weights(functions.radius[0], dt, functions.degree[0], 1)
    w_x = bump_weights(functions.radius[1], dx, functions.degree[1], max(max_order, 1))
    c_t, c_x = functions.centres
    cache: dict[tuple[int, int], np.ndarray] = {}

    def integral(field: np.ndarray, t_order: int, x_order: int) -> np.ndarray:
        inner = _correlate(field, w_x[x_order], c_x, axis=1)
        return _correlate(inner, w_t[t_order], c_t, axis=0).ravel()

    def power(p: int) -> np.ndarray:
        return u**p

    columns = []
    for term in library:
        p, k = term.power, term.order
        if k == 0:
            column = integral(np.ones_like(u) if p == -1 else power(p + 1), 0, 0)
        elif p == 0:
            key = (0, k)
            if key not in cache:
                cache[key] = (-1) ** k * integral(u, 0, k)
            column = cache[key]
        elif k == 1:
            column = -integral(power(p + 1), 0, 1) / (p + 1)
        else:
            if smooth is None or len(smooth) < k:
                raise ValueError(f"term {term.name()} needs smoothed derivatives up to {k - 1}")
            lower = smooth[k - 1]
            column = -integral(power(p) * lower, 0, 1) - p * integral(
                smooth[0] ** (p - 1) * smooth[1] * lower, 0, 0
            )
        columns.append(column)
    target = -integral(u, 1, 0)
    return np.stack(columns, axis=1), target


def strong_pde_system(
    u_t: np.ndarray, derivatives: list[np.ndarray], library: tuple[Term, ...], rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise system at the flat grid indices ``rows`` from ``u_t`` and
    ``[u, u_x, ..., d^K u]`` (each ``(n_t, n_x)``)."""
    u = derivatives[0].ravel()[rows]
    columns = []
    for term in library:
        if term.order == 0:
            columns.append(u ** (term.power + 1))
        else:
            columns.append(u**term.power * derivatives[term.order].ravel()[rows])
    return np.stack(columns, axis=1), u_t.ravel()[rows]


def weak_ode_system(
    X: np.ndarray, dt: float, exponents: list[tuple[int, ...]], functions: TestFunctions
) -> tuple[np.ndarray, np.ndarray]:
    """Weak-form system of ``dX/dt = Theta(X) Xi``: ``theta`` ``(n_rows, n_terms)`` with
    ``<psi, prod X^e>`` and ``targets`` ``(n_rows, n_states)`` with ``-<psi', X>``."""
    weights = bump_weights(functions.radius[0], dt, functions.degree[0], 1)
    (centres,) = functions.centres
    monomials = np.stack([np.prod(X ** np.asarray(e), axis=1) for e in exponents], axis=1)
    theta = _correlate(monomials, weights[0], centres, axis=0)
    targets = -_correlate(X, weights[1], centres, axis=0)
    return theta, targets
