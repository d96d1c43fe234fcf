"""Least squares between curves and basis coefficients, and grids placed from samples."""

from __future__ import annotations

import torch
from torch import Tensor

from kanphys.basis.types import BasisFamily
from kanphys.errors import ConfigError, NonFiniteError, ShapeError, check_int

__all__ = ["curve_to_coefficients", "grid_points_from_samples", "refine_points"]


def _check_finite(name: str, tensor: Tensor) -> None:
    if not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise NonFiniteError(
            f"{name} contains {bad} NaN or infinite value(s); clean the data first"
        )


def curve_to_coefficients(
    x: Tensor,
    y: Tensor,
    grid: Tensor,
    family: BasisFamily,
    grid_size: int,
    spline_order: int,
    *,
    ridge: float | None = None,
) -> Tensor:
    """Least-squares basis coefficients of sampled curves, one problem per input.

    Solves ``min_c ||B(x_i) c_{i,j} - y_{:,i,j}||^2 + lambda ||c_{i,j}||^2`` for every input
    ``i`` and curve ``j`` with one batched call (no per-edge loop).

    Parameters
    ----------
    x : Tensor, shape (N, d)
        Sample points per input.
    y : Tensor, shape (N, d, m)
        ``m`` curves per input sampled at ``x``.
    grid : Tensor, shape (d, P)
        The family's grid.
    family : BasisFamily
    grid_size, spline_order : int
    ridge : float, optional
        Tikhonov weight relative to the mean diagonal of ``B^T B``. By default none on the
        CPU, where the SVD-based ``gelsd`` driver returns the minimum-norm solution (basis
        functions that no sample reaches get zero coefficients) deterministically; on other
        devices, whose solver needs a full-rank system, ``100 * eps(dtype)``.

    Returns
    -------
    Tensor, shape (d, m, n)
        Coefficients, ``n = family.num_functions(grid_size, spline_order)``.
    """
    if x.dim() != 2 or y.dim() != 3 or y.shape[:2] != x.shape:
        raise ShapeError(
            f"curve_to_coefficients expects x of shape (N, d) and y of shape (N, d, m); "
            f"received x {tuple(x.shape)} and y {tuple(y.shape)}"
        )
    _check_finite("x", x)
    _check_finite("y", y)
    on_cpu = x.device.type == "cpu"
    if ridge is None:
        ridge = 0.0 if on_cpu else 100.0 * torch.finfo(x.dtype).eps
    if ridge < 0:
        raise ConfigError(f"ridge must be >= 0; received {ridge}")
    basis = family.evaluate(x, grid, grid_size, spline_order, 0).values  # (N, d, n)
    design = basis.permute(1, 0, 2)  # (d, N, n)
    target = y.permute(1, 0, 2)  # (d, N, m)
    if ridge > 0:
        count = design.shape[-1]
        scale = design.pow(2).sum(dim=1).mean(dim=-1).clamp_min(torch.finfo(x.dtype).tiny)
        eye = torch.eye(count, dtype=x.dtype, device=x.device)
        penalty = torch.sqrt(ridge * scale)[:, None, None] * eye
        zeros = torch.zeros(target.shape[0], count, target.shape[2], dtype=x.dtype, device=x.device)
        design = torch.cat([design, penalty], dim=1)
        target = torch.cat([target, zeros], dim=1)
    solution = torch.linalg.lstsq(design, target, driver="gelsd" if on_cpu else None).solution
    return solution.permute(0, 2, 1).contiguous()


def grid_points_from_samples(
    x: Tensor, num_points: int, *, uniform_fraction: float = 0.02, margin: float = 0.0
) -> Tensor:
    """Grid points that follow the sample distribution of each input.

    The adaptive points are the sample quantiles at ``num_points`` evenly spaced levels; the
    uniform points span ``[min - margin, max + margin]``. The result is
    ``uniform_fraction * uniform + (1 - uniform_fraction) * adaptive``, which is strictly
    increasing whenever ``uniform_fraction > 0`` and the samples are not all equal (a constant
    input gets the window ``[value - 1, value + 1]`` whatever the margin).

    Parameters
    ----------
    x : Tensor, shape (N, d)
    num_points : int
        Points per input (``family.num_points(grid_size)``), at least 2.
    uniform_fraction : float in [0, 1]
        Weight of the uniform grid (pykan's ``grid_eps``).
    margin : float
        Widening of the uniform grid beyond the sample range.

    Returns
    -------
    Tensor, shape (d, num_points)
    """
    if x.dim() != 2 or x.shape[0] < 2:
        raise ShapeError(
            f"grid update needs samples of shape (N >= 2, d); received {tuple(x.shape)}"
        )
    if not 0.0 <= uniform_fraction <= 1.0:
        raise ConfigError(f"uniform_fraction must be in [0, 1]; received {uniform_fraction}")
    _check_finite("grid samples", x)
    check_int("num_points", num_points, minimum=2)
    levels = torch.linspace(0.0, 1.0, num_points, dtype=x.dtype, device=x.device)
    adaptive = torch.quantile(x, levels, dim=0).T  # (d, P)
    low = x.min(dim=0).values
    high = x.max(dim=0).values
    flat = high - low <= torch.finfo(x.dtype).eps * (1 + low.abs())
    low = torch.where(flat, low - 1, low - margin)
    high = torch.where(flat, high + 1, high + margin)
    uniform = low[:, None] + (high - low)[:, None] * levels
    adaptive = torch.where(flat[:, None], uniform, adaptive)
    return uniform_fraction * uniform + (1 - uniform_fraction) * adaptive


def refine_points(points: Tensor, num_points: int) -> Tensor:
    """Resample grid points to ``num_points`` by piecewise-linear interpolation of their index.

    Refining ``G + 1`` points to ``m G + 1`` keeps every old point, so B-spline spaces are nested
    and refinement is exact on the grid range.

    Parameters
    ----------
    points : Tensor, shape (d, P)
    num_points : int

    Returns
    -------
    Tensor, shape (d, num_points)
    """
    old = points.shape[-1]
    position = torch.linspace(0, old - 1, num_points, dtype=points.dtype, device=points.device)
    lower = position.floor().long().clamp(max=old - 2)
    frac = position - lower.to(points.dtype)
    return points[:, lower] * (1 - frac) + points[:, lower + 1] * frac
