"""Forward + backward throughput and peak memory of one KAN layer: kanphys vs naive vs pykan.

One layer with ``in = out = 64`` edges per side, ``grid_size G = 5``, ``spline_order k = 3`` and a
SiLU residual, is run forward and backward (``loss = mean(y ** 2)``, gradients to the parameters
and to the input, as physics-informed training needs) by three implementations, side by side in
one run:

``kanphys``
    :class:`kanphys.layers.KANLayer` (basis expanded to ``(N, in, n)``, then one matmul).
``naive``
    :class:`NaiveKANLayer` below: a Python loop over the ``in * out`` edges, each edge evaluating
    its own B-spline basis by Cox-de Boor and its own SiLU residual. This is the "what you would
    write without vectorising over edges" anchor.
``pykan``
    ``kan.KANLayer.KANLayer`` from pykan 0.2.8 (``pip install pykan==0.2.8``), timed as it runs
    (its forward also returns pre- and post-activations, which is part of its cost).

Before timing, the three are given the same knots and coefficients and their outputs and
gradients are compared at a small batch. Every (implementation, batch, dtype) is then timed in a
fresh subprocess, so that its peak resident memory is its own: the peak is the growth of the
resident set (``VmHWM`` reset through ``/proc/self/clear_refs``) over the state after setup.

Run:  python benchmarks/layer_speed.py [--quick] [--output docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from layer_impls import (
    DEFAULT_OUTPUT,
    DTYPES,
    FULL_BATCHES,
    IMPLEMENTATIONS,
    QUICK_BATCHES,
    QUICK_WIDTH,
    REPO_ROOT,
    RESULT_PREFIX,
    SLOW_SECONDS,
    WIDTH,
    _available_bytes,
    check_agreement,
    make_forward,
    make_input,
    pykan_available,
)
from layer_report import (
    Row,
    kanphys_state,
    machine_info,
    render_section,
    write_section,
)
from torch import Tensor

# --------------------------------------------------------------------------------------------
# One measurement (runs in a fresh subprocess)
# --------------------------------------------------------------------------------------------


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current resident set (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _load_average() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _limit_address_space(cap_bytes: int | None) -> None:
    """Make allocations beyond ``cap_bytes`` more than now fail cleanly instead of swapping."""
    if not cap_bytes:
        return
    size_kb = _proc_status_kb("VmSize")
    if size_kb is None:
        return
    limit = size_kb * 1024 + cap_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _step(forward: Callable[[Tensor], Tensor], params: Sequence[Tensor], x: Tensor) -> float:
    """One timed forward + backward; gradients are cleared (untimed) first."""
    for p in params:
        p.grad = None
    x.grad = None
    start = time.perf_counter()
    y = forward(x)
    y.square().mean().backward()
    return time.perf_counter() - start


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Time one (implementation, batch, dtype) and measure its peak memory growth.

    Parameters
    ----------
    spec : dict
        ``implementation``, ``batch``, ``dtype``, ``width``, ``target_seconds`` (total timed
        time aimed at), ``min_reps``, ``max_reps``, ``slow_reps`` (repetitions when one
        iteration takes more than ``SLOW_SECONDS``), ``naive_limit`` (seconds per iteration
        above which the naive layer is skipped), ``memory_cap`` (bytes, or None).

    Returns
    -------
    dict
        ``status`` ("ok", "skipped" or "failed"), ``times`` (seconds per iteration),
        ``peak_mb``, ``memory_method``, ``cpu_per_wall``, ``load``, and ``note``.
    """
    implementation = spec["implementation"]
    batch, width = int(spec["batch"]), int(spec["width"])
    dtype = getattr(torch, spec["dtype"])
    result: dict[str, Any] = {"status": "ok", "note": "", "load": [_load_average()]}
    try:
        module, forward = make_forward(implementation, width, dtype)
    except ImportError as error:
        return result | {"status": "skipped", "note": f"pykan not installed ({error})"}
    params = [p for p in module.parameters() if p.requires_grad]
    x = make_input(batch, width, dtype)
    torch.ones(64, 64) @ torch.ones(64, 64)  # start the thread pool before limiting memory
    _limit_address_space(spec.get("memory_cap"))
    reset = _reset_peak_rss()
    if reset:
        baseline_kb = _proc_status_kb("VmRSS") or 0
        result["memory_method"] = "VmHWM growth (reset via clear_refs)"
    else:
        baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["memory_method"] = "ru_maxrss growth"
    try:
        if implementation == "naive":
            edges = max(1, min(16, width * width))
            naive: Any = module

            def probe(v: Tensor) -> Tensor:
                return naive(v, max_edges=edges)

            # twice: the first call also pays one-off costs (allocator growth, lazy init)
            probe_time = min(_step(probe, params, x), _step(probe, params, x))
            probe_kb = (_proc_status_kb("VmHWM") if reset else None) or 0
            scale = width * width / edges
            estimate = probe_time * scale
            estimate_gb = max(probe_kb - baseline_kb, 0) * scale / 2**20
            result["estimate_seconds"] = estimate
            result["estimate_gb"] = estimate_gb
            cap = spec.get("memory_cap")
            reasons = []
            if estimate > spec["naive_limit"]:
                reasons.append(f"too slow: est. {estimate:.0f} s per iteration")
            if cap and estimate_gb * 2**30 > cap:
                reasons.append(f"est. {estimate_gb:.0f} GB > {cap / 2**30:.0f} GB available")
            if reasons:
                return result | {
                    "status": "skipped",
                    "note": f"skipped ({'; '.join(reasons)}; from {edges} of "
                    f"{width * width} edges)",
                }
            warmups = 0  # the probe ran the same code
            reps = max(1, min(3, int(spec["target_seconds"] / max(estimate, 1e-9))))
        else:
            first = _step(forward, params, x)
            warmups = 1
            if first < SLOW_SECONDS:
                _step(forward, params, x)
                warmups = 2
                reps = int(spec["target_seconds"] / max(first, 1e-9))
                reps = max(spec["min_reps"], min(spec["max_reps"], reps))
            else:
                reps = spec["slow_reps"]
        times = []
        cpu_start, wall_start = _cpu_seconds(), time.perf_counter()
        for _ in range(reps):
            times.append(_step(forward, params, x))
        cpu_per_wall = (_cpu_seconds() - cpu_start) / (time.perf_counter() - wall_start)
    except (RuntimeError, MemoryError) as error:
        text = str(error).splitlines()[0][:160]
        kind = "out of memory" if "memory" in text.lower() or "alloc" in text.lower() else "error"
        return result | {"status": "failed", "note": f"failed ({kind}: {text})"}
    if reset:
        peak_kb = _proc_status_kb("VmHWM") or 0
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["load"].append(_load_average())
    return result | {
        "times": times,
        "warmups": warmups,
        "peak_mb": max(peak_kb - baseline_kb, 0) / 1024,
        "cpu_per_wall": cpu_per_wall,
        "threads": torch.get_num_threads(),
    }


def _child_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    outcome = measure(spec)
    print(RESULT_PREFIX + json.dumps(outcome), flush=True)


def parse_variant(text: str) -> dict[str, str]:
    """``"default"`` -> {}; ``"A=1,B=x"`` -> {"A": "1", "B": "x"} (extra environment)."""
    if text == "default":
        return {}
    env: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise argparse.ArgumentTypeError(
                f"a variant is 'default' or KEY=VALUE[,KEY=VALUE...]; received {text!r}"
            )
        env[key] = value
    return env


def run_child(
    spec: dict[str, Any], timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run :func:`measure` for ``spec`` in a fresh Python process with ``env`` added."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=os.environ | (env or {}),
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "note": f"failed (timeout after {timeout:.0f} s)"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    reason = "killed, probably out of memory" if done.returncode < 0 else "crashed"
    return {
        "status": "failed",
        "note": f"failed ({reason}; exit {done.returncode}: {' | '.join(tail)[:200]})",
    }


def _run_one(
    row: Row,
    before: Row | None,
    args: argparse.Namespace,
    *,
    width: int,
    target: float,
    rounds: int,
    have_pykan: bool,
    env: dict[str, str],
) -> dict[str, Any]:
    """One round of one configuration: skip it, or measure it in a fresh process.

    ``target`` is the timed time aimed at per configuration, over all its rounds.
    """
    available = _available_bytes()
    cap = int(0.8 * available) if available else None
    estimate = None
    if before is not None and before.ok:
        estimate = before.peak_mb * 2**20 * row.batch / before.batch
    if row.implementation == "pykan" and not have_pykan:
        return {"status": "skipped", "note": "pykan not installed"}
    if row.implementation != "naive" and cap and estimate and estimate > cap:
        # (naive rows estimate their own cost from a part of the edges instead)
        return {
            "status": "skipped",
            "note": f"skipped (memory: est. {estimate / 2**30:.1f} GB > "
            f"{cap / 2**30:.1f} GB available)",
        }
    spec = {
        "implementation": row.implementation,
        "batch": row.batch,
        "dtype": row.dtype,
        "width": width,
        # naive runs in one round only, so it gets the whole budget
        "target_seconds": target if row.implementation == "naive" else target / rounds,
        "min_reps": 2 if args.quick or rounds > 1 else 3,
        "max_reps": 5 if args.quick else 15,
        "slow_reps": 1 if rounds > 1 else 3,
        "naive_limit": args.naive_limit,
        "memory_cap": cap,
    }
    return run_child(spec, timeout=1800.0, env=env)


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the study; see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds (smoke check)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"markdown page to update (default {DEFAULT_OUTPUT.relative_to(REPO_ROOT)} for a "
        "full run; a --quick run writes nowhere unless given one)",
    )
    parser.add_argument("--batches", type=int, nargs="+", default=None, help="batch sizes")
    parser.add_argument("--width", type=int, default=None, help="in = out features (default 64)")
    parser.add_argument(
        "--implementations", nargs="+", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS)
    )
    parser.add_argument(
        "--naive-limit",
        type=float,
        default=60.0,
        help="skip naive rows estimated slower than this many seconds per iteration",
    )
    parser.add_argument(
        "--target-seconds", type=float, default=None, help="timed seconds aimed at per row"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["default"],
        help="environments for the measuring processes, each 'default' or KEY=VALUE[,KEY=VALUE]"
        " (e.g. OMP_WAIT_POLICY=PASSIVE); every row is measured in each, side by side",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="fresh-process rounds per configuration, implementations alternating, for paired "
        "ratios (default 3; 1 with --quick); naive runs in the first round only",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child_main(args.child)
        return []

    started = datetime.datetime.now()
    clock = time.perf_counter()
    width = args.width or (QUICK_WIDTH if args.quick else WIDTH)
    batches = args.batches or list(QUICK_BATCHES if args.quick else FULL_BATCHES)
    target = args.target_seconds or (0.2 if args.quick else 15.0)
    output = args.output if args.output is not None else (None if args.quick else DEFAULT_OUTPUT)
    variants = {text: parse_variant(text) for text in args.variants}
    rounds = max(1, args.rounds or (1 if args.quick else 3))
    check_batch = 32 if args.quick else 256
    machine = machine_info()
    source_before = kanphys_state()
    print(f"layer_speed: width {width}, batches {batches}, machine {machine}", flush=True)

    tolerances = {"float64": 1e-10, "float32": 1e-4}
    checks: dict[str, list[dict[str, Any]]] = {}
    for dtype_name in ("float64", "float32"):
        checks[dtype_name] = check_agreement(width, check_batch, getattr(torch, dtype_name))
        for row in checks[dtype_name]:
            print(f"  check {dtype_name}: {row}", flush=True)

    have_pykan = pykan_available()
    rows: list[Row] = []
    previous: dict[tuple[str, str, str], Row] = {}
    for batch in sorted(batches):
        for dtype_name, variant in itertools.product(DTYPES, variants):
            group = {name: Row(name, dtype_name, batch, variant) for name in args.implementations}
            for index in range(rounds):
                # alternate the order between rounds so that neither side always runs first
                order = list(group) if index % 2 == 0 else list(reversed(group))
                for implementation in order:
                    row = group[implementation]
                    if row.rounds and not row.ok:
                        continue  # skipped or failed: not retried
                    if implementation == "naive" and index > 0:
                        continue  # one round: it is slow and far from the others
                    outcome = _run_one(
                        row,
                        previous.get((implementation, dtype_name, variant)),
                        args,
                        width=width,
                        target=target,
                        rounds=rounds,
                        have_pykan=have_pykan,
                        env=variants[variant],
                    )
                    row.rounds.append(outcome)
                    if outcome.get("status") == "ok":
                        median = statistics.median(outcome["times"])
                        text = f"{batch / median:,.0f} samples/s, {outcome['peak_mb']:,.0f} MB"
                    else:
                        text = outcome.get("note", "")
                    label = f"{implementation:8s} {dtype_name} {batch:>7d} [{variant}] #{index}"
                    print(f"  {label}: {text}", flush=True)
            for name, row in group.items():
                rows.append(row)
                previous[(name, dtype_name, variant)] = row

    shown = ["python", "benchmarks/layer_speed.py", *(argv if argv is not None else sys.argv[1:])]
    section = render_section(
        rows,
        checks,
        tolerances,
        command=shlex.join(shown),
        started=started,
        elapsed=time.perf_counter() - clock,
        machine=machine,
        width=width,
        check_batch=check_batch,
        quick=args.quick,
        rounds=rounds,
        source=(source_before, kanphys_state()),
    )
    if output is None:
        print(section)
    else:
        write_section(output, section)
        print(f"wrote {output}")
    return rows


if __name__ == "__main__":
    main()
