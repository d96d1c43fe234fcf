"""Training loops. Data fitting now; physics-informed training arrives with the PDE module."""

from kanphys.training.fit import FitConfig, FitResult, fit

__all__ = ["FitConfig", "FitResult", "fit"]
