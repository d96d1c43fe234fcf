"""Grid edits of a KAN layer. Each returns a new layer and leaves its input untouched."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from kanphys._checks import check_input
from kanphys.basis import curve_to_coefficients, get_basis, grid_points_from_samples, refine_points
from kanphys.errors import ConfigError
from kanphys.layers.kan_layer import KANLayer

__all__ = ["refine_grid", "update_grid"]


def _refit(layer: KANLayer, x: Tensor, grid: Tensor, grid_size: int) -> KANLayer:
    """A copy of ``layer`` on ``grid``/``grid_size`` whose edges match ``layer``'s on ``x``."""
    family = get_basis(layer.basis)
    with torch.no_grad():
        target = layer.spline_edges(x)
        coefficients = curve_to_coefficients(x, target, grid, family, grid_size, layer.spline_order)
    new = copy.deepcopy(layer)
    new.grid_size = grid_size
    new.grid = grid
    new.coefficients = nn.Parameter(coefficients, requires_grad=layer.coefficients.requires_grad)
    return new


def update_grid(layer: KANLayer, x: Tensor, *, uniform_fraction: float = 0.02) -> KANLayer:
    """Move the grid to follow the samples ``x`` and refit the edges to stay the same on ``x``.

    Parameters
    ----------
    layer : KANLayer
    x : Tensor, shape (N, in_features)
        Inputs the layer sees (for a hidden layer: the previous layer's outputs).
    uniform_fraction : float in [0, 1]
        Blend of a uniform grid over the sample range into the quantile grid.

    Returns
    -------
    KANLayer
        A new layer with the same grid size; ``layer`` is not modified.
    """
    check_input(x, layer.in_features, owner="update_grid", like=layer.coefficients)
    family = get_basis(layer.basis)
    points = grid_points_from_samples(
        x.detach(), family.num_points(layer.grid_size), uniform_fraction=uniform_fraction
    )
    grid = family.points_to_grid(points, layer.spline_order)
    return _refit(layer, x.detach(), grid, layer.grid_size)


def refine_grid(layer: KANLayer, grid_size: int, x: Tensor | None = None) -> KANLayer:
    """Change the grid resolution (KAN grid extension) while preserving the edge functions.

    Without samples, the new grid interpolates the old grid points (so ``G -> m G`` keeps every
    old knot and B-spline refinement is exact on the grid range) and the refit uses dense
    uniform points over that range. With samples ``x`` the new grid follows ``x`` and the
    refit is least squares on ``x``.

    Parameters
    ----------
    layer : KANLayer
    grid_size : int
        New grid size (may be smaller than the current one: least-squares coarsening).
    x : Tensor, shape (N, in_features), optional

    Returns
    -------
    KANLayer
        A new layer; ``layer`` is not modified.
    """
    family = get_basis(layer.basis)
    family.check(grid_size, layer.spline_order)
    old_points = family.grid_to_points(layer.grid, layer.spline_order)
    count = family.num_points(grid_size)
    if x is None:
        points = refine_points(old_points, count)
        samples = max(8 * family.num_functions(grid_size, layer.spline_order), 256)
        fraction = torch.linspace(0, 1, samples, dtype=points.dtype, device=points.device)
        low, high = old_points[:, :1], old_points[:, -1:]
        x = (low + (high - low) * fraction).T.contiguous()
    else:
        check_input(x, layer.in_features, owner="refine_grid", like=layer.coefficients)
        x = x.detach()
        if x.shape[0] < family.num_functions(grid_size, layer.spline_order):
            raise ConfigError(
                f"refine_grid needs at least as many samples as basis functions "
                f"({family.num_functions(grid_size, layer.spline_order)}); received {x.shape[0]}"
            )
        points = grid_points_from_samples(x, count)
    grid = family.points_to_grid(points, layer.spline_order)
    return _refit(layer, x, grid, grid_size)
