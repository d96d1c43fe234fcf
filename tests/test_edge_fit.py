"""Vectorised edge fitting: known curves a f(b x + c) + d are recovered, the right primitive is
chosen for many edges at once, degenerate inputs are handled and bad inputs are rejected."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import pytest
import torch

from kanphys.errors import ConfigError, NonFiniteError, ShapeError, TensorTypeError
from kanphys.symbolic import DEFAULT_LIBRARY, EdgeFits, fit_edges, make_primitive

A, B, C, D = 1.7, 2.3, 0.4, -0.3


def canonical_sine(params: Sequence[float]) -> tuple[float, float, float, float]:
    """Canonical (a, b, c, d) of a sin(b x + c) + d: a > 0, b > 0, c in (-pi, pi]."""
    a, b, c, d = params
    if b < 0:
        a, b, c = -a, -b, -c
    if a < 0:
        a, c = -a, c + math.pi
    c = math.pi - math.remainder(math.pi - c, 2 * math.pi)
    return a, b, c, d


def sine_edge(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(-1, 1, 200, dtype=dtype)[None]
    return x, A * torch.sin(B * x + C) + D


def test_recovers_sine_parameters_float64() -> None:
    fits = fit_edges(*sine_edge(torch.float64))
    ranking = fits.ranking(0)
    assert ranking[0][0] == "sin" and ranking[0][2] == 2
    assert 1 - ranking[0][1] < 1e-12
    got = canonical_sine(ranking[0][3])
    assert max(abs(g - e) for g, e in zip(got, (A, B, C, D), strict=True)) < 1e-6
    choice = fits.best()
    assert choice.names == ("sin",) and choice.indices.tolist() == [
        DEFAULT_LIBRARY.names.index("sin")
    ]
    assert choice.params.dtype == torch.float64 and choice.params.shape == (1, 4)


def test_recovers_sine_parameters_float32() -> None:
    fits = fit_edges(*sine_edge(torch.float32))
    assert fits.params.dtype == torch.float32 and fits.r2.dtype == torch.float32
    name = fits.ranking(0)[0][0]
    assert name in ("sin", "cos")  # equal to rounding in float32
    sin_params = fits.params[0, fits.names.index("sin")].tolist()
    got = canonical_sine(sin_params)
    assert max(abs(g - e) for g, e in zip(got, (A, B, C, D), strict=True)) < 1e-4


def test_many_edges_choose_the_right_primitive() -> None:
    n = 200
    generator = torch.Generator().manual_seed(0)
    cases = [  # (name, x range, curve, canonical (a, b, c, d))
        ("x^2", (-1, 1), lambda x: 1.3 * (x - 0.2) ** 2 + 0.1, (1.3, 1.0, -0.2, 0.1)),
        ("exp", (-1, 1), lambda x: 0.8 * torch.exp(1.5 * x) - 0.4, (0.8, 1.5, 0.0, -0.4)),
        ("1/x", (0.5, 2), lambda x: 0.7 / x + 0.2, (0.7, 1.0, 0.0, 0.2)),
        ("tanh", (-3, 3), lambda x: 1.2 * torch.tanh(0.8 * x + 0.1), (1.2, 0.8, 0.1, 0.0)),
        ("log", (0.5, 3), lambda x: 0.9 * torch.log(x) + 0.5, (0.9, 1.0, 0.0, 0.5)),
        ("0", (-1, 1), lambda x: 0.3 + 0 * x, (0.0, 1.0, 0.0, 0.3)),
    ]
    x = torch.stack([torch.linspace(*r, n, dtype=torch.float64) for _, r, _, _ in cases])
    y = torch.stack([f(row) for (_, _, f, _), row in zip(cases, x, strict=True)])
    y = y + 1e-6 * torch.randn(y.shape, generator=generator, dtype=torch.float64)
    fits = fit_edges(x, y)
    assert fits.params.shape == (6, len(DEFAULT_LIBRARY), 4) and fits.r2.shape == (6, 22)
    choice = fits.best()
    assert choice.names == tuple(name for name, *_ in cases)
    for e, (_, _, _, expected) in enumerate(cases[:-1]):
        assert 1 - float(choice.r2[e]) < 1e-9
        torch.testing.assert_close(
            choice.params[e], torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-4
        )
    assert abs(float(choice.params[5, 3]) - 0.3) < 1e-6 and float(choice.params[5, 0]) == 0


def test_constant_and_degenerate_edges() -> None:
    x = torch.linspace(-1, 1, 50, dtype=torch.float64)
    xs = torch.stack([x, x, torch.full_like(x, 0.5), 100 * x])
    ys = torch.stack([torch.full_like(x, 3.7), torch.zeros_like(x), torch.full_like(x, 2.0), x])
    fits = fit_edges(xs, ys)
    assert not bool(torch.isnan(fits.r2).any())
    # constant y: every feasible candidate fits exactly; the simplest, "0", is chosen
    feasible = torch.isfinite(fits.r2[:3])
    assert bool((fits.r2[:3][feasible] == 1).all()) and bool(feasible.all())
    choice = fits.best()
    assert choice.names[:3] == ("0", "0", "0")
    assert choice.params[:3, 3].tolist() == pytest.approx([3.7, 0.0, 2.0], abs=1e-12)
    # x in [-100, 100]: the grid is laid on each edge's own range, so the line y = x / 100 is
    # found exactly, and a wide input does not make the domain-restricted primitives infeasible
    assert choice.names[3] == "x" and float(choice.params[3, 0]) == pytest.approx(0.01)
    for name in ("sqrt", "log", "1/x"):
        k = fits.names.index(name)
        assert math.isfinite(float(fits.r2[3, k]))


def test_sine_on_a_wide_input_range() -> None:
    # b and c are searched in units of the edge's own input range: x in [-100, 100] works
    x = torch.linspace(-100, 100, 300, dtype=torch.float64)
    y = 2.0 * torch.sin(0.05 * x + 0.3) - 1.0
    fits = fit_edges(x[None], y[None])
    choice = fits.best()
    assert choice.names[0] == "sin" and 1 - float(choice.r2[0]) < 1e-10


def test_custom_library_and_names() -> None:
    x, y = sine_edge(torch.float64)
    fits = fit_edges(x, y, ["x", "sin", "0"])
    assert fits.names == ("x", "sin", "0") and fits.complexity.tolist() == [1, 2, 0]
    shifted = make_primitive("sin2", lambda u: torch.sin(u) ** 2, lambda u: u, 3)
    fits = fit_edges(
        x, 2 * torch.sin(x + 0.5) ** 2, DEFAULT_LIBRARY.subset(["x"]).with_primitives(shifted)
    )
    assert fits.best().names == ("sin2",) and 1 - float(fits.r2[0, 1]) < 1e-10


def test_best_trades_accuracy_for_complexity() -> None:
    names = ("0", "x", "sin")
    r2 = torch.tensor([[0.0, 0.999, 1.0], [0.0, 1 - 1e-7, 1.0], [0.0, 0.05, 0.09]])
    fits = EdgeFits(names, torch.zeros(3, 3, 4), r2, torch.tensor([0, 1, 2]))
    assert fits.best().names == ("sin", "x", "0")
    assert fits.best(complexity_weight=0.0).names == ("sin", "sin", "sin")
    assert fits.best(r2_tolerance=1e-2).names == ("x", "x", "0")
    with pytest.raises(
        ConfigError, match=r"r2_tolerance must be a finite number >= 0; received -1"
    ):
        fits.best(r2_tolerance=-1)
    with pytest.raises(ConfigError, match=r"complexity_weight must be a finite number >= 0"):
        fits.best(complexity_weight=math.nan)
    with pytest.raises(ConfigError, match=r"edge must be < 3 \(the number of edges\); received 3"):
        fits.ranking(3)
    with pytest.raises(ShapeError, match=r"EdgeFits: r2 must have shape \(3, 3\)"):
        EdgeFits(names, torch.zeros(3, 3, 4), r2[:, :2], torch.tensor([0, 1, 2]))


def test_performance_50_edges_full_library() -> None:
    generator = torch.Generator().manual_seed(1)
    x = 2 * torch.rand(50, 200, generator=generator, dtype=torch.float64) - 1
    y = torch.sin(3 * x) + 0.1 * x**2
    fit_edges(x[:1, :10], y[:1, :10])  # warm up
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: time one core
    try:
        start = time.perf_counter()
        fits = fit_edges(x, y)
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    assert elapsed < 5.0, f"fitting 50 edges took {elapsed:.2f} s"
    choice = fits.best()  # sin(3x) + 0.1 x^2: a sine (or the equivalent cosine) is 1e-4 off
    assert set(choice.names) <= {"sin", "cos"} and float(choice.r2.min()) > 0.9998


def test_bad_inputs() -> None:
    x = torch.zeros(2, 10, dtype=torch.float64)
    with pytest.raises(ShapeError, match=r"fit_edges: x must be a torch.Tensor; received list"):
        fit_edges([[0.0] * 10], x)  # type: ignore[arg-type]
    with pytest.raises(
        ShapeError, match=r"fit_edges: y must have shape \(E, N\) .*received \(10,\)"
    ):
        fit_edges(x, x[0])
    with pytest.raises(
        ShapeError, match=r"x must be a floating-point tensor; received torch.int64"
    ):
        fit_edges(x.long(), x)
    with pytest.raises(
        ShapeError, match=r"same shape \(E, N\); received x \(2, 10\) and y \(2, 9\)"
    ):
        fit_edges(x, x[:, :9])
    with pytest.raises(ShapeError, match=r"at least 1 edge and 4 samples per edge"):
        fit_edges(x[:, :3], x[:, :3])
    with pytest.raises(TensorTypeError, match=r"y \(torch.float32, cpu\) must have the dtype"):
        fit_edges(x, x.float())
    bad = x.clone()
    bad[1, 3] = math.nan
    with pytest.raises(
        NonFiniteError, match=r"fit_edges: y contains NaN or infinite values on 1 of 2"
    ):
        fit_edges(x, bad)
    with pytest.raises(NonFiniteError, match=r"fit_edges: x contains NaN"):
        fit_edges(bad.clamp(max=math.inf), x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"b_range": (1.0, -1.0)}, r"b_range must be a finite pair \(low, high\) with low < high"),
        ({"c_range": (0.0, math.inf)}, r"c_range must be a finite pair"),
        ({"c_range": 3.0}, r"c_range must be a finite pair"),
        ({"grid_points": (4, 4, 4)}, r"grid_points must be an int or a pair \(n_b, n_c\)"),
        ({"grid_points": 1}, r"grid_points\[0\] \(number of b values\) must be an integer >= 2"),
        ({"refine_steps": -1}, r"refine_steps must be an integer >= 0; received -1"),
        ({"max_samples": 2}, r"max_samples must be an integer >= 4; received 2"),
        ({"library": "sin"}, r"library must be None, a Library or a list of primitive names"),
        ({"library": []}, r"fit_edges: library is empty"),
    ],
)
def test_bad_settings(kwargs: dict, message: str) -> None:
    x = torch.linspace(0, 1, 8, dtype=torch.float64)[None]
    with pytest.raises(ConfigError, match=message):
        fit_edges(x, x, **kwargs)


def test_subsampling_keeps_the_range_and_reports_r2_on_all_samples() -> None:
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(3, 1000, generator=generator, dtype=torch.float64) * 2 + 0.5
    y = torch.log(x) - 0.2 * x**2
    fits = fit_edges(x, y, ["log", "x^2", "sqrt"], max_samples=32, refine_steps=10)
    k = fits.names.index("log")
    residual = fits.params[:, k, 0:1] * torch.log(
        fits.params[:, k, 1:2] * x + fits.params[:, k, 2:3]
    )
    residual = residual + fits.params[:, k, 3:4] - y
    expected = 1 - residual.square().sum(1) / (y - y.mean(1, keepdim=True)).square().sum(1)
    torch.testing.assert_close(fits.r2[:, k], expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    x, y = sine_edge(torch.float64)
    cpu = fit_edges(x, y)
    gpu = fit_edges(x.cuda(), y.cuda())
    assert gpu.params.device.type == "cuda" and gpu.best().names == cpu.best().names == ("sin",)
    k = cpu.names.index("sin")
    torch.testing.assert_close(gpu.params[0, k].cpu(), cpu.params[0, k], rtol=0, atol=1e-6)
    x32, y32 = sine_edge(torch.float32)
    assert fit_edges(x32.cuda(), y32.cuda()).best().names[0] in ("sin", "cos")
