"""Symbolic edges: KAN edges fixed to formulas ``a * f(b * x_i + c) + d`` from a primitive library.

A :class:`SymbolicEdges` module holds all fixed edges of one layer. It evaluates them in one
vectorised pass: gather the inputs of every edge, apply the affine maps, apply each distinct
primitive once to its group of edges, and scatter-add into the outputs. Training uses the
primitives' ``safe_fn`` (finite everywhere) so a parameter that wanders outside a primitive's
domain never produces NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sympy
import torch
from torch import Tensor, nn

from kanphys.errors import ConfigError, ShapeError

if TYPE_CHECKING:
    from kanphys.symbolic.library import Library, Primitive

__all__ = ["SymbolicEdges", "resolve_primitives"]


def resolve_primitives(
    names: Sequence[str],
    library: Library | Mapping[str, Primitive] | Sequence[str] | None,
    *,
    where: str = "symbolic edge",
) -> dict[str, Primitive]:
    """``{name: Primitive}`` for the distinct ``names``, looked up in ``library``.

    ``library`` is a :class:`~kanphys.symbolic.library.Library` (or any mapping from names to
    primitives), a list of names of the default library, or None for
    :data:`~kanphys.symbolic.library.DEFAULT_LIBRARY`.

    Raises
    ------
    ConfigError
        For an unknown name, listing the library's names and saying to pass ``library=``.
    """
    if isinstance(library, Mapping):
        resolved: Mapping[str, Primitive] = library
    else:
        from kanphys.symbolic.library import get_library  # lazy: symbolic imports the models

        resolved = get_library(library)
    primitives = {}
    for name in dict.fromkeys(names):
        if not isinstance(name, str) or name not in resolved:
            raise ConfigError(
                f"{where}: unknown primitive {name!r} (for a custom library pass library=, e.g. "
                f"KAN(..., library=lib) or KAN.from_config(config, library=lib)); the library "
                f"has {sorted(resolved)}"
            )
        primitives[name] = resolved[name]
    return primitives


def _index(values: list[int], device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=torch.long, device=device)


class SymbolicEdges(nn.Module):
    """The edges ``(inputs[e], outputs[e])`` of a layer, each ``a_e f_e(b_e x + c_e) + d_e``.

    Edges are stored sorted by ``(input, output)``; ``affine[e] = (a, b, c, d)`` is trainable and
    is the only state in the ``state_dict`` (the structure lives in the model config).

    Parameters
    ----------
    in_features, out_features : int
        Size of the layer the edges belong to.
    inputs, outputs : sequence of int, length E
        Input node ``i`` and output sub-node ``j`` of every edge; pairs must be distinct.
    names : sequence of str, length E
        Primitive of every edge.
    affine : Tensor or array, shape (E, 4), optional
        ``(a, b, c, d)`` per edge, in the order given; default ``(1, 1, 0, 0)``.
    library : Library, mapping name -> Primitive, or sequence of names, optional
        Where the names are looked up; default the default library.
    dtype, device : torch conventions, for ``affine``.
    """

    inputs: Tensor
    outputs: Tensor
    grouped: Tensor
    ungroup: Tensor

    def __init__(
        self,
        in_features: int,
        out_features: int,
        inputs: Sequence[int],
        outputs: Sequence[int],
        names: Sequence[str],
        affine: Tensor | Any | None = None,
        *,
        library: Library | Mapping[str, Primitive] | Sequence[str] | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        inputs, outputs, names = list(inputs), list(outputs), list(names)
        count = len(names)
        if count == 0 or len(inputs) != count or len(outputs) != count:
            raise ConfigError(
                f"SymbolicEdges needs equally many inputs, outputs and names (at least one); "
                f"received {len(inputs)}, {len(outputs)} and {count}"
            )
        pairs = [(int(i), int(j)) for i, j in zip(inputs, outputs, strict=True)]
        for i, j in pairs:
            if not (0 <= i < in_features and 0 <= j < out_features):
                raise ConfigError(
                    f"symbolic edge ({i}, {j}) is outside a layer with {in_features} inputs and "
                    f"{out_features} outputs"
                )
        if len(set(pairs)) != count:
            duplicates = sorted({p for p in pairs if pairs.count(p) > 1})
            raise ConfigError(f"symbolic edges must be distinct; received duplicates {duplicates}")
        if affine is None:
            values = torch.tensor([[1.0, 1.0, 0.0, 0.0]] * count, dtype=dtype, device=device)
        else:
            values = torch.as_tensor(affine).detach().to(dtype=dtype, device=device).clone()
            if values.shape != (count, 4):
                raise ShapeError(
                    f"affine must have shape ({count}, 4) = (edges, (a, b, c, d)); "
                    f"received {tuple(values.shape)}"
                )
            if dtype is None and not values.is_floating_point():
                values = values.to(torch.get_default_dtype())
        if not bool(torch.isfinite(values).all()):
            raise ConfigError("affine parameters (a, b, c, d) of symbolic edges must be finite")
        order = sorted(range(count), key=lambda e: pairs[e])
        self.in_features, self.out_features = in_features, out_features
        self.names: tuple[str, ...] = tuple(names[e] for e in order)
        self.primitives = resolve_primitives(self.names, library)
        self.affine = nn.Parameter(values[order])
        device = values.device
        self.register_buffer("inputs", _index([pairs[e][0] for e in order], device), False)
        self.register_buffer("outputs", _index([pairs[e][1] for e in order], device), False)
        # `grouped` lists the edges primitive by primitive; groups[k] = (name, start, stop)
        rank = {name: k for k, name in enumerate(self.primitives)}
        grouped = sorted(range(count), key=lambda e: (rank[self.names[e]], e))
        groups, start = [], 0
        for name in self.primitives:
            stop = start + self.names.count(name)
            groups.append((name, start, stop))
            start = stop
        self.groups: tuple[tuple[str, int, int], ...] = tuple(groups)
        position = sorted(range(count), key=lambda p: grouped[p])  # position[e]: e in grouped
        self.register_buffer("grouped", _index(grouped, device), False)
        self.register_buffer("ungroup", _index(position, device), False)

    def __len__(self) -> int:
        return len(self.names)

    def extra_repr(self) -> str:
        edges = ", ".join(f"({i}, {j}): {name}" for i, j, name in self.pairs())
        return f"{len(self)} edges: {edges}"

    def pairs(self) -> list[tuple[int, int, str]]:
        """``[(i, j, name), ...]`` in storage order (sorted by ``(i, j)``)."""
        return list(zip(self.inputs.tolist(), self.outputs.tolist(), self.names, strict=True))

    def _grouped_values(self, x: Tensor) -> Tensor:
        """Edge values ``(N, E)`` in grouped order (one block per primitive)."""
        affine = self.affine[self.grouped]
        u = x[:, self.inputs[self.grouped]] * affine[:, 1] + affine[:, 2]
        parts = [
            self.primitives[name].safe_fn(u[:, start:stop]) for name, start, stop in self.groups
        ]
        values = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return affine[:, 0] * values + affine[:, 3]

    def forward(self, x: Tensor) -> Tensor:
        """Summed contributions of the edges to every output: ``(N, in) -> (N, out)``."""
        values = self._grouped_values(x)
        out = values.new_zeros(x.shape[0], self.out_features)
        return out.index_add(1, self.outputs[self.grouped], values)

    def edges(self, x: Tensor) -> Tensor:
        """Value of every edge, ``(N, in) -> (N, E)``; column ``e`` is edge ``e`` of ``pairs()``."""
        return self._grouped_values(x)[:, self.ungroup]

    def sympy_edges(self, symbols: Sequence[sympy.Expr]) -> list[sympy.Expr]:
        """Every edge as a sympy expression of its input ``symbols[i]``, in :meth:`pairs` order.

        Constants are :class:`sympy.Float`; exact identities (``a = 1``, ``b = 1``, ``c = 0``,
        ``d = 0``) are left out, so ``fix`` with default parameters gives ``f(x)`` itself.
        """
        if len(symbols) != self.in_features:
            raise ShapeError(
                f"sympy_edges needs {self.in_features} input expressions; received {len(symbols)}"
            )
        expressions = []
        for (i, _, name), (a, b, c, d) in zip(self.pairs(), self.affine.tolist(), strict=True):
            argument = sympy.sympify(symbols[i])
            if b != 1.0:
                argument = sympy.Float(b) * argument
            if c != 0.0:
                argument = argument + sympy.Float(c)
            value = sympy.sympify(self.primitives[name].sympy_fn(argument))
            if a != 1.0:
                value = sympy.Float(a) * value
            if d != 0.0:
                value = value + sympy.Float(d)
            expressions.append(value)
        return expressions

    def subset(
        self, keep_inputs: Sequence[int], keep_outputs: Sequence[int]
    ) -> SymbolicEdges | None:
        """The edges between kept nodes, re-indexed to the kept order (for pruning); None if none.

        Parameters
        ----------
        keep_inputs, keep_outputs : sequence of int
            Old indices of the kept input nodes and output sub-nodes, in their new order.
        """
        new_in = {old: new for new, old in enumerate(keep_inputs)}
        new_out = {old: new for new, old in enumerate(keep_outputs)}
        kept = [e for e, (i, j, _) in enumerate(self.pairs()) if i in new_in and j in new_out]
        if not kept:
            return None
        pairs = self.pairs()
        return SymbolicEdges(
            len(keep_inputs),
            len(keep_outputs),
            [new_in[pairs[e][0]] for e in kept],
            [new_out[pairs[e][1]] for e in kept],
            [pairs[e][2] for e in kept],
            self.affine.detach()[kept],
            library=self.primitives,
        ).requires_grad_(self.affine.requires_grad)
