"""Conserved quantities and Lagrangians recovered from trajectories."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from kanphys.discovery.conservation import (
    affine_match,
    conserved_quantities,
    default_library,
    lagrangian,
)
from kanphys.discovery.symmetry_data import (
    Trajectories,
    differenced_rates,
    harmonic_oscillator,
    kepler,
    pendulum,
)
from kanphys.errors import ConfigError, NonFiniteError, ShapeError, SpecError


def _values(expr: sympy.Expr, data: Trajectories) -> np.ndarray:
    symbols = [sympy.Symbol(n, real=True) for n in data.names]
    out = sympy.lambdify(symbols, expr, "numpy")(*data.states.T)
    return np.broadcast_to(np.asarray(out, dtype=np.float64), (len(data.states),))


@pytest.mark.parametrize("make", [harmonic_oscillator, pendulum, kepler])
def test_conserved_quantities_match_the_known_ones(make) -> None:  # type: ignore[no-untyped-def]
    data = make()
    found = conserved_quantities(data.states, data.rates, names=data.names)
    # exactly the known quantities, each up to an affine map (the rates are exact, so the
    # residual is rounding error)
    assert len(found) == len(data.conserved)
    for quantity in found:
        assert quantity.residual < 1e-10
    for name, truth in data.conserved.items():
        best = max(affine_match(_values(q.expression, data), data.values(truth)) for q in found)
        assert best > 1 - 1e-12, name


def test_kepler_formulas_are_the_textbook_ones() -> None:
    data = kepler()
    x, y, vx, vy = sympy.symbols("x y vx vy", real=True)
    found = [q.expression for q in conserved_quantities(data.states, data.rates, names=data.names)]
    assert sympy.expand(found[0] - (vy * x - vx * y)) == 0
    assert sympy.expand(found[1] - (vx**2 + vy**2 - 2 / sympy.sqrt(x**2 + y**2))) == 0


def test_differenced_rates_still_find_the_energy() -> None:
    data = harmonic_oscillator(points=400)
    rates = differenced_rates(data)
    assert np.abs(rates - data.rates).max() < 1e-3  # second-order differences
    found = conserved_quantities(data.states, rates, names=data.names, tolerance=1e-3)
    assert len(found) == 1
    energy = data.values(data.conserved["energy"])
    assert affine_match(_values(found[0].expression, data), energy) > 1 - 1e-6
    assert str(found[0]).startswith("0.591716*v**2 + x**2")


def test_nothing_is_conserved_by_a_damped_oscillator() -> None:
    t = np.linspace(0, 10, 500)
    x = np.exp(-0.3 * t) * np.cos(2 * t)
    v = np.gradient(x, t)
    a = np.gradient(v, t)
    assert conserved_quantities(np.column_stack([x, v]), np.column_stack([v, a])) == []


@pytest.mark.parametrize("make", [harmonic_oscillator, pendulum])
def test_lagrangian_from_the_euler_lagrange_residual(make) -> None:  # type: ignore[no-untyped-def]
    data = make()
    L = lagrangian(data.states[:, :1], data.states[:, 1:], data.rates[:, 1:], names=data.names[:1])
    q, qd = sympy.symbols(f"{data.names[0]} {data.names[0]}_dot", real=True)
    truth = sympy.sympify(data.lagrangian, locals={str(q): q, str(qd): qd})
    difference = sympy.lambdify([q, qd], L.expression - truth)
    for point in np.random.default_rng(0).uniform(-2, 2, (10, 2)):
        assert abs(difference(*point)) < 1e-8
    assert L.residual < 1e-10


def test_library_strings_are_parsed_safely() -> None:
    data = harmonic_oscillator()
    found = conserved_quantities(
        data.states, data.rates, names=data.names, library=["x**2", "v**2", "x*v", "sin(x)"]
    )
    assert len(found) == 1 and found[0].expression.free_symbols == {
        sympy.Symbol("x", real=True),
        sympy.Symbol("v", real=True),
    }
    with pytest.raises(SpecError, match=r"library\[0\]: unknown name 'z'"):
        conserved_quantities(data.states, data.rates, names=data.names, library=["z**2"])
    with pytest.raises(SpecError, match=r"library\[0\]"):
        conserved_quantities(
            data.states, data.rates, names=data.names, library=["__import__('os')"]
        )


def test_default_library() -> None:
    x, y = sympy.symbols("x y")
    terms = default_library([x, y], degree=2)
    assert terms[:5] == [x, y, x**2, x * y, y**2]
    assert 1 / sympy.sqrt(x**2 + y**2) in terms and sympy.cos(y) in terms


def test_errors() -> None:
    data = harmonic_oscillator()
    X, V = data.states, data.rates
    with pytest.raises(ShapeError, match=r"rates must have the shape of states \(800, 2\)"):
        conserved_quantities(X, V[:10])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(NonFiniteError, match=r"states contains NaN or infinite values"):
        conserved_quantities(bad, V)
    with pytest.raises(ConfigError, match=r"names must be 2 distinct identifiers"):
        conserved_quantities(X, V, names=["x", "x"])
    with pytest.raises(ConfigError, match=r"degree must be an integer from 1 to 8"):
        conserved_quantities(X, V, degree=0)
    with pytest.raises(ConfigError, match=r"states must be a numeric array"):
        conserved_quantities([["a", "b"]], V)
    with pytest.raises(ShapeError, match=r"q, qdot and qddot must have one shape"):
        lagrangian(X[:, :1], X[:5, 1:], V[:, 1:])
    with pytest.raises(ConfigError, match=r"no combination of the library terms satisfies"):
        lagrangian(X[:, :1], X[:, 1:], V[:, 1:] + 1.0, library=["q0_dot**2", "q0**4"])
    with pytest.raises(ConfigError, match=r"every library term is a null Lagrangian"):
        lagrangian(X[:, :1], X[:, 1:], V[:, 1:], library=["q0*q0_dot", "q0_dot"])
