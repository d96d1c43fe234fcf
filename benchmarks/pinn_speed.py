"""PINN training-step throughput on the CPU: kanphys (Taylor / autograd), MLP, DeepXDE, pykan.

The problem is 2-D Poisson, ``-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y)`` on ``[-1, 1]^2`` with
``u = 0`` on the boundary as a loss term. One step = the interior residual on N collocation
points, the boundary residual, the backward pass and one Adam step, each implementation timed
as it trains (see ``pinn_contenders.py``), side by side in one run, rounds alternating:

1. engines: a kanphys KAN (``[2, 20, 20, 1]``, B-splines, G = 5, k = 3: 4,600 parameters) with
   the Taylor and the autograd derivative engines; the kanphys MLP of matched parameter count
   with both engines; DeepXDE's FNN of the same width. float64 and float32, two values of N.
2. pykan: pykan 0.2.8 on its own tutorial PINN (width ``[2, 2, 1]``, and ``[2, 8, 1]``; grid 5,
   k 3, 441 interior and 84 boundary points) against kanphys at the same width, grid and points.
3. points: collocation points x steps per second of the 4,600-parameter KAN at N = 10^3, 10^4,
   10^5, float32 and float64.
4. memory: peak resident-memory growth of one training step, each configuration in a fresh
   process: N = 10^4 and 10^5; G = 5, 10, 20; hidden width 20 and 40; both engines.

What is timed is in ``pinn_contenders.py``, the tables and the docs section in
``pinn_report.py``. Before timing, the two engines are checked to give the same losses and
gradients (float64) and the pykan rows' Laplacian is checked on a function with a known
Laplacian; the script exits with status 1 if a check fails.

    python benchmarks/pinn_speed.py --quick       # smoke check: tiny sizes, ~40 s, prints only
    python benchmarks/pinn_speed.py               # full study (~10-15 min), docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # the kanphys of this checkout

from _sections import replace_section  # noqa: E402
from layer_impls import _available_bytes  # noqa: E402
from layer_report import kanphys_state, machine_info  # noqa: E402
from layer_speed import _limit_address_space, _proc_status_kb, _reset_peak_rss  # noqa: E402
from pinn_contenders import (  # noqa: E402
    TUTORIAL_ALPHA,
    TUTORIAL_SIDE,
    Contender,
    check_engines,
    check_pykan_laplacian,
    deepxde_contender,
    n_boundary_for,
    prepare_state,
    pykan_contender,
    pykan_lbfgs_steps,
    state_contender,
    time_side_by_side,
)
from pinn_report import (  # noqa: E402
    END,
    START,
    engines_tables,
    memory_table,
    points_tables,
    pykan_tables,
    render_section,
)

from kanphys.errors import KanphysError  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
RESULT_PREFIX = "PINN_SPEED_RESULT "
# glibc: a fixed mmap threshold (no dynamic growth) hands every large freed tensor back to the
# system at once, so the resident set after a step is the state it keeps, not freed heap
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def sizes(quick: bool) -> dict[str, Any]:
    """Every size of the study; ``--quick`` shrinks them all."""
    if quick:
        return {
            "hidden": (8, 8),
            "engine_points": (256,),
            "pykan_hidden": (2,),
            "pykan_side": 11,
            "lbfgs_steps": 1,
            "points": (256, 1024),
            "memory": [
                (1000, 5, (8, 8), "taylor"),
                (4000, 5, (8, 8), "taylor"),
                (4000, 10, (8, 8), "taylor"),
                (4000, 5, (16, 16), "taylor"),
                (4000, 5, (8, 8), "autograd"),
            ],
            "memory_reference": 1,
        }
    return {
        "hidden": (20, 20),
        "engine_points": (2000, 10**4),
        "pykan_hidden": (2, 8, 32),
        "pykan_side": TUTORIAL_SIDE,
        "lbfgs_steps": 3,
        "points": (10**3, 10**4, 10**5),
        "memory": [
            (10**4, 5, (20, 20), "taylor"),
            (10**5, 5, (20, 20), "taylor"),
            (10**5, 10, (20, 20), "taylor"),
            (10**5, 20, (20, 20), "taylor"),
            (10**5, 5, (40, 40), "taylor"),
            (10**5, 5, (20, 20), "autograd"),
        ],
        "memory_reference": 1,
    }


# --------------------------------------------------------------------------------------------
# The studies
# --------------------------------------------------------------------------------------------


def engines_study(s: dict[str, Any], timing: dict[str, Any]) -> list[dict[str, Any]]:
    """kanphys KAN and MLP with both engines and DeepXDE's FNN, per (N, dtype)."""
    blocks = []
    for n in s["engine_points"]:
        for dtype in ("float64", "float32"):
            nb = n_boundary_for(n)
            common = {"hidden": s["hidden"], "dtype": dtype, "n_interior": n, "n_boundary": nb}
            contenders: list[Contender] = []
            widths = {}
            for network in ("kan", "mlp"):
                for engine in ("taylor", "autograd"):
                    state = prepare_state(network=network, engine=engine, **common)
                    label = f"kanphys {network.upper()}, {engine}"
                    contenders.append(state_contender(state, label))
                    widths[network] = state.model.network.width
            note = ""
            try:
                contenders.append(
                    deepxde_contender("DeepXDE FNN, autograd", widths["mlp"], dtype, n, nb)
                )
            except (ImportError, KanphysError) as error:
                note = f"DeepXDE rows skipped: {str(error).splitlines()[0]}"
                print(f"  {note}")
            print(f"engines: N={n} + {nb} boundary, {dtype}", flush=True)
            blocks.append(
                {
                    "n": n,
                    "boundary": nb,
                    "dtype": dtype,
                    "mlp_width": list(widths["mlp"]),
                    "timings": time_side_by_side(contenders, **timing),
                    "note": note,
                }
            )
    return blocks


def pykan_study(s: dict[str, Any], timing: dict[str, Any]) -> list[dict[str, Any]]:
    """pykan's tutorial step against kanphys at the same width, grid and number of points."""
    blocks = []
    side = s["pykan_side"]
    for hidden in s["pykan_hidden"]:
        contenders: list[Contender] = []
        lbfgs: dict[str, float] | None = None
        note = ""
        try:
            contenders.append(pykan_contender("pykan 0.2.8 (tutorial), Adam", hidden, side))
            lbfgs = pykan_lbfgs_steps(hidden, s["lbfgs_steps"], side)
        except ImportError as error:
            note = f"pykan rows skipped: {error}"
            print(f"  {note}")
        for engine in ("taylor", "autograd"):
            state = prepare_state(
                network="kan",
                hidden=(hidden,),
                engine=engine,
                dtype="float32",
                n_interior=side * side,
                n_boundary=4 * side,
                weights={"equations": TUTORIAL_ALPHA},
            )
            contenders.append(state_contender(state, f"kanphys KAN, {engine}, Adam"))
        print(f"pykan: width [2,{hidden},1], {side * side} + {4 * side} points", flush=True)
        timings = time_side_by_side(contenders, **timing)
        blocks.append({"hidden": hidden, "timings": timings, "lbfgs": lbfgs, "note": note})
    return blocks


def points_study(s: dict[str, Any], timing: dict[str, Any]) -> list[dict[str, Any]]:
    """Points x steps per second of the KAN (Taylor engine) at growing N, float32 vs float64."""
    blocks = []
    for n in s["points"]:
        contenders = [
            state_contender(
                prepare_state(
                    network="kan",
                    hidden=s["hidden"],
                    engine="taylor",
                    dtype=dtype,
                    n_interior=n,
                    n_boundary=n_boundary_for(n),
                ),
                f"kanphys KAN, taylor, {dtype}",
            )
            for dtype in ("float32", "float64")
        ]
        print(f"points: N={n}", flush=True)
        timings = time_side_by_side(contenders, **(timing | {"min_steps": 2}))
        blocks.append({"n": n, "timings": timings})
    return blocks


def memory_study(s: dict[str, Any], threads: int) -> list[dict[str, Any]]:
    """One fresh process per configuration (float32; the second training step is measured)."""
    rows = []
    for n, grid_size, hidden, engine in s["memory"]:
        spec = {
            "n": n,
            "grid_size": grid_size,
            "hidden": list(hidden),
            "engine": engine,
            "threads": threads,
        }
        available = _available_bytes()
        spec["memory_cap"] = int(0.8 * available) if available else None
        outcome = run_child(spec)
        rows.append(spec | outcome)
        text = f"{outcome['peak_mb']:,.1f} MB" if outcome["status"] == "ok" else outcome["note"]
        print(f"memory: N={n} G={grid_size} hidden={list(hidden)} {engine}: {text}", flush=True)
    return rows


def measure_memory(spec: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: the peak resident-set growth of one training step over the resident
    set before it (after a first step, which allocates the optimiser state).

    Runs with :data:`MALLOC_ENV` (set by :func:`run_child`), so steps are slower than in the
    timed studies: the times are not reported."""
    torch.set_num_threads(spec["threads"])
    state = prepare_state(
        network="kan",
        hidden=spec["hidden"],
        engine=spec["engine"],
        dtype="float32",
        n_interior=spec["n"],
        n_boundary=n_boundary_for(spec["n"]),
        grid_size=spec["grid_size"],
    )
    contender = state_contender(state, "memory")
    torch.ones(64, 64) @ torch.ones(64, 64)  # start the thread pool before limiting memory
    _limit_address_space(spec.get("memory_cap"))
    try:
        contender.run(0)  # one step: the optimiser state and one-off allocations stay out
    except (RuntimeError, MemoryError) as error:
        return {"status": "failed", "note": f"failed ({str(error).splitlines()[0][:160]})"}
    reset = _reset_peak_rss()
    if reset:
        baseline_kb = _proc_status_kb("VmRSS") or 0
        method = "VmHWM growth (reset via clear_refs)"
    else:
        baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method = "ru_maxrss growth"
    try:
        contender.run(0)
    except (RuntimeError, MemoryError) as error:
        return {"status": "failed", "note": f"failed ({str(error).splitlines()[0][:160]})"}
    if reset:
        peak_kb = _proc_status_kb("VmHWM") or 0
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "status": "ok",
        "peak_mb": max(peak_kb - baseline_kb, 0) / 1024,
        "params": contender.params,
        "method": method,
    }


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env=os.environ | MALLOC_ENV,
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "note": "failed (timeout after 900 s)"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])[:200]
    reason = "killed, probably out of memory" if done.returncode < 0 else "crashed"
    return {"status": "failed", "note": f"failed ({reason}; exit {done.returncode}: {tail})"}


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def checks(s: dict[str, Any]) -> tuple[str, bool]:
    """Engines agree (float64, losses and gradients); the pykan Laplacian is right."""
    lines = [
        "| check | params | same parameters and points | max rel. diff, losses "
        "| max rel. diff, gradient | agree (tol 1e-10) |",
        "|---|---:|---|---:|---:|---|",
    ]
    ok = True
    for network in ("kan", "mlp"):
        result = check_engines(network, s["hidden"], 500, 64)
        worst = max(result["loss_rel_diff"], result["grad_rel_diff"])
        agree = result["same_inputs"] and worst < 1e-10
        ok &= agree
        lines.append(
            f"| {network.upper()}: Taylor vs autograd engine | {result['params']:,} "
            f"| {'yes' if result['same_inputs'] else 'no'} | {result['loss_rel_diff']:.1e} "
            f"| {result['grad_rel_diff']:.1e} | {'yes' if agree else '**no**'} |"
        )
    try:
        laplacian = check_pykan_laplacian(s["pykan_side"])["rel_error"]
        agree = laplacian < 1e-10
        ok &= agree
        lines.append(
            f"| pykan rows' Laplacian (`batch_jacobian` twice) on sin(πx)sin(πy), float64 | – "
            f"| – | {laplacian:.1e} | – | {'yes' if agree else '**no**'} |"
        )
    except ImportError:
        lines.append("| pykan rows' Laplacian | – | – | pykan not installed | – | – |")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, ~1 min, prints only")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="alternating rounds (default 3; 1 with --quick)"
    )
    parser.add_argument(
        "--target-seconds",
        type=float,
        default=None,
        help="timed seconds per implementation and configuration, over all rounds (default 15)",
    )
    parser.add_argument(
        "--studies",
        nargs="+",
        choices=("engines", "pykan", "points", "memory"),
        default=["engines", "pykan", "points", "memory"],
    )
    parser.add_argument("--output", type=Path, default=DOCS, help="docs page to update")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(RESULT_PREFIX + json.dumps(measure_memory(json.loads(args.child))), flush=True)
        return 0

    torch.set_num_threads(args.threads)
    s = sizes(args.quick)
    rounds = max(1, args.rounds or (1 if args.quick else 3))
    target = args.target_seconds or (0.5 if args.quick else 15.0)
    timing = {"rounds": rounds, "target_seconds": target, "min_steps": 1, "max_steps": 200}
    started, clock = datetime.datetime.now(), time.perf_counter()
    machine, source = machine_info(), kanphys_state()
    print(f"pinn_speed: {machine['cpu']}, torch threads {torch.get_num_threads()}", flush=True)

    check_text, agree = checks(s)
    print(check_text, flush=True)
    studies = {
        "engines": ("Derivative engines and networks (2-D Poisson, Adam)", engines_study),
        "pykan": ("kanphys vs pykan at equal width (pykan's tutorial PINN)", pykan_study),
        "points": ("Collocation points per second", points_study),
    }
    tables = {"engines": engines_tables, "pykan": pykan_tables, "points": points_tables}
    sections: list[tuple[str, str, list[str]]] = []
    loads: list[float] = []
    for name in ("engines", "pykan", "points"):
        if name in args.studies:
            title, study = studies[name]
            blocks = study(s, timing)
            loads += [load for block in blocks for t in block["timings"] for load in t.loads]
            sections.append((title, *tables[name](blocks, s)))
    if "memory" in args.studies:
        table, summary = memory_table(memory_study(s, args.threads), s["memory_reference"])
        sections.append(("Peak memory of one training step (float32)", table, summary))

    body = "\n\n".join(
        f"### {title}\n\n{table}\n\n" + "\n".join(f"- {line}" for line in summary)
        for title, table, summary in sections
    )
    print("\n" + body + "\n", flush=True)
    if not agree:
        print("pinn_speed: an agreement check failed (see the table above)", file=sys.stderr)
    if not (args.quick or args.no_docs):
        shown = ["python", "benchmarks/pinn_speed.py", *(sys.argv[1:] if argv is None else argv)]
        section = render_section(
            check_text,
            body,
            command=shlex.join(shown),
            started=started,
            elapsed=time.perf_counter() - clock,
            machine=machine,
            source=source,
            rounds=rounds,
            target=target,
            loads=loads,
        )
        replace_section(args.output, START, END, section)
        print(f"wrote {args.output}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
