"""Derivatives of sampled fields: noise estimate, local polynomial (Savitzky-Golay) smoothing
and differentiation on the grid, and a KAN surrogate differentiated by autograd.

* :func:`estimate_noise`: the standard deviation of additive white noise, from the median
  absolute sixth difference along an axis (a smooth signal's sixth differences are
  ``O(h^6)``; white noise's have standard deviation ``sqrt(924) sigma``).
* :func:`grid_derivatives`: ``d^k u / dx^k`` along one axis by local polynomial fits. Clean
  data: degree-8 interpolation on 9 points (finite differences of order ``9 - k``); noisy data:
  Savitzky-Golay with the window minimising generalised cross-validation of the smoothed
  values.
* :class:`FieldSurrogate`: a :class:`~kanphys.models.KAN` ``u(t, x)`` fitted by L-BFGS, whose
  derivatives of any order come from autograd.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from scipy.signal import savgol_coeffs, savgol_filter

from kanphys.errors import ConfigError

__all__ = ["FieldSurrogate", "estimate_noise", "grid_derivatives", "smoothing_window"]

_CLEAN_DEGREE = 8
_SIXTH_DIFFERENCE_GAIN = math.sqrt(924.0)  # sum of squared binomial(6, j)
_MAD_TO_STD = 1.0 / 0.6744897501960817


def estimate_noise(u: np.ndarray, axis: int) -> float:
    """Noise standard deviation of ``u`` along ``axis`` (``nan`` with fewer than 16 samples)."""
    if u.shape[axis] < 16:
        return math.nan
    difference = np.diff(u, n=6, axis=axis)
    return float(np.median(np.abs(difference)) * _MAD_TO_STD / _SIXTH_DIFFERENCE_GAIN)


def smoothing_window(u: np.ndarray, axis: int, degree: int) -> int:
    """Savitzky-Golay window (odd) along ``axis`` minimising generalised cross-validation
    ``mean(residual^2) / (1 - h)^2``, ``h`` the weight of the centre sample."""
    n = u.shape[axis]
    smallest = degree + 2 + (degree % 2 == 0)
    largest = min(n - (1 - n % 2), 8 * degree + 1)
    best, best_score = smallest, math.inf
    for window in range(smallest, max(smallest, largest) + 1, 2):
        leverage = float(savgol_coeffs(window, degree)[window // 2])
        smooth = savgol_filter(u, window, degree, axis=axis, mode="interp")
        score = float(np.mean((u - smooth) ** 2)) / (1.0 - leverage) ** 2
        if score < best_score:
            best, best_score = window, score
    return best


def grid_derivatives(
    u: np.ndarray, spacing: float, max_order: int, *, axis: int, noisy: bool
) -> list[np.ndarray]:
    """``[u, du/ds, ..., d^max_order u/ds^max_order]`` along ``axis`` by local polynomials.

    Parameters
    ----------
    u : ndarray
        Samples on a uniform grid.
    spacing : float
        Grid step along ``axis``.
    max_order : int
    axis : int
    noisy : bool
        False: interpolation (degree 8 on 9 points; ``u`` itself is returned unchanged).
        True: Savitzky-Golay of degree ``max_order + 2`` with the GCV window of
        :func:`smoothing_window` (``u`` is returned smoothed).

    Returns
    -------
    list of ndarray
        ``max_order + 1`` arrays shaped like ``u``.
    """
    n = u.shape[axis]
    if not noisy:
        window = min(_CLEAN_DEGREE + 1, n - (1 - n % 2))  # odd
        degree = window - 1
        values = [u]
    else:
        degree = max_order + 2
        window = smoothing_window(u, axis, degree)
        values = [savgol_filter(u, window, degree, axis=axis, mode="interp")]
    if degree < max_order or window > n:
        raise ConfigError(
            f"{n} samples along axis {axis} are too few for derivatives of order {max_order}; "
            f"need at least {max_order + 2}"
        )
    for order in range(1, max_order + 1):
        values.append(
            savgol_filter(u, window, degree, deriv=order, delta=spacing, axis=axis, mode="interp")
        )
    return values


class FieldSurrogate:
    """A KAN ``u(t, x)`` fitted to gridded samples, differentiated by autograd.

    The inputs are scaled to ``[-1, 1]`` and the field standardised; the network is a
    ``[2, hidden, hidden, 1]`` KAN with Gaussian RBF edges (infinitely differentiable), trained
    by L-BFGS on the mean squared error.

    Parameters
    ----------
    t : ndarray, shape (n_t,)
    x : ndarray, shape (n_x,)
    u : ndarray, shape (n_t, n_x)
    hidden : int, default 12
    grid_size : int, default 12
        RBF centres per edge.
    steps : int, default 600
        L-BFGS iterations (20 per outer step).
    max_points : int, default 6000
        Grid points used for training (a random subset when there are more).
    seed : int
    time_limit : float, optional
        Seconds; training stops when they pass.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    """

    def __init__(
        self,
        t: np.ndarray,
        x: np.ndarray,
        u: np.ndarray,
        *,
        hidden: int = 12,
        grid_size: int = 12,
        steps: int = 600,
        max_points: int = 6000,
        seed: int = 0,
        time_limit: float | None = None,
        device: str = "cpu",
    ) -> None:
        from kanphys.models import KAN
        from kanphys.runtime import resolve_device

        self.device = resolve_device(device)
        self.t_range = (float(t[0]), float(t[-1]))
        self.x_range = (float(x[0]), float(x[-1]))
        self.mean, self.std = float(u.mean()), float(u.std()) or 1.0
        generator = torch.Generator().manual_seed(seed)
        self.model = KAN(
            [2, hidden, hidden, 1],
            basis="rbf",
            grid_size=grid_size,
            dtype=torch.float64,
            device=self.device,
            generator=generator,
        )
        tt, xx = np.meshgrid(t, x, indexing="ij")
        points = np.stack([tt.ravel(), xx.ravel()], axis=1)
        values = (u.ravel() - self.mean) / self.std
        rows = np.random.default_rng(seed).permutation(len(values))[:max_points]
        inputs = self._inputs(torch.as_tensor(points[rows], device=self.device))
        target = torch.as_tensor(values[rows], device=self.device)[:, None]
        self.rmse = self._train(inputs, target, steps, time_limit) * self.std

    def _inputs(self, points: torch.Tensor) -> torch.Tensor:
        low = torch.tensor([self.t_range[0], self.x_range[0]], dtype=points.dtype)
        high = torch.tensor([self.t_range[1], self.x_range[1]], dtype=points.dtype)
        return 2.0 * (points - low.to(points.device)) / (high - low).to(points.device) - 1.0

    def _train(
        self, inputs: torch.Tensor, target: torch.Tensor, steps: int, limit: float | None
    ) -> float:
        stop = None if limit is None else time.perf_counter() + limit
        optimizer = torch.optim.LBFGS(
            self.model.parameters(), lr=1.0, max_iter=20, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = torch.mean((self.model(inputs) - target) ** 2)
            loss.backward()
            return loss

        for _ in range(max(1, steps // 20)):
            loss = optimizer.step(closure)
            if not torch.isfinite(loss) or (stop is not None and time.perf_counter() > stop):
                break
        with torch.no_grad():
            return float(torch.sqrt(torch.mean((self.model(inputs) - target) ** 2)))

    def derivatives(
        self, t: np.ndarray, x: np.ndarray, max_order: int, *, chunk: int = 8192
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``u_t`` and ``[u, u_x, ..., d^max_order u/dx^max_order]`` on the grid ``t x x``,
        each ``(n_t, n_x)``."""
        tt, xx = np.meshgrid(t, x, indexing="ij")
        points = torch.as_tensor(np.stack([tt.ravel(), xx.ravel()], axis=1), device=self.device)
        outputs: list[list[np.ndarray]] = [[] for _ in range(max_order + 2)]
        for start in range(0, points.shape[0], chunk):
            block = points[start : start + chunk].clone().requires_grad_(True)
            value = self.model(self._inputs(block))[:, 0] * self.std + self.mean
            (gradient,) = torch.autograd.grad(value.sum(), block, create_graph=max_order > 1)
            outputs[0].append(value.detach().cpu().numpy())
            outputs[1].append(gradient[:, 0].detach().cpu().numpy())
            current = gradient[:, 1]
            for order in range(1, max_order + 1):
                outputs[order + 1].append(current.detach().cpu().numpy())
                if order < max_order:
                    (nxt,) = torch.autograd.grad(
                        current.sum(), block, create_graph=order + 1 < max_order
                    )
                    current = nxt[:, 1]
        shape = tt.shape
        arrays = [np.concatenate(parts).reshape(shape) for parts in outputs]
        return arrays[1], [arrays[0], *arrays[2:]]
