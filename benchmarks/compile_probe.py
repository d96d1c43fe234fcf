"""Does ``torch.compile`` speed up a KAN PINN training step on this machine? A measurement.

The library's Taylor-jet step does not trace as one graph (the B-spline evaluation keeps a
Python-side cache of facts about the knots, and the input checks read values), so this probe
re-implements the same step for uniform cubic B-spline KANs in plain tensor operations that
Dynamo traces whole (``torch._dynamo.explain`` must report one graph), checks that it agrees
with the library's Taylor engine, and then times, side by side in one process:

* the library's step (``kanphys.pde.taylor.network_jet``, eager),
* the traceable re-implementation, eager,
* the same function under ``torch.compile`` (default mode, Inductor).

A step is the 2-D Poisson loss (interior Laplacian residual on N points plus the boundary
values on N/16 points), its backward pass and one Adam step.

    python benchmarks/compile_probe.py               # full probe, updates docs/benchmarks.md
    python benchmarks/compile_probe.py --quick       # a smoke check, prints only
"""

from __future__ import annotations

import argparse
import datetime
import math
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # the kanphys of this checkout

from _sections import replace_section  # noqa: E402
from layer_report import kanphys_state, machine_info  # noqa: E402

from kanphys.basis._cardinal import cardinal_weights  # noqa: E402
from kanphys.basis.bspline import _knot_facts  # noqa: E402
from kanphys.layers import KANLayer  # noqa: E402
from kanphys.models import KAN  # noqa: E402
from kanphys.pde.taylor import network_jet, pairs_for, seed_jet  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- compile_probe:start -->", "<!-- compile_probe:end -->"
LAPLACIAN = pairs_for(2, [(0, 0), (1, 1)])
# local-value polynomials of the cubic B-splines, levels 0-2 (built outside the traced code)
_WEIGHTS = {
    (3, dtype): cardinal_weights(3, 0, 3, dtype) for dtype in (torch.float32, torch.float64)
}


def _silu_levels(v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """silu and its first two derivatives."""
    s = torch.sigmoid(v)
    first = s * (1 + v * (1 - s))
    second = s * (1 - s) * (2 + v * (1 - 2 * s))
    return v * s, first, second


def _layer_jet(
    layer: KANLayer, value: Tensor, first: Tensor, second: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One KAN layer on the jet (value (N, m), first (N, 2, m), pure seconds (N, 2, m))."""
    k, grid = layer.spline_order, layer.grid
    count = grid.shape[1]
    functions = count - k - 1
    low, inverse = grid[:, 0], (count - 1) / (grid[:, -1] - grid[:, 0])
    s = (value - low) * inverse  # position in knot units
    interval = s.detach().floor().clamp(0, count - 2)
    u = (s - interval).clamp(0, 1)
    inside = (s >= 0) & (s <= count - 1)
    powers = torch.stack([u**p for p in range(k + 1)], -1)  # (N, m, k + 1)
    weights = _WEIGHTS[(k, value.dtype)].to(value.device)  # levels 0, 1, 2
    local = (powers @ weights.T).unflatten(-1, (3, k + 1))  # (N, m, 3, k + 1)
    index = interval.long().unsqueeze(-1) + torch.arange(-k, 1, device=value.device)
    keep = ((index >= 0) & (index < functions) & inside.unsqueeze(-1)).to(value.dtype)
    index = index.clamp(0, functions - 1)
    b0 = local[:, :, 0] * keep
    b1 = local[:, :, 1] * keep * inverse.unsqueeze(-1)
    b2 = local[:, :, 2] * keep * (inverse * inverse).unsqueeze(-1)
    features = torch.cat(
        [
            b0.unsqueeze(1),
            b1.unsqueeze(1) * first.unsqueeze(-1),
            b2.unsqueeze(1) * (first * first).unsqueeze(-1)
            + b1.unsqueeze(1) * second.unsqueeze(-1),
        ],
        1,
    )  # (N, 5, m, k + 1)
    n, m = value.shape
    dense = features.new_zeros(n, 5, m, functions)
    dense = dense.scatter_add(-1, index.unsqueeze(1).expand_as(features), features)
    out = (dense.reshape(n * 5, m * functions) @ layer.spline_matrix()).view(n, 5, -1)
    base = layer.base_matrix()
    if base is not None:
        a0, a1, a2 = _silu_levels(value)
        activated = torch.cat(
            [
                a0.unsqueeze(1),
                a1.unsqueeze(1) * first,
                a2.unsqueeze(1) * first * first + a1.unsqueeze(1) * second,
            ],
            1,
        )
        out = out + activated @ base
    return out[:, 0], out[:, 1:3], out[:, 3:5]


def traceable_jet(network: KAN, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Value, gradient and pure second derivatives of ``network`` at 2-D points ``x``."""
    value = x
    first = torch.eye(2, dtype=x.dtype, device=x.device).expand(x.shape[0], 2, 2)
    second = torch.zeros_like(first)
    for layer in network.kan_layers():
        value, first, second = _layer_jet(layer, value, first, second)
    return value, first, second


def check_supported(network: KAN) -> None:
    for layer in network.kan_layers():
        if layer.basis != "bspline" or layer.base_activation not in (None, "silu"):
            raise SystemExit("compile_probe: B-spline layers with silu (or no) base only")
        if layer.spline_order != 3:
            raise SystemExit("compile_probe: cubic B-splines only")
        if not _knot_facts(layer.grid).uniform:
            raise SystemExit("compile_probe: uniform grids only")
    if any(n_mult for _, n_mult in network.width[1:]):
        raise SystemExit("compile_probe: no product nodes")


def source(x: Tensor) -> Tensor:
    return 2 * math.pi**2 * torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1])


def library_loss(network: KAN, x: Tensor, xb: Tensor) -> Tensor:
    jet = network_jet(network, seed_jet(x, LAPLACIAN), LAPLACIAN)
    residual = jet.second[:, 0, 0] + jet.second[:, 1, 0] + source(x)
    return residual.pow(2).mean() + network.forward_unchecked(xb).pow(2).mean()


def traceable_loss(network: KAN, x: Tensor, xb: Tensor) -> Tensor:
    _, _, second = traceable_jet(network, x)
    residual = second[:, 0, 0] + second[:, 1, 0] + source(x)
    return residual.pow(2).mean() + traceable_jet(network, xb)[0].pow(2).mean()


def agreement(hidden: tuple[int, ...]) -> float:
    """Largest relative difference of value and Laplacian, traceable vs library, float64."""
    network = _network(hidden, torch.float64)
    x = torch.rand(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    reference = network_jet(network, seed_jet(x, LAPLACIAN), LAPLACIAN)
    value, _, second = traceable_jet(network, x)
    pairs = [(reference.value, value), (reference.second[:, :, 0], second[:, :, 0])]
    return max(float((a - b).abs().max() / a.abs().max()) for a, b in pairs)


def _network(hidden: tuple[int, ...], dtype: torch.dtype) -> KAN:
    network = KAN(
        [2, *hidden, 1], grid_size=5, dtype=dtype, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():  # curved edges, so that the second derivatives are not tiny
        for layer in network.kan_layers():
            layer.coefficients.normal_(0, 0.3, generator=torch.Generator().manual_seed(2))
    check_supported(network)
    return network


def _stepper(
    network: KAN, loss: Callable[[KAN, Tensor, Tensor], Tensor], x: Tensor, xb: Tensor
) -> Callable[[], None]:
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss(network, x, xb).backward()
        optimizer.step()

    return step


def measure(hidden: tuple[int, ...], n: int, dtype: torch.dtype, rounds: int, seconds: float):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, 2, dtype=dtype, generator=generator) * 2 - 1
    xb = torch.rand(max(n // 16, 32), 2, dtype=dtype, generator=generator) * 2 - 1
    torch._dynamo.reset()
    explained = torch._dynamo.explain(traceable_loss)(_network(hidden, dtype), x, xb)
    if explained.graph_count != 1:
        raise SystemExit(f"compile_probe: the traceable step breaks into {explained.graph_count}")
    compiled = torch.compile(traceable_loss)
    steps = {
        "library, eager": _stepper(_network(hidden, dtype), library_loss, x, xb),
        "traceable, eager": _stepper(_network(hidden, dtype), traceable_loss, x, xb),
        "traceable, torch.compile": _stepper(_network(hidden, dtype), compiled, x, xb),
    }
    started = time.perf_counter()
    steps["traceable, torch.compile"]()  # compiles forward and backward
    compile_seconds = time.perf_counter() - started
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            step()  # warm
            count, start = 0, time.perf_counter()
            while count < 3 or time.perf_counter() - start < seconds / (rounds * len(steps)):
                step()
                count += 1
            times[name].append((time.perf_counter() - start) / count)
    ms = {name: 1e3 * statistics.median(values) for name, values in times.items()}
    return ms, compile_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tiny case, prints only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=12.0, help="timed seconds per case")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = (
        [((8,), 121, torch.float32)]
        if args.quick
        else [
            ((8,), 441, torch.float32),
            ((20, 20), 2000, torch.float32),
            ((20, 20), 10**4, torch.float32),
            ((20, 20), 10**4, torch.float64),
        ]
    )
    seconds = 1.0 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    started = datetime.datetime.now()
    error = agreement((8, 8) if args.quick else (20, 20))
    lines = [
        f"Agreement with the library's Taylor engine (float64, value and Laplacian): max "
        f"relative difference {error:.1e}; the traceable step is one Dynamo graph.",
        "",
        "| network | N (+ boundary) | dtype | library eager ms/step | traceable eager "
        "| traceable torch.compile | compile s | compiled vs library eager |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for hidden, n, dtype in cases:
        ms, compile_seconds = measure(hidden, n, dtype, rounds, seconds)
        name = str(dtype).removeprefix("torch.")
        library, compiled = ms["library, eager"], ms["traceable, torch.compile"]
        lines.append(
            f"| KAN [2,{','.join(map(str, hidden))},1] G=5 | {n:,} (+{max(n // 16, 32)}) | {name} "
            f"| {library:.2f} | {ms['traceable, eager']:.2f} | {compiled:.2f} "
            f"| {compile_seconds:.0f} | {library / compiled:.2f}x |"
        )
        print("measured:", lines[-1], flush=True)
    if error > 1e-10:
        raise SystemExit(f"compile_probe: the traceable step disagrees ({error:.1e})")
    text = "\n".join(lines)
    print(text)
    if not (args.quick or args.no_docs):
        machine, state = machine_info(), kanphys_state()
        command = "python benchmarks/compile_probe.py " + shlex.join(
            sys.argv[1:] if argv is None else argv
        )
        section = f"""{START}
## `torch.compile` of a KAN PINN step on the CPU (`benchmarks/compile_probe.py`)

The library's Taylor-jet step does not trace as one graph, so the probe re-implements the
same step for uniform cubic B-spline KANs in plain tensor operations that Dynamo traces whole,
checks it against the library, and times the library's eager step, the re-implementation
eager, and the re-implementation under `torch.compile` (Inductor, default mode), side by side
({rounds} alternating rounds, medians). A step is the 2-D Poisson loss, its backward pass and
one Adam step.

- command: `{command.strip()}`
- code: kanphys at commit `{state["commit"]}`; {started:%Y-%m-%d %H:%M}
- machine: {machine["cpu"]}, {machine["logical_cpus"]} logical CPUs, torch {torch.__version__}
  with {torch.get_num_threads()} thread(s)

{text}
{END}"""
        replace_section(DOCS, START, END, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
