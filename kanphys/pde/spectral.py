"""Periodic 1-D evolution equations by Fourier pseudo-spectral ETDRK4 (pure numpy, no torch).

:func:`solve_periodic` integrates any equation of the form

``u_t = sum_(p, k) c_(p, k) u^p d^k u / dx^k``

on a periodic interval: the terms with ``p = 0`` form a linear operator, diagonal in Fourier
space and integrated exactly; the others are evaluated on the grid with 2/3-rule dealiasing and
integrated by the fourth-order exponential Runge-Kutta scheme ETDRK4 (Cox and Matthews 2002;
coefficients by the contour integrals of Kassam and Trefethen 2005, shared with
:func:`kanphys.pde.references.allen_cahn_etdrk4`). This is the candidate library of
:func:`kanphys.discovery.identify_pde`, so the solver makes test data for any equation the
identification can express.

The named set-ups are the field data of the PDE-FIND paper (Rudy et al. 2017) and two classic
parabolic equations:

* :func:`burgers_data`: ``u_t = -u u_x + 0.1 u_xx`` on ``[-8, 8)``, ``u0 = exp(-(x + 2)^2)``;
* :func:`kdv_data`: ``u_t = -6 u u_x - u_xxx`` on ``[-30, 30)``, two solitons that collide;
* :func:`kuramoto_sivashinsky_data`: ``u_t = -u u_x - u_xx - u_xxxx`` on ``[0, 32 pi)``,
  ``u0 = cos(x/16) (1 + sin(x/16))``;
* :func:`heat_data`: ``u_t = 0.5 u_xx`` on ``[-10, 10)``;
* :func:`fisher_kpp_data`: ``u_t = D u_xx + r u - r u^2`` on ``[0, 40)``.

Every function returns ``(t, x, u)`` with ``t`` ``(n_t,)``, ``x`` ``(n_x,)`` and ``u``
``(n_t, n_x)``: ``u[i, j] = u(t[i], x[j])``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from kanphys.errors import ConfigError, ShapeError, check_int
from kanphys.pde.references import _as_real_array, _check_real, _etdrk4_coefficients

__all__ = [
    "burgers_data",
    "fisher_kpp_data",
    "heat_data",
    "kdv_data",
    "kdv_soliton",
    "kuramoto_sivashinsky_data",
    "solve_periodic",
]

FieldData = tuple[np.ndarray, np.ndarray, np.ndarray]
_MAX_ORDER = 6
_MAX_POWER = 4


def _check_terms(terms: Mapping[tuple[int, int], float]) -> dict[tuple[int, int], float]:
    if not isinstance(terms, Mapping) or not terms:
        raise ConfigError(
            "terms must be a non-empty mapping {(p, k): coefficient} for u^p d^k u/dx^k; "
            f"received {terms!r}"
        )
    checked = {}
    for key, value in terms.items():
        if (
            not isinstance(key, tuple)
            or len(key) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in key)
            or not 0 <= key[0] <= _MAX_POWER
            or not 0 <= key[1] <= _MAX_ORDER
        ):
            raise ConfigError(
                f"terms keys must be (p, k) with integers 0 <= p <= {_MAX_POWER} and "
                f"0 <= k <= {_MAX_ORDER}; received {key!r}"
            )
        checked[key] = _check_real(f"terms[{key}]", value)
    return checked


def solve_periodic(
    terms: Mapping[tuple[int, int], float],
    u0: Callable[[np.ndarray], ArrayLike] | ArrayLike,
    *,
    domain: tuple[float, float],
    n_points: int = 256,
    t_end: float = 1.0,
    n_save: int = 101,
    dt: float = 1e-3,
    dealias: bool = True,
) -> FieldData:
    """Integrate ``u_t = sum c_(p,k) u^p d^k u/dx^k`` on a periodic interval.

    Parameters
    ----------
    terms : mapping {(p, k): float}
        Coefficient of ``u^p * d^k u/dx^k`` (``k = 0`` means ``u^(p+1)``), ``0 <= p <= 4``,
        ``0 <= k <= 6``. Example: Burgers ``{(1, 1): -1.0, (0, 2): 0.1}``.
    u0 : callable or array_like
        Initial condition: a function of the grid ``x`` ``(n_points,)`` or its values there.
    domain : (float, float)
        Period ``[a, b)``; the grid is ``a + (b - a) j / n_points``.
    n_points : int, default 256
        Grid points and Fourier modes; even, ``>= 8``.
    t_end : float, default 1.0
        Final time ``> 0``.
    n_save : int, default 101
        Saved times, equally spaced from 0 to ``t_end`` inclusive, ``>= 2``.
    dt : float, default 1e-3
        Largest time step; the one used divides the saving interval exactly.
    dealias : bool, default True
        Zero the upper third of the modes of the nonlinear terms (the 2/3 rule; exact for
        quadratic terms).

    Returns
    -------
    t : numpy.ndarray, shape (n_save,)
    x : numpy.ndarray, shape (n_points,)
    u : numpy.ndarray, shape (n_save, n_points)

    Raises
    ------
    ConfigError
        If a setting is out of range, a term is malformed or the solution blows up.
    ShapeError
        If ``u0`` does not give one value per grid point.
    """
    checked = _check_terms(terms)
    n_points = check_int("n_points", n_points, minimum=8)
    if n_points % 2:
        raise ConfigError(f"n_points must be even; received {n_points}")
    if not (isinstance(domain, (tuple, list)) and len(domain) == 2):
        raise ConfigError(f"domain must be (a, b) with a < b; received {domain!r}")
    low = _check_real("domain[0]", domain[0])
    high = _check_real("domain[1]", domain[1])
    if not high > low:
        raise ConfigError(f"domain must be (a, b) with a < b; received {domain!r}")
    t_end = _check_real("t_end", t_end, positive=True)
    n_save = check_int("n_save", n_save, minimum=2)
    dt = _check_real("dt", dt, positive=True)

    length = high - low
    x = low + length * np.arange(n_points) / n_points
    initial = _as_real_array("u0", u0(x.copy()) if callable(u0) else u0)
    if initial.shape != (n_points,):
        raise ShapeError(
            f"u0 must give one value per grid point, shape ({n_points},); "
            f"received shape {initial.shape}"
        )
    wave = 2 * np.pi * np.fft.rfftfreq(n_points, d=length / n_points)  # (n_points/2 + 1,)
    ik = 1j * wave
    ik[-1] = 0.0  # the Nyquist mode of an odd derivative is not real: drop it
    symbols = {k: (1j * wave) ** k if k % 2 == 0 else ik**k for k in range(_MAX_ORDER + 1)}
    linear = sum((c * symbols[k] for (p, k), c in checked.items() if p == 0), np.zeros(wave.size))
    linear = np.asarray(linear)
    if np.allclose(linear.imag, 0.0):
        linear = linear.real.copy()
    nonlinear_terms = [(p, k, c) for (p, k), c in checked.items() if p > 0]
    keep = np.arange(wave.size) <= (n_points // 3 if dealias else n_points)

    def nonlinear(spectrum: np.ndarray) -> np.ndarray:
        if not nonlinear_terms:
            return np.zeros_like(spectrum)
        u = np.fft.irfft(spectrum, n_points)
        total = np.zeros(n_points)
        for p, k, c in nonlinear_terms:
            derivative = u if k == 0 else np.fft.irfft(symbols[k] * spectrum, n_points)
            total += c * u**p * derivative
        return np.fft.rfft(total) * keep

    interval = t_end / (n_save - 1)
    steps_per_save = max(1, math.ceil(interval / dt * (1 - 1e-12)))
    step = interval / steps_per_save
    e_full, e_half, q, f1, f2, f3 = _etdrk4_coefficients(linear, step)
    u = np.empty((n_save, n_points))
    u[0] = initial
    spectrum = np.fft.rfft(initial).astype(np.complex128)
    with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported below
        for j in range(1, n_save):
            for _ in range(steps_per_save):
                n_v = nonlinear(spectrum)
                a = e_half * spectrum + q * n_v
                n_a = nonlinear(a)
                b = e_half * spectrum + q * n_a
                n_b = nonlinear(b)
                c = e_half * a + q * (2 * n_b - n_v)
                n_c = nonlinear(c)
                spectrum = e_full * spectrum + f1 * n_v + 2 * f2 * (n_a + n_b) + f3 * n_c
            u[j] = np.fft.irfft(spectrum, n_points)
            if not np.isfinite(u[j]).all():
                raise ConfigError(
                    f"the solution blew up before t = {j * interval:.4g}; reduce dt (received "
                    f"{dt}) or check that the equation is well posed (e.g. a positive u_xx "
                    "coefficient, a negative u_xxxx coefficient)"
                )
    return np.linspace(0.0, t_end, n_save), x, u


def burgers_data(
    *,
    nu: float = 0.1,
    n_points: int = 256,
    n_save: int = 101,
    t_end: float = 10.0,
    dt: float = 2e-3,
) -> FieldData:
    """Viscous Burgers ``u_t = -u u_x + nu u_xx`` on ``[-8, 8)`` with ``u0 = exp(-(x + 2)^2)``
    (PDE-FIND's data set: 256 points, 101 times to ``t = 10``); see :func:`solve_periodic`."""
    return solve_periodic(
        {(1, 1): -1.0, (0, 2): nu},
        lambda x: np.exp(-((x + 2.0) ** 2)),
        domain=(-8.0, 8.0),
        n_points=n_points,
        t_end=t_end,
        n_save=n_save,
        dt=dt,
    )


def kdv_soliton(x: ArrayLike, t: ArrayLike, speed: float, shift: float = 0.0) -> np.ndarray:
    """Exact soliton of ``u_t = -6 u u_x - u_xxx`` on the line:
    ``u = speed/2 * sech^2(sqrt(speed)/2 * (x - speed t - shift))``."""
    speed = _check_real("speed", speed, positive=True)
    argument = 0.5 * math.sqrt(speed) * (np.asarray(x) - speed * np.asarray(t) - shift)
    return 0.5 * speed / np.cosh(argument) ** 2


def kdv_data(
    *,
    speeds: tuple[float, float] = (2.0, 0.5),
    shifts: tuple[float, float] = (-20.0, -8.0),
    n_points: int = 256,
    n_save: int = 201,
    t_end: float = 20.0,
    dt: float = 1e-3,
) -> FieldData:
    """Korteweg-de Vries ``u_t = -6 u u_x - u_xxx`` on ``[-30, 30)``, starting from two solitons
    (speeds 2 and 0.5, centred at -20 and -8): the fast one overtakes the slow one near
    ``t = 8`` (PDE-FIND's two-soliton set-up on the same interval and time span)."""
    return solve_periodic(
        {(1, 1): -6.0, (0, 3): -1.0},
        lambda x: sum(kdv_soliton(x, 0.0, c, a) for c, a in zip(speeds, shifts, strict=True)),
        domain=(-30.0, 30.0),
        n_points=n_points,
        t_end=t_end,
        n_save=n_save,
        dt=dt,
    )


def kuramoto_sivashinsky_data(
    *, n_points: int = 256, n_save: int = 251, t_end: float = 100.0, dt: float = 0.025
) -> FieldData:
    """Kuramoto-Sivashinsky ``u_t = -u u_x - u_xx - u_xxxx`` on ``[0, 32 pi)`` with
    ``u0 = cos(x/16) (1 + sin(x/16))`` (Kassam and Trefethen 2005; PDE-FIND's data set uses
    the same equation, interval and initial condition)."""
    return solve_periodic(
        {(1, 1): -1.0, (0, 2): -1.0, (0, 4): -1.0},
        lambda x: np.cos(x / 16) * (1 + np.sin(x / 16)),
        domain=(0.0, 32 * np.pi),
        n_points=n_points,
        t_end=t_end,
        n_save=n_save,
        dt=dt,
    )


def heat_data(
    *, diffusion: float = 0.5, n_points: int = 256, n_save: int = 101, t_end: float = 2.0
) -> FieldData:
    """Heat equation ``u_t = diffusion u_xx`` on ``[-10, 10)`` from two bumps
    ``exp(-x^2) + 0.5 exp(-2 (x - 4)^2)`` (a broad spectrum: a single Fourier mode would
    also satisfy ``u_xx = -k^2 u``, and the equation could not be identified). The linear
    equation is integrated exactly in Fourier space."""
    return solve_periodic(
        {(0, 2): diffusion},
        lambda x: np.exp(-(x**2)) + 0.5 * np.exp(-2.0 * (x - 4.0) ** 2),
        domain=(-10.0, 10.0),
        n_points=n_points,
        t_end=t_end,
        n_save=n_save,
        dt=t_end,
    )


def fisher_kpp_data(
    *,
    diffusion: float = 0.5,
    rate: float = 1.0,
    n_points: int = 256,
    n_save: int = 101,
    t_end: float = 5.0,
    dt: float = 5e-3,
) -> FieldData:
    """Fisher-KPP ``u_t = diffusion u_xx + rate u - rate u^2`` on ``[0, 40)`` from two bumps
    ``0.8 exp(-(x - 12)^2) + 0.5 exp(-(x - 28)^2 / 4)``: fronts invade the unstable state 0."""
    return solve_periodic(
        {(0, 2): diffusion, (0, 0): rate, (1, 0): -rate},
        lambda x: 0.8 * np.exp(-((x - 12.0) ** 2)) + 0.5 * np.exp(-((x - 28.0) ** 2) / 4),
        domain=(0.0, 40.0),
        n_points=n_points,
        t_end=t_end,
        n_save=n_save,
        dt=dt,
    )
