"""User-facing errors not covered elsewhere: each names the argument and what is allowed."""

from __future__ import annotations

import pytest
import torch

import kanphys
from kanphys import KAN, FitConfig, fit
from kanphys.basis import curve_to_coefficients, get_basis, uniform_knots
from kanphys.errors import ConfigError, KanphysError, ShapeError
from kanphys.layers import KANLayer, refine_grid
from kanphys.models import KANConfig


def test_every_error_is_a_kanphys_error_and_a_builtin() -> None:
    for cls in (kanphys.ConfigError, kanphys.ShapeError, kanphys.NonFiniteError, kanphys.SpecError):
        assert issubclass(cls, KanphysError) and issubclass(cls, ValueError)
    assert issubclass(kanphys.CheckpointError, OSError)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_cuda_requested_without_cuda() -> None:
    with pytest.raises(ConfigError, match=r"device 'cuda' was requested but CUDA is not available"):
        KAN([2, 1], device="cuda")


def test_non_tensor_input() -> None:
    with pytest.raises(ShapeError, match=r"KAN: x must be a torch.Tensor; received list"):
        KAN([2, 1])([[0.0, 0.0]])  # type: ignore[arg-type]


def test_curve_to_coefficients_arguments() -> None:
    family = get_basis("bspline")
    knots = uniform_knots(1, 4, 3, dtype=torch.float64)
    x = torch.rand(20, 1, dtype=torch.float64)
    with pytest.raises(ConfigError, match=r"ridge must be >= 0; received -1"):
        curve_to_coefficients(x, x[:, :, None], knots, family, 4, 3, ridge=-1.0)
    with pytest.raises(ShapeError, match=r"expects x of shape \(N, d\) and y of shape \(N, d, m\)"):
        curve_to_coefficients(x, x, knots, family, 4, 3)


def test_refine_grid_needs_enough_samples() -> None:
    layer = KANLayer(1, 1, grid_size=3, dtype=torch.float64)
    with pytest.raises(
        ConfigError, match=r"at least as many samples as basis functions \(13\); received 5"
    ):
        refine_grid(layer, 10, torch.rand(5, 1, dtype=torch.float64))
    with pytest.raises(ConfigError, match=r"grid_size must be an integer >= 1; received 0"):
        refine_grid(layer, 0)


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match=r"noise_scale must be a number >= 0; received -0.5"):
        KANConfig(width=[2, 1], noise_scale=-0.5)
    with pytest.raises(ConfigError, match=r"KANConfig expects a dict; received list"):
        KANConfig.from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match=r"unknown KANConfig key\(s\) \['grid'\]; allowed keys are"
    ):
        KANConfig.from_dict({"width": [2, 1], "grid": 5})
    with pytest.raises(ConfigError, match=r"spline_order must be an integer >= 0; received -1"):
        KAN([2, 1], spline_order=-1)
    with pytest.raises(ConfigError, match=r"grid_range must be a pair \(low, high\)"):
        KAN([2, 1], grid_range="wide")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"learning_rate must be a number > 0; received 0"):
        FitConfig(learning_rate=0)
    with pytest.raises(ConfigError, match=r"steps must be an integer >= 1; received 2.5"):
        FitConfig(steps=2.5)  # type: ignore[arg-type]


def test_config_round_trip() -> None:
    config = KAN([3, [4, 2], 2], basis="rbf", grid_size=7, grid_range=(-2, 3)).config
    assert KANConfig.from_dict(config.to_dict()) == config
    assert FitConfig.from_dict(FitConfig(steps=7).to_dict()) == FitConfig(steps=7)


def test_fit_with_minibatches_and_grid_updates() -> None:
    """Adam on mini-batches with grid updates: grids follow the data and the loss drops."""
    g = torch.Generator().manual_seed(0)
    x = (
        torch.rand(512, 1, dtype=torch.float64, generator=g) * 0.5 + 0.25
    )  # data inside [0.25, 0.75]
    y = torch.sin(6 * x)
    model = KAN([1, 3, 1], grid_size=5, dtype=torch.float64, generator=g)
    config = FitConfig(
        steps=300,
        learning_rate=2e-2,
        batch_size=64,
        grid_update_every=50,
        grid_update_until=200,
        log_every=50,
    )
    result = fit(model, x, y, config=config, generator=torch.Generator().manual_seed(1))
    points = model.layers[0].grid[0, 3:-3]
    assert points[0] >= 0.25 - 1e-12 and points[-1] <= 0.75 + 1e-12
    assert result.history["step"] == [50, 100, 150, 200, 250, 300]
    assert result.history["loss"][-1] < 0.1 * result.history["loss"][0]


def test_dtype_and_device_mismatch() -> None:
    model = KAN([2, 1], dtype=torch.float64)
    with pytest.raises(
        kanphys.TensorTypeError,
        match=r"KAN: x has dtype torch.float32 but the parameters are torch.float64; convert with",
    ):
        model(torch.zeros(3, 2))
    layer = KANLayer(2, 1, dtype=torch.float32)
    with pytest.raises(kanphys.TensorTypeError, match=r"KANLayer: x has dtype torch.float64"):
        layer.trace(torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(kanphys.TensorTypeError, match=r"fit: x has dtype torch.float32"):
        fit(model, torch.zeros(4, 2), torch.zeros(4, 1, dtype=torch.float64))
    meta = torch.zeros(3, 2, dtype=torch.float64, device="meta")
    with pytest.raises(
        kanphys.TensorTypeError, match=r"x is on device meta but the parameters are on cpu"
    ):
        model(meta)


def test_fit_warns_when_data_leave_the_grid(caplog: pytest.LogCaptureFixture) -> None:
    model = KAN([1, 1], dtype=torch.float64)
    x = torch.linspace(0, 5, 40, dtype=torch.float64)[:, None]  # grid_range is (-1, 1)
    with caplog.at_level("WARNING", logger="kanphys.training.fit"):
        fit(model, x, torch.sin(x), config=FitConfig(steps=2))
    assert "80.0% of the inputs lie outside the first layer's grid range" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="kanphys.training.fit"):
        fit(model, x / 5, torch.sin(x), config=FitConfig(steps=2))
    assert caplog.text == ""


def test_fit_config_defaults_depend_on_the_optimizer() -> None:
    assert FitConfig(optimizer="adam").learning_rate == 1e-2
    assert FitConfig(optimizer="lbfgs").learning_rate == 1.0
    assert FitConfig(steps=70, grid_update_every=10).grid_update_until == 70


def test_layer_accepts_dtype_names_and_auto_device() -> None:
    layer = KANLayer(2, 2, dtype="float64", device="auto")
    assert layer.coefficients.dtype == torch.float64
    with pytest.raises(ConfigError, match=r"dtype must be one of \['float32', 'float64'\]"):
        KANLayer(2, 2, dtype="half")


def test_fit_does_not_warn_after_refining_on_the_data(caplog: pytest.LogCaptureFixture) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(500, 2, dtype=torch.float64, generator=g) * 2 - 1
    model = kanphys.refine_grid(KAN([2, 3, 1], dtype=torch.float64, generator=g), 8, x)
    with caplog.at_level("WARNING", logger="kanphys.training.fit"):
        fit(model, x, x[:, :1] * x[:, 1:], config=FitConfig(steps=2))
    assert caplog.text == ""
