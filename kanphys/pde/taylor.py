"""Second-order Taylor jets: values, gradients and chosen second derivatives in one forward pass.

A *jet* of ``m`` node values at ``N`` points with respect to ``D`` inputs is a tensor of shape
``(N, C, m)`` with ``C = 1 + D + P`` channels: channel 0 holds the values, channels ``1 .. D``
the first derivatives ``d/dx_a`` and the last ``P`` channels the second derivatives
``d2/dx_a dx_b`` for the requested pairs ``(a, b)`` (a :class:`Pairs`).

Linear maps act on every channel alike (a jet goes through ``@ W`` unchanged), a bias touches
channel 0 only, and an elementwise function ``f`` maps a jet by the chain rule:

* value ``f(v)``, first ``f'(v) v_a``, second ``f''(v) v_a v_b + f'(v) v_ab``.

A KAN layer is a sum of univariate functions, so its jet is one basis expansion with closed-form
first and second basis derivatives followed by *one* matrix multiply over all channels
(``(N C, m n) @ (m n, out)``): memory stays linear in the batch and the basis size. The whole
pass is differentiable, so a loss built from the jet trains the network with one backward pass
(no nested ``autograd.grad`` calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from kanphys.layers import KANLayer, get_activation
from kanphys.models import KAN, MLP
from kanphys.models.base import Network

__all__ = ["Pairs", "elementwise", "jet_mul", "network_jet", "seed_jet", "supports_jet"]


@dataclass(frozen=True)
class Pairs:
    """Index bookkeeping: ``D`` inputs and the ``P`` second-derivative pairs ``(a, b)``, a <= b."""

    n_inputs: int
    pairs: tuple[tuple[int, int], ...]

    @property
    def channels(self) -> int:
        return 1 + self.n_inputs + len(self.pairs)

    def first_slice(self) -> slice:
        return slice(1, 1 + self.n_inputs)

    def second_slice(self) -> slice:
        return slice(1 + self.n_inputs, self.channels)

    def index(self, a: int, b: int) -> int:
        """Channel of ``d2/dx_a dx_b``."""
        key = (min(a, b), max(a, b))
        return 1 + self.n_inputs + self.pairs.index(key)

    def left(self, device: torch.device) -> Tensor:
        return torch.tensor([a for a, _ in self.pairs], dtype=torch.long, device=device)

    def right(self, device: torch.device) -> Tensor:
        return torch.tensor([b for _, b in self.pairs], dtype=torch.long, device=device)


def seed_jet(x: Tensor, pairs: Pairs) -> Tensor:
    """The jet of the inputs themselves: ``(N, D) -> (N, C, D)`` (identity first derivatives)."""
    n, d = x.shape
    jet = x.new_zeros(n, pairs.channels, d)
    jet[:, 0] = x
    jet[:, pairs.first_slice()] = torch.eye(d, dtype=x.dtype, device=x.device)
    return jet


def elementwise(
    jet: Tensor, pairs: Pairs, value: Tensor, first: Tensor, second: Tensor | None
) -> Tensor:
    """Chain rule for ``f`` applied to every node: ``value = f(v)``, ``first = f'(v)``, ...

    ``second`` may be None when ``f'' = 0`` (affine maps).
    """
    gradient = jet[:, pairs.first_slice()]
    parts = [value.unsqueeze(1), first.unsqueeze(1) * gradient]
    if pairs.pairs:
        curvature = first.unsqueeze(1) * jet[:, pairs.second_slice()]
        if second is not None:
            left = gradient[:, pairs.left(jet.device)]
            right = gradient[:, pairs.right(jet.device)]
            curvature = curvature + second.unsqueeze(1) * left * right
        parts.append(curvature)
    return torch.cat(parts, dim=1)


def jet_mul(left: Tensor, right: Tensor, pairs: Pairs) -> Tensor:
    """Product rule for jets of the same shape."""
    fl, fr = left[:, pairs.first_slice()], right[:, pairs.first_slice()]
    parts = [(left[:, 0] * right[:, 0]).unsqueeze(1), fl * right[:, :1] + left[:, :1] * fr]
    if pairs.pairs:
        a, b = pairs.left(left.device), pairs.right(left.device)
        second = (
            left[:, pairs.second_slice()] * right[:, :1]
            + left[:, :1] * right[:, pairs.second_slice()]
            + fl[:, a] * fr[:, b]
            + fl[:, b] * fr[:, a]
        )
        parts.append(second)
    return torch.cat(parts, dim=1)


def _activation_jet(jet: Tensor, pairs: Pairs, name: str) -> Tensor:
    activation = get_activation(name)
    v = jet[:, 0]
    second = activation.second(v) if pairs.pairs else None
    return elementwise(jet, pairs, activation.fn(v), activation.first(v), second)


def kan_layer_jet(layer: KANLayer, jet: Tensor, pairs: Pairs) -> Tensor:
    """Jet of :class:`~kanphys.layers.KANLayer` outputs: ``(N, C, in) -> (N, C, out)``."""
    n, channels, _ = jet.shape
    need_second = bool(pairs.pairs)
    basis = layer.basis_values(jet[:, 0], derivatives=2 if need_second else 1)
    assert basis.first is not None
    gradient = jet[:, pairs.first_slice()].unsqueeze(-1)  # (N, D, m, 1)
    parts = [basis.values.unsqueeze(1), basis.first.unsqueeze(1) * gradient]
    if need_second:
        assert basis.second is not None
        a, b = pairs.left(jet.device), pairs.right(jet.device)
        products = gradient[:, a] * gradient[:, b]
        curvature = jet[:, pairs.second_slice()].unsqueeze(-1)
        parts.append(basis.second.unsqueeze(1) * products + basis.first.unsqueeze(1) * curvature)
    features = torch.cat(parts, dim=1).reshape(n * channels, -1)
    out = (features @ layer.spline_matrix()).reshape(n, channels, -1)
    base = layer.base_matrix()
    if base is not None:
        activated = _activation_jet(jet, pairs, layer.base_activation)  # type: ignore[arg-type]
        out = out + activated @ base
    return out


def _kan_jet(network: KAN, jet: Tensor, pairs: Pairs) -> Tensor:
    arity = network.config.mult_arity
    for layer, (n_sum, n_mult) in zip(network.kan_layers(), network.width[1:], strict=True):
        jet = kan_layer_jet(layer, jet, pairs)
        if n_mult:
            groups = jet[..., n_sum:].reshape(*jet.shape[:2], n_mult, arity)
            product = groups[..., 0]
            for k in range(1, arity):
                product = jet_mul(product, groups[..., k], pairs)
            jet = torch.cat([jet[..., :n_sum], product], dim=-1)
    return jet


def _mlp_jet(network: MLP, jet: Tensor, pairs: Pairs) -> Tensor:
    linears: list[torch.nn.Linear] = list(network.linears)  # type: ignore[arg-type]
    for position, linear in enumerate(linears):
        jet = jet @ linear.weight.T
        jet = torch.cat([(jet[:, 0] + linear.bias).unsqueeze(1), jet[:, 1:]], dim=1)
        if position < len(linears) - 1:
            jet = _activation_jet(jet, pairs, network.config.activation)
    return jet


_JETS: dict[type, Callable[[Network, Tensor, Pairs], Tensor]] = {
    KAN: _kan_jet,  # type: ignore[dict-item]
    MLP: _mlp_jet,  # type: ignore[dict-item]
}


def supports_jet(network: Network) -> bool:
    """Whether :func:`network_jet` knows the network type."""
    return type(network) in _JETS


def network_jet(network: Network, jet: Tensor, pairs: Pairs) -> Tensor:
    """Propagate an input jet ``(N, C, in_features)`` through ``network`` to ``(N, C, out)``."""
    try:
        propagate = _JETS[type(network)]
    except KeyError:
        raise TypeError(f"no Taylor-jet rule for {type(network).__name__}") from None
    return propagate(network, jet, pairs)


def pairs_for(n_inputs: int, needed: Sequence[tuple[int, int]]) -> Pairs:
    """Sorted, de-duplicated :class:`Pairs` for the requested ``(a, b)`` second derivatives."""
    unique = sorted({(min(a, b), max(a, b)) for a, b in needed})
    return Pairs(n_inputs, tuple(unique))
