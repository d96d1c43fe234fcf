"""Settings of :func:`kanphys.solve`: the ``[model]`` and ``[training]`` tables of a spec.

Values come, in increasing priority, from the defaults below, the spec's tables and explicit
overrides (command-line flags or keyword arguments). Unknown keys and bad values raise a
:class:`~kanphys.errors.SpecError` that names the table, the key and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kanphys.basis import BASES
from kanphys.errors import ConfigError, SpecError
from kanphys.layers import ACTIVATIONS

__all__ = ["ModelSettings", "TrainingSettings", "settings_from_tables"]

MODEL_TYPES = ("kan", "mlp")
SAMPLERS = ("uniform", "sobol", "lhs")
RESAMPLERS = ("none", "random", "rad")
DTYPES = ("float32", "float64")
DERIVATIVES = ("auto", "taylor", "autograd")


def _fail(table: str, key: str, allowed: str, value: Any) -> SpecError:
    return SpecError(f"[{table}] {key} must be {allowed}; received {value!r}")


def _positive_int(table: str, key: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(table, key, f"an integer >= {minimum}", value)
    return value


def _positive_float(table: str, key: str, value: Any, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise _fail(table, key, "a number >= 0" if allow_zero else "a number > 0", value)
    return float(value)


def _choice(table: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(table, key, f"one of {', '.join(map(repr, allowed))}", value)
    return str(value)


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """The ``[model]`` table.

    Attributes
    ----------
    type : {"kan", "mlp"}
    hidden : tuple of int or None
        Hidden layer widths of the KAN; default ``(8,)``.
    mlp_hidden : tuple of int or None
        Hidden layer widths of the MLP; by default two equal hidden layers with about as many
        parameters as the KAN these settings describe (matched-size comparisons).
    basis, grid_size, spline_order, base_activation
        KAN settings (see :class:`~kanphys.models.KAN`).
    activation : str
        MLP nonlinearity.
    hard_constraints : bool
        Impose the Dirichlet conditions that allow it exactly through an output transform.
    """

    type: str = "kan"
    hidden: tuple[int, ...] | None = None
    basis: str = "bspline"
    grid_size: int = 5
    spline_order: int = 3
    base_activation: str | None = "silu"
    activation: str = "tanh"
    hard_constraints: bool = True
    mlp_hidden: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        t = "model"
        _choice(t, "type", self.type, MODEL_TYPES)
        for key in ("hidden", "mlp_hidden"):
            hidden = getattr(self, key)
            if hidden is None:
                continue
            if isinstance(hidden, int) and not isinstance(hidden, bool):
                hidden = (hidden,)
            if not isinstance(hidden, (list, tuple)) or not hidden:
                raise _fail(t, key, "a non-empty list of positive ints", getattr(self, key))
            for value in hidden:
                _positive_int(t, key, value)
            object.__setattr__(self, key, tuple(hidden))
        _choice(t, "basis", self.basis, tuple(BASES))
        _positive_int(t, "grid_size", self.grid_size)
        _positive_int(t, "spline_order", self.spline_order, minimum=0)
        if self.base_activation is not None and self.base_activation != "none":
            _choice(t, "base_activation", self.base_activation, tuple(ACTIVATIONS))
        elif self.base_activation == "none":
            object.__setattr__(self, "base_activation", None)
        _choice(t, "activation", self.activation, tuple(ACTIVATIONS))
        if not isinstance(self.hard_constraints, bool):
            raise _fail(t, "hard_constraints", "true or false", self.hard_constraints)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("hidden", "mlp_hidden"):
            value = getattr(self, key)
            data[key] = list(value) if value is not None else None
        return data


@dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    """The ``[training]`` table (see ``docs/spec-format.md`` for the meaning of each key)."""

    steps: int = 1000
    lbfgs_steps: int = 0
    learning_rate: float | None = None
    lr_decay: float = 1.0
    n_collocation: int = 2000
    n_boundary: int = 200
    sampler: str = "sobol"
    resample: str = "none"
    resample_every: int = 500
    weights: Mapping[str, float] = field(default_factory=dict)
    adaptive_weights: bool = False
    grid_update_every: int = 0
    grid_schedule: tuple[tuple[int, int], ...] = ()
    grid_warmup: int = 100
    loss_target: float | None = None
    dtype: str | None = None
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 0
    time_limit: float | None = None
    derivatives: str = "auto"
    tf32: bool = False
    nan_retries: int = 3
    sparsity: float = 0.0
    sparsity_l1: float = 1.0
    sparsity_entropy: float = 2.0

    def __post_init__(self) -> None:
        t = "training"
        _positive_int(t, "steps", self.steps, minimum=0)
        _positive_int(t, "lbfgs_steps", self.lbfgs_steps, minimum=0)
        if self.steps + self.lbfgs_steps == 0:
            raise SpecError("[training] steps + lbfgs_steps must be at least 1; received 0")
        if self.learning_rate is not None:
            _positive_float(t, "learning_rate", self.learning_rate)
        decay = _positive_float(t, "lr_decay", self.lr_decay)
        if decay > 1:
            raise _fail(t, "lr_decay", "a number in (0, 1] (factor per 1000 steps)", decay)
        _positive_int(t, "n_collocation", self.n_collocation)
        _positive_int(t, "n_boundary", self.n_boundary)
        _choice(t, "sampler", self.sampler, SAMPLERS)
        _choice(t, "resample", self.resample, RESAMPLERS)
        _positive_int(t, "resample_every", self.resample_every)
        if not isinstance(self.weights, Mapping):
            raise _fail(t, "weights", "a table of label = weight", self.weights)
        for label, weight in self.weights.items():
            _positive_float(t, f"weights.{label}", weight, allow_zero=True)
        object.__setattr__(self, "weights", dict(self.weights))
        if not isinstance(self.adaptive_weights, bool):
            raise _fail(t, "adaptive_weights", "true or false", self.adaptive_weights)
        _positive_int(t, "grid_update_every", self.grid_update_every, minimum=0)
        schedule = []
        for entry in self.grid_schedule:
            if (
                not isinstance(entry, (list, tuple))
                or len(entry) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in entry)
                or entry[0] < 0
                or entry[1] < 1
            ):
                raise _fail(t, "grid_schedule", "a list of [step, grid_size] integer pairs", entry)
            schedule.append((int(entry[0]), int(entry[1])))
        object.__setattr__(self, "grid_schedule", tuple(sorted(schedule)))
        _positive_int(t, "grid_warmup", self.grid_warmup, minimum=0)
        if self.loss_target is not None:
            _positive_float(t, "loss_target", self.loss_target)
        if self.dtype is not None:
            _choice(t, "dtype", self.dtype, DTYPES)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise _fail(t, "seed", "an integer >= 0", self.seed)
        _positive_int(t, "checkpoint_every", self.checkpoint_every)
        _positive_int(t, "log_every", self.log_every, minimum=0)
        if self.time_limit is not None:
            _positive_float(t, "time_limit", self.time_limit)
        _choice(t, "derivatives", self.derivatives, DERIVATIVES)
        _positive_int(t, "nan_retries", self.nan_retries, minimum=0)
        if not isinstance(self.tf32, bool):
            raise _fail(t, "tf32", "true or false", self.tf32)
        for key in ("sparsity", "sparsity_l1", "sparsity_entropy"):
            object.__setattr__(
                self, key, _positive_float(t, key, getattr(self, key), allow_zero=True)
            )

    @property
    def total_steps(self) -> int:
        return self.steps + self.lbfgs_steps

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["grid_schedule"] = [list(entry) for entry in self.grid_schedule]
        return data


def _build(cls: type, table: str, values: Mapping[str, Any]) -> Any:
    allowed = [f.name for f in fields(cls)]
    for key in values:
        if key not in allowed:
            raise SpecError(
                f"[{table}] has an unknown key {key!r}; allowed keys are {', '.join(allowed)}"
            )
    try:
        return cls(**values)
    except ConfigError as error:  # pragma: no cover - every check above raises SpecError
        raise SpecError(f"[{table}]: {error}") from None


def settings_from_tables(
    model: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    *,
    model_overrides: Mapping[str, Any] | None = None,
    training_overrides: Mapping[str, Any] | None = None,
) -> tuple[ModelSettings, TrainingSettings]:
    """Merge spec tables and overrides (``None`` values are ignored) into validated settings."""

    def merge(base: Mapping[str, Any] | None, extra: Mapping[str, Any] | None) -> dict[str, Any]:
        merged = dict(base or {})
        merged.update({k: v for k, v in (extra or {}).items() if v is not None})
        return merged

    model_values = merge(model, model_overrides)
    training_values = merge(training, training_overrides)
    # "width" (the command line's --width) sets the hidden widths of the selected model type
    width = model_values.pop("width", None)
    if width is not None:
        key = "mlp_hidden" if model_values.get("type", "kan") == "mlp" else "hidden"
        model_values[key] = width
    for key in ("hidden", "mlp_hidden"):
        if isinstance(model_values.get(key), list):
            model_values[key] = tuple(model_values[key])
    return (
        _build(ModelSettings, "model", model_values),
        _build(TrainingSettings, "training", training_values),
    )
