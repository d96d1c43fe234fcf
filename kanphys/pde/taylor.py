"""Second-order Taylor jets: values, gradients and chosen second derivatives in one forward pass.

A *jet* of ``m`` node values at ``N`` points with respect to ``D`` inputs is a :class:`Jet` of
three tensors: ``value`` ``(N, m)``, ``first`` ``(N, D, m)`` (the first derivatives
``d/dx_a``) and ``second`` ``(N, P, m)`` (the second derivatives ``d2/dx_a dx_b`` for the
requested pairs ``(a, b)``, a :class:`Pairs`). Keeping the three apart (rather than as
channels of one tensor) means that no stage slices a jet, so the backward pass never
zero-fills and scatters full-size gradients.

Linear maps act on every part alike, a bias touches the value only, and an elementwise
function ``f`` maps a jet by the chain rule:

* value ``f(v)``, first ``f'(v) v_a``, second ``f''(v) v_a v_b + f'(v) v_ab``.

A KAN layer is a sum of univariate functions, so its jet is one basis expansion with closed-form
first and second basis derivatives followed by *one* matrix product over all parts. B-spline
layers apply the chain rule to the ``k + 1`` non-zero functions at each point only (see
:func:`_bspline_layer_jet`). Memory stays linear in the batch and the basis size. The whole
pass is differentiable, so a loss built from the jet trains the network with one backward pass
(no nested ``autograd.grad`` calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from kanphys.basis.bspline import bspline_local
from kanphys.layers import KANLayer, get_activation
from kanphys.models import KAN, MLP
from kanphys.models.base import Network

__all__ = [
    "Jet",
    "Pairs",
    "elementwise",
    "jet_mul",
    "network_jet",
    "seed_jet",
    "split_channels",
    "supports_jet",
]


@dataclass(frozen=True)
class Pairs:
    """Index bookkeeping: ``D`` inputs and the ``P`` second-derivative pairs ``(a, b)``, a <= b."""

    n_inputs: int
    pairs: tuple[tuple[int, int], ...]
    _indices: dict[torch.device, tuple[Tensor, Tensor]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def channels(self) -> int:
        return 1 + self.n_inputs + len(self.pairs)

    @property
    def diagonal(self) -> bool:
        """The pairs are ``(0, 0), (1, 1), ..., (D-1, D-1)`` in order (a Laplacian's)."""
        return self.pairs == tuple((a, a) for a in range(self.n_inputs))

    def index(self, a: int, b: int) -> int:
        """Position of ``d2/dx_a dx_b`` in :attr:`Jet.second`."""
        return self.pairs.index((min(a, b), max(a, b)))

    def sides(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """``(a, b)`` of every pair as index tensors on ``device`` (made once per device and
        :class:`Pairs` object)."""
        if device not in self._indices:
            left = torch.tensor([a for a, _ in self.pairs], dtype=torch.long, device=device)
            right = torch.tensor([b for _, b in self.pairs], dtype=torch.long, device=device)
            self._indices[device] = (left, right)
        return self._indices[device]

    def products(self, first: Tensor) -> Tensor:
        """``v_a v_b`` for every pair from first derivatives ``(N, D, ...)``: ``(N, P, ...)``."""
        if self.diagonal:
            return first * first
        left, right = self.sides(first.device)
        chosen = first.index_select(1, left)
        if all(a == b for a, b in self.pairs):  # pure second derivatives only
            return chosen * chosen
        return chosen * first.index_select(1, right)


class Jet(NamedTuple):
    """Values ``(N, m)``, first derivatives ``(N, D, m)`` and paired second derivatives
    ``(N, P, m)`` (``P`` may be 0) of ``m`` nodes."""

    value: Tensor
    first: Tensor
    second: Tensor

    def matmul(self, weight: Tensor, bias: Tensor | None = None) -> Jet:
        """The jet of ``node @ weight (+ bias)``: one matrix product for all parts."""
        n, d, p = self.first.shape[0], self.first.shape[1], self.second.shape[1]
        stacked = torch.cat([self.value.unsqueeze(1), self.first, self.second], dim=1)
        out = stacked.reshape(n * (1 + d + p), -1) @ weight
        value, first, second = out.view(n, 1 + d + p, -1).split([1, d, p], dim=1)
        value = value.squeeze(1)
        return Jet(value if bias is None else value + bias, first, second)

    def plus(self, other: Jet) -> Jet:
        """Sum of two jets of the same nodes."""
        return Jet(self.value + other.value, self.first + other.first, self.second + other.second)

    def narrow(self, start: int, length: int) -> Jet:
        """Nodes ``start .. start + length - 1``."""
        return Jet(*(part.narrow(-1, start, length) for part in self))

    @staticmethod
    def cat(jets: Sequence[Jet]) -> Jet:
        """Concatenate along the nodes."""
        return Jet(*(torch.cat(parts, dim=-1) for parts in zip(*jets, strict=True)))


def seed_jet(x: Tensor, pairs: Pairs) -> Jet:
    """The jet of the inputs themselves: ``(N, D) -> `` identity first derivatives."""
    n, d = x.shape
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    return Jet(x, eye.expand(n, d, d), x.new_zeros(n, len(pairs.pairs), d))


def elementwise(jet: Jet, pairs: Pairs, value: Tensor, first: Tensor, second: Tensor | None) -> Jet:
    """Chain rule for ``f`` applied to every node: ``value = f(v)``, ``first = f'(v)``, ...

    ``second`` may be None when ``f'' = 0`` (affine maps).
    """
    slope = first.unsqueeze(1)
    curvature = slope * jet.second
    if second is not None and pairs.pairs:
        curvature = curvature + second.unsqueeze(1) * pairs.products(jet.first)
    return Jet(value, slope * jet.first, curvature)


def jet_mul(left: Jet, right: Jet, pairs: Pairs) -> Jet:
    """Product rule for jets of the same shape."""
    lv, rv = left.value.unsqueeze(1), right.value.unsqueeze(1)
    first = left.first * rv + lv * right.first
    second = left.second * rv + lv * right.second
    if pairs.pairs:
        if pairs.diagonal:
            second = second + 2 * left.first * right.first
        else:
            a, b = pairs.sides(left.value.device)
            lf, rf = left.first, right.first
            second = (
                second
                + lf.index_select(1, a) * rf.index_select(1, b)
                + lf.index_select(1, b) * rf.index_select(1, a)
            )
    return Jet(left.value * right.value, first, second)


def _activation_jet(jet: Jet, pairs: Pairs, name: str) -> Jet:
    value, first, second = get_activation(name).all_orders(jet.value)
    return elementwise(jet, pairs, value, first, second if pairs.pairs else None)


def _basis_features(jet: Jet, pairs: Pairs, levels: Sequence[Tensor]) -> Tensor:
    """Chain rule for every basis function: ``levels`` are ``B, B', B''`` at the values, each
    ``(N, m, n)``; the result stacks the parts, ``(N, 1 + D + P, m, n)``."""
    gradient = jet.first.unsqueeze(-1)  # (N, D, m, 1)
    parts = [levels[0].unsqueeze(1), levels[1].unsqueeze(1) * gradient]
    if pairs.pairs:
        products = pairs.products(jet.first).unsqueeze(-1)
        curvature = jet.second.unsqueeze(-1)
        parts.append(levels[2].unsqueeze(1) * products + levels[1].unsqueeze(1) * curvature)
    return torch.cat(parts, dim=1)


def split_channels(out: Tensor, pairs: Pairs) -> Jet:
    """``(N, 1 + D + P, out)`` -> :class:`Jet` (views)."""
    value, first, second = out.split([1, pairs.n_inputs, len(pairs.pairs)], dim=1)
    return Jet(value.squeeze(1), first, second)


def _bspline_layer_jet(layer: KANLayer, jet: Jet, pairs: Pairs) -> Tensor:
    """B-spline layers: the chain rule on the ``k + 1`` non-zero functions of every input.

    The local features ``(N, C, m, k + 1)`` then meet the coefficients in the cheaper of two
    ways: placed into the dense ``(N C, m n)`` feature matrix for one matrix product (wide
    layers), or multiplied by the coefficient rows gathered at every point's ``k + 1`` indices
    (narrow layers, ``(k + 1) out < C n``, such as the output layer), which never forms the
    dense matrix. Returns ``(N, C, out)``.
    """
    n, m = jet.value.shape
    index, local = bspline_local(jet.value, layer.grid, layer.spline_order, 2 if pairs.pairs else 1)
    features = _basis_features(jet, pairs, local)  # (N, C, m, k + 1)
    channels = features.shape[1]
    width, functions = layer.spline_order + 1, layer.num_functions
    weights = layer.spline_matrix()  # (m n, out)
    if width * layer.out_features < channels * functions:
        rows = index + functions * torch.arange(m, device=index.device).unsqueeze(-1)
        gathered = weights[rows.reshape(n, m * width)]  # (N, m (k + 1), out)
        flat = features.reshape(n, channels, m * width)
        if layer.out_features == 1:  # a product and a sum beat a batch of 1-column products
            return (flat * gathered.transpose(1, 2)).sum(-1, keepdim=True)
        return torch.bmm(flat, gathered)
    dense = features.new_zeros(n, channels, m, functions)
    dense.scatter_add_(-1, index.unsqueeze(1).expand_as(features), features)
    return (dense.reshape(n * channels, -1) @ weights).view(n, channels, -1)


def kan_layer_jet(layer: KANLayer, jet: Jet, pairs: Pairs) -> Jet:
    """Jet of :class:`~kanphys.layers.KANLayer` outputs: ``in`` nodes -> ``out`` nodes."""
    n = jet.value.shape[0]
    if layer.basis == "bspline":
        out = split_channels(_bspline_layer_jet(layer, jet, pairs), pairs)
    else:
        basis = layer.basis_values(jet.value, derivatives=2 if pairs.pairs else 1)
        levels = [basis.values, basis.first, basis.second]
        features = _basis_features(jet, pairs, levels)  # type: ignore[arg-type]
        channels = features.shape[1]
        product = features.reshape(n * channels, -1) @ layer.spline_matrix()
        out = split_channels(product.view(n, channels, -1), pairs)
    base = layer.base_matrix()
    if base is not None:
        activated = _activation_jet(jet, pairs, layer.base_activation)  # type: ignore[arg-type]
        out = out.plus(activated.matmul(base))
    return out


def _kan_jet(network: KAN, jet: Jet, pairs: Pairs) -> Jet:
    arity = network.config.mult_arity
    for layer, (n_sum, n_mult) in zip(network.kan_layers(), network.width[1:], strict=True):
        jet = kan_layer_jet(layer, jet, pairs)
        if n_mult:
            factors = jet.narrow(n_sum, n_mult * arity)
            groups = Jet(*(part.unflatten(-1, (n_mult, arity)) for part in factors))
            product = Jet(*(part[..., 0] for part in groups))
            for k in range(1, arity):
                product = jet_mul(product, Jet(*(part[..., k] for part in groups)), pairs)
            jet = Jet.cat([jet.narrow(0, n_sum), product])
    return jet


def _mlp_jet(network: MLP, jet: Jet, pairs: Pairs) -> Jet:
    linears: list[torch.nn.Linear] = list(network.linears)  # type: ignore[arg-type]
    for position, linear in enumerate(linears):
        jet = jet.matmul(linear.weight.T, linear.bias)
        if position < len(linears) - 1:
            jet = _activation_jet(jet, pairs, network.config.activation)
    return jet


_JETS: dict[type, Callable[[Network, Jet, Pairs], Jet]] = {
    KAN: _kan_jet,  # type: ignore[dict-item]
    MLP: _mlp_jet,  # type: ignore[dict-item]
}


def supports_jet(network: Network) -> bool:
    """Whether :func:`network_jet` knows the network type."""
    return type(network) in _JETS


def network_jet(network: Network, jet: Jet, pairs: Pairs) -> Jet:
    """Propagate an input jet (``in_features`` nodes) through ``network`` to its outputs."""
    try:
        propagate = _JETS[type(network)]
    except KeyError:
        raise TypeError(f"no Taylor-jet rule for {type(network).__name__}") from None
    return propagate(network, jet, pairs)


def pairs_for(n_inputs: int, needed: Sequence[tuple[int, int]]) -> Pairs:
    """Sorted, de-duplicated :class:`Pairs` for the requested ``(a, b)`` second derivatives."""
    unique = sorted({(min(a, b), max(a, b)) for a, b in needed})
    return Pairs(n_inputs, tuple(unique))
