"""Grid edits of a whole KAN. Each returns a new model and leaves its input untouched."""

from __future__ import annotations

import torch
from torch import Tensor

from kanphys._checks import check_input
from kanphys.layers import grid as layer_grid
from kanphys.models.kan import KAN

__all__ = ["refine_grid", "update_grid"]


def update_grid(model: KAN, x: Tensor, *, uniform_fraction: float = 0.02) -> KAN:
    """Adapt every layer's grid to the activations it sees on ``x`` (pykan's grid update).

    Layer ``l`` is refitted on the node values that the already updated layers ``< l`` produce,
    so the new model reproduces the old one on ``x`` to least-squares accuracy.

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features)
    uniform_fraction : float in [0, 1]

    Returns
    -------
    KAN
    """
    check_input(x, model.in_features, owner="update_grid", like=next(model.parameters()))
    layers = []
    h = x.detach()
    with torch.no_grad():
        for layer, nodes in zip(model.kan_layers(), model.width[1:], strict=True):
            new = layer_grid.update_grid(layer, h, uniform_fraction=uniform_fraction)
            layers.append(new)
            h = model._combine(new.forward_unchecked(h), nodes)
    return model.with_layers(layers)


def refine_grid(model: KAN, grid_size: int, x: Tensor | None = None) -> KAN:
    """Change every layer's grid size (grid extension ``G -> G'``) preserving the model.

    Parameters
    ----------
    model : KAN
    grid_size : int
        New grid size.
    x : Tensor, shape (N, in_features), optional
        Samples to place the new grids on and to fit on; without them each layer refines its
        current grid and refits on dense points over its grid range (exact for ``G -> m G``
        B-splines).

    Returns
    -------
    KAN
        With ``config.grid_size == grid_size``.
    """
    if x is not None:
        check_input(x, model.in_features, owner="refine_grid", like=next(model.parameters()))
        x = x.detach()
    layers = []
    h = x
    with torch.no_grad():
        for layer, nodes in zip(model.kan_layers(), model.width[1:], strict=True):
            new = layer_grid.refine_grid(layer, grid_size, h)
            layers.append(new)
            if h is not None:
                h = model._combine(new.forward_unchecked(h), nodes)
    return model.with_layers(layers, grid_size=grid_size)
