"""Structural edits that fix KAN edges to symbolic formulas. Each returns a new model."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from kanphys._checks import check_input
from kanphys.errors import ConfigError, ShapeError
from kanphys.layers.symbolic_edges import SymbolicEdges, resolve_primitives
from kanphys.models.kan import KAN
from kanphys.symbolic.library import Library

__all__ = ["EdgeReport", "SymbolicReport", "auto_symbolic", "fix_symbolic"]

logger = logging.getLogger(__name__)

Edge = tuple[int, int, int]


def _edge_list(model: KAN, edges: Any) -> list[Edge]:
    """Validate ``edges`` (one ``(layer, i, j)`` or a sequence of them) against ``model``."""
    if (
        isinstance(edges, Sequence)
        and len(edges) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in edges)
    ):
        edges = [edges]
    if isinstance(edges, Tensor):
        edges = edges.tolist()
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Sequence) or not edges:
        raise ConfigError(f"edges must be a non-empty list of (layer, i, j); received {edges!r}")
    layers = model.kan_layers()
    result = []
    for edge in edges:
        if (
            not isinstance(edge, Sequence)
            or len(edge) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in edge)
        ):
            raise ConfigError(f"every edge must be a triple (layer, i, j); received {edge!r}")
        l, i, j = (int(v) for v in edge)
        if not 0 <= l < len(layers):
            raise ConfigError(f"edge {edge!r}: layer must be in [0, {len(layers) - 1}]")
        layer = layers[l]
        if not (0 <= i < layer.in_features and 0 <= j < layer.out_features):
            raise ConfigError(
                f"edge {edge!r}: layer {l} has {layer.in_features} inputs and "
                f"{layer.out_features} outputs (sub-nodes)"
            )
        if not bool(layer.active_edges()[i, j]):
            raise ConfigError(f"edge {edge!r} is pruned (mask 0); only active edges can be fixed")
        result.append((l, i, j))
    if len(set(result)) != len(result):
        duplicates = sorted({e for e in result if result.count(e) > 1})
        raise ConfigError(f"edges must be distinct; received duplicates {duplicates}")
    return result


def fix_symbolic(
    model: KAN,
    edges: Sequence[Edge] | Edge,
    names: Sequence[str] | str,
    params: Tensor | Sequence[Sequence[float]] | None = None,
    *,
    library: Library | Sequence[str] | None = None,
) -> KAN:
    """A copy of ``model`` with ``edges`` fixed to ``a * f(b * x + c) + d``.

    The spline part of a fixed edge is switched off (mask 0) and ``(a, b, c, d)`` become
    trainable parameters; an edge that is already symbolic is replaced. ``model`` is unchanged.

    Parameters
    ----------
    model : KAN
    edges : (layer, i, j) or sequence of them, length E
    names : str or sequence of str, length E
        Primitive names (one name is used for every edge).
    params : Tensor or nested sequence, shape (E, 4), optional
        ``(a, b, c, d)`` per edge; default ``(1, 1, 0, 0)``.
    library : Library or names, optional
        Where ``names`` are looked up; default the default library.

    Returns
    -------
    KAN
        In the dtype and on the device of ``model``.

    Raises
    ------
    ConfigError
        For edges out of range, pruned or repeated, unknown names, or wrong lengths.
    """
    if not isinstance(model, KAN):
        raise ConfigError(f"fix_symbolic expects a KAN; received {type(model).__name__}")
    edge_list = _edge_list(model, edges)
    count = len(edge_list)
    name_list = [names] * count if isinstance(names, str) else list(names)
    if len(name_list) != count:
        raise ConfigError(
            f"fix_symbolic: names must have one entry per edge ({count}); received {len(name_list)}"
        )
    primitives = resolve_primitives(name_list, library, where="fix_symbolic")
    like = next(model.parameters())
    if params is None:
        values = like.new_tensor([[1.0, 1.0, 0.0, 0.0]]).expand(count, 4)
    else:
        values = torch.as_tensor(params).detach().to(dtype=like.dtype, device=like.device)
        if values.shape != (count, 4):
            raise ShapeError(
                f"fix_symbolic: params must have shape ({count}, 4) = (edges, (a, b, c, d)); "
                f"received {tuple(values.shape)}"
            )
    new = copy.deepcopy(model)
    layers = new.kan_layers()
    for l in sorted({edge[0] for edge in edge_list}):
        chosen = [k for k, edge in enumerate(edge_list) if edge[0] == l]
        _fix_layer(
            layers[l],
            [(edge_list[k][1], edge_list[k][2], name_list[k]) for k in chosen],
            values[chosen],
            primitives,
        )
    return model.with_layers(layers)


def _fix_layer(
    layer: Any, edges: list[tuple[int, int, str]], values: Tensor, primitives: dict[str, Any]
) -> None:
    """Merge ``edges`` (with affine ``values``) into the symbolic edges of ``layer``, in place."""
    fixed = {(i, j) for i, j, _ in edges}
    merged = list(edges)
    rows = [values]
    table = dict(primitives)
    old = layer.symbolic
    if old is not None:
        table = {**old.primitives, **primitives}
        keep = [e for e, (i, j, _) in enumerate(old.pairs()) if (i, j) not in fixed]
        merged = [old.pairs()[e] for e in keep] + merged
        rows = [old.affine.detach()[keep], *rows]
    inputs, outputs, names = zip(*merged, strict=True)
    layer.symbolic = SymbolicEdges(
        layer.in_features,
        layer.out_features,
        inputs,
        outputs,
        names,
        torch.cat(rows, dim=0),
        library={name: table[name] for name in names},
        dtype=layer.coefficients.dtype,
        device=layer.coefficients.device,
    )
    with torch.no_grad():
        layer.mask[[i for i, _, _ in edges], [j for _, j, _ in edges]] = 0


@dataclass(frozen=True)
class EdgeReport:
    """The symbolic fit of one edge.

    Attributes
    ----------
    layer, i, j : int
    name : str
        Best primitive.
    params : tuple of float
        ``(a, b, c, d)`` of ``a f(b x + c) + d``.
    r2 : float
        Coefficient of determination of the fit on the traced edge values.
    fixed : bool
        False when the edge was left numeric (``r2 < min_r2``).
    candidates : tuple of (str, float, int)
        Every primitive as ``(name, r2, complexity)``, best ``r2`` first.
    """

    layer: int
    i: int
    j: int
    name: str
    params: tuple[float, float, float, float]
    r2: float
    fixed: bool
    candidates: tuple[tuple[str, float, int], ...] = ()


@dataclass(frozen=True)
class SymbolicReport:
    """What :func:`auto_symbolic` did, one :class:`EdgeReport` per active numeric edge."""

    edges: tuple[EdgeReport, ...] = field(default_factory=tuple)

    @property
    def fixed(self) -> tuple[EdgeReport, ...]:
        return tuple(edge for edge in self.edges if edge.fixed)

    @property
    def numeric(self) -> tuple[EdgeReport, ...]:
        """Edges left numeric because their best ``r2`` was below ``min_r2``."""
        return tuple(edge for edge in self.edges if not edge.fixed)

    def names(self) -> dict[tuple[int, int, int], str]:
        """``{(layer, i, j): primitive name}`` of the fixed edges."""
        return {(e.layer, e.i, e.j): e.name for e in self.fixed}


def auto_symbolic(
    model: KAN,
    x: Tensor,
    *,
    library: Library | Sequence[str] | None = None,
    r2_tolerance: float = 1e-6,
    complexity_weight: float = 0.5,
    min_r2: float | None = None,
    **fit_kwargs: Any,
) -> tuple[KAN, SymbolicReport]:
    """Fix every active numeric edge to its best primitive, layer by layer.

    For layer ``l`` the model (with layers ``< l`` already fixed) is traced on ``x``, all its
    active numeric edges (mask != 0) are fitted together by one
    :func:`~kanphys.symbolic.edge_fit.fit_edges` call on the node values the fixed earlier
    layers produce (so fitting errors do not compound), the primitive of each edge is chosen by
    :meth:`EdgeFits.best <kanphys.symbolic.edge_fit.EdgeFits.best>`, and the edges are fixed
    with their fitted ``(a, b, c, d)``. ``model`` is unchanged.

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features)
        The explicit batch the edges are fitted on (e.g. the training inputs), N >= 4.
    library : Library or names, optional
        Primitives to try; default the default library.
    r2_tolerance, complexity_weight : float
        Accuracy/complexity trade-off of :meth:`EdgeFits.best`.
    min_r2 : float, optional
        Edges whose best ``R^2`` is below it stay numeric (reported with ``fixed=False``);
        ``network_formula`` then refuses the model until they are fixed or pruned. Default:
        every edge is fixed.
    **fit_kwargs
        Passed to :func:`~kanphys.symbolic.edge_fit.fit_edges` (``b_range``, ``grid_points``,
        ``refine_steps``, ...).

    Returns
    -------
    model : KAN
        The new model.
    report : SymbolicReport
        Per edge ``(layer, i, j, name, params, r2)`` and the ranking of all candidates.
    """
    from kanphys.symbolic.edge_fit import fit_edges

    if not isinstance(model, KAN):
        raise ConfigError(f"auto_symbolic expects a KAN; received {type(model).__name__}")
    check_input(x, model.in_features, owner="auto_symbolic", like=next(model.parameters()))
    if min_r2 is not None and not isinstance(min_r2, (int, float)):
        raise ConfigError(f"min_r2 must be a number or None; received {min_r2!r}")
    current, reports = model, []
    for l in range(len(model.kan_layers())):
        active = (current.kan_layers()[l].mask != 0).nonzero().tolist()
        if not active:
            continue
        with torch.no_grad():
            trace = current.trace(x.detach()).layers[l]
        rows = torch.tensor([i for i, _ in active], device=x.device)
        columns = torch.tensor([j for _, j in active], device=x.device)
        inputs = trace.inputs[:, rows].T.contiguous()
        values = trace.edges[:, rows, columns].T.contiguous()
        fits = fit_edges(inputs, values, library, **fit_kwargs)
        choice = fits.best(r2_tolerance=r2_tolerance, complexity_weight=complexity_weight)
        fixed = [
            e
            for e in range(len(active))
            if bool(torch.isfinite(choice.params[e]).all())
            and (min_r2 is None or float(choice.r2[e]) >= min_r2)
        ]
        for e, (i, j) in enumerate(active):
            ranking = tuple((name, r2, c) for name, r2, c, _ in fits.ranking(e))
            reports.append(
                EdgeReport(
                    l,
                    i,
                    j,
                    choice.names[e],
                    tuple(choice.params[e].tolist()),  # type: ignore[arg-type]
                    float(choice.r2[e]),
                    e in fixed,
                    ranking,
                )
            )
        if fixed:
            current = fix_symbolic(
                current,
                [(l, *active[e]) for e in fixed],  # type: ignore[misc]
                [choice.names[e] for e in fixed],
                choice.params[fixed],
                library=library,
            )
        logger.info("auto_symbolic: layer %d, fixed %d of %d edges", l, len(fixed), len(active))
    if current is model:
        current = copy.deepcopy(model)  # always a new model
    return current, SymbolicReport(tuple(reports))
