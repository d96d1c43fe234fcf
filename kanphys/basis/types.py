"""Shared types of the basis functions: the value/derivative bundle and the family registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

from kanphys.errors import ConfigError, check_int

__all__ = ["BASES", "BasisFamily", "BasisValues", "get_basis", "register_basis"]


class BasisValues(NamedTuple):
    """Basis functions of every input evaluated at a batch of points.

    Attributes
    ----------
    values : Tensor, shape (N, d, n)
        ``values[p, i, m]`` is basis function ``m`` of input ``i`` at point ``p``.
    first : Tensor or None, shape (N, d, n)
        First derivative with respect to the input, when requested.
    second : Tensor or None, shape (N, d, n)
        Second derivative with respect to the input, when requested.
    """

    values: Tensor
    first: Tensor | None = None
    second: Tensor | None = None


Evaluate = Callable[[Tensor, Tensor, int, int, int], BasisValues]


@dataclass(frozen=True)
class BasisFamily:
    """A family of univariate basis functions living on a per-input grid.

    Every family is described by *grid points*: ``num_points(grid_size)`` points per input
    that tell where the basis resolves the input axis (the knot interval ends of a B-spline,
    the centres of the RBFs, the ``[low, high]`` window of the Chebyshev normalisation).
    ``points_to_grid`` turns them into the grid tensor that ``evaluate`` consumes (for
    B-splines: the points plus ``spline_order`` extension knots on each side), and
    ``grid_to_points`` goes back. Grid update and grid refinement only manipulate points,
    so they work for every family alike.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"bspline"``.
    evaluate : callable
        ``evaluate(x, grid, grid_size, order, derivatives) -> BasisValues`` with ``x`` of
        shape ``(N, d)`` and ``grid`` of shape ``(d, P)``; ``derivatives`` in {0, 1, 2}.
    num_functions : callable
        ``(grid_size, order) -> n``, the number of basis functions per input.
    num_points : callable
        ``grid_size -> P``, the number of grid points per input.
    points_to_grid, grid_to_points : callable
        ``(points, order) -> grid`` and ``(grid, order) -> points``.
    min_grid_size : int
        Smallest meaningful ``grid_size``.
    uses_order : bool
        Whether ``spline_order`` means anything for this family.
    """

    name: str
    evaluate: Evaluate
    num_functions: Callable[[int, int], int]
    num_points: Callable[[int], int]
    points_to_grid: Callable[[Tensor, int], Tensor]
    grid_to_points: Callable[[Tensor, int], Tensor]
    min_grid_size: int = 1
    uses_order: bool = False
    description: str = ""

    def check(self, grid_size: int, order: int) -> None:
        """Validate ``grid_size`` and ``spline_order`` for this family."""
        check_int("grid_size", grid_size, minimum=self.min_grid_size)
        check_int("spline_order", order, minimum=0)


BASES: dict[str, BasisFamily] = {}


def register_basis(family: BasisFamily) -> BasisFamily:
    """Add ``family`` to :data:`BASES` under ``family.name`` and return it."""
    if family.name in BASES:
        raise ConfigError(f"basis {family.name!r} is already registered")
    BASES[family.name] = family
    return family


def get_basis(name: str) -> BasisFamily:
    """Return the registered basis family called ``name``.

    Raises
    ------
    ConfigError
        If ``name`` is not registered; the message lists the valid names.
    """
    if not isinstance(name, str) or name not in BASES:
        raise ConfigError(f"basis must be one of {sorted(BASES)}; received {name!r}")
    return BASES[name]
