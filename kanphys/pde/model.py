"""The physics-informed model: input embedding -> network -> output transform.

:class:`PDEModel` wraps any :class:`~kanphys.models.base.Network` so that it sees inputs scaled to
``[-1, 1]`` (the default KAN grid range), with periodic inputs embedded as ``(cos, sin)`` pairs
(periodicity then holds exactly), and so that hard constraints ``u = g(x) + D(x) N(x)`` hold by
construction. It also owns the trainable PDE parameters of inverse problems. Both the plain
forward pass and the Taylor-jet pass (:mod:`kanphys.pde.taylor`) go through the same stages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import sympy
import torch
from torch import Tensor, nn

from kanphys.models.base import Network
from kanphys.pde.compile import CompiledExpression, Environment, compile_expression
from kanphys.pde.problem import input_symbol
from kanphys.pde.taylor import (
    Jet,
    Pairs,
    elementwise,
    jet_mul,
    network_jet,
    seed_jet,
    split_channels,
)

__all__ = ["OutputTransform", "PDEModel", "embedded_features"]


def embedded_features(inputs: Sequence[str], periodic: Sequence[str]) -> int:
    """Network input width: one feature per input, two per periodic input."""
    return len(inputs) + sum(1 for name in inputs if name in periodic)


class OutputTransform:
    """``field_f = offset_f(x) + factor_f(x) * network_f(x)`` for the constrained fields.

    ``offsets`` and ``factors`` map a field index to sympy expressions of the inputs. Their
    derivatives are taken symbolically and compiled once per set of requested pairs.
    """

    def __init__(
        self,
        inputs: tuple[str, ...],
        n_fields: int,
        offsets: Mapping[int, sympy.Expr],
        factors: Mapping[int, sympy.Expr],
    ) -> None:
        self.inputs = inputs
        self.n_fields = n_fields
        self.offsets = dict(offsets)
        self.factors = dict(factors)
        self._compiled: dict[tuple[str, int, tuple[int, ...]], CompiledExpression] = {}

    def describe(self) -> dict[str, dict[str, str]]:
        return {
            str(f): {"offset": str(self.offsets.get(f, 0)), "factor": str(self.factors.get(f, 1))}
            for f in sorted(set(self.offsets) | set(self.factors))
        }

    def _term(self, kind: str, f: int, order: tuple[int, ...]) -> CompiledExpression:
        key = (kind, f, order)
        if key not in self._compiled:
            table = self.offsets if kind == "offset" else self.factors
            expr = table.get(f, sympy.Integer(0 if kind == "offset" else 1))
            for a in order:
                expr = sympy.diff(expr, input_symbol(self.inputs[a]))
            self._compiled[key] = compile_expression(
                expr, self.inputs, label=f"{kind} of field {f}"
            )
        return self._compiled[key]

    def _stack(self, kind: str, x: Tensor, pairs: Pairs | None) -> Tensor:
        env = Environment({name: x[:, i] for i, name in enumerate(self.inputs)})
        orders: list[tuple[int, ...]] = [()]
        if pairs is not None:
            orders += [(a,) for a in range(pairs.n_inputs)] + list(pairs.pairs)
        channels = [
            torch.stack([self._term(kind, f, order)(env) for f in range(self.n_fields)], dim=-1)
            for order in orders
        ]
        return torch.stack(channels, dim=1)  # (N, C, F)

    def apply(self, x: Tensor, out: Tensor) -> Tensor:
        """Values: ``(N, F)`` network outputs -> ``(N, F)`` fields."""
        offset = self._stack("offset", x, None)[:, 0]
        factor = self._stack("factor", x, None)[:, 0]
        return offset + factor * out

    def apply_jet(self, x: Tensor, jet: Jet, pairs: Pairs) -> Jet:
        """Jets: network output jet -> field jet (``F`` nodes each)."""
        offset = split_channels(self._stack("offset", x, pairs), pairs)
        factor = split_channels(self._stack("factor", x, pairs), pairs)
        return offset.plus(jet_mul(factor, jet, pairs))


class PDEModel(nn.Module):
    """Inputs ``(N, D)`` in domain units -> fields ``(N, F)``.

    Parameters
    ----------
    network : Network
        Takes ``embedded_features(inputs, periodic)`` inputs and returns ``F`` outputs.
    inputs : tuple of str
        Input names in column order.
    bounds : sequence of (low, high)
        Per input; inputs are mapped affinely to ``[-1, 1]``.
    periodic : sequence of str
        Inputs embedded as ``(cos, sin)`` of ``2 pi (x - low) / (high - low)``.
    parameters : mapping of str to float
        Trainable PDE parameters (initial values).
    constants : mapping of str to float
        Fixed PDE parameters.
    transform : OutputTransform, optional
        Hard constraints.
    """

    def __init__(
        self,
        network: Network,
        inputs: tuple[str, ...],
        bounds: Sequence[tuple[float, float]],
        *,
        periodic: Sequence[str] = (),
        parameters: Mapping[str, float] | None = None,
        constants: Mapping[str, float] | None = None,
        transform: OutputTransform | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.inputs = tuple(inputs)
        self.periodic = tuple(name for name in inputs if name in periodic)
        like = next(network.parameters())
        low = torch.tensor([b[0] for b in bounds], dtype=like.dtype, device=like.device)
        high = torch.tensor([b[1] for b in bounds], dtype=like.dtype, device=like.device)
        self.register_buffer("low", low)
        self.register_buffer("high", high)
        self.pde_parameters = nn.ParameterDict(
            {
                name: nn.Parameter(torch.tensor(float(value), dtype=like.dtype, device=like.device))
                for name, value in (parameters or {}).items()
            }
        )
        self.fixed = dict(constants or {})
        self.transform = transform
        expected = embedded_features(self.inputs, self.periodic)
        if network.in_features != expected:
            raise ValueError(
                f"network takes {network.in_features} inputs; the embedding gives {expected}"
            )

    low: Tensor
    high: Tensor

    @property
    def n_fields(self) -> int:
        return int(self.network.out_features)

    def constants(self, like: Tensor) -> dict[str, Tensor]:
        """Fixed parameters as 0-d tensors of ``like``'s dtype and device."""
        return {name: like.new_tensor(value) for name, value in self.fixed.items()}

    def network_parameters(self) -> list[nn.Parameter]:
        return list(self.network.parameters())

    def embed(self, x: Tensor) -> Tensor:
        """``(N, D)`` -> network inputs ``(N, D + n_periodic)`` in ``[-1, 1]``."""
        columns = []
        scale = 2.0 / (self.high - self.low)
        for i, name in enumerate(self.inputs):
            if name in self.periodic:
                angle = (x[:, i] - self.low[i]) * (math.pi * scale[i])
                columns += [torch.cos(angle), torch.sin(angle)]
            else:
                columns.append((x[:, i] - self.low[i]) * scale[i] - 1.0)
        return torch.stack(columns, dim=1)

    def embed_jet(self, x: Tensor, pairs: Pairs) -> Jet:
        """Jet of :meth:`embed`: ``(N, D)`` -> ``D + n_periodic`` nodes."""
        seed = seed_jet(x, pairs)
        scale = 2.0 / (self.high - self.low)
        columns = []
        for i, name in enumerate(self.inputs):
            column = seed.narrow(i, 1)
            if name in self.periodic:
                omega = math.pi * scale[i]
                angle = (x[:, i : i + 1] - self.low[i]) * omega
                cos, sin = torch.cos(angle), torch.sin(angle)
                columns.append(elementwise(column, pairs, cos, -omega * sin, -omega * omega * cos))
                columns.append(elementwise(column, pairs, sin, omega * cos, -omega * omega * sin))
            else:
                value = (x[:, i : i + 1] - self.low[i]) * scale[i] - 1.0
                columns.append(elementwise(column, pairs, value, scale[i].expand_as(value), None))
        return Jet.cat(columns)

    def forward(self, x: Tensor) -> Tensor:
        out = self.network.forward_unchecked(self.embed(x))
        if self.transform is not None:
            out = self.transform.apply(x, out)
        return out

    def jet(self, x: Tensor, pairs: Pairs) -> Jet:
        """Fields with first and the paired second derivatives (``F`` nodes)."""
        jet = network_jet(self.network, self.embed_jet(x, pairs), pairs)
        if self.transform is not None:
            jet = self.transform.apply_jet(x, jet, pairs)
        return jet
