"""Derivative engines: the one interface between residuals and differentiation.

An engine receives the model, a batch of points and the set of
:data:`~kanphys.pde.problem.DerivativeKey` an equation needs (e.g. ``{u, u_x, u_xx}``) and
returns a tensor ``(N,)`` per key. Residual code never differentiates by itself, so a faster
engine replaces another without touching specs or training code.

* :class:`TaylorEngine` (default where it applies): one forward pass of second-order Taylor jets
  through the embedding, the network and the output transform, with closed-form basis
  derivatives (see :mod:`kanphys.pde.taylor`). Derivatives up to order 2, KAN and MLP networks.
* :class:`AutogradEngine`: nested ``torch.autograd.grad``; any order, any network.
"""

from __future__ import annotations

import abc
from collections.abc import Collection

import torch
from torch import Tensor

from kanphys.errors import check_choice
from kanphys.pde.model import PDEModel
from kanphys.pde.problem import DerivativeKey
from kanphys.pde.taylor import pairs_for, supports_jet

__all__ = ["ENGINES", "AutogradEngine", "DerivativeEngine", "TaylorEngine", "select_engine"]


class DerivativeEngine(abc.ABC):
    """Computes field values and derivatives at points."""

    name: str = ""

    def supports(self, model: PDEModel, requests: Collection[DerivativeKey]) -> bool:
        return True

    @abc.abstractmethod
    def __call__(
        self,
        model: PDEModel,
        x: Tensor,
        requests: Collection[DerivativeKey],
        fields: tuple[str, ...],
    ) -> dict[DerivativeKey, Tensor]:
        """``x`` ``(N, D)`` in ``model.inputs`` order -> ``{key: (N,)}`` for every request."""


class AutogradEngine(DerivativeEngine):
    """Nested reverse-mode differentiation with ``create_graph=True`` (derivatives of any order).

    One ``autograd.grad`` call per distinct lower-order derivative gives all its first
    derivatives at once; results are shared between keys with a common prefix.
    """

    name = "autograd"

    def __call__(
        self,
        model: PDEModel,
        x: Tensor,
        requests: Collection[DerivativeKey],
        fields: tuple[str, ...],
    ) -> dict[DerivativeKey, Tensor]:
        x = x.detach().requires_grad_(True)
        out = model(x)
        index = {name: i for i, name in enumerate(model.inputs)}
        values: dict[DerivativeKey, Tensor] = {
            (name, ()): out[:, f] for f, name in enumerate(fields)
        }
        gradients: dict[DerivativeKey, Tensor] = {}

        def get(key: DerivativeKey) -> Tensor:
            if key in values:
                return values[key]
            name, variables = key
            parent = (name, variables[:-1])
            if parent not in gradients:
                (gradient,) = torch.autograd.grad(
                    get(parent).sum(), x, create_graph=True, allow_unused=True
                )
                gradients[parent] = torch.zeros_like(x) if gradient is None else gradient
            values[key] = gradients[parent][:, index[variables[-1]]]
            return values[key]

        # lower orders first so that prefixes are shared
        for key in sorted(requests, key=lambda k: len(k[1])):
            get(key)
        return {key: values[key] for key in requests}


class TaylorEngine(DerivativeEngine):
    """Forward Taylor jets (orders 0, 1, 2) in one pass; see :mod:`kanphys.pde.taylor`."""

    name = "taylor"

    def supports(self, model: PDEModel, requests: Collection[DerivativeKey]) -> bool:
        symbolic = getattr(model.network, "has_symbolic", False)  # jets skip symbolic edges
        return (
            supports_jet(model.network) and not symbolic and all(len(v) <= 2 for _, v in requests)
        )

    def __call__(
        self,
        model: PDEModel,
        x: Tensor,
        requests: Collection[DerivativeKey],
        fields: tuple[str, ...],
    ) -> dict[DerivativeKey, Tensor]:
        index = {name: i for i, name in enumerate(model.inputs)}
        field_index = {name: f for f, name in enumerate(fields)}
        orders = [tuple(index[v] for v in variables) for _, variables in requests]
        pairs = pairs_for(len(model.inputs), [o for o in orders if len(o) == 2])
        if all(len(o) == 0 for o in orders):
            out = model(x)
            return {key: out[:, field_index[key[0]]] for key in requests}
        jet = model.jet(x, pairs)
        result = {}
        for key, order in zip(requests, orders, strict=True):
            f = field_index[key[0]]
            if len(order) == 0:
                result[key] = jet.value[:, f]
            elif len(order) == 1:
                result[key] = jet.first[:, order[0], f]
            else:
                result[key] = jet.second[:, pairs.index(*order), f]
        return result


ENGINES: dict[str, type[DerivativeEngine]] = {"taylor": TaylorEngine, "autograd": AutogradEngine}


def select_engine(
    name: str, model: PDEModel, requests: Collection[DerivativeKey]
) -> DerivativeEngine:
    """``"auto"`` -> Taylor jets when they apply, else autograd; or the named engine."""
    check_choice("derivatives", name, ["auto", *ENGINES])
    if name == "auto":
        taylor = TaylorEngine()
        return taylor if taylor.supports(model, requests) else AutogradEngine()
    engine = ENGINES[name]()
    if not engine.supports(model, requests):
        from kanphys.errors import ConfigError

        orders = sorted({len(v) for _, v in requests})
        raise ConfigError(
            f"derivatives={name!r} does not support this model/problem "
            f"(network {type(model.network).__name__}, derivative orders {orders}); "
            f"use 'autograd' or 'auto'"
        )
    return engine
