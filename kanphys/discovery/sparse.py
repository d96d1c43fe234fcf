"""Sparse regression for equation identification: STLSQ, a threshold path with a held-out
criterion, and stability selection.

The linear system is ``b ~ Theta xi`` (``Theta`` ``(n_rows, n_terms)``: candidate terms,
``b``: the time derivative). Columns are scaled to unit norm and ``b`` to unit norm, so a
normalised coefficient is the share of ``||b||`` that its term carries; thresholds are in these
units and so independent of the equation's scales.

* :func:`stlsq`: sequentially thresholded ridge least squares (Rudy et al. 2017, Brunton et al.
  2016): solve, zero the coefficients below the threshold, re-solve on the rest, until the
  support stops changing.
* :func:`select_support`: STLSQ over a path of thresholds (every distinct support of the path),
  each support refitted by ordinary least squares on the training rows and scored on held-out
  rows by ``log(max(e, tolerance^2)) + n_terms * log(1 + penalty)``, ``e`` the relative squared
  residual: a term must lower the held-out residual by the factor ``1 + penalty`` to be kept, and
  residuals below ``tolerance`` (the accuracy the data can certify) all count as equal.
* :func:`stability_selection`: :func:`select_support` on random halves of the training rows
  (Meinshausen and Buehlmann 2010); each term's selection frequency is reported, and the terms
  chosen in at least ``min_frequency`` of the runs are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PathPoint", "SparseResult", "select_support", "stability_selection", "stlsq"]


def _solve(A: np.ndarray, b: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge least squares ``argmin ||A x - b||^2 + ridge ||x||^2`` (``ridge = 0``: lstsq)."""
    if A.shape[1] == 0:
        return np.zeros(0)
    if ridge > 0:
        gram = A.T @ A + ridge * np.eye(A.shape[1])
        return np.linalg.solve(gram, A.T @ b)
    return np.linalg.lstsq(A, b, rcond=None)[0]


def _solve_gram(
    gram: np.ndarray, moment: np.ndarray, support: np.ndarray, ridge: float
) -> np.ndarray:
    """Coefficients ``(n_terms,)`` on ``support`` from the normal equations ``G x = c`` (plus
    ``ridge`` on the diagonal; a relative ``1e-12`` keeps the solve defined)."""
    xi = np.zeros(gram.shape[0])
    if support.any():
        sub = gram[np.ix_(support, support)]
        shift = max(ridge, 1e-12 * float(np.trace(sub)) / sub.shape[0])
        xi[support] = np.linalg.solve(sub + shift * np.eye(sub.shape[0]), moment[support])
    return xi


def _stlsq_gram(
    gram: np.ndarray, moment: np.ndarray, threshold: float, ridge: float, max_iter: int
) -> np.ndarray:
    support = np.ones(gram.shape[0], dtype=bool)
    xi = _solve_gram(gram, moment, support, ridge)
    support = np.abs(xi) >= threshold
    for _ in range(max_iter):
        xi = _solve_gram(gram, moment, support, ridge)
        new = support & (np.abs(xi) >= threshold)
        if np.array_equal(new, support):
            break
        support = new
    xi[~support] = 0.0
    return xi


def stlsq(
    A: np.ndarray, b: np.ndarray, threshold: float, *, ridge: float = 1e-6, max_iter: int = 25
) -> np.ndarray:
    """Sequentially thresholded ridge regression on normalised columns.

    Parameters
    ----------
    A : ndarray, shape (n_rows, n_terms)
        Columns of unit norm.
    b : ndarray, shape (n_rows,)
        Unit-norm target.
    threshold : float
        Coefficients with ``|xi| < threshold`` are zeroed.
    ridge : float
        Tikhonov weight in the thresholding iterations.
    max_iter : int

    Returns
    -------
    ndarray, shape (n_terms,)
        Coefficients (zeros off the support).
    """
    return _stlsq_gram(A.T @ A, A.T @ b, threshold, ridge, max_iter)


@dataclass(frozen=True)
class PathPoint:
    """One support of the threshold path: its threshold, the terms (a boolean mask), the
    normalised coefficients refitted by least squares, the relative held-out squared residual
    and the criterion value."""

    threshold: float
    support: np.ndarray
    coefficients: np.ndarray
    validation_error: float
    score: float


@dataclass(frozen=True)
class SparseResult:
    """Outcome of :func:`stability_selection`.

    Attributes
    ----------
    support : ndarray of bool, shape (n_terms,)
    coefficients : ndarray, shape (n_terms,)
        Least squares on all rows, in the units of the original columns (zeros off the
        support).
    coefficient_std : ndarray, shape (n_terms,)
        Spread of each kept coefficient over the resampled refits.
    frequencies : ndarray, shape (n_terms,)
        Share of the resampled selections that chose each term.
    validation_error : float
        Relative squared residual on the held-out rows of the kept terms fitted on the
        training rows.
    path : list of PathPoint
        The threshold path on all training rows.
    """

    support: np.ndarray
    coefficients: np.ndarray
    coefficient_std: np.ndarray
    frequencies: np.ndarray
    validation_error: float
    path: list[PathPoint]


def _relative_error(A: np.ndarray, b: np.ndarray, xi: np.ndarray) -> float:
    denominator = float(b @ b)
    return float(np.sum((A @ xi - b) ** 2)) / denominator if denominator > 0 else 0.0


def select_support(
    A: np.ndarray,
    b: np.ndarray,
    A_val: np.ndarray,
    b_val: np.ndarray,
    *,
    thresholds: np.ndarray | None = None,
    ridge: float = 1e-6,
    penalty: float = 0.1,
    tolerance: float = 1e-4,
) -> tuple[PathPoint, list[PathPoint]]:
    """STLSQ over a threshold path; pick the support with the best held-out criterion.

    Parameters
    ----------
    A, b : ndarray, shapes (n, m) and (n,)
        Training rows, normalised columns and target (see the module docstring).
    A_val, b_val : ndarray, shapes (n_val, m) and (n_val,)
        Held-out rows, scaled with the training rows' factors.
    thresholds : ndarray, optional
        Fixed thresholds (normalised units); by default 50 log-spaced values from ``1e-5``
        to the largest ridge coefficient, plus the midpoints between consecutive ridge
        coefficient magnitudes.
    ridge, penalty, tolerance : float
        As in the module docstring.

    Returns
    -------
    (PathPoint, list of PathPoint)
        The chosen point and the whole path (distinct supports, densest first).
    """
    gram, moment = A.T @ A, A.T @ b
    if thresholds is None:
        full = np.sort(np.abs(_solve_gram(gram, moment, np.ones(A.shape[1], bool), ridge)))
        top = max(float(full[-1]), 1e-5) if full.size else 1e-5
        grid = np.geomspace(1e-5, top, 50)
        middles = np.sqrt(full[1:] * full[:-1])
        thresholds = np.unique(np.concatenate([grid, middles[middles > 0]]))
    seen: dict[bytes, PathPoint] = {}
    log_penalty = math.log1p(penalty)
    for threshold in np.sort(np.asarray(thresholds, dtype=float)):
        support = _stlsq_gram(gram, moment, float(threshold), ridge, 25) != 0
        key = support.tobytes()
        if key in seen:
            continue
        xi = _solve_gram(gram, moment, support, 0.0)
        error = _relative_error(A_val, b_val, xi)
        score = math.log(max(error, tolerance**2)) + int(support.sum()) * log_penalty
        seen[key] = PathPoint(float(threshold), support, xi, error, score)
    path = sorted(seen.values(), key=lambda p: -int(p.support.sum()))
    best = min(path, key=lambda p: (p.score, int(p.support.sum())))
    return best, path


def stability_selection(
    theta: np.ndarray,
    target: np.ndarray,
    validation: np.ndarray,
    *,
    threshold: float | None = None,
    ridge: float = 1e-6,
    penalty: float = 0.1,
    tolerance: float = 1e-4,
    n_resamples: int = 20,
    min_frequency: float = 0.6,
    rng: np.random.Generator,
) -> SparseResult:
    """Select the terms of ``target ~ theta xi`` with resampled STLSQ path selections.

    Parameters
    ----------
    theta : ndarray, shape (n_rows, n_terms)
        Candidate terms (any scale; normalised here).
    target : ndarray, shape (n_rows,)
    validation : ndarray of bool, shape (n_rows,)
        Rows held out for the criterion.
    threshold : float, optional
        Fixed normalised threshold instead of the path.
    ridge, penalty, tolerance : float
        See :func:`select_support`.
    n_resamples : int
        Random halves of the training rows; 0 keeps the single full-data selection.
    min_frequency : float
        Share of the resampled selections a term needs to be kept.
    rng : numpy.random.Generator

    Returns
    -------
    SparseResult
    """
    train = ~validation
    scale = np.linalg.norm(theta[train], axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    target_scale = float(np.linalg.norm(target[train])) or 1.0
    A, b = theta / scale, target / target_scale
    fixed = None if threshold is None else np.array([threshold])
    options: dict[str, Any] = {
        "thresholds": fixed,
        "ridge": ridge,
        "penalty": penalty,
        "tolerance": tolerance,
    }
    A_tr, b_tr, A_val, b_val = A[train], b[train], A[validation], b[validation]
    chosen, path = select_support(A_tr, b_tr, A_val, b_val, **options)
    rows = np.flatnonzero(train)
    n_half = max(A.shape[1] + 1, rows.size // 2)
    supports = []
    for _ in range(n_resamples):
        pick = rng.choice(rows, size=min(n_half, rows.size), replace=False)
        point, _ = select_support(A[pick], b[pick], A_val, b_val, **options)
        supports.append(point.support)
    if supports:
        frequencies = np.mean(supports, axis=0)
        support = frequencies >= min_frequency
    else:
        frequencies = chosen.support.astype(float)
        support = chosen.support
    # held-out residual of the kept terms fitted on the training rows; the reported
    # coefficients are then refitted on all rows (selection is done, so no row is held out)
    xi = np.zeros(A.shape[1])
    xi[support] = _solve(A_tr[:, support], b_tr, 0.0)
    validation_error = _relative_error(A_val, b_val, xi)
    xi[support] = _solve(A[:, support], b, 0.0)
    spread = np.zeros(A.shape[1])
    if n_resamples and support.any():
        refits = []
        for _ in range(n_resamples):
            pick = rng.choice(rows, size=min(n_half, rows.size), replace=False)
            sub = A[pick][:, support]
            refits.append(
                _solve_gram(sub.T @ sub, sub.T @ b[pick], np.ones(sub.shape[1], bool), 0.0)
            )
        spread[support] = np.std(refits, axis=0)
    factor = target_scale / scale
    return SparseResult(
        support=support,
        coefficients=xi * factor,
        coefficient_std=spread * factor,
        frequencies=frequencies,
        validation_error=validation_error,
        path=path,
    )
