"""Symbolic fitting, kanphys vs pykan 0.2.8, side by side in one run.

Two studies, both sides in the same process, with ``torch.set_num_threads(1)``:

**1. Edge fitting.** ``E`` synthetic edges, each ``N`` samples of a known ``a f(b x + c) + d``
(``f`` one of sin, exp, x^2, tanh, 1/x, cycled over the edges; random ``a, b, c, d`` keep the
argument in a range where ``f`` is clearly itself; ``x`` uniform on [-1, 1]; Gaussian noise of
``--noise`` times the spread of the clean values). Both sides get the same float32 samples and
the same primitives (:data:`LIBRARY`, with pykan's names for them):

``pykan``
    its per-edge fitting, as ``MultKAN.suggest_symbolic`` runs it: ``kan.utils.fit_params(x, y,
    fun, a_range=(-10, 10), b_range=(-10, 10), grid_number=101, iteration=3)`` for every edge
    and every primitive, then per edge suggest_symbolic's choice (lowest ``0.8 * complexity +
    0.2 * log2(1 + 1e-5 - R^2)``, pykan's complexities). A ``fit_params`` call that raises is
    counted as a failure and that primitive is left out for that edge.
``kanphys``
    one ``kanphys.symbolic.fit_edges(x, y, library=LIBRARY)`` call for all edges, then
    ``.best()`` (its default rule); also timed in float64.

Reported per ``E``: wall time of each and their ratio, the fraction of edges whose chosen
primitive is the true one (with each side's own rule, and with the highest ``R^2`` alone), the
median ``1 - R^2`` of the chosen fits (recomputed in float64 from the returned ``(a, b, c, d)``
with the exact functions, identically for both sides), and pykan's failures.

**2. End to end.** ``f(x_1, x_2) = exp(sin(pi x_1) + x_2^2)`` on [-1, 1]^2 (pykan's tutorial
function) and ``f = x_1 x_2`` on [1, 5]^2, 1000 training points, no noise:

``pykan``
    its documented workflow: ``MultKAN(width=[2, 5, 1], grid=5, k=3, seed=0, auto_save=False)``,
    ``fit(opt="LBFGS", steps=50, lamb=0.001)``, ``prune()``, ``fit(steps=50)``,
    ``auto_symbolic()`` (default library), ``fit(steps=50)``, ``symbolic_formula()``. pykan's
    ``prune`` builds its new model with ``auto_save=True``, so checkpoints are written: the
    checkpoint folder is a temporary directory, which is also the working directory meanwhile.
    Its dataset's test split is the training points too (its ``fit`` ends with a forward pass
    on the test inputs, and ``auto_symbolic`` fits the activations that pass cached). An
    attempt that raises is recorded as a failure (stage and error; when the final ``fit``
    fails, with the formula ``auto_symbolic`` had produced before it) and, up to
    ``--pykan-attempts`` (default 1), run again.
``kanphys``
    ``LawDiscovery(seed=0).fit(X, y)`` on the same 1000 points (it holds out 40% of them for
    validation and its own test).

Both formulas are evaluated with ``sympy.lambdify`` on 2000 fresh points; pykan's network is
evaluated there too (the spline network before ``auto_symbolic`` and the final symbolic one).

``--quick`` (a smoke check, < 30 s, not for reading) uses E = 2 and 5, only ``x_1 x_2`` with
200 points, 5 pykan steps and a 6-function pykan library, and ``LawDiscovery(steps=20,
views=("log",))``.

Run:  python benchmarks/symbolic_speed.py [--quick] [--no-docs] [--output docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import logging
import math
import os
import shlex
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sympy
import torch
from layer_report import kanphys_state, machine_info
from torch import Tensor

from kanphys.discovery import LawDiscovery
from kanphys.symbolic import DEFAULT_LIBRARY, fit_edges

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"
SECTION_START = "<!-- symbolic_speed:start -->"
SECTION_END = "<!-- symbolic_speed:end -->"

# kanphys name -> pykan name, primitives both libraries have
LIBRARY: dict[str, str] = {
    "x": "x",
    "x^2": "x^2",
    "x^3": "x^3",
    "x^4": "x^4",
    "1/x": "1/x",
    "1/x^2": "1/x^2",
    "sqrt": "sqrt",
    "exp": "exp",
    "log": "log",
    "sin": "sin",
    "tan": "tan",
    "tanh": "tanh",
    "abs": "abs",
    "gaussian": "gaussian",
    "0": "0",
}
TRUE_FUNCTIONS = ("sin", "exp", "x^2", "tanh", "1/x")
FULL_EDGES = (4, 16, 64)
QUICK_EDGES = (2, 5)
N_SAMPLES = 150
N_TRAIN, N_FRESH = 1000, 2000
PYKAN_WEIGHT_SIMPLE = 0.8  # suggest_symbolic's default


@dataclass(frozen=True)
class Problem:
    name: str
    function: Callable[[np.ndarray], np.ndarray]  # (N, 2) -> (N,)
    low: float
    high: float


PROBLEMS = (
    Problem(
        "exp(sin(pi x_1) + x_2^2)",
        lambda X: np.exp(np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2),
        -1.0,
        1.0,
    ),
    Problem("x_1 x_2", lambda X: X[:, 0] * X[:, 1], 1.0, 5.0),
)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Swallow stdout and stderr (pykan prints and draws progress bars); yields the text."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        yield buffer


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class _Collect(logging.Handler):
    """Keeps the warnings logged by kanphys during one run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def collect_warnings() -> Iterator[list[str]]:
    handler = _Collect()
    logger = logging.getLogger("kanphys")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _error_text(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160] if text else ''}"


def _load_average() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pykan_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("pykan")
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------------------------
# 1. edge fitting
# --------------------------------------------------------------------------------------------


def _true_parameters(name: str, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """``(a, b, c, d)`` with ``b x + c``, ``x`` in [-1, 1], where ``f`` is clearly itself."""
    sign = lambda: float(rng.choice([-1.0, 1.0]))  # noqa: E731
    a = sign() * rng.uniform(0.5, 3.0)
    d = rng.uniform(-1.0, 1.0)
    if name == "sin":
        b, c = sign() * rng.uniform(1.5, 4.0), rng.uniform(-math.pi, math.pi)
    elif name == "tanh":
        b, c = sign() * rng.uniform(1.0, 3.0), rng.uniform(-1.0, 1.0)
    elif name == "1/x":  # |b x + c| >= 0.3 on [-1, 1]
        b = sign() * rng.uniform(0.5, 1.5)
        c = sign() * (abs(b) + rng.uniform(0.3, 1.5))
    else:  # exp, x^2
        b, c = sign() * rng.uniform(0.5, 2.0), rng.uniform(-1.0, 1.0)
    return a, b, c, d


def make_edges(
    n_edges: int, n_samples: int, noise: float, rng: np.random.Generator
) -> tuple[Tensor, Tensor, list[str]]:
    """Samples ``x, y`` ``(E, N)`` float64 of known edges and their true primitive names."""
    names = [TRUE_FUNCTIONS[i % len(TRUE_FUNCTIONS)] for i in range(n_edges)]
    names = [names[i] for i in rng.permutation(n_edges)]
    x = rng.uniform(-1.0, 1.0, size=(n_edges, n_samples))
    y = np.empty_like(x)
    for e, name in enumerate(names):
        a, b, c, d = _true_parameters(name, rng)
        f = DEFAULT_LIBRARY[name].torch_fn
        clean = a * f(torch.as_tensor(b * x[e] + c)).numpy() + d
        y[e] = clean + noise * clean.std() * rng.standard_normal(n_samples)
    return torch.as_tensor(x), torch.as_tensor(y), names


def one_minus_r2(name: str, params: Tensor | list[float], x: Tensor, y: Tensor) -> float:
    """``1 - R^2`` of ``a f(b x + c) + d`` on ``(x, y)`` (float64; inf if not finite)."""
    a, b, c, d = (float(v) for v in params)
    x, y = x.double(), y.double()
    prediction = a * DEFAULT_LIBRARY[name].torch_fn(b * x + c) + d
    if not bool(torch.isfinite(prediction).all()):
        return math.inf
    total = float((y - y.mean()).square().sum())
    return float((prediction - y).square().sum()) / total


@dataclass
class EdgeSide:
    """One side's result on one set of edges."""

    seconds: list[float]
    chosen: list[str]
    by_r2: list[str]
    errors: list[float]  # 1 - R^2 of the chosen fit, per edge
    failures: int = 0
    failure_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def time(self) -> float:
        return statistics.median(self.seconds)


def pykan_edges(x: Tensor, y: Tensor) -> EdgeSide:
    """pykan: ``fit_params`` per edge and primitive, suggest_symbolic's choice per edge."""
    from kan.utils import SYMBOLIC_LIB, fit_params

    names = list(LIBRARY)
    complexity = np.array([SYMBOLIC_LIB[LIBRARY[n]][2] for n in names], dtype=float)
    chosen: list[str] = []
    by_r2: list[str] = []
    errors: list[float] = []
    kinds: dict[str, int] = {}
    failures = 0
    start = time.perf_counter()
    fitted: list[tuple[list[float], list[Any]]] = []
    for e in range(x.shape[0]):
        r2s: list[float] = []
        params: list[Any] = []
        for name in names:
            try:
                with quiet():
                    p, r2 = fit_params(
                        x[e],
                        y[e],
                        SYMBOLIC_LIB[LIBRARY[name]][0],
                        a_range=(-10, 10),
                        b_range=(-10, 10),
                        grid_number=101,
                        iteration=3,
                        verbose=False,
                    )
                r2s.append(float(r2))
                params.append(p)
            except Exception as error:  # a pykan failure is a result
                failures += 1
                kind = f"{name}: {_error_text(error)}"
                kinds[kind] = kinds.get(kind, 0) + 1
                r2s.append(math.nan)
                params.append(None)
        fitted.append((r2s, params))
        r2_array = np.array(r2s)
        with np.errstate(invalid="ignore"):
            loss = PYKAN_WEIGHT_SIMPLE * complexity + (1 - PYKAN_WEIGHT_SIMPLE) * np.log2(
                1 + 1e-5 - r2_array
            )
        loss = np.where(np.isfinite(loss), loss, np.inf)
        chosen.append(names[int(np.argmin(loss))])
        by_r2.append(names[int(np.nanargmax(np.where(np.isnan(r2_array), -np.inf, r2_array)))])
    seconds = time.perf_counter() - start
    for e, (_, params) in enumerate(fitted):
        p = params[names.index(chosen[e])]
        # pykan's (a, b, c, d) is c f(a x + b) + d
        errors.append(
            math.inf if p is None else one_minus_r2(chosen[e], [p[2], p[0], p[1], p[3]], x[e], y[e])
        )
    return EdgeSide([seconds], chosen, by_r2, errors, failures, kinds)


def kanphys_edges(x: Tensor, y: Tensor, *, min_seconds: float, max_reps: int) -> EdgeSide:
    """kanphys: one ``fit_edges`` call for all edges, ``.best()``; repeated for timing."""
    names = list(LIBRARY)
    seconds: list[float] = []
    while True:
        start = time.perf_counter()
        fits = fit_edges(x, y, library=names)
        choice = fits.best()
        seconds.append(time.perf_counter() - start)
        if sum(seconds) >= min_seconds or len(seconds) >= max_reps:
            break
    finite = torch.where(torch.isfinite(fits.r2), fits.r2, torch.full_like(fits.r2, -math.inf))
    by_r2 = [fits.names[k] for k in finite.argmax(dim=1).tolist()]
    errors = [
        one_minus_r2(name, choice.params[e].tolist(), x[e], y[e])
        for e, name in enumerate(choice.names)
    ]
    return EdgeSide(seconds, list(choice.names), by_r2, errors)


@dataclass
class EdgeRow:
    n_edges: int
    truth: list[str]
    pykan: EdgeSide
    kanphys: EdgeSide
    kanphys64: EdgeSide
    load: list[float | None]


def _fraction(chosen: list[str], truth: list[str]) -> float:
    return sum(c == t for c, t in zip(chosen, truth, strict=True)) / len(truth)


def run_edges(edge_counts: tuple[int, ...], noise: float, seed: int, quick: bool) -> list[EdgeRow]:
    rng = np.random.default_rng(seed)
    # warm-up of both sides (first calls pay lazy initialisation), untimed
    x, y, _ = make_edges(2, N_SAMPLES, noise, rng)
    pykan_edges(x[:1].float(), y[:1].float())
    kanphys_edges(x.float(), y.float(), min_seconds=0.0, max_reps=1)
    rows = []
    for n_edges in edge_counts:
        x, y, truth = make_edges(n_edges, N_SAMPLES, noise, rng)
        load = [_load_average()]
        x32, y32 = x.float(), y.float()
        min_seconds, max_reps = (0.2, 3) if quick else (1.0, 5)
        kanphys = kanphys_edges(x32, y32, min_seconds=min_seconds, max_reps=max_reps)
        pykan = pykan_edges(x32, y32)
        kanphys64 = kanphys_edges(x, y, min_seconds=min_seconds, max_reps=max_reps)
        load.append(_load_average())
        row = EdgeRow(n_edges, truth, pykan, kanphys, kanphys64, load)
        rows.append(row)
        print(
            f"  E={n_edges:3d}: pykan {pykan.time:8.3f} s ({_fraction(pykan.chosen, truth):.0%}"
            f" true, {pykan.failures} failures), kanphys {kanphys.time:8.3f} s "
            f"({_fraction(kanphys.chosen, truth):.0%} true), float64 {kanphys64.time:.3f} s, "
            f"speed-up {pykan.time / kanphys.time:.0f}x",
            flush=True,
        )
    return rows


# --------------------------------------------------------------------------------------------
# 2. end to end
# --------------------------------------------------------------------------------------------


def _round_floats(expr: sympy.Expr, digits: int = 4) -> sympy.Expr:
    return expr.xreplace({f: sympy.Float(f, digits) for f in expr.atoms(sympy.Float)})


def formula_rmse(expr: sympy.Expr, names: list[str], X: np.ndarray, y: np.ndarray) -> float:
    """RMSE of ``expr`` (variables called ``names``, columns of ``X``) on ``(X, y)``."""
    by_name = {s.name: s for s in expr.free_symbols if isinstance(s, sympy.Symbol)}
    symbols = [by_name.get(n, sympy.Symbol(n)) for n in names]
    function = sympy.lambdify(symbols, expr, modules="numpy")
    with np.errstate(all="ignore"):
        values = np.broadcast_to(np.asarray(function(*X.T), dtype=np.float64), y.shape).astype(
            np.float64
        )
    return float(np.sqrt(np.mean((values - y) ** 2)))


@dataclass
class EndToEnd:
    method: str
    problem: str
    seconds: float
    formula: str = ""
    formula_rmse: float = math.nan
    network_rmse: float = math.nan  # pykan: spline network before auto_symbolic
    symbolic_network_rmse: float = math.nan  # pykan: final network (symbolic edges)
    note: str = ""
    failed: bool = False
    failed_stage: str = ""
    stages: dict[str, float] = field(default_factory=dict)


def _network_rmse(model: Any, X: np.ndarray, y: np.ndarray, *, keep: bool = False) -> float:
    """RMSE of a pykan model on ``(X, y)``; ``keep``: restore the attributes its forward pass
    overwrites (``acts``, ``spline_postacts``, ... cache the last batch, and ``auto_symbolic``
    fits those)."""
    saved = dict(model.__dict__) if keep else None
    try:
        with torch.no_grad():
            out = model(torch.as_tensor(X, dtype=torch.float32))[:, 0].double().numpy()
    finally:
        if saved is not None:
            model.__dict__.clear()
            model.__dict__.update(saved)
    return float(np.sqrt(np.mean((out - y) ** 2)))


def _fixed_edges(text: str) -> str:
    """auto_symbolic's choices, from its printed ``fixing (l,i,j) with NAME, r2=...`` lines."""
    found = []
    for line in text.splitlines():
        if line.startswith("fixing (") and " with " in line:
            where, _, rest = line[len("fixing ") :].partition(" with ")
            found.append(f"{where} {rest.split(',')[0]}")
    return ", ".join(found)


def pykan_workflow(
    data: dict[str, Any], steps: int, workdir: Path, lib: list[str] | None
) -> EndToEnd:
    """pykan's documented workflow; failures are recorded, not raised."""
    from kan import MultKAN

    dataset = {
        key: torch.as_tensor(value, dtype=torch.float32)
        for key, value in {
            "train_input": data["X_train"],
            "train_label": data["y_train"][:, None],
            # pykan's fit ends with a forward pass on "test_input", whose cached activations
            # auto_symbolic then fits: give it the training points, so that pykan sees
            # exactly the points kanphys sees
            "test_input": data["X_train"],
            "test_label": data["y_train"][:, None],
        }.items()
    }
    result = EndToEnd("pykan", data["problem"], math.nan)
    stage = "MultKAN()"
    snapshot: sympy.Expr | None = None
    tic = time.perf_counter()
    try:
        with quiet() as output, working_directory(workdir):
            model = MultKAN(
                width=[2, 5, 1],
                grid=5,
                k=3,
                seed=0,
                auto_save=False,
                ckpt_path=str(workdir),
            )
            result.stages[stage] = time.perf_counter() - tic
            stages: list[tuple[str, Callable[[Any], Any]]] = [
                ("fit 1", lambda m: m.fit(dataset, opt="LBFGS", steps=steps, lamb=0.001)),
                ("prune", lambda m: m.prune()),
                ("fit 2", lambda m: m.fit(dataset, opt="LBFGS", steps=steps)),
                ("auto_symbolic", lambda m: m.auto_symbolic(lib=lib)),
                ("fit 3", lambda m: m.fit(dataset, opt="LBFGS", steps=steps)),
            ]
            for stage, action in stages:
                tic = time.perf_counter()
                returned = action(model)
                if stage == "prune":
                    model = returned  # prune returns a new model; the others edit in place
                result.stages[stage] = time.perf_counter() - tic
                if stage == "fit 2":
                    # untimed; the activations pykan caches (and auto_symbolic fits) are kept
                    network = _network_rmse(model, data["X_fresh"], data["y_fresh"], keep=True)
                    result.network_rmse = network
                if stage == "auto_symbolic":
                    # untimed: the formula before the final fit (symbolic_formula has no side
                    # effects), reported if that fit fails
                    try:
                        snapshot = sympy.sympify(model.symbolic_formula()[0][0])
                    except Exception:  # the final formula decides; this one is a fallback
                        snapshot = None
            stage = "symbolic_formula"
            tic = time.perf_counter()
            expr = model.symbolic_formula()[0][0]
            result.stages[stage] = time.perf_counter() - tic
            result.seconds = sum(result.stages.values())
        result.symbolic_network_rmse = _network_rmse(model, data["X_fresh"], data["y_fresh"])
        expr = sympy.sympify(expr)
        result.formula = str(_round_floats(expr))
        result.formula_rmse = formula_rmse(expr, ["x_1", "x_2"], data["X_fresh"], data["y_fresh"])
        result.note = (
            f"pruned width {model.width}; auto_symbolic: {_fixed_edges(output.getvalue())}"
        )
    except Exception as error:  # a pykan failure is a result
        result.seconds = sum(result.stages.values()) + time.perf_counter() - tic
        result.failed, result.failed_stage = True, stage
        if stage == "fit 3" and snapshot is not None:
            result.formula = str(_round_floats(snapshot))
            with contextlib.suppress(Exception):
                result.formula_rmse = formula_rmse(
                    snapshot, ["x_1", "x_2"], data["X_fresh"], data["y_fresh"]
                )
        tail = [line for line in output.getvalue().splitlines() if "ERROR" in line][-1:]
        where = traceback.extract_tb(error.__traceback__)[-1]
        result.note = (
            f"failed in {stage} after {result.seconds:.0f} s: {_error_text(error)} "
            f"(at {Path(where.filename).name}:{where.lineno}{'; ' + tail[0] if tail else ''})"
        )
        fixed = _fixed_edges(output.getvalue())
        if fixed:
            result.note += f"; auto_symbolic had chosen: {fixed}"
    return result


def kanphys_discovery(data: dict[str, Any], settings: dict[str, Any]) -> EndToEnd:
    result = EndToEnd("kanphys", data["problem"], math.nan)
    start = time.perf_counter()
    try:
        with collect_warnings() as warnings:
            law = LawDiscovery(seed=0, **settings).fit(
                data["X_train"], data["y_train"], names=["x_1", "x_2"]
            )
        result.seconds = time.perf_counter() - start
        result.formula = str(_round_floats(law.formula_))
        result.formula_rmse = formula_rmse(
            law.formula_, ["x_1", "x_2"], data["X_fresh"], data["y_fresh"]
        )
        chosen = next((c.view for c in law.pareto_ if c.chosen), "?")
        result.note = f"view {chosen}; its own test RMSE {law.rmse_test_:.2e}"
        if warnings:
            result.note += "; warnings: " + "; ".join(sorted(set(warnings)))
    except Exception as error:  # recorded like pykan's
        result.seconds = time.perf_counter() - start
        result.failed = True
        result.note = f"failed after {result.seconds:.0f} s: {_error_text(error)}"
    return result


def make_problem_data(problem: Problem, n_train: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.uniform(problem.low, problem.high, size=(n, 2))
        return X, problem.function(X)

    X_train, y_train = draw(n_train)
    X_fresh, y_fresh = draw(N_FRESH)
    return {
        "problem": problem.name,
        "X_train": X_train,
        "y_train": y_train,
        "X_fresh": X_fresh,
        "y_fresh": y_fresh,
    }


def run_end_to_end(
    problems: tuple[Problem, ...],
    *,
    seed: int,
    quick: bool,
    attempts: int,
) -> list[tuple[Problem, float, list[EndToEnd], EndToEnd]]:
    steps = 5 if quick else 50
    n_train = 200 if quick else N_TRAIN
    lib = ["x", "x^2", "exp", "log", "sin", "0"] if quick else None
    settings: dict[str, Any] = {"steps": 20, "views": ("log",)} if quick else {}
    results = []
    for index, problem in enumerate(problems):
        data = make_problem_data(problem, n_train, seed + index)
        spread = float(np.std(data["y_fresh"]))
        tries: list[EndToEnd] = []
        for attempt in range(attempts):
            with tempfile.TemporaryDirectory(prefix="pykan_") as workdir:
                tries.append(pykan_workflow(data, steps, Path(workdir), lib))
            last = tries[-1]
            print(
                f"  {problem.name}: pykan attempt {attempt + 1}: {last.seconds:.1f} s, "
                f"{last.note if last.failed else last.formula}",
                flush=True,
            )
            if not last.failed:
                break
        ours = kanphys_discovery(data, settings)
        print(
            f"  {problem.name}: kanphys {ours.seconds:.1f} s, "
            f"{ours.note if ours.failed else ours.formula}",
            flush=True,
        )
        results.append((problem, spread, tries, ours))
    return results


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _sci(value: float) -> str:
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return "–" if math.isnan(value) else "inf"
    return f"{value:.1e}"


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def render_edges(rows: list[EdgeRow], noise: float) -> str:
    lines = [
        "| E | pykan (s) | kanphys (s) | speed-up | kanphys float64 (s) "
        "| true primitive chosen, pykan | kanphys | true = highest R², pykan | kanphys "
        "| median 1−R², pykan | kanphys | pykan failures |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        p, k, k64 = row.pykan, row.kanphys, row.kanphys64
        lines.append(
            f"| {row.n_edges} | {_seconds(p.time)} | {_seconds(k.time)} "
            f"| **{p.time / k.time:.0f}×** | {_seconds(k64.time)} "
            f"| {_fraction(p.chosen, row.truth):.0%} | {_fraction(k.chosen, row.truth):.0%} "
            f"| {_fraction(p.by_r2, row.truth):.0%} | {_fraction(k.by_r2, row.truth):.0%} "
            f"| {_sci(statistics.median(p.errors))} | {_sci(statistics.median(k.errors))} "
            f"| {p.failures} of {row.n_edges * len(LIBRARY)} |"
        )
    largest = rows[-1]
    lines += [
        "",
        f"Per true primitive, E = {largest.n_edges} (edges whose chosen primitive is the true "
        "one; what was chosen otherwise):",
        "",
        "| true f | edges | pykan | pykan chose instead | kanphys | kanphys chose instead |",
        "|---|---:|---:|---|---:|---|",
    ]
    for name in TRUE_FUNCTIONS:
        index = [e for e, t in enumerate(largest.truth) if t == name]
        if not index:
            continue
        cells = []
        for side in (largest.pykan, largest.kanphys):
            right = sum(side.chosen[e] == name for e in index)
            wrong: dict[str, int] = {}
            for e in index:
                if side.chosen[e] != name:
                    wrong[side.chosen[e]] = wrong.get(side.chosen[e], 0) + 1
            others = ", ".join(f"{n} ×{c}" for n, c in sorted(wrong.items())) or "–"
            cells.append(f"{right} | {others}")
        lines.append(f"| {name} | {len(index)} | {cells[0]} | {cells[1]} |")
    kinds: dict[str, int] = {}
    for row in rows:
        for kind, count in row.pykan.failure_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + count
    if kinds:
        lines += ["", "pykan `fit_params` failures (primitive: error, count over all E):", ""]
        lines += [f"- `{kind}` ×{count}" for kind, count in sorted(kinds.items())]
    reps = ", ".join(f"E={r.n_edges}: {len(r.kanphys.seconds)}" for r in rows)
    lines += [
        "",
        f"kanphys times are the median of repeated calls ({reps}); pykan's loop ran once per E "
        f"(it is {len(LIBRARY)} × E independent calls, so one pass already averages). Noise: "
        f"{noise:g} × spread of the clean values.",
    ]
    return "\n".join(lines)


def _formula_cell(text: str, limit: int = 160) -> str:
    if not text:
        return "–"
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "`" + text.replace("|", "\\|") + "`"


def render_end_to_end(results: list[tuple[Problem, float, list[EndToEnd], EndToEnd]]) -> str:
    lines = [
        "| problem | method | wall time (s) | formula | formula test RMSE "
        "| network test RMSE (pykan: spline / symbolic) |",
        "|---|---|---:|---|---:|---:|",
    ]
    notes = []
    for problem, spread, tries, ours in results:
        label = f"{problem.name} on [{problem.low:g}, {problem.high:g}]² (std {spread:.2f})"
        for attempt, run in enumerate(tries):
            name = "pykan" if len(tries) == 1 else f"pykan (attempt {attempt + 1})"
            if run.failed:
                formula = f"failed in `{run.failed_stage}`"
                if run.formula:
                    formula += f"; formula after `auto_symbolic`: {_formula_cell(run.formula)}"
                lines.append(
                    f"| {label} | {name} | {run.seconds:.1f} | {formula} "
                    f"| {_sci(run.formula_rmse)} | {_sci(run.network_rmse)} / – |"
                )
                notes.append(f"{problem.name}, {name}: {run.note}")
                continue
            stages = ", ".join(f"{k} {v:.1f} s" for k, v in run.stages.items())
            lines.append(
                f"| {label} | {name} | {run.seconds:.1f} | {_formula_cell(run.formula)} "
                f"| {_sci(run.formula_rmse)} "
                f"| {_sci(run.network_rmse)} / {_sci(run.symbolic_network_rmse)} |"
            )
            notes.append(f"{problem.name}, {name}: {run.note}; stages: {stages}")
        if ours.failed:
            lines.append(f"| {label} | **kanphys** | {ours.seconds:.1f} | failed | – | – |")
        else:
            lines.append(
                f"| {label} | **kanphys** | {ours.seconds:.1f} | {_formula_cell(ours.formula)} "
                f"| {_sci(ours.formula_rmse)} | – |"
            )
        notes.append(f"{problem.name}, kanphys: {ours.note}")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def render_section(
    edges: list[EdgeRow] | None,
    end_to_end: list[tuple[Problem, float, list[EndToEnd], EndToEnd]] | None,
    *,
    command: str,
    started: datetime.datetime,
    elapsed: float,
    machine: dict[str, str],
    source: dict[str, str],
    noise: float,
    quick: bool,
) -> str:
    dirty = f" plus uncommitted changes ({source['dirty']})" if source["dirty"] else ""
    if len(dirty) > 200:
        dirty = " plus uncommitted changes under kanphys/"
    loads = [
        v
        for row in edges or []
        for v in row.load
        if isinstance(v, (int, float))  # None where /proc/loadavg is missing
    ]
    load = f"{min(loads):.2f}–{max(loads):.2f}" if loads else "unknown"
    parts = [
        SECTION_START,
        "## Symbolic fitting: kanphys vs pykan (`benchmarks/symbolic_speed.py`)",
        "",
        "Both sides run in one process, one after the other, with `torch.set_num_threads(1)`.",
        "",
        f"- command: `{command}`"
        + (" (quick smoke run: sizes too small to read)" if quick else ""),
        f"- code: kanphys at commit `{source['commit']}`{dirty} (source digest "
        f"`{source['digest']}`)",
        f"- date: {started:%Y-%m-%d %H:%M} (local), {elapsed / 60:.1f} min in all",
        f"- machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, "
        f"{machine['memory']} RAM, torch {machine['torch']} with 1 thread, "
        f"pykan {machine['pykan']}, sympy {sympy.__version__}, numpy {np.__version__}, "
        f"Python {machine['python']}, {machine['os']}",
        f"- 1-minute load average during the edge study: {load} (the machine was shared with "
        "another benchmark, so absolute times are inflated; each ratio compares runs made "
        "seconds apart)",
        "",
    ]
    if edges:
        parts += [
            "### Edge fitting: per-edge loop vs vectorised",
            "",
            f"E edges with {N_SAMPLES} samples each of a known `a f(b x + c) + d` (f = "
            + ", ".join(TRUE_FUNCTIONS)
            + " in turn; x uniform on [-1, 1]; a, b, c, d random with the argument where f is "
            "clearly itself), float32. Library, both sides: `"
            + "`, `".join(LIBRARY)
            + "`. pykan: `kan.utils.fit_params(x, y, fun, a_range=(-10, 10), "
            "b_range=(-10, 10), grid_number=101, iteration=3)` per edge and primitive, choice "
            "as `suggest_symbolic` makes it (lowest `0.8 · complexity + 0.2 · log2(1 + 1e-5 − "
            "R²)`). kanphys: one `fit_edges(x, y, library)` call, then `.best()`. "
            "*true = highest R²* ignores complexity (both sides); 1−R² is that of the chosen "
            "fit, recomputed in float64 from the returned (a, b, c, d) with the exact functions.",
            "",
            render_edges(edges, noise),
            "",
        ]
    if end_to_end:
        parts += [
            "### End to end: from data to formula",
            "",
            f"{N_TRAIN if not quick else 200} training points (uniform, no noise). pykan: "
            "`MultKAN(width=[2,5,1], grid=5, k=3, seed=0, auto_save=False)`, `fit(dataset, "
            'opt="LBFGS", steps=50, lamb=0.001)`, `prune()`, `fit(steps=50)`, '
            "`auto_symbolic()` (default library), `fit(steps=50)`, `symbolic_formula()`; "
            "float32 (its default); its checkpoints (written by the model `prune` returns) go "
            "to a temporary directory. pykan's `fit` ends with a forward pass on "
            "`dataset['test_input']`, and `auto_symbolic` fits the activations cached by that "
            "pass, so its test split is the training points too: both sides see exactly the "
            "same points. kanphys: `LawDiscovery(seed=0).fit(X, y)` on the same "
            "points (it trains on 60% of them and keeps 20% for validation, 20% for its own "
            "test); float64. Test RMSEs are on "
            f"{N_FRESH} fresh points; formulas are evaluated with `sympy.lambdify` and shown "
            "with 4 significant digits. pykan's network RMSE is given for the spline network "
            "after `prune` + `fit` and for the final network with symbolic edges. A pykan run "
            "that raises is reported as failed, with the stage; when its final `fit` fails, "
            "the row shows the formula `auto_symbolic` had produced just before (constants "
            "from `fit_params`, not refined; extracted untimed), evaluated the same way.",
            "",
            render_end_to_end(end_to_end),
            "",
        ]
    parts.append(SECTION_END)
    return "\n".join(parts) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace this script's section of ``path``, or append it."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = text.find(SECTION_START), text.find(SECTION_END)
    if start != -1 and end > start:
        text = text[:start] + section.rstrip("\n") + text[end + len(SECTION_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, < 30 s (smoke check)")
    parser.add_argument("--no-docs", action="store_true", help="print the section only")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown page")
    parser.add_argument("--edges", type=int, nargs="+", default=None, help="edge counts E")
    parser.add_argument("--noise", type=float, default=1e-3, help="relative noise on edges")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pykan-attempts",
        type=int,
        default=1,
        help="end-to-end pykan runs per problem while they fail (default 1)",
    )
    parser.add_argument("--skip-edges", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-end-to-end", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    if pykan_version() is None:
        parser.error("pykan is not installed: pip install pykan==0.2.8")
    started, clock = datetime.datetime.now(), time.perf_counter()
    machine, source = machine_info(), kanphys_state()
    edge_counts = tuple(args.edges or (QUICK_EDGES if args.quick else FULL_EDGES))
    print(f"symbolic_speed: edges {edge_counts}, machine {machine}", flush=True)
    edges = None
    if not args.skip_edges:
        edges = run_edges(edge_counts, args.noise, args.seed, args.quick)
    end_to_end = None
    if not args.skip_end_to_end:
        problems = PROBLEMS[1:] if args.quick else PROBLEMS
        end_to_end = run_end_to_end(
            problems, seed=args.seed, quick=args.quick, attempts=max(1, args.pykan_attempts)
        )
    shown = [
        "python",
        "benchmarks/symbolic_speed.py",
        *(argv if argv is not None else sys.argv[1:]),
    ]
    section = render_section(
        edges,
        end_to_end,
        command=shlex.join(shown),
        started=started,
        elapsed=time.perf_counter() - clock,
        machine=machine,
        source=source,
        noise=args.noise,
        quick=args.quick,
    )
    if args.no_docs:
        print(section)
    else:
        write_section(args.output, section)
        print(section)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
