"""Assemble the closed-form formula of a KAN whose active edges are all symbolic."""

from __future__ import annotations

from collections.abc import Sequence

import sympy

from kanphys.errors import ConfigError
from kanphys.models.kan import KAN
from kanphys.symbolic.constants import simplify_formula

__all__ = ["default_symbols", "network_formula", "numeric_edges"]


def default_symbols(count: int) -> tuple[sympy.Symbol, ...]:
    """``x_1, ..., x_count``: the input symbols used when none are given."""
    return tuple(sympy.Symbol(f"x_{k + 1}") for k in range(count))


def numeric_edges(model: KAN) -> list[tuple[int, int, int]]:
    """Active edges that are still splines, as ``(layer, i, j)`` (symbolic edges have mask 0)."""
    edges = []
    for l, layer in enumerate(model.kan_layers()):
        for i, j in (layer.mask != 0).nonzero().tolist():
            edges.append((l, i, j))
    return edges


def network_formula(
    model: KAN, symbols: Sequence[sympy.Symbol] | None = None, *, simplify: bool = False
) -> list[sympy.Expr]:
    """The formula of every output of a fully symbolic KAN.

    Sum nodes add their incoming edges, product nodes multiply their ``mult_arity`` sub-nodes,
    masked (pruned) edges are absent. Edge constants appear as :class:`sympy.Float` (exact
    identities left out); the formula equals the forward pass wherever every edge argument
    ``b x + c`` lies in its primitive's domain (the forward pass uses the finite ``safe_fn``).

    Parameters
    ----------
    model : KAN
        Every active edge must be symbolic (run :func:`~kanphys.symbolic.fix.auto_symbolic`).
    symbols : sequence of sympy.Symbol, optional
        One per input, default ``x_1, ..., x_d``.
    simplify : bool
        Apply :func:`~kanphys.symbolic.constants.simplify_formula` to every output.

    Returns
    -------
    list of sympy.Expr
        ``out_features`` expressions.

    Raises
    ------
    ConfigError
        When active edges are still numeric (they are named), or the number of symbols is wrong.
    """
    if not isinstance(model, KAN):
        raise ConfigError(f"network_formula expects a KAN; received {type(model).__name__}")
    if symbols is None:
        symbols = default_symbols(model.in_features)
    symbols = list(symbols)
    if len(symbols) != model.in_features:
        raise ConfigError(
            f"network_formula: symbols must have one entry per input ({model.in_features}); "
            f"received {len(symbols)}"
        )
    numeric = numeric_edges(model)
    if numeric:
        shown = ", ".join(str(edge) for edge in numeric[:20])
        more = f" and {len(numeric) - 20} more" if len(numeric) > 20 else ""
        raise ConfigError(
            f"network_formula needs every active edge to be symbolic; numeric edges "
            f"(layer, i, j): {shown}{more}. Run auto_symbolic (or fix_symbolic) first, or prune "
            f"them"
        )
    nodes: list[sympy.Expr] = [sympy.sympify(s) for s in symbols]
    arity = model.config.mult_arity
    for layer, (n_sum, n_mult) in zip(model.kan_layers(), model.width[1:], strict=True):
        terms: list[list[sympy.Expr]] = [[] for _ in range(layer.out_features)]
        if layer.symbolic is not None:
            edges = layer.symbolic.sympy_edges(nodes)
            for (_, j, _), expression in zip(layer.symbolic.pairs(), edges, strict=True):
                terms[j].append(expression)
        subnodes = [sympy.Add(*t) for t in terms]
        products = [
            sympy.Mul(*subnodes[n_sum + arity * k : n_sum + arity * (k + 1)]) for k in range(n_mult)
        ]
        nodes = subnodes[:n_sum] + products
    if simplify:
        nodes = [simplify_formula(node) for node in nodes]
    return nodes
