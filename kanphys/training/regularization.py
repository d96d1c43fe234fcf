"""Sparsification regulariser of KANs: L1 and entropy of the edge activation magnitudes.

Liu et al. (2024), "KAN: Kolmogorov-Arnold Networks", Sec. 2.5.1. On a batch
``x^(1..N)`` the magnitude of edge ``(i, j)`` of layer ``l`` is

    m_ij = (1/N) sum_p |phi_ij(h_i^(p))|,

with ``h`` the values of the layer's input nodes. Per layer,

    |Phi|_1 = sum_ij m_ij,
    S(Phi)  = -sum_ij (m_ij / |Phi|_1) log(m_ij / |Phi|_1),

and the penalty sums ``l1 * |Phi|_1 + entropy * S(Phi)`` over the layers. The L1 term pushes
edges to zero, the entropy term concentrates each layer's magnitude on few edges; together they
make small networks that :func:`kanphys.pruning.prune` can shrink.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from kanphys.errors import ConfigError, check_int
from kanphys.models.base import Network, config_from_dict
from kanphys.models.kan import KAN

__all__ = [
    "SparsityConfig",
    "edge_magnitudes",
    "evenly_spaced_rows",
    "sparsity_loss",
    "sparsity_penalty",
]


def _check_weight(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite number >= 0; :class:`ConfigError` otherwise."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:
        raise ConfigError(f"{name} must be a finite number >= 0; received {value!r}")
    return float(value)


def _require_kan(model: Any, owner: str) -> KAN:
    if not isinstance(model, KAN):
        raise ConfigError(
            f"{owner}: sparsity regularisation needs a KAN (it penalises edge activations); "
            f"received {type(model).__name__}"
        )
    return model


@dataclass(frozen=True, kw_only=True)
class SparsityConfig:
    """Settings of the weighted sparsity penalty (see :func:`sparsity_loss`).

    Attributes
    ----------
    weight : float
        Overall factor of the penalty in the training loss; ``0`` (default) switches it off.
    l1 : float
        Factor of the L1 term ``|Phi|_1`` (default 1, as in the KAN paper).
    entropy : float
        Factor of the entropy term ``S(Phi)`` (default 2, as in the KAN paper).
    samples : int
        Largest number of points the penalty is evaluated on (default 1024); larger batches are
        thinned to evenly spaced rows by :func:`evenly_spaced_rows`.
    """

    weight: float = 0.0
    l1: float = 1.0
    entropy: float = 2.0
    samples: int = 1024

    def __post_init__(self) -> None:
        for name in ("weight", "l1", "entropy"):
            object.__setattr__(self, name, _check_weight(name, getattr(self, name)))
        check_int("samples", self.samples, minimum=1)

    @property
    def enabled(self) -> bool:
        """Whether the penalty contributes to the loss (``weight > 0``)."""
        return self.weight > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SparsityConfig:
        return config_from_dict(cls, data)


def evenly_spaced_rows(x: Tensor, samples: int) -> Tensor:
    """At most ``samples`` rows of ``x``, evenly spaced through it: ``(N, d) -> (min(N, s), d)``.

    Deterministic (no randomness), and representative also of sorted data; the whole batch
    is returned when it has at most ``samples`` rows.
    """
    check_int("samples", samples, minimum=1)
    n = x.shape[0]
    if n <= samples:
        return x
    index = torch.arange(samples, device=x.device) * n // samples
    return x[index]


def edge_magnitudes(model: KAN, x: Tensor) -> list[Tensor]:
    """Mean absolute edge activations ``m_ij = mean_p |phi_ij(h_p)|`` of every layer.

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features)
        The batch the magnitudes are averaged over (nothing is cached).

    Returns
    -------
    list of Tensor
        ``result[l]`` has shape ``(in_l, out_l)`` (the KAN layer's inputs and outputs, product
        sub-nodes included); differentiable with respect to the model's parameters.
    """
    model = _require_kan(model, "edge_magnitudes")
    return [layer.edges.abs().mean(dim=0) for layer in model.trace(x).layers]


def _layer_penalty(magnitudes: Tensor, l1: float, entropy: float) -> Tensor:
    """``l1 * |Phi|_1 + entropy * S(Phi)`` of one layer's ``(in, out)`` magnitudes."""
    total = magnitudes.sum()
    value = l1 * total
    if entropy:
        tiny = torch.finfo(magnitudes.dtype).tiny
        share = magnitudes / total.clamp_min(tiny)
        # p log p -> 0 as p -> 0: the tiny offset keeps log finite for switched-off edges
        value = value - entropy * (share * torch.log(share + tiny)).sum()
    return value


def sparsity_penalty(model: KAN, x: Tensor, *, l1: float = 1.0, entropy: float = 2.0) -> Tensor:
    """The KAN sparsification penalty ``sum_l (l1 |Phi_l|_1 + entropy S(Phi_l))`` on ``x``.

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features)
        Explicit batch the edge magnitudes are averaged over (``m_ij = mean_p |phi_ij|``).
    l1 : float
        Factor of the L1 terms ``|Phi_l|_1 = sum_ij m_ij`` (default 1).
    entropy : float
        Factor of the entropy terms ``S(Phi_l) = -sum_ij p_ij log p_ij`` with
        ``p_ij = m_ij / |Phi_l|_1`` (natural logarithm; default 2).

    Returns
    -------
    Tensor, shape ()
        Differentiable scalar, in the dtype and on the device of the model.

    Raises
    ------
    ConfigError
        If ``model`` is not a KAN or a factor is negative or not finite.
    """
    model = _require_kan(model, "sparsity_penalty")
    l1 = _check_weight("l1", l1)
    entropy = _check_weight("entropy", entropy)
    penalty = torch.zeros((), dtype=model.dtype, device=model.device)
    for magnitudes in edge_magnitudes(model, x):
        penalty = penalty + _layer_penalty(magnitudes, l1, entropy)
    return penalty


def sparsity_loss(model: Network, x: Tensor, config: SparsityConfig) -> Tensor:
    """``config.weight * sparsity_penalty(model, rows)`` on at most ``config.samples`` rows of x.

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features)
    config : SparsityConfig

    Returns
    -------
    Tensor, shape ()
        Exactly zero (and no evaluation) when ``config.weight == 0``.
    """
    model = _require_kan(model, "sparsity_loss")
    if not config.enabled:
        return torch.zeros((), dtype=model.dtype, device=model.device)
    rows = evenly_spaced_rows(x, config.samples)
    penalty = sparsity_penalty(model, rows, l1=config.l1, entropy=config.entropy)
    return config.weight * penalty
