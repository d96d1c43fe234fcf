"""KAN vs MLP on every built-in problem: same budget, matched parameter count.

Each problem is solved with its spec's defaults twice, as a KAN and as an MLP with two equal
hidden layers and about as many parameters (``[model] type = "mlp"`` without ``hidden``), with
the same Adam and L-BFGS step counts, seed and collocation points. The table (relative L2 error
per field, parameters, steps, wall time) goes to ``docs/accuracy.md`` between the
``<!-- pinn_accuracy:start -->`` / ``<!-- pinn_accuracy:end -->`` markers.

    python benchmarks/pinn_accuracy.py                       # all problems, both models
    python benchmarks/pinn_accuracy.py --problems poisson2d heat1d --models kan
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from kanphys.pde.registry import list_problems
from kanphys.runtime import environment_info
from kanphys.training.solve import solve

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- pinn_accuracy:start -->", "<!-- pinn_accuracy:end -->"

# published results quoted by the issue, for orientation (different budgets and hardware)
PUBLISHED = {
    "helmholtz2d": "1.0e-3 (jaxKAN, 1.6k params)",
    "heat1d": "2.1e-4 (jaxKAN, 1.6k params)",
    "burgers1d": "5.8e-4 (Jacobi-KAN)",
    "kovasznay": "u 1.1e-3",
}


def run(problem: str, model: str, args: argparse.Namespace) -> dict[str, Any]:
    training: dict[str, Any] = {}
    if args.scale != 1.0:
        from kanphys.pde.registry import get_problem

        spec = get_problem(problem).training
        training["steps"] = int(spec.get("steps", 1000) * args.scale)
        training["lbfgs_steps"] = int(spec.get("lbfgs_steps", 0) * args.scale)
        training["grid_schedule"] = [
            [int(step * args.scale), size] for step, size in spec.get("grid_schedule", [])
        ]
    out = Path(args.runs) / f"{problem}-{model}"
    started = time.perf_counter()
    result = solve(
        problem,
        model={"type": model},
        training=training,
        out=out,
        device=args.device,
        plots=args.plots,
    )
    metrics = dict(result.metrics)
    metrics["total_time_s"] = round(time.perf_counter() - started, 2)
    print(
        f"{problem:<15} {model:<4} rel_l2 "
        + ", ".join(f"{k} {v:.2e}" for k, v in metrics["rel_l2"].items())
        + f"  {metrics['wall_time_s']:.1f} s  {metrics['n_params']} params",
        flush=True,
    )
    return metrics


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| problem | model | params | Adam + L-BFGS steps | train time (s) | rel. L2 error | "
        "identified | published (other budgets) |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for m in results:
        errors = ", ".join(f"{k} {v:.2e}" for k, v in m["rel_l2"].items())
        identified = ", ".join(f"{k} = {v:.4g}" for k, v in m["parameters"].items()) or ""
        width = "x".join(str(w) for w in m["model"]["width"])
        published = PUBLISHED.get(m["problem"], "") if m["model"]["type"] == "kan" else ""
        lines.append(
            f"| {m['problem']} | {m['model']['type']} [{width}] | {m['n_params']} | "
            f"{m['adam_steps']} + {m['lbfgs_steps']} | {m['wall_time_s']:.1f} | {errors} | "
            f"{identified} | {published} |"
        )
    return "\n".join(lines)


def write_docs(results: list[dict[str, Any]], command: str, path: Path) -> None:
    info = environment_info()
    block = "\n".join(
        [
            START,
            f"Command: `{command}`  ",
            f"Machine: {info['platform']}, {info['threads']['cpu_count']} CPUs, device "
            f"{results[0]['device'] if results else '?'}, torch {info['versions']['torch']}, "
            f"kanphys {info['versions']['kanphys']}; run {time.strftime('%Y-%m-%d')}.",
            "",
            table(results),
            END,
        ]
    )
    text = path.read_text() if path.exists() else f"# Accuracy\n\n{START}\n{END}\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [name for name, _ in list_problems()]
    parser.add_argument("--problems", nargs="+", default=names, choices=names)
    parser.add_argument("--models", nargs="+", default=["kan", "mlp"], choices=["kan", "mlp"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the step budgets")
    parser.add_argument("--runs", default="runs/accuracy", help="output directory of the runs")
    parser.add_argument("--plots", action="store_true", help="also write the figures")
    parser.add_argument("--json", default=None, help="also write all metrics to this file")
    parser.add_argument("--docs", default=str(ROOT / "docs" / "accuracy.md"))
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument(
        "--from-json",
        default=None,
        help="write the docs table from a --json file of an earlier run instead of running",
    )
    parser.add_argument("--command", default=None, help="with --from-json: the run's command")
    args = parser.parse_args(argv)
    command = "python benchmarks/pinn_accuracy.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        write_docs(results, args.command or command.strip(), Path(args.docs))
        return 0
    results = [run(p, m, args) for p in args.problems for m in args.models]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    if not args.no_docs:
        write_docs(results, command.strip(), Path(args.docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
