"""Crash safety: `kanphys solve` killed with SIGKILL at random moments, then resumed.

A killed run leaves either no checkpoint or a complete one (atomic writes); resuming from it
replays the same optimiser state, points and generator, so the run that finally completes
matches an uninterrupted one to round-off.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from heat_spec import heat_toml

from kanphys.io import load_model

REPO = Path(__file__).resolve().parents[1]
SPEC = heat_toml(
    "heat-kill",
    "steps = 400\nlbfgs_steps = 40\nn_collocation = 300\ncheckpoint_every = 25\n",
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _command(spec: Path, out: Path, resume: bool) -> list[str]:
    command = [sys.executable, "-m", "kanphys", "solve", str(spec), "--out", str(out)]
    command += ["--device", "cpu", "--no-plots", "--quiet"]
    return command + (["--resume"] if resume else [])


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _checkpoint_step(out: Path) -> int:
    """The step of the checkpoint in ``out`` (-1 without one or while it is being replaced)."""
    try:
        return int(json.loads((out / "model.json").read_text())["step"])
    except (OSError, ValueError, KeyError):
        return -1


def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "heat.toml"
    spec.write_text(SPEC)
    clean = tmp_path / "clean"
    subprocess.run(_command(spec, clean, False), env=_environment(), check=True, timeout=300)
    expected = json.loads((clean / "result.json").read_text())

    out = tmp_path / "killed"
    moments = random.Random(7)
    kills: list[str] = []
    checkpoints_seen: list[int] = []
    # first a kill during start-up (no checkpoint yet), then three kills each a random moment
    # after a new checkpoint appeared (possibly while the next one is being written)
    plan = ["early", "after-checkpoint", "after-checkpoint", "after-checkpoint", "finish"]
    for mode in plan:
        resume = (out / "model.pt").exists()
        process = subprocess.Popen(
            _command(spec, out, resume),
            env=_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if mode == "early":
            time.sleep(moments.uniform(0.3, 1.5))
        elif mode == "after-checkpoint":
            before = _checkpoint_step(out)
            deadline = time.monotonic() + 120
            while _checkpoint_step(out) == before and process.poll() is None:
                assert time.monotonic() < deadline, "no new checkpoint within 120 s"
                time.sleep(0.01)
            time.sleep(moments.uniform(0.0, 0.25))
        if mode != "finish" and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills.append(mode)
        _, errors = process.communicate(timeout=300)
        if mode == "finish" or process.returncode == 0:
            assert process.returncode == 0, errors.decode()[-2000:]
            break
        assert process.returncode == -signal.SIGKILL, errors.decode()[-2000:]
        if (out / "model.pt").exists():
            # whatever the moment of the kill, the checkpoint on disk is complete
            load_model(out / "model.pt")
            checkpoints_seen.append(_checkpoint_step(out))
    assert len(kills) >= 3, f"too few kills landed: {kills}"
    assert checkpoints_seen and all(step % 25 == 0 for step in checkpoints_seen)
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "completed" and result["steps"] == expected["steps"] == 440
    assert result["final_loss"] == pytest.approx(expected["final_loss"], rel=1e-9)
    assert result["rel_l2"]["u"] == pytest.approx(expected["rel_l2"]["u"], rel=1e-9)
