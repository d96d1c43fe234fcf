"""What every kanphys network shares: a frozen config, checked input, and a model registry."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from kanphys._checks import check_input
from kanphys.errors import ConfigError

__all__ = ["MODELS", "Network", "config_from_dict", "register_model"]

MODELS: dict[str, type[Network]] = {}

C = TypeVar("C")


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build the frozen config dataclass ``cls`` from ``data``; unknown keys raise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} expects a dict; received {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} key(s) {unknown}; allowed keys are {sorted(names)}"
        )
    return cls(**data)


def register_model(cls: type[Network]) -> type[Network]:
    """Class decorator adding a network class to :data:`MODELS` (used by checkpoints)."""
    MODELS[cls.__name__] = cls
    return cls


class Network(nn.Module, abc.ABC):
    """Base class of kanphys networks: ``(N, in_features) -> (N, out_features)``.

    Subclasses set ``config`` (a frozen dataclass with ``to_dict``) and implement
    :meth:`forward_unchecked`. :meth:`forward` checks the input first: shape, floating dtype,
    finiteness. It never changes state.
    """

    config: Any
    in_features: int
    out_features: int
    config_class: ClassVar[type]

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features, owner=type(self).__name__, like=next(self.parameters()))
        return self.forward_unchecked(x)

    @abc.abstractmethod
    def forward_unchecked(self, x: Tensor) -> Tensor:
        """:meth:`forward` without the input checks: ``(N, in_features) -> (N, out_features)``."""

    @classmethod
    def from_config(
        cls,
        config: Any,
        *,
        dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Network:
        """Build a network from its config object or from the dict ``config.to_dict()`` gives."""
        if isinstance(config, dict):
            config = cls.config_class.from_dict(config)  # type: ignore[attr-defined]
        return cls(**config.to_kwargs(), dtype=dtype, device=device, generator=generator)

    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
