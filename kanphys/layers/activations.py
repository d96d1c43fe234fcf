"""Elementwise activations with closed-form first and second derivatives.

Used as the residual base function ``b(x)`` of KAN edges and as the MLP nonlinearity. The
derivatives are needed by physics-informed training, which pushes input derivatives through
layers analytically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from kanphys.errors import ConfigError

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]


@dataclass(frozen=True)
class Activation:
    """An elementwise function with its derivatives.

    Attributes
    ----------
    name : str
    fn, first, second : callable
        ``Tensor -> Tensor`` of the same shape: ``f``, ``f'`` and ``f''``.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    first: Callable[[Tensor], Tensor]
    second: Callable[[Tensor], Tensor]
    together: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]] | None = None

    def all_orders(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(f, f', f'')`` at ``x``, sharing the work between them where that is possible."""
        if self.together is not None:
            return self.together(x)
        return self.fn(x), self.first(x), self.second(x)


def _silu_first(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


def _silu_second(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s) * (2 + x * (1 - 2 * s))


def _tanh_first(x: Tensor) -> Tensor:
    t = torch.tanh(x)
    return 1 - t * t


def _tanh_second(x: Tensor) -> Tensor:
    t = torch.tanh(x)
    return -2 * t * (1 - t * t)


def _silu_together(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    s = torch.sigmoid(x)
    slope = s * (1 - s)
    return x * s, s + x * slope, slope * (2 + x * (1 - 2 * s))


def _tanh_together(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    t = torch.tanh(x)
    first = 1 - t * t
    return t, first, -2 * t * first


def _sigmoid_together(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    s = torch.sigmoid(x)
    first = s * (1 - s)
    return s, first, first * (1 - 2 * s)


def _sigmoid_first(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


def _sigmoid_second(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s) * (1 - 2 * s)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("silu", torch.nn.functional.silu, _silu_first, _silu_second, _silu_together),
        Activation("tanh", torch.tanh, _tanh_first, _tanh_second, _tanh_together),
        Activation("sigmoid", torch.sigmoid, _sigmoid_first, _sigmoid_second, _sigmoid_together),
        Activation("sin", torch.sin, torch.cos, lambda x: -torch.sin(x)),
        Activation("softplus", torch.nn.functional.softplus, torch.sigmoid, _sigmoid_first),
        Activation("identity", lambda x: x, torch.ones_like, torch.zeros_like),
    )
}


def get_activation(name: str, *, argument: str = "activation") -> Activation:
    """Return the registered activation ``name``; ``argument`` names the caller's parameter."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ConfigError(f"{argument} must be one of {sorted(ACTIVATIONS)}; received {name!r}")
    return ACTIVATIONS[name]
