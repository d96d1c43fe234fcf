"""Tables, summary lines and the docs section of ``pinn_speed.py``."""

from __future__ import annotations

import datetime
import importlib.metadata
import itertools
import statistics
from typing import Any

import torch
from pinn_contenders import Timing

START, END = "<!-- pinn_speed:start -->", "<!-- pinn_speed:end -->"
SPLINE_ORDER = 3


def kan_name(hidden: tuple[int, ...], grid_size: int = 5) -> str:
    return f"KAN [2,{','.join(map(str, hidden))},1] G={grid_size}"


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _ms(t: Timing) -> str:
    rounds = [1e3 * r for r in t.rounds]
    return f"{statistics.median(rounds):.1f} [{min(rounds):.1f}–{max(rounds):.1f}]"


def _verdict(value: float, target: float) -> str:
    return "met" if value >= target else "not met"


def engines_tables(blocks: list[dict[str, Any]], s: dict[str, Any]) -> tuple[str, list[str]]:
    lines = [
        "| N (+ boundary) | dtype | implementation | network | params | ms/step, median "
        "[min–max over rounds] | steps/s | points·steps/s | speed vs KAN Taylor |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    summary = []
    for block in blocks:
        timings = {t.contender.label: t for t in block["timings"]}
        reference = timings["kanphys KAN, taylor"]
        mlp = ",".join(map(str, block["mlp_width"]))
        for t in block["timings"]:
            c = t.contender
            network = kan_name(s["hidden"]) if "KAN" in c.label else f"[{mlp}] tanh"
            lines.append(
                f"| {c.points:,} (+{c.boundary}) | {block['dtype']} | {c.label} | {network} "
                f"| {c.params:,} | {_ms(t)} | {1 / t.seconds:,.1f} | {c.points / t.seconds:,.0f} "
                f"| {t.speedup_over(reference):.2f}× |"
            )
        kt, ka = reference, timings["kanphys KAN, autograd"]
        mt, ma = timings["kanphys MLP, taylor"], timings["kanphys MLP, autograd"]
        where = f"N = {block['n']:,}, {block['dtype']}"
        taylor_gain = kt.speedup_over(ka)
        summary.append(
            f"{where}: KAN Taylor vs autograd engine: **{taylor_gain:.2f}×** the steps/s "
            f"(target ≥ 2×: {_verdict(taylor_gain, 2.0)})"
        )
        same = kt.speedup_over(mt)
        best_kan = [min(a, b) for a, b in zip(kt.rounds, ka.rounds, strict=True)]
        best_mlp = [min(a, b) for a, b in zip(mt.rounds, ma.rounds, strict=True)]
        best = statistics.median(m / k for k, m in zip(best_kan, best_mlp, strict=True))
        summary.append(
            f"{where}: KAN ÷ matched MLP steps/s: **{same:.2f}** with the Taylor engine for "
            f"both ({_verdict(same, 1 / 1.5)}), **{best:.2f}** with each on its faster engine "
            f"({_verdict(best, 1 / 1.5)}); target: KAN within 1.5× of the MLP, i.e. ≥ 0.67"
        )
        if "DeepXDE FNN, autograd" in timings:
            dde_ratio = kt.speedup_over(timings["DeepXDE FNN, autograd"])
            summary.append(
                f"{where}: kanphys KAN (Taylor) ÷ DeepXDE FNN (matched) steps/s: "
                f"**{dde_ratio:.2f}**"
            )
        if block["note"]:
            summary.append(f"{where}: {block['note']}")
    return "\n".join(lines), summary


def pykan_tables(blocks: list[dict[str, Any]], s: dict[str, Any]) -> tuple[str, list[str]]:
    side = s["pykan_side"]
    lines = [
        "| width | implementation | trainable params | ms/step, median [min–max] | steps/s "
        "| kanphys ÷ pykan steps/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    summary = []
    for block in blocks:
        timings = block["timings"]
        pykan = next((t for t in timings if t.contender.label.startswith("pykan")), None)
        width = f"[2,{block['hidden']},1]"
        for t in timings:
            ratio = "–"
            if pykan is not None and t is not pykan:
                ratio = f"{t.speedup_over(pykan):.1f}×"
            lines.append(
                f"| {width} | {t.contender.label} | {t.contender.params} | {_ms(t)} "
                f"| {1 / t.seconds:,.1f} | {ratio} |"
            )
        if pykan is not None:
            best = max(t.speedup_over(pykan) for t in timings if t is not pykan)
            summary.append(
                f"width {width}, {side * side} + {4 * side} points, float32: kanphys ÷ pykan "
                f"steps/s **{best:.1f}×** (faster kanphys engine; target ≥ 50×: "
                f"{_verdict(best, 50.0)})"
            )
        lbfgs = block["lbfgs"]
        if lbfgs is not None:
            summary.append(
                f"width {width}: the tutorial's own optimiser step (pykan `LBFGS`, 20 iterations "
                f"per step) took {lbfgs['seconds_per_step']:.2f} s with "
                f"{lbfgs['evaluations_per_step']:.0f} loss-and-gradient evaluations "
                f"({1e3 * lbfgs['seconds_per_evaluation']:.1f} ms each)"
            )
        if block["note"]:
            summary.append(f"width {width}: {block['note']}")
    return "\n".join(lines), summary


def points_tables(blocks: list[dict[str, Any]], s: dict[str, Any]) -> tuple[str, list[str]]:
    lines = [
        "| N (+ boundary) | dtype | params | ms/step, median [min–max] | steps/s "
        "| points·steps/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    best32 = 0.0
    for block in blocks:
        for t in block["timings"]:
            c = t.contender
            dtype = c.label.rsplit(", ", 1)[-1]
            rate = c.points / t.seconds
            if dtype == "float32":
                best32 = max(best32, rate)
            lines.append(
                f"| {c.points:,} (+{c.boundary}) | {dtype} | {c.params:,} | {_ms(t)} "
                f"| {1 / t.seconds:,.2f} | {rate:,.0f} |"
            )
    params = blocks[0]["timings"][0].contender.params if blocks else 0
    summary = [
        f"{kan_name(s['hidden'])} ({params:,} parameters), Taylor engine, float32: best "
        f"**{best32:,.0f}** collocation points·steps/s (target ≥ 100,000: "
        f"{_verdict(best32, 1e5)})"
    ]
    return "\n".join(lines), summary


def _sums(hidden: list[int], grid_size: int) -> tuple[int, int]:
    """``sum_l in_l (G + k)`` and ``sum_l in_l out_l (G + k)`` over the KAN's layers."""
    width = [2, *hidden, 1]
    basis = grid_size + SPLINE_ORDER
    per_input = sum(width[:-1]) * basis
    per_edge = sum(a * b for a, b in itertools.pairwise(width)) * basis
    return per_input, per_edge


def memory_table(rows: list[dict[str, Any]], reference: int) -> tuple[str, list[str]]:
    lines = [
        "| N | G | hidden | engine | params | peak growth (MB) | × reference "
        "| N·Σ in·(G+k) predicts | N·Σ in·out·(G+k) predicts |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    ref = rows[reference]
    ref_in, ref_edge = _sums(ref["hidden"], ref["grid_size"])
    for i, row in enumerate(rows):
        per_input, per_edge = _sums(row["hidden"], row["grid_size"])
        by_input = row["n"] * per_input / (ref["n"] * ref_in)
        by_edge = row["n"] * per_edge / (ref["n"] * ref_edge)
        mark = " (reference)" if i == reference else ""
        if row["status"] != "ok":
            lines.append(
                f"| {row['n']:,} | {row['grid_size']} | {row['hidden']} | {row['engine']} | – "
                f"| {row['note']} | – | {by_input:.2f}× | {by_edge:.2f}× |"
            )
            continue
        observed = f"{row['peak_mb'] / ref['peak_mb']:.2f}×" if ref.get("status") == "ok" else "–"
        lines.append(
            f"| {row['n']:,}{mark} | {row['grid_size']} | {row['hidden']} | {row['engine']} "
            f"| {row['params']:,} | {row['peak_mb']:,.1f} | {observed} "
            f"| {by_input:.2f}× | {by_edge:.2f}× |"
        )
    method = next((r["method"] for r in rows if r["status"] == "ok"), "unknown")
    return "\n".join(lines), [*memory_summary(rows, reference), f"memory method: {method}"]


def memory_summary(rows: list[dict[str, Any]], reference: int) -> list[str]:
    """How the peak grows with N, with G + k (affine: a part of the memory does not depend on
    the basis) and with the width, read from the rows that differ from the reference in one."""
    ref = rows[reference]
    if ref["status"] != "ok":
        return []
    ok = [r for r in rows if r["status"] == "ok"]

    def differs_in(key: str) -> list[dict[str, Any]]:
        keys = [k for k in ("n", "grid_size", "hidden", "engine") if k != key]
        return [r for r in ok if all(r[k] == ref[k] for k in keys) and r[key] != ref[key]]

    lines = []
    for r in differs_in("n"):
        lines.append(
            f"N {r['n']:,} → {ref['n']:,} (×{ref['n'] / r['n']:g}): peak "
            f"×{ref['peak_mb'] / r['peak_mb']:.2f}"
        )
    grids = sorted([ref, *differs_in("grid_size")], key=lambda r: r["grid_size"])
    if len(grids) >= 3:
        a, b = grids[0], grids[1]
        slope = (b["peak_mb"] - a["peak_mb"]) / (b["grid_size"] - a["grid_size"])
        for c in grids[2:]:
            line = a["peak_mb"] + slope * (c["grid_size"] - a["grid_size"])
            lines.append(
                f"G = {c['grid_size']}: {c['peak_mb']:,.0f} MB measured; the straight line "
                f"through G = {a['grid_size']} and G = {b['grid_size']} ({slope:,.1f} MB per "
                f"basis function at N = {ref['n']:,}) predicts {line:,.0f} MB"
            )
    ref_in, ref_edge = _sums(ref["hidden"], ref["grid_size"])
    for r in differs_in("hidden"):
        per_input, per_edge = _sums(r["hidden"], r["grid_size"])
        lines.append(
            f"hidden {ref['hidden']} → {r['hidden']}: peak ×{r['peak_mb'] / ref['peak_mb']:.2f}; "
            f"Σ in·(G+k) grows ×{per_input / ref_in:.2f}, Σ in·out·(G+k) ×{per_edge / ref_edge:.2f}"
        )
    for r in differs_in("engine"):
        lines.append(
            f"{r['engine']} engine: peak ×{r['peak_mb'] / ref['peak_mb']:.2f} of the "
            f"{ref['engine']} engine's"
        )
    return lines


def render_section(
    check_text: str,
    body: str,
    *,
    command: str,
    started: datetime.datetime,
    elapsed: float,
    machine: dict[str, str],
    source: dict[str, str],
    rounds: int,
    target: float,
    loads: list[float],
) -> str:
    """This script's section of ``docs/benchmarks.md``, markers included."""
    loads_text = f"{min(loads):.2f}–{max(loads):.2f}" if loads else "unknown"
    try:
        deepxde = importlib.metadata.version("deepxde")
    except importlib.metadata.PackageNotFoundError:
        deepxde = "not installed"
    code = f"kanphys at commit `{source['commit']}`" + (
        f" with uncommitted changes in {source['dirty']}" if source["dirty"] else ""
    )
    return f"""{START}
## PINN training steps on the CPU (`benchmarks/pinn_speed.py`)

2-D Poisson, `-(u_xx + u_yy) = 2π² sin(πx) sin(πy)` on [-1, 1]², `u = 0` on the boundary as a
loss term (`hard_constraints = false`). A step is the interior residual on N collocation points,
the boundary residual (N/16 points, at least 32), the backward pass and one Adam step, each
implementation timed in its own training loop: kanphys's `prepare` + `train` (the library's
loop; a callback reads the clock after every step), DeepXDE's `Model.train` (a DeepXDE callback
reads the clock; the iteration that evaluates the test set is not counted) and pykan's tutorial
step (pykan's `KAN` and `batch_jacobian`, Adam instead of the tutorial's L-BFGS so that a step
means the same thing; grid updates and the tutorial's monitoring forward pass left out). The
implementations of a table ran side by side in one process, {rounds} round(s), their order
alternating; about {target:g} s of timed steps per row in all; "ms/step" is the median over
rounds of each round's median, and the ratios are medians of per-round ratios. DeepXDE's PDE
residual (and Hessian) is also evaluated on its boundary points, as DeepXDE does. The MLP is
kanphys's matched-size MLP (two equal hidden layers, tanh); DeepXDE's FNN has the same width.
Memory: peak resident-set growth of a training step over the resident set before it (the second
step of the run), each configuration in a fresh process run with glibc's mmap threshold fixed
(`MALLOC_MMAP_THRESHOLD_=131072`, so that freed tensors go back to the system and the resident
set between steps is what a run keeps); the last two columns say what the growth would be,
relative to the reference row, if memory were proportional to the basis tensors `(N, in, G + k)`
of every layer, or to per-edge tensors `(N, in, out, G + k)`.

- command: `{command}`
- code: {code} (source digest `{source["digest"]}`)
- date: {started:%Y-%m-%d %H:%M} (local), {elapsed / 60:.1f} min in all; 1-minute load average
  seen after the timed calls: {loads_text} (with more runnable processes than cores, times grow)
- machine: {machine["cpu"]}, {machine["logical_cpus"]} logical CPUs, {machine["memory"]} RAM,
  torch {machine["torch"]} with {torch.get_num_threads()} thread(s) (thread variables:
  {machine["thread_env"]}), DeepXDE {deepxde} (PyTorch backend), pykan {machine["pykan"]},
  Python {machine["python"]}, {machine["os"]}

### Agreement before timing

{check_text}

{body}
{END}"""
