"""Basis functions as pure tensor functions: values and closed-form input derivatives.

Families are registered in :data:`BASES`; :func:`get_basis` looks one up by name.
"""

from kanphys.basis.bspline import bspline_basis, extend_knots, interior_points, uniform_knots
from kanphys.basis.chebyshev import chebyshev_basis, chebyshev_window
from kanphys.basis.fitting import curve_to_coefficients, grid_points_from_samples, refine_points
from kanphys.basis.rbf import rbf_basis, uniform_centres
from kanphys.basis.types import BASES, BasisFamily, BasisValues, get_basis, register_basis

__all__ = [
    "BASES",
    "BasisFamily",
    "BasisValues",
    "bspline_basis",
    "chebyshev_basis",
    "chebyshev_window",
    "curve_to_coefficients",
    "extend_knots",
    "get_basis",
    "grid_points_from_samples",
    "interior_points",
    "rbf_basis",
    "refine_points",
    "register_basis",
    "uniform_centres",
    "uniform_knots",
]
