"""Training loops: data fitting (:func:`fit`) and declared symmetries enforced as losses.

The conserved quantities (:class:`Conserved`, :class:`ConservedIntegral`) need the expression
parser (sympy) and are imported on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from kanphys.training.fit import FitConfig, FitResult, fit
from kanphys.training.symmetry import (
    Rotation,
    Scaling,
    Swap,
    Symmetry,
    Translation,
    symmetry_from_dict,
)

if TYPE_CHECKING:
    from kanphys.training.conservation import Conserved, ConservedIntegral


def __getattr__(name: str) -> Any:
    if name in ("Conserved", "ConservedIntegral"):
        return getattr(importlib.import_module("kanphys.training.conservation"), name)
    raise AttributeError(f"module 'kanphys.training' has no attribute {name!r}")


__all__ = [
    "Conserved",
    "ConservedIntegral",
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
