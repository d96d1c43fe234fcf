"""Supervised fitting of a network to data: ``fit(model, x, y)``."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from kanphys._checks import check_input
from kanphys.errors import ConfigError, NonFiniteError, ShapeError, check_choice, check_int
from kanphys.models.base import Network, config_from_dict

__all__ = ["FitConfig", "FitResult", "fit"]

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "lbfgs")


@dataclass(frozen=True, kw_only=True)
class FitConfig:
    """Settings of :func:`fit`.

    Attributes
    ----------
    steps : int
        Optimiser steps (one L-BFGS step is one iteration with a strong-Wolfe line search).
    optimizer : {"adam", "lbfgs"}
    learning_rate : float
        Adam step size, or the initial L-BFGS step (1.0 is usual).
    batch_size : int or None
        Mini-batch size for Adam; ``None`` means full batch (always full batch for L-BFGS).
    grid_update_every : int
        Move KAN grids to the data every this many steps (0: never).
    grid_update_until : int
        Last step at which grids are updated.
    log_every : int
        Record the losses every this many steps (and at the last step).
    """

    steps: int = 1000
    optimizer: str = "adam"
    learning_rate: float = 1e-2
    batch_size: int | None = None
    grid_update_every: int = 0
    grid_update_until: int = 0
    log_every: int = 100

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if not isinstance(self.learning_rate, (int, float)) or not self.learning_rate > 0:
            raise ConfigError(
                f"learning_rate must be a number > 0; received {self.learning_rate!r}"
            )
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=1)
        check_int("grid_update_every", self.grid_update_every, minimum=0)
        check_int("grid_update_until", self.grid_update_until, minimum=0)
        check_int("log_every", self.log_every, minimum=1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitConfig:
        return config_from_dict(cls, data)


@dataclass
class FitResult:
    """What :func:`fit` measured: ``history`` maps ``"step"``, ``"loss"`` (and ``"val_rmse"``)
    to lists recorded every ``log_every`` steps."""

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
        Randomness for mini-batch sampling.

    Returns
    -------
    FitResult

    Raises
    ------
    NonFiniteError
        If the loss becomes NaN or infinite (the message gives the step).
    """
    config = config or FitConfig()
    check_input(x, model.in_features, owner="fit", like=next(model.parameters()))
    _check_target(y, x, model.out_features, "y")
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
    if config.optimizer == "adam":
        optimizer: torch.optim.Optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    else:
        optimizer = torch.optim.LBFGS(
            params,
            lr=config.learning_rate,
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
    if validation is not None:
        history["val_rmse"] = []
    result = FitResult(history)
    for step in range(1, config.steps + 1):
        if (
            config.grid_update_every
            and step <= config.grid_update_until
            and (step == 1 or step % config.grid_update_every == 0)
        ):
            _update_grids(model, x)
        if full_batch:
            xb, yb = x, y
        else:
            index = torch.randint(len(x), (batch_size,), generator=generator)  # type: ignore[arg-type]
            xb, yb = x[index.to(x.device)], y[index.to(x.device)]

        def closure(xb: Tensor = xb, yb: Tensor = yb) -> float:
            optimizer.zero_grad(set_to_none=True)
            loss = torch.mean((model.forward_unchecked(xb) - yb) ** 2)
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
            if validation is not None:
                rmse = _rmse(model, *validation)
                result.history["val_rmse"].append(rmse)
                message += f", validation RMSE {rmse:.3e}"
            logger.info(message)
    return result


def _update_grids(model: Network, x: Tensor) -> None:
    """Grid update inside training: same shapes, so the new values are copied into ``model``."""
    from kanphys.models import KAN, update_grid

    if isinstance(model, KAN):
        with torch.no_grad():
            model.load_state_dict(update_grid(model, x).state_dict())
