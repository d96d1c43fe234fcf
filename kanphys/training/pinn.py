"""Physics-informed training: :func:`solve` a :class:`~kanphys.pde.problem.Problem`.

Data flow: problem -> settings (spec tables + overrides) -> geometry, hard constraints, network,
:class:`~kanphys.pde.model.PDEModel` -> loss terms and point sets (:func:`prepare`) -> Adam then
L-BFGS with grid schedule, resampling, adaptive weights and checkpoints (:func:`train`). The
user-facing :func:`kanphys.solve` (in :mod:`kanphys.training.solve`) adds the evaluation against
the reference and the output files.
"""

from __future__ import annotations

import copy
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from kanphys.errors import ConfigError, NonFiniteError, SpecError
from kanphys.models import KAN, MLP, refine_grid, update_grid
from kanphys.models.base import Network
from kanphys.pde.constraints import build_output_transform
from kanphys.pde.derivatives import DerivativeEngine, select_engine
from kanphys.pde.geometry import Geometry
from kanphys.pde.model import PDEModel, embedded_features
from kanphys.pde.problem import DerivativeKey, Problem
from kanphys.runtime import resolve_device
from kanphys.training.distributed import DistributedContext
from kanphys.training.pinn_config import ModelSettings, TrainingSettings, settings_from_tables
from kanphys.training.pinn_terms import (
    Term,
    build_terms,
    equation_residual_norm,
    evaluate_residuals,
    sample_points,
)
from kanphys.training.regularization import evenly_spaced_rows, sparsity_penalty

__all__ = ["TrainState", "build_network", "prepare", "train"]

logger = logging.getLogger(__name__)

Callback = Callable[["TrainState"], bool | None]


@dataclass
class TrainState:
    """Everything a run needs to continue; checkpoints hold it (see :mod:`kanphys.io.results`)."""

    problem: Problem
    model_settings: ModelSettings
    settings: TrainingSettings
    model: PDEModel
    terms: list[Term]
    points: dict[str, Tensor]
    generator: torch.Generator
    step: int = 0
    elapsed: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    adaptive: dict[str, float] = field(default_factory=dict)
    optimizer: torch.optim.Optimizer | None = None
    optimizer_phase: str = ""
    optimizer_state: dict[str, Any] | None = None
    last_loss: float = math.nan
    last_terms: dict[str, float] = field(default_factory=dict)
    status: str = "running"
    enforced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    engine: DerivativeEngine | None = None
    geometry: Geometry | None = None
    distributed: DistributedContext | None = None
    shards: _Shards | None = field(default=None, repr=False)
    ddp: torch.nn.Module | None = field(default=None, repr=False)
    lr_scale: float = 1.0
    recoveries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def engine_name(self) -> str:
        return self.engine.name if self.engine is not None else ""

    @property
    def phase(self) -> str:
        return "adam" if self.step < self.settings.steps else "lbfgs"


@dataclass
class _Shards:
    """A distributed rank's part of the work: its rows of every point set (and of the data
    terms' targets), cut from ``source``, and the number of residuals of every term over all
    ranks (filled in at the first evaluation)."""

    source: dict[str, Tensor]
    points: dict[str, Tensor]
    terms: list[Term]
    counts: dict[str, float] | None = None


def build_network(
    model_settings: ModelSettings,
    in_features: int,
    out_features: int,
    *,
    dtype: torch.dtype,
    device: torch.device,
    generator: torch.Generator,
    budget_grid_size: int | None = None,
) -> Network:
    """The KAN (or the MLP) that the settings describe.

    An MLP without ``mlp_hidden`` widths gets two equal hidden layers and about as many
    parameters as the KAN of the same settings (matched-size comparisons), at the KAN's final
    grid size ``budget_grid_size`` when a grid schedule extends it.
    """
    ms = model_settings
    kan_hidden = ms.hidden if ms.hidden is not None else (8,)
    if ms.type == "kan":
        return KAN(
            [in_features, *kan_hidden, out_features],
            basis=ms.basis,
            grid_size=ms.grid_size,
            spline_order=ms.spline_order,
            base_activation=ms.base_activation,
            dtype=dtype,
            device=device,
            generator=generator,
        )
    if ms.mlp_hidden is not None:
        width = [in_features, *ms.mlp_hidden, out_features]
        return MLP(width, ms.activation, dtype=dtype, device=device, generator=generator)
    budget = KAN(
        [in_features, *kan_hidden, out_features],
        basis=ms.basis,
        grid_size=max(ms.grid_size, budget_grid_size or 0),
        spline_order=ms.spline_order,
        base_activation=ms.base_activation,
        dtype=dtype,
    ).num_parameters()
    return MLP.with_parameter_budget(
        in_features,
        out_features,
        budget,
        activation=ms.activation,
        dtype=dtype,
        device=device,
        generator=generator,
    )


def _requests(terms: list[Term]) -> set[DerivativeKey]:
    keys: set[DerivativeKey] = set()
    for term in terms:
        keys |= term.requires
    return keys


def prepare(
    problem: Problem,
    *,
    model_overrides: Mapping[str, Any] | None = None,
    training_overrides: Mapping[str, Any] | None = None,
    device: str | torch.device = "auto",
    distributed: DistributedContext | None = None,
) -> TrainState:
    """Build the model, terms and point sets of a fresh run (no training).

    With ``distributed``, the run trains on ``distributed.device`` and every rank evaluates
    its shard of the (identical) point sets; see :mod:`kanphys.training.distributed`.
    """
    try:
        model_settings, settings = settings_from_tables(
            problem.model,
            problem.training,
            model_overrides=model_overrides,
            training_overrides=training_overrides,
        )
    except SpecError as error:
        raise SpecError(f"{problem.where_label}: {error}") from None
    resolved = resolve_device(device) or torch.device("cpu")
    if distributed is not None:
        resolved = distributed.device
    if settings.dtype is not None:
        dtype = getattr(torch, settings.dtype)
    else:
        dtype = torch.float64 if resolved.type == "cpu" else torch.float32
    generator = torch.Generator().manual_seed(settings.seed)
    geometry = Geometry(problem.domain)
    hard = build_output_transform(problem, geometry, enabled=model_settings.hard_constraints)
    in_features = embedded_features(problem.inputs, problem.domain.periodic)
    network = build_network(
        model_settings,
        in_features,
        len(problem.fields),
        dtype=dtype,
        device=resolved,
        generator=generator,
        budget_grid_size=max((size for _, size in settings.grid_schedule), default=None),
    )
    model = PDEModel(
        network,
        problem.inputs,
        problem.domain.bounds,
        periodic=problem.domain.periodic,
        parameters={p.name: p.value for p in problem.parameters if p.trainable},
        constants={p.name: p.value for p in problem.parameters if not p.trainable},
        transform=hard.transform,
    )
    terms = build_terms(
        problem, enforced=hard.enforced, weights=settings.weights, dtype=dtype, device=resolved
    )
    state = TrainState(
        problem,
        model_settings,
        settings,
        model,
        terms,
        {},
        generator,
        enforced=hard.enforced,
        notes=hard.notes,
        distributed=distributed,
    )
    if settings.sparsity > 0 and not isinstance(network, KAN):
        note = "[training] sparsity ignored: sparsity regularisation needs a KAN, not an MLP"
        logger.warning(note)
        state.notes.append(note)
    state.points = _sample(state, geometry)
    state.geometry = geometry
    # the choice depends on the network type and the derivative orders: fixed for the run
    state.engine = select_engine(settings.derivatives, model, _requests(terms))
    check_step_memory(state, _requests(terms))
    return state


# peak memory of a training step over the floats of its basis features (the Taylor engine's
# (N, C, in, G + k) per KAN layer, (N, C, width) per MLP layer); measured 2.65 on a
# [2, 20, 20, 1] KAN at 10^5 points (benchmarks/pinn_speed.py), with margin
STEP_MEMORY_FACTOR = 4.0
AUTOGRAD_MEMORY_FACTOR = 1.3  # the autograd engine's peak over the Taylor engine's (1.28)


def step_memory_bytes(state: TrainState, requests: set[DerivativeKey]) -> int:
    """An upper estimate of the memory of one training step (bytes)."""
    network = state.model.network
    inputs = len(state.problem.inputs)
    pairs = {tuple(sorted(v)) for _, v in requests if len(v) == 2}
    channels = 1 + (inputs if any(len(v) >= 1 for _, v in requests) else 0) + len(pairs)
    if isinstance(network, KAN):
        functions = network.kan_layers()[0].num_functions
        per_point = sum(layer.in_features * functions for layer in network.kan_layers())
    else:
        per_point = sum(network.config.width)  # type: ignore[attr-defined]
    points = sum(int(v.shape[0]) for v in state.points.values())
    if state.distributed is not None:  # each rank holds its block of the points
        points = -(-points // state.distributed.world_size)
    like = next(state.model.parameters())
    factor = STEP_MEMORY_FACTOR * (1.0 if state.engine_name == "taylor" else AUTOGRAD_MEMORY_FACTOR)
    return int(factor * channels * per_point * points * like.element_size())


def available_memory(device: torch.device) -> int | None:
    """Bytes the run may still allocate on ``device`` (None where it cannot be known)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_step_memory(state: TrainState, requests: set[DerivativeKey]) -> None:
    """Refuse a run whose training step cannot fit, before any training, with the estimate."""
    device = next(state.model.parameters()).device
    available = available_memory(device)
    need = step_memory_bytes(state, requests)
    if available is None or need <= available:
        return
    points = sum(int(v.shape[0]) for v in state.points.values())
    raise ConfigError(
        f"a training step of this run needs about {need / 2**30:.1f} GiB ({points:,} points, "
        f"{state.model.network.num_parameters():,} parameters, "
        f"{str(next(state.model.parameters()).dtype).removeprefix('torch.')}) but only "
        f"{available / 2**30:.1f} GiB are available on {device}; lower n_collocation or "
        f"n_boundary, use a smaller network or float32, or train on several devices "
        f"(docs/scaling.md)"
    )


def _sample(state: TrainState, geometry: Geometry) -> dict[str, Tensor]:
    like = next(state.model.parameters())
    return sample_points(
        state.problem,
        geometry,
        state.terms,
        n_collocation=state.settings.n_collocation,
        n_boundary=state.settings.n_boundary,
        method=state.settings.sampler,
        generator=state.generator,
        dtype=like.dtype,
        device=like.device,
    )


def _make_optimizer(state: TrainState) -> torch.optim.Optimizer:
    params = list(state.model.parameters())
    if state.phase == "adam":
        return torch.optim.Adam(params, lr=_learning_rate(state))
    return torch.optim.LBFGS(
        params,
        lr=state.lr_scale,  # lowered after a recovery from a non-finite loss
        max_iter=1,
        max_eval=25,
        history_size=50,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        line_search_fn="strong_wolfe",
    )


DEFAULT_LEARNING_RATES = {"kan": 1e-2, "mlp": 1e-3}


def _learning_rate(state: TrainState) -> float:
    """Adam step size: the setting, or 1e-2 for a KAN and 1e-3 for an MLP, times the decay,
    the scale left by recoveries from non-finite losses and the ramp after grid edits."""
    s = state.settings
    base = s.learning_rate or DEFAULT_LEARNING_RATES[state.model_settings.type]
    decay = s.lr_decay ** (min(state.step, s.steps) / 1000.0)
    return base * decay * state.lr_scale * _grid_warmup(state)


def _grid_edit_steps(state: TrainState) -> list[int]:
    """Steps (up to the current one) at which :func:`_grid_edits` changes the grids.

    Worked out from the settings alone, so that a resumed run ramps like an uninterrupted one.
    """
    s, step = state.settings, state.step
    if state.model_settings.type != "kan" or state.model_settings.basis != "bspline":
        return []
    edits: list[int] = []
    size = state.model_settings.grid_size
    for at, grid_size in s.grid_schedule:
        # like _grid_edits: at most one refinement per step, the first entry that differs
        if 0 < at <= step and grid_size != size and not (edits and edits[-1] == at):
            edits.append(at)
            size = grid_size
    if s.grid_update_every and step >= s.grid_update_every:
        last = min(step, s.steps - 1) // s.grid_update_every * s.grid_update_every
        if last > 0 and last not in edits:
            edits.append(last)
    return edits


def _grid_warmup(state: TrainState) -> float:
    """Linear ramp of Adam's step size over ``[training] grid_warmup`` steps after a grid
    update or refinement.

    The edit refits the coefficients and starts a fresh Adam, whose first steps move every
    parameter by about the full learning rate whatever its gradient; on a fitted network
    that threw the loss up by 10^4 within 50 steps of every update.
    """
    warmup = state.settings.grid_warmup
    edits = _grid_edit_steps(state) if warmup else []
    if not edits:
        return 1.0
    return min(1.0, (state.step - max(edits) + 1) / (warmup + 1))


# the sparsity penalty is evaluated on at most this many interior points (evenly spaced rows)
SPARSITY_SAMPLES = 1024


def _weights(state: TrainState) -> dict[str, float]:
    weights = {t.label: t.weight * state.adaptive.get(t.label, 1.0) for t in state.terms}
    weights["sparsity"] = state.settings.sparsity
    return weights


def _losses(state: TrainState, *, regularise: bool = True) -> dict[str, Tensor]:
    """Mean squared residual of every term, and the (unweighted) sparsity penalty."""
    assert state.engine is not None
    engine = state.engine
    ctx = state.distributed
    if ctx is None:
        terms, points = state.terms, state.points
    else:
        shards = _local_work(state, ctx)
        terms, points = shards.terms, shards.points
    residuals = evaluate_residuals(state.model, engine, terms, points, state.problem.fields)
    if ctx is None:
        losses = {label: r.pow(2).mean() for label, r in residuals.items()}
    else:
        # the ranks' average of these is the mean over all the points
        counts = _global_counts(shards, ctx, residuals)
        losses = {
            label: r.pow(2).sum() * (ctx.world_size / counts[label])
            for label, r in residuals.items()
        }
    penalty = _sparsity(state) if regularise else None
    if penalty is not None:
        losses["sparsity"] = penalty
    return losses


def _local_work(state: TrainState, ctx: DistributedContext) -> _Shards:
    """This rank's shard of every point set, cut again whenever a set is replaced."""
    cached = state.shards
    if (
        cached is None
        or cached.source.keys() != state.points.keys()
        or any(cached.source[k] is not v for k, v in state.points.items())
    ):
        terms = [
            term
            if term.targets is None
            else replace(term, targets={k: ctx.shard(v) for k, v in term.targets.items()})
            for term in state.terms
        ]
        state.shards = _Shards(dict(state.points), ctx.shard_all(state.points), terms)
    return state.shards  # type: ignore[return-value]


def _global_counts(
    shards: _Shards, ctx: DistributedContext, residuals: Mapping[str, Tensor]
) -> dict[str, float]:
    """Number of residuals of every term over all ranks (one all-reduce per new shard)."""
    if shards.counts is None:
        labels = sorted(residuals)
        like = next(iter(residuals.values()))
        local = torch.tensor([float(residuals[k].numel()) for k in labels], device=like.device)
        shards.counts = dict(zip(labels, ctx.sum(local).tolist(), strict=True))
    return shards.counts


def _sparsity(state: TrainState) -> Tensor | None:
    """KAN sparsity penalty on the network inputs (embedded interior points), or None if off."""
    s, network = state.settings, state.model.network
    if s.sparsity == 0 or not isinstance(network, KAN) or "interior" not in state.points:
        return None
    points = evenly_spaced_rows(state.points["interior"].detach(), SPARSITY_SAMPLES)
    inputs = state.model.embed(points)
    return sparsity_penalty(network, inputs, l1=s.sparsity_l1, entropy=s.sparsity_entropy)


def _total(state: TrainState, losses: dict[str, Tensor]) -> Tensor:
    weights = _weights(state)
    total = sum((weights[label] * loss for label, loss in losses.items()), torch.zeros(()))
    return total  # type: ignore[return-value]


def _check_finite(state: TrainState, loss: Tensor, losses: dict[str, Tensor]) -> None:
    if not torch.isfinite(loss):
        bad = [label for label, value in losses.items() if not torch.isfinite(value)]
        raise NonFiniteError(
            f"the loss became {loss.item()} at step {state.step} ({state.phase}); non-finite "
            f"terms: {', '.join(bad) or 'none (the weighted sum overflowed)'}. Try a smaller "
            f"learning_rate, dtype = 'float64', or a smaller grid_size"
        )


def _adapt_weights(state: TrainState) -> None:
    """Gradient-norm balancing (Wang, Teng & Perdikaris 2021) with a moving average.

    The sparsity penalty keeps its fixed weight: only the physics and data terms are balanced.
    """
    params = [p for p in state.model.parameters() if p.requires_grad]
    losses = _losses(state, regularise=False)
    norms = {}
    for label, loss in losses.items():
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        flat = torch.cat(
            [
                (torch.zeros_like(p) if g is None else g).reshape(-1)
                for g, p in zip(grads, params, strict=True)
            ]
        )
        if state.distributed is not None:
            flat = state.distributed.mean(flat)
        norms[label] = float(flat.norm())
    total = sum(norms.values())
    for label, norm in norms.items():
        target = total / max(norm, 1e-12)
        previous = state.adaptive.get(label, target)
        state.adaptive[label] = min(max(0.9 * previous + 0.1 * target, 1e-3), 1e6)


def _resample(state: TrainState) -> None:
    geometry = state.geometry or Geometry(state.problem.domain)
    s = state.settings
    if s.resample == "random":
        state.points = _sample(state, geometry)
        return
    like = next(state.model.parameters())
    candidates = geometry.sample_interior(
        8 * s.n_collocation,
        method="uniform",
        generator=state.generator,
        dtype=like.dtype,
        device=like.device,
    )
    assert state.engine is not None
    engine = state.engine
    ctx = state.distributed
    mine = candidates if ctx is None else ctx.shard(candidates)
    # scored in blocks of the training batch size: no more memory than a training step
    blocks = []
    for block in mine.split(max(s.n_collocation, 1)):
        with torch.no_grad() if engine.name == "taylor" else torch.enable_grad():
            norm = equation_residual_norm(
                state.model, engine, state.terms, block, state.problem.fields
            )
        blocks.append(norm.detach())
    density = torch.cat(blocks)
    if ctx is not None:
        density = ctx.gather_rows(density, len(candidates))
    # RAD (Wu et al. 2023): p ~ r^k / mean(r^k) + c with k = 1, c = 1
    probability = density / density.mean().clamp_min(1e-300) + 1.0
    chosen = torch.multinomial(
        probability.cpu(), s.n_collocation, replacement=False, generator=state.generator
    )
    state.points["interior"] = candidates[chosen.to(candidates.device)]


def _grid_edits(state: TrainState) -> None:
    network = state.model.network
    if not isinstance(network, KAN) or network.config.basis != "bspline":
        return
    s, step = state.settings, state.step
    embedded = state.model.embed(state.points["interior"]).detach()
    for at, grid_size in s.grid_schedule:
        if at == step and step > 0 and grid_size != network.config.grid_size:
            state.model.network = refine_grid(network, grid_size, embedded)
            state.optimizer = None
            return
    if s.grid_update_every and step < s.steps and step > 0 and step % s.grid_update_every == 0:
        state.model.network = update_grid(network, embedded)
        state.optimizer = None


def _record(state: TrainState, losses: dict[str, Tensor], loss: Tensor, start: float) -> None:
    row: dict[str, Any] = {
        "step": state.step,
        "phase": state.phase,
        "time_s": round(state.elapsed + time.perf_counter() - start, 4),
        "loss": float(loss),
    }
    row.update({f"loss_{label}": float(value.detach()) for label, value in losses.items()})
    row.update({name: float(p.detach()) for name, p in state.model.pde_parameters.items()})
    state.history.append(row)


def train(
    state: TrainState,
    *,
    progress: bool = False,
    callback: Callback | None = None,
    checkpoint: Callable[[TrainState], None] | None = None,
) -> TrainState:
    """Run (or continue) the optimisation in ``state`` until its step budget or a stop rule."""
    s = state.settings
    total = s.total_steps
    log_every = s.log_every or max(1, total // 200)
    start = time.perf_counter()
    ctx = state.distributed
    bar = None
    if progress and (ctx is None or ctx.is_main):
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=state.step, desc=state.problem.name, leave=False)
    state.status = "running"
    interrupt = _GracefulInterrupt()
    precision = _Precision(state)
    snapshot: _Snapshot | None = None
    try:
        while state.step < total:
            _grid_edits(state)
            phase = state.phase
            if state.step > 0 and phase == "adam" and s.resample != "none":
                if state.step % s.resample_every == 0:
                    _resample(state)
            if phase == "adam" and s.adaptive_weights and state.step % 100 == 0:
                _adapt_weights(state)
            if state.optimizer is None or state.optimizer_phase != phase:
                saved_phase = state.optimizer_phase
                state.optimizer = _make_optimizer(state)
                state.optimizer_phase = phase
                # a resumed run continues its optimiser, unless it has moved to the next phase
                if state.optimizer_state is not None and saved_phase == phase:
                    state.optimizer.load_state_dict(state.optimizer_state)
                state.optimizer_state = None
                if ctx is not None:  # the parameters may be new (grid edits): wrap them again
                    state.ddp = _wrap_ddp(state, ctx)
                snapshot = None
            if snapshot is None or state.step % SNAPSHOT_EVERY == 0:
                snapshot = _Snapshot.take(state)
            optimizer = state.optimizer
            cache: dict[str, Any] = {}
            closure = _closure(state, optimizer, cache)

            try:
                if phase == "adam":
                    for group in optimizer.param_groups:
                        group["lr"] = _learning_rate(state)
                    closure()
                    optimizer.step()
                else:
                    optimizer.step(closure)  # type: ignore[arg-type]
                _check_parameters(state)
            except NonFiniteError as error:
                if len(state.recoveries) >= s.nan_retries:
                    tried = len(state.recoveries)
                    raise NonFiniteError(
                        f"{error} (gave up after {tried} rollback(s) with a halved learning "
                        f"rate each; [training] nan_retries = {s.nan_retries})"
                    ) from None
                _recover(state, snapshot, error)
                if bar is not None:
                    bar.n = state.step
                    bar.refresh()
                continue
            loss, losses = cache["loss"], cache["losses"]
            state.last_loss = float(loss)
            state.last_terms = {label: float(v.detach()) for label, v in losses.items()}
            if state.step % log_every == 0 or state.step == total - 1:
                _record(state, losses, loss, start)
            state.step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{state.last_loss:.3e}", phase=phase, refresh=False)
            elapsed = state.elapsed + time.perf_counter() - start
            if checkpoint is not None and state.step % s.checkpoint_every == 0:
                _sync_elapsed(state, start)
                start = time.perf_counter()
                checkpoint(state)
            stop = 0
            if s.loss_target is not None and state.last_loss <= s.loss_target:
                stop = 1
            elif s.time_limit is not None and elapsed >= s.time_limit:
                stop = 2
            elif callback is not None and callback(state):
                stop = 3
            elif interrupt.requested:
                stop = 4
            if ctx is not None:  # every rank stops at the same step, or none does
                stop = ctx.agree(stop)
            if stop:
                state.status = _STOPS[stop]
                break
    except KeyboardInterrupt:
        state.status = "interrupted"
    finally:
        precision.restore()
        interrupt.restore()
        if bar is not None:
            bar.close()
        _sync_elapsed(state, start)
    if state.status == "running":
        state.status = "completed"
    return state


_STOPS = {1: "target_reached", 2: "time_limit", 3: "stopped", 4: "interrupted"}

# steps between the in-memory states that a non-finite loss rolls back to
SNAPSHOT_EVERY = 50


@dataclass
class _Snapshot:
    """A finite state of the run to roll back to: network, PDE parameters, Adam's moments,
    points, sampling generator, adaptive weights and the length of the history."""

    step: int
    phase: str
    network: Network
    pde_parameters: dict[str, Tensor]
    optimizer_state: dict[str, Any] | None
    points: dict[str, Tensor]
    generator: Tensor
    adaptive: dict[str, float]
    history_length: int

    @classmethod
    def take(cls, state: TrainState) -> _Snapshot:
        adam = state.optimizer is not None and state.optimizer_phase == "adam"
        return cls(
            step=state.step,
            phase=state.optimizer_phase,
            network=copy.deepcopy(state.model.network),
            pde_parameters={k: v.detach().clone() for k, v in state.model.pde_parameters.items()},
            # L-BFGS restarts with an empty history: its curvature pairs led to the failure
            optimizer_state=copy.deepcopy(state.optimizer.state_dict()) if adam else None,  # type: ignore[union-attr]
            points=dict(state.points),
            generator=state.generator.get_state(),
            adaptive=dict(state.adaptive),
            history_length=len(state.history),
        )


def _recover(state: TrainState, snapshot: _Snapshot | None, error: NonFiniteError) -> None:
    """Roll back to ``snapshot``, halve the learning rate and record what happened."""
    assert snapshot is not None
    failed, phase = state.step, state.phase
    state.model.network = copy.deepcopy(snapshot.network)  # the snapshot stays as it was
    with torch.no_grad():
        for name, value in snapshot.pde_parameters.items():
            state.model.pde_parameters[name].copy_(value)
    state.points = dict(snapshot.points)
    state.generator.set_state(snapshot.generator)
    state.adaptive = dict(snapshot.adaptive)
    del state.history[snapshot.history_length :]
    state.step = snapshot.step
    state.optimizer = None  # rebuilt (and DDP re-wrapped) by the loop, with Adam's moments
    state.optimizer_phase = snapshot.phase
    state.optimizer_state = snapshot.optimizer_state
    state.lr_scale *= 0.5
    event = {
        "step": failed,
        "phase": phase,
        "rolled_back_to": snapshot.step,
        "learning_rate_scale": state.lr_scale,
        "error": str(error),
    }
    state.recoveries.append(event)
    logger.warning(
        "non-finite values at step %d (%s): rolled back to step %d, learning rate scale now %g",
        failed,
        phase,
        snapshot.step,
        state.lr_scale,
    )


def _check_parameters(state: TrainState) -> None:
    """Raise NonFiniteError if an optimiser step left a parameter NaN or infinite."""
    params = list(state.model.parameters())
    if bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
        return
    bad = [name for name, p in state.model.named_parameters() if not torch.isfinite(p).all()]
    raise NonFiniteError(
        f"parameters became non-finite at step {state.step} ({state.phase}): "
        f"{', '.join(bad)}. Try a smaller learning_rate, dtype = 'float64', or a smaller "
        f"grid_size"
    )


class _Loss(torch.nn.Module):
    """The weighted training loss as a module, so that DistributedDataParallel can wrap it."""

    def __init__(self, state: TrainState) -> None:
        super().__init__()
        self.model = state.model
        self._state = (state,)  # not a submodule

    def forward(self) -> tuple[Tensor, dict[str, Tensor]]:
        state = self._state[0]
        losses = _losses(state)
        return _total(state, losses), losses


def _wrap_ddp(state: TrainState, ctx: DistributedContext) -> torch.nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        _Loss(state),
        device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
        broadcast_buffers=False,  # every rank holds the same knots already
        find_unused_parameters=True,  # e.g. parameters of terms a rank has no points for
    )


def _global_losses(
    ctx: DistributedContext, loss: Tensor, losses: dict[str, Tensor]
) -> tuple[Tensor, dict[str, Tensor]]:
    """The total and per-term losses over all ranks (one all-reduce of all of them)."""
    labels = list(losses)
    stacked = torch.stack([loss.detach(), *(losses[k].detach().to(loss.dtype) for k in labels)])
    values = ctx.mean(stacked)
    return values[0], {label: values[i + 1] for i, label in enumerate(labels)}


def _closure(
    state: TrainState, optimizer: torch.optim.Optimizer, cache: dict[str, Any]
) -> Callable[[], Tensor]:
    """Loss evaluation with backward; the first call's losses are kept in ``cache``.

    In a distributed run the loss goes through DistributedDataParallel (gradients averaged
    over the ranks) and the returned value is the all-reduced loss, the same on every rank.
    """
    ctx = state.distributed

    def closure() -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        if ctx is None:
            losses = _losses(state)
            loss = _total(state, losses)
            shown, shown_terms = loss, losses
        else:
            assert state.ddp is not None
            loss, losses = state.ddp()
            shown, shown_terms = _global_losses(ctx, loss, losses)
        _check_finite(state, shown, shown_terms)
        loss.backward()
        if "loss" not in cache:
            cache["loss"], cache["losses"] = shown.detach(), shown_terms
        return shown if ctx is None else shown.detach()

    return closure


class _Precision:
    """TensorFloat-32 matrix products on CUDA as ``[training] tf32`` says (off by default:
    second-derivative residuals lose most of their digits with it), restored afterwards."""

    def __init__(self, state: TrainState) -> None:
        self._previous: tuple[bool, bool] | None = None
        if next(state.model.parameters()).device.type != "cuda":
            return
        backends = torch.backends
        self._previous = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32)
        backends.cuda.matmul.allow_tf32 = state.settings.tf32
        backends.cudnn.allow_tf32 = state.settings.tf32

    def restore(self) -> None:
        if self._previous is not None:
            matmul, cudnn = self._previous
            torch.backends.cuda.matmul.allow_tf32 = matmul
            torch.backends.cudnn.allow_tf32 = cudnn


class _GracefulInterrupt:
    """The first Ctrl-C (SIGINT) or SIGTERM ends the run after the current step, so that the
    checkpoint and the result are consistent; a second one interrupts at once. Installed in
    the main thread only; the previous handlers are restored afterwards."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        name = signal.Signals(signum).name
        logger.warning("%s: stopping after this step (send it again to abort at once)", name)

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            if previous is not None:  # None: the handler was not installed from Python
                signal.signal(signum, previous)
        self._previous = {}


def _sync_elapsed(state: TrainState, start: float) -> None:
    state.elapsed += time.perf_counter() - start
