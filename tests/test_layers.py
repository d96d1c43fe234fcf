"""KANLayer: values against an explicit per-edge evaluation, masks, trace, gradients, errors."""

from __future__ import annotations

import pytest
import torch

from kanphys.basis import get_basis
from kanphys.errors import ConfigError, NonFiniteError, ShapeError
from kanphys.layers import ACTIVATIONS, KANLayer, get_activation

BASES = ["bspline", "chebyshev", "rbf"]


def make_layer(basis: str = "bspline", **kwargs) -> KANLayer:
    kwargs.setdefault("dtype", torch.float64)
    kwargs.setdefault("generator", torch.Generator().manual_seed(0))
    layer = KANLayer(3, 4, basis=basis, grid_size=6, spline_order=3, **kwargs)
    with torch.no_grad():  # non-trivial weights so every term matters
        layer.coefficients.normal_(generator=torch.Generator().manual_seed(1))
    return layer


def per_edge_reference(layer: KANLayer, x: torch.Tensor) -> torch.Tensor:
    """phi_ij(x_i) edge by edge with the definition; the slow, obvious implementation."""
    family = get_basis(layer.basis)
    out = torch.zeros(x.shape[0], layer.out_features, dtype=x.dtype)
    for i in range(layer.in_features):
        basis = family.evaluate(
            x[:, i : i + 1], layer.grid[i : i + 1], layer.grid_size, layer.spline_order, 0
        )
        for j in range(layer.out_features):
            spline = basis.values[:, 0, :] @ layer.coefficients[i, j]
            phi = layer.spline_weight[i, j] * spline
            if layer.base_weight is not None:
                phi = phi + layer.base_weight[i, j] * torch.nn.functional.silu(x[:, i])
            out[:, j] += layer.mask[i, j] * phi
    return out


@pytest.mark.parametrize("basis", BASES)
def test_forward_matches_per_edge_definition(basis: str) -> None:
    layer = make_layer(basis)
    x = torch.rand(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    torch.testing.assert_close(layer(x), per_edge_reference(layer, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("basis", BASES)
def test_trace_edges_sum_to_outputs(basis: str) -> None:
    layer = make_layer(basis)
    x = torch.rand(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    trace = layer.trace(x)
    assert trace.edges.shape == (20, 3, 4)
    torch.testing.assert_close(trace.outputs, layer(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(trace.edges.sum(dim=1), trace.outputs)


def test_mask_zeroes_an_edge_exactly() -> None:
    layer = make_layer()
    x = torch.rand(30, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 2 - 1
    before = layer.trace(x).edges
    with torch.no_grad():
        layer.mask[1, 2] = 0.0
    trace = layer.trace(x)
    assert torch.count_nonzero(trace.edges[:, 1, 2]) == 0
    # every other edge is unchanged, and the output loses exactly that edge
    keep = torch.ones(3, 4, dtype=torch.bool)
    keep[1, 2] = False
    assert torch.equal(trace.edges[:, keep], before[:, keep])
    torch.testing.assert_close(
        layer(x)[:, 2], before[:, [0, 2], 2].sum(dim=1), rtol=1e-13, atol=1e-13
    )


def test_forward_has_no_side_effects() -> None:
    layer = make_layer()
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    attributes = set(vars(layer))
    x = torch.rand(10, 3, dtype=torch.float64)
    layer(x)
    layer.trace(x)
    assert set(vars(layer)) == attributes
    for key, value in layer.state_dict().items():
        assert torch.equal(value, state[key])


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("base_activation", ["silu", None])
def test_every_parameter_receives_a_gradient(basis: str, base_activation: str | None) -> None:
    layer = make_layer(basis, base_activation=base_activation)
    x = torch.rand(40, 3, dtype=torch.float64) * 2 - 1
    layer(x).pow(2).sum().backward()
    names = {name for name, _ in layer.named_parameters()}
    assert ("base_weight" in names) == (base_activation is not None)
    for name, param in layer.named_parameters():
        assert param.grad is not None, name
        assert torch.count_nonzero(param.grad) > 0, name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("basis", BASES)
def test_dtype_is_preserved(dtype: torch.dtype, basis: str) -> None:
    layer = KANLayer(2, 3, basis=basis, dtype=dtype)
    assert all(t.dtype == dtype for t in layer.state_dict().values())
    assert layer(torch.zeros(5, 2, dtype=dtype)).dtype == dtype


def test_memory_of_forward_does_not_scale_with_out_features() -> None:
    """The basis is expanded per input, not per edge: the largest intermediate is (N, in, n)."""
    layer = KANLayer(4, 64, grid_size=5, spline_order=3, dtype=torch.float64)
    x = torch.rand(100, 4, dtype=torch.float64)
    sizes = []

    def record(module, args, output):
        sizes.append(output.numel())

    # the forward works on (N, in*n) features and the (in*n, out) matrix only
    features = layer.basis_values(x).values
    assert features.shape == (100, 4, 8)
    assert layer.spline_matrix().shape == (4 * 8, 64)
    handle = layer.register_forward_hook(record)
    layer(x)
    handle.remove()
    assert sizes == [100 * 64]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivatives_match_autograd(name: str) -> None:
    activation = get_activation(name)
    x = torch.linspace(-3, 3, 41, dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad(activation.fn(x).sum(), x, create_graph=True)
    if first.requires_grad:
        (second,) = torch.autograd.grad(first.sum(), x)
    else:  # the first derivative is a constant (identity)
        second = torch.zeros_like(x)
    torch.testing.assert_close(activation.first(x), first, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(activation.second(x), second, rtol=1e-12, atol=1e-12)
    # the shared evaluation of all three gives the same numbers
    value, first_too, second_too = activation.all_orders(x.detach())
    torch.testing.assert_close(value, activation.fn(x).detach(), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(first_too, first.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(second_too, second.detach(), rtol=1e-12, atol=1e-12)


def test_layer_errors() -> None:
    layer = make_layer()
    with pytest.raises(ShapeError, match=r"shape \(N, 3\).*received \(5, 2\)"):
        layer(torch.zeros(5, 2, dtype=torch.float64))
    with pytest.raises(NonFiniteError, match="NaN or infinite values in 1 of 2 rows"):
        layer(torch.tensor([[0.0, float("nan"), 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64))
    with pytest.raises(ConfigError, match=r"grid_size must be an integer >= 1; received 0"):
        KANLayer(2, 2, grid_size=0)
    with pytest.raises(
        ConfigError, match=r"basis must be one of \['bspline', 'chebyshev', 'rbf'\]"
    ):
        KANLayer(2, 2, basis="fourier")
    with pytest.raises(ConfigError, match=r"base_activation must be one of .*'silu'"):
        KANLayer(2, 2, base_activation="swish")
    with pytest.raises(ConfigError, match=r"grid_range must be finite with low < high"):
        KANLayer(2, 2, grid_range=(1.0, -1.0))
    with pytest.raises(ConfigError, match=r"grid_size must be an integer >= 2; received 1"):
        KANLayer(2, 2, basis="rbf", grid_size=1)
    with pytest.raises(ConfigError, match=r"in_features must be an integer >= 1"):
        KANLayer(0, 2)
