"""Feynman equations: how often does ``LawDiscovery`` recover the exact law?

For every equation of ``benchmarks/data/feynman_public.toml`` (26 laws from the AI Feynman
database with their sampling ranges), every seed and noise level: sample 10^4 points, add
noise ``N(0, noise * RMS(y))`` to the targets (all rows given to the estimator: its own test
split is noisy too), run ``LawDiscovery`` and judge the formula on fresh noise-free points:

* **strict** recovery: sympy proves ``formula - truth == 0`` after constant snapping, or the
  formula matches the truth to max relative error < 1e-6 on 10^4 fresh points drawn from the
  ranges widened by 50% (points where the truth is not real are skipped), and in both cases
  ``count_ops(formula) <= 2 * count_ops(truth)``;
* **srbench** (looser, SRBench's "symbolic solution"): sympy shows that ``truth - formula`` or
  ``truth / formula`` is a constant, or the 1e-6 numeric match holds, with no complexity cap;
* **r2**: R^2 > 0.999 on 10^4 fresh noise-free points from the original ranges.

Runs go to a JSON file (resumable: finished runs are skipped) and the tables to
``docs/discovery.md`` between the ``<!-- feynman:start -->`` / ``<!-- feynman:end -->`` markers.

    python benchmarks/feynman.py                                  # 26 laws x 3 seeds x 2 noises
    python benchmarks/feynman.py --ids I.12.1 I.6.2 --seeds 0 --noises 0 --no-docs
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import sympy
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "feynman_public.toml"
START, END = "<!-- feynman:start -->", "<!-- feynman:end -->"
N_SAMPLES = 10_000
# published exact-recovery rates on SRBench's 116 Feynman problems (La Cava et al. 2021)
PUBLISHED = "AI Feynman 55.8%, AFP_FE 27.0%, GP-GOMEA 26.8%, DSR 19.7% (noise 0, 116 problems)"


def load_equations(path: Path = DATA) -> list[dict[str, Any]]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    with path.open("rb") as handle:
        return tomllib.load(handle)["equation"]


def _symbols(equation: dict[str, Any]) -> dict[str, sympy.Symbol]:
    return {v["name"]: sympy.Symbol(v["name"], positive=True) for v in equation["variables"]}


def _parse(text: str, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    from sympy.parsing.sympy_parser import parse_expr

    # benchmark-internal: the formulas are our own output and the published table
    return parse_expr(text, local_dict=dict(symbols))


def _sample(
    equation: dict[str, Any], n: int, rng: np.random.Generator, widen: float = 0.0
) -> np.ndarray:
    columns = []
    for variable in equation["variables"]:
        low, high = float(variable["low"]), float(variable["high"])
        half = 0.5 * (high - low) * (1.0 + widen)
        centre = 0.5 * (high + low)
        columns.append(rng.uniform(centre - half, centre + half, n))
    return np.stack(columns, axis=1)


def _values(expr: sympy.Expr, names: list[str], symbols: dict[str, sympy.Symbol], X: np.ndarray):
    from kanphys.symbolic.evaluate import to_torch

    function = to_torch(expr, [symbols[n] for n in names])
    with torch.no_grad():
        out = function(torch.as_tensor(X, dtype=torch.float64))
    return torch.as_tensor(out, dtype=torch.float64).expand(X.shape[0]).numpy().copy()


class _Timeout(Exception):
    pass


def _simplify(expr: sympy.Expr, seconds: int = 20) -> sympy.Expr | None:
    """``sympy.simplify`` with a time limit (it can run for hours on unequal formulas)."""
    if sympy.count_ops(expr) > 200:
        return None

    def alarm(signum: int, frame: Any) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        return sympy.simplify(expr)
    except (_Timeout, Exception):
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _is_constant(expr: sympy.Expr) -> bool:
    simplified = _simplify(expr)
    return simplified is not None and not simplified.free_symbols and bool(simplified.is_finite)


def judge(equation: dict[str, Any], formula: str, seed: int) -> dict[str, Any]:
    """Strict / SRBench / R^2 verdicts of ``formula`` against the equation's truth."""
    from kanphys.symbolic.constants import complexity

    symbols = _symbols(equation)
    names = [v["name"] for v in equation["variables"]]
    truth = _parse(equation["formula"], symbols)
    found = _parse(formula, symbols)
    rng = np.random.default_rng(10_000 + seed)
    wide = _sample(equation, N_SAMPLES, rng, widen=0.5)
    with np.errstate(all="ignore"):
        t_wide = _values(truth, names, symbols, wide)
        f_wide = _values(found, names, symbols, wide)
    real = np.isfinite(t_wide)
    relative = np.abs(f_wide[real] - t_wide[real]) / np.maximum(np.abs(t_wide[real]), 1e-300)
    max_relative = float(np.max(relative)) if real.any() else math.inf
    if not np.isfinite(max_relative):
        max_relative = math.inf
    numeric = max_relative < 1e-6
    difference_zero = False
    if not numeric:
        difference_zero = _simplify(found - truth) == 0
    compact = complexity(found) <= 2 * complexity(truth)
    strict = (numeric or difference_zero) and compact
    srbench = (
        numeric or difference_zero or _is_constant(truth - found) or _is_constant(truth / found)
    )
    plain = _sample(equation, N_SAMPLES, rng)
    with np.errstate(all="ignore"):
        t_plain = _values(truth, names, symbols, plain)
        f_plain = _values(found, names, symbols, plain)
    r2 = 1.0 - float(np.mean((f_plain - t_plain) ** 2)) / float(np.var(t_plain))
    return {
        "strict": bool(strict),
        "srbench": bool(srbench),
        "r2_fresh": r2 if math.isfinite(r2) else -math.inf,
        "r2_ok": bool(r2 > 0.999),
        "max_relative_error": max_relative,
        "complexity": int(complexity(found)),
        "truth_complexity": int(complexity(truth)),
    }


def run_one(task: tuple[dict[str, Any], int, float, dict[str, Any]]) -> dict[str, Any]:
    from kanphys.discovery import LawDiscovery

    equation, seed, noise, settings = task
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    names = [v["name"] for v in equation["variables"]]
    symbols = _symbols(equation)
    X = _sample(equation, N_SAMPLES, rng)
    y = _values(_parse(equation["formula"], symbols), names, symbols, X)
    if noise:
        y = y + rng.normal(0.0, noise * float(np.sqrt(np.mean(y**2))), size=y.shape)
    record: dict[str, Any] = {"id": equation["id"], "seed": seed, "noise": noise}
    started = time.perf_counter()
    try:
        estimator = LawDiscovery(seed=seed, noise_aware=bool(noise), **settings)
        estimator.fit(X, y, names=names)
        record.update(
            formula=estimator.formula_string_,
            view=next(c.view for c in estimator.pareto_ if c.chosen),
            r2_test=estimator.r2_test_,
            wall_time_s=time.perf_counter() - started,
        )
        record.update(judge(equation, estimator.formula_string_, seed))
    except Exception as err:
        record.update(
            formula=None,
            error=f"{type(err).__name__}: {err}",
            wall_time_s=time.perf_counter() - started,
            strict=False,
            srbench=False,
            r2_ok=False,
        )
    return record


def rates(records: list[dict[str, Any]], noise: float) -> dict[str, float]:
    chosen = [r for r in records if r["noise"] == noise]
    if not chosen:
        return {}
    return {
        key: 100.0 * sum(bool(r.get(key)) for r in chosen) / len(chosen)
        for key in ("strict", "srbench", "r2_ok")
    } | {"runs": len(chosen)}


def tables(records: list[dict[str, Any]], equations: list[dict[str, Any]]) -> str:
    noises = sorted({r["noise"] for r in records})
    lines = [
        "| noise | seeds | runs | strict | SRBench-style | R^2 > 0.999 |",
        "|---|---|---|---|---|---|",
    ]
    for noise in noises:
        rate = rates(records, noise)
        seeds = ", ".join(
            str(s) for s in sorted({r["seed"] for r in records if r["noise"] == noise})
        )
        lines.append(
            f"| {noise:g} | {seeds} | {rate['runs']} | {rate['strict']:.1f}% "
            f"| {rate['srbench']:.1f}% | {rate['r2_ok']:.1f}% |"
        )
    lines += ["", f"Published, for scale: {PUBLISHED}.", ""]
    header = "| id | truth | " + " | ".join(f"strict @{n:g}" for n in noises)
    header += " | median R^2 (noise 0) | median time (s) | a formula found (noise 0, seed 0) |"
    lines += [header, "|" + "---|" * (5 + len(noises))]
    for equation in equations:
        mine = [r for r in records if r["id"] == equation["id"]]
        if not mine:
            continue
        cells = []
        for noise in noises:
            runs = [r for r in mine if r["noise"] == noise]
            cells.append(f"{sum(r['strict'] for r in runs)}/{len(runs)}")
        clean = [r for r in mine if r["noise"] == 0]
        r2 = np.median([r.get("r2_fresh", -math.inf) for r in clean]) if clean else math.nan
        seconds = np.median([r["wall_time_s"] for r in mine])
        example = next((r for r in clean if r["seed"] == 0), clean[0] if clean else None)
        shown = (example or {}).get("formula") or (example or {}).get("error", "")
        shown = shown if len(shown) < 90 else shown[:87] + "..."
        lines.append(
            f"| {equation['id']} | `{equation['formula']}` | {' | '.join(cells)} | {r2:.6f} "
            f"| {seconds:.1f} | `{shown}` |"
        )
    return "\n".join(lines)


def write_docs(text: str, command: str, path: Path) -> None:
    from kanphys.runtime import environment_info

    info = environment_info()
    block = (
        f"{START}\nMeasured with `{command}` on {info['platform']} "
        f"({info['threads']['cpu_count']} CPU cores, torch {info['versions']['torch']}).\n\n"
        f"{text}\n{END}"
    )
    current = path.read_text() if path.exists() else "# Law discovery\n\n"
    if START in current and END in current:
        before, rest = current.split(START, 1)
        current = before + block + rest.split(END, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    path.write_text(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="*", help="equation ids (default: all)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--noises", nargs="*", type=float, default=[0.0, 0.01])
    parser.add_argument("--workers", type=int, default=2, help="parallel processes")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--json", default="feynman_runs.json", help="runs file (resumable)")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/discovery.md")
    parser.add_argument(
        "--no-structure", action="store_true", help="LawDiscovery(structure=False): KAN views only"
    )
    parser.add_argument("--command", help="command line to quote in the docs")
    parser.add_argument(
        "--report-only", action="store_true", help="write the tables from --json, run nothing"
    )
    args = parser.parse_args(argv)
    equations = load_equations()
    if args.ids:
        unknown = sorted(set(args.ids) - {e["id"] for e in equations})
        if unknown:
            parser.error(f"unknown ids {unknown}")
        equations = [e for e in equations if e["id"] in args.ids]
    path = Path(args.json)
    records = json.loads(path.read_text()) if path.exists() else []
    done = {(r["id"], r["seed"], r["noise"]) for r in records}
    settings = {"time_limit": args.time_limit, "structure": not args.no_structure}
    tasks = [
        (e, seed, noise, settings)
        for noise in args.noises
        for seed in args.seeds
        for e in equations
        if (e["id"], seed, noise) not in done and not args.report_only
    ]
    context = multiprocessing.get_context("spawn")
    with context.Pool(max(1, min(args.workers, len(tasks) or 1))) as pool:
        for record in pool.imap_unordered(run_one, tasks):
            records.append(record)
            path.write_text(json.dumps(records, indent=1))
            verdict = "STRICT" if record.get("strict") else ("r2" if record.get("r2_ok") else "-")
            print(
                f"{record['id']:>9} seed {record['seed']} noise {record['noise']:g}: {verdict:6} "
                f"{record['wall_time_s']:6.1f}s  {record.get('formula') or record.get('error')}",
                flush=True,
            )
    wanted = {e["id"] for e in equations}
    chosen = [
        r
        for r in records
        if r["id"] in wanted and r["seed"] in args.seeds and r["noise"] in args.noises
    ]
    if not chosen:
        print("no runs recorded for these ids, seeds and noises")
        return 1
    text = tables(chosen, equations)
    print(text)
    if not args.no_docs:
        command = args.command or "python " + " ".join(shlex.quote(a) for a in sys.argv)
        write_docs(text, command, ROOT / "docs" / "discovery.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
