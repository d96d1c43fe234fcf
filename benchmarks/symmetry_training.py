"""Does a declared symmetry lower the error? Side by side, same data, seeds and budgets.

(a) Data fitting: four functions with a known symmetry, each fitted by a KAN ``[2, 5, 1]``
from few clean samples and from more samples with 5% noise, once plainly and once with the
symmetry declared (``FitConfig(symmetries=...)``, imposed at the samples and at
``--symmetry-points`` unlabelled points in their bounding box). The error is the relative L2
error against the exact function on 4000 uniform test points.

(b) PDE solving: ``poisson_disk_radial`` (rotation-invariant solution on the unit disk) with few
collocation points, once with its declared ``[[symmetry]]`` rotation and once without.

Medians over the seeds and the ratio ``with / without`` are printed as a Markdown table,
written to ``--out`` when given, and with ``--docs`` into ``docs/benchmarks.md`` between the
``<!-- symmetry_training:start -->`` / ``<!-- symmetry_training:end -->`` markers (appended
when the markers are missing), with the command, the commit, the date and the machine.
Everything runs on the CPU in float64.

    python benchmarks/symmetry_training.py --docs             # 5 seeds, the table in docs
    python benchmarks/symmetry_training.py --seeds 1 --steps 200 --pde-steps 50 50   # smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _sections import replace_section
from torch import Tensor

from kanphys import KAN, FitConfig, fit
from kanphys.pde.registry import get_problem
from kanphys.training.solve import solve
from kanphys.training.symmetry import Rotation, Scaling, Swap, Symmetry, Translation

F64 = torch.float64
ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- symmetry_training:start -->", "<!-- symmetry_training:end -->"
SETUP = """\
Does a declared symmetry (`FitConfig(symmetries=...)`, `[[symmetry]]`) lower the error when
samples are few or noisy? Each row compares the same data, seeds and budgets with and without
the symmetry, side by side in one run.

- Data fitting: KAN `[2, 5, 1]`, grid 5, `grid_range` = the domain, float64, Adam (`lr` 1e-2,
  full batch), STEPS steps; symmetry at the samples and at POINTS unlabelled points drawn once
  in their bounding box, `symmetry_weight` WEIGHT (not tuned). Samples uniform in the domain;
  noise is Gaussian with standard deviation 5% of the function's RMS over the domain. Error:
  relative L2 on 4000 uniform test points against the exact function.
- PDE: `poisson_disk_radial` (`-lap u = f` on the unit disk, `u = (1 - r^2) cos(pi r^2)`,
  Dirichlet boundary imposed exactly), its spec's KAN `[2, 8, 1]`, ADAM Adam + LBFGS L-BFGS
  steps, no grid schedule, the row's number of collocation points (Sobol), 40 boundary
  points, with and without its `[[symmetry]]` rotation table (weight 1). Error: `rel_l2` of
  `kanphys.solve`.
- Seeds 0..LAST (data, initialisation and points); "symmetry better" counts the seeds where
  the error with the symmetry is lower. Medians are over the seeds; ratio = median with /
  median without.
"""


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    formula: str
    function: Callable[[Tensor], Tensor]
    low: float
    high: float
    symmetry: Symmetry


CASES = (
    Case(
        "translation",
        "exp(-(x1 - x2)^2)",
        lambda x: torch.exp(-((x[:, 0] - x[:, 1]) ** 2)),
        -1.0,
        1.0,
        Translation(variables=("x1", "x2")),
    ),
    Case(
        "scaling",
        "x1 / x2",
        lambda x: x[:, 0] / x[:, 1],
        1.0,
        2.0,
        Scaling(variables=("x1", "x2"), degree=0),
    ),
    Case(
        "rotation",
        "cos(x1^2 + x2^2)",
        lambda x: torch.cos(x[:, 0] ** 2 + x[:, 1] ** 2),
        -1.5,
        1.5,
        Rotation(variables=("x1", "x2")),
    ),
    Case(
        "swap",
        "x1 x2 + sin(x1) + sin(x2)",
        lambda x: x[:, 0] * x[:, 1] + torch.sin(x[:, 0]) + torch.sin(x[:, 1]),
        -2.0,
        2.0,
        Swap(variables=("x1", "x2")),
    ),
)
REGIMES = {"few": (20, 0.0), "noisy": (50, 0.05)}
"""Regime -> (samples, noise as a fraction of the RMS of the function on the domain)."""


def fit_error(
    case: Case, regime: str, seed: int, symmetric: bool, args: argparse.Namespace
) -> float:
    count, noise = REGIMES[regime]
    generator = torch.Generator().manual_seed(1000 * seed + 7)
    span = case.high - case.low
    x = case.low + span * torch.rand(count, 2, generator=generator, dtype=F64)
    test = case.low + span * torch.rand(4000, 2, generator=generator, dtype=F64)
    exact = case.function(test)
    scale = float(torch.sqrt(torch.mean(exact**2)))
    y = case.function(x) + noise * scale * torch.randn(count, generator=generator, dtype=F64)
    model = KAN(
        [2, 5, 1],
        grid_size=5,
        grid_range=(case.low, case.high),
        dtype=F64,
        generator=torch.Generator().manual_seed(seed),
    )
    config = FitConfig(
        steps=args.steps,
        symmetries=(case.symmetry,) if symmetric else (),
        symmetry_weight=args.symmetry_weight,
        symmetry_points=args.symmetry_points,
        log_every=args.steps,
    )
    fit(
        model,
        x,
        y[:, None],
        config=config,
        names=("x1", "x2"),
        generator=torch.Generator().manual_seed(seed),
    )
    with torch.no_grad():
        error = torch.linalg.vector_norm(model(test)[:, 0] - exact) / torch.linalg.vector_norm(
            exact
        )
    return float(error)


def pde_error(seed: int, n_collocation: int, symmetric: bool, args: argparse.Namespace) -> float:
    problem = get_problem("poisson_disk_radial")
    if not symmetric:
        problem = dataclasses.replace(problem, symmetries=())
    adam, lbfgs = args.pde_steps
    training = {
        "steps": adam,
        "lbfgs_steps": lbfgs,
        "n_collocation": n_collocation,
        "n_boundary": 40,
        "grid_schedule": [],
        "seed": seed,
    }
    result = solve(problem, training=training, device="cpu", plots=False)
    return result.rel_l2["u"]


def row(label: str, plain: list[float], symmetric: list[float]) -> str:
    a, b = statistics.median(plain), statistics.median(symmetric)
    wins = sum(s < p for p, s in zip(plain, symmetric, strict=True))
    return f"| {label} | {a:.2e} | {b:.2e} | {b / a:.2f} | {wins}/{len(plain)} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000, help="Adam steps of each data fit")
    parser.add_argument("--symmetry-points", type=int, default=256)
    parser.add_argument("--symmetry-weight", type=float, default=1.0)
    parser.add_argument(
        "--pde-steps", type=int, nargs=2, default=(200, 300), metavar=("ADAM", "LBFGS")
    )
    parser.add_argument("--collocation", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    parser.add_argument("--docs", action="store_true", help=f"rewrite this section of {DOCS}")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = range(args.seeds)
    started = time.perf_counter()
    lines = [
        "| case | median rel. L2 without | median with symmetry | ratio | symmetry better |",
        "|---|---|---|---|---|",
    ]
    for case in CASES:
        for regime, (count, noise) in REGIMES.items():
            plain = [fit_error(case, regime, s, False, args) for s in seeds]
            symmetric = [fit_error(case, regime, s, True, args) for s in seeds]
            label = f"fit {case.name}: {case.formula}, {count} samples, noise {noise:.0%}"
            lines.append(row(label, plain, symmetric))
            print(lines[-1], flush=True)
    for n_collocation in args.collocation:
        plain = [pde_error(s, n_collocation, False, args) for s in seeds]
        symmetric = [pde_error(s, n_collocation, True, args) for s in seeds]
        label = f"PDE poisson_disk_radial, rotation, {n_collocation} collocation points"
        lines.append(row(label, plain, symmetric))
        print(lines[-1], flush=True)
    command = "python benchmarks/symmetry_training.py " + shlex.join(argv or sys.argv[1:])
    footer = (
        f"\n{args.seeds} seeds, {time.perf_counter() - started:.0f} s, "
        f"torch {torch.__version__}, {args.threads} CPU thread(s); `{command.strip()}`"
    )
    table = "\n".join(lines) + "\n" + footer + "\n"
    print(footer)
    if args.out is not None:
        args.out.write_text(table)
    if args.docs:
        write_docs("\n".join(lines), args, command.strip(), time.perf_counter() - started)
    return 0


def _commit() -> str:
    try:
        run = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        status = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "kanphys", "benchmarks"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    dirty = " plus uncommitted changes" if status.stdout.strip() else ""
    return f"`{run.stdout.strip()}`{dirty}"


def section(table: str, args: argparse.Namespace, command: str, seconds: float) -> str:
    """The Markdown section of docs/benchmarks.md: set-up, provenance, table."""
    adam, lbfgs = args.pde_steps
    setup = (
        SETUP.replace("STEPS", str(args.steps))
        .replace("POINTS", str(args.symmetry_points))
        .replace("WEIGHT", f"{args.symmetry_weight:g}")
        .replace("ADAM", str(adam))
        .replace("LBFGS", str(lbfgs))
        .replace("LAST", str(args.seeds - 1))
    )
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"torch {torch.__version__} with {args.threads} thread(s), Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    return "\n".join(
        [
            START,
            "## Declared symmetries (`benchmarks/symmetry_training.py`)",
            "",
            setup,
            f"- command: `{command}`",
            f"- code: kanphys at commit {_commit()}",
            f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M} (local), {seconds / 60:.1f} min",
            f"- machine: {machine}",
            "",
            table,
            "",
            END,
        ]
    )


def write_docs(table: str, args: argparse.Namespace, command: str, seconds: float) -> None:
    replace_section(DOCS, START, END, section(table, args, command, seconds))


if __name__ == "__main__":
    raise SystemExit(main())
