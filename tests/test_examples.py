"""Every example runs in smoke mode and produces sensible numbers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.examples
def test_every_example_has_a_smoke_mode() -> None:
    scripts = sorted(EXAMPLES.glob("*.py"))
    assert scripts, "no examples found"
    for script in scripts:
        assert "--smoke" in script.read_text(), f"{script.name} has no --smoke mode"


@pytest.mark.examples
def test_fit_function_smoke(tmp_path: Path) -> None:
    results = load("fit_function").main(["--smoke", "--output", str(tmp_path)])
    # grid refinement keeps improving the fit, and even the smoke run is far below the data scale
    assert results["kan_G5"] < results["kan_G3"]
    assert results["kan_G5"] < 0.1
    assert (tmp_path / "kan.pt").is_file()


@pytest.mark.examples
def test_fit_function_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "fit_function.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "KAN [2,5,1] G=5" in done.stdout


@pytest.mark.examples
def test_solve_pde_smoke(tmp_path: Path) -> None:
    results = load("solve_pde").main(["--smoke", "--output", str(tmp_path)])
    # even 80 steps solve the damped heat equation to about 1e-3 and identify kappa roughly
    assert results["forward_rel_l2"] < 1e-2
    assert abs(results["kappa"] - 0.1) < 0.02
    assert (tmp_path / "forward" / "result.json").is_file()
    assert (tmp_path / "inverse" / "solution.png").is_file()


@pytest.mark.examples
def test_discover_law_smoke(tmp_path: Path) -> None:
    import numpy as np

    results = load("discover_law").main(["--smoke", "--output", str(tmp_path)])
    law = results["law"]
    # 1% noise: the formula follows the inverse-square law G m1 m2 / r^2 to about the noise
    # level on fresh points (the constants carry the noise's uncertainty)
    rng = np.random.default_rng(5)
    X = np.stack([rng.uniform(1, 5, 500), rng.uniform(1, 5, 500), rng.uniform(1, 3, 500)], 1)
    truth = 6.674 * X[:, 0] * X[:, 1] / X[:, 2] ** 2
    assert np.max(np.abs(law.predict(X) / truth - 1)) < 0.02
    assert {s.name for s in law.formula_.free_symbols} == {"m1", "m2", "r"}
    assert results["r2_test"] > 0.999
    assert (tmp_path / "kan.png").stat().st_size > 1000


@pytest.mark.examples
@pytest.mark.deepxde
def test_deepxde_poisson1d_smoke() -> None:
    pytest.importorskip("deepxde")
    import sympy

    results = load("deepxde_poisson1d").main(["--smoke"])
    # one B-spline edge (G=10) after 600 Adam + 200 L-BFGS steps; measured 2.7e-4
    assert results["rel_l2"] < 1e-3
    x = sympy.Symbol("x", real=True)
    formula = results["formula"]
    assert formula.has(sympy.sin) and formula.free_symbols == {x}
    values = sympy.lambdify(x, formula - sympy.sin(sympy.pi * x))
    grid = [k / 10 for k in range(-10, 11)]
    assert max(abs(values(v)) for v in grid) < 1e-3


@pytest.mark.examples
@pytest.mark.deepxde
def test_deepxde_poisson2d_hard_smoke() -> None:
    pytest.importorskip("deepxde")
    results = load("deepxde_poisson2d_hard").main(["--smoke"])
    assert results["boundary_max"] == 0.0  # the output transform imposes u = 0 exactly
    assert results["rel_l2"] < 1e-2


@pytest.mark.examples
@pytest.mark.deepxde
def test_deepxde_burgers_smoke() -> None:
    pytest.importorskip("deepxde")
    results = load("deepxde_burgers").main(["--smoke"])
    # 200 Adam steps only learn the initial profile's scale: the bound checks that training ran
    # and that the error is measured against the Cole-Hopf solution (an untrained net: ~1)
    assert 0.0 < results["rel_l2"] < 0.8


@pytest.mark.examples
@pytest.mark.deepxde
def test_deepxde_lorenz_inverse_smoke() -> None:
    pytest.importorskip("deepxde")
    results = load("deepxde_lorenz_inverse").main(["--smoke"])
    # the coefficients start at 1: the smoke run must move each toward the truth
    for name, truth in {"sigma": 10.0, "rho": 15.0, "beta": 8.0 / 3.0}.items():
        assert abs(results[name] - truth) < 0.6 * abs(1.0 - truth), name
