"""Reference solutions: Burgers (Cole-Hopf) and Allen-Cahn (ETDRK4), and the shipped .npz grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import maximum_filter
from scipy.optimize import minimize_scalar

from kanphys.errors import ConfigError, ShapeError
from kanphys.pde import references
from kanphys.pde.references import (
    ALLEN_CAHN_FILE,
    BURGERS_FILE,
    BURGERS_NU,
    allen_cahn_etdrk4,
    burgers_cole_hopf,
    burgers_cole_hopf_dx,
    main,
    write_reference_files,
)

PROBLEMS = Path(__file__).resolve().parents[1] / "problems"
EPS = np.finfo(np.float64).eps
# Gauss-Hermite values are normalised weighted means of O(1) terms: a few hundred eps of
# rounding, far below the O(1) error of a wrong formula.
QUADRATURE_ROUNDOFF = 1e3 * EPS
# ETDRK4 with thousands of FFT round trips: the observed roundoff drift is ~2e-11
# (differences between runs with different dt once the time error is below it).
SPECTRAL_ROUNDOFF = 1e-9
SAFETY = 2.0  # on truncation bounds whose leading term is estimated from the data


def fd_coefficients(order: int) -> dict[int, float]:
    """Central-difference stencil (offset -> weight, before dividing by ``h**order``)."""
    return {
        1: {-1: -0.5, 1: 0.5},
        2: {-1: 1.0, 0: -2.0, 1: 1.0},
        3: {-2: -0.5, -1: 1.0, 1: -1.0, 2: 0.5},
        4: {-2: 1.0, -1: -4.0, 0: 6.0, 1: -4.0, 2: 1.0},
    }[order]


def central_difference(values: np.ndarray, step: float, axis: int, order: int) -> np.ndarray:
    """Central difference of ``values`` along ``axis``, on the points 2 away from both edges.

    ``order`` 1 and 2 err by ``h^2/6 f'''`` and ``h^2/12 f''''``; orders 3 and 4 (5-point
    stencils) estimate those derivatives to O(h^2), which is how the truncation bounds below
    are obtained from the data themselves.
    """
    inner = [slice(2, -2)] * values.ndim
    total = np.zeros_like(values[tuple(inner)])
    for offset, weight in fd_coefficients(order).items():
        shifted = list(inner)
        length = values.shape[axis]
        shifted[axis] = slice(2 + offset, length - 2 + offset)
        total += weight * values[tuple(shifted)]
    return total / step**order


def load_reference(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.load(PROBLEMS / name) as data:
        assert sorted(data.files) == ["t", "u", "x"]
        return data["x"], data["t"], data["u"]


# --------------------------------------------------------------------------------------------
# Burgers
# --------------------------------------------------------------------------------------------


def test_burgers_peak_slope_matches_basdevant() -> None:
    # Basdevant et al. (1986): max_t |u_x(0, t)| = 152.00516 at t = 1.6037/pi; both published
    # to their last digit, so the tolerances are half a unit there (the quadrature is converged
    # to ~1e-13 and the optimiser's xatol is far below).
    result = minimize_scalar(
        lambda t: float(burgers_cole_hopf_dx(0.0, t, BURGERS_NU)),
        bounds=(0.4, 0.6),
        method="bounded",
        options={"xatol": 1e-9},
    )
    assert abs(-result.fun - 152.00516) <= 5e-6
    assert abs(result.x * math.pi - 1.6037) <= 5e-5


def test_burgers_odd_in_x_and_zero_at_the_boundary() -> None:
    x = np.linspace(0.0, 1.0, 41)
    t = np.array([0.05, 0.3, 0.5105, 0.99])[None, :]
    u = burgers_cole_hopf(x[:, None], t, BURGERS_NU)
    assert u.shape == (41, 4)
    np.testing.assert_allclose(
        burgers_cole_hopf(-x[:, None], t, BURGERS_NU), -u, rtol=0, atol=QUADRATURE_ROUNDOFF
    )
    for edge in (-1.0, 1.0):
        boundary = burgers_cole_hopf(edge, t, BURGERS_NU)
        np.testing.assert_allclose(boundary, 0.0, rtol=0, atol=QUADRATURE_ROUNDOFF)


def test_burgers_initial_condition() -> None:
    x = np.linspace(-1.0, 1.0, 33)
    np.testing.assert_array_equal(burgers_cole_hopf(x, 0.0, BURGERS_NU), -np.sin(np.pi * x))
    np.testing.assert_array_equal(
        burgers_cole_hopf_dx(x, 0.0, BURGERS_NU), -np.pi * np.cos(np.pi * x)
    )
    # small t: |u - u0| <= t max|u_t(., 0)| (first-order Taylor), u_t = -u u_x + nu u_xx is at
    # most pi/2 + nu pi^2 at t = 0; 10% slack covers the O(t^2) term.
    t = 1e-6
    bound = 1.1 * t * (math.pi / 2 + BURGERS_NU * math.pi**2) + QUADRATURE_ROUNDOFF
    np.testing.assert_allclose(
        burgers_cole_hopf(x, t, BURGERS_NU), -np.sin(np.pi * x), rtol=0, atol=bound
    )


def test_burgers_satisfies_the_pde_and_slope_matches_differences() -> None:
    # t = 0.2 is before the front steepens (|u_x| <= 8.1). On [-0.9, 0.9], 5-point differences
    # give |u_xxx| <= 1.4e3, |u_ttt| <= 3.2e2 and nu |u_xxxx| <= 90, so central differences with
    # h = 1e-4 err by at most h^2/6 * 1.4e3 ~ 2.3e-6 each (truncation) plus rounding
    # ~ 1e-13 / h ~ 1e-9; the residual's terms themselves are O(1)-O(10).
    x = np.linspace(-0.9, 0.9, 37)
    t, h = 0.2, 1e-4
    truncation = SAFETY * h**2 / 6 * 1.4e3 + 1e-9
    u = burgers_cole_hopf(x, t, BURGERS_NU)
    u_x = burgers_cole_hopf_dx(x, t, BURGERS_NU)
    u_t = (burgers_cole_hopf(x, t + h, BURGERS_NU) - burgers_cole_hopf(x, t - h, BURGERS_NU)) / (
        2 * h
    )
    u_xx = (
        burgers_cole_hopf_dx(x + h, t, BURGERS_NU) - burgers_cole_hopf_dx(x - h, t, BURGERS_NU)
    ) / (2 * h)
    u_x_fd = (burgers_cole_hopf(x + h, t, BURGERS_NU) - burgers_cole_hopf(x - h, t, BURGERS_NU)) / (
        2 * h
    )
    np.testing.assert_allclose(u_x, u_x_fd, rtol=0, atol=truncation)
    residual = u_t + u * u_x - BURGERS_NU * u_xx
    assert np.abs(u_t).max() > 1.0  # the check below is not vacuous
    np.testing.assert_allclose(residual, 0.0, rtol=0, atol=2 * truncation)


@pytest.mark.parametrize(
    ("kwargs", "exception", "match"),
    [
        ({"nu": 0.0}, ConfigError, r"nu must be > 0; received 0\.0"),
        ({"nu": -1}, ConfigError, r"nu must be > 0; received -1\.0"),
        ({"nu": float("nan")}, ConfigError, r"nu must be finite; received nan"),
        ({"nu": "0.1"}, ConfigError, r"nu must be a real number; received '0\.1'"),
        ({"x": [0.0, np.inf]}, ConfigError, r"x must be finite; received inf at index \(1,\)"),
        ({"t": [0.1, -0.2]}, ConfigError, r"t must be finite and >= 0; received -0\.2"),
        ({"x": ["a"]}, ConfigError, r"x must be an array of real numbers; received \['a'\]"),
        ({"x": np.zeros(3), "t": np.ones(2)}, ShapeError, r"received shapes \(3,\) and \(2,\)"),
        ({"n_nodes": 1000}, ConfigError, r"n_nodes must be <= 360.*received 1000"),
        ({"n_nodes": 1}, ConfigError, r"n_nodes must be an integer >= 2; received 1"),
    ],
)
@pytest.mark.parametrize("function", [burgers_cole_hopf, burgers_cole_hopf_dx])
def test_burgers_rejects_bad_arguments(function, kwargs, exception, match) -> None:
    arguments = {"x": 0.0, "t": 0.5, "nu": BURGERS_NU, **kwargs}
    with pytest.raises(exception, match=match):
        function(**arguments)


# --------------------------------------------------------------------------------------------
# Allen-Cahn
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def allen_cahn_default() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One run of the default problem (about 1 s), shared by the tests below."""
    return allen_cahn_etdrk4()


def test_allen_cahn_pure_diffusion_is_exact() -> None:
    # with no reaction ETDRK4 multiplies each mode by exp(-diffusion k^2 h): exact for any dt
    diffusion = 0.1
    x, t, u = allen_cahn_etdrk4(
        n_modes=64, dt=0.01, reaction=0.0, diffusion=diffusion, u0=lambda x: np.cos(np.pi * x)
    )
    assert x.shape == (64,) and t.shape == (201,) and u.shape == (64, 201)
    np.testing.assert_array_equal(x, -1 + 2 * np.arange(64) / 64)
    np.testing.assert_allclose(t, np.linspace(0, 1, 201), rtol=0, atol=EPS)
    exact = np.exp(-diffusion * np.pi**2 * t)[None, :] * np.cos(np.pi * x)[:, None]
    np.testing.assert_allclose(u, exact, rtol=0, atol=1e-10)


@pytest.mark.parametrize("constant", [0.3, -0.5, 1e-3])
def test_allen_cahn_pure_reaction_matches_the_ode(constant: float) -> None:
    # diffusion = 0 makes ETDRK4 classical RK4 on u' = r (u - u^3): global error
    # ~ (r dt)^4 = 6e-10 at dt = 1e-3 (observed 3e-12), below the 1e-8 asked for
    reaction = 5.0
    _, t, u = allen_cahn_etdrk4(
        n_modes=16, dt=1e-3, diffusion=0.0, reaction=reaction, u0=np.full(16, constant), n_save=11
    )
    growth = np.exp(reaction * t)
    exact = constant * growth / np.sqrt(1 + constant**2 * (growth**2 - 1))
    np.testing.assert_allclose(u, np.broadcast_to(exact, u.shape), rtol=0, atol=1e-8)


def test_allen_cahn_converges_at_fourth_order() -> None:
    settings = {"n_modes": 64, "t_end": 0.2, "n_save": 2}
    dt = 0.025
    *_, reference = allen_cahn_etdrk4(dt=dt / 8, **settings)
    errors = [
        np.abs(allen_cahn_etdrk4(dt=step, **settings)[2] - reference).max() for step in (dt, dt / 2)
    ]
    order = math.log2(errors[0] / errors[1])
    # ETDRK4 is fourth order; the dt/8 reference shifts the ratio by < 1%, pre-asymptotic
    # terms (r dt = 0.125) by a few tenths of an order (observed 4.09)
    assert abs(order - 4) <= 0.3, errors


def test_allen_cahn_default_is_bounded_and_even(allen_cahn_default) -> None:
    x, t, u = allen_cahn_default
    assert u.shape == (512, 201) and t[-1] == 1.0
    final = u[:, -1]
    # the maximum principle: |u0| <= 1 stays <= 1 (up to the spectral roundoff)
    assert np.abs(final).max() <= 1 + SPECTRAL_ROUNDOFF
    assert np.abs(final).max() > 0.99  # the interfaces have formed
    # x^2 cos(pi x) is even and x_{n-i} = -x_i (mod 2): evenness survives up to roundoff
    mirror = (len(x) - np.arange(len(x))) % len(x)
    np.testing.assert_allclose(u[mirror], u, rtol=0, atol=SPECTRAL_ROUNDOFF)


@pytest.mark.parametrize(
    ("kwargs", "exception", "match"),
    [
        ({"n_modes": 63}, ConfigError, r"n_modes must be even; received 63"),
        ({"n_modes": 2}, ConfigError, r"n_modes must be an integer >= 4; received 2"),
        ({"dt": 0.0}, ConfigError, r"dt must be > 0; received 0\.0"),
        ({"t_end": float("inf")}, ConfigError, r"t_end must be finite; received inf"),
        ({"diffusion": -1e-4}, ConfigError, r"diffusion must be >= 0; received -0\.0001"),
        ({"reaction": None}, ConfigError, r"reaction must be a real number; received None"),
        ({"n_save": 1}, ConfigError, r"n_save must be an integer >= 2; received 1"),
        ({"u0": np.zeros(5)}, ShapeError, r"u0 must give one value.*\(8,\); received shape \(5,\)"),
        ({"u0": lambda x: x / 0.0}, ConfigError, r"u0 must be finite; received"),
    ],
)
def test_allen_cahn_rejects_bad_arguments(kwargs, exception, match) -> None:
    with pytest.raises(exception, match=match), np.errstate(all="ignore"):
        allen_cahn_etdrk4(**{"n_modes": 8, "t_end": 0.01, **kwargs})


# --------------------------------------------------------------------------------------------
# shipped reference files
# --------------------------------------------------------------------------------------------


def test_burgers_file_matches_a_fresh_computation() -> None:
    x, t, u = load_reference(BURGERS_FILE)
    assert u.dtype == np.float64 and (PROBLEMS / BURGERS_FILE).stat().st_size < 2**21
    np.testing.assert_array_equal(x, np.linspace(-1, 1, 256))
    np.testing.assert_array_equal(t, np.linspace(0, 0.99, 100))
    assert u.shape == (256, 100)
    rng = np.random.default_rng(7)
    i, j = rng.integers(0, 256, size=50), rng.integers(0, 100, size=50)
    fresh = burgers_cole_hopf(x[i], t[j], BURGERS_NU)
    np.testing.assert_allclose(u[i, j], fresh, rtol=0, atol=QUADRATURE_ROUNDOFF)


def test_burgers_file_satisfies_the_pde_away_from_the_front() -> None:
    x, t, u = load_reference(BURGERS_FILE)
    dx, dt = x[1] - x[0], t[1] - t[0]
    # second-order central differences err by dt^2/6 u_ttt + dx^2/6 u u_xxx + nu dx^2/12 u_xxxx;
    # the derivatives come from 5-point differences, maximised over a 5x5 neighbourhood.
    # The front at x = 0 is ~0.002 wide, under the grid spacing: check |x| >= 0.3 only.
    core = u[2:-2, 2:-2]
    residual = (
        central_difference(u, dt, 1, 1)
        + core * central_difference(u, dx, 0, 1)
        - BURGERS_NU * central_difference(u, dx, 0, 2)
    )
    truncation = (
        dt**2 / 6 * np.abs(central_difference(u, dt, 1, 3))
        + dx**2 / 6 * np.abs(core * central_difference(u, dx, 0, 3))
        + BURGERS_NU * dx**2 / 12 * np.abs(central_difference(u, dx, 0, 4))
    )
    bound = SAFETY * maximum_filter(truncation, size=5) + 1e-12
    smooth = np.abs(x[2:-2]) >= 0.3
    assert np.all(np.abs(residual[smooth]) <= bound[smooth])
    # ... and the check has teeth: doubling nu breaks it by far
    wrong = residual - BURGERS_NU * central_difference(u, dx, 0, 2)
    assert np.mean(np.abs(wrong[smooth]) > bound[smooth]) > 0.5


def test_allen_cahn_file_matches_a_fresh_computation(allen_cahn_default) -> None:
    x, t, u = load_reference(ALLEN_CAHN_FILE)
    assert u.dtype == np.float64 and (PROBLEMS / ALLEN_CAHN_FILE).stat().st_size < 2**21
    fresh_x, fresh_t, fresh_u = allen_cahn_default
    np.testing.assert_array_equal(x, np.append(fresh_x, 1.0))
    np.testing.assert_allclose(t, fresh_t, rtol=0, atol=EPS)
    assert u.shape == (513, 201)
    np.testing.assert_array_equal(u[-1], u[0])  # periodic copy at x = 1
    np.testing.assert_allclose(u[:-1], fresh_u, rtol=0, atol=SPECTRAL_ROUNDOFF)


def test_allen_cahn_file_satisfies_the_pde() -> None:
    x, t, u = load_reference(ALLEN_CAHN_FILE)
    x, u = x[:-1], u[:-1]  # drop the periodic copy
    diffusion, reaction = 1e-4, 5.0
    # The data are a Fourier collocation solution: its own u_xx is the spectral one (the
    # interfaces, ~1.6 dx wide, defeat finite differences in x). Central differences in time
    # err by dt^2/6 u_ttt, estimated from the data and maximised over +-2 saved times.
    dt = t[1] - t[0]
    wave_numbers = np.pi * np.fft.rfftfreq(len(x), d=1 / len(x))
    u_xx = np.fft.irfft(-(wave_numbers**2)[:, None] * np.fft.rfft(u, axis=0), len(x), axis=0)
    core = u[:, 2:-2]
    u_t = (u[:, 3:-1] - u[:, 1:-3]) / (2 * dt)
    residual = u_t - diffusion * u_xx[:, 2:-2] - reaction * (core - core**3)
    u_ttt = (u[:, 4:] - 2 * u[:, 3:-1] + 2 * u[:, 1:-3] - u[:, :-4]) / (2 * dt**3)
    bound = SAFETY * maximum_filter(dt**2 / 6 * np.abs(u_ttt), size=(1, 5)) + 1e-12
    assert np.all(np.abs(residual) <= bound)
    # a 1% error in the reaction rate breaks it by far
    wrong = residual - 0.01 * reaction * (core - core**3)
    assert np.median(np.abs(wrong) / bound) > 10


# --------------------------------------------------------------------------------------------
# writer and command line
# --------------------------------------------------------------------------------------------


def test_writer_and_main_follow_the_file_convention(tmp_path, monkeypatch, capsys) -> None:
    # the grids are replaced by small stand-ins: the real ones are checked above
    def small_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, t = np.linspace(-1, 1, 5), np.linspace(0, 1, 3)
        return x, t, np.add.outer(x, t)

    monkeypatch.setattr(references, "burgers_reference_grid", small_grid)
    monkeypatch.setattr(references, "allen_cahn_reference_grid", small_grid)
    paths = write_reference_files(tmp_path)
    assert [path.name for path in paths] == [BURGERS_FILE, ALLEN_CAHN_FILE]
    for path in paths:
        with np.load(path) as data:
            assert data["u"].shape == (len(data["x"]), len(data["t"]))
            np.testing.assert_array_equal(data["u"], np.add.outer(data["x"], data["t"]))
    assert main([str(tmp_path)]) == 0
    assert str(tmp_path / BURGERS_FILE) in capsys.readouterr().out


def test_writer_and_main_reject_a_missing_directory(tmp_path, capsys) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError, match=r"directory must be an existing directory; received"):
        write_reference_files(missing)
    with pytest.raises(SystemExit) as excinfo:
        main([str(missing)])
    assert excinfo.value.code == 2
    assert "directory must be an existing directory" in capsys.readouterr().err
