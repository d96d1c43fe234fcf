"""What ``pinn_speed.py`` and ``gpu.py`` time: one PINN training step of kanphys, DeepXDE, pykan.

Every builder returns a :class:`Contender` whose ``run(n)`` performs ``n`` training steps the way
its implementation trains (after one untimed step) and returns the seconds of each step:

``kanphys_contender``
    :func:`kanphys.training.pinn.prepare` builds the run (network, loss terms, points, derivative
    engine) and :func:`kanphys.training.pinn.train`, the library's own loop, performs the steps
    (Adam; logging, checkpoints, resampling and grid edits off); a callback stops the loop and
    stamps the clock after every step.
``deepxde_contender``
    ``dde.Model.train`` with Adam on ``dde.data.PDE`` (Laplacian from ``dde.grad.hessian``);
    a DeepXDE callback stamps the clock after every iteration.
``pykan_contender``
    The training step of pykan's tutorial "Example 6: Solving Partial Differential Equation"
    (``tutorials/Example_6_PDE_interpretation.ipynb`` for pykan 0.2.x), written anew here on
    pykan 0.2.8's own ``KAN`` class and its own ``kan.utils.batch_jacobian``.

Also the side-by-side timing loop (:func:`time_side_by_side`) and the agreement checks run
before anything is timed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from kanphys.pde.registry import resolve_problem
from kanphys.training.pinn import TrainState, _losses, _total, prepare, train

__all__ = [
    "Contender",
    "Timing",
    "check_engines",
    "check_pykan_laplacian",
    "deepxde_contender",
    "kanphys_contender",
    "prepare_state",
    "pykan_contender",
    "pykan_lbfgs_steps",
    "time_side_by_side",
]

# pykan's tutorial: KAN(width=[2, 2, 1], grid=5, k=3, seed=3), 21 x 21 random interior points,
# 21 points per side on the boundary, loss = alpha * pde_loss + bc_loss with alpha = 0.01
TUTORIAL_SIDE = 21
TUTORIAL_ALPHA = 0.01
TUTORIAL_SEED = 3
FAR_AWAY = 10**9  # "never": steps budget and logging interval of the timed kanphys runs


@dataclass
class Contender:
    """One timed implementation: ``run(n)`` -> the seconds of ``n`` training steps."""

    label: str
    params: int
    points: int  # interior (collocation) points per step
    run: Callable[[int], list[float]]
    boundary: int = 0  # boundary points per step
    note: str = ""


@dataclass
class Timing:
    """The rounds of one contender: median seconds per step and timed steps, per round."""

    contender: Contender
    rounds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Median over rounds of each round's median seconds per step."""
        return statistics.median(self.rounds)

    def speedup_over(self, other: Timing) -> float:
        """How many times more steps per second than ``other``: the median over rounds of the
        per-round ratio (rounds ran side by side, so this cancels most drift in the load)."""
        return statistics.median(b / a for a, b in zip(self.rounds, other.rounds, strict=True))


def _released(steps: int) -> list[float]:
    raise RuntimeError("this contender's run was released after timing")


def load_average() -> float | None:
    """The 1-minute load average (Linux), or None."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def time_side_by_side(
    contenders: Sequence[Contender],
    *,
    rounds: int,
    target_seconds: float,
    min_steps: int,
    max_steps: int,
    report: Callable[[str], None] = print,
    estimates: Sequence[float] | None = None,
) -> list[Timing]:
    """Time ``contenders`` in ``rounds`` rounds, alternating their order (a, b, c, then c, b, a);
    the timings come back in the order of ``contenders``.

    One warm-up call (two steps, one of them timed) per contender gives the cost estimate that
    sets the steps per round: about ``target_seconds`` per contender over all rounds, clamped
    to ``[min_steps, max_steps]`` per round. Contenders already warmed up can pass their
    ``estimates`` (seconds per step) instead.
    """
    # the timings keep what the tables need, not ``run`` (whose closure holds the run's state)
    timings = [Timing(dataclasses.replace(c, run=_released)) for c in contenders]
    if estimates is None:
        estimates = [min(contender.run(1)) for contender in contenders]
    for index in range(rounds):
        order = list(range(len(contenders)))
        if index % 2:
            order.reverse()
        for i in order:
            steps = int(target_seconds / rounds / max(estimates[i], 1e-9))
            steps = max(min_steps, min(max_steps, steps))
            times = contenders[i].run(steps)
            timing = timings[i]
            timing.rounds.append(statistics.median(times))
            timing.steps.append(steps)
            load = load_average()
            if load is not None:
                timing.loads.append(load)
            c = contenders[i]
            shown = f"{load:.2f}" if load is not None else "unknown"
            report(
                f"  {c.label:<28s} N={c.points:<7d} #{index}: "
                f"{timing.rounds[-1] * 1e3:9.2f} ms/step ({steps} steps, load {shown})"
            )
    return timings


def n_boundary_for(n_interior: int) -> int:
    """Boundary points that go with ``n_interior`` collocation points (1/16 of them, >= 32)."""
    return max(32, n_interior // 16)


# --------------------------------------------------------------------------------------------
# kanphys
# --------------------------------------------------------------------------------------------


def prepare_state(
    *,
    network: str,
    hidden: Sequence[int],
    engine: str,
    dtype: str,
    n_interior: int,
    n_boundary: int,
    grid_size: int = 5,
    problem: str = "poisson2d",
    device: str = "cpu",
    weights: dict[str, float] | None = None,
) -> TrainState:
    """A fresh kanphys run of the built-in ``problem`` with the boundary condition as a loss term.

    ``network="mlp"`` with the KAN's ``hidden`` gives the MLP with two equal hidden layers and
    about as many parameters as that KAN (kanphys's matched-size rule).
    """
    training: dict[str, Any] = {
        "steps": FAR_AWAY,
        "lbfgs_steps": 0,
        "grid_schedule": [],
        "grid_update_every": 0,
        "resample": "none",
        "adaptive_weights": False,
        "sparsity": 0.0,
        "derivatives": engine,
        "n_collocation": n_interior,
        "n_boundary": n_boundary,
        "dtype": dtype,
        "log_every": FAR_AWAY,
        "seed": 0,
    }
    if weights:
        training["weights"] = weights
    return prepare(
        resolve_problem(problem),
        model_overrides={
            "type": network,
            "hidden": list(hidden),
            "grid_size": grid_size,
            "hard_constraints": False,
        },
        training_overrides=training,
        device=device,
    )


def state_contender(
    state: TrainState, label: str, sync: Callable[[], None] | None = None
) -> Contender:
    """Time :func:`train` on ``state``; ``sync`` (e.g. ``torch.cuda.synchronize``) runs before
    every clock reading."""

    def run(steps: int) -> list[float]:
        stamps: list[float] = []

        def tick(_: TrainState) -> bool:
            if sync is not None:
                sync()
            stamps.append(time.perf_counter())
            return len(stamps) > steps  # one more step than timed: the first pays train()'s entry

        train(state, callback=tick)
        return [later - earlier for earlier, later in itertools.pairwise(stamps)]

    points = state.points
    return Contender(
        label,
        state.model.network.num_parameters(),
        int(points["interior"].shape[0]),
        run,
        boundary=sum(int(v.shape[0]) for k, v in points.items() if k != "interior"),
    )


def kanphys_contender(label: str, **settings: Any) -> Contender:
    """:func:`prepare_state` with ``settings``, timed by :func:`state_contender`."""
    sync = settings.pop("sync", None)
    return state_contender(prepare_state(**settings), label, sync)


# --------------------------------------------------------------------------------------------
# DeepXDE
# --------------------------------------------------------------------------------------------


def deepxde_contender(
    label: str, width: Sequence[int], dtype: str, n_interior: int, n_boundary: int
) -> Contender:
    """DeepXDE's ``FNN(width, "tanh", "Glorot normal")`` on the same Poisson problem, Adam 1e-3.

    DeepXDE sets torch's global default dtype in ``set_default_float``; it is restored after
    building and after every timed call, so that the other rows are not affected.
    """
    from kanphys.deepxde import load_deepxde

    dde = load_deepxde()
    torch_dtype = getattr(torch, dtype)

    def pde(x: Tensor, u: Tensor) -> Tensor:
        laplacian = dde.grad.hessian(u, x, i=0, j=0) + dde.grad.hessian(u, x, i=1, j=1)
        source = 2 * math.pi**2 * torch.sin(math.pi * x[:, 0:1]) * torch.sin(math.pi * x[:, 1:2])
        return -laplacian - source

    with _default_dtype(torch_dtype), contextlib.redirect_stdout(io.StringIO()):
        dde.config.set_default_float(dtype)
        geometry = dde.geometry.Rectangle([-1, -1], [1, 1])
        boundary = dde.icbc.DirichletBC(geometry, lambda x: 0, lambda _, on: on)
        data = dde.data.PDE(
            geometry, pde, [boundary], num_domain=n_interior, num_boundary=n_boundary
        )
        net = dde.nn.FNN(list(width), "tanh", "Glorot normal")
        model = dde.Model(data, net)
        model.compile("adam", lr=1e-3, verbose=0)

    class Clock(dde.callbacks.Callback):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.stamps: list[float] = []

        def on_epoch_end(self) -> None:
            self.stamps.append(time.perf_counter())

    def run(steps: int) -> list[float]:
        clock = Clock()
        with _default_dtype(torch_dtype), contextlib.redirect_stdout(io.StringIO()):
            # the last iteration of a train() call also evaluates the test set: not timed
            model.train(iterations=steps + 2, callbacks=[clock], display_every=FAR_AWAY, verbose=0)
        stamps = clock.stamps
        return [later - earlier for earlier, later in itertools.pairwise(stamps[:-1])]

    params = sum(p.numel() for p in net.parameters())
    # DeepXDE's training points: the boundary points first, then the domain points; the PDE
    # residual (and its Hessian) is evaluated on all of them
    return Contender(label, params, n_interior, run, boundary=n_boundary)


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):  # type: ignore[no-untyped-def]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


# --------------------------------------------------------------------------------------------
# pykan: the tutorial's PINN step
# --------------------------------------------------------------------------------------------


def tutorial_points(side: int, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """The tutorial's point sets: ``side**2`` uniform random interior points in ``[-1, 1]^2``
    and ``side`` evenly spaced points on each of the four sides."""
    generator = torch.Generator().manual_seed(0)
    interior = torch.rand((side * side, 2), generator=generator, dtype=dtype) * 2 - 1
    t = torch.linspace(-1, 1, side, dtype=dtype)
    one = torch.ones_like(t)
    sides = [(-one, t), (one, t), (t, -one), (t, one)]
    boundary = torch.cat([torch.stack(pair, dim=1) for pair in sides])
    return interior, boundary


def exact_solution(x: Tensor) -> Tensor:
    """``sin(pi x) sin(pi y)`` as ``(N, 1)``."""
    return torch.sin(torch.pi * x[:, [0]]) * torch.sin(torch.pi * x[:, [1]])


def tutorial_laplacian(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``u_xx + u_yy`` as ``(N, 1)`` the tutorial's way: pykan's ``batch_jacobian`` of the
    gradient function, itself a ``batch_jacobian`` of ``fn`` (``create_graph`` on both)."""
    from kan.utils import batch_jacobian

    def gradient(z: Tensor) -> Tensor:
        return batch_jacobian(fn, z, create_graph=True, mode="vector")[:, 0, :]

    hessian = batch_jacobian(gradient, x, create_graph=True, mode="vector")
    return torch.diagonal(hessian, dim1=1, dim2=2).sum(dim=1, keepdim=True)


def _pykan_model(hidden: int) -> torch.nn.Module:
    from kan import KAN as PykanKAN

    # the tutorial's model; auto_save=False keeps pykan from writing a ./model checkpoint folder
    with contextlib.redirect_stdout(io.StringIO()):
        return PykanKAN(width=[2, hidden, 1], grid=5, k=3, seed=TUTORIAL_SEED, auto_save=False)


def _tutorial_loss(model: torch.nn.Module, interior: Tensor, boundary: Tensor) -> Tensor:
    source = -2 * torch.pi**2 * exact_solution(interior)
    pde_loss = (tutorial_laplacian(model, interior) - source).pow(2).mean()
    bc_loss = (model(boundary) - exact_solution(boundary)).pow(2).mean()
    return TUTORIAL_ALPHA * pde_loss + bc_loss


def pykan_contender(label: str, hidden: int, side: int = TUTORIAL_SIDE) -> Contender:
    """pykan 0.2.8 on its tutorial's Poisson PINN, ``width=[2, hidden, 1]``, one Adam step per
    step (lr 1e-2). The tutorial's grid updates (every 5 L-BFGS steps) and its per-step
    monitoring (an extra forward pass for the L2 error, the progress bar) are left out."""
    model = _pykan_model(hidden)
    interior, boundary = tutorial_points(side)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def run(steps: int) -> list[float]:
        times = []
        for _ in range(steps + 1):
            start = time.perf_counter()
            optimizer.zero_grad()
            loss = _tutorial_loss(model, interior, boundary)
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
        return times[1:]

    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Contender(label, params, interior.shape[0], run, boundary=boundary.shape[0])


def pykan_lbfgs_steps(hidden: int, steps: int, side: int = TUTORIAL_SIDE) -> dict[str, float]:
    """The tutorial's own optimiser step: pykan's ``LBFGS(lr=1, history_size=10,
    line_search_fn="strong_wolfe", tolerance_* = 1e-32)`` (20 iterations per ``step``).

    Returns the median seconds per ``optimizer.step(closure)`` and the loss-and-gradient
    evaluations per step (after one untimed step)."""
    from kan.LBFGS import LBFGS

    model = _pykan_model(hidden)
    interior, boundary = tutorial_points(side)
    optimizer = LBFGS(
        model.parameters(),
        lr=1,
        history_size=10,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-32,
        tolerance_change=1e-32,
        tolerance_ys=1e-32,
    )
    evaluations = 0

    def closure() -> Tensor:
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        loss = _tutorial_loss(model, interior, boundary)
        loss.backward()
        return loss

    times, counts = [], []
    for _ in range(steps + 1):
        evaluations = 0
        start = time.perf_counter()
        optimizer.step(closure)
        times.append(time.perf_counter() - start)
        counts.append(evaluations)
    return {
        "seconds_per_step": statistics.median(times[1:]),
        "evaluations_per_step": statistics.median(counts[1:]),
        "seconds_per_evaluation": statistics.median(
            t / max(c, 1) for t, c in zip(times[1:], counts[1:], strict=True)
        ),
    }


# --------------------------------------------------------------------------------------------
# Agreement checks (before timing)
# --------------------------------------------------------------------------------------------


def _flat(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def check_engines(
    network: str, hidden: Sequence[int], n_interior: int, n_boundary: int
) -> dict[str, Any]:
    """Taylor and autograd engines on the same network and points in float64: the loss terms
    and the loss gradient at initialisation, as relative differences."""
    states = {
        engine: prepare_state(
            network=network,
            hidden=hidden,
            engine=engine,
            dtype="float64",
            n_interior=n_interior,
            n_boundary=n_boundary,
        )
        for engine in ("taylor", "autograd")
    }
    taylor, autograd = states["taylor"], states["autograd"]
    same_inputs = torch.equal(
        _flat(list(taylor.model.parameters())), _flat(list(autograd.model.parameters()))
    ) and all(torch.equal(taylor.points[k], autograd.points[k]) for k in taylor.points)
    losses, gradients = {}, {}
    for engine, state in states.items():
        terms = _losses(state)
        total = _total(state, terms)
        params = [p for p in state.model.parameters() if p.requires_grad]
        gradients[engine] = _flat(torch.autograd.grad(total, params))
        losses[engine] = {label: float(value.detach()) for label, value in terms.items()}
    loss_diff = max(
        abs(losses["taylor"][k] - losses["autograd"][k]) / max(abs(losses["autograd"][k]), 1e-300)
        for k in losses["autograd"]
    )
    scale = float(gradients["autograd"].abs().max())
    grad_diff = float((gradients["taylor"] - gradients["autograd"]).abs().max()) / max(
        scale, 1e-300
    )
    return {
        "network": network,
        "params": taylor.model.network.num_parameters(),
        "same_inputs": same_inputs,
        "losses": losses["autograd"],
        "loss_rel_diff": loss_diff,
        "grad_rel_diff": grad_diff,
    }


def check_pykan_laplacian(side: int = TUTORIAL_SIDE) -> dict[str, float]:
    """:func:`tutorial_laplacian` on ``sin(pi x) sin(pi y)`` (exactly ``-2 pi^2`` times it) in
    float64: the relative error shows the pykan rows compute the Laplacian they should."""
    interior, _ = tutorial_points(side, torch.float64)
    laplacian = tutorial_laplacian(exact_solution, interior)
    exact = -2 * torch.pi**2 * exact_solution(interior)
    return {"rel_error": float((laplacian - exact).abs().max() / exact.abs().max())}
