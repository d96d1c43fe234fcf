"""Layers: the KAN layer, its grid edits, symbolic edges, and activations with derivatives."""

from kanphys.layers.activations import ACTIVATIONS, Activation, get_activation
from kanphys.layers.grid import refine_grid, update_grid
from kanphys.layers.kan_layer import KANLayer, LayerTrace, initial_grid
from kanphys.layers.symbolic_edges import SymbolicEdges

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "KANLayer",
    "LayerTrace",
    "SymbolicEdges",
    "get_activation",
    "initial_grid",
    "refine_grid",
    "update_grid",
]
