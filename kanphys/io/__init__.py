"""Reading and writing files: model checkpoints (problem specs arrive with the PDE module)."""

from kanphys.io.checkpoint import atomic_write_bytes, load_model, save_model

__all__ = ["atomic_write_bytes", "load_model", "save_model"]
