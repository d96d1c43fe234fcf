"""Supervised fitting of a network to data: ``fit(model, x, y)``."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from kanphys._checks import check_input
from kanphys.errors import ConfigError, NonFiniteError, ShapeError, check_choice, check_int
from kanphys.models.base import Network, config_from_dict
from kanphys.models.kan import KAN
from kanphys.training.regularization import (
    SparsityConfig,
    evenly_spaced_rows,
    sparsity_penalty,
)
from kanphys.training.symmetry import (
    Symmetry,
    bounding_box_points,
    symmetry_from_dict,
    symmetry_loss,
)

__all__ = ["FitConfig", "FitResult", "fit"]

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "lbfgs")
DEFAULT_LEARNING_RATES = {"adam": 1e-2, "lbfgs": 1.0}


@dataclass(frozen=True, kw_only=True)
class FitConfig:
    """Settings of :func:`fit`.

    Attributes
    ----------
    steps : int
        Optimiser steps (one L-BFGS step is one iteration with a strong-Wolfe line search).
    optimizer : {"adam", "lbfgs"}
    learning_rate : float or None
        Adam step size, or the initial L-BFGS step; by default 1e-2 for Adam and 1.0 for L-BFGS.
    batch_size : int or None
        Mini-batch size for Adam; ``None`` means full batch (always full batch for L-BFGS).
    grid_update_every : int
        Move KAN grids to the data every this many steps (0: never).
    grid_update_until : int or None
        Last step at which grids are updated (default: every step of the fit).
    log_every : int
        Record the losses every this many steps (and at the last step).
    sparsity : float
        Weight of the KAN sparsification penalty
        (:func:`~kanphys.training.regularization.sparsity_penalty`) added to the mean squared
        error; 0 (default) switches it off. Needs a KAN. The penalty is evaluated on the same
        mini-batch as the error (at most 1024 evenly spaced rows of it).
    sparsity_l1, sparsity_entropy : float
        Factors of the penalty's L1 and entropy terms (defaults 1 and 2, as in the KAN paper).
    symmetries : tuple of Symmetry
        Declared symmetries (:mod:`kanphys.training.symmetry`; mappings in their ``to_dict``
        form are accepted); their weighted mean squared residuals are added to the loss.
    symmetry_weight : float
        Factor of the summed symmetry losses (default 1, > 0).
    symmetry_points : int
        Unlabelled points drawn once, uniformly in the bounding box of ``x`` (with the
        ``generator`` of :func:`fit`), where the symmetries are imposed besides the inputs of
        the current batch (default 256; 0: the inputs only). They are what makes a symmetry
        help when samples are few.
    """

    steps: int = 1000
    optimizer: str = "adam"
    learning_rate: float | None = None
    batch_size: int | None = None
    grid_update_every: int = 0
    grid_update_until: int | None = None
    log_every: int = 100
    sparsity: float = 0.0
    sparsity_l1: float = 1.0
    sparsity_entropy: float = 2.0
    symmetries: tuple[Symmetry, ...] = ()
    symmetry_weight: float = 1.0
    symmetry_points: int = 256

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", DEFAULT_LEARNING_RATES[self.optimizer])
        if not isinstance(self.learning_rate, (int, float)) or not self.learning_rate > 0:
            raise ConfigError(
                f"learning_rate must be a number > 0; received {self.learning_rate!r}"
            )
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=1)
        check_int("grid_update_every", self.grid_update_every, minimum=0)
        if self.grid_update_until is None:
            object.__setattr__(self, "grid_update_until", self.steps)
        check_int("grid_update_until", self.grid_update_until, minimum=0)
        check_int("log_every", self.log_every, minimum=1)
        for name in ("sparsity", "sparsity_l1", "sparsity_entropy"):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0; received {value!r}")
            object.__setattr__(self, name, float(value))
        if isinstance(self.symmetries, (Symmetry, Mapping)) or not isinstance(
            self.symmetries, Sequence
        ):
            raise ConfigError(
                "symmetries must be a list of Symmetry objects (or their dict forms); "
                f"received {self.symmetries!r}"
            )
        declared = []
        for item in self.symmetries:
            if isinstance(item, Mapping):
                item = symmetry_from_dict(item)
            if not isinstance(item, Symmetry):
                raise ConfigError(
                    "symmetries must hold Symmetry objects such as Translation(variables=...); "
                    f"received {type(item).__name__} {item!r}"
                )
            declared.append(item)
        object.__setattr__(self, "symmetries", tuple(declared))
        weight = self.symmetry_weight
        ok = isinstance(weight, (int, float)) and not isinstance(weight, bool)
        if not ok or not math.isfinite(weight) or weight <= 0:
            raise ConfigError(f"symmetry_weight must be a finite number > 0; received {weight!r}")
        object.__setattr__(self, "symmetry_weight", float(weight))
        check_int("symmetry_points", self.symmetry_points, minimum=0)

    @property
    def sparsity_config(self) -> SparsityConfig:
        """The sparsity settings as a :class:`SparsityConfig`."""
        return SparsityConfig(
            weight=self.sparsity, l1=self.sparsity_l1, entropy=self.sparsity_entropy
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(replace(self, symmetries=()))
        data["symmetries"] = [symmetry.to_dict() for symmetry in self.symmetries]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitConfig:
        return config_from_dict(cls, data)


@dataclass
class FitResult:
    """What :func:`fit` measured: ``history`` maps ``"step"``, ``"loss"`` (and ``"val_rmse"``)
    to lists recorded every ``log_every`` steps.

    With ``FitConfig.sparsity > 0``, ``"loss"`` is the minimised objective
    ``mse + sparsity * penalty``, and ``"mse"`` and ``"sparsity"`` (the unweighted penalty)
    are recorded as well. With ``FitConfig.symmetries``, ``"loss"`` also holds
    ``symmetry_weight * symmetry``, and ``"mse"`` and ``"symmetry"`` (the sum of each
    symmetry's weight times its mean squared residual) are recorded.
    """

    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return self.history["loss"][-1]


def _check_target(y: Tensor, x: Tensor, out_features: int, name: str) -> None:
    if not isinstance(y, Tensor) or y.dim() != 2 or y.shape != (x.shape[0], out_features):
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ShapeError(
            f"fit: {name} must have shape ({x.shape[0]}, {out_features}); received {shape}"
        )
    if not bool(torch.isfinite(y).all()):
        raise NonFiniteError(f"fit: {name} contains NaN or infinite values")


def _rmse(model: Network, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float(torch.sqrt(torch.mean((model.forward_unchecked(x) - y) ** 2)))


def fit(
    model: Network,
    x: Tensor,
    y: Tensor,
    *,
    config: FitConfig | None = None,
    validation: tuple[Tensor, Tensor] | None = None,
    generator: torch.Generator | None = None,
    names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> FitResult:
    """Train ``model`` in place to minimise the mean squared error on ``(x, y)``.

    Parameters
    ----------
    model : Network
        A :class:`~kanphys.models.KAN` or :class:`~kanphys.models.MLP`.
    x : Tensor, shape (N, in_features)
    y : Tensor, shape (N, out_features)
    config : FitConfig, optional
    validation : (Tensor, Tensor), optional
        Held-out ``(x, y)`` whose RMSE is recorded in the history.
    generator : torch.Generator, optional
        Randomness for mini-batch sampling and the symmetry points.
    names : sequence of str, optional
        Input names, in column order, by which symmetries may name variables; default
        ``x0, x1, ...`` (as in :mod:`kanphys.discovery`).
    output_names : sequence of str, optional
        Output names by which a symmetry's ``field`` may name an output; default
        ``y0, y1, ...``.

    Returns
    -------
    FitResult

    Raises
    ------
    NonFiniteError
        If the loss becomes NaN or infinite (the message gives the step).
    """
    config = config or FitConfig()
    sparsity = config.sparsity_config
    if sparsity.enabled and not isinstance(model, KAN):
        raise ConfigError(
            f"fit: sparsity regularisation needs a KAN (FitConfig.sparsity = {config.sparsity}); "
            f"received {type(model).__name__}"
        )
    check_input(x, model.in_features, owner="fit", like=next(model.parameters()))
    _warn_outside_grid(model, x, config)
    _check_target(y, x, model.out_features, "y")
    input_names = _names("names", names, model.in_features, "x")
    outputs = _names("output_names", output_names, model.out_features, "y")
    symmetric = bool(config.symmetries)
    symmetry_points = x[:0]
    if symmetric:
        for symmetry in config.symmetries:  # resolve the names now, not at the first step
            try:
                symmetry.validate(input_names, outputs)
            except ConfigError as error:
                raise ConfigError(f"fit: {error}") from None
        if config.symmetry_points:
            symmetry_points = bounding_box_points(x, config.symmetry_points, generator=generator)
    if validation is not None:
        check_input(
            validation[0],
            model.in_features,
            name="validation x",
            owner="fit",
            like=next(model.parameters()),
        )
        _check_target(validation[1], validation[0], model.out_features, "validation y")
    params = [p for p in model.parameters() if p.requires_grad]
    learning_rate = float(config.learning_rate)  # type: ignore[arg-type]  # set in __post_init__
    grid_update_until = int(config.grid_update_until)  # type: ignore[arg-type]
    if config.optimizer == "adam":
        optimizer: torch.optim.Optimizer = torch.optim.Adam(params, lr=learning_rate)
    else:
        optimizer = torch.optim.LBFGS(
            params,
            lr=learning_rate,
            max_iter=1,
            max_eval=25,
            history_size=20,
            line_search_fn="strong_wolfe",
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
    batch_size = config.batch_size if config.optimizer == "adam" else None
    full_batch = batch_size is None or batch_size >= len(x)
    history: dict[str, list[float]] = {"step": [], "loss": []}
    if sparsity.enabled or symmetric:
        history["mse"] = []
    if sparsity.enabled:
        history["sparsity"] = []
    if symmetric:
        history["symmetry"] = []
    if validation is not None:
        history["val_rmse"] = []
    result = FitResult(history)
    for step in range(1, config.steps + 1):
        if (
            config.grid_update_every
            and step <= grid_update_until
            and (step == 1 or step % config.grid_update_every == 0)
        ):
            _update_grids(model, x)
        if full_batch:
            xb, yb = x, y
        else:
            index = torch.randint(len(x), (batch_size,), generator=generator)  # type: ignore[arg-type]
            xb, yb = x[index.to(x.device)], y[index.to(x.device)]

        terms: dict[str, float] = {}

        def closure(xb: Tensor = xb, yb: Tensor = yb, terms: dict[str, float] = terms) -> float:
            optimizer.zero_grad(set_to_none=True)
            mse = torch.mean((model.forward_unchecked(xb) - yb) ** 2)
            loss = mse
            if sparsity.enabled:
                rows = evenly_spaced_rows(xb, sparsity.samples)
                penalty = sparsity_penalty(
                    model,  # type: ignore[arg-type]  # checked to be a KAN above
                    rows,
                    l1=sparsity.l1,
                    entropy=sparsity.entropy,
                )
                # the first evaluation is the one at the step's starting point
                terms.setdefault("mse", float(mse.detach()))
                terms.setdefault("sparsity", float(penalty.detach()))
                loss = loss + sparsity.weight * penalty
            if symmetric:
                where = torch.cat([xb, symmetry_points])
                symmetry = symmetry_loss(
                    config.symmetries,
                    model.forward_unchecked,
                    where,
                    names=input_names,
                    outputs=outputs,
                )
                terms.setdefault("mse", float(mse.detach()))
                terms.setdefault("symmetry", float(symmetry.detach()))
                loss = loss + config.symmetry_weight * symmetry
            loss.backward()
            return loss  # type: ignore[return-value]  # optimisers accept and return tensors

        value = float(optimizer.step(closure).detach())  # type: ignore[attr-defined]
        if not math.isfinite(value):
            raise NonFiniteError(
                f"fit: the loss became {value} at step {step}; lower learning_rate "
                f"(now {config.learning_rate}) or check the data scale"
            )
        if step % config.log_every == 0 or step == config.steps:
            result.history["step"].append(step)
            result.history["loss"].append(value)
            message = f"step {step}: loss {value:.3e}"
            for name, term in terms.items():
                result.history[name].append(term)
                message += f", {name} {term:.3e}"
            if validation is not None:
                rmse = _rmse(model, *validation)
                result.history["val_rmse"].append(rmse)
                message += f", validation RMSE {rmse:.3e}"
            logger.info(message)
    return result


def _names(argument: str, names: Sequence[str] | None, count: int, prefix: str) -> tuple[str, ...]:
    """The given names (checked: ``count`` distinct strings) or ``prefix0, prefix1, ...``."""
    if names is None:
        return tuple(f"{prefix}{i}" for i in range(count))
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"fit: {argument} must be a list of strings; received {names!r}")
    if len(names) != count:
        raise ConfigError(
            f"fit: {argument} has {len(names)} entries but the model has {count} "
            f"{'inputs' if prefix == 'x' else 'outputs'}; received {list(names)}"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"fit: {argument} must be distinct; received {list(names)}")
    return tuple(names)


def _warn_outside_grid(model: Network, x: Tensor, config: FitConfig) -> None:
    """Log a warning when inputs fall outside the first KAN layer's grid and grids stay fixed.

    Outside the grid the spline part of an edge is zero (B-splines, RBFs) or saturated
    (Chebyshev), so such a fit silently underperforms.
    """
    from kanphys.basis import get_basis

    if not isinstance(model, KAN) or config.grid_update_every:
        return
    layer = model.kan_layers()[0]
    points = get_basis(layer.basis).grid_to_points(layer.grid, layer.spline_order)
    # excursions within 1% of the span stay well inside the extension knots (and cover the
    # rounding of grids placed at the sample minimum and maximum)
    margin = 0.01 * (points[:, -1] - points[:, 0])
    outside = (x < points[:, 0] - margin) | (x > points[:, -1] + margin)
    fraction = float(outside.any(dim=1).float().mean())
    if fraction > 0:
        logger.warning(
            "fit: %.1f%% of the inputs lie outside the first layer's grid range; build the KAN "
            "with a grid_range covering the data, or set FitConfig(grid_update_every=...)",
            100 * fraction,
        )


def _update_grids(model: Network, x: Tensor) -> None:
    """Grid update inside training: same shapes, so the new values are copied into ``model``."""
    from kanphys.models import update_grid

    if isinstance(model, KAN):
        with torch.no_grad():
            model.load_state_dict(update_grid(model, x).state_dict())
