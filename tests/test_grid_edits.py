"""Grid refinement (extension) and grid update of layers and models."""

from __future__ import annotations

import itertools

import pytest
import torch
from basis_reference import (
    F64,
    GRID_SIZE,
    assert_close,
    assert_unchanged,
    condition,
    edge_scale,
    hidden_values,
    least_squares_projection,
    model_tolerance,
    output_tolerance,
    polynomial_kan,
    random_layer,
    refit_tolerance,
    samples_in_range,
    seeded,
    set_polynomial_edges,
    snapshot,
)
from torch import Tensor

from kanphys.basis import (
    get_basis,
    grid_points_from_samples,
    interior_points,
)
from kanphys.errors import ConfigError, NonFiniteError, ShapeError
from kanphys.layers import refine_grid as refine_layer
from kanphys.layers import update_grid as update_layer
from kanphys.models import refine_grid as refine_model
from kanphys.models import update_grid as update_model

# --------------------------------------------------------------------------------------------
# grid refinement (grid extension) of layers and models
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [1, 2, 3])
def test_refine_grid_of_a_layer_is_exact_on_nested_grids(order: int, tol) -> None:
    # adapt the grid first, so the refined grids are non-uniform and differ per input
    start = update_layer(
        random_layer(order=order), 1.6 * torch.rand(300, 3, dtype=F64, generator=seeded()) - 0.9
    )
    x = samples_in_range(start, 500)
    layers = [start]
    for grid_size in (10, 20):
        layers.append(refine_layer(layers[-1], grid_size))
        assert layers[-1].grid_size == grid_size
        assert layers[-1].num_functions == grid_size + order
    for coarse, fine in itertools.pairwise(layers):
        old_points = interior_points(coarse.grid, order)
        assert torch.equal(interior_points(fine.grid, order)[:, ::2], old_points)
        edge_tol = refit_tolerance(tol, fine, x)
        assert_close(fine.spline_edges(x), coarse.spline_edges(x), edge_tol)
        assert_close(fine(x), coarse(x), output_tolerance(edge_tol, fine))


def test_refine_grid_of_a_chebyshev_layer_raising_the_degree_is_exact(tol) -> None:
    layer = random_layer("chebyshev", grid_size=3)
    finer = refine_layer(layer, 6)
    x = samples_in_range(layer, 300)
    assert finer.num_functions == 7 and torch.equal(finer.grid, layer.grid)
    edge_tol = refit_tolerance(tol, finer, x)
    assert_close(finer.spline_edges(x), layer.spline_edges(x), edge_tol)


@pytest.mark.parametrize(("basis", "grid_size"), [("bspline", 10), ("chebyshev", 6), ("rbf", 9)])
def test_refine_grid_with_samples_is_the_least_squares_projection(
    basis: str, grid_size: int, tol
) -> None:
    layer = random_layer(basis)
    x = 0.4 * torch.randn(400, 3, dtype=F64, generator=seeded(5))
    x = x.clamp(-1, 1)
    new = refine_layer(layer, grid_size, x)
    family = get_basis(basis)
    expected_points = grid_points_from_samples(x, family.num_points(grid_size))
    assert torch.equal(family.grid_to_points(new.grid, new.spline_order), expected_points)
    design = new.basis_values(x).values
    projection = least_squares_projection(design, layer.spline_edges(x).detach())
    atol = tol.least_squares(F64, condition(design), edge_scale(new))
    assert_close(new.spline_edges(x).detach(), projection, atol)


def test_refine_grid_with_samples_reproduces_polynomial_edges(tol) -> None:
    layer = set_polynomial_edges(random_layer(), seed=3)
    x = 0.8 * torch.rand(300, 3, dtype=F64, generator=seeded(6)) - 0.3
    new = refine_layer(layer, 8, x)
    edge_tol = refit_tolerance(tol, new, x)
    assert_close(new.spline_edges(x), layer.spline_edges(x), edge_tol)
    assert_close(new(x), layer(x), output_tolerance(edge_tol, new))


def test_refine_grid_leaves_its_input_unchanged() -> None:
    layer = random_layer()
    before = snapshot(layer)
    x = 2 * torch.rand(100, 3, dtype=F64, generator=seeded()) - 1
    for new in (refine_layer(layer, 10), refine_layer(layer, 7, x), refine_layer(layer, 3)):
        assert new is not layer and new.grid_size != layer.grid_size
    assert_unchanged(layer, before)
    assert layer.grid_size == 5


def test_refine_grid_errors() -> None:
    layer = random_layer()
    x = 2 * torch.rand(12, 3, dtype=F64, generator=seeded()) - 1
    with pytest.raises(
        ConfigError, match=r"at least as many samples as basis functions \(13\); received 12"
    ):
        refine_layer(layer, 10, x)
    with pytest.raises(ConfigError, match="grid_size must be an integer >= 1; received 0"):
        refine_layer(layer, 0)
    with pytest.raises(ShapeError, match=r"refine_grid: x must have shape \(N, 3\)"):
        refine_layer(layer, 10, x[:, :2])
    x[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="refine_grid: x contains NaN"):
        refine_layer(layer, 4, x)


def test_refine_grid_of_a_model_is_exact_on_nested_grids(tol) -> None:
    model = polynomial_kan()
    x = 2 * torch.rand(300, 2, dtype=F64, generator=seeded(7)) - 1
    hidden = hidden_values(model, x)
    assert float(hidden.abs().max()) < 2.0  # inside layer 2's grid range, where refinement is exact
    before = snapshot(model)
    models = [model, refine_model(model, 10)]
    models.append(refine_model(models[-1], 20))
    assert [m.config.grid_size for m in models] == [5, 10, 20]
    assert all(layer.grid_size == 20 for layer in models[-1].layers)
    for coarse, fine in itertools.pairwise(models):
        atol = model_tolerance(tol, fine, x, fitted_on_samples=False)
        with torch.no_grad():
            assert_close(fine(x), coarse(x), atol)
    assert_unchanged(model, before)


def test_refine_grid_of_a_model_with_samples_reproduces_polynomial_edges(tol) -> None:
    model = polynomial_kan()
    x = 0.8 * torch.rand(300, 2, dtype=F64, generator=seeded(8)) - 0.3
    before = snapshot(model)
    new = refine_model(model, 8, x)
    assert new.config.grid_size == 8
    atol = model_tolerance(tol, new, x, fitted_on_samples=True)
    with torch.no_grad():
        assert_close(new(x), model(x), atol)
    assert_unchanged(model, before)


# --------------------------------------------------------------------------------------------
# grid update (grids follow the data)
# --------------------------------------------------------------------------------------------


def concentrated_samples(count: int = 400, inputs: int = 3, seed: int = 9) -> Tensor:
    """Samples in [-0.3, 0.5], a small part of the initial grid range [-1, 1]."""
    return 0.8 * torch.rand(count, inputs, dtype=F64, generator=seeded(seed)) - 0.3


@pytest.mark.parametrize("order", [1, 2, 3])
def test_update_grid_of_a_layer_places_points_in_the_sample_range(order: int, tol) -> None:
    layer = random_layer(order=order)
    x = concentrated_samples()
    new = update_layer(layer, x)
    points = interior_points(new.grid, order)
    assert new.grid_size == layer.grid_size and new.grid.shape == layer.grid.shape
    atol = tol.values(F64)  # the blend of uniform and quantile points rounds the ends
    assert_close(points[:, 0], x.min(dim=0).values, atol)
    assert_close(points[:, -1], x.max(dim=0).values, atol)
    assert bool((points.diff(dim=1) > 0).all())
    assert torch.equal(points, grid_points_from_samples(x, GRID_SIZE + 1))
    half_uniform = update_layer(layer, x, uniform_fraction=0.5)
    expected = grid_points_from_samples(x, GRID_SIZE + 1, uniform_fraction=0.5)
    assert torch.equal(interior_points(half_uniform.grid, order), expected)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_update_grid_of_a_layer_is_the_least_squares_projection(order: int, tol) -> None:
    layer = random_layer(order=order)
    x = concentrated_samples()
    new = update_layer(layer, x)
    design = new.basis_values(x).values
    projection = least_squares_projection(design, layer.spline_edges(x).detach())
    atol = tol.least_squares(F64, condition(design), edge_scale(new))
    assert_close(new.spline_edges(x).detach(), projection, atol)
    if order == 3:  # the old spline (C^2, knots elsewhere) is resolved closely by G = 5 cubics
        with torch.no_grad():
            old, updated = layer(x), new(x)
        assert float((updated - old).abs().max()) < 1e-2 * float(old.abs().max())


def test_update_grid_of_a_layer_reproduces_polynomial_edges(tol) -> None:
    layer = set_polynomial_edges(random_layer(), seed=4)
    x = concentrated_samples()
    new = update_layer(layer, x, uniform_fraction=0.5)
    edge_tol = refit_tolerance(tol, new, x)
    assert_close(new.spline_edges(x), layer.spline_edges(x), edge_tol)
    assert_close(new(x), layer(x), output_tolerance(edge_tol, new))


def test_update_grid_of_a_layer_leaves_its_input_unchanged() -> None:
    layer = random_layer()
    before = snapshot(layer)
    new = update_layer(layer, concentrated_samples())
    assert new is not layer and not torch.equal(new.grid, layer.grid)
    assert_unchanged(layer, before)


def test_update_grid_errors() -> None:
    layer = random_layer()
    x = concentrated_samples()
    with pytest.raises(ConfigError, match=r"uniform_fraction must be in \[0, 1\]; received 2"):
        update_layer(layer, x, uniform_fraction=2)
    with pytest.raises(ShapeError, match=r"update_grid: x must have shape \(N, 3\)"):
        update_layer(layer, x[:, :2])
    with pytest.raises(ShapeError, match=r"update_grid: x must have shape \(N, 2\)"):
        update_model(polynomial_kan(), x)


def test_update_grid_of_a_model_follows_every_layers_inputs(tol) -> None:
    model = polynomial_kan()
    x = concentrated_samples(inputs=2)
    before = snapshot(model)
    new = update_model(model, x)
    assert new is not model and new.config == model.config
    inputs = x
    with torch.no_grad():
        for layer in new.layers:  # each grid spans exactly the inputs its layer sees
            points = interior_points(layer.grid, layer.spline_order)
            atol = tol.values(F64, float(inputs.abs().max()))
            assert_close(points[:, 0], inputs.min(dim=0).values, atol)
            assert_close(points[:, -1], inputs.max(dim=0).values, atol)
            inputs = layer(inputs)
    uniform = update_model(model, x, uniform_fraction=1.0).layers[0].grid[:, 3:-3]
    levels = torch.linspace(0, 1, 6, dtype=F64)
    low, high = x.min(dim=0).values[:, None], x.max(dim=0).values[:, None]
    assert_close(uniform, low + (high - low) * levels, tol.values(F64))
    assert float(hidden_values(model, x).abs().max()) < 2.0  # edges are cubics on layer 2's inputs
    atol = model_tolerance(tol, new, x, fitted_on_samples=True)
    with torch.no_grad():
        assert_close(new(x), model(x), atol)
    assert_unchanged(model, before)
