"""A multilayer perceptron with the same interface as :class:`~kanphys.models.KAN`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from kanphys.errors import ConfigError, check_int
from kanphys.layers import get_activation
from kanphys.models.base import Network, config_from_dict, register_model
from kanphys.runtime import random_tensor, resolve_device, resolve_dtype

__all__ = ["MLP", "MLPConfig"]


@dataclass(frozen=True, kw_only=True)
class MLPConfig:
    """Everything needed to rebuild an :class:`MLP`."""

    width: tuple[int, ...]
    activation: str = "tanh"

    def __post_init__(self) -> None:
        if (
            isinstance(self.width, (str, bytes))
            or not isinstance(self.width, Sequence)
            or len(self.width) < 2
        ):
            raise ConfigError(
                f"width must be a list of at least 2 positive ints; received {self.width!r}"
            )
        for position, value in enumerate(self.width):
            check_int(f"width[{position}]", value, minimum=1)
        object.__setattr__(self, "width", tuple(self.width))
        get_activation(self.activation)

    def to_dict(self) -> dict[str, Any]:
        return {"width": list(self.width), "activation": self.activation}

    to_kwargs = to_dict

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MLPConfig:
        return config_from_dict(cls, data)


@register_model
class MLP(Network):
    """Fully connected network ``(N, width[0]) -> (N, width[-1])`` with Glorot-normal weights.

    Parameters
    ----------
    width : list of int
        Nodes per layer, e.g. ``[2, 64, 64, 1]``.
    activation : str
        Hidden nonlinearity (``"tanh"`` default; see :data:`kanphys.layers.ACTIVATIONS`).
    dtype, device, generator
        As for :class:`~kanphys.models.KAN`.
    """

    config_class = MLPConfig

    def __init__(
        self,
        width: Sequence[int],
        activation: str = "tanh",
        *,
        dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.config = MLPConfig(width=tuple(width), activation=activation)
        self.in_features = self.config.width[0]
        self.out_features = self.config.width[-1]
        dtype, device = resolve_dtype(dtype), resolve_device(device)
        self.linears = nn.ModuleList()
        for fan_in, fan_out in zip(self.config.width[:-1], self.config.width[1:], strict=True):
            linear = nn.Linear(fan_in, fan_out, dtype=dtype, device=device)
            with torch.no_grad():
                std = math.sqrt(2.0 / (fan_in + fan_out))
                noise = random_tensor(
                    "randn", (fan_out, fan_in), generator=generator, dtype=dtype, device=device
                )
                linear.weight.copy_(noise * std)
                linear.bias.zero_()
            self.linears.append(linear)

    @property
    def width(self) -> tuple[int, ...]:
        return self.config.width

    def forward_unchecked(self, x: Tensor) -> Tensor:
        activation = get_activation(self.config.activation).fn
        for linear in self.linears[:-1]:
            x = activation(linear(x))
        return self.linears[-1](x)

    @classmethod
    def with_parameter_budget(
        cls,
        in_features: int,
        out_features: int,
        budget: int,
        *,
        depth: int = 2,
        activation: str = "tanh",
        dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> MLP:
        """The MLP with ``depth`` equal hidden layers and about ``budget`` parameters.

        Used to compare a KAN with an MLP at matched size:
        ``MLP.with_parameter_budget(2, 1, kan.num_parameters())``.
        """
        check_int("depth", depth, minimum=1)
        check_int("budget", budget, minimum=1)

        def count(hidden: int) -> int:
            return (
                (in_features + 1) * hidden
                + (depth - 1) * (hidden + 1) * hidden
                + (hidden + 1) * out_features
            )

        low, high = 1, max(budget, 2)  # count() increases with the width: bisect
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if count(mid) <= budget else (low, mid)
        hidden = min((low, high), key=lambda h: abs(count(h) - budget))
        width = [in_features, *([hidden] * depth), out_features]
        return cls(width, activation, dtype=dtype, device=device, generator=generator)
