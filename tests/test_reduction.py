"""Symmetry tests from gradients, the reductions they give, and the structured search."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import sympy
import torch

from kanphys.discovery import LawDiscovery
from kanphys.discovery.reduction import (
    StructureReport,
    Surrogate,
    scaling_reduction,
    scaling_symmetries,
    structured_search,
    translation_reduction,
    translation_symmetries,
)


def _rows(ranges, n=800, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(lo, hi, n) for lo, hi in ranges])


def _gradient(expr, symbols, X):
    """Exact values and gradients of ``expr`` on the rows ``X``."""
    values = sympy.lambdify(symbols, expr, "numpy")(*X.T)
    grads = [
        np.broadcast_to(sympy.lambdify(symbols, sympy.diff(expr, s), "numpy")(*X.T), X[:, 0].shape)
        for s in symbols
    ]
    return np.asarray(values, dtype=float), np.column_stack(grads)


def test_translation_directions_of_a_distance():
    x1, x2, y1, y2 = s = sympy.symbols("x1 x2 y1 y2")
    X = _rows([(1, 5)] * 4)
    _, gradients = _gradient(sympy.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2), s, X)
    directions = translation_symmetries(gradients)
    assert directions == [[1, 1, 0, 0], [0, 0, 1, 1]]
    reduction = translation_reduction(X, X[:, 0], s, directions)
    assert reduction.variables == [x1 - x2, y1 - y2]
    assert np.allclose(reduction.X, np.column_stack([X[:, 0] - X[:, 1], X[:, 2] - X[:, 3]]))


def test_scaling_relations_reduce_a_boltzmann_factor_to_one_variable():
    n0, m, x, T = s = sympy.symbols("n_0 m x T", positive=True)
    truth = n0 * sympy.exp(-m * x / T)
    X = _rows([(1, 3)] * 4)
    _, log_gradients = _gradient(sympy.log(truth), s, X)
    relations = scaling_symmetries(X, np.zeros(len(X)), log_gradients, range(4), log_target=True)
    assert len(relations) == 3
    y = sympy.lambdify(s, truth, "numpy")(*X.T)
    reduction = scaling_reduction(X, y, s, range(4), relations)
    assert reduction is not None and reduction.prefactor == n0
    (z,) = reduction.variables
    assert sympy.simplify(z - m * x / T) == 0 or sympy.simplify(z - T / (m * x)) == 0
    # the new target is an exact function of the invariant, computed from the data
    zeta = sympy.lambdify(s, z, "numpy")(*X.T)
    assert np.allclose(reduction.y, np.exp(-zeta)) or np.allclose(reduction.y, np.exp(-1 / zeta))


def test_ratio_versus_product_negative_control():
    """a sqrt(1 + (b/c)^2) depends on b/c (b and c scale together), not on b*c."""
    a, b, c = s = sympy.symbols("a b c", positive=True)
    truth = a * sympy.sqrt(1 + (b / c) ** 2)
    X = _rows([(1, 5)] * 3)
    values, gradients = _gradient(truth, s, X)
    relations = scaling_symmetries(X, values, gradients, range(3))
    as_tuples = {(tuple(a_), b_) for a_, b_ in relations}
    assert ((1, 0, 0), Fraction(1)) in as_tuples
    assert ((0, 1, 1), Fraction(0)) in as_tuples
    assert all(a_ != [0, 1, -1] for a_, _ in relations)  # b*c is not invariant


def test_surrogate_gradients_are_accurate():
    X = _rows([(1, 3), (1, 3)], n=1500)
    y = X[:, 0] ** 2 / X[:, 1]
    surrogate = Surrogate(X, y, seed=0, steps=400)
    assert surrogate.log_target
    values, gradients = surrogate.gradient(X[:200])
    exact = np.column_stack([2 / X[:200, 0], -1 / X[:200, 1]])  # of log y
    assert np.max(np.abs(values - np.log(y[:200]))) < 5e-3
    relative = np.linalg.norm(gradients - exact, axis=1) / np.linalg.norm(exact, axis=1)
    assert np.median(relative) < 5e-3 and relative.max() < 5e-2


def test_structured_search_recovers_a_law_through_its_symmetries():
    torch.set_num_threads(1)
    n0, m, x, T = s = sympy.symbols("n_0 m x T", positive=True)
    truth = n0 / (2 * sympy.cosh(m * x / T))  # not rational in any one transformed variable
    X = _rows([(1, 3), (1, 2), (1, 2), (1, 3)], n=1500)
    y = sympy.lambdify(s, truth, "numpy")(*X.T)
    report = StructureReport()
    formulas = structured_search(X, y, s, deadline=time.perf_counter() + 90, report=report)
    assert report.steps[0]["exact"] is False  # the search had to reduce it
    assert report.steps[0]["reductions"][-1]["prefactor"] == "n_0"
    assert report.steps[1]["exact"] is True  # one variable, m x / T, rational in exp(z)
    errors = [
        np.max(np.abs(np.broadcast_to(sympy.lambdify(s, e, "numpy")(*X.T), y.shape) - y) / y)
        for e in formulas
    ]
    assert min(errors) < 1e-9


def test_law_discovery_with_and_without_structure():
    torch.set_num_threads(1)
    X = _rows([(1, 5), (1, 5), (3, 10)], n=1200)
    y = (X[:, 0] + X[:, 1]) / (1 + X[:, 0] * X[:, 1] / X[:, 2] ** 2)
    names = ["u", "v", "c"]
    estimator = LawDiscovery(seed=0, time_limit=60).fit(X, y, names=names)
    u, v, c = estimator.symbols_
    assert sympy.simplify(estimator.formula_ - (u + v) / (1 + u * v / c**2)) == 0
    assert next(p.view for p in estimator.pareto_ if p.chosen) == "structure"
    assert estimator.to_dict()["structure"]["steps"][0]["exact"] is True
    plain = LawDiscovery(seed=0, time_limit=20, structure=False).fit(X, y, names=names)
    assert all(p.view != "structure" for p in plain.pareto_)
    assert plain.to_dict()["structure"] == {}


def test_noisy_surrogate_keeps_the_symmetries_of_noisy_data():
    """m0 / sqrt(1 - v^2/c^2) at 1% noise: the surrogate for noisy data (all rows, a coarse
    grid, the loss of y) keeps both scaling relations (degree 1 in m0; v and c together)."""
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.uniform(1, 5, 8000), rng.uniform(1, 2, 8000), rng.uniform(3, 10, 8000)]
    )
    y = X[:, 0] / np.sqrt(1 - (X[:, 1] / X[:, 2]) ** 2)
    y = y + rng.normal(0.0, 0.01 * float(np.sqrt(np.mean(y**2))), size=y.shape)
    rows = np.arange(1000)

    def relations(surrogate):
        values, gradients = surrogate.gradient(X[rows])
        return scaling_symmetries(X[rows], values, gradients, range(3), log_target=True)

    found = relations(Surrogate(X, y, seed=0, steps=400, noisy=True))
    as_tuples = {(tuple(a), b) for a, b in found}
    assert ((1, 0, 0), Fraction(1)) in as_tuples
    assert ((0, 1, 1), Fraction(0)) in as_tuples
    # the surrogate for exact data (2,000 rows, a grid refined to 10) fits the noise instead
    assert len(relations(Surrogate(X, y, seed=0, steps=400))) < 2
