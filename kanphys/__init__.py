"""kanphys: physics-informed Kolmogorov-Arnold Networks.

The public API is re-exported here; submodules (:mod:`kanphys.basis`, :mod:`kanphys.layers`,
:mod:`kanphys.models`, :mod:`kanphys.training`, :mod:`kanphys.io`) hold the rest.
"""

from kanphys._version import __version__
from kanphys.errors import (
    CheckpointError,
    ConfigError,
    KanphysError,
    NonFiniteError,
    ShapeError,
    SpecError,
    TensorTypeError,
)
from kanphys.io import load_model, save_model
from kanphys.layers import KANLayer
from kanphys.models import KAN, MLP, refine_grid, update_grid
from kanphys.training import FitConfig, fit

__all__ = [
    "KAN",
    "MLP",
    "CheckpointError",
    "ConfigError",
    "FitConfig",
    "KANLayer",
    "KanphysError",
    "NonFiniteError",
    "ShapeError",
    "SpecError",
    "TensorTypeError",
    "__version__",
    "fit",
    "load_model",
    "refine_grid",
    "save_model",
    "update_grid",
]
