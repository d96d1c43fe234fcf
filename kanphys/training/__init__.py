"""Training loops: data fitting (:func:`fit`) and declared symmetries enforced as losses."""

from kanphys.training.fit import FitConfig, FitResult, fit
from kanphys.training.symmetry import (
    Conserved,
    Rotation,
    Scaling,
    Swap,
    Symmetry,
    Translation,
    symmetry_from_dict,
)

__all__ = [
    "Conserved",
    "FitConfig",
    "FitResult",
    "Rotation",
    "Scaling",
    "Swap",
    "Symmetry",
    "Translation",
    "fit",
    "symmetry_from_dict",
]
