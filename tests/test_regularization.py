"""Sparsity regulariser: values against a hand computation, gradients, fit and PDE integration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from kanphys.errors import ConfigError, SpecError
from kanphys.io.spec import load_problem, problem_from_dict
from kanphys.models import KAN, MLP
from kanphys.training import FitConfig, fit
from kanphys.training.pinn import prepare, train
from kanphys.training.pinn_config import settings_from_tables
from kanphys.training.regularization import (
    SparsityConfig,
    edge_magnitudes,
    evenly_spaced_rows,
    sparsity_loss,
    sparsity_penalty,
)
from kanphys.training.solve import solve

# edge constants of a [2, 2, 1] KAN without base function: with all coefficients of an edge
# equal to a, the B-spline partition of unity makes phi(x) = a on the grid range [-1, 1]
LAYER0 = np.array([[0.1, 0.2], [0.3, 0.0]])  # hidden nodes 0.4 and 0.2 stay in [-1, 1]
LAYER1 = np.array([[0.5], [-0.25]])

HEAT = {
    "name": "heat-sparse",
    "description": "heat equation, tiny run with the sparsity penalty",
    "fields": ["u"],
    "equations": ["u_t = u_xx/pi**2"],
    "domain": {"x": [-1.0, 1.0], "t": [0.0, 1.0], "time": "t"},
    "conditions": [
        {"where": "t = 0", "equation": "u = sin(pi*x)"},
        {"where": "boundary", "equation": "u = 0"},
    ],
}
TINY = {"steps": 3, "lbfgs_steps": 1, "n_collocation": 64, "n_boundary": 32, "log_every": 1}


def constant_edge_kan() -> KAN:
    model = KAN([2, 2, 1], base_activation=None, dtype=torch.float64)
    with torch.no_grad():
        for layer, constants in zip(model.kan_layers(), (LAYER0, LAYER1), strict=True):
            layer.spline_weight.fill_(1.0)
            layer.coefficients.copy_(
                torch.tensor(constants).unsqueeze(-1).expand_as(layer.coefficients)
            )
    return model


def hand_penalty(l1: float, entropy: float) -> float:
    total = 0.0
    for magnitudes in (np.abs(LAYER0), np.abs(LAYER1)):
        norm = magnitudes.sum()
        share = magnitudes[magnitudes > 0] / norm
        total += l1 * norm - entropy * float(np.sum(share * np.log(share)))
    return total


def random_batch(n: int, d: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=generator, dtype=torch.float64) * 2 - 1


@pytest.mark.parametrize(("l1", "entropy"), [(1.0, 2.0), (0.5, 0.0), (0.0, 3.0)])
def test_penalty_matches_the_hand_computation(tol, l1: float, entropy: float) -> None:
    model = constant_edge_kan()
    x = random_batch(50, 2)
    magnitudes = edge_magnitudes(model, x)
    for computed, constants in zip(magnitudes, (LAYER0, LAYER1), strict=True):
        np.testing.assert_allclose(
            computed.detach().numpy(), np.abs(constants), atol=tol.values(torch.float64)
        )
    value = sparsity_penalty(model, x, l1=l1, entropy=entropy)
    assert value.dtype == torch.float64 and value.shape == ()
    # the zero edge of layer 0 contributes 0 to the entropy (p log p -> 0)
    assert float(value.detach()) == pytest.approx(
        hand_penalty(l1, entropy), abs=10 * tol.values(torch.float64)
    )


def test_gradient_reaches_every_parameter() -> None:
    generator = torch.Generator().manual_seed(3)
    model = KAN([2, [3, 1], 2], dtype=torch.float64, generator=generator)
    penalty = sparsity_penalty(model, random_batch(40, 2))
    penalty.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_switched_off_edges_keep_the_gradient_finite() -> None:
    model = constant_edge_kan()
    with torch.no_grad():
        model.kan_layers()[0].mask[0, 0] = 0.0  # an edge of magnitude exactly 0
    sparsity_penalty(model, random_batch(20, 2)).backward()
    for parameter in model.parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all()


def test_fit_with_sparsity_lowers_the_edge_magnitudes() -> None:
    x = random_batch(128, 3, seed=1)
    y = torch.sin(math.pi * x[:, :1]) + x[:, 1:2] ** 2
    l1_norms, results = [], []
    for weight in (0.0, 3e-2):
        model = KAN([3, 5, 1], dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        result = fit(model, x, y, config=FitConfig(steps=60, sparsity=weight, log_every=20))
        l1_norms.append(sum(float(m.detach().sum()) for m in edge_magnitudes(model, x)))
        results.append(result)
    assert l1_norms[1] < 0.8 * l1_norms[0]
    plain, sparse = (r.history for r in results)
    assert "sparsity" not in plain and "mse" not in plain
    assert len(sparse["sparsity"]) == len(sparse["mse"]) == len(sparse["step"]) == 3
    # the recorded loss is the objective: mse + weight * penalty
    for loss, mse, penalty in zip(sparse["loss"], sparse["mse"], sparse["sparsity"], strict=True):
        assert loss == pytest.approx(mse + 3e-2 * penalty, rel=1e-12)
    assert sparse["sparsity"][-1] < sparse["sparsity"][0]


def test_fit_with_sparsity_and_lbfgs() -> None:
    x = random_batch(64, 2, seed=4)
    y = x[:, :1] ** 2
    model = KAN([2, 3, 1], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    config = FitConfig(steps=3, optimizer="lbfgs", sparsity=1e-2, log_every=1)
    history = fit(model, x, y, config=config).history
    assert len(history["sparsity"]) == 3 and all(v > 0 for v in history["sparsity"])


def test_sparsity_config_and_loss() -> None:
    config = SparsityConfig(weight=0.5, l1=1, entropy=0, samples=10)
    assert config.enabled and config.l1 == 1.0 and isinstance(config.l1, float)
    assert SparsityConfig.from_dict(config.to_dict()) == config
    assert not SparsityConfig().enabled
    model = constant_edge_kan()
    x = random_batch(100, 2)
    rows = evenly_spaced_rows(x, 10)
    assert torch.equal(rows, x[::10])
    assert evenly_spaced_rows(x, 500) is x
    expected = 0.5 * sparsity_penalty(model, rows, l1=1, entropy=0).detach()
    assert float(sparsity_loss(model, x, config).detach()) == float(expected)
    off = sparsity_loss(model, x, SparsityConfig())
    assert float(off) == 0.0 and off.dtype == torch.float64


def test_errors() -> None:
    mlp = MLP([2, 4, 1], dtype=torch.float64)
    kan = constant_edge_kan()
    x = random_batch(10, 2)
    with pytest.raises(ConfigError, match=r"sparsity regularisation needs a KAN.*received MLP"):
        sparsity_penalty(mlp, x)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="l1 must be a finite number >= 0; received -1"):
        sparsity_penalty(kan, x, l1=-1)
    with pytest.raises(ConfigError, match="entropy must be a finite number >= 0; received nan"):
        sparsity_penalty(kan, x, entropy=math.nan)
    with pytest.raises(ConfigError, match=r"weight must be a finite number >= 0; received -0\.1"):
        SparsityConfig(weight=-0.1)
    with pytest.raises(ConfigError, match="entropy must be a finite number >= 0; received 'a'"):
        SparsityConfig(entropy="a")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="samples must be an integer >= 1; received 0"):
        SparsityConfig(samples=0)
    with pytest.raises(ConfigError, match=r"unknown SparsityConfig key\(s\) \['weigth'\]"):
        SparsityConfig.from_dict({"weigth": 1.0})
    with pytest.raises(ConfigError, match="sparsity must be a finite number >= 0; received -1"):
        FitConfig(sparsity=-1)
    with pytest.raises(ConfigError, match="sparsity_l1 must be a finite number >= 0; received inf"):
        FitConfig(sparsity_l1=math.inf)
    with pytest.raises(ConfigError, match="sparsity_entropy must be a finite number >= 0"):
        FitConfig(sparsity_entropy=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"fit: sparsity regularisation needs a KAN.*MLP"):
        fit(mlp, x, x[:, :1], config=FitConfig(steps=1, sparsity=0.1))


def test_pde_training_adds_and_records_the_penalty() -> None:
    problem = problem_from_dict(HEAT)
    overrides = {**TINY, "sparsity": 1e-2, "sparsity_l1": 0.5, "sparsity_entropy": 1.0}
    state = prepare(problem, training_overrides=overrides, device="cpu")
    network = state.model.network
    # the penalty sees the network's inputs: the points embedded in [-1, 1]
    inputs = state.model.embed(state.points["interior"])
    assert float(inputs.abs().max()) <= 1.0
    penalty = sparsity_penalty(network, inputs, l1=0.5, entropy=1.0)  # type: ignore[arg-type]
    expected = float(penalty.detach())
    train(state)
    first = state.history[0]
    assert first["loss_sparsity"] == pytest.approx(expected, rel=1e-12)
    physics = sum(value for key, value in first.items() if key.startswith("loss_equations"))
    assert first["loss"] == pytest.approx(physics + 1e-2 * expected, rel=1e-12)
    assert all("loss_sparsity" in row for row in state.history)
    assert "sparsity" in state.last_terms


def test_solve_with_sparsity_records_the_term_and_mlp_notes_it() -> None:
    problem = problem_from_dict(HEAT)
    result = solve(problem, training={**TINY, "sparsity": 1e-3}, device="cpu", plots=False)
    assert result.status == "completed"
    assert "sparsity" in result.metrics["loss_terms"]
    assert all(row["loss_sparsity"] > 0 for row in result.history)
    mlp = solve(
        problem,
        model={"type": "mlp"},
        training={**TINY, "steps": 1, "lbfgs_steps": 0, "sparsity": 1e-3},
        device="cpu",
        plots=False,
    )
    assert any("sparsity ignored" in note for note in mlp.metrics["notes"])
    assert "loss_sparsity" not in mlp.history[0]


def test_spec_reader_accepts_the_sparsity_keys(tmp_path: Path) -> None:
    spec = tmp_path / "sparse.toml"
    spec.write_text(
        """
name = "sparse"
fields = ["u"]
equations = ["u_xx = -1"]
conditions = [{ where = "boundary", equation = "u = 0" }]

[domain]
x = [0.0, 1.0]

[training]
sparsity = 1e-3
sparsity_l1 = 0.5
sparsity_entropy = 1
"""
    )
    problem = load_problem(spec)
    _, settings = settings_from_tables(problem.model, problem.training)
    assert (settings.sparsity, settings.sparsity_l1, settings.sparsity_entropy) == (1e-3, 0.5, 1.0)
    assert isinstance(settings.sparsity_entropy, float)
    assert settings.to_dict()["sparsity"] == 1e-3
    _, default = settings_from_tables({}, {})
    assert (default.sparsity, default.sparsity_l1, default.sparsity_entropy) == (0.0, 1.0, 2.0)
    with pytest.raises(SpecError, match=r"\[training\] sparsity must be a number >= 0"):
        settings_from_tables({}, {"sparsity": -1.0})
    with pytest.raises(SpecError, match=r"\[training\] sparsity_l1 must be a number >= 0.*'a'"):
        settings_from_tables({}, {"sparsity_l1": "a"})
    with pytest.raises(SpecError, match=r"\[training\] sparsity_entropy must be a number >= 0"):
        settings_from_tables({}, {"sparsity_entropy": math.inf})
