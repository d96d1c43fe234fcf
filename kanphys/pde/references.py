"""Reference solutions of the built-in PDE problems (pure numpy/scipy, no torch).

* :func:`burgers_cole_hopf` and :func:`burgers_cole_hopf_dx`: the exact solution of viscous
  Burgers ``u_t + u u_x = nu u_xx`` with ``u(x, 0) = -sin(pi x)`` and its slope, from the
  Cole-Hopf transform evaluated by Gauss-Hermite quadrature.
* :func:`allen_cahn_etdrk4`: the periodic Allen-Cahn equation
  ``u_t = diffusion u_xx + reaction (u - u^3)`` on ``[-1, 1)``, Fourier pseudo-spectral in space
  and ETDRK4 (Cox and Matthews 2002, in the form of Kassam and Trefethen 2005) in time.
* :func:`write_reference_files`: the ``problems/*_reference.npz`` grids. Run
  ``python -m kanphys.pde.references problems/`` to regenerate them.

File convention (the spec loader relies on it): 1-D arrays named after the inputs (``x``, ``t``)
and the field ``u`` of shape ``(len(x), len(t))`` ('ij' indexing, inputs in the order x, t).
"""

from __future__ import annotations

import argparse
import logging
import math
import numbers
import os
import reprlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.polynomial.hermite import hermgauss
from numpy.typing import ArrayLike

from kanphys.errors import ConfigError, ShapeError, check_int

__all__ = [
    "ALLEN_CAHN_FILE",
    "BURGERS_FILE",
    "BURGERS_NU",
    "allen_cahn_etdrk4",
    "allen_cahn_reference_grid",
    "burgers_cole_hopf",
    "burgers_cole_hopf_dx",
    "burgers_reference_grid",
    "main",
    "write_reference_files",
]

logger = logging.getLogger(__name__)

BURGERS_NU = 0.01 / math.pi
"""Viscosity of the standard Burgers benchmark (Raissi et al. 2019, Basdevant et al. 1986)."""

BURGERS_FILE = "burgers1d_reference.npz"
ALLEN_CAHN_FILE = "allen_cahn_reference.npz"

# Gauss-Hermite nodes: 100 already reproduce the 200-node values to 2e-15 (u) and 3e-13 (u_x)
# on [-1, 1] x [0, 0.99] for nu = 0.01/pi; numpy's hermgauss overflows beyond ~360 nodes.
_DEFAULT_HERMITE_NODES = 200
_MAX_HERMITE_NODES = 360
_POINTS_PER_BLOCK = 4096  # points evaluated at once: block x nodes doubles stay ~ 10 MB
_CONTOUR_POINTS = 32  # Kassam-Trefethen: 32 points on a unit circle give phi to ~ 1e-15


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _check_real(
    name: str, value: Any, *, positive: bool = False, nonnegative: bool = False
) -> float:
    """Return ``value`` as a float if it is a finite real number with the required sign."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number; received {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be finite; received {number!r}")
    if positive and number <= 0:
        raise ConfigError(f"{name} must be > 0; received {number!r}")
    if nonnegative and number < 0:
        raise ConfigError(f"{name} must be >= 0; received {number!r}")
    return number


def _as_real_array(name: str, value: ArrayLike, *, nonnegative: bool = False) -> np.ndarray:
    """Return ``value`` as a float64 array; raise :class:`ConfigError` on non-finite entries."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"{name} must be an array of real numbers; received {reprlib.repr(value)}"
        ) from error
    bad = ~np.isfinite(array)
    if nonnegative:
        bad |= np.isfinite(array) & (array < 0)
    if bad.any():
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), array.shape))
        allowed = "finite and >= 0" if nonnegative else "finite"
        raise ConfigError(
            f"{name} must be {allowed}; received {float(array[index])!r} at index {index} "
            f"({int(bad.sum())} bad of {array.size})"
        )
    return array


# --------------------------------------------------------------------------------------------
# Burgers: Cole-Hopf + Gauss-Hermite
# --------------------------------------------------------------------------------------------


def _burgers_moments(
    x: ArrayLike, t: ArrayLike, nu: float, n_nodes: int, *, slope: bool
) -> np.ndarray:
    """Shared evaluation of :func:`burgers_cole_hopf` (``slope=False``) and its x-derivative.

    Cole-Hopf gives ``u = -2 nu phi_x / phi`` with
    ``phi(x, t) = int exp(-(x - y)^2 / (4 nu t)) f(y) dy`` and
    ``f(y) = exp(-cos(pi y) / (2 pi nu))``. With ``y = x - sqrt(4 nu t) z`` the integrals are
    Gauss-Hermite sums, and ``u = -<sin(pi y)>`` where ``<.>`` is the average with the
    probabilities ``p_k ~ w_k f(y_k)``. Differentiating in x (``d log f / dy = sin(pi y)/(2 nu)``):
    ``u_x = -pi <cos(pi y)> - Var(sin(pi y)) / (2 nu)``; the variance is summed in two passes
    (``<(s - <s>)^2>``) to avoid cancellation.
    """
    nu = _check_real("nu", nu, positive=True)
    n_nodes = check_int("n_nodes", n_nodes, minimum=2)
    if n_nodes > _MAX_HERMITE_NODES:
        raise ConfigError(
            f"n_nodes must be <= {_MAX_HERMITE_NODES} (numpy's hermgauss overflows beyond); "
            f"received {n_nodes}"
        )
    x_array = _as_real_array("x", x)
    t_array = _as_real_array("t", t, nonnegative=True)
    try:
        x_full, t_full = np.broadcast_arrays(x_array, t_array)
    except ValueError as error:
        raise ShapeError(
            f"x and t must broadcast together; received shapes {x_array.shape} and {t_array.shape}"
        ) from error
    shape = x_full.shape
    x_flat, t_flat = x_full.ravel(), t_full.ravel()

    nodes, weights = hermgauss(n_nodes)
    keep = weights > 0  # the outermost weights underflow to 0 for large n_nodes
    nodes, log_weights = nodes[keep], np.log(weights[keep])

    out = np.empty(x_flat.shape, dtype=np.float64)
    for start in range(0, x_flat.size, _POINTS_PER_BLOCK):
        block = slice(start, start + _POINTS_PER_BLOCK)
        xb, tb = x_flat[block, None], t_flat[block, None]
        y = xb - np.sqrt(4.0 * nu * tb) * nodes  # (B, n_nodes)
        # log(w f); shifting by the row maximum keeps exp(...) <= 1 (f alone reaches e^50)
        exponent = log_weights - np.cos(np.pi * y) / (2.0 * np.pi * nu)
        exponent -= exponent.max(axis=1, keepdims=True)
        probability = np.exp(exponent)
        probability /= probability.sum(axis=1, keepdims=True)
        sine = np.sin(np.pi * y)
        mean_sine = np.sum(probability * sine, axis=1)
        if not slope:
            out[block] = -mean_sine
        else:
            variance = np.sum(probability * (sine - mean_sine[:, None]) ** 2, axis=1)
            mean_cosine = np.sum(probability * np.cos(np.pi * y), axis=1)
            out[block] = -np.pi * mean_cosine - variance / (2.0 * nu)

    # t = 0: the initial condition, exactly
    initial = -np.pi * np.cos(np.pi * x_flat) if slope else -np.sin(np.pi * x_flat)
    out = np.where(t_flat == 0, initial, out)
    return out.reshape(shape)


def burgers_cole_hopf(
    x: ArrayLike, t: ArrayLike, nu: float, *, n_nodes: int = _DEFAULT_HERMITE_NODES
) -> np.ndarray:
    """Exact solution of viscous Burgers with ``u(x, 0) = -sin(pi x)``.

    Solves ``u_t + u u_x = nu u_xx`` on the real line; the solution is 2-periodic and odd in x,
    so on ``[-1, 1]`` it also satisfies ``u(-1, t) = u(1, t) = 0`` (the classic benchmark of
    Basdevant et al. 1986 and Raissi et al. 2019 uses ``nu = 0.01/pi``, see
    :data:`BURGERS_NU`). Evaluated from the Cole-Hopf transform,

    ``u(x, t) = -int sin(pi y) f(y) g(x - y) dy / int f(y) g(x - y) dy``,
    ``f(y) = exp(-cos(pi y) / (2 pi nu))``, ``g(s) = exp(-s^2 / (4 nu t))``,

    with Gauss-Hermite quadrature in ``z = (x - y) / sqrt(4 nu t)``.

    Parameters
    ----------
    x : array_like
        Positions, any shape broadcastable with ``t``; finite.
    t : array_like
        Times ``>= 0``; at ``t == 0`` the initial condition ``-sin(pi x)`` is returned exactly.
    nu : float
        Viscosity ``> 0``.
    n_nodes : int, default 200
        Gauss-Hermite nodes, 2 to 360. The default is converged to ~1e-15 for
        ``nu >= 0.01/pi`` and ``t <= 1``; smaller viscosities or later times need more.

    Returns
    -------
    numpy.ndarray
        ``u`` as float64, with the broadcast shape of ``x`` and ``t`` (0-d for scalars).

    Raises
    ------
    ConfigError
        If ``nu`` is not a finite number ``> 0``, ``x`` or ``t`` contain non-finite values,
        ``t`` has negative entries, or ``n_nodes`` is out of range.
    ShapeError
        If ``x`` and ``t`` do not broadcast together.
    """
    return _burgers_moments(x, t, nu, n_nodes, slope=False)


def burgers_cole_hopf_dx(
    x: ArrayLike, t: ArrayLike, nu: float, *, n_nodes: int = _DEFAULT_HERMITE_NODES
) -> np.ndarray:
    """Slope ``u_x`` of :func:`burgers_cole_hopf`, from the differentiated quadrature formula.

    With ``<.>`` the average over the quadrature nodes ``y_k`` weighted by ``w_k f(y_k)``:
    ``u_x = -pi <cos(pi y)> - Var(sin(pi y)) / (2 nu)`` (no finite differences). For
    ``nu = 0.01/pi`` the steepest slope, ``u_x(0, t) = -152.00516``, occurs at
    ``t = 1.6037/pi`` (Basdevant et al. 1986).

    Parameters
    ----------
    x, t, nu, n_nodes
        As in :func:`burgers_cole_hopf`.

    Returns
    -------
    numpy.ndarray
        ``u_x`` as float64, with the broadcast shape of ``x`` and ``t``; ``-pi cos(pi x)`` at
        ``t == 0``.

    Raises
    ------
    ConfigError, ShapeError
        As in :func:`burgers_cole_hopf`.
    """
    return _burgers_moments(x, t, nu, n_nodes, slope=True)


# --------------------------------------------------------------------------------------------
# Allen-Cahn: Fourier pseudo-spectral + ETDRK4
# --------------------------------------------------------------------------------------------


def _etdrk4_coefficients(
    linear: np.ndarray, step: float, n_contour: int = _CONTOUR_POINTS
) -> tuple[np.ndarray, ...]:
    """ETDRK4 coefficients for the diagonal linear operator ``linear`` ``(K,)`` (real or
    complex) and step ``step``.

    Returns ``(E, E2, Q, f1, f2, f3)``, each ``(K,)``: ``E = exp(h L)``, ``E2 = exp(h L / 2)``
    and the phi-function combinations of Kassam and Trefethen (2005, eq. 2.5), evaluated as means
    over ``n_contour`` points of a unit circle around each ``h L`` to avoid the cancellation of
    the direct formulas near ``h L = 0``.
    """
    hl = step * linear
    # a real operator: the upper half circle, whose mean's real part is the full circle's mean
    # (conjugate symmetry); a complex one (odd derivatives, e.g. KdV's i k^3): the full circle,
    # and the coefficients stay complex
    real = np.isrealobj(linear)
    turn = np.pi if real else 2 * np.pi
    roots = np.exp(1j * turn * (np.arange(1, n_contour + 1) - 0.5) / n_contour)
    lr = hl[:, None] + roots[None, :]  # (K, n_contour)
    exp_lr = np.exp(lr)
    keep: Callable[[np.ndarray], np.ndarray] = np.real if real else np.asarray
    q = step * keep(np.mean((np.exp(lr / 2) - 1) / lr, axis=1))
    f1 = step * keep(np.mean((-4 - lr + exp_lr * (4 - 3 * lr + lr**2)) / lr**3, axis=1))
    f2 = step * keep(np.mean((2 + lr + exp_lr * (-2 + lr)) / lr**3, axis=1))
    f3 = step * keep(np.mean((-4 - 3 * lr - lr**2 + exp_lr * (4 - lr)) / lr**3, axis=1))
    return np.exp(hl), np.exp(hl / 2), q, f1, f2, f3


def _allen_cahn_initial(x: np.ndarray) -> np.ndarray:
    """Default initial condition ``x^2 cos(pi x)`` (Raissi et al. 2019)."""
    return x**2 * np.cos(np.pi * x)


def allen_cahn_etdrk4(
    *,
    n_modes: int = 512,
    dt: float = 2.5e-4,
    t_end: float = 1.0,
    diffusion: float = 1e-4,
    reaction: float = 5.0,
    u0: Callable[[np.ndarray], ArrayLike] | ArrayLike | None = None,
    n_save: int = 201,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve the periodic Allen-Cahn equation with Fourier modes and ETDRK4.

    ``u_t = diffusion * u_xx + reaction * (u - u^3)`` for ``x`` in ``[-1, 1)`` (period 2), with
    ``u(x, 0) = x^2 cos(pi x)`` by default. The linear part ``diffusion * u_xx`` is diagonal in
    the real Fourier basis (wave numbers ``k = pi m``) and integrated exactly; the reaction
    term is evaluated on the grid (no dealiasing) and integrated by the fourth-order
    exponential Runge-Kutta scheme ETDRK4 (Cox and Matthews 2002) with the contour-integral
    coefficients of Kassam and Trefethen (2005).

    The default step is converged in time: halving it changes the solution by ~1e-12, while a
    run takes about 1 s. The spatial error of the default 512 modes is set by the interface
    width ``sqrt(2 diffusion / reaction) ~ 0.006`` and is of order 1e-4 near the interfaces
    (the same discretisation as the standard PINN benchmark data).

    Parameters
    ----------
    n_modes : int, default 512
        Grid points (and Fourier modes); even, >= 4.
    dt : float, default 2.5e-4
        Largest time step ``> 0``. The step used is ``interval / ceil(interval / dt)`` with
        ``interval = t_end / (n_save - 1)``, so that the saved times are hit exactly.
    t_end : float, default 1.0
        Final time ``> 0``.
    diffusion : float, default 1e-4
        Diffusion coefficient ``>= 0``.
    reaction : float, default 5.0
        Reaction rate (finite, any sign).
    u0 : callable or array_like or None, default None
        Initial condition: a function of the grid ``x`` ``(n_modes,)`` returning ``(n_modes,)``,
        or the values on the grid ``(n_modes,)``. ``None`` means ``x^2 cos(pi x)``.
    n_save : int, default 201
        Number of saved times, ``>= 2``, equally spaced from 0 to ``t_end`` inclusive.

    Returns
    -------
    x : numpy.ndarray
        Grid ``-1 + 2 j / n_modes``, shape ``(n_modes,)``.
    t : numpy.ndarray
        Saved times, shape ``(n_save,)``.
    u : numpy.ndarray
        Solution, shape ``(n_modes, n_save)``: ``u[i, j] = u(x[i], t[j])``.

    Raises
    ------
    ConfigError
        If a number is out of range, ``n_modes`` is odd, or ``u0`` has non-finite values.
    ShapeError
        If ``u0`` does not give ``n_modes`` values.
    """
    n_modes = check_int("n_modes", n_modes, minimum=4)
    if n_modes % 2:
        raise ConfigError(f"n_modes must be even; received {n_modes}")
    dt = _check_real("dt", dt, positive=True)
    t_end = _check_real("t_end", t_end, positive=True)
    diffusion = _check_real("diffusion", diffusion, nonnegative=True)
    reaction = _check_real("reaction", reaction)
    n_save = check_int("n_save", n_save, minimum=2)

    x = -1.0 + 2.0 * np.arange(n_modes) / n_modes
    if u0 is None:
        initial = _allen_cahn_initial(x)
    else:
        values = u0(x.copy()) if callable(u0) else u0
        initial = _as_real_array("u0", values)
        if initial.shape != (n_modes,):
            raise ShapeError(
                f"u0 must give one value per grid point, shape ({n_modes},); "
                f"received shape {initial.shape}"
            )

    interval = t_end / (n_save - 1)
    steps_per_save = max(1, math.ceil(interval / dt * (1 - 1e-12)))
    step = interval / steps_per_save
    wave_numbers = np.pi * np.arange(n_modes // 2 + 1)  # period 2: k = 2 pi m / 2
    e_full, e_half, q, f1, f2, f3 = _etdrk4_coefficients(-diffusion * wave_numbers**2, step)

    def nonlinear(spectrum: np.ndarray) -> np.ndarray:
        values = np.fft.irfft(spectrum, n_modes)
        return np.fft.rfft(reaction * (values - values**3))

    u = np.empty((n_modes, n_save), dtype=np.float64)
    u[:, 0] = initial
    spectrum = np.fft.rfft(initial)
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
        u[:, j] = np.fft.irfft(spectrum, n_modes)
    t = np.linspace(0.0, t_end, n_save)
    return x, t, u


# --------------------------------------------------------------------------------------------
# reference files
# --------------------------------------------------------------------------------------------


def burgers_reference_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Burgers reference grid for ``nu = 0.01/pi``.

    Returns ``x`` ``(256,)`` on [-1, 1], ``t`` ``(100,)`` on [0, 0.99] and ``u`` ``(256, 100)``.
    """
    x = np.linspace(-1.0, 1.0, 256)
    t = np.linspace(0.0, 0.99, 100)
    u = burgers_cole_hopf(x[:, None], t[None, :], BURGERS_NU)
    return x, t, u


def allen_cahn_reference_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Allen-Cahn reference grid: the default :func:`allen_cahn_etdrk4` run with its
    periodic copy at ``x = 1`` appended.

    Returns ``x`` ``(513,)`` on [-1, 1], ``t`` ``(201,)`` on [0, 1] and ``u`` ``(513, 201)``.
    """
    x, t, u = allen_cahn_etdrk4()
    return np.append(x, 1.0), t, np.concatenate([u, u[:1]], axis=0)


def write_reference_files(directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``burgers1d_reference.npz`` and ``allen_cahn_reference.npz`` into ``directory``.

    Each file holds float64 arrays ``x`` ``(n_x,)``, ``t`` ``(n_t,)`` and ``u`` ``(n_x, n_t)``
    ('ij' indexing), saved with :func:`numpy.savez_compressed`; see
    :func:`burgers_reference_grid` and :func:`allen_cahn_reference_grid`.

    Parameters
    ----------
    directory : str or os.PathLike
        Existing directory to write into.

    Returns
    -------
    tuple of pathlib.Path
        The Burgers and Allen-Cahn file paths.

    Raises
    ------
    ConfigError
        If ``directory`` is not an existing directory.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError(f"directory must be an existing directory; received {str(directory)!r}")
    paths = (folder / BURGERS_FILE, folder / ALLEN_CAHN_FILE)
    for path, (x, t, u) in zip(
        paths, (burgers_reference_grid(), allen_cahn_reference_grid()), strict=True
    ):
        np.savez_compressed(
            path, x=x.astype(np.float64), t=t.astype(np.float64), u=u.astype(np.float64)
        )
        logger.info("wrote %s: u of shape %s", path, u.shape)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m kanphys.pde.references DIRECTORY``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m kanphys.pde.references",
        description="Write the Burgers and Allen-Cahn reference grids (.npz) into DIRECTORY.",
    )
    parser.add_argument("directory", type=Path, help="existing directory, e.g. problems/")
    args = parser.parse_args(argv)
    try:
        paths = write_reference_files(args.directory)
    except ConfigError as error:
        parser.error(str(error))
    for path in paths:
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
