"""Does a declared symmetry lower the error? Side by side, same data, seeds and budgets.

(a) Data fitting: four functions with a known symmetry, each fitted by a KAN ``[2, 5, 1]``
from few clean samples and from more samples with 5% noise, once plainly and once with the
symmetry declared (``FitConfig(symmetries=...)``, imposed at the samples and at
``--symmetry-points`` unlabelled points in their bounding box). The error is the relative L2
error against the exact function on 4000 uniform test points.

(b) PDE solving: ``poisson_disk_radial`` (rotation-invariant solution on the unit disk) with few
collocation points, once with its declared ``[[symmetry]]`` rotation and once without.

Medians over the seeds and the ratio ``with / without`` are printed as a Markdown table (and
written to ``--out`` when given). Everything runs on the CPU in float64.

    python benchmarks/symmetry_training.py                    # 5 seeds, the table in docs
    python benchmarks/symmetry_training.py --seeds 1 --steps 200 --pde-steps 50 50   # smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from kanphys import KAN, FitConfig, fit
from kanphys.pde.registry import get_problem
from kanphys.training.solve import solve
from kanphys.training.symmetry import Rotation, Scaling, Swap, Symmetry, Translation

F64 = torch.float64


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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
