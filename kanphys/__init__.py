"""kanphys: physics-informed Kolmogorov-Arnold Networks.

The public API is re-exported here; submodules (:mod:`kanphys.basis`, :mod:`kanphys.layers`,
:mod:`kanphys.models`, :mod:`kanphys.pde`, :mod:`kanphys.training`, :mod:`kanphys.io`) hold the
rest.
"""

import importlib
from typing import TYPE_CHECKING, Any

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
from kanphys.training import (
    FitConfig,
    Rotation,
    Scaling,
    Swap,
    Symmetry,
    Translation,
    fit,
)

if TYPE_CHECKING:
    from kanphys.discovery import LawDiscovery, identify_ode, identify_pde
    from kanphys.io.spec import load_problem, problem_from_dict
    from kanphys.pde.problem import Problem
    from kanphys.pde.registry import get_problem, list_problems
    from kanphys.training.conservation import Conserved, ConservedIntegral
    from kanphys.training.solve import SolveResult, load_solution, solve

# the PDE side pulls in sympy and scipy: import it on first use, not with `import kanphys`
_LAZY = {
    "Conserved": "kanphys.training.conservation",
    "ConservedIntegral": "kanphys.training.conservation",
    "LawDiscovery": "kanphys.discovery",
    "Problem": "kanphys.pde.problem",
    "SolveResult": "kanphys.training.solve",
    "get_problem": "kanphys.pde.registry",
    "identify_ode": "kanphys.discovery",
    "identify_pde": "kanphys.discovery",
    "list_problems": "kanphys.pde.registry",
    "load_problem": "kanphys.io.spec",
    "problem_from_dict": "kanphys.io.spec",
    "load_solution": "kanphys.training.solve",
    "solve": "kanphys.training.solve",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kanphys' has no attribute {name!r}")


__all__ = [
    "KAN",
    "MLP",
    "CheckpointError",
    "ConfigError",
    "Conserved",
    "ConservedIntegral",
    "FitConfig",
    "KANLayer",
    "KanphysError",
    "LawDiscovery",
    "NonFiniteError",
    "Problem",
    "Rotation",
    "Scaling",
    "ShapeError",
    "SolveResult",
    "SpecError",
    "Swap",
    "Symmetry",
    "TensorTypeError",
    "Translation",
    "__version__",
    "fit",
    "get_problem",
    "identify_ode",
    "identify_pde",
    "list_problems",
    "load_model",
    "load_problem",
    "load_solution",
    "problem_from_dict",
    "refine_grid",
    "save_model",
    "solve",
    "update_grid",
]
