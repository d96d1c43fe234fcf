"""KAN and MLP: product nodes, gradients, dtype, devices, structural edits, errors."""

from __future__ import annotations

import pytest
import torch

from kanphys import KAN, MLP, FitConfig, fit
from kanphys.errors import ConfigError, NonFiniteError, ShapeError
from kanphys.models import refine_grid, update_grid


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_product_nodes_multiply_their_subnodes() -> None:
    model = KAN([2, [3, 2], 1], dtype=torch.float64, generator=seeded())
    assert [tuple(layer.coefficients.shape[:2]) for layer in model.layers] == [
        (2, 3 + 2 * 2),
        (5, 1),
    ]
    x = torch.rand(16, 2, dtype=torch.float64, generator=seeded(1)) * 2 - 1
    trace = model.trace(x)
    sub = trace.layers[0].outputs
    expected_nodes = torch.cat(
        [sub[:, :3], sub[:, 3:5].prod(dim=1, keepdim=True), sub[:, 5:7].prod(dim=1, keepdim=True)],
        dim=1,
    )
    torch.testing.assert_close(trace.nodes[1], expected_nodes, rtol=0, atol=0)
    torch.testing.assert_close(model(x), trace.nodes[-1], rtol=1e-14, atol=1e-14)


def test_mult_arity_three() -> None:
    model = KAN([2, [1, 1], 1], mult_arity=3, dtype=torch.float64, generator=seeded())
    x = torch.rand(8, 2, dtype=torch.float64)
    sub = model.trace(x).layers[0].outputs
    assert sub.shape == (8, 4)
    torch.testing.assert_close(model.trace(x).nodes[1][:, 1], sub[:, 1:].prod(dim=1))


def test_product_node_learns_a_product() -> None:
    """x*y is one product node of two edge sums away; L-BFGS finds it from a random start."""
    g = seeded(5)
    x = torch.rand(400, 2, dtype=torch.float64, generator=g) * 2 - 1
    y = (x[:, :1] * x[:, 1:]).contiguous()
    model = KAN([2, [0, 1], 1], grid_size=3, dtype=torch.float64, generator=seeded(6))
    fit(model, x, y, config=FitConfig(steps=150, optimizer="lbfgs", learning_rate=1.0))
    rmse = torch.sqrt(torch.mean((model(x) - y) ** 2))
    assert rmse < 2e-3


@pytest.mark.parametrize("width", [[2, 5, 1], [2, [3, 2], [2, 1]], [3, 4, 4, 2]])
@pytest.mark.parametrize("basis", ["bspline", "chebyshev", "rbf"])
def test_every_parameter_receives_a_gradient(width: list, basis: str) -> None:
    model = KAN(width, basis=basis, dtype=torch.float64, generator=seeded())
    x = torch.rand(64, width[0], dtype=torch.float64, generator=seeded(1)) * 2 - 1
    model(x).pow(2).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.count_nonzero(param.grad) > 0, name


def test_mlp_every_parameter_receives_a_gradient() -> None:
    model = MLP([2, 16, 16, 1], dtype=torch.float64, generator=seeded())
    x = torch.rand(32, 2, dtype=torch.float64)
    model(x).pow(2).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.count_nonzero(param.grad) > 0, name


@pytest.mark.parametrize("cls", [KAN, MLP])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, "float64"])
def test_dtype_in_dtype_out(cls: type, dtype) -> None:
    model = cls([2, 4, 1], dtype=dtype)
    expected = torch.float64 if dtype == "float64" else dtype
    assert model.dtype == expected
    assert model(torch.zeros(3, 2, dtype=expected)).dtype == expected


def test_seeded_generator_reproduces_and_global_state_is_untouched() -> None:
    state = torch.random.get_rng_state()
    a = KAN([2, 3, 1], generator=seeded(7))
    b = KAN([2, 3, 1], generator=seeded(7))
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert torch.get_default_dtype() == torch.float32


def test_mlp_with_parameter_budget_matches_kan_size() -> None:
    kan = KAN([2, 8, 8, 1])
    mlp = MLP.with_parameter_budget(2, 1, kan.num_parameters(), depth=2)
    hidden = mlp.width[1]
    assert mlp.width == (2, hidden, hidden, 1)
    smaller = MLP([2, hidden - 1, hidden - 1, 1]).num_parameters()
    larger = MLP([2, hidden + 1, hidden + 1, 1]).num_parameters()
    target = kan.num_parameters()
    assert abs(mlp.num_parameters() - target) <= min(abs(smaller - target), abs(larger - target))


def test_device_auto_uses_cpu_without_cuda() -> None:
    model = KAN([2, 3, 1], device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert model.device.type == expected


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype: torch.dtype) -> None:
    cpu = KAN([2, [3, 1], 1], dtype=dtype, generator=seeded())
    gpu = KAN.from_config(cpu.config, dtype=dtype, device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    x = torch.rand(64, 2, dtype=dtype) * 2 - 1
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(gpu(x.cuda()).cpu(), cpu(x), rtol=tol, atol=tol)
    refined = refine_grid(gpu, 10)
    torch.testing.assert_close(refined(x.cuda()), gpu(x.cuda()), rtol=tol * 100, atol=tol * 100)


def test_refine_grid_returns_new_model_and_preserves_outputs() -> None:
    model = KAN([2, 4, 1], grid_size=5, dtype=torch.float64, generator=seeded())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(200, 2, dtype=torch.float64, generator=seeded(1)) * 2 - 1
    finer = refine_grid(model, 10)
    assert finer is not model and finer.config.grid_size == 10 and model.config.grid_size == 5
    assert finer.layers[0].coefficients.shape[-1] == 13
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    # the first layer's refinement is exact (nested knots); the second sees the first's outputs,
    # which leave [-1, 1] only slightly, where old and new extension knots differ
    torch.testing.assert_close(finer.layers[0](x), model.layers[0](x), rtol=1e-10, atol=1e-10)
    assert torch.max(torch.abs(finer(x) - model(x))) < 1e-3


def test_update_grid_follows_data_and_preserves_outputs() -> None:
    model = KAN([2, 3, 1], grid_size=8, dtype=torch.float64, generator=seeded())
    x = torch.rand(500, 2, dtype=torch.float64, generator=seeded(1)) * 0.6 - 0.2
    updated = update_grid(model, x)
    points = updated.layers[0].grid[:, 3:-3]
    assert torch.all(points[:, 0] >= -0.21) and torch.all(points[:, -1] <= 0.41)
    error = torch.max(torch.abs(updated(x) - model(x)))
    assert error < 1e-4
    assert not torch.equal(updated.layers[0].grid, model.layers[0].grid)


def test_fit_reaches_target_on_regression_smoke_problem() -> None:
    """Issue 2's regression test: KAN [2,5,1] fits exp(sin(pi x) + y^2) to test RMSE < 1e-2."""
    g = seeded(0)

    def target(x: torch.Tensor) -> torch.Tensor:
        return torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:] ** 2)

    x = torch.rand(1000, 2, dtype=torch.float64, generator=g) * 2 - 1
    x_test = torch.rand(1000, 2, dtype=torch.float64, generator=g) * 2 - 1
    model = KAN([2, 5, 1], grid_size=5, dtype=torch.float64, generator=seeded(1))
    result = fit(
        model,
        x,
        target(x),
        config=FitConfig(steps=2000, learning_rate=1e-2, log_every=500),
        validation=(x_test, target(x_test)),
    )
    with torch.no_grad():
        rmse = torch.sqrt(torch.mean((model(x_test) - target(x_test)) ** 2))
    assert rmse < 1e-2
    assert result.history["val_rmse"][-1] == pytest.approx(float(rmse))
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_kan_errors() -> None:
    with pytest.raises(ConfigError, match=r"width must be a list of at least 2 node counts"):
        KAN([3])
    with pytest.raises(
        ConfigError, match=r"width\[1\] must be an int or \[n_sum, n_mult\]; received 'a'"
    ):
        KAN([2, "a", 1])
    with pytest.raises(
        ConfigError, match=r"width\[0\] is the input layer and cannot have product nodes"
    ):
        KAN([[2, 1], 1])
    with pytest.raises(ConfigError, match=r"grid_size must be an integer >= 1; received 0"):
        KAN([2, 1], grid_size=0)
    with pytest.raises(
        ConfigError,
        match=r"basis must be one of \['bspline', 'chebyshev', 'rbf'\]; received 'wavelet'",
    ):
        KAN([2, 1], basis="wavelet")
    with pytest.raises(
        ConfigError, match=r"dtype must be one of \['float32', 'float64'\]; received 'float16'"
    ):
        KAN([2, 1], dtype="float16")
    with pytest.raises(ConfigError, match=r"device must be 'auto', 'cpu'"):
        KAN([2, 1], device="tpu")
    with pytest.raises(ConfigError, match=r"mult_arity must be an integer >= 2"):
        KAN([2, 1], mult_arity=1)
    with pytest.raises(ConfigError, match=r"activation must be one of .*'tanh'"):
        MLP([2, 1], activation="relu6")
    with pytest.raises(ConfigError, match=r"width\[1\] must be an integer >= 1; received 0"):
        MLP([2, 0, 1])
    model = KAN([2, 1])
    with pytest.raises(
        ShapeError, match=r"KAN: x must have shape \(N, 2\) \(batch first\); received \(2,\)"
    ):
        model(torch.zeros(2))
    with pytest.raises(ShapeError, match=r"x must be a floating-point tensor"):
        model(torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(NonFiniteError, match=r"KAN: x contains NaN or infinite values"):
        model(torch.tensor([[float("inf"), 0.0]]))


def test_fit_errors() -> None:
    model = KAN([2, 1])
    x = torch.zeros(4, 2)
    with pytest.raises(ShapeError, match=r"fit: y must have shape \(4, 1\); received \(4,\)"):
        fit(model, x, torch.zeros(4))
    with pytest.raises(NonFiniteError, match=r"fit: y contains NaN"):
        fit(model, x, torch.full((4, 1), float("nan")))
    with pytest.raises(
        ConfigError, match=r"optimizer must be one of \['adam', 'lbfgs'\]; received 'sgd'"
    ):
        FitConfig(optimizer="sgd")
    with pytest.raises(ConfigError, match=r"unknown FitConfig key\(s\) \['lr'\]"):
        FitConfig.from_dict({"lr": 0.1})


def test_fit_reports_divergence_with_the_step() -> None:
    model = KAN([1, 1], dtype=torch.float64)
    x = torch.linspace(-1, 1, 20, dtype=torch.float64)[:, None]
    y = 1e200 * torch.ones(20, 1, dtype=torch.float64)
    with pytest.raises(NonFiniteError, match=r"the loss became inf at step 1; lower learning_rate"):
        fit(model, x, y, config=FitConfig(steps=5))


def test_grid_edits_are_deterministic() -> None:
    """Least squares uses a deterministic driver: the same edit twice gives identical models."""
    model = KAN([2, 4, 1], grid_size=5, dtype=torch.float64, generator=seeded())
    x = torch.rand(300, 2, dtype=torch.float64, generator=seeded(1)) * 2 - 1
    for edit in (
        lambda m: update_grid(m, x),
        lambda m: refine_grid(m, 9, x),
        lambda m: refine_grid(m, 10),
    ):
        first, second = edit(model), edit(model)
        for key, value in first.state_dict().items():
            assert torch.equal(value, second.state_dict()[key]), key
