"""The speed benchmarks run in their quick modes and print their rows (nothing is timed here)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
DOCS = ROOT / "docs" / "benchmarks.md"


def run_script(name: str, *args: str) -> str:
    """Run ``benchmarks/name`` with one OpenMP thread; it must exit 0 and leave the docs alone."""
    before = DOCS.read_bytes()
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert DOCS.read_bytes() == before, f"{name} wrote {DOCS} despite --no-docs"
    return done.stdout


def rows_of(output: str, *cells: str) -> list[str]:
    """Markdown table rows that contain every one of ``cells`` (as whole cells)."""
    return [
        line
        for line in output.splitlines()
        if line.startswith("|") and all(f"| {cell} |" in line for cell in cells)
    ]


def test_gpu_benchmark_runs_on_the_cpu() -> None:
    output = run_script("gpu.py", "--device", "cpu", "--quick", "--no-docs")
    for problem in ("poisson2d", "helmholtz2d"):
        for dtype in ("float32", "float64"):
            for batch in ("2^10", "2^12"):
                for network in ("KAN", "MLP"):
                    assert len(rows_of(output, problem, dtype, batch, network)) == 1, (
                        problem,
                        dtype,
                        batch,
                        network,
                    )
    assert "target ≥ 1e7 on one H100: not applicable: measured on the CPU" in output


@pytest.mark.slow
def test_pinn_speed_quick() -> None:
    output = run_script("pinn_speed.py", "--quick", "--no-docs")
    # the engines agree before anything is timed
    assert len(rows_of(output, "KAN: Taylor vs autograd engine")) == 1
    assert "| **no** |" not in output
    for dtype in ("float64", "float32"):
        for label in ("kanphys KAN, taylor", "kanphys KAN, autograd", "kanphys MLP, taylor"):
            assert len(rows_of(output, dtype, label)) == 1, (dtype, label)
        if importlib.util.find_spec("deepxde") is not None:
            assert len(rows_of(output, dtype, "DeepXDE FNN, autograd")) == 1
    assert len(rows_of(output, "[2,2,1]", "kanphys KAN, taylor, Adam")) == 1
    if importlib.util.find_spec("kan") is not None:
        assert len(rows_of(output, "[2,2,1]", "pykan 0.2.8 (tutorial), Adam")) == 1
        assert "the tutorial's own optimiser step" in output
    assert "collocation points·steps/s (target ≥ 100,000" in output
    assert len(rows_of(output, "4,000 (reference)")) == 1
    assert "memory method: VmHWM growth" in output or "memory method: ru_maxrss" in output


@pytest.mark.deepxde
def test_deepxde_compare_quick() -> None:
    pytest.importorskip("deepxde")
    output = run_script("deepxde_compare.py", "--quick", "--problems", "soft")
    fnn, kan = "DeepXDE FNN [2,20,20,20,1] tanh", "kanphys KAN [2,30,1] B-spline G=5"
    for network in (fnn, kan):
        assert (
            len(
                rows_of(output, "Poisson 2-D, soft BC", network, "921" if network == fnn else "900")
            )
            == 1
        )
        # the equal-budget table: one row per learning rate
        for lr in ("0.001", "0.01"):
            assert len(rows_of(output, "Poisson 2-D, soft BC", network, lr)) == 1, (network, lr)
    assert "Poisson 2-D, soft BC: KAN/FNN time per Adam iteration" in output
    assert "- Poisson 2-D, soft BC: best end error KAN" in output


def test_compile_probe_quick() -> None:
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("torch.compile on the CPU needs a C++ compiler")
    output = run_script("compile_probe.py", "--quick")
    assert "the traceable step is one Dynamo graph" in output
    rows = rows_of(output, "KAN [2,8,1] G=5", "121 (+32)", "float32")
    assert len(rows) == 1
    # every timing cell is a positive number
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert all(float(c) > 0 for c in cells[3:7]), cells
