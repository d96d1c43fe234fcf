"""LawDiscovery recovers known laws exactly and reports the formula's own error."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy
import torch

from kanphys.cli import main
from kanphys.discovery import LawDiscovery
from kanphys.errors import ConfigError, ShapeError


@pytest.fixture(autouse=True)
def one_thread():
    # the discovery works on many tiny tensors: one thread is faster and not disturbed by load
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sample(ranges, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(low, high, n) for low, high in ranges], axis=1)


def equivalent(found: sympy.Expr, truth: str, names) -> bool:
    symbols = {s.name: s for s in found.free_symbols}
    symbols.update({n: sympy.Symbol(n, positive=True) for n in names if n not in symbols})
    expected = sympy.sympify(truth, locals=symbols)
    return sympy.simplify(found - expected) == 0


@pytest.mark.parametrize(
    ("truth", "function", "ranges"),
    [
        ("x0*x1", lambda X: X[:, 0] * X[:, 1], [(1, 5), (1, 5)]),
        (
            "exp(sin(pi*x0) + x1**2)",
            lambda X: np.exp(np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2),
            [(-1, 1), (-1, 1)],
        ),
        ("sin(x0)/x0", lambda X: np.sin(X[:, 0]) / X[:, 0], [(1, 5)]),
        (
            "x0/(4*pi*x1*x2**2)",
            lambda X: X[:, 0] / (4 * np.pi * X[:, 1] * X[:, 2] ** 2),
            [(1, 5)] * 3,
        ),
    ],
)
def test_recovers_exact_laws(truth, function, ranges):
    X = sample(ranges)
    estimator = LawDiscovery(seed=0, time_limit=120).fit(X, function(X))
    names = [f"x{i}" for i in range(len(ranges))]
    assert equivalent(estimator.formula_, truth, names), estimator.formula_string_
    # the formula itself predicts the held-out rows to round-off
    assert estimator.r2_test_ > 1 - 1e-12
    assert estimator.rmse_test_ < 1e-8 * float(np.std(function(X)))
    assert sum(c.chosen for c in estimator.pareto_) == 1


def test_product_of_sines_in_the_raw_view():
    X = sample([(-1, 1), (-1, 1)])
    y = np.sin(np.pi * X[:, 0]) * np.sin(np.pi * X[:, 1])
    estimator = LawDiscovery(seed=0, views=["raw"], time_limit=120).fit(X, y, names=["x", "y"])
    assert equivalent(estimator.formula_, "sin(pi*x)*sin(pi*y)", ["x", "y"])
    chosen = next(c for c in estimator.pareto_ if c.chosen)
    assert chosen.view == "raw"


def test_estimator_interface_and_result_contract():
    X = sample([(1, 3), (1, 3)], n=1000)
    y = 2.5 * X[:, 0] / X[:, 1]
    estimator = LawDiscovery(seed=1, time_limit=60)
    assert estimator.fit(X, y, names=["a", "b"], target="ratio") is estimator
    assert equivalent(estimator.formula_, "5*a/(2*b)", ["a", "b"])
    new = sample([(1, 3), (1, 3)], n=50, seed=7)
    np.testing.assert_allclose(estimator.predict(new), 2.5 * new[:, 0] / new[:, 1], rtol=1e-10)
    assert estimator.score(new, 2.5 * new[:, 0] / new[:, 1]) == pytest.approx(1.0, abs=1e-12)
    result = estimator.to_dict()
    for key in ("formula", "r2_test", "rmse_test", "complexity", "pareto", "wall_time_s"):
        assert key in result
    assert result["variables"] == ["a", "b"] and result["target"] == "ratio"
    assert all({"formula", "complexity", "r2_test"} <= set(p) for p in result["pareto"])
    parsed = sympy.parse_expr(result["formula"], local_dict={n: sympy.Symbol(n) for n in "ab"})
    assert (
        sympy.simplify(parsed - sympy.Rational(5, 2) * sympy.Symbol("a") / sympy.Symbol("b")) == 0
    )
    assert result["complexity"] == sympy.count_ops(estimator.formula_)
    json.dumps(result)  # machine-readable as it is


def test_noisy_measurements_keep_the_law():
    X = sample([(1, 5), (1, 5)], n=2000, seed=3)
    clean = X[:, 0] * X[:, 1]
    rng = np.random.default_rng(4)
    y = clean + rng.normal(0, 0.01 * np.sqrt(np.mean(clean**2)), clean.shape)
    estimator = LawDiscovery(seed=0, noise_aware=True, time_limit=120).fit(X, y)
    assert equivalent(estimator.formula_, "x0*x1", ["x0", "x1"]), estimator.formula_string_
    # error of the formula on the noisy test rows is the noise level (about 0.01 RMS(y))
    assert estimator.rmse_test_ < 1.2 * 0.01 * float(np.sqrt(np.mean(clean**2)))


def test_noisy_rational_law_is_recovered_exactly():
    """(m1 r1 + m2 r2) / (m1 + m2) at 1% noise: found by the sparse-support search of the
    closed forms, its constants snapped to 1 under the likelihood-ratio test."""
    X = sample([(1, 5)] * 4, n=6000, seed=5)
    clean = (X[:, 0] * X[:, 2] + X[:, 1] * X[:, 3]) / (X[:, 0] + X[:, 1])
    rng = np.random.default_rng(6)
    y = clean + rng.normal(0, 0.01 * np.sqrt(np.mean(clean**2)), clean.shape)
    names = ["m1", "m2", "r1", "r2"]
    estimator = LawDiscovery(seed=0, noise_aware=True, views=["raw"], time_limit=40)
    estimator.fit(X, y, names=names)
    truth = "(m1*r1 + m2*r2)/(m1 + m2)"
    assert equivalent(estimator.formula_, truth, names), estimator.formula_string_


def test_irrelevant_input_is_dropped():
    X = sample([(1, 3), (1, 3), (1, 3)], n=1500)
    y = X[:, 0] ** 2
    estimator = LawDiscovery(seed=0, time_limit=60).fit(X, y, names=["p", "q", "r"])
    assert equivalent(estimator.formula_, "p**2", ["p", "q", "r"])


def test_errors():
    X = sample([(1, 2)], n=100)
    with pytest.raises(ConfigError, match="not fitted yet"):
        LawDiscovery().predict(X)
    with pytest.raises(ConfigError, match=r"views must be a list drawn from \['raw', 'log'"):
        LawDiscovery(views="raw").fit(X, X[:, 0])
    with pytest.raises(ConfigError, match="test_fraction must be a number in"):
        LawDiscovery(test_fraction=0.7).fit(X, X[:, 0])
    with pytest.raises(ConfigError, match="sparsity must be a finite number >= 0"):
        LawDiscovery(sparsity=-1).fit(X, X[:, 0])
    with pytest.raises(ConfigError, match="steps must be an integer >= 1"):
        LawDiscovery(steps=0).fit(X, X[:, 0])
    with pytest.raises(ConfigError, match="likelihood_snap must be True, False or None"):
        LawDiscovery(likelihood_snap="yes").fit(X, X[:, 0])
    with pytest.raises(ShapeError, match="3 usable rows"):
        LawDiscovery().fit(X[:3], X[:3, 0])
    with pytest.raises(ConfigError, match="none of the views"):
        LawDiscovery(views=["log"]).fit(X - 1.5, X[:, 0] - 1.5)
    estimator = LawDiscovery(seed=0, views=["log"], time_limit=30).fit(X, X[:, 0] ** 2)
    with pytest.raises(ConfigError, match=r"X must have shape \(N, 1\) with columns \['x0'\]"):
        estimator.predict(np.ones((3, 2)))


def test_discover_cli(tmp_path, capsys):
    X = sample([(1, 3), (1, 3)], n=800)
    path = tmp_path / "data.csv"
    rows = ["m,a,F,junk"] + [f"{m},{a},{m * a},{i % 7}" for i, (m, a) in enumerate(X)]
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    status = main(["discover", str(path), "--target", "F", "--inputs", "m,a", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "formula     F = a*m" in printed
    result = json.loads((out / "result.json").read_text())
    assert result["formula"] == "a*m" and result["r2_test"] > 1 - 1e-12
    # found in closed form before any network: no diagram, and the reason is printed
    assert "kan.png     not drawn" in printed and not (out / "kan.png").exists()
    assert result["structure"]["steps"][0]["exact"] is True
    status = main(["discover", str(path), "--target", "F", "--no-structure", "--out", str(out)])
    assert status == 0 and "formula     F = a*m" in capsys.readouterr().out
    assert (out / "kan.png").stat().st_size > 1000
    status = main(["discover", str(path), "--target", "G", "--out", str(out)])
    assert status == 2
    assert "target column 'G' is not in" in capsys.readouterr().err
    status = main(["discover", str(path), "--target", "F", "--inputs", "m,F"])
    assert status == 2
    assert "'F' is also listed as an input" in capsys.readouterr().err
    assert math.isfinite(result["wall_time_s"])


def test_snap_tolerance_is_a_likelihood_ratio_test_for_noisy_data():
    from kanphys.discovery.law import SNAP_CHI2, snap_tolerance

    assert snap_tolerance(0.02, False, 1000) == 0.02
    # 1,000 validation rows: the RMSE may grow by sqrt(1 + 10.83/1000) - 1 = 0.54%
    assert math.isclose(snap_tolerance(0.02, True, 1000), math.sqrt(1 + SNAP_CHI2 / 1000) - 1)
    assert 0.005 < snap_tolerance(0.02, True, 1000) < 0.006
    assert snap_tolerance(0.02, True, 10) == 0.02  # never looser than the user's tolerance
    assert LawDiscovery(noise_aware=True).likelihood()
    assert not LawDiscovery(noise_aware=True, likelihood_snap=False).likelihood()
    assert not LawDiscovery().likelihood()
