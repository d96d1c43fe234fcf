"""Networks: the KAN stack (sum and product nodes) and an MLP baseline with the same interface."""

from kanphys.models.base import MODELS, Network, register_model
from kanphys.models.grid import refine_grid, update_grid
from kanphys.models.kan import KAN, KANConfig, KANTrace, normalize_width
from kanphys.models.mlp import MLP, MLPConfig

__all__ = [
    "KAN",
    "MLP",
    "MODELS",
    "KANConfig",
    "KANTrace",
    "MLPConfig",
    "Network",
    "normalize_width",
    "refine_grid",
    "register_model",
    "update_grid",
]
