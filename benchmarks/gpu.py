"""PINN training-step throughput on one GPU: kanphys KAN vs matched MLP, 2-D Poisson and Helmholtz.

Full training steps of the library (``kanphys.training.pinn.prepare`` + ``train``, Adam; the
derivative engine that ``derivatives = "auto"`` picks, i.e. Taylor jets for these second-order
problems) at batch 2^14 ... 2^18 collocation points, float32 and float64, for a KAN
(``[2, 32, 32, 1]``, B-splines, G = 5: 11,200 parameters) and kanphys's MLP of matched parameter
count, the two alternating in rounds. Throughput is collocation points x steps per second;
the peak GPU memory (``torch.cuda.max_memory_allocated``) of each configuration is recorded. The
clock is read after ``torch.cuda.synchronize()``; TF32 matmuls are off, so float32 means float32.
The issue's target: >= 1e7 points/s in float32 on one H100 for a KAN of 3-20k parameters.

    python benchmarks/gpu.py                                 # CUDA: full study, docs/benchmarks.md
    python benchmarks/gpu.py --compile                       # also torch.compile'd loss rows
    python benchmarks/gpu.py --device cpu --quick --no-docs  # smoke check on the CPU

Without CUDA the script says so and exits with status 0, unless ``--device cpu`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import itertools
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # the kanphys of this checkout

from _sections import replace_section  # noqa: E402
from pinn_contenders import (  # noqa: E402
    Contender,
    Timing,
    n_boundary_for,
    prepare_state,
    state_contender,
    time_side_by_side,
)

from kanphys.training.pinn import TrainState, _learning_rate, _losses, _total  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- gpu:start -->", "<!-- gpu:end -->"
PROBLEMS = ("poisson2d", "helmholtz2d")
BATCHES = {
    ("cuda", False): tuple(2**p for p in range(14, 19)),
    ("cuda", True): (2**14, 2**16),
    ("cpu", False): (2**10, 2**12, 2**14),
    ("cpu", True): (2**10, 2**12),
}
TARGET_POINTS_PER_SECOND = 1e7


def _sync(cuda: bool) -> Any:
    return torch.cuda.synchronize if cuda else None


def compiled_contender(state: TrainState, label: str, cuda: bool) -> Contender:
    """The same loss (``pinn._losses`` + ``pinn._total``) under ``torch.compile``, stepped by a
    plain Adam loop (the library's loop does not compile). Dynamo's caches are reset first:
    every configuration compiles afresh instead of hitting the recompilation limit (after which
    torch would quietly run the function eagerly)."""
    torch._dynamo.reset()
    loss_fn = torch.compile(lambda: _total(state, _losses(state)))
    optimizer = torch.optim.Adam(state.model.parameters(), lr=_learning_rate(state))
    sync = _sync(cuda)

    def run(steps: int) -> list[float]:
        stamps = []
        for _ in range(steps + 1):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            optimizer.step()
            float(loss)  # the library's loop reads the loss every step as well
            if sync is not None:
                sync()
            stamps.append(time.perf_counter())
        return [b - a for a, b in itertools.pairwise(stamps)]

    params = state.model.network.num_parameters()
    return Contender(label, params, int(state.points["interior"].shape[0]), run)


def build(
    problem: str, network: str, dtype: str, batch: int, args: argparse.Namespace, compiled: bool
) -> tuple[Contender, dict[str, Any]]:
    """One contender, warmed up; its engine and the peak GPU memory of building and warming up."""
    cuda, base = args.device == "cuda", 0
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    state = prepare_state(
        network=network,
        hidden=args.hidden,
        engine="auto",
        dtype=dtype,
        n_interior=batch,
        n_boundary=n_boundary_for(batch),
        grid_size=args.grid_size,
        problem=problem,
        device=args.device,
    )
    name = network.upper()
    info: dict[str, Any] = {"engine": state.engine_name, "compile_s": None}
    if compiled:
        contender = compiled_contender(state, f"{name}, torch.compile", cuda)
        start = time.perf_counter()
        contender.run(0)  # compiles
        info["compile_s"] = time.perf_counter() - start
    else:
        contender = state_contender(state, name, _sync(cuda))
    # warm-up (allocator, kernels, cuBLAS handles); its last step is the cost estimate
    info["estimate"] = contender.run(1 if args.quick else 3)[-1]
    info["peak_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20 if cuda else None
    return contender, info


def measure(problem: str, dtype: str, batch: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """KAN and MLP (and their compiled variants) at one (problem, dtype, batch), side by side."""
    variants = [("kan", False), ("mlp", False)]
    if args.compile:
        variants += [("kan", True), ("mlp", True)]
    contenders: list[Contender] = []
    rows: list[dict[str, Any]] = []
    for network, compiled in variants:
        row: dict[str, Any] = {"problem": problem, "dtype": dtype, "batch": batch}
        row |= {"network": network, "compiled": compiled}
        try:
            contender, info = build(problem, network, dtype, batch, args, compiled)
        except Exception as error:  # a failed row (out of memory, compile error) is a result
            first = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
            row["note"] = f"failed: {type(error).__name__}: {first}"
            print(f"  {problem} {dtype} {batch} {network}: {row['note']}", flush=True)
            rows.append(row)
            continue
        contenders.append(contender)
        rows.append(row | info | {"contender": contender})
    timings = time_side_by_side(
        contenders,
        estimates=[row["estimate"] for row in rows if "contender" in row],
        rounds=args.rounds,
        target_seconds=args.target_seconds,
        min_steps=1 if args.quick else 3,
        max_steps=1000,
    )
    timed = iter(timings)
    for row in rows:
        if row.pop("contender", None) is not None:
            row["timing"] = next(timed)
    return rows


def table(rows: list[dict[str, Any]], cuda: bool) -> tuple[str, list[str]]:
    lines = [
        "| problem | dtype | batch | network | params | engine | ms/step, median [min–max] "
        "| points·steps/s | KAN ÷ MLP | peak GPU memory (MB) |",
        "|---|---|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    best: dict[str, tuple[float, dict[str, Any]]] = {}
    for row in rows:
        label = f"{row['network'].upper()}" + (", torch.compile" if row["compiled"] else "")
        where = f"| {row['problem']} | {row['dtype']} | {batch_text(row['batch'])} "
        timing: Timing | None = row.get("timing")
        if timing is None:
            lines.append(f"{where}| {label} | – | – | {row['note']} | – | – | – |")
            continue
        ms = [1e3 * r for r in timing.rounds]
        rate = row["batch"] / timing.seconds
        mlp = next(
            (
                other["timing"]
                for other in rows
                if other.get("timing") is not None
                and other["network"] == "mlp"
                and other["compiled"] == row["compiled"]
                and (other["problem"], other["dtype"], other["batch"])
                == (row["problem"], row["dtype"], row["batch"])
            ),
            None,
        )
        ratio = (
            f"{timing.speedup_over(mlp):.2f}" if row["network"] == "kan" and mlp is not None else ""
        )
        peak = f"{row['peak_mb']:,.0f}" if row["peak_mb"] is not None else "–"
        compile_note = f" (compiled in {row['compile_s']:.0f} s)" if row["compile_s"] else ""
        lines.append(
            f"{where}| {label}{compile_note} | {timing.contender.params:,} | {row['engine']} "
            f"| {statistics.median(ms):.2f} [{min(ms):.2f}–{max(ms):.2f}] | {rate:,.0f} "
            f"| {ratio} | {peak} |"
        )
        if row["network"] == "kan" and row["dtype"] == "float32":
            key = "compiled" if row["compiled"] else "eager"
            if rate > best.get(key, (0.0, {}))[0]:
                best[key] = (rate, row)
    summary = []
    for key, (rate, row) in best.items():
        params = row["timing"].contender.params
        if not cuda:
            verdict = "not applicable: measured on the CPU"
        else:
            verdict = "met" if rate >= TARGET_POINTS_PER_SECOND else "not met"
            name = torch.cuda.get_device_name(0)
            if "H100" not in name:
                verdict += f" (measured on {name}, not an H100)"
        summary.append(
            f"KAN ({params:,} parameters, {key}), float32: best **{rate:,.0f}** points·steps/s "
            f"({row['problem']}, batch {batch_text(row['batch'])}); target ≥ 1e7 on one H100: "
            f"{verdict}"
        )
    return "\n".join(lines), summary


def batch_text(batch: int) -> str:
    """``65536 -> "2^16"``; other sizes as they are."""
    power = batch.bit_length() - 1
    return f"2^{power}" if batch == 2**power else f"{batch:,}"


def device_text(cuda: bool) -> str:
    if not cuda:
        cpu = platform.processor() or platform.machine()
        return f"CPU ({cpu}), {torch.get_num_threads()} thread(s)"
    props = torch.cuda.get_device_properties(0)
    return (
        f"{torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB), "
        f"CUDA {torch.version.cuda}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--quick", action="store_true", help="two batches, prints only")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"))
    parser.add_argument("--problems", nargs="+", choices=PROBLEMS, default=list(PROBLEMS))
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 32], help="KAN widths")
    parser.add_argument("--grid-size", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=None, help="default 2; 1 with --quick")
    parser.add_argument(
        "--target-seconds", type=float, default=None, help="timed s per row (default 3)"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time the loss under torch.compile"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--output", type=Path, default=DOCS, help="docs page to update")
    args = parser.parse_args(argv)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print(
            f"gpu.py: CUDA is not available (torch {torch.__version__}, built with CUDA "
            f"{torch.version.cuda}); nothing was measured. Run with --device cpu for a small "
            "CPU run (a smoke check; its numbers say nothing about GPUs)."
        )
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    args.rounds = max(1, args.rounds or (1 if args.quick else 2))
    args.target_seconds = args.target_seconds or (0.3 if args.quick else 3.0)
    batches = args.batches or list(BATCHES[(args.device, args.quick)])
    dtypes = args.dtypes or ["float32", "float64"]
    started, clock = datetime.datetime.now(), time.perf_counter()
    device = device_text(cuda)
    print(f"gpu.py: {device}; torch {torch.__version__}", flush=True)
    if cuda:
        print("TF32 off: torch.backends.cuda.matmul.allow_tf32 = False (and cuDNN's)", flush=True)

    rows = []
    for problem in args.problems:
        for dtype in dtypes:
            for batch in batches:
                print(f"{problem}, {dtype}, batch {batch}", flush=True)
                rows += measure(problem, dtype, batch, args)
                if args.compile:
                    torch._dynamo.reset()  # compiled graphs hold on to their runs' tensors
                gc.collect()
                if cuda:
                    torch.cuda.empty_cache()
    text, summary = table(rows, cuda)
    body = text + "\n\n" + "\n".join(f"- {line}" for line in summary)
    print("\n" + body + "\n", flush=True)
    if cuda and not (args.quick or args.no_docs):
        shown = ["python", "benchmarks/gpu.py", *(sys.argv[1:] if argv is None else argv)]
        write_docs(args.output, body, shlex.join(shown), started, time.perf_counter() - clock)
        print(f"wrote {args.output}")
    return 0


def write_docs(
    path: Path, body: str, command: str, started: datetime.datetime, seconds: float
) -> None:
    section = f"""{START}
## PINN training steps on one GPU (`benchmarks/gpu.py`)

Full training steps of the library (`prepare` + `train`, Adam, the derivative engine picked by
`derivatives = "auto"`: Taylor jets) on 2-D Poisson and 2-D Helmholtz with the boundary
condition as a loss term (boundary points: batch / 16). The KAN and the MLP of matched
parameter count alternate in rounds; the clock is read after `torch.cuda.synchronize()`, after
warm-up steps (the library's loop also reads the loss back to the host every step, as in any
run). TF32 is off (`torch.backends.cuda.matmul.allow_tf32 = False`). Peak GPU memory:
`torch.cuda.max_memory_allocated()` growth from before building the run (network, points,
optimiser state, and the steps' temporaries) through its warm-up steps.

```bash
{command}
```

Measured on {device_text(True)}, torch {torch.__version__}, {started:%Y-%m-%d %H:%M} (local),
{seconds / 60:.1f} min in all.

{body}
{END}"""
    replace_section(path, START, END, section)


if __name__ == "__main__":
    raise SystemExit(main())
