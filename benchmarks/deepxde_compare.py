"""DeepXDE's FNN against the kanphys KAN inside DeepXDE, side by side in one process.

For each problem both networks (matched parameter counts) train on the *same* DeepXDE data
object (same points), with the same optimiser schedule (Adam, then L-BFGS) and iterations.
Reported: relative L2 error against the exact solution at the end, milliseconds per Adam and
per L-BFGS iteration, and the error of each network when the faster-finishing one stopped
("equal wall time", read from error-vs-training-time curves measured every ``--every``
iterations; evaluation time is excluded from the clock).

Problems: 2-D Poisson ``-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y)`` on ``[-1, 1]^2`` with the
boundary condition as a loss term (soft) or imposed by ``(1 - x^2)(1 - y^2) N`` (hard), and
viscous Burgers (``nu = 0.01/pi``, ``u0 = -sin(pi x)``; Cole-Hopf reference on 256 x 100).

    python benchmarks/deepxde_compare.py                 # full run, updates docs/benchmarks.md
    python benchmarks/deepxde_compare.py --quick         # a smoke check, prints only
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]

import deepxde_burgers as burgers_example  # noqa: E402
import deepxde_poisson2d_hard as poisson_example  # noqa: E402
from _sections import replace_section  # noqa: E402

from kanphys.deepxde import KAN, load_deepxde  # noqa: E402
from kanphys.pde.references import BURGERS_NU, burgers_cole_hopf  # noqa: E402

dde = load_deepxde()
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- deepxde_compare:start -->", "<!-- deepxde_compare:end -->"


@dataclass
class Case:
    """One benchmark problem: how to build its data, networks and reference."""

    name: str
    data: Callable[[], Any]
    points: np.ndarray
    exact: np.ndarray
    fnn: Callable[[], Any]
    kan: Callable[[], Any]
    adam: int
    lbfgs: int
    lr: float = 1e-3


def _poisson(hard: bool, scale: float, hidden: list[int], grid: int = 5) -> Case:
    # the equation, solution and hard-constraint transform of the example script
    pde, solution = poisson_example.pde, poisson_example.solution
    transform = poisson_example.boundary_factor
    geom = dde.geometry.Rectangle([-1, -1], [1, 1])

    def data():
        bcs = [] if hard else [dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)]
        return dde.data.PDE(geom, pde, bcs, num_domain=1200, num_boundary=0 if hard else 120)

    def constrained(net):
        if hard:
            net.apply_output_transform(transform)
        return net

    points = geom.uniform_points(101 * 101)
    return Case(
        name=f"Poisson 2-D, {'hard' if hard else 'soft'} BC",
        data=data,
        points=points,
        exact=solution(points),
        fnn=lambda: constrained(dde.nn.FNN([2, 20, 20, 20, 1], "tanh", "Glorot normal")),
        kan=lambda: constrained(
            KAN([2, *hidden, 1], grid_size=grid, input_bounds=([-1, -1], [1, 1]), seed=0)
        ),
        adam=int(5000 * scale),
        lbfgs=int(1000 * scale),
    )


def _burgers(scale: float, hidden: list[int], grid: int = 5) -> Case:
    pde = burgers_example.pde  # the example script's equation
    geomtime = dde.geometry.GeometryXTime(
        dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 0.99)
    )

    def data():
        bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on: on)
        ic = dde.icbc.IC(geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on: on)
        return dde.data.TimePDE(
            geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80, num_initial=160
        )

    xx, tt = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, 0.99, 100), indexing="ij")
    points = np.stack([xx.ravel(), tt.ravel()], axis=1)
    return Case(
        name="Burgers",
        data=data,
        points=points,
        exact=burgers_cole_hopf(points[:, 0], points[:, 1], BURGERS_NU)[:, None],
        fnn=lambda: dde.nn.FNN([2, 20, 20, 20, 1], "tanh", "Glorot normal"),
        kan=lambda: KAN([2, *hidden, 1], grid_size=grid, input_bounds=([-1, 0], [1, 1]), seed=0),
        adam=int(10000 * scale),
        lbfgs=int(2000 * scale),
    )


class Curve(dde.callbacks.Callback):  # type: ignore[misc, name-defined]
    """Error against the reference every ``every`` iterations, on a training-only clock."""

    def __init__(self, case: Case, every: int) -> None:
        super().__init__()
        self.case, self.every = case, every
        self.clock = 0.0
        self.rows: list[tuple[float, int, float]] = []  # (seconds, iteration, rel_l2)
        self._last = 0.0

    def error(self) -> float:
        predicted = self.model.predict(self.case.points)
        exact = self.case.exact
        return float(np.linalg.norm(predicted - exact) / np.linalg.norm(exact))

    def elapsed(self) -> float:
        """Training seconds so far, including the time since the last evaluation."""
        return self.clock + time.perf_counter() - self._last

    def on_train_begin(self) -> None:
        if not self.rows:
            self.rows.append((0.0, 0, self.error()))
        self._last = time.perf_counter()

    def on_epoch_end(self) -> None:
        step = int(self.model.train_state.step)
        if step % self.every and not isinstance(self.model.opt, torch.optim.LBFGS):
            return
        now = time.perf_counter()
        self.clock += now - self._last
        self.rows.append((self.clock, step, self.error()))
        self._last = time.perf_counter()

    def on_train_end(self) -> None:
        self.clock += time.perf_counter() - self._last
        self._last = time.perf_counter()


class Budget(dde.callbacks.Callback):  # type: ignore[misc, name-defined]
    """Stops a phase of training once ``seconds`` of the curve's training clock have passed."""

    def __init__(self, curve: Curve, seconds: float) -> None:
        super().__init__()
        self.curve, self.seconds, self.start = curve, seconds, 0.0

    def on_train_begin(self) -> None:
        self.start = self.curve.clock

    def on_epoch_end(self) -> None:
        if self.curve.elapsed() - self.start >= self.seconds:
            self.model.stop_training = True


def train(
    case: Case,
    kind: str,
    every: int,
    lr: float | None = None,
    budget: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Adam, then L-BFGS: ``case``'s iterations, or each phase for ``budget`` seconds."""
    dde.config.set_random_seed(0)
    data = case.data()
    dde.config.set_random_seed(0)
    net = case.fnn() if kind == "FNN" else case.kan()
    model = dde.Model(data, net)
    curve = Curve(case, every)
    lr = case.lr if lr is None else lr
    model.compile("adam", lr=lr, verbose=0)
    callbacks: list[Any] = [curve] if budget is None else [curve, Budget(curve, budget[0])]
    iterations = case.adam if budget is None else 10**9
    model.train(iterations=iterations, callbacks=callbacks, display_every=10**9, verbose=0)
    adam_seconds, adam_steps = curve.clock, int(model.train_state.step)
    adam_error = curve.error()
    curve.rows.append((curve.clock, adam_steps, adam_error))
    lbfgs_steps = 0
    if case.lbfgs:
        # in a budget run L-BFGS checks the clock every 10 of its iterations
        chunk = min(every, case.lbfgs) if budget is None else 10
        dde.optimizers.set_LBFGS_options(maxiter=case.lbfgs if budget is None else 10**9)
        dde.optimizers.config.LBFGS_options["iter_per_step"] = chunk
        model.compile("L-BFGS", verbose=0)
        callbacks = [curve] if budget is None else [curve, Budget(curve, budget[1])]
        model.train(callbacks=callbacks, display_every=10**9, verbose=0)
        lbfgs_steps = int(model.train_state.step) - adam_steps
    return {
        "kind": kind,
        "lr": lr,
        "params": sum(p.numel() for p in net.parameters()),
        "rel_l2": curve.error(),
        "rel_l2_adam": adam_error,
        "adam_steps": adam_steps,
        "ms_adam": 1e3 * adam_seconds / max(adam_steps, 1),
        "ms_lbfgs": 1e3 * (curve.clock - adam_seconds) / max(lbfgs_steps, 1),
        "lbfgs_steps": lbfgs_steps,
        "adam_seconds": adam_seconds,
        "seconds": curve.clock,
        "curve": curve.rows,
    }


def error_at(curve: list[tuple[float, int, float]], seconds: float) -> float:
    """The error of the last evaluation at or before ``seconds`` of training."""
    before = [row for row in curve if row[0] <= seconds * (1 + 1e-9)]
    return before[-1][2] if before else float("nan")


def table(
    results: list[tuple[Case, dict[str, Any], dict[str, Any]]], hidden: list[int], grid: int = 5
) -> str:
    lines = [
        "| problem | network | params | rel. L2 (end) | ms/iter Adam | ms/iter L-BFGS "
        "| L-BFGS iters | training s | rel. L2 at equal time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case, fnn, kan in results:
        budget = min(fnn["seconds"], kan["seconds"])
        for run in (fnn, kan):
            name = _network(run, hidden, grid)
            lines.append(
                f"| {case.name} | {name} | {run['params']} | {run['rel_l2']:.2e} "
                f"| {run['ms_adam']:.1f} | {run['ms_lbfgs']:.1f} | {run['lbfgs_steps']} "
                f"| {run['seconds']:.0f} | {error_at(run['curve'], budget):.2e} |"
            )
    ratios = [
        f"{case.name}: KAN/FNN time per Adam iteration {kan['ms_adam'] / fnn['ms_adam']:.2f}x"
        for case, fnn, kan in results
    ]
    return "\n".join(lines) + "\n\n" + "; ".join(ratios) + "."


def _network(run: dict[str, Any], hidden: list[int], grid: int) -> str:
    if run["kind"] == "FNN":
        return "DeepXDE FNN [2,20,20,20,1] tanh"
    return f"kanphys KAN [2,{','.join(map(str, hidden))},1] B-spline G={grid}"


def budget_table(
    results: list[tuple[Case, tuple[float, float], list[dict[str, Any]]]],
    hidden: list[int],
    grid: int,
) -> str:
    """Equal wall-clock budgets: every run gets the same Adam and L-BFGS seconds."""
    lines = [
        "| problem | budget s (Adam + L-BFGS) | network | Adam lr | Adam iters "
        "| rel. L2 after Adam | L-BFGS iters | rel. L2 (end) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for case, (adam_s, lbfgs_s), runs in results:
        for run in runs:
            lines.append(
                f"| {case.name} | {adam_s:.1f} + {lbfgs_s:.1f} | {_network(run, hidden, grid)} "
                f"| {run['lr']:g} | {run['adam_steps']} | {run['rel_l2_adam']:.2e} "
                f"| {run['lbfgs_steps']} | {run['rel_l2']:.2e} |"
            )
        best = {
            kind: min((r for r in runs if r["kind"] == kind), key=lambda r: r["rel_l2"])
            for kind in ("FNN", "KAN")
        }
        adam = {
            kind: min(r["rel_l2_adam"] for r in runs if r["kind"] == kind)
            for kind in ("FNN", "KAN")
        }
        end = {kind: run["rel_l2"] for kind, run in best.items()}
        summary.append(
            f"- {case.name}: best end error KAN {end['KAN']:.2e} vs FNN {end['FNN']:.2e} "
            f"(FNN/KAN {end['FNN'] / end['KAN']:.2f}); best error after the Adam budget "
            f"KAN {adam['KAN']:.2e} vs FNN {adam['FNN']:.2e} "
            f"(FNN/KAN {adam['FNN'] / adam['KAN']:.2f})"
        )
    return "\n".join(lines) + "\n\n" + "\n".join(summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["soft", "hard", "burgers"])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the iterations")
    parser.add_argument("--every", type=int, default=250, help="iterations between evaluations")
    parser.add_argument("--quick", action="store_true", help="scale 0.02, print only")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--kan-hidden", type=int, nargs="+", default=[30], help="KAN hidden widths (default 30)"
    )
    parser.add_argument("--kan-grid", type=int, default=5, help="KAN grid size (default 5)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (both)")
    parser.add_argument(
        "--budget-lrs",
        type=float,
        nargs="*",
        default=[1e-3, 1e-2],
        help="Adam learning rates tried by both networks in the equal-budget runs (none: skip)",
    )
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    scale = 0.02 if args.quick else args.scale
    builders = {
        "soft": lambda: _poisson(False, scale, args.kan_hidden, args.kan_grid),
        "hard": lambda: _poisson(True, scale, args.kan_hidden, args.kan_grid),
        "burgers": lambda: _burgers(scale, args.kan_hidden, args.kan_grid),
    }
    results = []
    budgets: list[tuple[Case, tuple[float, float], list[dict[str, Any]]]] = []
    for build in list(builders):
        builders[build] = _with_lr(builders[build], args.lr)
    started = time.perf_counter()
    for name in args.problems:
        case = builders[name]()
        fnn = train(case, "FNN", args.every)
        kan = train(case, "KAN", args.every)
        results.append((case, fnn, kan))
        print(table(results[-1:], args.kan_hidden, args.kan_grid), flush=True)
        if args.budget_lrs:
            # the FNN's own times for the schedule above, given to every run
            budget = (fnn["adam_seconds"], fnn["seconds"] - fnn["adam_seconds"])
            runs = [
                train(case, kind, args.every, lr, budget)
                for lr in args.budget_lrs
                for kind in ("FNN", "KAN")
            ]
            budgets.append((case, budget, runs))
            print(budget_table(budgets[-1:], args.kan_hidden, args.kan_grid), flush=True)
    text = table(results, args.kan_hidden, args.kan_grid)
    if budgets:
        text += (
            "\n\n### Equal wall-clock budgets\n\n"
            "Each network trains with Adam for the seconds the FNN's Adam phase took above, "
            "then with L-BFGS for the seconds the FNN's L-BFGS phase took (the clock is read "
            "every iteration in Adam and every 10 iterations in L-BFGS), for each Adam learning "
            "rate; the summary compares each network at its best learning rate.\n\n"
            + budget_table(budgets, args.kan_hidden, args.kan_grid)
        )
    if not (args.quick or args.no_docs):
        command = "python benchmarks/deepxde_compare.py " + shlex.join(
            sys.argv[1:] if argv is None else argv
        )
        write_docs(text, command.strip(), time.perf_counter() - started)
    return 0


def _with_lr(build: Callable[[], Case], lr: float) -> Callable[[], Case]:
    def built() -> Case:
        case = build()
        case.lr = lr
        return case

    return built


def write_docs(text: str, command: str, seconds: float) -> None:
    section = f"""{START}
## kanphys KAN vs DeepXDE FNN inside DeepXDE (`benchmarks/deepxde_compare.py`)

Both networks train on the same DeepXDE data object (same collocation points, Hammersley
sampling), with Adam (same learning rate) and then L-BFGS, for the same iterations; errors are
relative L2 against the exact solution (101 x 101 grid for Poisson, the 256 x 100 Cole-Hopf grid for
Burgers). "Equal time" is each network's error at the training time at which the faster one
finished (curves sampled every 250 iterations; evaluation excluded from the clock).

```bash
{command}
```

Measured on {platform.processor() or platform.machine()}, {os.cpu_count()} cores,
torch {torch.__version__}, DeepXDE {dde.__version__}, 1 torch thread; {seconds / 60:.0f} min.

{text}
{END}"""
    replace_section(DOCS, START, END, section)


if __name__ == "__main__":
    raise SystemExit(main())
