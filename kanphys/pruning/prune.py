"""Pruning of KANs by attribution score. Each function returns a new model; the input is untouched.

Typical use: train with a sparsity penalty (``FitConfig(sparsity=...)`` or ``sparsity`` in the
``[training]`` table), then ``prune(model, x)`` removes the hidden nodes whose score on ``x``
(:func:`kanphys.pruning.attribute`) falls below a threshold, and ``prune_inputs`` drops input
variables the output does not depend on.

Removing a node removes its outgoing edges, mean included; KANs have no bias to absorb it. After
sparsity training the edges of low-score nodes are near zero (the L1 term acts on mean absolute
values), so the output change is bounded by the summed mean magnitudes of the removed edges.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from kanphys.errors import ConfigError
from kanphys.layers import KANLayer
from kanphys.models.kan import KAN
from kanphys.pruning.scores import attribute, node_to_subnode, require_kan

__all__ = ["prune", "prune_inputs", "pruned_width"]

Width = tuple[tuple[int, int], ...]


def _check_threshold(owner: str, name: str, value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:
        raise ConfigError(f"{owner}: {name} must be a finite number >= 0; received {value!r}")
    return float(value)


def _check_prunable(model: Any, owner: str) -> KAN:
    model = require_kan(model, owner)
    for l, layer in enumerate(model.kan_layers()):
        if getattr(layer, "symbolic", None) is not None:
            raise ConfigError(
                f"{owner}: prune before fixing symbolic edges; layer {l} has symbolic edges, "
                f"and pruning models with symbolic edges is not supported yet"
            )
    return model


def _keep_best(scores: Tensor, threshold: float) -> Tensor:
    """``scores >= threshold``, keeping the best node when none passes: ``(n,) -> (n,)`` bool."""
    keep = scores >= threshold
    if not bool(keep.any()):
        keep[int(torch.argmax(scores))] = True
    return keep


def _node_masks(
    model: KAN, node_scores: Sequence[Tensor], threshold: float, keep_inputs: bool
) -> list[Tensor]:
    """Boolean keep masks of every level: inputs (optionally all), hidden levels, outputs (all)."""
    last = len(node_scores) - 1
    masks = []
    for level, scores in enumerate(node_scores):
        if level == last or (level == 0 and keep_inputs):
            masks.append(torch.ones_like(scores, dtype=torch.bool))
        else:
            masks.append(_keep_best(scores, threshold))
    return masks


def _width(model: KAN, masks: Sequence[Tensor]) -> Width:
    """The ``(n_sum, n_mult)`` width left by the keep masks of every level."""
    width = []
    for (n_sum, _), keep in zip(model.width, masks, strict=True):
        width.append((int(keep[:n_sum].sum()), int(keep[n_sum:].sum())))
    return tuple(width)


def _parameter(value: Tensor, like: nn.Parameter) -> nn.Parameter:
    return nn.Parameter(value.detach().clone(), requires_grad=like.requires_grad)


def _slice_layer(
    layer: KANLayer, rows: Tensor, columns: Tensor, edge_keep: Tensor | None
) -> KANLayer:
    """A copy of ``layer`` restricted to the input nodes ``rows`` and the outputs ``columns``.

    ``edge_keep`` (bool, shape of the sliced layer) additionally switches edges off (mask 0).
    """
    new = copy.deepcopy(layer)
    with torch.no_grad():
        new.coefficients = _parameter(layer.coefficients[rows][:, columns], layer.coefficients)
        new.spline_weight = _parameter(layer.spline_weight[rows][:, columns], layer.spline_weight)
        if layer.base_weight is not None:
            new.base_weight = _parameter(layer.base_weight[rows][:, columns], layer.base_weight)
        new.grid = layer.grid[rows].clone()
        mask = layer.mask[rows][:, columns].clone()
        if edge_keep is not None:
            mask = mask * edge_keep.to(mask.dtype)
        new.mask = mask
    new.in_features = int(rows.numel())
    new.out_features = int(columns.numel())
    return new


def _sliced_model(
    model: KAN, masks: Sequence[Tensor], edge_masks: Sequence[Tensor] | None = None
) -> KAN:
    """The KAN keeping the nodes flagged in ``masks`` (one bool vector per level).

    ``edge_masks[l]`` (bool, ``(in_l, out_l)`` of the original layer) switches edges off.
    """
    arity = model.config.mult_arity
    layers = []
    for l, layer in enumerate(model.kan_layers()):
        n_sum, n_mult = model.width[l + 1]
        rows = torch.nonzero(masks[l]).squeeze(1)
        columns = torch.nonzero(node_to_subnode(masks[l + 1], n_sum, n_mult, arity)).squeeze(1)
        edge_keep = None
        if edge_masks is not None:
            edge_keep = edge_masks[l][rows][:, columns]
        layers.append(_slice_layer(layer, rows, columns, edge_keep))
    width = _width(model, masks)
    new = model.with_layers(layers, width=[list(pair) for pair in width])
    new.in_features = width[0][0]
    return new


def pruned_width(
    model: KAN, x: Tensor, *, threshold: float = 1e-2, keep_inputs: bool = True
) -> Width:
    """The width :func:`prune` would give ``model`` on ``x``, without building the model.

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features), N >= 2
    threshold, keep_inputs
        As in :func:`prune`.

    Returns
    -------
    tuple of (int, int)
        ``(n_sum, n_mult)`` per level, like ``KAN.width``.
    """
    model = require_kan(model, "pruned_width")
    threshold = _check_threshold("pruned_width", "threshold", threshold)
    masks = _node_masks(model, attribute(model, x).nodes, threshold, keep_inputs)
    return _width(model, masks)


def prune(
    model: KAN,
    x: Tensor,
    *,
    threshold: float = 1e-2,
    edge_threshold: float | None = None,
    keep_inputs: bool = True,
) -> KAN:
    """A smaller KAN without the hidden nodes (and edges) of low attribution score on ``x``.

    Hidden nodes with score ``s_i < threshold`` (:func:`~kanphys.pruning.attribute`) are removed
    with all their edges; a product node goes as a whole, with its ``mult_arity`` sub-nodes.
    Every hidden level keeps at least its best node; output nodes are never removed. The
    coefficients, weights, grids and masks of the remaining edges are copied unchanged.

    Parameters
    ----------
    model : KAN
        Left unchanged.
    x : Tensor, shape (N, in_features), N >= 2
        Batch the scores are computed on (typically the training inputs).
    threshold : float
        Absolute node-score threshold (pykan's default 1e-2; scores are dimensionless, the
        output nodes score 1).
    edge_threshold : float, optional
        Edges of the remaining nodes with score ``B_ij < edge_threshold`` are switched off
        (``mask = 0``); by default no edge is masked.
    keep_inputs : bool
        Keep every input node (default). With False, input nodes with score ``< threshold`` are
        removed as well (at least one stays) and the model takes fewer inputs; use
        :func:`prune_inputs` to learn which.

    Returns
    -------
    KAN
        A new model of width :func:`pruned_width`; its config is the input's with the new width,
        so :func:`~kanphys.io.save_model` / :func:`~kanphys.io.load_model` work as usual.

    Raises
    ------
    ConfigError
        If ``model`` is not a KAN, has symbolic edges, or a threshold is negative.
    """
    model = _check_prunable(model, "prune")
    threshold = _check_threshold("prune", "threshold", threshold)
    if edge_threshold is not None:
        edge_threshold = _check_threshold("prune", "edge_threshold", edge_threshold)
    if not isinstance(keep_inputs, bool):
        raise ConfigError(f"prune: keep_inputs must be True or False; received {keep_inputs!r}")
    scores = attribute(model, x)
    masks = _node_masks(model, scores.nodes, threshold, keep_inputs)
    edge_masks = None
    if edge_threshold is not None:
        edge_masks = [edge >= edge_threshold for edge in scores.edges]
    return _sliced_model(model, masks, edge_masks)


def prune_inputs(model: KAN, x: Tensor, *, threshold: float = 1e-2) -> tuple[KAN, list[int]]:
    """Drop the input variables the output does not depend on (relative input-node score).

    Input ``i`` is kept when ``s_i >= threshold * max_k s_k``; hidden and output nodes stay.

    Parameters
    ----------
    model : KAN
        Left unchanged.
    x : Tensor, shape (N, in_features), N >= 2
    threshold : float in [0, 1]
        Relative threshold (default 1e-2).

    Returns
    -------
    model : KAN
        A new model taking ``len(kept)`` inputs: call it with ``x[:, kept]``.
    kept : list of int
        Indices of the kept input columns, increasing.

    Raises
    ------
    ConfigError
        If ``model`` is not a KAN, has symbolic edges, or ``threshold`` is outside [0, 1].
    """
    model = _check_prunable(model, "prune_inputs")
    threshold = _check_threshold("prune_inputs", "threshold", threshold)
    if threshold > 1:
        raise ConfigError(
            f"prune_inputs: threshold is relative to the best input's score and must be in "
            f"[0, 1]; received {threshold!r}"
        )
    nodes = attribute(model, x).nodes
    inputs = nodes[0]
    keep = inputs >= threshold * inputs.max()
    masks = [keep, *(torch.ones_like(scores, dtype=torch.bool) for scores in nodes[1:])]
    kept = [int(i) for i in torch.nonzero(keep).squeeze(1)]
    return _sliced_model(model, masks), kept
