"""Symbolic edges inside KAN layers: values, traces, structural edits, checkpoints, auto fit."""

from __future__ import annotations

import json

import pytest
import torch

from kanphys.basis import curve_to_coefficients, get_basis
from kanphys.errors import CheckpointError, ConfigError, ShapeError
from kanphys.io.checkpoint import load_model, model_payload, save_model, save_payload
from kanphys.layers import SymbolicEdges
from kanphys.models import KAN
from kanphys.models.grid import update_grid
from kanphys.models.kan import KANConfig
from kanphys.pde.derivatives import select_engine
from kanphys.pde.model import PDEModel
from kanphys.symbolic.fix import auto_symbolic, fix_symbolic
from kanphys.symbolic.library import DEFAULT_LIBRARY, make_primitive

F64 = torch.float64


def points(n: int, d: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 2 * torch.rand(n, d, generator=generator, dtype=F64) - 1


def reference(edges: list[tuple[int, int, str]], affine: torch.Tensor, x: torch.Tensor, out: int):
    """Per-edge loop: ``out[:, j] += a f(b x_i + c) + d`` with the exact torch function."""
    result = torch.zeros(x.shape[0], out, dtype=x.dtype)
    values = []
    for (i, j, name), (a, b, c, d) in zip(edges, affine.tolist(), strict=True):
        value = a * DEFAULT_LIBRARY[name].torch_fn(b * x[:, i] + c) + d
        result[:, j] += value
        values.append(value)
    return result, values


def test_symbolic_edges_match_the_per_edge_definition(tol) -> None:
    atol = tol.values(F64, scale=10.0)
    edges = [(2, 1, "sin"), (0, 0, "exp"), (1, 1, "x^2"), (0, 1, "sin"), (2, 0, "tanh")]
    affine = torch.tensor(
        [
            [1.5, 2.0, 0.3, -0.2],
            [0.5, -1.0, 0.1, 1.0],
            [2.0, 0.7, 0.0, 0.0],
            [1, 1, 0, 0],
            [3, 1, 1, 1],
        ],
        dtype=F64,
    )
    module = SymbolicEdges(3, 2, *zip(*edges, strict=True), affine, dtype=F64)
    x = points(40, 3)
    expected, values = reference(edges, affine, x, 2)
    torch.testing.assert_close(module(x), expected, rtol=0, atol=atol)
    # storage is sorted by (i, j); edges() follows that order
    order = sorted(range(len(edges)), key=lambda e: edges[e][:2])
    assert module.pairs() == [edges[e] for e in order]
    torch.testing.assert_close(module.edges(x), torch.stack([values[e] for e in order], 1))


def test_plain_kan_has_no_symbolic_state() -> None:
    model = KAN([2, 3, 1], dtype=F64)
    assert not model.has_symbolic
    assert all(layer.symbolic is None for layer in model.kan_layers())
    assert not any("symbolic" in key for key in model.state_dict())
    assert model.config.symbolic == ()


def test_layer_trace_includes_symbolic_edges(tol) -> None:
    atol = tol.values(F64, scale=10.0)
    model = fix_symbolic(
        KAN([2, 3, 1], dtype=F64, generator=torch.Generator().manual_seed(0)),
        [(0, 1, 2), (1, 0, 0)],
        ["sin", "x^2"],
        [[2.0, 1.5, 0.1, 0.3], [1.0, 1.0, 0.0, 0.5]],
    )
    x = points(30, 2)
    trace = model.trace(x)
    first = trace.layers[0]
    torch.testing.assert_close(first.edges[:, 1, 2], 2 * torch.sin(1.5 * x[:, 1] + 0.1) + 0.3)
    torch.testing.assert_close(trace.nodes[-1], model(x), rtol=0, atol=atol)
    assert model.layers[0].mask[1, 2] == 0 and model.layers[1].mask[0, 0] == 0
    assert bool(model.layers[0].active_edges().all())


def test_fix_symbolic_returns_a_new_model_and_leaves_the_input_alone() -> None:
    model = KAN([2, [2, 1], 1], dtype=F64, generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new = fix_symbolic(model, [(0, 0, 0), (0, 1, 3)], ["exp", "cos"])
    assert new is not model and not model.has_symbolic and new.has_symbolic
    assert model.config.symbolic == ()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert new.config.symbolic == ((0, 0, 0, "exp"), (0, 1, 3, "cos"))
    torch.testing.assert_close(
        new.layers[0].symbolic.affine, torch.tensor([[1.0, 1, 0, 0]] * 2, dtype=F64)
    )
    # fixing an edge again replaces it; other symbolic edges stay
    again = fix_symbolic(new, (0, 0, 0), "sin", [[2.0, 1.0, 0.0, 0.0]])
    assert again.config.symbolic == ((0, 0, 0, "sin"), (0, 1, 3, "cos"))
    assert new.config.symbolic[0][3] == "exp"


def test_fixed_model_trains_every_affine_parameter() -> None:
    model = fix_symbolic(
        KAN([2, 2, 1], dtype=F64, generator=torch.Generator().manual_seed(2)),
        [(0, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0)],
        ["sin", "exp", "x^2", "tanh"],
        torch.tensor([[1.0, 1.2, 0.1, 0.2]] * 4, dtype=F64),
    )
    x = points(50, 2)
    target = torch.sin(x[:, :1]) * x[:, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = torch.mean((model(x) - target) ** 2)
        loss.backward()
        losses.append(float(loss.detach()))
        for layer in model.kan_layers():
            grad = layer.symbolic.affine.grad
            assert grad is not None and bool(torch.isfinite(grad).all())
            assert bool((grad.abs() > 0).all())
        optimizer.step()
    assert losses[-1] < losses[0]


def test_safe_functions_keep_training_finite_outside_the_domain() -> None:
    model = fix_symbolic(KAN([1, 1], dtype=F64), (0, 0, 0), "log", [[1.0, 1.0, -5.0, 0.0]])
    x = points(20, 1)
    out = model(x)
    out.sum().backward()
    assert bool(torch.isfinite(out).all())
    assert bool(torch.isfinite(model.layers[0].symbolic.affine.grad).all())


def test_save_load_round_trip_reproduces_outputs(tmp_path) -> None:
    model = fix_symbolic(
        KAN([2, [1, 1], 1], dtype=F64, generator=torch.Generator().manual_seed(3)),
        [(0, 0, 0), (0, 1, 2), (1, 1, 0)],
        ["sin", "gaussian", "x^3"],
        torch.tensor([[1.5, 2.0, 0.5, 0.1], [0.3, 1.1, -0.2, 0.0], [0.7, 0.9, 0.1, -0.4]]),
    )
    path = save_model(model, tmp_path / "model.pt")
    loaded = load_model(path)
    x = points(25, 2)
    assert loaded.config == model.config
    assert torch.equal(loaded(x), model(x))
    assert loaded.dtype == F64


def test_checkpoint_without_symbolic_field_still_loads(tmp_path) -> None:
    model = KAN([2, 2, 1], dtype=F64, generator=torch.Generator().manual_seed(4))
    payload = model_payload(model)
    config = json.loads(payload["config"])
    del config["symbolic"]
    payload["config"] = json.dumps(config)
    loaded = load_model(save_payload(payload, tmp_path / "old.pt"))
    x = points(10, 2)
    assert loaded.config.symbolic == ()
    assert torch.equal(loaded(x), model(x))


def test_custom_library_needs_library_to_rebuild(tmp_path, tol) -> None:
    atol = tol.values(F64, scale=10.0)
    cube = make_primitive("cube", lambda u: u**3, lambda u: u**3, 3)
    library = DEFAULT_LIBRARY.with_primitives(cube)
    model = fix_symbolic(
        KAN([1, 1], dtype=F64), (0, 0, 0), "cube", [[2.0, 1, 0, 0]], library=library
    )
    x = points(10, 1)
    torch.testing.assert_close(model(x)[:, 0], 2 * x[:, 0] ** 3, rtol=0, atol=atol)
    with pytest.raises(
        ConfigError, match=r"unknown primitive 'cube' \(for a custom library pass library="
    ):
        KAN.from_config(model.config.to_dict(), dtype=F64)
    rebuilt = KAN.from_config(model.config.to_dict(), dtype=F64, library=library)
    rebuilt.load_state_dict(model.state_dict())
    assert torch.equal(rebuilt(x), model(x))
    path = save_model(model, tmp_path / "custom.pt")
    with pytest.raises(CheckpointError, match="pass library="):
        load_model(path)
    assert torch.equal(load_model(path, library=library)(x), model(x))


def test_grid_update_keeps_symbolic_edges() -> None:
    model = fix_symbolic(KAN([2, 3, 1], dtype=F64), [(0, 0, 1)], ["sin"], [[1.0, 2.0, 0.0, 0.0]])
    updated = update_grid(model, points(64, 2))
    assert updated.config.symbolic == model.config.symbolic
    torch.testing.assert_close(updated.layers[0].symbolic.affine, model.layers[0].symbolic.affine)


def test_taylor_engine_is_not_used_with_symbolic_edges() -> None:
    bounds = [(-1.0, 1.0), (-1.0, 1.0)]
    requests = [("u", ()), ("u", ("x",)), ("u", ("x", "x"))]
    plain = KAN([2, 3, 1], dtype=F64)
    assert select_engine("auto", PDEModel(plain, ("x", "y"), bounds), requests).name == "taylor"
    fixed = fix_symbolic(plain, (0, 0, 0), "sin")
    model = PDEModel(fixed, ("x", "y"), bounds)
    assert select_engine("auto", model, requests).name == "autograd"
    with pytest.raises(ConfigError, match="derivatives='taylor' does not support"):
        select_engine("taylor", model, requests)


def spline_kan(functions) -> KAN:
    """A [2, 1] KAN whose two edges are spline fits of ``functions`` on [-1, 1]."""
    model = KAN([2, 1], grid_size=20, base_activation=None, dtype=F64)
    layer = model.layers[0]
    x = torch.linspace(-1, 1, 200, dtype=F64)[:, None].expand(-1, 2).contiguous()
    y = torch.stack([f(x[:, k]) for k, f in enumerate(functions)], dim=1)[:, :, None]
    with torch.no_grad():
        layer.coefficients.copy_(
            curve_to_coefficients(x, y, layer.grid, get_basis("bspline"), 20, 3)
        )
        layer.spline_weight.fill_(1.0)
    return model


FIT = {
    "library": ["0", "x", "x^2", "sin", "exp", "tanh"],
    "grid_points": (16, 11),
    "refine_steps": 30,
}


def test_auto_symbolic_recovers_the_primitives() -> None:
    model = spline_kan([lambda u: torch.sin(2 * u), lambda u: torch.exp(-u)])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = points(200, 2)
    new, report = auto_symbolic(model, x, **FIT)
    assert report.names() == {(0, 0, 0): "sin", (0, 1, 0): "exp"}
    assert all(edge.r2 > 1 - 1e-6 for edge in report.edges)
    assert report.edges[0].candidates[0][0] == "sin"
    a, b, _, _ = report.edges[0].params
    assert abs(b - 2) < 1e-3 and abs(a - 1) < 1e-3
    assert not model.has_symbolic and all(
        torch.equal(v, before[k]) for k, v in model.state_dict().items()
    )
    # the spline fit of the curves is accurate to ~h^4 ~ 1e-6
    torch.testing.assert_close(new(x), model(x), rtol=0, atol=1e-4)


def test_auto_symbolic_min_r2_leaves_poor_fits_numeric() -> None:
    model = spline_kan([lambda u: torch.sin(2 * u), lambda u: torch.exp(-u)])
    new, report = auto_symbolic(model, points(100, 2), min_r2=1.5, **FIT)
    assert new is not model and not new.has_symbolic
    assert len(report.numeric) == 2 and report.fixed == ()


def test_auto_symbolic_fits_later_layers_on_fixed_earlier_layers() -> None:
    model = KAN([2, 2, 1], grid_size=5, dtype=F64, generator=torch.Generator().manual_seed(5))
    new, report = auto_symbolic(model, points(64, 2), **FIT)
    assert {(e.layer, e.i, e.j) for e in report.edges} == {
        (0, 0, 0),
        (0, 0, 1),
        (0, 1, 0),
        (0, 1, 1),
        (1, 0, 0),
        (1, 1, 0),
    }
    assert len(new.config.symbolic) == 6
    # layer 1 was fitted on the values the *symbolic* layer 0 produces
    trace = new.trace(points(64, 2))
    hidden = trace.layers[1].inputs
    assert torch.equal(hidden, trace.nodes[1])


def test_symbolic_errors() -> None:
    model = KAN([2, 2, 1], dtype=F64)
    with pytest.raises(ConfigError, match=r"edge \(0, 2, 0\).*layer 0 has 2 inputs"):
        fix_symbolic(model, [(0, 2, 0)], ["sin"])
    with pytest.raises(ConfigError, match=r"edge \(3, 0, 0\): layer must be in \[0, 1\]"):
        fix_symbolic(model, [(3, 0, 0)], ["sin"])
    with pytest.raises(ConfigError, match="duplicates"):
        fix_symbolic(model, [(0, 0, 0), (0, 0, 0)], ["sin", "exp"])
    with pytest.raises(ConfigError, match="names must have one entry per edge"):
        fix_symbolic(model, [(0, 0, 0), (0, 1, 0)], ["sin"])
    with pytest.raises(ConfigError, match="unknown primitive 'sinc'"):
        fix_symbolic(model, [(0, 0, 0)], ["sinc"])
    with pytest.raises(ShapeError, match=r"params must have shape \(1, 4\)"):
        fix_symbolic(model, [(0, 0, 0)], ["sin"], [[1.0, 2.0]])
    with pytest.raises(ConfigError, match="edges must be a non-empty list"):
        fix_symbolic(model, [], [])
    pruned = KAN([2, 2, 1], dtype=F64)
    with torch.no_grad():
        pruned.layers[0].mask[1, 1] = 0
    with pytest.raises(ConfigError, match=r"edge \(0, 1, 1\) is pruned"):
        fix_symbolic(pruned, [(0, 1, 1)], ["sin"])
    message = r"symbolic edge \(1, 0, 1, 'sin'\): layer 1 has 2 inputs and 1 outputs"
    with pytest.raises(ConfigError, match=message):
        KANConfig(width=[2, 2, 1], symbolic=[(1, 0, 1, "sin")])
    with pytest.raises(ConfigError, match=r"entries must be \[layer, i, j, primitive name\]"):
        KANConfig(width=[2, 2, 1], symbolic=[(1, 0, "sin")])
    with pytest.raises(ConfigError, match="do not pass symbolic="):
        model.with_layers(model.kan_layers(), symbolic=())
    with pytest.raises(ConfigError, match=r"affine parameters .* must be finite"):
        SymbolicEdges(2, 1, [0], [0], ["sin"], [[1.0, float("nan"), 0.0, 0.0]])


def test_subset_reindexes_edges_for_pruning() -> None:
    affine = torch.tensor([[1.0, 2, 0, 0], [3.0, 1, 0, 0], [5.0, 1, 0, 1]], dtype=F64)
    module = SymbolicEdges(3, 3, [0, 2, 2], [1, 0, 2], ["sin", "exp", "x"], affine, dtype=F64)
    kept = module.subset([2, 0], [2, 0])  # new input 0 = old 2, new output 0 = old 2
    assert kept is not None
    assert kept.pairs() == [(0, 0, "x"), (0, 1, "exp")]
    torch.testing.assert_close(kept.affine, affine[[2, 1]])
    assert module.subset([1], [0, 1, 2]) is None
