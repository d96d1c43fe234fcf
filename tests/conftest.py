"""Shared test helpers: the tolerance rules, derived from each method's error, in one place."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor


class Tolerance:
    """Tolerance rules derived from the numerical method being tested.

    * Values: both sides of a comparison are short recurrences (Cox-de Boor, Chebyshev
      three-term, ``exp``) on numbers of size ``scale``, each step adding an eps-sized rounding;
      ``4500 eps`` in float64 (~1e-12) and ``100 eps`` in float32 (~1e-5) never flake and stay
      many orders below the O(1) error of a wrong formula.
    * Derivatives: each derivative divides differences of nearby values by knot spacings,
      losing about a digit per order; 100x the value rule (~1e-10 in float64).
    * Least squares on data in the basis span: the default ridge ``mu = 100 eps mean(B^T B)``
      biases the coefficients by at most ``100 eps kappa^2 ||c||`` (``kappa = cond(B)``) and the
      solve adds roundoff ``~ kappa`` times the value rule.
    * Central differences: truncation ``h^2/6 max|f'''|`` (first) or ``h^2/12 max|f''''|``
      (second) plus roundoff ``delta/h`` or ``4 delta/h^2``; the step minimises the sum.
    * Two B-spline evaluation paths (cardinal polynomials on the mean spacing ``h``, de Boor on
      the actual knots): each is a ``(k + 1)``-term recurrence on numbers bounded by ``S``
      (the level's polynomial coefficients summed, times ``h^-l``), so rounding costs
      ``(k + 1)^2 eps S``; knots that deviate from equal spacing by at most ``delta`` move the
      level-``l`` derivatives by at most ``(k + 1)(l + 1) (delta / h) S``.
    * Spline convergence: least-squares fits with degree-``k`` splines converge like
      ``h^(k+1)``; the observed order between consecutive grids must exceed ``k + 1 - 0.7``
      (pre-asymptotic and boundary effects cost a few tenths).
    """

    VALUE_EPS_FACTOR: ClassVar[dict[torch.dtype, float]] = {
        torch.float64: 4.5e3,
        torch.float32: 1e2,
    }
    DERIVATIVE_FACTOR = 1e2
    RIDGE_EPS_FACTOR = 1e2  # curve_to_coefficients' default ridge, in eps * mean diag(B^T B)
    RATE_SLACK = 0.7
    FD_SAFETY = 4.0

    @classmethod
    def values(cls, dtype: torch.dtype, scale: float = 1.0) -> float:
        """Absolute tolerance for two evaluations of quantities of size ``scale``."""
        eps = torch.finfo(dtype).eps
        return cls.VALUE_EPS_FACTOR[dtype] * eps * max(1.0, float(scale))

    @classmethod
    def derivatives(cls, dtype: torch.dtype, scale: float = 1.0) -> float:
        """Absolute tolerance for two evaluations of derivatives of size ``scale``."""
        return cls.DERIVATIVE_FACTOR * cls.values(dtype, scale)

    @staticmethod
    def spline_paths(
        dtype: torch.dtype, order: int, level: int, bound: Tensor, deviation: Tensor
    ) -> Tensor:
        """Tolerance between two evaluation paths of level-``level`` B-spline derivatives of
        degree ``order``, per input: ``bound`` is ``S`` and ``deviation`` is ``delta / h``."""
        eps = torch.finfo(dtype).eps
        return bound * ((order + 1) ** 2 * eps + (order + 1) * (level + 1) * deviation)

    @classmethod
    def least_squares(cls, dtype: torch.dtype, condition: float, scale: float = 1.0) -> float:
        """Error of coefficients (or of values, with ``scale`` the per-row bound) fitted by
        ``curve_to_coefficients`` to data that lie in the span of a design of condition number
        ``condition``; ``scale`` is the 2-norm of the exact coefficients."""
        eps = torch.finfo(dtype).eps
        bias = cls.RIDGE_EPS_FACTOR * eps * condition**2
        roundoff = cls.VALUE_EPS_FACTOR[dtype] * eps * condition
        return (bias + roundoff) * max(1.0, float(scale))

    @classmethod
    def central_difference(
        cls,
        order: int,
        *,
        value_bound: float,
        derivative_bound: float,
        max_step: float,
        dtype: torch.dtype = torch.float64,
    ) -> tuple[float, float]:
        """Step ``h`` and error bound of a central difference for derivative ``order``.

        ``D1 = (f(x+h) - f(x-h)) / 2h``: ``|D1 - f'| <= h^2/6 M3 + delta/h``, optimal at
        ``h^3 = 3 delta / M3``; ``D2 = (f(x+h) - 2 f(x) + f(x-h)) / h^2``:
        ``|D2 - f''| <= h^2/12 M4 + 4 delta/h^2``, optimal at ``h^4 = 48 delta / M4``.
        ``derivative_bound`` is ``M3`` (order 1) or ``M4`` (order 2) on ``[x - h, x + h]`` and
        ``delta = 16 eps max(1, value_bound)`` the roundoff of one evaluation. The step is capped
        at ``max_step`` (to stay on one polynomial piece); the bound gets a safety factor 4.
        """
        delta = 16 * torch.finfo(dtype).eps * max(1.0, value_bound)
        if order == 1:
            ideal = (3 * delta / derivative_bound) ** (1 / 3) if derivative_bound > 0 else max_step
            step = min(ideal, max_step)
            bound = step**2 / 6 * derivative_bound + delta / step
        elif order == 2:
            ideal = (48 * delta / derivative_bound) ** (1 / 4) if derivative_bound > 0 else max_step
            step = min(ideal, max_step)
            bound = step**2 / 12 * derivative_bound + 4 * delta / step**2
        else:
            raise ValueError(f"order must be 1 or 2; received {order}")
        return step, cls.FD_SAFETY * bound

    @staticmethod
    def observed_orders(grid_sizes: list[int], errors: list[float]) -> np.ndarray:
        """Empirical rates ``p`` in ``error ~ G^-p`` between consecutive grid sizes."""
        sizes = np.asarray(grid_sizes, dtype=float)
        errs = np.asarray(errors, dtype=float)
        return np.log(errs[:-1] / errs[1:]) / np.log(sizes[1:] / sizes[:-1])

    @classmethod
    def min_spline_rate(cls, spline_order: int) -> float:
        """Smallest acceptable observed convergence order of a degree-``spline_order`` fit."""
        return spline_order + 1 - cls.RATE_SLACK


@pytest.fixture
def tol() -> type[Tolerance]:
    """The :class:`Tolerance` rules, as a fixture so test modules need not import conftest."""
    return Tolerance


@pytest.fixture(scope="module")
def dde():
    """DeepXDE with its PyTorch backend, seeded (tests using it skip without DeepXDE)."""
    pytest.importorskip("deepxde")
    from kanphys.deepxde import load_deepxde

    module = load_deepxde()
    module.config.set_random_seed(0)
    return module
