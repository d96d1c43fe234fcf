"""The KAN network: a stack of KAN layers with optional multiplication nodes (KAN 2.0)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn

from kanphys._checks import check_input
from kanphys.basis import get_basis
from kanphys.errors import ConfigError, check_int
from kanphys.layers import KANLayer, LayerTrace, SymbolicEdges, get_activation
from kanphys.layers.kan_layer import _check_range
from kanphys.models.base import Network, config_from_dict, register_model
from kanphys.runtime import resolve_device, resolve_dtype

if TYPE_CHECKING:
    from kanphys.symbolic.library import Library

__all__ = ["KAN", "KANConfig", "KANTrace", "normalize_width"]

WidthSpec = Sequence[int | Sequence[int]]
SymbolicEdge = tuple[int, int, int, str]


def normalize_width(width: WidthSpec) -> tuple[tuple[int, int], ...]:
    """``[2, [5, 2], 1] -> ((2, 0), (5, 2), (1, 0))``: (sum nodes, product nodes) per layer."""
    if isinstance(width, (str, bytes)) or not isinstance(width, Sequence) or len(width) < 2:
        raise ConfigError(
            f"width must be a list of at least 2 node counts, each an int or [n_sum, n_mult]; "
            f"received {width!r}"
        )
    nodes = []
    for position, entry in enumerate(width):
        if isinstance(entry, int) and not isinstance(entry, bool):
            pair = (entry, 0)
        elif (
            isinstance(entry, Sequence)
            and len(entry) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in entry)
        ):
            pair = (int(entry[0]), int(entry[1]))
        else:
            raise ConfigError(
                f"width[{position}] must be an int or [n_sum, n_mult]; received {entry!r}"
            )
        if pair[0] < 0 or pair[1] < 0 or sum(pair) < 1:
            raise ConfigError(f"width[{position}] must have at least one node; received {entry!r}")
        nodes.append(pair)
    if nodes[0][1]:
        raise ConfigError(
            f"width[0] is the input layer and cannot have product nodes; received {width[0]!r}"
        )
    return tuple(nodes)


def _check_symbolic(
    symbolic: Any, width: tuple[tuple[int, int], ...], mult_arity: int
) -> tuple[SymbolicEdge, ...]:
    """Validate ``(layer, i, j, name)`` entries against the width; sorted, as tuples."""
    if isinstance(symbolic, (str, bytes)) or not isinstance(symbolic, Sequence):
        raise ConfigError(
            f"symbolic must be a list of [layer, i, j, primitive name]; received {symbolic!r}"
        )
    entries = []
    for entry in symbolic:
        if (
            isinstance(entry, (str, bytes))
            or not isinstance(entry, Sequence)
            or len(entry) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in entry[:3])
            or not isinstance(entry[3], str)
        ):
            raise ConfigError(
                f"symbolic entries must be [layer, i, j, primitive name]; received {entry!r}"
            )
        layer, i, j, name = entry
        if not 0 <= layer < len(width) - 1:
            raise ConfigError(
                f"symbolic edge {tuple(entry)!r}: layer must be in [0, {len(width) - 2}]"
            )
        n_in = sum(width[layer])
        n_out = width[layer + 1][0] + mult_arity * width[layer + 1][1]
        if not (0 <= i < n_in and 0 <= j < n_out):
            raise ConfigError(
                f"symbolic edge {tuple(entry)!r}: layer {layer} has {n_in} inputs and {n_out} "
                f"outputs (sub-nodes)"
            )
        entries.append((layer, i, j, name))
    edges = [entry[:3] for entry in entries]
    if len(set(edges)) != len(edges):
        duplicates = sorted({e for e in edges if edges.count(e) > 1})
        raise ConfigError(f"symbolic edges must be distinct; received duplicates {duplicates}")
    return tuple(sorted(entries))


@dataclass(frozen=True, kw_only=True)
class KANConfig:
    """Everything needed to rebuild a :class:`KAN` (the parameters live in its state_dict).

    ``symbolic`` lists the edges fixed to formulas as ``(layer, i, j, primitive name)``; the
    affine parameters of those edges are in the state_dict.
    """

    width: tuple[tuple[int, int], ...]
    basis: str = "bspline"
    grid_size: int = 5
    spline_order: int = 3
    grid_range: tuple[float, float] = (-1.0, 1.0)
    base_activation: str | None = "silu"
    mult_arity: int = 2
    noise_scale: float = 0.1
    symbolic: tuple[SymbolicEdge, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", normalize_width(self.width))
        get_basis(self.basis).check(self.grid_size, self.spline_order)
        object.__setattr__(self, "grid_range", _check_range(self.grid_range))
        if self.base_activation is not None:
            get_activation(self.base_activation, argument="base_activation")
        check_int("mult_arity", self.mult_arity, minimum=2)
        if not isinstance(self.noise_scale, (int, float)) or self.noise_scale < 0:
            raise ConfigError(f"noise_scale must be a number >= 0; received {self.noise_scale!r}")
        object.__setattr__(
            self, "symbolic", _check_symbolic(self.symbolic, self.width, self.mult_arity)
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["width"] = [list(pair) for pair in self.width]
        data["grid_range"] = list(self.grid_range)
        data["symbolic"] = [list(entry) for entry in self.symbolic]
        return data

    to_kwargs = to_dict

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KANConfig:
        return config_from_dict(cls, data)


class KANTrace(NamedTuple):
    """Per-layer activations of a KAN on an explicit batch.

    Attributes
    ----------
    layers : list of LayerTrace
        ``layers[l].edges`` has shape ``(N, nodes_l, subnodes_{l+1})``.
    nodes : list of Tensor
        Node values, ``nodes[0]`` the input and ``nodes[-1]`` the output; product nodes applied.
    """

    layers: list[LayerTrace]
    nodes: list[Tensor]


@register_model
class KAN(Network):
    """Kolmogorov-Arnold network ``(N, width[0]) -> (N, width[-1])``.

    Parameters
    ----------
    width : list of int or [n_sum, n_mult]
        Nodes per layer. ``[2, [5, 2], 1]`` has a hidden layer with 5 sum nodes and 2 product
        nodes; each product node multiplies ``mult_arity`` sub-nodes, so the KAN layer into it
        has ``5 + 2 * mult_arity`` outputs.
    basis : {"bspline", "chebyshev", "rbf"}
    grid_size : int
        Grid intervals (B-spline), polynomial degree (Chebyshev) or centres (RBF).
    spline_order : int
        B-spline degree.
    grid_range : (float, float)
        Initial grid span of every layer.
    base_activation : str or None
        Residual function added to every edge; ``None`` for pure basis edges.
    mult_arity : int
        Sub-nodes multiplied by each product node.
    noise_scale : float
        Initial coefficient amplitude.
    dtype, device
        torch conventions; ``device="auto"`` picks CUDA when available.
    symbolic : list of (layer, i, j, name)
        Edges fixed to ``a f(b x + c) + d`` with ``(a, b, c, d) = (1, 1, 0, 0)`` (normally set by
        :func:`kanphys.symbolic.fix_symbolic`, which also sets the parameters).
    generator : torch.Generator, optional
        Randomness for the initialisation; the global generator is used when omitted.
    library : Library, optional
        Where the ``symbolic`` names are looked up; default the default primitive library.
    """

    config_class = KANConfig

    def __init__(
        self,
        width: WidthSpec,
        basis: str = "bspline",
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base_activation: str | None = "silu",
        mult_arity: int = 2,
        noise_scale: float = 0.1,
        *,
        symbolic: Sequence[SymbolicEdge] = (),
        dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
        library: Library | None = None,
    ) -> None:
        super().__init__()
        self.config = KANConfig(
            width=width,  # type: ignore[arg-type]
            basis=basis,
            grid_size=grid_size,
            spline_order=spline_order,
            grid_range=grid_range,
            base_activation=base_activation,
            mult_arity=mult_arity,
            noise_scale=noise_scale,
            symbolic=symbolic,  # type: ignore[arg-type]
        )
        nodes = self.config.width
        self.in_features = nodes[0][0]
        self.out_features = sum(nodes[-1])
        resolved_dtype, resolved_device = resolve_dtype(dtype), resolve_device(device)
        self.layers = nn.ModuleList(
            KANLayer(
                sum(nodes[l]),
                nodes[l + 1][0] + mult_arity * nodes[l + 1][1],
                basis=basis,
                grid_size=grid_size,
                spline_order=spline_order,
                grid_range=self.config.grid_range,
                base_activation=base_activation,
                noise_scale=noise_scale,
                generator=generator,
                dtype=resolved_dtype,
                device=resolved_device,
            )
            for l in range(len(nodes) - 1)
        )
        for l, layer in enumerate(self.kan_layers()):
            entries = [entry for entry in self.config.symbolic if entry[0] == l]
            if entries:
                _attach_symbolic(layer, entries, library)

    @classmethod
    def from_config(
        cls,
        config: KANConfig | dict[str, Any],
        *,
        dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
        library: Library | None = None,
    ) -> KAN:
        """Build a KAN from its config (or ``config.to_dict()``); ``library`` as in the class."""
        if isinstance(config, dict):
            config = KANConfig.from_dict(config)
        return cls(
            **config.to_kwargs(), dtype=dtype, device=device, generator=generator, library=library
        )

    @property
    def width(self) -> tuple[tuple[int, int], ...]:
        return self.config.width

    @property
    def has_symbolic(self) -> bool:
        """Whether some edge of some layer is fixed to a formula."""
        return any(layer.has_symbolic for layer in self.kan_layers())

    def _combine(self, h: Tensor, nodes: tuple[int, int]) -> Tensor:
        """Sub-node values -> node values: sum nodes pass through, product nodes multiply."""
        n_sum, n_mult = nodes
        if n_mult == 0:
            return h
        factors = h[:, n_sum:].reshape(h.shape[0], n_mult, self.config.mult_arity)
        # explicit products: Tensor.prod's backward divides by the factors (inexact near 0)
        products = factors[..., 0]
        for k in range(1, self.config.mult_arity):
            products = products * factors[..., k]
        return torch.cat([h[:, :n_sum], products], dim=1)

    def kan_layers(self) -> list[KANLayer]:
        """The KAN layers, first to last."""
        return list(self.layers)  # type: ignore[arg-type]

    def forward_unchecked(self, x: Tensor) -> Tensor:
        h = x
        for layer, nodes in zip(self.kan_layers(), self.config.width[1:], strict=True):
            h = self._combine(layer.forward_unchecked(h), nodes)
        return h

    def trace(self, x: Tensor) -> KANTrace:
        """Edge activations and node values of every layer on the batch ``x`` (no caching)."""
        check_input(x, self.in_features, owner="KAN", like=next(self.parameters()))
        traces, values = [], [x]
        for layer, nodes in zip(self.kan_layers(), self.config.width[1:], strict=True):
            trace = layer.trace(values[-1])
            traces.append(trace)
            values.append(self._combine(trace.outputs, nodes))
        return KANTrace(traces, values)

    def with_layers(self, layers: Sequence[KANLayer], **changes: Any) -> KAN:
        """A new KAN with the given layers and config changes (used by structural edits).

        ``config.symbolic`` is read from the layers' :class:`SymbolicEdges`, not passed.
        """
        if "symbolic" in changes:
            raise ConfigError(
                "with_layers reads config.symbolic from the layers' SymbolicEdges; "
                "do not pass symbolic="
            )
        symbolic = [
            (l, i, j, name)
            for l, layer in enumerate(layers)
            if layer.symbolic is not None
            for i, j, name in layer.symbolic.pairs()
        ]
        config = KANConfig(**{**self.config.to_dict(), **changes, "symbolic": symbolic})
        new = KAN.__new__(KAN)
        Network.__init__(new)
        new.config = config
        new.in_features = self.in_features
        new.out_features = sum(config.width[-1])
        new.layers = nn.ModuleList(layers)
        return new


def _attach_symbolic(
    layer: KANLayer, entries: Sequence[SymbolicEdge], library: Library | None
) -> None:
    """Fix the edges ``entries`` of a freshly built ``layer`` to their primitives (in place)."""
    _, inputs, outputs, names = zip(*entries, strict=True)
    layer.symbolic = SymbolicEdges(
        layer.in_features,
        layer.out_features,
        inputs,
        outputs,
        names,
        library=library,
        dtype=layer.coefficients.dtype,
        device=layer.coefficients.device,
    )
    with torch.no_grad():
        layer.mask[list(inputs), list(outputs)] = 0
