"""``kanphys.solve``: train, evaluate, write the outputs; :class:`SolveResult`; ``load_solution``.

Files are written only when ``out`` is given (see :mod:`kanphys.io.results` for their format).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from kanphys.errors import CheckpointError, ConfigError, NonFiniteError, ShapeError
from kanphys.models import KAN
from kanphys.pde.model import PDEModel
from kanphys.pde.problem import Problem
from kanphys.runtime import dtype_name
from kanphys.training.pinn import Callback, TrainState, prepare, train
from kanphys.training.pinn_eval import evaluate_reference, predict_in_chunks

__all__ = ["SolveResult", "load_solution", "metrics", "solve"]


@dataclass
class SolveResult:
    """What :func:`solve` returns: the trained model, its metrics and the loss history.

    ``metrics`` is the content of ``result.json``. ``predict(points)`` evaluates the fields at
    ``(N, n_inputs)`` points given in the problem's input order (numpy in, numpy out).
    """

    problem: Problem
    model: PDEModel
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    out: Path | None = None

    @property
    def status(self) -> str:
        return str(self.metrics["status"])

    @property
    def rel_l2(self) -> dict[str, float]:
        return dict(self.metrics["rel_l2"])

    def predict(self, points: Any) -> Any:
        like = next(self.model.parameters())
        tensor_in = isinstance(points, Tensor)
        x = torch.as_tensor(points, dtype=like.dtype, device=like.device)
        if x.ndim != 2 or x.shape[1] != len(self.problem.inputs):
            raise ShapeError(
                f"predict expects points of shape (N, {len(self.problem.inputs)}) with columns "
                f"{', '.join(self.problem.inputs)}; received shape {tuple(x.shape)}"
            )
        out = predict_in_chunks(self.model, x)  # bounded memory on large grids
        return out if tensor_in else out.cpu().numpy()


def metrics(state: TrainState, evaluation: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The ``result.json`` content of a run."""
    network = state.model.network
    model_info: dict[str, Any] = {"type": "kan" if isinstance(network, KAN) else "mlp"}
    if isinstance(network, KAN):
        model_info.update(
            width=[list(w) if w[1] else w[0] for w in network.width],
            basis=network.config.basis,
            grid_size=network.config.grid_size,
            spline_order=network.config.spline_order,
        )
    else:
        model_info.update(width=list(network.config.width), basis=None)  # type: ignore[attr-defined]
    like = next(state.model.parameters())
    return {
        "problem": state.problem.name,
        "status": state.status,
        "rel_l2": evaluation["rel_l2"],
        "max_abs_err": evaluation["max_abs_err"],
        "final_loss": state.last_loss,
        "loss_terms": state.last_terms,
        "steps": state.step,
        "adam_steps": min(state.step, state.settings.steps),
        "lbfgs_steps": max(0, state.step - state.settings.steps),
        "wall_time_s": round(state.elapsed, 3),
        "n_params": sum(p.numel() for p in state.model.parameters()),
        "model": model_info,
        "device": str(device),
        "dtype": dtype_name(like.dtype),
        "seed": state.settings.seed,
        "parameters": {name: float(p.detach()) for name, p in state.model.pde_parameters.items()},
        "hard_constraints": state.enforced,
        "notes": state.notes,
        "derivatives": state.engine_name,
        "recoveries": state.recoveries,
        "n_eval_points": evaluation["n_points"],
        "distributed": (
            {"world_size": state.distributed.world_size, "backend": state.distributed.backend}
            if state.distributed is not None
            else None
        ),
        "settings": {
            "model": state.model_settings.to_dict(),
            "training": state.settings.to_dict(),
        },
    }


def solve(
    problem: Problem | str | Path,
    *,
    model: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    device: str | torch.device = "auto",
    progress: bool = False,
    plots: bool = True,
    callback: Callback | None = None,
    symbolic: bool = False,
    distributed: bool = False,
) -> SolveResult:
    """Train a physics-informed network on ``problem`` and evaluate it on the reference.

    Parameters
    ----------
    problem : Problem, str or Path
        A problem object, the path of a TOML spec, or the name of a built-in problem.
    model, training : mapping, optional
        Overrides of the spec's ``[model]`` and ``[training]`` tables (``None`` values ignored).
    out : path, optional
        Output directory for ``result.json``, ``history.csv``, ``solution.png``, ``loss.png``
        and the checkpoint ``model.pt`` + ``model.json``; nothing is written without it.
    resume : bool
        Continue from ``out/model.pt``.
    device : {"auto", "cpu", "cuda", ...}
    progress : bool
        Show a tqdm progress bar.
    plots : bool
        Write the two PNG files (needs matplotlib).
    callback : callable, optional
        Called with the :class:`TrainState` after every step; returning True stops the run.
    symbolic : bool
        Also extract a closed form of every field (:func:`kanphys.discovery.fields.field_formulas`)
        and add ``formulas`` (per field: formula, its own relative L2 error, ...) to the metrics.
    distributed : bool
        Data-parallel training over the processes that ``torchrun`` started (see
        :mod:`kanphys.training.distributed`): the collocation points are split between the
        ranks, gradients are averaged, and only rank 0 evaluates, writes files and plots
        (the other ranks return empty ``rel_l2``).

    Returns
    -------
    SolveResult
    """
    from kanphys.pde.registry import resolve_problem

    problem = resolve_problem(problem)
    out_dir = Path(out) if out is not None else None
    if resume and out_dir is None:
        raise ConfigError("resume=True needs out= (the directory holding model.pt)")
    ctx = None
    if distributed:
        from kanphys.training.distributed import init_distributed

        ctx = init_distributed(device)
    state = prepare(
        problem,
        model_overrides=model,
        training_overrides=training,
        device=device,
        distributed=ctx,
    )
    try:
        return _train_and_report(
            state,
            out_dir,
            resume=resume,
            progress=progress,
            plots=plots,
            callback=callback,
            symbolic=symbolic,
        )
    finally:
        if ctx is not None:
            ctx.close()


def _train_and_report(
    state: TrainState,
    out_dir: Path | None,
    *,
    resume: bool,
    progress: bool,
    plots: bool,
    callback: Callback | None,
    symbolic: bool,
) -> SolveResult:
    from kanphys.io import results

    problem, ctx = state.problem, state.distributed
    if resume and out_dir is not None:
        results.restore_checkpoint(state, out_dir / "model.pt")
    main = ctx is None or ctx.is_main
    if not main:
        out_dir = None  # only rank 0 writes
    checkpoint = None
    if out_dir is not None:
        results.check_output_directory(out_dir, state)  # before any training time is spent

        def checkpoint(current: TrainState) -> None:
            results.write_checkpoint(current, out_dir)

    try:
        train(state, progress=progress, callback=callback, checkpoint=checkpoint)
    except NonFiniteError:
        state.status = "diverged"
        if out_dir is not None:
            evaluation = {"rel_l2": {}, "max_abs_err": {}, "n_points": 0}
            results.write_result(
                metrics(state, evaluation, next(state.model.parameters()).device), out_dir
            )
        raise
    if main:
        evaluation = evaluate_reference(problem, state.model)
    else:
        evaluation = {"rel_l2": {}, "max_abs_err": {}, "n_points": 0}
    result_metrics = metrics(state, evaluation, next(state.model.parameters()).device)
    if symbolic and main:
        from kanphys.discovery.fields import field_formulas

        result_metrics["formulas"] = field_formulas(
            problem, state.model, evaluation, seed=state.settings.seed
        )
    if out_dir is not None:
        results.write_checkpoint(state, out_dir)
        results.write_result(result_metrics, out_dir)
        results.write_history(state.history, out_dir / "history.csv")
        if plots:
            from kanphys import plotting

            plotting.plot_solution(problem, evaluation, out_dir / "solution.png")
            plotting.plot_loss(state.history, out_dir / "loss.png")
    return SolveResult(problem, state.model, result_metrics, state.history, out_dir)


def load_solution(
    out: str | Path, problem: Problem | str | Path | None = None, *, device: str = "cpu"
) -> SolveResult:
    """Load the trained model of a ``kanphys solve`` run from its output directory.

    Parameters
    ----------
    out : path
        The run's directory (holding ``model.pt`` and ``model.json``).
    problem : Problem, path or name, optional
        The problem that was solved; by default the spec file or built-in name recorded in
        ``model.json`` (a problem built in Python must be passed again).
    device : str

    Returns
    -------
    SolveResult
        With the model in the state of the checkpoint (hard constraints, embedding and
        identified parameters included), ``metrics`` from ``result.json`` when present.
    """
    from kanphys.io import results
    from kanphys.pde.registry import resolve_problem

    out = Path(out)
    try:
        metadata = json.loads((out / "model.json").read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read {out / 'model.json'}: {error}") from None
    if problem is None:
        source = metadata.get("source")
        if not source:
            raise ConfigError(
                f"{out} was solved from a problem built in Python: pass it as problem="
            )
        problem = source
    problem = resolve_problem(problem)
    settings = metadata.get("settings", {})
    state = prepare(
        problem,
        model_overrides=settings.get("model"),
        training_overrides=settings.get("training"),
        device=device,
    )
    results.restore_checkpoint(state, out / "model.pt")
    result_file = out / "result.json"
    result_metrics = json.loads(result_file.read_text()) if result_file.is_file() else {}
    return SolveResult(problem, state.model, result_metrics, state.history, out)
