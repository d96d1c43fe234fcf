"""The KAN layer: learnable univariate functions on every edge, evaluated as one matmul."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from kanphys._checks import check_input
from kanphys.basis import BasisValues, get_basis
from kanphys.errors import ConfigError, check_int
from kanphys.layers.activations import get_activation
from kanphys.layers.symbolic_edges import SymbolicEdges
from kanphys.runtime import random_tensor, resolve_device, resolve_dtype

__all__ = ["KANLayer", "LayerTrace", "initial_grid"]


class LayerTrace(NamedTuple):
    """What a KAN layer computes on an explicit batch, for pruning, plots and symbolic fits.

    Attributes
    ----------
    inputs : Tensor, shape (N, in_features)
    edges : Tensor, shape (N, in_features, out_features)
        ``edges[p, i, j] = phi_ij(inputs[p, i])``, masked edges are exactly 0; symbolic edges
        hold their formula's value.
    outputs : Tensor, shape (N, out_features)
        ``outputs[p, j] = sum_i edges[p, i, j]``.
    """

    inputs: Tensor
    edges: Tensor
    outputs: Tensor


def initial_grid(
    basis: str,
    in_features: int,
    grid_size: int,
    spline_order: int,
    grid_range: tuple[float, float],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """The uniform starting grid of ``basis`` on ``grid_range``, shape ``(in_features, P)``."""
    family = get_basis(basis)
    points = torch.linspace(*grid_range, family.num_points(grid_size), dtype=dtype, device=device)
    return family.points_to_grid(points.expand(in_features, -1).clone(), spline_order)


def _check_range(grid_range: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in grid_range)
    except (TypeError, ValueError):
        raise ConfigError(
            f"grid_range must be a pair (low, high); received {grid_range!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"grid_range must be finite with low < high; received {grid_range!r}")
    return low, high


class KANLayer(nn.Module):
    """A layer of ``in_features * out_features`` learnable edge functions.

    Each edge computes ``phi_ij(x) = w_base_ij * b(x) + w_spline_ij * sum_m c_ijm B_m(x)``
    and output ``j`` sums its incoming edges. The forward pass expands every input in the basis
    once, ``(N, in) -> (N, in, n)``, and contracts with all coefficients in one matrix multiply,
    so memory is ``O(N * in * n)``, independent of ``out_features``.

    Parameters
    ----------
    in_features, out_features : int
    basis : {"bspline", "chebyshev", "rbf"}
        Basis family (see :mod:`kanphys.basis`).
    grid_size : int
        Grid intervals for B-splines, polynomial degree for Chebyshev, centres for RBF.
    spline_order : int
        B-spline degree ``k`` (ignored by the other families).
    grid_range : (float, float)
        Initial grid span of every input.
    base_activation : str or None
        Residual base function ``b`` (``"silu"`` default); ``None`` switches it off.
    noise_scale : float
        Amplitude of the random initial coefficients.
    dtype, device : torch conventions (``"float64"`` and ``device="auto"`` also accepted);
        default to torch's current defaults.
    generator : torch.Generator, optional
        Source of randomness for the initialisation (keyword-only).

    Attributes
    ----------
    symbolic : SymbolicEdges or None
        Edges fixed to formulas ``a f(b x + c) + d`` (see :func:`kanphys.symbolic.fix_symbolic`);
        their ``mask`` entries are 0 so the spline part is off, and their values are added to
        the outputs. None (the default) costs nothing.
    """

    grid: Tensor
    mask: Tensor
    symbolic: SymbolicEdges | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        basis: str = "bspline",
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base_activation: str | None = "silu",
        noise_scale: float = 0.1,
        dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int("in_features", in_features, minimum=1)
        check_int("out_features", out_features, minimum=1)
        family = get_basis(basis)
        family.check(grid_size, spline_order)
        if base_activation is not None:
            get_activation(base_activation, argument="base_activation")
        low, high = _check_range(grid_range)
        dtype, device = resolve_dtype(dtype), resolve_device(device)
        self.in_features = in_features
        self.out_features = out_features
        self.basis = basis
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.base_activation = base_activation
        count = family.num_functions(grid_size, spline_order)
        grid = initial_grid(
            basis, in_features, grid_size, spline_order, (low, high), dtype=dtype, device=device
        )
        self.register_buffer("grid", grid)
        self.register_buffer(
            "mask", torch.ones(in_features, out_features, dtype=dtype, device=device)
        )
        shape = (in_features, out_features)
        noise = random_tensor(
            "rand", (*shape, count), generator=generator, dtype=dtype, device=device
        )
        self.coefficients = nn.Parameter((noise - 0.5) * (noise_scale / grid_size))
        self.spline_weight = nn.Parameter(
            torch.full(shape, in_features**-0.5, dtype=dtype, device=device)
        )
        self.base_weight: nn.Parameter | None
        if base_activation is None:
            self.base_weight = None
        else:
            uniform = random_tensor("rand", shape, generator=generator, dtype=dtype, device=device)
            self.base_weight = nn.Parameter((2 * uniform - 1) * in_features**-0.5)
        self.register_module("symbolic", None)

    @property
    def num_functions(self) -> int:
        """Basis functions per edge."""
        return self.coefficients.shape[-1]

    @property
    def has_symbolic(self) -> bool:
        """Whether some edges are fixed to formulas."""
        return self.symbolic is not None

    def active_edges(self) -> Tensor:
        """``(in, out)`` bool: edges that contribute (numeric with mask != 0, or symbolic)."""
        active = self.mask != 0
        if self.symbolic is not None:
            active = active.clone()
            active[self.symbolic.inputs, self.symbolic.outputs] = True
        return active

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"basis={self.basis!r}, "
            f"grid_size={self.grid_size}, spline_order={self.spline_order}, "
            f"base_activation={self.base_activation!r}"
        )

    def basis_values(self, x: Tensor, derivatives: int = 0) -> BasisValues:
        """Basis functions of every input at ``x``: ``(N, in) -> (N, in, n)`` (and derivatives)."""
        family = get_basis(self.basis)
        return family.evaluate(x, self.grid, self.grid_size, self.spline_order, derivatives)

    def spline_matrix(self) -> Tensor:
        """Masked, scaled coefficients as one ``(in * n, out)`` matrix."""
        scale = (self.spline_weight * self.mask).unsqueeze(-1)
        weights = (self.coefficients * scale).permute(0, 2, 1)
        return weights.reshape(self.in_features * self.num_functions, self.out_features)

    def base_matrix(self) -> Tensor | None:
        """Masked residual weights, ``(in, out)``, or None when the base function is off."""
        if self.base_weight is None:
            return None
        return self.base_weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        """``(N, in_features) -> (N, out_features)``; no state is changed or cached."""
        check_input(x, self.in_features, owner="KANLayer", like=self.coefficients)
        return self.forward_unchecked(x)

    def forward_unchecked(self, x: Tensor) -> Tensor:
        """:meth:`forward` without the shape and finiteness checks (for inner loops)."""
        features = self.basis_values(x).values.reshape(x.shape[0], -1)
        out = features @ self.spline_matrix()
        base = self.base_matrix()
        if base is not None:
            activation = get_activation(self.base_activation)  # type: ignore[arg-type]
            out = torch.addmm(out, activation.fn(x), base)
        if self.symbolic is not None:
            out = out + self.symbolic(x)
        return out

    def spline_edges(self, x: Tensor) -> Tensor:
        """Spline part ``sum_m c_ijm B_m(x_i)`` of each edge (unscaled, unmasked): (N, in, out)."""
        return torch.einsum("nim,iom->nio", self.basis_values(x).values, self.coefficients)

    def trace(self, x: Tensor) -> LayerTrace:
        """Per-edge activations on an explicit batch ``x`` of shape ``(N, in_features)``.

        Memory is ``O(N * in * out)``: call it on the batch you want to inspect, not in training.
        """
        check_input(x, self.in_features, owner="KANLayer", like=self.coefficients)
        edges = self.spline_edges(x) * self.spline_weight
        if self.base_weight is not None:
            activation = get_activation(self.base_activation)  # type: ignore[arg-type]
            edges = edges + activation.fn(x).unsqueeze(-1) * self.base_weight
        edges = edges * self.mask
        if self.symbolic is not None:
            flat = self.symbolic.inputs * self.out_features + self.symbolic.outputs
            edges = edges.reshape(x.shape[0], -1).index_add(1, flat, self.symbolic.edges(x))
            edges = edges.reshape(x.shape[0], self.in_features, self.out_features)
        return LayerTrace(x, edges, edges.sum(dim=1))
