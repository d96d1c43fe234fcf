"""kanphys KANs inside DeepXDE: training through dde.Model, hard constraints, float64,
save/restore, sparsity and grid callbacks, the formula read-out, and the import errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy
import torch

from kanphys.errors import ConfigError

pytestmark = pytest.mark.deepxde


def _poisson_1d(dde, *, hard: bool = False):
    """-u'' = pi^2 sin(pi x) on [-1, 1], u(+-1) = 0; u = sin(pi x)."""

    def pde(x, u):
        return -dde.grad.hessian(u, x) - np.pi**2 * torch.sin(np.pi * x)

    def solution(x):
        return np.sin(np.pi * x)

    geometry = dde.geometry.Interval(-1, 1)
    conditions = [] if hard else [dde.icbc.DirichletBC(geometry, solution, lambda _, b: b)]
    data = dde.data.PDE(geometry, pde, conditions, 64, 2, solution=solution, num_test=200)
    return data, solution


def _relative_error(model, solution) -> float:
    x = np.linspace(-1, 1, 401)[:, None]
    predicted = model.predict(x)
    return float(np.linalg.norm(predicted - solution(x)) / np.linalg.norm(solution(x)))


def test_poisson_1d_trains_below_1e_3_through_dde_model(dde):
    from kanphys.deepxde import KAN

    data, solution = _poisson_1d(dde)
    net = KAN([1, 6, 1], grid_size=8, input_bounds=(-1, 1), seed=0)
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2)
    model.train(iterations=1500, display_every=10**6)
    model.compile("L-BFGS")
    model.train(display_every=10**6)
    assert _relative_error(model, solution) < 1e-3
    assert net.num_trainable_parameters() == sum(p.numel() for p in net.kan.parameters())


def test_hard_constraint_output_transform_is_honoured(dde):
    from kanphys.deepxde import KAN

    data, _ = _poisson_1d(dde, hard=True)
    net = KAN([1, 6, 1], grid_size=8, input_bounds=(-1, 1), seed=1)
    net.apply_output_transform(lambda x, u: (1 - x**2) * u)
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2)
    model.train(iterations=300, display_every=10**6)
    ends = model.predict(np.array([[-1.0], [1.0]]))
    assert np.all(ends == 0.0)  # exactly: the transform multiplies by 1 - x^2 = 0
    inner = model.predict(np.array([[0.5]]))
    assert abs(float(inner[0, 0]) - 1.0) < 0.3  # and the network trains under it


def test_feature_transform_is_applied(dde):
    from kanphys.deepxde import KAN

    net = KAN([2, 3, 1], input_bounds=([0, 0], [1, 1]), seed=0)
    x = torch.rand(10, 1, dtype=dde.config.real(torch))
    net.apply_feature_transform(lambda z: torch.cat([z, z**2], dim=1))
    expected = net.kan(2 * torch.cat([x, x**2], dim=1) - 1)
    assert torch.allclose(net(x), expected)


def test_bad_inputs_are_clear_errors_and_training_reads_no_values(dde):
    from kanphys.deepxde import KAN
    from kanphys.errors import NonFiniteError, ShapeError, TensorTypeError

    net = KAN([2, 3, 1], input_bounds=([0, 0], [1, 1]), seed=0)
    real = dde.config.real(torch)
    with pytest.raises(ShapeError, match=r"kanphys.deepxde.KAN: inputs must have shape \(N, 2\)"):
        net(torch.zeros(4, 3, dtype=real))
    with pytest.raises(TensorTypeError, match=r"inputs has dtype torch\.float16"):
        net(torch.zeros(4, 2, dtype=torch.float16))
    bad = torch.tensor([[0.5, float("nan")], [0.2, 0.3]], dtype=real)
    net.eval()  # predictions (DeepXDE's predict) check the values
    with pytest.raises(NonFiniteError, match="inputs contains NaN or infinite values in 1 of 2"):
        net(bad)
    net.train()  # training steps do not read them: the NaN reaches the output row only
    out = net(bad)
    assert torch.isnan(out[0]).all() and torch.isfinite(out[1]).all()


def test_float64_parameters_follow_deepxde(dde):
    from kanphys.deepxde import KAN

    dde.config.set_default_float("float64")
    try:
        net = KAN([1, 4, 1], input_bounds=(-1, 1))
        assert all(p.dtype == torch.float64 for p in net.parameters())
        data, _ = _poisson_1d(dde)
        model = dde.Model(data, net)
        model.compile("adam", lr=1e-2)
        model.train(iterations=20, display_every=10**6)
        assert model.predict(np.zeros((1, 1))).dtype == np.float64
    finally:
        dde.config.set_default_float("float32")
    assert all(p.dtype == torch.float32 for p in KAN([1, 4, 1]).parameters())


def test_save_and_restore_round_trip(dde, tmp_path):
    from kanphys.deepxde import KAN

    data, _ = _poisson_1d(dde)
    net = KAN([1, 5, 1], grid_size=6, input_bounds=(-1, 1), seed=2)
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2)
    model.train(iterations=50, display_every=10**6)
    path = model.save(str(tmp_path / "model"))
    x = np.linspace(-1, 1, 17)[:, None]
    before = model.predict(x)
    fresh = KAN([1, 5, 1], grid_size=6, input_bounds=(-1, 1), seed=3)
    restored = dde.Model(data, fresh)
    restored.compile("adam", lr=1e-2)
    restored.restore(path)
    np.testing.assert_array_equal(restored.predict(x), before)


def test_sparsity_callback_adds_a_loss_term_and_sparsifies(dde):
    from kanphys.deepxde import KAN, Sparsity

    data, _ = _poisson_1d(dde)
    net = KAN([1, 6, 1], grid_size=6, input_bounds=(-1, 1), seed=4)
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2, loss_weights=[1.0, 1.0])
    callback = Sparsity(weight=1e-2)
    _, state = model.train(iterations=100, display_every=10**6, callbacks=[callback])
    # three loss terms while training: the PDE, the boundary, and the penalty
    assert len(state.loss_train) == 3
    x = torch.linspace(-1, 1, 64, dtype=dde.config.real(torch))[:, None]
    with torch.no_grad():
        penalised = float(callback.penalty(x))
    assert penalised == pytest.approx(float(state.loss_train[-1]), rel=0.5)
    # the same training without the penalty leaves larger edge magnitudes
    twin = KAN([1, 6, 1], grid_size=6, input_bounds=(-1, 1), seed=4)
    plain = dde.Model(data, twin)
    plain.compile("adam", lr=1e-2, loss_weights=[1.0, 1.0])
    plain.train(iterations=100, display_every=10**6)
    with torch.no_grad():
        free = float(Sparsity(weight=1e-2).penalty(x, net=twin))
    assert penalised < free
    # restored afterwards
    assert model.loss_weights == [1.0, 1.0]
    assert "losses_train" not in model.data.__dict__
    with pytest.raises(ConfigError, match="Sparsity: weight must be a finite number >= 0"):
        Sparsity(weight=-1)


def test_grid_update_callback_rebuilds_the_optimiser(dde):
    from kanphys.deepxde import KAN, GridUpdate

    data, solution = _poisson_1d(dde)
    net = KAN([1, 6, 1], grid_size=6, input_bounds=(-1, 1), seed=5)
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2)
    callback = GridUpdate(period=100)
    model.train(iterations=300, display_every=10**6, callbacks=[callback])
    assert callback.updates == 3
    trained = {id(p) for p in net.parameters()}
    optimised = {id(p) for group in model.opt.param_groups for p in group["params"]}
    assert trained <= optimised  # the optimiser follows the new parameters
    assert _relative_error(model, solution) < 0.5
    with pytest.raises(ConfigError, match="GridUpdate: period must be an integer >= 1"):
        GridUpdate(period=0)
    with pytest.raises(ConfigError, match="GridUpdate: warmup must be an integer >= 0"):
        GridUpdate(warmup=-1)


def test_grid_update_ramps_the_step_size_back_up(dde):
    from kanphys.deepxde import KAN, GridUpdate

    class Rates(dde.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.rates: list[float] = []

        def on_batch_begin(self) -> None:  # after GridUpdate's: the step size of this step
            self.rates.append(self.model.opt.param_groups[0]["lr"])

    data, _ = _poisson_1d(dde)
    net = KAN([1, 4, 1], grid_size=6, input_bounds=(-1, 1), seed=5)
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2)
    rates = Rates()
    model.train(
        iterations=22, display_every=10**6, callbacks=[GridUpdate(period=10, warmup=4), rates]
    )
    # iterations 1-10 at full size; the update after 10, then 1/5, 2/5, ... of it, then full
    ramp = [2e-3, 4e-3, 6e-3, 8e-3, 1e-2]
    assert rates.rates == pytest.approx([1e-2] * 10 + ramp + [1e-2] * 5 + ramp[:2])
    assert model.opt.param_groups[0]["lr"] == 1e-2  # stopped mid-ramp: restored


def test_to_formula_reads_a_trained_network(dde):
    """A KAN trained (through DeepXDE) to fit u = sin(pi x) reads back as sin(pi x)."""
    from kanphys.deepxde import KAN, to_formula

    geometry = dde.geometry.Interval(-1, 1)
    x_train = np.linspace(-1, 1, 200)[:, None]
    data = dde.data.DataSet(
        X_train=x_train, y_train=np.sin(np.pi * x_train), X_test=x_train,
        y_test=np.sin(np.pi * x_train),
    )  # fmt: skip
    assert geometry.inside(x_train).all()
    net = KAN([1, 1], grid_size=10, input_bounds=(-1, 1), seed=0)
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-2)
    model.train(iterations=1000, display_every=10**6)
    model.compile("L-BFGS")
    model.train(display_every=10**6)
    (formula,) = to_formula(net, x_train, names=["x"])
    x = sympy.Symbol("x", real=True)
    values = sympy.lambdify(x, formula, "numpy")(x_train[:, 0])
    assert np.max(np.abs(values - np.sin(np.pi * x_train[:, 0]))) < 1e-3
    assert formula.has(sympy.sin)


def test_missing_deepxde_is_a_clear_error():
    script = textwrap.dedent(
        """
        import sys
        sys.modules["deepxde"] = None  # as if not installed
        from kanphys.deepxde import load_deepxde
        try:
            load_deepxde()
        except Exception as err:
            print(type(err).__name__, err)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "ConfigError" in out.stdout
    assert "pip install 'kanphys[deepxde]'" in out.stdout


def test_wrong_backend_is_a_clear_error():
    pytest.importorskip("deepxde")
    script = textwrap.dedent(
        """
        from kanphys.deepxde import load_deepxde
        try:
            load_deepxde()
        except Exception as err:
            print(type(err).__name__, err)
        """
    )
    env = {**os.environ, "DDE_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert "ConfigError" in out.stdout
    assert "DDE_BACKEND=pytorch" in out.stdout and "'jax'" in out.stdout


def test_the_backend_is_chosen_without_writing_deepxde_config(tmp_path):
    pytest.importorskip("deepxde")
    script = textwrap.dedent(
        """
        import os
        from kanphys.deepxde import load_deepxde
        dde = load_deepxde()
        print(dde.backend.backend_name, os.environ["DDE_BACKEND"])
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DDE_BACKEND", "DDEBACKEND")}
    env["HOME"] = str(tmp_path)  # no config file there
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.stdout.split()[-2:] == ["pytorch", "pytorch"], out.stderr
    assert not (tmp_path / ".deepxde").exists()
