"""Soak test: one long physics-informed run, resident memory recorded every minute.

Trains a built-in problem with the library's own loop for ``--minutes`` (default 30) with
periodic RAD resampling, grid updates and checkpoints (every feature that allocates), and
records the resident set size (``VmRSS``), the step and the loss every ``--interval`` seconds.
Memory must stay flat: growth would come from retained autograd graphs, histories or caches.
The table goes to docs/reliability.md between ``<!-- soak:start -->`` / ``<!-- soak:end -->``.

Run:  python benchmarks/soak.py [--minutes 30] [--problem poisson2d] [--no-docs]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _sections import replace_section

import kanphys
from kanphys.training.pinn import TrainState

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- soak:start -->", "<!-- soak:end -->"


def resident_mib() -> float:
    """Resident set size of this process (Linux ``/proc/self/status``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (the soak test needs Linux)")


def soak(problem: str, minutes: float, interval: float, threads: int) -> list[dict[str, Any]]:
    torch.set_num_threads(threads)
    samples: list[dict[str, Any]] = []
    started = time.perf_counter()
    next_sample = [0.0]

    def record(state: TrainState) -> bool:
        now = time.perf_counter() - started
        if now >= next_sample[0]:
            samples.append(
                {"minute": now / 60, "step": state.step, "rss": resident_mib(),
                 "loss": state.last_loss}
            )  # fmt: skip
            print(
                f"{now / 60:6.1f} min  step {state.step:8d}  RSS {samples[-1]['rss']:8.1f} MiB"
                f"  loss {state.last_loss:.3e}",
                flush=True,
            )
            next_sample[0] += interval
        return False

    training = {
        "steps": 10**9,
        "lbfgs_steps": 0,
        "time_limit": minutes * 60,
        "resample": "rad",
        "resample_every": 200,
        "grid_update_every": 500,
        "checkpoint_every": 1000,
        "n_collocation": 1000,
    }
    with tempfile.TemporaryDirectory() as out:
        result = kanphys.solve(
            problem, training=training, out=out, plots=False, device="cpu", callback=record
        )
    samples.append(
        {"minute": (time.perf_counter() - started) / 60, "step": result.metrics["steps"],
         "rss": resident_mib(), "loss": result.metrics["final_loss"]}
    )  # fmt: skip
    return samples


def report(samples: list[dict[str, Any]], command: str, problem: str, threads: int) -> str:
    """The docs section. ``samples[-1]`` is taken after the run returned (evaluation
    included); the trend is the least-squares slope of the training samples after the first
    minute (warm-up: first allocations, caches)."""
    training, after = samples[:-1], samples[-1]
    warm = [s for s in training if s["minute"] >= 1.0] or training
    minutes = np.array([s["minute"] for s in warm])
    rss = np.array([s["rss"] for s in warm])
    slope = float(np.polyfit(minutes, rss, 1)[0]) if len(warm) > 1 else 0.0
    late = [s["rss"] for s in warm if s["minute"] >= minutes[-1] - 10]
    rows = "\n".join(
        f"| {s['minute']:.1f} | {s['step']:,} | {s['rss']:.1f} | {s['loss']:.3e} |"
        for s in training
    )
    rows += (
        f"\n| {after['minute']:.1f} (run returned) | {after['step']:,} | {after['rss']:.1f} "
        f"| {after['loss']:.3e} |"
    )
    return f"""{START}
## Soak test (`benchmarks/soak.py`)

One `kanphys.solve` run of `{problem}` with RAD resampling every 200 steps, grid updates every
500 steps and a checkpoint every 1,000 steps, trained until its time limit; the resident set
(`VmRSS`) was read every minute from a training callback, and once more after `solve`
returned (which includes the evaluation on the reference grid).

- command: `{command}`
- date: {datetime.datetime.now():%Y-%m-%d %H:%M}; {platform.processor() or platform.machine()},
  torch {torch.__version__} with {threads} thread(s), kanphys {kanphys.__version__}
- steps: {after["step"]:,} in {after["minute"]:.1f} min
- resident memory while training, after the first minute: {rss.min():.1f} to {rss.max():.1f}
  MiB; least-squares trend **{slope:+.2f} MiB per minute**; last 10 minutes {min(late):.1f} to
  {max(late):.1f} MiB
- after the run returned: {after["rss"]:.1f} MiB

| minute | step | RSS (MiB) | loss |
|---:|---:|---:|---:|
{rows}
{END}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--problem", default="poisson2d")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "reliability.md")
    args = parser.parse_args(argv)
    samples = soak(args.problem, args.minutes, args.interval, args.threads)
    shown = ["python", "benchmarks/soak.py", *(sys.argv[1:] if argv is None else argv)]
    section = report(samples, shlex.join(shown), args.problem, args.threads)
    print(section)
    if not args.no_docs:
        replace_section(args.output, START, END, section)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
