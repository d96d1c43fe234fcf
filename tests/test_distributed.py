"""Data-parallel training (torch.distributed, gloo, 2 CPU processes) against single-process runs.

The distributed loss is the single-process loss written as an average over ranks, so the two
runs differ only by floating-point summation order: the numbers below agree to ~1e-12 relative
after a few hundred Adam and L-BFGS steps in float64 (tolerances 1e-8 leave room for the
amplification of round-off over the run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import kanphys
from kanphys.errors import ConfigError
from kanphys.training.distributed import init_distributed

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="needs torch.distributed with gloo",
)

REPO = Path(__file__).resolve().parents[1]

# one script for both modes: distributed under torchrun, plain otherwise
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    import kanphys
    torch.set_num_threads(1)
    problem, out, distributed = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    training = json.loads(sys.argv[4])
    model = json.loads(sys.argv[5])
    result = kanphys.solve(problem, training=training, model=model, out=out, plots=False,
                           device="cpu", distributed=distributed)
    rank = int(os.environ.get("RANK", "0"))
    history = [row["loss"] for row in result.history]
    params = [p.detach().reshape(-1) for p in result.model.parameters()]
    record = {"metrics": result.metrics, "history": history,
              "params": torch.cat(params).tolist()}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as handle:
        json.dump(record, handle)
    """
)


def _run(tmp_path: Path, name: str, problem: str, training: dict, model: dict, ranks: int) -> dict:
    script = tmp_path / "run_solve.py"
    script.write_text(SCRIPT)
    out = tmp_path / name
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    arguments = [str(script), problem, str(out), "1" if ranks > 1 else "0"]
    arguments += [json.dumps(training), json.dumps(model)]
    if ranks > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*launcher, f"--nproc_per_node={ranks}", *arguments]
    else:
        env = {k: v for k, v in env.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        command = [sys.executable, *arguments]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = {rank: json.loads((out / f"rank{rank}.json").read_text()) for rank in range(ranks)}
    records["out"] = out  # type: ignore[assignment]
    return records


def _assert_same_run(single: dict, multi: dict, *, rtol: float) -> None:
    a, b = single["metrics"], multi["metrics"]
    assert b["status"] == a["status"] == "completed"
    assert b["steps"] == a["steps"]
    assert b["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert a["distributed"] is None
    assert b["final_loss"] == pytest.approx(a["final_loss"], rel=rtol)
    for field, error in a["rel_l2"].items():
        assert b["rel_l2"][field] == pytest.approx(error, rel=rtol)
    for name, value in a["parameters"].items():
        assert b["parameters"][name] == pytest.approx(value, rel=rtol)
    assert multi["history"] == pytest.approx(single["history"], rel=rtol)
    assert multi["params"] == pytest.approx(single["params"], rel=rtol, abs=rtol)


def test_two_process_run_matches_one_process(tmp_path: Path) -> None:
    """Soft boundary terms, RAD resampling, adaptive weights, odd shard sizes, L-BFGS."""
    training = {
        "steps": 120,
        "lbfgs_steps": 15,
        "n_collocation": 301,  # odd: the ranks' shards differ in size
        "n_boundary": 101,
        "resample": "rad",
        "resample_every": 40,
        "adaptive_weights": True,
        "dtype": "float64",
        "checkpoint_every": 50,
    }
    model = {"hidden": [6], "grid_size": 4, "hard_constraints": False}
    single = _run(tmp_path, "single", "poisson2d", training, model, ranks=1)
    multi = _run(tmp_path, "multi", "poisson2d", training, model, ranks=2)
    _assert_same_run(single[0], multi[0], rtol=1e-8)
    # every rank ends with the same parameters; only rank 0 reports the error
    assert multi[1]["params"] == multi[0]["params"]
    assert multi[1]["metrics"]["rel_l2"] == {}
    assert multi[0]["metrics"]["rel_l2"]["u"] < 0.5
    # rank 0 wrote the outputs; the checkpoint is a single file set, not one per rank
    out = multi["out"]
    assert {p.name for p in out.iterdir()} >= {"result.json", "model.pt", "history.csv"}
    assert json.loads((out / "result.json").read_text())["distributed"]["world_size"] == 2


def test_grid_refinement_keeps_the_ranks_identical(tmp_path: Path) -> None:
    """A grid refinement from the training points (same on every rank), then more training.

    Refined grids put the extreme samples exactly on knots, where the cubic B-splines' third
    derivative (which the gradient of a second-order residual uses) jumps; round-off decides
    the side, so the one- and two-process runs part at the level of the optimisation itself
    after the refinement: the ranks stay identical and the error stays comparable.
    """
    training = {"steps": 120, "lbfgs_steps": 10, "n_collocation": 301, "n_boundary": 101}
    training |= {"grid_schedule": [[60, 7]], "dtype": "float64"}
    model = {"hidden": [6], "grid_size": 4, "hard_constraints": False}
    single = _run(tmp_path, "single", "poisson2d", training, model, ranks=1)
    multi = _run(tmp_path, "multi", "poisson2d", training, model, ranks=2)
    assert multi[1]["params"] == multi[0]["params"]
    # identical up to the refinement at step 60
    assert multi[0]["history"][:60] == pytest.approx(single[0]["history"][:60], rel=1e-10)
    assert multi[0]["metrics"]["model"]["grid_size"] == single[0]["metrics"]["model"]["grid_size"]
    error, reference = multi[0]["metrics"]["rel_l2"]["u"], single[0]["metrics"]["rel_l2"]["u"]
    assert error == pytest.approx(reference, rel=0.25)


def test_two_process_inverse_problem_matches(tmp_path: Path) -> None:
    """Trainable PDE coefficient and a data term (heat_inverse), Adam then L-BFGS."""
    training = {"steps": 150, "lbfgs_steps": 10, "n_collocation": 200, "dtype": "float64"}
    single = _run(tmp_path, "single", "heat_inverse", training, {"hidden": [5]}, ranks=1)
    multi = _run(tmp_path, "multi", "heat_inverse", training, {"hidden": [5]}, ranks=2)
    _assert_same_run(single[0], multi[0], rtol=1e-8)
    assert multi[0]["metrics"]["parameters"]  # kappa was trained


def test_cli_under_torchrun_trains_and_writes_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "kanphys", "solve", "poisson2d", "--device", "cpu", "--steps", "30"]
    command += ["--lbfgs-steps", "0", "--n-collocation", "200", "--no-plots", "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # one summary (rank 0's), saying it ran on two processes
    assert done.stdout.count("rel. L2") == 1
    assert "distributed 2 processes (gloo)" in done.stdout
    metrics = json.loads((out / "result.json").read_text())
    assert metrics["status"] == "completed" and metrics["distributed"]["world_size"] == 2


def test_distributed_without_a_launcher_says_how_to_start(monkeypatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=r"launched by torchrun.*--nproc_per_node"):
        init_distributed("cpu")
    with pytest.raises(ConfigError, match="launched by torchrun"):
        kanphys.solve("poisson2d", training={"steps": 1}, device="cpu", distributed=True)
