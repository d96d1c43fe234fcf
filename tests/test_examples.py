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
