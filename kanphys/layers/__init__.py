"""Layers: the KAN layer, its grid edits, and activations with closed-form derivatives."""

from kanphys.layers.activations import ACTIVATIONS, Activation, get_activation
from kanphys.layers.grid import refine_grid, update_grid
from kanphys.layers.kan_layer import KANLayer, LayerTrace, initial_grid

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "KANLayer",
    "LayerTrace",
    "get_activation",
    "initial_grid",
    "refine_grid",
    "update_grid",
]
