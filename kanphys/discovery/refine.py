"""Errors-in-variables refinement of weak-form coefficients.

With white noise ``e`` (standard deviation ``sigma``) on the samples, ordinary least squares on
the weak-form system is biased in two ways, both removable once ``sigma`` is known:

* **powers**: ``E[(u + e)^n] != u^n``. The probabilists' Hermite polynomial gives an unbiased
  replacement, ``E[sigma^n He_n((u + e) / sigma)] = u^n`` (``u^2 -> u^2 - sigma^2``,
  ``u^3 -> u^3 - 3 sigma^2 u``); products of independent variables are corrected factor by
  factor;
* **attenuation**: the noise in the columns adds ``C = E[dTheta^T dTheta]`` to the normal
  matrix, shrinking the coefficients. Every column is a sum of weights times a function of the
  data, so to first order ``dTheta_rj = sum_i w_j(i) m_j(i) e_i`` (``m_j``: the derivative of
  the integrand with respect to the data) and
  ``C_jl = sigma^2 sum_rows sum_i w_j(i) w_l(i) m_j(i) m_l(i)``: a correlation of the field
  ``m_j m_l`` with the product weights, computed like the columns themselves.

The refined coefficients solve ``(Theta^T Theta - C) xi = Theta^T b - c`` on the selected
terms. The refinement is skipped (``None``) when the corrected matrix is not positive definite
or the correction exceeds half of any diagonal entry (the noise would dominate the signal).
Terms ``u^p d^k u`` with ``p >= 1, k >= 2`` use smoothed derivatives and are treated as
noise-free.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import hermite_e

from kanphys.discovery.weak import Term, TestFunctions, _correlate, bump_weights

__all__ = ["debias_ode", "debias_pde", "unbiased_power"]

_MAX_CORRECTION = 0.5


def unbiased_power(values: np.ndarray, power: int, noise: float) -> np.ndarray:
    """``sigma^n He_n(values / sigma)``: an unbiased estimate of ``u^n`` from ``u + e``."""
    if noise <= 0 or power <= 1:
        return values**power
    coefficients = hermite_e.herme2poly(np.eye(power + 1)[power])  # He_n in monomials of z
    scaled = coefficients * noise ** (power - np.arange(power + 1))  # sigma^n He_n(v / sigma)
    return np.polynomial.polynomial.polyval(values, scaled)


def _corrected_solve(
    theta: np.ndarray, target: np.ndarray, gram_noise: np.ndarray, cross_noise: np.ndarray
) -> np.ndarray | None:
    gram = theta.T @ theta
    diagonal = np.diag(gram)
    if np.any(np.diag(gram_noise) > _MAX_CORRECTION * diagonal):
        return None
    corrected = gram - gram_noise
    try:
        np.linalg.cholesky(corrected)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.solve(corrected, theta.T @ target - cross_noise)


def debias_pde(
    u: np.ndarray,
    spacing: tuple[float, float],
    library: tuple[Term, ...],
    functions: TestFunctions,
    noise: float,
    support: np.ndarray,
    theta: np.ndarray,
    target: np.ndarray,
) -> np.ndarray | None:
    """Refined coefficients ``(n_terms,)`` (zero off ``support``) of the weak-form PDE system
    built by :func:`~kanphys.discovery.weak.weak_pde_system` from ``u`` ``(n_t, n_x)``; ``None``
    when the refinement does not apply."""
    dt, dx = spacing
    max_order = max(term.order for term in library)
    w_t = bump_weights(functions.radius[0], dt, functions.degree[0], 1)
    w_x = bump_weights(functions.radius[1], dx, functions.degree[1], max(max_order, 1))
    c_t, c_x = functions.centres
    chosen = [j for j in np.flatnonzero(support)]
    columns = theta[:, chosen].copy()
    # each noisy column: (multiplier field, t weights, x weights)
    channels: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
    ones = np.ones_like(u)
    for position, j in enumerate(chosen):
        p, k = library[j].power, library[j].order
        if k == 0 and p >= 0:
            if p >= 1:
                columns[:, position] = _integral(
                    unbiased_power(u, p + 1, noise), w_t[0], w_x[0], c_t, c_x
                )
            channels.append(((p + 1) * u**p if p else ones, w_t[0], w_x[0]))
        elif k >= 1 and p == 0:
            channels.append((ones, w_t[0], (-1) ** k * w_x[k]))
        elif k == 1:
            columns[:, position] = -_integral(
                unbiased_power(u, p + 1, noise), w_t[0], w_x[1], c_t, c_x
            ) / (p + 1)
            channels.append((u**p, w_t[0], -w_x[1]))
        else:
            channels.append(None)
    target_channel = (ones, -w_t[1], w_x[0])
    size = len(chosen)
    gram_noise = np.zeros((size, size))
    cross_noise = np.zeros(size)
    for a in range(size):
        first = channels[a]
        if first is None:
            continue
        for b in range(a, size):
            second = channels[b]
            if second is None:
                continue
            value = _pair(first, second, c_t, c_x)
            gram_noise[a, b] = gram_noise[b, a] = value
        cross_noise[a] = _pair(first, target_channel, c_t, c_x)
    solution = _corrected_solve(columns, target, noise**2 * gram_noise, noise**2 * cross_noise)
    if solution is None:
        return None
    coefficients = np.zeros(len(library))
    coefficients[chosen] = solution
    return coefficients


def _integral(
    field: np.ndarray, w_t: np.ndarray, w_x: np.ndarray, c_t: np.ndarray, c_x: np.ndarray
) -> np.ndarray:
    return _correlate(_correlate(field, w_x, c_x, axis=1), w_t, c_t, axis=0).ravel()


def _pair(
    first: tuple[np.ndarray, np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray, np.ndarray],
    c_t: np.ndarray,
    c_x: np.ndarray,
) -> float:
    field = first[0] * second[0]
    return float(np.sum(_integral(field, first[1] * second[1], first[2] * second[2], c_t, c_x)))


def debias_ode(
    X: np.ndarray,
    dt: float,
    exponents: list[tuple[int, ...]],
    functions: TestFunctions,
    noise: np.ndarray,
    support: np.ndarray,
    target: np.ndarray,
    state: int,
) -> np.ndarray | None:
    """Refined coefficients ``(n_terms,)`` of one ODE equation (``d state / dt``) of the
    weak-form system of :func:`~kanphys.discovery.weak.weak_ode_system`; ``noise`` holds one
    standard deviation per state."""
    weights = bump_weights(functions.radius[0], dt, functions.degree[0], 1)
    (centres,) = functions.centres
    chosen = list(np.flatnonzero(support))
    n_states = X.shape[1]
    unbiased = [
        np.prod([unbiased_power(X[:, i], e[i], float(noise[i])) for i in range(n_states)], axis=0)
        for e in (exponents[j] for j in chosen)
    ]
    columns = _correlate(np.stack(unbiased, axis=1), weights[0], centres, axis=0)
    size = len(chosen)
    gram_noise = np.zeros((size, size))
    cross_noise = np.zeros(size)
    for i in range(n_states):
        # d monomial / d X_i for every chosen column, (n_t, size)
        slopes = np.stack(
            [
                exponents[j][i]
                * np.prod(X ** (np.asarray(exponents[j]) - np.eye(n_states, dtype=int)[i]), axis=1)
                if exponents[j][i]
                else np.zeros(X.shape[0])
                for j in chosen
            ],
            axis=1,
        )
        products = slopes[:, :, None] * slopes[:, None, :]
        squared = weights[0] ** 2
        gram_noise += noise[i] ** 2 * np.sum(
            _correlate(products.reshape(X.shape[0], -1), squared, centres, axis=0), axis=0
        ).reshape(size, size)
        if i == state:
            mixed = -weights[0] * weights[1]
            cross_noise += noise[i] ** 2 * np.sum(
                _correlate(slopes, mixed, centres, axis=0), axis=0
            )
    solution = _corrected_solve(columns, target, gram_noise, cross_noise)
    if solution is None:
        return None
    coefficients = np.zeros(len(exponents))
    coefficients[chosen] = solution
    return coefficients
