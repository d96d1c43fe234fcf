"""Attribution scores of KAN nodes and edges (KAN 2.0, Liu et al. 2024, Sec. 4.1).

Scores are computed from an explicit batch ``x`` through :meth:`KAN.trace`; nothing is cached
on the model. On the batch, with ``std`` the population standard deviation over the rows:

* ``E_ij = std_p phi_ij(h_i^(p))``: the spread of edge ``(i, j)`` of a layer, ``i`` an input
  node and ``j`` an output *sub-node* of the layer (a sum node, or one of the ``mult_arity``
  factors of a product node);
* ``sigma_j = std_p sum_i phi_ij(h_i^(p))``: the spread of sub-node ``j``'s pre-activation sum.

The scores are propagated backwards from the outputs:

* output nodes: ``s = 1`` (summing the per-output attributions of pykan's ``attribute``, which
  is linear in the output scores);
* sub-nodes: a sum node's sub-node has the node's score; each of the ``mult_arity`` sub-nodes
  of a product node has the product node's score;
* edges: ``B_ij = E_ij / (sigma_j + eps) * s_sub(j)``;
* nodes: ``s_i = sum_j B_ij`` over the outgoing edges.

A node's score is roughly the share of the spread of the nodes it feeds that its edges account
for (``sigma_j <= sum_i E_ij``), weighted by how much those nodes matter; scores are
dimensionless (output scores are 1), so a fixed threshold such as 1e-2 means the same for
models of any output scale. An edge that is identically
zero on the batch, or that only feeds nodes of score zero, scores exactly zero.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from kanphys.errors import ConfigError, ShapeError
from kanphys.models.kan import KAN

__all__ = ["Attribution", "attribute", "edge_scores", "node_scores"]

# pykan's offset of the sub-node spread; it keeps edges into (nearly) constant nodes finite
DEFAULT_EPS = 1e-4


class Attribution(NamedTuple):
    """Attribution scores of a KAN on a batch (see the module docstring for the formulas).

    Attributes
    ----------
    edges : list of Tensor
        ``edges[l]`` has shape ``(in_l, out_l)``: ``B_ij`` of every edge of KAN layer ``l``
        (``out_l`` counts product sub-nodes, like ``KANLayer.out_features``).
    nodes : list of Tensor
        ``nodes[l]`` has shape ``(n_sum_l + n_mult_l,)``: node scores of level ``l``, from the
        inputs (``nodes[0]``) to the outputs (``nodes[-1]``, all ones).
    subnodes : list of Tensor
        ``subnodes[l]`` has shape ``(out_l,)``: scores of the outputs of KAN layer ``l``.
    """

    edges: list[Tensor]
    nodes: list[Tensor]
    subnodes: list[Tensor]


def require_kan(model: Any, owner: str) -> KAN:
    """``model`` if it is a :class:`KAN`; :class:`ConfigError` otherwise."""
    if not isinstance(model, KAN):
        raise ConfigError(
            f"{owner} needs a KAN (scores and pruning act on KAN nodes and edges); "
            f"received {type(model).__name__}"
        )
    return model


def node_to_subnode(scores: Tensor, n_sum: int, n_mult: int, mult_arity: int) -> Tensor:
    """Node values of a level -> its sub-nodes: ``(n_sum + n_mult,) -> (n_sum + a n_mult,)``.

    Sum nodes are their own sub-node; a product node is repeated for its ``mult_arity``
    factors (in the order the KAN layer's outputs list them).
    """
    if n_mult == 0:
        return scores
    return torch.cat([scores[:n_sum], scores[n_sum:].repeat_interleave(mult_arity)])


def attribute(model: KAN, x: Tensor, *, eps: float = DEFAULT_EPS) -> Attribution:
    """Edge, node and sub-node scores of ``model`` on the batch ``x``.

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features)
        The batch the standard deviations are taken over; ``N >= 2``.
    eps : float
        Offset of the sub-node spread in ``B_ij = E_ij / (sigma_j + eps) * s_j`` (pykan's
        1e-4, in units of the node values).

    Returns
    -------
    Attribution
        Detached tensors in the model's dtype and on its device.

    Raises
    ------
    ConfigError
        If ``model`` is not a KAN or ``eps`` is not a finite number > 0.
    ShapeError
        If ``x`` has fewer than 2 rows or the wrong shape.
    """
    model = require_kan(model, "attribute")
    ok = isinstance(eps, (int, float)) and not isinstance(eps, bool) and math.isfinite(eps)
    if not ok or eps <= 0:
        raise ConfigError(f"attribute: eps must be a finite number > 0; received {eps!r}")
    if isinstance(x, Tensor) and x.dim() >= 1 and x.shape[0] < 2:
        raise ShapeError(
            f"attribute: x must have at least 2 rows (scores are standard deviations over the "
            f"batch); received shape {tuple(x.shape)}"
        )
    with torch.no_grad():
        trace = model.trace(x.detach())
        score = torch.ones(model.out_features, dtype=model.dtype, device=model.device)
        nodes, edges, subnodes = [score], [], []
        for l in reversed(range(len(trace.layers))):
            n_sum, n_mult = model.width[l + 1]
            subnode = node_to_subnode(score, n_sum, n_mult, model.config.mult_arity)
            layer = trace.layers[l]
            spread = layer.edges.std(dim=0, correction=0)  # E_ij, (in, out)
            sigma = layer.outputs.std(dim=0, correction=0)  # sigma_j, (out,)
            edge = spread * (subnode / (sigma + eps))
            score = edge.sum(dim=1)
            edges.append(edge)
            subnodes.append(subnode)
            nodes.append(score)
    return Attribution(edges[::-1], nodes[::-1], subnodes[::-1])


def edge_scores(model: KAN, x: Tensor) -> list[Tensor]:
    """Per-layer edge scores ``B_ij``, each of shape ``(in_l, out_l)`` (see :func:`attribute`).

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features), N >= 2

    Returns
    -------
    list of Tensor
    """
    return attribute(model, x).edges


def node_scores(model: KAN, x: Tensor) -> list[Tensor]:
    """Per-level node scores, inputs first and outputs (ones) last (see :func:`attribute`).

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features), N >= 2

    Returns
    -------
    list of Tensor
        ``result[l]`` has shape ``(n_sum_l + n_mult_l,)``; sum nodes first, then product nodes.
    """
    return attribute(model, x).nodes
