"""Shared references and helpers of the basis tests (scipy/numpy references, tolerances)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy.interpolate import BSpline
from torch import Tensor

from kanphys.basis import chebyshev_window, curve_to_coefficients, get_basis
from kanphys.layers import KANLayer
from kanphys.models import KAN

F64 = torch.float64
FAMILIES = ["bspline", "chebyshev", "rbf"]
ORDERS = [0, 1, 2, 3, 4, 5]
KNOT_KINDS = ["uniform", "nonuniform"]
GRID_SIZE = 5
# Chebyshev normalisation windows [low, high] per input
WINDOWS = {
    "default": chebyshev_window(3, dtype=F64),
    "shifted": torch.tensor([[-1.0, 1.0], [0.0, 4.0], [-3.0, -2.5]], dtype=F64),
}
# one range per input: grids are per input, so every test evaluates three different grids at once
RANGES = [(-1.0, 1.0), (0.0, 3.0), (-5.0, -4.5)]


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------------
# references and helpers
# --------------------------------------------------------------------------------------------


def grid_points(kind: str, seed: int = 0, grid_size: int = GRID_SIZE) -> Tensor:
    """(3, G + 1) strictly increasing points spanning RANGES; non-uniform spacings vary ~9x."""
    rng = np.random.default_rng(seed)
    rows = []
    for low, high in RANGES:
        gaps = np.ones(grid_size) if kind == "uniform" else rng.uniform(0.2, 1.8, grid_size)
        cumulative = np.concatenate([[0.0], np.cumsum(gaps)])
        rows.append(low + (high - low) * cumulative / cumulative[-1])
    return torch.tensor(np.array(rows), dtype=F64)


def scipy_basis(knots: Tensor, order: int, x: Tensor, nu: int = 0) -> Tensor:
    """(N, d, n): nu-th derivative of every B-spline of every input, from scipy's basis elements."""
    d, count = knots.shape[0], knots.shape[1] - order - 1
    out = np.zeros((x.shape[0], d, count))
    if nu > order:
        return torch.from_numpy(out)
    for i in range(d):
        t = knots[i].numpy()
        for m in range(count):
            element = BSpline.basis_element(t[m : m + order + 2], extrapolate=False)
            if nu:
                element = element.derivative(nu)
            out[:, i, m] = np.nan_to_num(element(x[:, i].numpy()), nan=0.0)  # nan outside support
    return torch.from_numpy(out)


def per_input(columns: list[Tensor]) -> Tensor:
    return torch.stack(columns, dim=1)


def sample_everywhere(knots: Tensor, order: int, seed: int = 0) -> Tensor:
    """(N, d): random points over the whole knot span, 2 points outside on each side and (for
    order >= 1, where B-splines are continuous) every knot but the last (Cox-de Boor is
    half-open at the last knot; for order 0 scipy closes the right end of each element)."""
    generator = seeded(seed)
    columns = []
    for t in knots:
        low, high = float(t[0]), float(t[-1])
        inside = low + (high - low) * torch.rand(40, dtype=F64, generator=generator)
        outside = torch.tensor([low - 1.0, low - 1e-3, high + 1e-3, high + 1.0], dtype=F64)
        parts = [inside, outside] + ([t[:-1]] if order >= 1 else [])
        columns.append(torch.cat(parts))
    return per_input(columns)


def sample_between_knots(
    knots: Tensor, fractions: tuple[float, ...] = (0.2, 0.5, 0.8)
) -> tuple[Tensor, Tensor]:
    """(N, d) points inside every knot interval, away from the knots, and per-input distance
    to the nearest knot (derivatives of order-k splines jump at knots)."""
    lower, upper = knots[:, :-1], knots[:, 1:]
    columns = [lower + f * (upper - lower) for f in fractions]
    x = torch.cat(columns, dim=1).T.contiguous()
    gap = min(min(fractions), 1 - max(fractions)) * (upper - lower).min(dim=1).values
    return x, gap


def autograd_derivatives(fn: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """First and second derivatives of fn: (N, d) -> (N, d, n), elementwise in (N, d)."""
    x = x.detach().clone().requires_grad_(True)
    values = fn(x)
    firsts, seconds = [], []
    for m in range(values.shape[-1]):
        if not values.requires_grad:
            firsts.append(torch.zeros_like(x))
            seconds.append(torch.zeros_like(x))
            continue
        (first,) = torch.autograd.grad(values[..., m].sum(), x, create_graph=True)
        if first.requires_grad:
            (second,) = torch.autograd.grad(first.sum(), x, retain_graph=True, allow_unused=True)
        else:
            second = None
        firsts.append(first.detach())
        seconds.append(torch.zeros_like(x) if second is None else second)
    return torch.stack(firsts, dim=-1), torch.stack(seconds, dim=-1)


def central_differences(
    fn: Callable[[Tensor], Tensor], x: Tensor, step: Tensor
) -> tuple[Tensor, Tensor]:
    """Central first and second differences with per-input steps (d,), using the steps the
    rounded points x +- h actually realise (so rounding x + h costs nothing)."""
    above, below = x + step, x - step
    h_up, h_down = (above - x).unsqueeze(-1), (x - below).unsqueeze(-1)
    f_up, f_mid, f_down = fn(above), fn(x), fn(below)
    first = (f_up - f_down) / (h_up + h_down)
    second = 2 * ((f_up - f_mid) / h_up - (f_mid - f_down) / h_down) / (h_up + h_down)
    return first, second


def assert_close(actual: Tensor, expected: Tensor, atol: float | Tensor) -> None:
    """|actual - expected| <= atol elementwise (atol may be per input, shape (d,) + (1,))."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    error = (actual - expected).abs()
    ok = error <= torch.as_tensor(atol, dtype=error.dtype)
    assert bool(ok.all()), f"max error {error.max().item():.3e} exceeds tolerance {atol}"


def per_input_tolerance(rule: Callable[[torch.dtype, float], float], expected: Tensor) -> Tensor:
    """(d, 1) tolerances for (N, d, n) tensors, scaled per input (sizes differ with spacing)."""
    scales = expected.abs().amax(dim=(0, 2)).tolist()
    return torch.tensor([rule(expected.dtype, s) for s in scales], dtype=expected.dtype)[:, None]


def least_squares_projection(design: Tensor, target: Tensor) -> Tensor:
    """Per input i: design[:, i] @ argmin ||design[:, i] c - target[:, i]|| with numpy."""
    out = np.empty(tuple(target.shape))
    for i in range(design.shape[1]):
        b, y = design[:, i].numpy(), target[:, i].numpy()
        out[:, i] = b @ np.linalg.lstsq(b, y, rcond=None)[0]
    return torch.from_numpy(out)


def condition(design: Tensor) -> float:
    """Largest condition number of the per-input designs (N, d, n)."""
    return max(float(np.linalg.cond(design[:, i].numpy())) for i in range(design.shape[1]))


def edge_scale(layer: KANLayer) -> float:
    """Per-sample bound sqrt(n) max ||c_ij||_2 of an edge's expansion (|row of B|_2 <= sqrt n)."""
    norms = layer.coefficients.detach().norm(dim=-1)
    return math.sqrt(layer.num_functions) * float(norms.max())


def refit_tolerance(tol, new: KANLayer, x: Tensor) -> float:
    """Tolerance on the edges of a layer refitted to a function in its span (tol.least_squares)."""
    with torch.no_grad():
        kappa = condition(new.basis_values(x).values)
    return tol.least_squares(F64, kappa, edge_scale(new))


def output_tolerance(edge_tolerance: float, layer: KANLayer) -> float:
    """Layer outputs sum the edges with weights spline_weight * mask."""
    weights = (layer.spline_weight * layer.mask).detach().abs().sum(dim=0)
    return edge_tolerance * max(1.0, float(weights.max()))


def snapshot(module: torch.nn.Module) -> dict[str, Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def assert_unchanged(module: torch.nn.Module, before: dict[str, Tensor]) -> None:
    after = module.state_dict()
    assert after.keys() == before.keys()
    for key, value in after.items():
        assert value.shape == before[key].shape and torch.equal(value, before[key]), key


def samples_in_range(layer: KANLayer, count: int, seed: int = 0) -> Tensor:
    """(count, in) uniform samples over each input's grid-point range, ends included."""
    points = get_basis(layer.basis).grid_to_points(layer.grid, layer.spline_order)
    low, high = points[:, 0], points[:, -1]
    fraction = torch.rand(count, layer.in_features, dtype=F64, generator=seeded(seed))
    fraction[:2] = torch.tensor([0.0, 1.0], dtype=F64)[:, None]
    return low + (high - low) * fraction


def random_layer(basis: str = "bspline", order: int = 3, grid_size: int = 5) -> KANLayer:
    """A float64 layer with O(1) random coefficients, so every basis function matters."""
    layer = KANLayer(
        3, 2, basis=basis, grid_size=grid_size, spline_order=order, dtype=F64, generator=seeded()
    )
    with torch.no_grad():
        layer.coefficients.normal_(generator=seeded(1))
    return layer


def set_polynomial_edges(layer: KANLayer, seed: int) -> KANLayer:
    """Make every edge a random polynomial of degree spline_order on the layer's grid range
    (polynomials of degree <= k lie in every degree-k spline space over that range)."""
    generator = seeded(seed)
    powers = torch.rand(
        layer.in_features,
        layer.out_features,
        layer.spline_order + 1,
        dtype=F64,
        generator=generator,
    )
    powers = 0.2 * powers - 0.1
    x = samples_in_range(layer, 400, seed)
    exponents = torch.arange(layer.spline_order + 1, dtype=F64)
    y = torch.einsum("nik,iok->nio", x.unsqueeze(-1) ** exponents, powers)
    family = get_basis(layer.basis)
    fitted = curve_to_coefficients(x, y, layer.grid, family, layer.grid_size, layer.spline_order)
    with torch.no_grad():
        layer.coefficients.copy_(fitted)
    return layer


def polynomial_kan() -> KAN:
    """KAN [2, 3, 1] on grid range (-2, 2) whose edges are cubic polynomials there."""
    model = KAN(
        [2, 3, 1],
        grid_size=5,
        spline_order=3,
        grid_range=(-2.0, 2.0),
        dtype=F64,
        generator=seeded(),
    )
    for position, layer in enumerate(model.layers):
        set_polynomial_edges(layer, seed=10 + position)
    return model


def hidden_values(model: KAN, x: Tensor) -> Tensor:
    with torch.no_grad():
        return model.trace(x).nodes[1]


def model_tolerance(tol, new: KAN, x: Tensor, *, fitted_on_samples: bool) -> float:
    """Output tolerance of a refitted two-layer KAN: layer 2's refit error plus layer 1's times
    layer 2's Lipschitz constant on the hidden values (local, from autograd). The refits used
    x and the hidden values, or (grid refinement without samples) dense points over each grid."""
    first, second = new.layers
    hidden = first(x).detach().requires_grad_(True)
    (slope,) = torch.autograd.grad(second(hidden).sum(), hidden)
    lipschitz = float(slope.abs().sum(dim=1).max())
    hidden = hidden.detach()
    if fitted_on_samples:
        fits = [x, hidden]
    else:
        fits = [samples_in_range(first, 500), samples_in_range(second, 500)]
    errors = [
        output_tolerance(refit_tolerance(tol, layer, samples), layer)
        for layer, samples in zip(new.layers, fits, strict=True)
    ]
    return errors[1] + lipschitz * errors[0]
