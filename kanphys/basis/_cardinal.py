"""Exact polynomial pieces of the cardinal B-splines, for B-splines on uniform knots.

On knots ``t_j = t_0 + j h`` every B-spline of degree ``k`` is a shifted, scaled copy of the
cardinal B-spline ``N_k`` (knots ``0, 1, ..., k + 1``), so in knot interval ``j`` the ``k + 1``
functions that do not vanish are fixed polynomials of ``u = (x - t_j) / h``.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import torch
from torch import Tensor

__all__ = ["cardinal_matrix", "cardinal_pieces", "cardinal_weights"]


@functools.cache
def cardinal_pieces(spline_order: int) -> tuple[tuple[Fraction, ...], ...]:
    """Exact power coefficients of the pieces of the cardinal B-spline of degree ``k``.

    The cardinal B-spline ``N_k`` has the knots ``0, 1, ..., k + 1`` and is a polynomial on
    each ``[m, m + 1]``; ``pieces[m][i]`` is the coefficient of ``u^i`` in ``N_k(m + u)``. From
    ``N_0 = 1`` on ``[0, 1)`` and ``N_p(t) = (t N_{p-1}(t) + (p + 1 - t) N_{p-1}(t - 1)) / p``.
    """
    pieces: list[list[Fraction]] = [[Fraction(1)]]
    for p in range(1, spline_order + 1):
        grown = []
        for m in range(p + 1):
            coefficients = [Fraction(0)] * (p + 1)
            if m < p:  # t N_{p-1}(t) with t = m + u, on piece m of N_{p-1}
                for i, c in enumerate(pieces[m]):
                    coefficients[i] += m * c / p
                    coefficients[i + 1] += c / p
            if m > 0:  # (p + 1 - t) N_{p-1}(t - 1), on piece m - 1 of N_{p-1}
                for i, c in enumerate(pieces[m - 1]):
                    coefficients[i] += (p + 1 - m) * c / p
                    coefficients[i + 1] -= c / p
            grown.append(coefficients)
        pieces = grown
    return tuple(tuple(piece) for piece in pieces)


@functools.cache
def cardinal_matrix(spline_order: int, level: int) -> tuple[tuple[Fraction, ...], ...]:
    """Exact ``(k + 1, k + 1)`` matrix ``P_l`` of the level-``l`` local values on uniform knots.

    At a point ``u`` of the way through its knot interval (``0 <= u <= 1``), on knots of spacing
    ``h``, the ``l``-th derivative of ``B_{j-k+r}`` is ``h^-l sum_i u^i P_l[i][r]``: function
    ``j - k + r`` is on piece ``k - r`` of the cardinal B-spline there.
    """
    order = spline_order
    pieces = cardinal_pieces(order)
    return tuple(
        tuple(
            pieces[order - r][i + level] * math.perm(i + level, level)
            if i + level <= order
            else Fraction(0)
            for r in range(order + 1)
        )
        for i in range(order + 1)
    )


@functools.lru_cache(maxsize=64)
def cardinal_weights(spline_order: int, first: int, stop: int, dtype: torch.dtype) -> Tensor:
    """``[P_first, ..., P_{stop-1}]`` stacked and transposed, shape ``((stop - first) (k + 1),
    k + 1)``: row ``(l, r)`` holds the power coefficients of local value ``r`` of level ``l``."""
    blocks = [cardinal_matrix(spline_order, level) for level in range(first, stop)]
    rows = [[float(row[r]) for row in block] for block in blocks for r in range(spline_order + 1)]
    return torch.tensor(rows, dtype=torch.float64).to(dtype)
