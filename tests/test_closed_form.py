"""The closed-form leaf solver: rational functions of transformed targets and variables."""

from __future__ import annotations

import time

import numpy as np
import sympy

from kanphys.discovery.closed_form import rational_search


def _rows(ranges, n=600, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(lo, hi, n) for lo, hi in ranges])


def _close(expr, truth, symbols, X) -> float:
    """Largest relative difference between two formulas on the rows ``X``."""
    f = sympy.lambdify(symbols, expr, "numpy")
    g = sympy.lambdify(symbols, truth, "numpy")
    a, b = f(*X.T), g(*X.T)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def test_sum_of_products_is_found_with_exact_coefficients():
    s = sympy.symbols("x1 x2 x3 y1 y2 y3", positive=True)
    X = _rows([(1, 5)] * 6)
    y = X[:, 0] * X[:, 3] + X[:, 1] * X[:, 4] + X[:, 2] * X[:, 5]
    best = rational_search(X, y, s)[0]
    assert best.rmse < 1e-12 * np.sqrt(np.mean(y**2))
    assert best.terms == 4  # three products and the normalised denominator
    coefficients = sorted(float(c) for c in best.expr.atoms(sympy.Float))
    assert all(abs(c - 1) < 1e-9 for c in coefficients)


def test_rational_function_and_square_transform():
    m1, m2, r1, r2 = s = sympy.symbols("m1 m2 r1 r2", positive=True)
    X = _rows([(1, 5)] * 4)
    y = (X[:, 0] * X[:, 2] + X[:, 1] * X[:, 3]) / (X[:, 0] + X[:, 1])
    best = rational_search(X, y, s)[0]
    assert _close(best.expr, (m1 * r1 + m2 * r2) / (m1 + m2), s, X) < 1e-10
    # y = sqrt(rational): found through the square transform
    y = np.sqrt(X[:, 0] * X[:, 2] / X[:, 3])
    best = rational_search(X, y, s)[0]
    assert best.transform == "square"
    assert _close(best.expr, sympy.sqrt(m1 * r1 / r2), s, X) < 1e-10


def test_transformed_target_and_feature_maps():
    n, theta = s = sympy.symbols("n theta", positive=True)
    X = _rows([(0, 1), (1, 5)])
    y = np.arcsin(X[:, 0] * np.sin(X[:, 1]))
    best = rational_search(X, y, s)[0]
    assert (best.transform, best.features) == ("sin", ("x", "sin"))
    assert _close(best.expr, sympy.asin(n * sympy.sin(theta)), s, X) < 1e-10


def test_one_variable_scaled_arguments():
    z = sympy.Symbol("z", positive=True)
    s = [z]
    X = _rows([(0.5, 20)])
    y = 1 / (np.exp(X[:, 0] / (2 * np.pi)) - 1)  # the Planck factor, after its prefactor
    best = rational_search(X, y, s)[0]
    assert best.features == ("exp(1/(2*pi)*x**1)",)
    truth = 1 / (sympy.exp(z / (2 * sympy.pi)) - 1)
    assert _close(best.expr, truth, s, X) < 1e-9


def test_no_formula_with_a_pole_inside_the_data():
    x = sympy.Symbol("x")
    s = [x]
    X = _rows([(0, 1)])
    y = 1 / (X[:, 0] - 0.5)
    for candidate in rational_search(X, y, s):
        _, denominator = sympy.fraction(sympy.together(candidate.expr))
        values = sympy.lambdify(x, denominator, "numpy")(X[:, 0])
        values = np.broadcast_to(values, X[:, 0].shape)
        assert values.min() * values.max() > 0


def test_deadline_is_respected():
    s = sympy.symbols("a b c d")
    X = _rows([(1, 2)] * 4)
    y = np.cos(X[:, 0] * X[:, 1]) + np.exp(X[:, 2] / X[:, 3])  # not rational in any map
    tic = time.perf_counter()
    rational_search(X, y, s, deadline=time.perf_counter() + 1.0)
    assert time.perf_counter() - tic < 5.0
    assert rational_search(X, y, s, deadline=time.perf_counter() - 1.0) == []


def _noisy(y, level, seed=1):
    rng = np.random.default_rng(seed)
    return y + rng.normal(0.0, level * float(np.sqrt(np.mean(y**2))), size=y.shape)


def test_noisy_rational_function_is_found_by_the_sparse_support_search():
    # at 1% noise the null vector of the (3, 2) monomial design is mostly noise (its smallest
    # singular values cluster), so thresholding it never leaves the four true terms
    u, v, c = s = sympy.symbols("u v c", positive=True)
    X = _rows([(1, 5), (1, 5), (3, 10)], n=2000)
    truth = (u + v) / (1 + u * v / c**2)
    y = _noisy((X[:, 0] + X[:, 1]) / (1 + X[:, 0] * X[:, 1] / X[:, 2] ** 2), 0.01)
    small = dict(max_degree=3, max_denominator_degree=2, transforms=("identity",), features=("x",))
    found = rational_search(X, y, s, noisy=True, **small)
    rows = _rows([(1, 5), (1, 5), (3, 10)], n=400, seed=5)
    close = [c for c in found if c.terms == 4 and _close(c.expr, truth, s, rows) < 0.01]
    assert close, [str(c.expr) for c in found]
    # the same data without ``noisy``: the thresholded null vectors miss it
    plain = rational_search(X, y, s, **small)
    assert not [c for c in plain if c.terms == 4 and _close(c.expr, truth, s, rows) < 0.01]


def test_noisy_leaf_ranks_simple_forms_first_and_keeps_the_true_one():
    z = sympy.Symbol("z", positive=True)
    X = _rows([(0.1, 0.7)], n=2000)
    y = _noisy(1 / np.sqrt(1 - X[:, 0] ** 2), 0.01)
    small = dict(max_degree=2, max_denominator_degree=2, features=("x", "exp"))
    found = rational_search(X, y, [z], noisy=True, keep=10, **small)
    # the first candidates are the simplest of those that fit to the noise's resolution
    best = min(c.rmse for c in found)
    leading = [c for c in found if c.rmse <= 1.05 * best]
    costs = [c.terms + (c.transform != "identity") for c in leading[:3]]
    assert costs == sorted(costs)
    truth = 1 / sympy.sqrt(1 - z**2)
    assert any(_close(c.expr, truth, [z], X) < 0.01 for c in found)


def test_reweighting_leaves_exact_fits_unchanged():
    x = sympy.Symbol("x", positive=True)
    X = _rows([(0.5, 3)])
    y = (1 + X[:, 0]) / (2 + X[:, 0] ** 2)
    small = dict(max_degree=2, max_denominator_degree=2, features=("x",))
    exact = rational_search(X, y, [x], **small)[0]
    noisy_mode = rational_search(X, y, [x], noisy=True, **small)[0]
    assert exact.rmse < 1e-12 and noisy_mode.rmse < 1e-12
    assert _close(noisy_mode.expr, (1 + x) / (2 + x**2), [x], X) < 1e-9
