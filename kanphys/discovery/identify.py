"""Identify evolution equations from data: ``u_t = N(u, u_x, u_xx, ...)`` from a sampled field
(:func:`identify_pde`) and ``dX/dt = f(X)`` from a trajectory (:func:`identify_ode`).

Pipeline (details in ``docs/identify.md``):

1. check the data (:mod:`kanphys.discovery.field_data`), estimate the noise level;
2. build the linear system ``b = Theta xi`` over a library of candidate terms, in the weak form
   (default; :mod:`kanphys.discovery.weak`) or the strong form from derivatives of the data by
   local polynomials or a differentiated KAN surrogate (:mod:`kanphys.discovery.derivatives`);
3. select the terms by STLSQ over a threshold path with a held-out criterion, repeated on
   random halves of the rows (stability selection, :mod:`kanphys.discovery.sparse`);
4. refine the coefficients of the selected terms by errors-in-variables least squares: the
   noise of the data biases ordinary least squares towards zero (attenuation) and the powers
   ``u^n`` upwards; both are removed with the estimated noise level
   (:mod:`kanphys.discovery.refine`);
5. report the equation as text and sympy, each term's selection frequency and coefficient
   spread, the held-out residual and, when the true equation is given, the coefficient errors.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kanphys.discovery.derivatives import FieldSurrogate, grid_derivatives
from kanphys.discovery.equations import (
    Identification,
    check_selection,
    noise_level,
    parse_terms,
    truth_report,
)
from kanphys.discovery.field_data import check_field
from kanphys.discovery.refine import debias_ode, debias_pde
from kanphys.discovery.sparse import stability_selection
from kanphys.discovery.weak import (
    SMOOTHNESS_MARGIN,
    choose_radius,
    ode_library,
    pde_library,
    strong_pde_system,
    test_functions,
    weak_ode_system,
    weak_pde_system,
)
from kanphys.errors import ConfigError, ShapeError, check_choice, check_int

__all__ = ["Identification", "identify_ode", "identify_pde", "parse_terms"]

logger = logging.getLogger(__name__)

FORMULATIONS = ("weak", "strong")
DERIVATIVES = ("auto", "fd", "savgol", "kan")
#: Relative noise level (of std u) below which the data count as clean.
CLEAN_NOISE = 1e-3
#: Smallest test-function half-width (grid points): quadrature accuracy on clean data.
MIN_RADIUS = 12


# --------------------------------------------------------------------------------------------
# PDE
# --------------------------------------------------------------------------------------------


def identify_pde(
    t: Any,
    x: Any,
    u: Any,
    *,
    max_order: int = 4,
    max_power: int = 2,
    constant: bool = True,
    formulation: str = "weak",
    derivatives: str = "auto",
    threshold: float | None = None,
    penalty: float = 0.1,
    tolerance: float = 1e-4,
    n_resamples: int = 20,
    min_frequency: float = 0.6,
    refine: bool = True,
    truth: str | None = None,
    seed: int = 0,
    time_limit: float | None = None,
    device: str = "cpu",
) -> Identification:
    """Identify ``u_t = sum_j xi_j u^p_j d^k_j u / dx^k_j`` from a field on a uniform grid.

    Parameters
    ----------
    t : array, shape (n_t,)
        Uniform, increasing times (at least 16).
    x : array, shape (n_x,)
        Uniform, increasing positions (at least 16).
    u : array, shape (n_t, n_x) or (n_x, n_t)
        The field; the second layout is transposed with a note.
    max_order : int, default 4
        Highest x-derivative in the library (0..6).
    max_power : int, default 2
        Highest power of ``u`` multiplying a derivative (0..4); powers ``u^n`` up to
        ``max_power + 1`` are candidates too.
    constant : bool, default True
        Include the constant term.
    formulation : {"weak", "strong"}
        Weak form (integrals against test functions; robust to noise) or pointwise
        derivatives.
    derivatives : {"auto", "fd", "savgol", "kan"}
        Derivatives of the data where needed (every term of the strong form; in the weak form
        only the terms ``u^p d^k u`` with ``p >= 1, k >= 2``): finite differences (degree-8
        local interpolation), Savitzky-Golay smoothing with a cross-validated window, or a KAN
        surrogate ``u(t, x)`` differentiated by autograd (the weak form then integrates the
        surrogate's values). ``"auto"``: finite differences for clean data (estimated noise
        below 0.1% of ``std(u)``), Savitzky-Golay for noisy data.
    threshold : float, optional
        Fixed STLSQ threshold on normalised coefficients (share of ``||u_t||`` a term
        carries); by default a path of thresholds is scored on held-out rows.
    penalty : float, default 0.1
        A term must lower the held-out squared residual by this fraction to be kept.
    tolerance : float, default 1e-4
        Held-out relative residuals below this count as equal (the data's certified accuracy).
    n_resamples : int, default 20
        Stability-selection runs on random halves of the rows (0: single selection).
    min_frequency : float, default 0.6
        Share of the runs a term must be chosen in.
    refine : bool, default True
        Errors-in-variables refinement of the coefficients (weak form on the data itself, not
        on a KAN surrogate's values; negligible on clean data).
    truth : str, optional
        The true equation, e.g. ``"u_t = -u*u_x + 0.1*u_xx"``, to score the result.
    seed : int
        Seeds the resampling and the KAN surrogate.
    time_limit : float, optional
        Seconds for training the KAN surrogate (``derivatives="kan"``).
    device : str
        Device of the KAN surrogate.

    Returns
    -------
    Identification

    Raises
    ------
    ConfigError, ShapeError, NonFiniteError
        Bad settings or data (see :func:`kanphys.discovery.field_data.check_field`).
    """
    start = time.perf_counter()
    data = check_field(t, x, u)
    max_order = check_int("max_order", max_order, minimum=0)
    max_power = check_int("max_power", max_power, minimum=0)
    if max_order > 6:
        raise ConfigError(f"max_order must be <= 6; received {max_order}")
    if max_power > 4:
        raise ConfigError(f"max_power must be <= 4; received {max_power}")
    check_choice("formulation", formulation, FORMULATIONS)
    check_choice("derivatives", derivatives, DERIVATIVES)
    check_selection(threshold, penalty, tolerance, n_resamples, min_frequency)
    t_grid, x_grid, field_values = data.t, data.x, data.u
    dt, dx = float(t_grid[1] - t_grid[0]), float(x_grid[1] - x_grid[0])
    library = pde_library(max_order, max_power, constant=constant)
    names = tuple(term.name() for term in library)
    truth_coefficients = None if truth is None else parse_terms(truth, names, lhs="u_t")

    noise = noise_level(field_values, (0, 1))
    relative_noise = noise / float(field_values.std())
    noisy = relative_noise > CLEAN_NOISE
    method = ("savgol" if noisy else "fd") if derivatives == "auto" else derivatives
    needs_smooth = formulation == "strong" or any(
        term.power >= 1 and term.order >= 2 for term in library
    )
    smooth: list[np.ndarray] | None = None
    u_t: np.ndarray | None = None
    surrogate_rmse = None
    order_needed = max_order if formulation == "strong" else max(max_order - 1, 1)
    if needs_smooth or method == "kan":
        if method == "kan":
            surrogate = FieldSurrogate(
                t_grid, x_grid, field_values, seed=seed, time_limit=time_limit, device=device
            )
            surrogate_rmse = surrogate.rmse
            u_t, smooth = surrogate.derivatives(t_grid, x_grid, order_needed)
        else:
            smooth = grid_derivatives(
                field_values, dx, order_needed, axis=1, noisy=method == "savgol"
            )
            if formulation == "strong":
                u_t = grid_derivatives(field_values, dt, 1, axis=0, noisy=method == "savgol")[1]

    rng = np.random.default_rng(seed)
    details: dict[str, Any] = {
        "formulation": formulation,
        "derivatives": method,
        "max_order": max_order,
        "max_power": max_power,
        "grid": {"n_t": int(t_grid.size), "n_x": int(x_grid.size), "dt": dt, "dx": dx},
        "noise_relative": relative_noise,
    }
    if surrogate_rmse is not None:
        details["surrogate_rmse"] = surrogate_rmse
    if formulation == "weak":
        degrees = (1 + SMOOTHNESS_MARGIN, max(max_order, 1) + SMOOTHNESS_MARGIN)
        shape = field_values.shape
        radius = tuple(
            choose_radius(
                field_values,
                axis,
                noise,
                degrees[axis],
                minimum=MIN_RADIUS,
                maximum=max(2, (shape[axis] - 1) // 4),
            )
            for axis in (0, 1)
        )
        functions = test_functions(shape, radius, degrees)
        source = field_values if method != "kan" or smooth is None else smooth[0]
        theta, target = weak_pde_system(source, (dt, dx), library, functions, smooth)
        validation = functions.validation
        details["test_functions"] = functions.to_dict()
    else:
        assert u_t is not None and smooth is not None
        n_t, n_x = field_values.shape
        margin_t, margin_x = 2, max(order_needed, 2)
        ti, xi = np.meshgrid(
            np.arange(margin_t, n_t - margin_t), np.arange(margin_x, n_x - margin_x), indexing="ij"
        )
        flat = (ti * n_x + xi).ravel()
        rows = rng.permutation(flat)[: min(flat.size, 20000)]
        theta, target = strong_pde_system(u_t, smooth, library, np.sort(rows))
        block = (np.sort(rows) // n_x * 10) // n_t
        validation = (block % 4) == 3
    result = stability_selection(
        theta,
        target,
        validation,
        threshold=threshold,
        penalty=penalty,
        tolerance=tolerance,
        n_resamples=n_resamples,
        min_frequency=min_frequency,
        rng=rng,
    )
    coefficients = result.coefficients
    refinement: dict[str, Any] = {"applied": False}
    # the refinement models white noise on the integrated data: not on a surrogate's values
    if refine and formulation == "weak" and method != "kan" and result.support.any() and noise > 0:
        refined = debias_pde(
            field_values, (dt, dx), library, functions, noise, result.support, theta, target
        )
        if refined is not None:
            refinement = {
                "applied": True,
                "ols": dict(zip(names, map(float, coefficients), strict=True)),
            }
            coefficients = refined
    details["refinement"] = refinement
    details["wall_time_s"] = time.perf_counter() - start
    coefficient_array = coefficients[None, :]
    return Identification(
        targets=("u_t",),
        library=names,
        coefficients=coefficient_array,
        coefficient_std=result.coefficient_std[None, :],
        frequencies=result.frequencies[None, :],
        residual=(math.sqrt(result.validation_error),),
        noise=noise,
        kind="pde",
        details=details,
        truth=None
        if truth_coefficients is None
        else truth_report([truth_coefficients], coefficient_array, names, ("u_t",)),
        notes=data.notes,
    )


# --------------------------------------------------------------------------------------------
# ODE
# --------------------------------------------------------------------------------------------


def identify_ode(
    t: Any,
    X: Any,
    names: Sequence[str] | None = None,
    *,
    max_power: int = 2,
    constant: bool = True,
    threshold: float | None = None,
    penalty: float = 0.1,
    tolerance: float = 1e-4,
    n_resamples: int = 20,
    min_frequency: float = 0.6,
    refine: bool = True,
    truth: Mapping[str, str] | None = None,
    seed: int = 0,
) -> Identification:
    """Identify ``dX/dt = Theta(X) Xi`` (polynomial library) from one uniformly sampled
    trajectory, in the weak form with the same selection and refinement as
    :func:`identify_pde`.

    Parameters
    ----------
    t : array, shape (n_t,)
        Uniform, increasing times (at least 16).
    X : array, shape (n_t, n_states)
    names : list of str, optional
        State names (``x0, x1, ...`` by default); valid identifiers.
    max_power : int, default 2
        Highest total degree of the monomials (1..5).
    constant, threshold, penalty, tolerance, n_resamples, min_frequency, refine, seed
        As in :func:`identify_pde`.
    truth : mapping {name: str}, optional
        True right-hand sides, e.g. ``{"x": "10*(y - x)", ...}``, to score the result.

    Returns
    -------
    Identification
        ``targets`` are ``"x'"``, ``"y'"``, ...

    Raises
    ------
    ConfigError, ShapeError, NonFiniteError
    """
    from kanphys.discovery.data import _check_name
    from kanphys.discovery.field_data import MIN_GRID_POINTS, _as_array, _check_axis

    start = time.perf_counter()
    times = _check_axis("t", t)
    states = _as_array("X", X)
    if states.ndim == 1:
        states = states[:, None]
    if states.ndim != 2 or states.shape[0] != times.size:
        raise ShapeError(
            f"X must have shape (len(t), n_states) = ({times.size}, n_states); received "
            f"{states.shape}"
        )
    n_states = states.shape[1]
    names = [f"x{i}" for i in range(n_states)] if names is None else list(names)
    if len(names) != n_states or len(set(names)) != n_states:
        raise ConfigError(f"names must give {n_states} distinct state names; received {names}")
    for name in names:
        _check_name(name, "state")
    max_power = check_int("max_power", max_power, minimum=1)
    if max_power > 5:
        raise ConfigError(f"max_power must be <= 5; received {max_power}")
    check_selection(threshold, penalty, tolerance, n_resamples, min_frequency)
    if times.size < 4 * MIN_GRID_POINTS:
        raise ShapeError(f"t has {times.size} samples; an ODE needs at least {4 * MIN_GRID_POINTS}")
    exponents = ode_library(n_states, max_power, constant=constant)
    library = tuple(_monomial_name(e, names) for e in exponents)
    targets = tuple(f"{name}'" for name in names)
    truth_rows = None
    if truth is not None:
        unknown = sorted(set(truth) - set(names))
        if unknown or set(truth) != set(names):
            raise ConfigError(
                f"truth must give one right-hand side per state {names}; received {sorted(truth)}"
            )
        truth_rows = [parse_terms(truth[name], library) for name in names]

    dt = float(times[1] - times[0])
    noise = np.array([noise_level(states[:, i], (0,)) for i in range(n_states)])
    scale = states.std(axis=0)
    degree = 1 + SMOOTHNESS_MARGIN
    normalised = (states - states.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    radius = choose_radius(
        normalised,
        0,
        float(np.max(noise / np.where(scale > 0, scale, 1.0))),
        degree,
        minimum=MIN_RADIUS,
        maximum=max(2, (times.size - 1) // 4),
    )
    functions = test_functions((times.size,), (radius,), (degree,), max_centres=2000)
    validation = functions.validation
    theta, targets_matrix = weak_ode_system(states, dt, exponents, functions)
    rng = np.random.default_rng(seed)
    coefficients = np.zeros((n_states, len(library)))
    spread = np.zeros_like(coefficients)
    frequencies = np.zeros_like(coefficients)
    residual = []
    refined_any = []
    for s in range(n_states):
        result = stability_selection(
            theta,
            targets_matrix[:, s],
            validation,
            threshold=threshold,
            penalty=penalty,
            tolerance=tolerance,
            n_resamples=n_resamples,
            min_frequency=min_frequency,
            rng=rng,
        )
        row = result.coefficients
        if refine and result.support.any() and noise.max() > 0:
            refined = debias_ode(
                states, dt, exponents, functions, noise, result.support, targets_matrix[:, s], s
            )
            if refined is not None:
                row = refined
                refined_any.append(names[s])
        coefficients[s], spread[s], frequencies[s] = row, result.coefficient_std, result.frequencies
        residual.append(math.sqrt(result.validation_error))
    details = {
        "formulation": "weak",
        "max_power": max_power,
        "grid": {"n_t": int(times.size), "dt": dt},
        "noise_relative": [float(v) for v in noise / np.where(scale > 0, scale, 1.0)],
        "test_functions": functions.to_dict(),
        "refinement": {"applied": bool(refined_any), "equations": refined_any},
        "wall_time_s": time.perf_counter() - start,
    }
    return Identification(
        targets=targets,
        library=library,
        coefficients=coefficients,
        coefficient_std=spread,
        frequencies=frequencies,
        residual=tuple(residual),
        noise=float(np.max(noise)),
        kind="ode",
        details=details,
        truth=None
        if truth_rows is None
        else truth_report(truth_rows, coefficients, library, targets),
    )


def _monomial_name(exponent: tuple[int, ...], names: Sequence[str]) -> str:
    factors = [
        name if e == 1 else f"{name}^{e}" for name, e in zip(names, exponent, strict=True) if e
    ]
    return "*".join(factors) if factors else "1"
