"""From KAN edges to formulas: primitives, vectorised edge fits, symbolic edits, formula tools.

* :mod:`kanphys.symbolic.library`: the immutable primitive library (:data:`DEFAULT_LIBRARY`).
* :mod:`kanphys.symbolic.edge_fit`: ``a f(b x + c) + d`` fitted to all edges and all primitives
  at once (:func:`fit_edges`).
* :mod:`kanphys.symbolic.fix`: :func:`fix_symbolic` and :func:`auto_symbolic` return new models
  whose edges are formulas with trainable constants.
* :mod:`kanphys.symbolic.formula`: :func:`network_formula`, the sympy expression of a network.
* :mod:`kanphys.symbolic.evaluate` and :mod:`kanphys.symbolic.constants`: formulas evaluated in
  torch, constants refitted against data and snapped to simple values.
"""

from kanphys.symbolic.constants import (
    complexity,
    drop_negligible_terms,
    refit_constants,
    simplify_formula,
    snap_constants,
)
from kanphys.symbolic.edge_fit import EdgeChoice, EdgeFits, fit_edges
from kanphys.symbolic.evaluate import TorchFormula, constants_as_parameters, to_torch
from kanphys.symbolic.fix import EdgeReport, SymbolicReport, auto_symbolic, fix_symbolic
from kanphys.symbolic.formula import default_symbols, network_formula, numeric_edges
from kanphys.symbolic.library import (
    DEFAULT_LIBRARY,
    Library,
    Primitive,
    get_library,
    make_primitive,
)

__all__ = [
    "DEFAULT_LIBRARY",
    "EdgeChoice",
    "EdgeFits",
    "EdgeReport",
    "Library",
    "Primitive",
    "SymbolicReport",
    "TorchFormula",
    "auto_symbolic",
    "complexity",
    "constants_as_parameters",
    "default_symbols",
    "drop_negligible_terms",
    "fit_edges",
    "fix_symbolic",
    "get_library",
    "make_primitive",
    "network_formula",
    "numeric_edges",
    "refit_constants",
    "simplify_formula",
    "snap_constants",
    "to_torch",
]
