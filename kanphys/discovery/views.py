"""Coordinates a law is searched in: raw or logarithmic inputs and target, scaled for a KAN.

A view maps the measurements to the network's coordinates (inputs to [-1, 1], target to zero
mean and unit spread) and maps a formula found in those coordinates back to the user's
variables as exact sympy expressions, so the affine constants it introduces are refitted with
the rest of the formula.

``raw``   : ``u = affine(x)``, ``t = affine(y)``; products need product nodes.
``log``   : ``u = affine(log x)``, ``t = affine(log y)``; products of powers become sums,
            so a one-layer KAN with linear edges is a monomial ``C * prod x_i^p_i``.
            Needs every input and the target strictly positive.
``logy``  : ``u = affine(x)``, ``t = affine(log y)``; for laws like ``A * exp(g(x))``.
``ratio`` : ``t = affine(y * x_k)`` and ``t = affine(y / x_k)`` for every input ``x_k`` that is
            never 0 (views ``y*x_k``, ``y/x_k``), raw inputs; for laws such as
            ``sin(x) / x`` whose factors a product node cannot tell apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from kanphys.errors import ConfigError

__all__ = ["VIEWS", "View", "available_views", "make_view", "view_name"]

VIEWS = ("raw", "log", "logy", "ratio")


@dataclass(frozen=True)
class View:
    """A fitted coordinate change (``low``/``high`` per input, ``mean``/``scale`` of the target)."""

    name: str
    log_inputs: bool
    log_target: bool
    low: np.ndarray
    high: np.ndarray
    mean: float
    scale: float
    factor: int | None = None
    factor_power: int = 0

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """``(N, d)`` measurements -> ``(N, d)`` network inputs in [-1, 1] on the fitted range."""
        values = np.log(X) if self.log_inputs else X
        return 2.0 * (values - self.low) / (self.high - self.low) - 1.0

    def target(self, y: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``(N,)`` targets (with their ``(N, d)`` inputs) -> ``(N,)`` network targets."""
        values = np.log(y) if self.log_target else y
        if self.factor is not None:
            values = values * X[:, self.factor] ** self.factor_power
        return (values - self.mean) / self.scale

    def untarget(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Network outputs ``(N,)`` -> the user's target."""
        values = t * self.scale + self.mean
        if self.factor is not None:
            values = values / X[:, self.factor] ** self.factor_power
        return np.exp(values) if self.log_target else values

    def input_expressions(
        self, symbols: Sequence[sympy.Symbol], columns: Sequence[int] | None = None
    ) -> list[sympy.Expr]:
        """The network inputs as expressions of the user's variables ``symbols``, which are
        the input ``columns`` of the data (all of them by default)."""
        columns = range(len(symbols)) if columns is None else columns
        exprs = []
        for symbol, k in zip(symbols, columns, strict=True):
            low, high = self.low[k], self.high[k]
            value = sympy.log(symbol) if self.log_inputs else symbol
            slope = sympy.Float(2.0 / (high - low))
            exprs.append(slope * value - sympy.Float(2.0 * low / (high - low) + 1.0))
        return exprs

    def output_expression(self, t: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> sympy.Expr:
        """The user's target from the network output expression ``t``."""
        value = t * sympy.Float(self.scale) + sympy.Float(self.mean)
        if self.factor is not None:
            value = value / symbols[self.factor] ** self.factor_power
        return sympy.exp(value) if self.log_target else value


def available_views(
    X: np.ndarray, y: np.ndarray, requested: Sequence[str], names: Sequence[str]
) -> list[tuple[str, int | None, int]]:
    """The views the data allow, as ``(kind, factor, power)``, in the order they are tried:
    log views first (cheap when the law is a product), then raw, then the ratio views."""
    positive_x = bool((X > 0).all())
    positive_y = bool((y > 0).all())
    order = {"log": 0, "logy": 1, "raw": 2, "ratio": 3}
    allowed: list[tuple[str, int | None, int]] = []
    for kind in sorted(set(requested), key=order.__getitem__):
        if kind == "log" and not (positive_x and positive_y):
            continue
        if kind == "logy" and not positive_y:
            continue
        if kind == "ratio":
            for k in range(X.shape[1]):
                if bool((X[:, k] != 0).all()):
                    allowed += [("ratio", k, 1), ("ratio", k, -1)]
            continue
        allowed.append((kind, None, 0))
    return allowed


def view_name(kind: str, factor: int | None, power: int, names: Sequence[str]) -> str:
    if factor is None:
        return kind
    return f"y*{names[factor]}" if power > 0 else f"y/{names[factor]}"


def make_view(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    *,
    factor: int | None = None,
    power: int = 0,
    names: Sequence[str] = (),
) -> View:
    """Fit the view ``kind`` to the training data ``X (N, d)``, ``y (N,)``."""
    if kind not in VIEWS:
        raise ConfigError(f"views entries must be among {list(VIEWS)}; received {kind!r}")
    log_inputs = kind == "log"
    log_target = kind in ("log", "logy")
    values = np.log(X) if log_inputs else X
    target = np.log(y) if log_target else y
    if factor is not None:
        target = target * X[:, factor] ** power
    low, high = values.min(axis=0), values.max(axis=0)
    scale = float(target.std())
    if not scale > 0:
        raise ConfigError("the target is constant on the training rows; nothing to discover")
    return View(
        name=view_name(kind, factor, power, names) if names else kind,
        log_inputs=log_inputs,
        log_target=log_target,
        low=low,
        high=high,
        mean=float(target.mean()),
        scale=scale,
        factor=factor,
        factor_power=power,
    )
