"""Gaussian radial basis functions on a per-input grid of centres (FastKAN-style)."""

from __future__ import annotations

import torch
from torch import Tensor

from kanphys.basis.types import BasisFamily, BasisValues, register_basis

__all__ = ["rbf_basis", "uniform_centres"]


def uniform_centres(
    in_features: int,
    grid_size: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``grid_size`` uniformly spaced centres per input, shape ``(in_features, grid_size)``."""
    low, high = grid_range
    centres = torch.linspace(low, high, grid_size, dtype=dtype, device=device)
    return centres.expand(in_features, -1).clone()


def rbf_basis(x: Tensor, centres: Tensor, derivatives: int = 0) -> BasisValues:
    """Evaluate ``exp(-((x - c_m) / h)^2)`` with ``h`` the mean centre spacing of each input.

    Parameters
    ----------
    x : Tensor, shape (N, d)
    centres : Tensor, shape (d, G)
        Increasing centres per input, ``G >= 2``.
    derivatives : {0, 1, 2}

    Returns
    -------
    BasisValues
        Tensors of shape ``(N, d, G)``; derivatives in closed form:
        ``phi' = -2 u / h * phi`` and ``phi'' = (4 u^2 - 2) / h^2 * phi`` with ``u = (x - c) / h``.
    """
    count = centres.shape[-1]
    width = (centres[:, -1] - centres[:, 0]) / (count - 1)
    width = width.unsqueeze(-1)
    u = (x.unsqueeze(-1) - centres) / width
    values = torch.exp(-u * u)
    first = second = None
    if derivatives >= 1:
        first = (-2 * u / width) * values
    if derivatives >= 2:
        second = ((4 * u * u - 2) / (width * width)) * values
    return BasisValues(values, first, second)


RBF = register_basis(
    BasisFamily(
        name="rbf",
        evaluate=lambda x, grid, grid_size, order, derivatives: rbf_basis(x, grid, derivatives),
        num_functions=lambda grid_size, order: grid_size,
        num_points=lambda grid_size: grid_size,
        points_to_grid=lambda points, order: points.clone(),
        grid_to_points=lambda grid, order: grid.clone(),
        min_grid_size=2,
        uses_order=False,
        description="Gaussian RBFs centred on grid_size points (G functions)",
    )
)
