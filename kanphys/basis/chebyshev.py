"""Chebyshev polynomials of the first kind on tanh-normalised inputs."""

from __future__ import annotations

import torch
from torch import Tensor

from kanphys.basis.types import BasisFamily, BasisValues, register_basis

__all__ = ["chebyshev_basis", "chebyshev_window"]


def chebyshev_window(
    in_features: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Normalisation window ``[low, high]`` per input, shape ``(in_features, 2)``."""
    window = torch.tensor(grid_range, dtype=dtype, device=device)
    return window.expand(in_features, 2).clone()


def chebyshev_basis(x: Tensor, window: Tensor, degree: int, derivatives: int = 0) -> BasisValues:
    """Evaluate ``T_n(z)``, ``n = 0..degree``, at ``z = tanh((x - c) / s)``.

    ``c`` and ``s`` are the centre and half-width of each input's window, so the default window
    ``[-1, 1]`` gives ``z = tanh(x)``. Derivatives use the three-term recurrences of ``T_n``,
    ``T_n'`` and ``T_n''`` and the chain rule through the tanh map (closed form).

    Parameters
    ----------
    x : Tensor, shape (N, d)
    window : Tensor, shape (d, 2)
        ``[low, high]`` per input.
    degree : int
        Highest polynomial degree; there are ``degree + 1`` functions.
    derivatives : {0, 1, 2}

    Returns
    -------
    BasisValues
        Tensors of shape ``(N, d, degree + 1)``.
    """
    centre = 0.5 * (window[:, 0] + window[:, 1])
    half = 0.5 * (window[:, 1] - window[:, 0])
    z = torch.tanh((x - centre) / half)
    one = torch.ones_like(z)
    zero = torch.zeros_like(z)
    values = [one, z]
    firsts = [zero, one]
    seconds = [zero, zero]
    for n in range(1, degree):
        values.append(2 * z * values[n] - values[n - 1])
        if derivatives >= 1:
            firsts.append(2 * values[n] + 2 * z * firsts[n] - firsts[n - 1])
        if derivatives >= 2:
            seconds.append(4 * firsts[n] + 2 * z * seconds[n] - seconds[n - 1])
    count = degree + 1
    result = torch.stack(values[:count], dim=-1)
    first = second = None
    if derivatives >= 1:
        dz = (1 - z * z) / half
        dt = torch.stack(firsts[:count], dim=-1)
        first = dt * dz.unsqueeze(-1)
        if derivatives >= 2:
            d2z = -2 * z * (1 - z * z) / (half * half)
            d2t = torch.stack(seconds[:count], dim=-1)
            second = d2t * (dz * dz).unsqueeze(-1) + dt * d2z.unsqueeze(-1)
    return BasisValues(result, first, second)


def _window_from_points(points: Tensor, order: int) -> Tensor:
    return torch.stack([points[:, 0], points[:, -1]], dim=1)


def _points_from_window(window: Tensor, order: int) -> Tensor:
    return window.clone()


CHEBYSHEV = register_basis(
    BasisFamily(
        name="chebyshev",
        evaluate=lambda x, grid, grid_size, order, derivatives: chebyshev_basis(
            x, grid, grid_size, derivatives
        ),
        num_functions=lambda grid_size, order: grid_size + 1,
        num_points=lambda grid_size: 2,
        points_to_grid=_window_from_points,
        grid_to_points=_points_from_window,
        min_grid_size=1,
        uses_order=False,
        description="Chebyshev T_0..T_G of tanh-normalised inputs (grid_size is the degree)",
    )
)
