"""Derivative engines: Taylor jets against nested autograd, closed-form networks, engine choice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import pytest
import sympy
import torch
from torch import Tensor

from kanphys.errors import ConfigError
from kanphys.models import KAN, MLP
from kanphys.models.base import Network
from kanphys.pde.compile import Environment, compile_expression
from kanphys.pde.derivatives import AutogradEngine, TaylorEngine, select_engine
from kanphys.pde.model import OutputTransform, PDEModel, embedded_features
from kanphys.pde.problem import DerivativeKey, field_function, input_symbol

INPUTS = ("x", "y", "t")
BOUNDS = ((-1.0, 1.0), (0.0, 2.0), (0.0, 0.5))
FIELDS = ("u", "v")
X, Y, T = (input_symbol(v) for v in INPUTS)
ORDERS: list[tuple[str, ...]] = [
    (),
    ("x",),
    ("y",),
    ("t",),
    ("x", "x"),
    ("x", "y"),
    ("x", "t"),
    ("y", "y"),
    ("y", "t"),
    ("t", "t"),
]
REQUESTS: list[DerivativeKey] = [(name, order) for name in FIELDS for order in ORDERS]
N_POINTS = 24


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """The batches here are tiny: a second intra-op thread only adds synchronisation, which
    costs ~10x the run time on a machine whose cores are busy. Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# (N, in) -> network with two outputs; KANs with noise_scale = 1 so that the splines, not only
# the base functions, shape the derivatives
def kan_factory(basis: str, product: bool) -> Callable[[int, torch.dtype], Network]:
    def build(n_in: int, dtype: torch.dtype) -> Network:
        return KAN(
            [n_in, [4, 2] if product else 4, 2],
            basis=basis,
            grid_size=5,
            noise_scale=1.0,
            dtype=dtype,
            generator=torch.Generator().manual_seed(1),
        )

    return build


def mlp(n_in: int, dtype: torch.dtype) -> Network:
    return MLP([n_in, 8, 8, 2], "tanh", dtype=dtype, generator=torch.Generator().manual_seed(1))


NETWORKS: dict[str, Callable[[int, torch.dtype], Network]] = {
    f"kan-{basis}{'-product' if product else ''}": kan_factory(basis, product)
    for basis in ("bspline", "chebyshev", "rbf")
    for product in (False, True)
}
NETWORKS["mlp"] = mlp


def wide_bspline_kan(n_in: int, dtype: torch.dtype) -> Network:
    """Wide enough that the first layer's B-spline jet takes the dense-matrix route
    (``(k + 1) out >= C n``) and the second the gathered-coefficient route."""
    return KAN(
        [n_in, 32, 2],
        grid_size=5,
        noise_scale=1.0,
        dtype=dtype,
        generator=torch.Generator().manual_seed(1),
    )


NETWORKS["kan-bspline-wide"] = wide_bspline_kan


def transform() -> OutputTransform:
    """Constraint-like offsets and factors with non-zero mixed second derivatives."""
    return OutputTransform(
        INPUTS,
        len(FIELDS),
        {0: sympy.sin(sympy.pi * X) * T, 1: X * Y},
        {0: (1 - X**2) * Y * (2 - Y) * sympy.exp(-T), 1: sympy.cos(Y + X * T)},
    )


def build_model(
    network: str, dtype: torch.dtype, *, periodic: bool = False, constrained: bool = False
) -> PDEModel:
    wrapped = ("x",) if periodic else ()
    return PDEModel(
        NETWORKS[network](embedded_features(INPUTS, wrapped), dtype),
        INPUTS,
        BOUNDS,
        periodic=wrapped,
        parameters={"nu": 0.3},
        transform=transform() if constrained else None,
    )


def sample(n: int, dtype: torch.dtype, seed: int = 2) -> Tensor:
    low, high = torch.tensor(BOUNDS, dtype=dtype).T
    return low + (high - low) * torch.rand(
        n, len(INPUTS), generator=torch.Generator().manual_seed(seed), dtype=dtype
    )


def away_from_zero_factors(model: PDEModel, x: Tensor, fraction: float = 0.05) -> Tensor:
    """The rows of ``x`` where no product-node factor is within ``fraction`` of its scale of 0.

    The autograd reference differentiates ``Tensor.prod``, whose backward divides by the
    factors and loses ``eps * |other / factor|`` near a zero factor (see
    ``test_autograd_engine_is_accurate_near_a_zero_product_factor``); the Taylor jets do not.
    """
    network = model.network
    if not isinstance(network, KAN) or not network.width[1][1]:
        return x
    n_sum = network.width[1][0]
    with torch.no_grad():
        factors = network.layers[0](model.embed(x))[:, n_sum:].abs()
    keep = (factors >= fraction * factors.max()).all(dim=1)
    assert keep.sum() >= x.shape[0] // 4, "too few points left"
    return x[keep]


def residual_loss(model: PDEModel, x: Tensor, derivatives: dict[DerivativeKey, Tensor]) -> Tensor:
    """A loss that uses every requested derivative and the trainable PDE parameter ``nu``."""
    u, v = (field_function(name, INPUTS) for name in FIELDS)
    d = sympy.Derivative
    nu = input_symbol("nu")
    expr = (
        d(u, T)
        + u * d(u, X)
        - nu * (d(u, X, X) + d(u, Y, Y) + d(u, T, T))
        + v * d(v, X, T)
        - d(u, X, Y) * d(v, Y, T)
        + sympy.sin(v) * d(v, (X, 2))
    )
    columns = {name: x[:, i] for i, name in enumerate(INPUTS)}
    env = Environment(columns, derivatives, dict(model.pde_parameters.items()))
    residual = compile_expression(expr, INPUTS)(env)
    return residual.pow(2).mean() + sum(value.pow(2).mean() for value in derivatives.values())


# every network plain, and the periodic embedding and the output transform on a few of them
CONFIGURATIONS = [(network, False, False) for network in NETWORKS] + [
    ("kan-bspline-product", True, False),
    ("kan-chebyshev", False, True),
    ("kan-rbf-product", True, True),
    ("mlp", True, True),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(
    ("network", "periodic", "constrained"),
    CONFIGURATIONS,
    ids=[f"{n}{'-periodic' if p else ''}{'-transform' if c else ''}" for n, p, c in CONFIGURATIONS],
)
def test_taylor_matches_autograd(network, dtype, periodic, constrained, tol) -> None:
    model = build_model(network, dtype, periodic=periodic, constrained=constrained)
    x = away_from_zero_factors(model, sample(N_POINTS, dtype))
    taylor = TaylorEngine()(model, x, REQUESTS, FIELDS)
    autograd = AutogradEngine()(model, x, REQUESTS, FIELDS)
    assert set(taylor) == set(autograd) == set(REQUESTS)
    for key in REQUESTS:
        assert taylor[key].dtype == dtype and taylor[key].shape == (x.shape[0],)
        # the same closed-form derivatives, multiplied out in another order: the value rule
        # (4500 eps in float64, 100 eps in float32) holds; observed: under 10 eps
        bound = tol.values(dtype, float(autograd[key].detach().abs().max()))
        torch.testing.assert_close(taylor[key], autograd[key], rtol=0, atol=bound, msg=str(key))
    names, parameters = zip(*model.named_parameters(), strict=True)
    assert "pde_parameters.nu" in names
    from_taylor = torch.autograd.grad(residual_loss(model, x, taylor), parameters)
    from_autograd = torch.autograd.grad(residual_loss(model, x, autograd), parameters)
    for name, a, b in zip(names, from_taylor, from_autograd, strict=True):
        assert torch.count_nonzero(b) > 0, name
        bound = tol.values(dtype, float(b.detach().abs().max()))
        torch.testing.assert_close(a, b, rtol=0, atol=bound, msg=name)


@pytest.mark.parametrize(
    "subset",
    [
        [("u", ()), ("v", ())],
        [("v", ("t",)), ("u", ("x",))],
        [("u", ("y", "t")), ("v", ())],
        [("v", ("x", "x")), ("u", ("x", "t")), ("u", ("y",))],
        [("u", ("x", "x")), ("v", ("y", "y"))],
        [("u", ("x", "x")), ("u", ("y", "y")), ("v", ("t", "t"))],
    ],
    ids=["values", "first", "one pair", "mixed", "pure pairs", "laplacian"],
)
def test_taylor_subsets_match_the_full_request(subset: list[DerivativeKey], tol) -> None:
    model = build_model("kan-bspline-product", torch.float64, constrained=True)
    x = sample(N_POINTS, torch.float64)
    full = TaylorEngine()(model, x, REQUESTS, FIELDS)
    part = TaylorEngine()(model, x, subset, FIELDS)
    assert list(part) == subset
    for key in subset:
        bound = tol.values(torch.float64, float(full[key].detach().abs().max()))
        torch.testing.assert_close(part[key], full[key], rtol=0, atol=bound, msg=str(key))


@pytest.mark.parametrize("engine", [TaylorEngine(), AutogradEngine()], ids=lambda e: e.name)
def test_periodic_embedding_is_exactly_periodic(engine, tol) -> None:
    # x = low and x = high embed to the same (cos, sin) up to rounding of 2 pi: every derivative
    # agrees there, although the network itself is not periodic
    model = build_model("kan-chebyshev", torch.float64, periodic=True)
    x = sample(16, torch.float64)
    at_low, at_high = x.clone(), x.clone()
    at_low[:, 0], at_high[:, 0] = BOUNDS[0]
    low = engine(model, at_low, REQUESTS, FIELDS)
    high = engine(model, at_high, REQUESTS, FIELDS)
    for key in REQUESTS:
        bound = tol.values(torch.float64, float(low[key].detach().abs().max()))
        torch.testing.assert_close(high[key], low[key], rtol=0, atol=bound, msg=str(key))
    # the box embedding is not periodic: the check above is not vacuous
    box = build_model("kan-chebyshev", torch.float64)
    assert (box(at_low) - box(at_high)).abs().max() > 1e-2


# --------------------------------------------------------------------------------------------
# networks whose derivatives are known in closed form
# --------------------------------------------------------------------------------------------

CUBIC_BOUNDS = ((0.0, 4.0), (-1.0, 3.0))  # embedded: xi = x / 2 - 1, eta = (y - 1) / 2
XI, ETA = X / 2 - 1, (Y - 1) / 2


def marsden_coefficients(knots: Tensor, polynomial: Sequence[float]) -> Tensor:
    """Coefficients of the cubic ``a0 + a1 s + a2 s^2 + a3 s^3`` in the cubic B-splines on
    ``knots`` (Marsden's identity): the polar form at the three interior knots of each spline,
    ``a0 + a1 e1 / 3 + a2 e2 / 3 + a3 e3`` with ``e_i`` their elementary symmetric sums."""
    a0, a1, a2, a3 = polynomial
    inner = knots.unfold(0, 3, 1)[1 : knots.shape[0] - 3]  # (t_{m+1}, t_{m+2}, t_{m+3})
    t1, t2, t3 = inner.unbind(-1)
    e1, e2, e3 = t1 + t2 + t3, t1 * t2 + t1 * t3 + t2 * t3, t1 * t2 * t3
    return a0 + a1 * e1 / 3 + a2 * e2 / 3 + a3 * e3


def cubic_kan(
    dtype: torch.dtype, bounds: tuple[tuple[float, float], ...] = CUBIC_BOUNDS
) -> tuple[PDEModel, sympy.Expr]:
    """A KAN computing ``xi (xi^2 + eta^2 + 1)`` exactly: one product node of the sub-nodes
    ``xi`` and ``xi^2 + eta^2 + 1`` (edges set to exact cubic splines), then an identity edge;
    the grid spans [-3, 3], which holds every node value (|product| <= 0.95 * 2.9)."""
    network = KAN(
        [2, [0, 1], 1], grid_size=4, grid_range=(-3.0, 3.0), base_activation=None, dtype=dtype
    )
    first, second = network.kan_layers()
    edges = {  # (layer, input, output) -> polynomial coefficients (a0, a1, a2, a3)
        (first, 0, 0): (0, 1, 0, 0),
        (first, 1, 0): (0, 0, 0, 0),
        (first, 0, 1): (0, 0, 1, 0),
        (first, 1, 1): (1, 0, 1, 0),
        (second, 0, 0): (0, 1, 0, 0),
    }
    with torch.no_grad():
        for (layer, i, j), polynomial in edges.items():
            layer.coefficients[i, j] = marsden_coefficients(layer.grid[i], polynomial)
            layer.spline_weight[i, j] = 1.0
    model = PDEModel(network, ("x", "y"), bounds)
    xi, eta = (
        2 * (s - low) / (high - low) - 1 for s, (low, high) in zip((X, Y), bounds, strict=True)
    )
    return model, xi * (xi**2 + eta**2 + 1)


def tanh_mlp(dtype: torch.dtype) -> tuple[PDEModel, sympy.Expr]:
    """``1.5 tanh(0.7 xi - 1.3 eta + 0.2) - 0.4``: an MLP with one hidden unit."""
    network = MLP([2, 1, 1], "tanh", dtype=dtype)
    hidden, output = (cast(torch.nn.Linear, linear) for linear in network.linears)
    with torch.no_grad():
        hidden.weight.copy_(torch.tensor([[0.7, -1.3]], dtype=dtype))
        hidden.bias.fill_(0.2)
        output.weight.fill_(1.5)
        output.bias.fill_(-0.4)
    model = PDEModel(network, ("x", "y"), CUBIC_BOUNDS)
    return model, 1.5 * sympy.tanh(0.7 * XI - 1.3 * ETA + 0.2) - 0.4


ALL_ORDERS = [
    (),
    ("x",),
    ("y",),
    ("x", "x"),
    ("x", "y"),
    ("y", "y"),
    ("x", "x", "x"),
    ("x", "x", "y"),
    ("x", "y", "y"),
    ("y", "y", "y"),
]


def closed_form_points(dtype: torch.dtype) -> Tensor:
    # |xi| >= 0.25: the product-node factor xi stays away from 0 (see away_from_zero_factors)
    generator = torch.Generator().manual_seed(4)
    xi = (0.25 + 0.7 * torch.rand(32, generator=generator, dtype=dtype)) * torch.where(
        torch.rand(32, generator=generator) < 0.5, -1.0, 1.0
    ).to(dtype)
    eta = 2 * torch.rand(32, generator=generator, dtype=dtype) - 1
    return torch.stack([2 * (xi + 1), 2 * eta + 1], dim=1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("engine", [TaylorEngine(), AutogradEngine()], ids=lambda e: e.name)
@pytest.mark.parametrize("construction", [cubic_kan, tanh_mlp], ids=["cubic-kan", "tanh-mlp"])
def test_derivatives_of_closed_form_networks(construction, engine, dtype, tol) -> None:
    model, formula = construction(dtype)
    x = closed_form_points(dtype)
    orders = [o for o in ALL_ORDERS if len(o) <= 2 or engine.name == "autograd"]
    requests = [("u", order) for order in orders]
    result = engine(model, x, requests, ("u",))
    points = x.double().numpy()
    for order in orders:
        exact_expr = sympy.diff(formula, *(input_symbol(v) for v in order)) if order else formula
        exact = sympy.lambdify((X, Y), exact_expr, "numpy")(*points.T)
        exact = np.broadcast_to(exact, (x.shape[0],))
        # the network is exact up to rounding (Marsden coefficients, fixed weights): the value
        # rule up to second order (observed: under 3% of it), a digit more for the third
        bound = tol.values(dtype, float(np.abs(exact).max())) * 10 ** max(0, len(order) - 2)
        error = np.abs(result[("u", order)].detach().double().numpy() - exact).max()
        assert error <= bound, (order, error, bound)


# xi = x on this box; points where the product-node factor xi is nearly 0 (the other is ~1)
NEAR_ZERO_FACTOR = torch.tensor([[1e-7, 0.3], [1e-7, 0.7], [1e-8, 0.3], [-1e-8, -0.45]])


def near_zero_factor_check(engine, tol) -> None:
    model, formula = cubic_kan(torch.float64, bounds=((-1.0, 1.0), (-1.0, 1.0)))
    x = NEAR_ZERO_FACTOR.double()
    key = ("u", ("x", "x"))
    exact = sympy.lambdify((X, Y), sympy.diff(formula, X, X), "numpy")(*x.numpy().T)
    # u_xx = 6 xi is tiny, but every node, edge and derivative here is of size ~1
    bound = tol.values(torch.float64, 1.0)
    error = (engine(model, x, [key], ("u",))[key] - torch.from_numpy(exact)).abs().max()
    assert error <= bound, (float(error), bound)


def test_taylor_engine_is_accurate_near_a_zero_product_factor(tol) -> None:
    near_zero_factor_check(TaylorEngine(), tol)


def test_autograd_engine_is_accurate_near_a_zero_product_factor(tol) -> None:
    near_zero_factor_check(AutogradEngine(), tol)


# --------------------------------------------------------------------------------------------
# engine selection
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ([("u", ())], "taylor"),
        ([("u", ("t",)), ("u", ("x", "x")), ("v", ("x", "y"))], "taylor"),
        ([("u", ("t",)), ("u", ("x", "x", "x"))], "autograd"),
        ([("v", ("x", "y", "t"))], "autograd"),
    ],
    ids=["values", "second order", "u_xxx", "v_xyt"],
)
@pytest.mark.parametrize("network", ["kan-rbf-product", "mlp"])
def test_auto_picks_taylor_up_to_second_order(network, requests, expected) -> None:
    model = build_model(network, torch.float64)
    assert select_engine("auto", model, requests).name == expected
    assert select_engine("autograd", model, requests).name == "autograd"


def test_taylor_refuses_third_derivatives() -> None:
    model = build_model("kan-bspline", torch.float64)
    requests = [("u", ()), ("u", ("x", "x", "x"))]
    message = (
        r"derivatives='taylor' does not support this model/problem \(network KAN, derivative "
        r"orders \[0, 3\]\); use 'autograd' or 'auto'"
    )
    with pytest.raises(ConfigError, match=message):
        select_engine("taylor", model, requests)
    assert select_engine("taylor", model, requests[:1]).name == "taylor"


def test_unknown_engine_name_lists_the_choices() -> None:
    model = build_model("mlp", torch.float64)
    message = r"derivatives must be one of \['auto', 'autograd', 'taylor'\]; received 'jets'"
    with pytest.raises(ConfigError, match=message):
        select_engine("jets", model, [("u", ())])


def test_networks_without_jet_rules_use_autograd() -> None:
    class Custom(MLP):  # a subclass may change forward: only the exact types have jet rules
        pass

    model = PDEModel(Custom([3, 4, 2], dtype=torch.float64), INPUTS, BOUNDS)
    requests = [("u", ("x", "x"))]
    assert select_engine("auto", model, requests).name == "autograd"
    with pytest.raises(ConfigError, match=r"does not support this model/problem \(network Custom"):
        select_engine("taylor", model, requests)
