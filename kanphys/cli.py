"""The ``kanphys`` command line. The only module that prints, configures logging and exits."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence

from kanphys._version import __version__
from kanphys.errors import KanphysError

__all__ = ["main"]


def _info(args: argparse.Namespace) -> int:
    from kanphys.runtime import environment_info

    info = environment_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"kanphys {info['versions']['kanphys']}")
    print("versions:")
    for name, version in info["versions"].items():
        if name != "kanphys":
            print(f"  {name:<11} {version if version is not None else 'not installed'}")
    device = info["device"]
    print("device:")
    print(f"  auto        {device['auto']}")
    cuda = (
        f"available (CUDA {device['cuda_version']})"
        if device["cuda_available"]
        else "not available"
    )
    print(f"  cuda        {cuda}")
    for gpu in device["gpus"]:
        print(f"  gpu {gpu['index']}       {gpu['name']} ({gpu['memory_gib']} GiB)")
    threads = info["threads"]
    print("threads:")
    print(f"  torch       {threads['torch_intraop']} intra-op, {threads['torch_interop']} inter-op")
    print(f"  cpu count   {threads['cpu_count']}")
    print(f"platform: {info['platform']}")
    return 0


def _hidden(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--width takes comma-separated hidden layer widths such as 8 or 16,16; got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--width needs positive integers; got {text!r}")
    return values


def _overrides(args: argparse.Namespace) -> tuple[dict[str, object], dict[str, object]]:
    model = {
        "type": args.model,
        "width": args.width,
        "basis": args.basis,
        "grid_size": args.grid_size,
        "hard_constraints": False if args.soft_constraints else None,
    }
    training = {
        "steps": args.steps,
        "lbfgs_steps": args.lbfgs_steps,
        "learning_rate": args.learning_rate,
        "n_collocation": args.n_collocation,
        "seed": args.seed,
        "dtype": args.dtype,
        "checkpoint_every": args.checkpoint_every,
        "time_limit": args.time_limit,
        "resample": args.resample,
    }
    return model, training


def _solve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kanphys.pde.registry import resolve_problem
    from kanphys.training.distributed import launched_by_torchrun
    from kanphys.training.solve import solve

    problem = resolve_problem(args.problem)
    out = Path(args.out) if args.out else Path("runs") / problem.name
    distributed = launched_by_torchrun() if args.distributed is None else args.distributed
    # in a distributed run only rank 0 speaks (torchrun sets RANK)
    if distributed and os.environ.get("RANK", "0") != "0":
        args.quiet, args.json = True, False
    chatty = not args.quiet and not args.json
    if (out / "model.pt").exists() and not args.resume and chatty:
        print(f"note: {out} holds an earlier run; it is overwritten (use --resume to continue)")
    model, training = _overrides(args)
    if chatty:
        print(f"solving {problem.name}: {problem.description}")
    try:
        result = solve(
            problem,
            model=model,
            training=training,
            out=out,
            resume=args.resume,
            device=args.device,
            progress=not args.quiet and sys.stderr.isatty(),
            plots=not args.no_plots,
            symbolic=args.symbolic,
            distributed=distributed,
        )
    except KeyboardInterrupt:  # pragma: no cover - the trainer catches it first
        print(f"interrupted; continue with --resume --out {out}", file=sys.stderr)
        return 130
    m = result.metrics
    if args.json:
        print(json.dumps(m, indent=2, default=str))
    elif not args.quiet:
        errors = ", ".join(f"{k} {v:.3e}" for k, v in m["rel_l2"].items()) or "no reference"
        print(f"status      {m['status']} after {m['steps']} steps in {m['wall_time_s']:.1f} s")
        print(f"rel. L2     {errors}")
        print(f"final loss  {m['final_loss']:.3e}")
        print(f"model       {m['model']['type']} {m['model']['width']}, {m['n_params']} parameters")
        print(f"device      {m['device']} ({m['dtype']}), derivatives: {m['derivatives']}")
        if m.get("distributed"):
            ranks = m["distributed"]
            print(f"distributed {ranks['world_size']} processes ({ranks['backend']})")
        for field, found in m.get("formulas", {}).items():
            if found.get("formula") is None:
                print(f"formula     {field}: none found ({found.get('error')})")
            else:
                print(
                    f"formula     {field} = {found['formula']} "
                    f"(rel. L2 {found['rel_l2']:.3e}, complexity {found['complexity']})"
                )
        if m["parameters"]:
            print("parameters  " + ", ".join(f"{k} = {v:.6g}" for k, v in m["parameters"].items()))
        files = "result.json, history.csv, model.pt, model.json"
        files += "" if args.no_plots else ", solution.png, loss.png"
        print(f"outputs     {out}/ ({files})")
    if m["status"] == "interrupted":
        again = [a for a in (sys.argv[1:] if args.argv is None else args.argv) if a != "--resume"]
        if args.out is None:
            again += ["--out", str(out)]
        print(f"interrupted; continue with: kanphys {shlex.join(again)} --resume", file=sys.stderr)
        return 130
    return 0


def _names(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"--inputs takes comma-separated column names; got {text!r}"
        )
    return names


def _discover(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kanphys.discovery import LawDiscovery, read_table
    from kanphys.io.results import write_json

    data = read_table(args.data, target=args.target, inputs=args.inputs, nan_policy=args.nan_policy)
    out = Path(args.out) if args.out else Path("runs") / f"discover-{Path(args.data).stem}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KanphysError(f"cannot create the output directory {str(out)!r}: {err}") from None
    chatty = not args.quiet and not args.json
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    if chatty:
        print(f"discovering {data.target} = f({', '.join(data.names)}) from {len(data.y)} rows")
    estimator = LawDiscovery(
        noise_aware=args.noise_aware,
        structure=not args.no_structure,
        time_limit=args.time_limit,
        seed=args.seed,
        device=args.device,
        **({"views": args.views} if args.views else {}),
    ).fit_dataset(data)
    result = estimator.to_dict()
    write_json(result, out / "result.json")
    picture = None if args.no_plots else estimator.plot(out / "kan.png")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif chatty:
        print(f"formula     {data.target} = {result['formula']}")
        print(f"test error  R^2 {result['r2_test']:.8f}, RMSE {result['rmse_test']:.3e}")
        print(f"complexity  {result['complexity']} (sympy count_ops)")
        print("pareto front (complexity, validation RMSE, formula):")
        for c in result["pareto"]:
            mark = "*" if c["chosen"] else " "
            print(f"  {mark} {c['complexity']:>3}  {c['rmse_val']:.3e}  {c['formula']}")
        files = "result.json" + ("" if picture is None else ", kan.png")
        if picture is None and not args.no_plots:
            print("kan.png     not drawn: the closed-form search found the law before any network")
        print(f"outputs     {out}/ ({files}) in {result['wall_time_s']:.1f} s")
    return 0


def _structure(args: argparse.Namespace) -> int:
    from kanphys.discovery import read_table, structure
    from kanphys.discovery.reduction import Surrogate

    data = read_table(args.data, target=args.target, inputs=args.inputs, nan_policy="drop")
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    if data.X.shape[1] < 2:
        raise KanphysError(
            f"structure: needs at least two input columns; {args.data} has {list(data.names)}"
        )
    if not args.json:
        print(f"fitting a KAN surrogate of {data.target} = f({', '.join(data.names)})")
    surrogate = Surrogate(
        data.X, data.y, seed=args.seed, steps=args.steps, max_rows=args.rows, noisy=args.noisy
    )
    report = structure(
        surrogate,
        data.X,
        names=data.names,
        invariants=args.invariant or (),
        method=args.method,
        seed=args.seed,
    )
    result = {"surrogate_rmse": surrogate.rmse, **report.to_dict()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    scale = "relative (log|y|)" if surrogate.log_target else "absolute"
    print(f"surrogate   RMSE {surrogate.rmse:.3e} ({scale})")
    print(report)
    if args.all:
        print("tested and not holding:")
        for fact in report.facts:
            if not fact.holds:
                print(f"  {fact.describe()}")
    return 0


def _columns(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if len(names) != 3:
        raise argparse.ArgumentTypeError(
            f"--columns takes three comma-separated names (time, space, field) such as t,x,u; "
            f"got {text!r}"
        )
    return names


def _identify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kanphys.discovery.field_data import read_field
    from kanphys.discovery.identify import identify_pde
    from kanphys.io.results import write_json

    data = read_field(args.data, columns=args.columns)
    out = Path(args.out) if args.out else Path("runs") / f"identify-{Path(args.data).stem}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KanphysError(f"cannot create the output directory {str(out)!r}: {err}") from None
    chatty = not args.quiet and not args.json
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    t_name, x_name, u_name = data.names
    if chatty:
        print(
            f"identifying {u_name}_t = N({u_name}, {u_name}_x, ...) on a {data.t.size} x "
            f"{data.x.size} grid ({t_name} in [{data.t[0]:.6g}, {data.t[-1]:.6g}], {x_name} in "
            f"[{data.x[0]:.6g}, {data.x[-1]:.6g}])"
        )
    found = identify_pde(
        data.t,
        data.x,
        data.u,
        max_order=args.max_order,
        max_power=args.max_power,
        constant=not args.no_constant,
        formulation=args.formulation,
        derivatives=args.derivatives,
        threshold=args.threshold,
        penalty=args.penalty,
        tolerance=args.tolerance,
        n_resamples=args.resamples,
        min_frequency=args.min_frequency,
        refine=not args.no_refine,
        truth=args.truth,
        seed=args.seed,
        time_limit=args.time_limit,
        device=args.device,
    )
    result = found.to_dict()
    result["data"] = {
        "file": str(args.data),
        "columns": list(data.names),
        "shape": [int(data.t.size), int(data.x.size)],
        "notes": list(data.notes),
    }
    write_json(result, out / "result.json")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    if not chatty:
        return 0
    equation = result["equations"][0]
    details = result["details"]
    print(f"noise       {100 * details['noise_relative']:.3g}% of std({u_name}) (estimated)")
    print(f"equation    {equation['text']}")
    terms = equation["terms"]
    width = max((len(name) for name in terms), default=0)
    for k, (name, term) in enumerate(terms.items()):
        label = "terms" if k == 0 else ""
        print(
            f"{label:<11} {name:<{width}}  {term['coefficient']:+.6g} +- {term['std']:.2g}  "
            f"(selected in {100 * term['frequency']:.0f}% of resamples)"
        )
    unstable = [
        f"{name} {100 * f:.0f}%"
        for name, f in result["frequencies"]["u_t"].items()
        if 0 < f and name not in terms
    ]
    if unstable:
        print(f"dropped     {', '.join(unstable)} (selected in too few resamples)")
    print(f"residual    {equation['residual']:.3e} (held-out, relative)")
    print(
        f"method      {details['formulation']} form, derivatives {details['derivatives']}, "
        f"refinement {'on' if details['refinement']['applied'] else 'off'}"
    )
    if result["truth"] is not None:
        truth = result["truth"]
        verdict = "correct terms" if truth["correct_terms"] else "WRONG terms"
        extra = truth["per_equation"]["u_t"]
        wrong = "".join(
            f"; {label} {', '.join(extra[key])}"
            for key, label in (("missing", "missing"), ("extra", "extra"))
            if extra[key]
        )
        print(
            f"truth       {verdict}{wrong}; coefficient error mean "
            f"{100 * truth['mean_relative_error']:.3g}%, "
            f"max {100 * truth['max_relative_error']:.3g}%"
        )
    print(f"outputs     {out}/ (result.json) in {details['wall_time_s']:.1f} s")
    return 0


def _problems(args: argparse.Namespace) -> int:
    from kanphys.pde.registry import list_problems

    listing = list_problems()
    if args.json:
        print(json.dumps(dict(listing), indent=2))
        return 0
    width = max(len(name) for name, _ in listing)
    for name, description in listing:
        print(f"{name:<{width}}  {description}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from kanphys.pde.registry import resolve_problem
    from kanphys.training.pinn import prepare

    status = 0
    for spec in args.specs:
        try:
            problem = resolve_problem(spec)
            state = prepare(problem, device="cpu")
        except KanphysError as error:
            print(f"{spec}: invalid\n  {error}", file=sys.stderr)
            status = 2
            continue
        hard = ", ".join(state.enforced) or "none"
        reference = problem.reference.fields if problem.reference is not None else ()
        print(
            f"{spec}: ok: {problem.name}, inputs {', '.join(problem.inputs)}, fields "
            f"{', '.join(problem.fields)}, {len(problem.equations)} equation(s), "
            f"{len(problem.conditions)} condition(s) (hard: {hard}), reference: "
            f"{', '.join(reference) or 'none'}"
        )
        for i, symmetry in enumerate(problem.symmetries):
            print(f"  symmetry[{i}]: {symmetry.kind} of {', '.join(map(str, symmetry.variables))}")
        for note in state.notes:
            print(f"  note: {note}")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanphys",
        description="Physics-informed Kolmogorov-Arnold Networks: solve PDEs, discover laws, "
        "identify equations.",
    )
    parser.add_argument("--version", action="version", version=f"kanphys {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser("info", help="print versions, compute device and thread counts")
    info.add_argument("--json", action="store_true", help="print the information as JSON")
    info.set_defaults(handler=_info)

    solve = commands.add_parser(
        "solve",
        help="train a physics-informed network on a problem spec and report its error",
        description="Train a physics-informed KAN (or MLP) on a built-in problem or a TOML spec; "
        "flags override the spec's [model] and [training] tables.",
    )
    solve.add_argument(
        "problem", help="built-in problem name (see `kanphys problems`) or spec path"
    )
    solve.add_argument("--out", help="output directory (default: runs/<problem>)")
    solve.add_argument("--resume", action="store_true", help="continue from OUT/model.pt")
    solve.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda")
    solve.add_argument("--dtype", choices=["float32", "float64"], default=None)
    solve.add_argument("--seed", type=int, default=None)
    solve.add_argument("--steps", type=int, default=None, help="Adam steps")
    solve.add_argument("--lbfgs-steps", type=int, default=None, help="L-BFGS iterations after Adam")
    solve.add_argument("--learning-rate", type=float, default=None)
    solve.add_argument("--n-collocation", type=int, default=None)
    solve.add_argument("--resample", choices=["none", "random", "rad"], default=None)
    solve.add_argument("--model", choices=["kan", "mlp"], default=None)
    solve.add_argument("--width", type=_hidden, default=None, help="hidden widths, e.g. 8 or 32,32")
    solve.add_argument("--basis", default=None, help="bspline | chebyshev | rbf")
    solve.add_argument("--grid-size", type=int, default=None)
    solve.add_argument(
        "--soft-constraints",
        action="store_true",
        help="impose every condition as a penalty term (no output transform)",
    )
    solve.add_argument("--checkpoint-every", type=int, default=None)
    solve.add_argument("--time-limit", type=float, default=None, help="seconds of training")
    solve.add_argument("--no-plots", action="store_true", help="skip solution.png and loss.png")
    solve.add_argument(
        "--symbolic",
        action="store_true",
        help="also extract a closed form of every field and score it against the reference",
    )
    solve.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    solve.add_argument("--json", action="store_true", help="print result.json to stdout")
    solve.add_argument(
        "--distributed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="data-parallel training over the processes of `torchrun --nproc_per_node N -m "
        "kanphys solve ...` (default: on when started by torchrun with more than one process)",
    )
    solve.set_defaults(handler=_solve)

    discover = commands.add_parser(
        "discover",
        help="find a closed-form law y = f(x) in a CSV table with a sparsified symbolic KAN",
        description="Fit a KAN, sparsify and prune it, fit every edge to a symbolic primitive, "
        "refit and snap the constants of the assembled formula, and report the formula's own "
        "error on held-out rows with a Pareto front of simpler alternatives.",
    )
    discover.add_argument("data", help="CSV file with a header row")
    discover.add_argument("--target", required=True, help="column to explain")
    discover.add_argument(
        "--inputs",
        type=_names,
        default=None,
        help="comma-separated input columns (default: all others)",
    )
    discover.add_argument(
        "--noise-aware",
        action="store_true",
        help="estimate the noise level and prefer the simplest formula within it",
    )
    discover.add_argument(
        "--nan-policy",
        choices=["drop", "raise"],
        default="drop",
        help="rows with NaN/inf: drop them (reported) or refuse the file",
    )
    discover.add_argument(
        "--views",
        nargs="+",
        choices=["raw", "log", "logy"],
        default=None,
        help="coordinates to search in (default: all the data allow)",
    )
    discover.add_argument("--out", help="output directory (default: runs/discover-<file stem>)")
    discover.add_argument("--time-limit", type=float, default=300.0, help="seconds")
    discover.add_argument("--seed", type=int, default=0)
    discover.add_argument("--device", default="cpu", help="cpu | auto | cuda")
    discover.add_argument("--no-plots", action="store_true", help="skip kan.png")
    discover.add_argument(
        "--no-structure",
        action="store_true",
        help="skip the closed-form and symmetry search; use the KAN views only",
    )
    discover.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    discover.add_argument("--json", action="store_true", help="print result.json to stdout")
    discover.set_defaults(handler=_discover)

    structure = commands.add_parser(
        "structure",
        help="test a table for separability, translation, scaling and swap symmetry",
        description="Fit a KAN surrogate to the table and test, on its values and gradients, "
        "additive, multiplicative and general separability of every split of the inputs, "
        "translation (x_i - x_j), scaling (x_i / x_j) and swap symmetry of every pair, and "
        "the invariants given with --invariant. Prints what holds, with each score and "
        "threshold (docs/discovery.md, 'Structure tests').",
    )
    structure.add_argument("data", help="CSV file with a header row")
    structure.add_argument("--target", required=True, help="column to explain")
    structure.add_argument(
        "--inputs", type=_names, default=None, help="comma-separated input columns"
    )
    structure.add_argument(
        "--invariant",
        action="append",
        help="an expression the target may depend on instead of its variables, e.g. b/c "
        "(repeatable)",
    )
    structure.add_argument(
        "--method",
        choices=["values", "derivatives"],
        default="values",
        help="test separability and invariances on values at moved rows (default) or on "
        "Hessians and gradients",
    )
    structure.add_argument("--steps", type=int, default=1000, help="surrogate L-BFGS steps")
    structure.add_argument("--rows", type=int, default=2000, help="rows used to fit")
    structure.add_argument("--seed", type=int, default=0)
    structure.add_argument(
        "--noisy",
        action="store_true",
        help="noisy measurements: fit the surrogate on all rows (at least 8000), on a coarse "
        "grid, with the loss of y itself",
    )
    structure.add_argument("--all", action="store_true", help="also list what does not hold")
    structure.add_argument("--json", action="store_true", help="print the report as JSON")
    structure.set_defaults(handler=_structure)

    identify = commands.add_parser(
        "identify",
        help="identify a PDE u_t = N(u, u_x, ...) from field data (.npz or CSV)",
        description="Build a library of candidate terms u^p d^k u/dx^k, integrate the data "
        "against test functions (weak form), select the terms by thresholded least squares "
        "over a threshold path scored on held-out rows, repeated on random halves of the data "
        "(stability selection), and refine the coefficients for the estimated noise.",
    )
    identify.add_argument(
        "data",
        help=".npz with arrays t (n_t,), x (n_x,), u (n_t, n_x) or (n_x, n_t); or a CSV in long "
        "format with one row per grid point and columns t, x, u",
    )
    identify.add_argument(
        "--columns",
        type=_columns,
        default=["t", "x", "u"],
        help="names of time, space and the field in the file (default t,x,u)",
    )
    identify.add_argument("--max-order", type=int, default=4, help="highest x-derivative (0-6)")
    identify.add_argument(
        "--max-power", type=int, default=2, help="highest power of u multiplying a derivative"
    )
    identify.add_argument("--no-constant", action="store_true", help="no constant term")
    identify.add_argument("--formulation", choices=["weak", "strong"], default="weak")
    identify.add_argument(
        "--derivatives",
        choices=["auto", "fd", "savgol", "kan"],
        default="auto",
        help="derivatives of the data where needed: finite differences, Savitzky-Golay, or a "
        "KAN surrogate differentiated by autograd (auto: fd if clean, savgol if noisy)",
    )
    identify.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="fixed STLSQ threshold (share of |u_t| a term must carry); default: a path",
    )
    identify.add_argument(
        "--penalty",
        type=float,
        default=0.1,
        help="fraction by which a term must lower the held-out squared residual",
    )
    identify.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="held-out relative residuals below this count as equal",
    )
    identify.add_argument("--resamples", type=int, default=20, help="stability-selection runs")
    identify.add_argument(
        "--min-frequency",
        type=float,
        default=0.6,
        help="share of the runs a term must be selected in",
    )
    identify.add_argument(
        "--no-refine", action="store_true", help="skip the errors-in-variables refinement"
    )
    identify.add_argument(
        "--truth",
        default=None,
        help='true equation to score against, e.g. "u_t = -u*u_x + 0.1*u_xx"',
    )
    identify.add_argument("--out", help="output directory (default: runs/identify-<file stem>)")
    identify.add_argument("--seed", type=int, default=0)
    identify.add_argument(
        "--time-limit", type=float, default=None, help="seconds for the KAN surrogate"
    )
    identify.add_argument("--device", default="cpu", help="KAN surrogate device: cpu | auto | cuda")
    identify.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    identify.add_argument("--json", action="store_true", help="print result.json to stdout")
    identify.set_defaults(handler=_identify)

    problems = commands.add_parser("problems", help="list the built-in problems")
    problems.add_argument("--json", action="store_true")
    problems.set_defaults(handler=_problems)

    validate = commands.add_parser("validate", help="check problem specs without training")
    validate.add_argument("specs", nargs="+", help="spec paths or built-in names")
    validate.set_defaults(handler=_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kanphys`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = None if argv is None else list(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except KanphysError as error:
        print(f"kanphys: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
