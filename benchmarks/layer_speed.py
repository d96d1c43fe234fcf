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
import dataclasses
import datetime
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import math
import os
import platform
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
import torch.nn.functional as F
from torch import Tensor, nn

from kanphys.layers import KANLayer

GRID_SIZE = 5
SPLINE_ORDER = 3
WIDTH = 64
FULL_BATCHES = (10**3, 10**4, 10**5)
QUICK_BATCHES = (64, 256)
QUICK_WIDTH = 8
DTYPES = ("float32", "float64")
IMPLEMENTATIONS = ("kanphys", "pykan", "naive")
SECTION_START = "<!-- layer_speed:start -->"
SECTION_END = "<!-- layer_speed:end -->"
RESULT_PREFIX = "LAYER_SPEED_RESULT "
SLOW_SECONDS = 10.0  # iterations slower than this get one warm-up and ``slow_reps`` repetitions
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"
DOC_INTRO = """# Benchmarks

Scripts in `benchmarks/` measure kanphys against reference implementations. Every comparison is
made side by side in one run of one script, on one machine: the ratios in a table compare numbers
taken minutes apart under the same conditions, never numbers copied from different runs or
machines. Each script rewrites only its own section of this page (between its
`<!-- name:start -->` / `<!-- name:end -->` markers) and records the command, the date and the
machine. Absolute numbers depend on the machine and on its load; ratios are more portable but
still depend on the CPU (memory bandwidth, cache sizes, thread count).
"""


# --------------------------------------------------------------------------------------------
# The naive per-edge implementation
# --------------------------------------------------------------------------------------------


def edge_bspline(x: Tensor, knots: Tensor, spline_order: int) -> Tensor:
    """B-spline basis of one edge by the Cox-de Boor recursion.

    Parameters
    ----------
    x : Tensor, shape (N,)
        The edge's input values.
    knots : Tensor, shape (M,)
        Strictly increasing knots of that input.
    spline_order : int
        Polynomial degree ``k``.

    Returns
    -------
    Tensor, shape (N, M - k - 1)
        Basis values; half-open intervals ``[t_m, t_{m+1})`` as in kanphys and pykan.
    """
    xe = x.unsqueeze(-1)
    values = ((xe >= knots[:-1]) & (xe < knots[1:])).to(x.dtype)
    for order in range(1, spline_order + 1):
        left = (xe - knots[: -(order + 1)]) / (knots[order:-1] - knots[: -(order + 1)])
        right = (knots[order + 1 :] - xe) / (knots[order + 1 :] - knots[1:-order])
        values = left * values[:, :-1] + right * values[:, 1:]
    return values


class NaiveKANLayer(nn.Module):
    """A KAN layer evaluated edge by edge in a Python loop (the unvectorised anchor).

    Edge ``(i, j)`` computes ``mask_ij * (w_base_ij * silu(x_i) + w_spline_ij * B(x_i) @ c_ij)``
    with its own Cox-de Boor evaluation of ``B(x_i)``; output ``j`` sums its incoming edges. The
    parameters have kanphys's layout, so :meth:`from_kanphys` copies a layer exactly.

    Parameters
    ----------
    grid : Tensor, shape (in, M)
        Knots of every input.
    coefficients : Tensor, shape (in, out, M - k - 1)
    spline_weight, base_weight, mask : Tensor, shape (in, out)
    spline_order : int
    """

    grid: Tensor
    mask: Tensor

    def __init__(
        self,
        grid: Tensor,
        coefficients: Tensor,
        spline_weight: Tensor,
        base_weight: Tensor,
        mask: Tensor,
        spline_order: int,
    ) -> None:
        super().__init__()
        self.spline_order = spline_order
        self.register_buffer("grid", grid.detach().clone())
        self.register_buffer("mask", mask.detach().clone())
        self.coefficients = nn.Parameter(coefficients.detach().clone())
        self.spline_weight = nn.Parameter(spline_weight.detach().clone())
        self.base_weight = nn.Parameter(base_weight.detach().clone())

    @classmethod
    def from_kanphys(cls, layer: KANLayer) -> NaiveKANLayer:
        """A naive layer with exactly the knots and parameters of a kanphys B-spline layer."""
        if layer.base_weight is None:
            raise ValueError("the naive layer needs a SiLU residual (base_activation='silu')")
        return cls(
            layer.grid,
            layer.coefficients,
            layer.spline_weight,
            layer.base_weight,
            layer.mask,
            layer.spline_order,
        )

    def forward(self, x: Tensor, max_edges: int | None = None) -> Tensor:
        """``(N, in) -> (N, out)``, one edge at a time.

        Parameters
        ----------
        x : Tensor, shape (N, in)
        max_edges : int, optional
            Stop after this many edges (output by output) and return only the outputs started;
            used to estimate the cost of the full loop from a part of it.

        Returns
        -------
        Tensor, shape (N, out) or (N, outputs started)
        """
        n_in, n_out = self.mask.shape
        # unbind once: indexing the parameter tensors per edge would scatter a full-size
        # gradient per edge in the backward pass, an artefact rather than the per-edge cost
        inputs = x.unbind(1)
        knots = self.grid.unbind(0)
        coefficients = [row.unbind(0) for row in self.coefficients.unbind(0)]
        spline_weight = [row.unbind(0) for row in self.spline_weight.unbind(0)]
        base_weight = [row.unbind(0) for row in self.base_weight.unbind(0)]
        mask = [row.unbind(0) for row in self.mask.unbind(0)]
        columns: list[Tensor] = []
        done = 0
        for j in range(n_out):
            total = x.new_zeros(x.shape[0])
            for i in range(n_in):
                if max_edges is not None and done >= max_edges:
                    break
                spline = edge_bspline(inputs[i], knots[i], self.spline_order) @ coefficients[i][j]
                residual = F.silu(inputs[i])
                edge = base_weight[i][j] * residual + spline_weight[i][j] * spline
                total = total + mask[i][j] * edge
                done += 1
            columns.append(total)
            if max_edges is not None and done >= max_edges:
                break
        return torch.stack(columns, dim=1)


# --------------------------------------------------------------------------------------------
# Building the three layers with identical parameters
# --------------------------------------------------------------------------------------------


def pykan_available() -> bool:
    """Whether ``kan`` (pykan) can be imported."""
    try:
        return importlib.util.find_spec("kan") is not None
    except (ImportError, ValueError):
        return False


def pykan_version() -> str | None:
    """Installed pykan version, or None."""
    try:
        return importlib.metadata.version("pykan")
    except importlib.metadata.PackageNotFoundError:
        return None


def make_kanphys(width: int, dtype: torch.dtype) -> KANLayer:
    """The reference layer; its parameters are copied into the other implementations."""
    return KANLayer(
        width,
        width,
        grid_size=GRID_SIZE,
        spline_order=SPLINE_ORDER,
        dtype=dtype,
        generator=torch.Generator().manual_seed(0),
    )


def make_pykan(source: KANLayer, dtype: torch.dtype) -> nn.Module:
    """pykan 0.2.8's KANLayer carrying exactly ``source``'s knots and parameters.

    pykan and kanphys use the same edge formula, ``mask * (scale_base * silu(x) + scale_sp *
    sum_m coef_m B_m(x))``, the same knot extension and the same half-open Cox-de Boor
    convention, so copying ``grid -> grid``, ``coefficients -> coef``, ``base_weight ->
    scale_base``, ``spline_weight -> scale_sp`` and ``mask -> mask`` gives the same function.

    Raises
    ------
    ImportError
        If pykan is not installed.
    RuntimeError
        If a tensor of the cast layer does not have ``dtype``.
    """
    from kan.KANLayer import KANLayer as PykanLayer

    width_in, width_out = source.in_features, source.out_features
    # pykan builds its layer in torch's default dtype and draws its initialisation from the
    # global generator; every tensor is overwritten below, so no global seed is needed
    layer = PykanLayer(in_dim=width_in, out_dim=width_out, num=GRID_SIZE, k=SPLINE_ORDER)
    layer = layer.to(dtype)
    # pykan's to(device) override stores its argument as .device; its forward does not read it
    layer.device = "cpu"
    with torch.no_grad():
        layer.grid.copy_(source.grid)
        layer.coef.copy_(source.coefficients)
        layer.scale_base.copy_(source.base_weight)  # type: ignore[arg-type]
        layer.scale_sp.copy_(source.spline_weight)
        layer.mask.copy_(source.mask)
    tensors = dict(layer.named_parameters()) | dict(layer.named_buffers())
    wrong = {name: t.dtype for name, t in tensors.items() if t.dtype != dtype}
    if wrong:
        raise RuntimeError(f"pykan layer not fully cast to {dtype}: {wrong}")
    return layer


def make_forward(implementation: str, width: int, dtype: torch.dtype) -> tuple[nn.Module, Callable]:
    """The layer of ``implementation`` and the call that runs its forward pass.

    Returns
    -------
    module : nn.Module
    forward : callable
        ``x -> y`` of shape ``(N, width)``; for pykan the whole tuple is computed, then ``y``
        is kept.
    """
    source = make_kanphys(width, dtype)
    if implementation == "kanphys":
        return source, source
    if implementation == "naive":
        naive = NaiveKANLayer.from_kanphys(source)
        return naive, naive
    if implementation == "pykan":
        layer = make_pykan(source, dtype)

        def pykan_forward(x: Tensor) -> Tensor:
            return layer(x)[0]

        return layer, pykan_forward
    raise ValueError(f"unknown implementation {implementation!r}")


def make_input(batch: int, width: int, dtype: torch.dtype, low: float = -1.0) -> Tensor:
    """Uniform inputs on ``[low, -low]`` (the grid range is [-1, 1]), requiring grad."""
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(batch, width, dtype=dtype, generator=generator) * (-2 * low) + low
    return x.requires_grad_(True)


# --------------------------------------------------------------------------------------------
# Correctness check
# --------------------------------------------------------------------------------------------


def _outputs_and_grads(
    forward: Callable[[Tensor], Tensor], params: Sequence[Tensor], x: Tensor
) -> list[Tensor]:
    x = x.detach().clone().requires_grad_(True)
    y = forward(x)
    grads = torch.autograd.grad(y.square().mean(), [x, *params])
    return [y.detach(), *grads]


def check_agreement(width: int, batch: int, dtype: torch.dtype) -> list[dict[str, Any]]:
    """Compare outputs and gradients of naive and pykan with kanphys on the same parameters.

    Inputs are uniform on [-1.5, 1.5], so the extension knots outside the grid range are used.

    Returns
    -------
    list of dict
        One per comparison: ``name``, ``output`` (max abs difference), ``gradients`` (max abs
        difference over input and parameter gradients), ``scale`` (max abs kanphys output),
        or ``error``.
    """
    source = make_kanphys(width, dtype)
    x = make_input(batch, width, dtype, low=-1.5)
    reference = _outputs_and_grads(
        source, [source.coefficients, source.spline_weight, source.base_weight], x
    )
    rows: list[dict[str, Any]] = []
    naive = NaiveKANLayer.from_kanphys(source)
    candidates: list[tuple[str, Callable[[], list[Tensor]]]] = [
        (
            "naive vs kanphys",
            lambda: _outputs_and_grads(
                naive, [naive.coefficients, naive.spline_weight, naive.base_weight], x
            ),
        )
    ]
    if pykan_available():

        def run_pykan() -> list[Tensor]:
            layer = make_pykan(source, dtype)
            params = [layer.coef, layer.scale_sp, layer.scale_base]
            return _outputs_and_grads(lambda v: layer(v)[0], params, x)

        candidates.append(("pykan vs kanphys", run_pykan))
    else:
        rows.append({"name": "pykan vs kanphys", "error": "pykan not installed"})
    for name, run in candidates:
        try:
            other = run()
        except Exception as error:
            rows.append({"name": name, "error": f"{type(error).__name__}: {error}"})
            continue
        diffs = [float((a - b).abs().max()) for a, b in zip(reference, other, strict=True)]
        rows.append(
            {
                "name": name,
                "output": diffs[0],
                "gradients": max(diffs[1:]),
                "scale": float(reference[0].abs().max()),
            }
        )
    return rows


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


def _available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


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


# --------------------------------------------------------------------------------------------
# The study and its report
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One line of the result table: the outcomes of one configuration's rounds.

    Attributes
    ----------
    implementation, dtype, batch, variant
        The configuration.
    rounds : list of dict
        Outcomes of :func:`measure`, one per round (fresh process each); a skipped or failed
        configuration has one outcome and is not run again.
    """

    implementation: str
    dtype: str
    batch: int
    variant: str = "default"
    rounds: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def outcome(self) -> dict[str, Any]:
        """The first outcome that is not "ok", else the first outcome."""
        bad = [o for o in self.rounds if o.get("status") != "ok"]
        return bad[0] if bad else self.rounds[0]

    @property
    def ok(self) -> bool:
        return bool(self.rounds) and all(o.get("status") == "ok" for o in self.rounds)

    @property
    def round_medians(self) -> list[float]:
        return [statistics.median(o["times"]) for o in self.rounds]

    @property
    def times(self) -> list[float]:
        return [t for o in self.rounds for t in o["times"]]

    @property
    def median(self) -> float:
        """Median over rounds of each round's median time per iteration."""
        return statistics.median(self.round_medians)

    @property
    def throughput(self) -> float:
        return self.batch / self.median

    @property
    def peak_mb(self) -> float:
        return max(o["peak_mb"] for o in self.rounds)

    @property
    def cpu_per_wall(self) -> float:
        return statistics.mean(o["cpu_per_wall"] for o in self.rounds)

    @property
    def loads(self) -> list[float]:
        return [v for o in self.rounds for v in o.get("load") or [] if isinstance(v, (int, float))]


def paired_ratios(row: Row, other: Row | None) -> list[float]:
    """Throughput ratios ``row / other``, one per round when both ran the same rounds.

    Round ``r`` of two rows ran minutes apart at most, so a per-round ratio cancels most of the
    drift in the machine's load; rows with different round counts give one overall ratio.
    """
    if other is None or not (row.ok and other.ok):
        return []
    if len(row.rounds) == len(other.rounds) > 1:
        return [b / a for a, b in zip(row.round_medians, other.round_medians, strict=True)]
    return [row.throughput / other.throughput]


def machine_info() -> dict[str, str]:
    """CPU model, core and thread counts, memory, software versions."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    total = _available_bytes()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return {
        "cpu": model,
        "logical_cpus": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "memory": f"{total / 2**30:.0f} GiB" if total else "unknown",
        "thread_env": ", ".join(f"{k}={os.environ[k]}" for k in THREAD_ENV if k in os.environ)
        or "none set",
        "torch": torch.__version__,
        "pykan": pykan_version() or "not installed",
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def kanphys_state() -> dict[str, str]:
    """Git commit of the checkout, uncommitted changes under kanphys/, and a source digest.

    The digest (over every ``kanphys/**/*.py``) tells whether the library changed while the
    benchmark ran, e.g. in a shared working tree.
    """
    digest = hashlib.sha256()
    package = REPO_ROOT / "kanphys"
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    state = {"digest": digest.hexdigest()[:12], "commit": "unknown", "dirty": ""}
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        status = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "kanphys"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return state
    state["commit"] = head.stdout.strip()
    changed = [line[3:] for line in status.stdout.splitlines() if line.strip()]
    state["dirty"] = ", ".join(changed)
    return state


def _fmt_batch(batch: int) -> str:
    exponent = math.log10(batch)
    return f"10^{round(exponent)}" if batch > 1 and exponent.is_integer() else str(batch)


def _fmt_ratio(row: Row, other: Row | None) -> str:
    ratios = paired_ratios(row, other)
    return f"{statistics.median(ratios):.2f}×" if ratios else "–"


def render_table(rows: list[Row]) -> str:
    """The markdown result table."""
    lookup = {(r.implementation, r.dtype, r.batch): r for r in rows}
    header = (
        "| implementation | dtype | batch | throughput (samples/s) | vs pykan | vs naive "
        "| peak memory (MB) | time/iter (ms), median [min–max] | reps | cpu/wall | load |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for row in rows:
        pykan = lookup.get(("pykan", row.dtype, row.batch))
        naive = lookup.get(("naive", row.dtype, row.batch))
        name = (
            f"**{row.implementation}**" if row.implementation == "kanphys" else row.implementation
        )
        head = f"| {name} | {row.dtype} | {_fmt_batch(row.batch)} "
        if not row.ok:
            note = row.outcome.get("note", row.outcome.get("status", "?"))
            lines.append(head + f"| {note} | – | – | – | – | – | – | – |")
            continue
        times = row.times
        timing = f"{1e3 * row.median:.1f} [{1e3 * min(times):.1f}–{1e3 * max(times):.1f}]"
        reps = "+".join(str(len(o["times"])) for o in row.rounds)
        loads = row.loads
        load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else "?"
        lines.append(
            head
            + f"| {row.throughput:,.0f} | {_fmt_ratio(row, pykan)} | {_fmt_ratio(row, naive)} "
            + f"| {row.peak_mb:,.0f} | {timing} | {reps} | {row.cpu_per_wall:.2f} | {load} |"
        )
    return header + "\n".join(lines) + "\n"


def render_checks(checks: dict[str, list[dict[str, Any]]], tolerances: dict[str, float]) -> str:
    """The markdown table of the agreement checks."""
    lines = [
        "| comparison | dtype | max abs diff, output | max abs diff, gradients | "
        "max abs output | agree |",
        "|---|---|---:|---:|---:|---|",
    ]
    for dtype, rows in checks.items():
        tolerance = tolerances[dtype]
        for row in rows:
            if "error" in row:
                lines.append(f"| {row['name']} | {dtype} | – | – | – | {row['error']} |")
                continue
            agree = max(row["output"], row["gradients"]) <= tolerance
            verdict = f"{'yes' if agree else 'NO'} (tol {tolerance:.0e})"
            lines.append(
                f"| {row['name']} | {dtype} | {row['output']:.2e} | {row['gradients']:.2e} "
                f"| {row['scale']:.2e} | {verdict} |"
            )
    return "\n".join(lines) + "\n"


def summary_lines(rows: list[Row], batch: int) -> list[str]:
    """kanphys / pykan and kanphys / naive at ``batch`` for each dtype."""
    lookup = {(r.implementation, r.dtype, r.batch): r for r in rows}
    out = []
    for dtype in DTYPES:
        mine = lookup.get(("kanphys", dtype, batch))
        if mine is None:
            continue
        for other_name in ("pykan", "naive"):
            other = lookup.get((other_name, dtype, batch))
            ratios = paired_ratios(mine, other)
            if not ratios or other is None:
                continue
            best = min(other.times) / min(mine.times)
            per_round = (
                f"per round {', '.join(f'{r:.2f}×' for r in ratios)}; " if len(ratios) > 1 else ""
            )
            out.append(
                f"kanphys / {other_name}, {dtype}, batch {_fmt_batch(batch)}: "
                f"**{statistics.median(ratios):.2f}×** ({per_round}{best:.2f}× between the "
                "fastest iterations)"
            )
    return out


def render_section(
    rows: list[Row],
    checks: dict[str, list[dict[str, Any]]],
    tolerances: dict[str, float],
    *,
    command: str,
    started: datetime.datetime,
    elapsed: float,
    machine: dict[str, str],
    width: int,
    check_batch: int,
    quick: bool,
    rounds: int,
    source: tuple[dict[str, str], dict[str, str]],
) -> str:
    """This script's section of ``docs/benchmarks.md``, markers included."""
    loads = [v for r in rows for v in r.loads]
    load_text = f"{min(loads):.2f}–{max(loads):.2f}" if loads else "unknown"
    headline = 10**4 if any(r.batch == 10**4 for r in rows) else max(r.batch for r in rows)
    variants = list(dict.fromkeys(r.variant for r in rows))
    tables, summaries = [], []
    for variant in variants:
        subset = [r for r in rows if r.variant == variant]
        title = (
            "inherited environment (default)"
            if variant == "default"
            else f"measuring processes run with `{variant.replace(',', ' ')}`"
        )
        tables.append(f"#### {title}\n\n{render_table(subset)}")
        summary = summary_lines(subset, headline)
        naive_batches = [r.batch for r in subset if r.implementation == "naive" and r.ok]
        if naive_batches:
            summary += summary_lines(subset, max(naive_batches))
        lines = "\n".join(f"- {line}" for line in dict.fromkeys(summary)) or "- (no ratios)"
        summaries.append(lines if len(variants) == 1 else f"{title}:\n\n{lines}")
    tables_text = "\n".join(tables)
    before, after = source
    version = f"kanphys at commit `{before['commit']}`" + (
        f" with uncommitted changes in {before['dirty']}" if before["dirty"] else ""
    )
    version += f" (source digest `{before['digest']}`)"
    if after["digest"] != before["digest"]:
        version += (
            f"; **kanphys/ changed while this ran** (digest `{after['digest']}` at the end, "
            f"commit `{after['commit']}`), so rows may mix versions"
        )
    summary_text = "\n\n".join(summaries)
    quick_text = (
        "\n**This is a `--quick` smoke run (tiny sizes); its numbers mean nothing.**\n"
        if quick
        else ""
    )
    return f"""{SECTION_START}
## One KAN layer, forward + backward (`benchmarks/layer_speed.py`)
{quick_text}
One layer {width} → {width}, B-splines with `grid_size=5`, `spline_order=3`, SiLU residual.
Each iteration runs the forward pass, `loss = mean(y**2)` and `loss.backward()`, with gradients
to the parameters **and** to the input `x` (as physics-informed training needs); inputs are
uniform on [-1, 1]. Every configuration is measured in {rounds} round(s), each in a fresh
process, the implementations alternating (kanphys, pykan, then pykan, kanphys, ...), so that the
rows compared ran within minutes of each other. In each round, warm-up iterations are followed
by timed ones (`time.perf_counter`, `torch` threads left at their default; a variant below
changes only the environment of the measuring processes, never the thread count). Throughput =
batch / the median over rounds of each round's median time per iteration. "vs pykan" is the
median over rounds of the per-round throughput ratio (this row / pykan, same dtype and batch);
"vs naive" compares with naive's single round. Peak memory = growth of the peak resident set of
the process over its state after setup (imports, layer, input), i.e. activations, autograd
buffers, gradients and allocator overhead; "load" is the 1-minute load average seen by the
measuring processes, "reps" the timed iterations per round.

- command: `{command}`
- code: {version}
- date: {started:%Y-%m-%d %H:%M} (local), {elapsed / 60:.1f} min in all
- machine: {machine["cpu"]}, {machine["logical_cpus"]} logical CPUs, {machine["memory"]} RAM,
  torch {machine["torch"]} with {machine["torch_threads"]} threads (thread variables:
  {machine["thread_env"]}), pykan {machine["pykan"]},
  Python {machine["python"]}, {machine["os"]}
- 1-minute load average seen by the measuring processes: {load_text} (the machine was shared;
  `cpu/wall` below is CPU seconds per wall second of the timed iterations, at most the thread
  count)

### Agreement on identical parameters (batch {check_batch}, inputs uniform on [-1.5, 1.5])

{render_checks(checks, tolerances)}
### Throughput and peak memory

{tables_text}
### Summary

{summary_text}

### Notes

- **naive** is a Python loop over the {width * width} edges; each edge runs its own Cox-de Boor
  recursion (vectorised over samples and basis functions) and its own SiLU. Its cost per
  iteration is first estimated from 16 edges; a row is skipped when the estimate exceeds the
  time limit or the memory available (its autograd graph keeps every edge's intermediates), and
  it is timed over 1–3 iterations, in the first round only, otherwise. Its estimates come from
  a few milliseconds to seconds of work and are as noisy as the machine.
- **pykan** is `kan.KANLayer.KANLayer(in_dim, out_dim, num=5, k=3)` cast with `.to(dtype)`,
  with kanphys's knots and parameters copied in (`coef`, `scale_base`, `scale_sp`, `mask`,
  `grid`); its forward also builds `preacts`, `postacts` and `postspline` (N × out × in each),
  which is part of its cost; `y` is used for the loss and the other outputs are dropped at once.
  pykan's `to()` override stores its argument as `layer.device` (here a dtype); the benchmark
  resets it to `"cpu"` (the forward pass does not read it).
- `cpu/wall` well below the thread count means the measuring process was waiting for a core
  (it counts spin-waiting as CPU time, so a value near the thread count does not prove the
  time was useful). With more runnable processes than cores, OpenMP worker threads that spin
  while waiting (libgomp's default) take time from the threads doing the work, and small
  parallel regions become very slow; `OMP_WAIT_POLICY=PASSIVE` makes them sleep instead.
  Compare the variants above, if more than one was run, before reading much into absolute
  numbers.
- All three allocate their large temporaries afresh in every iteration; glibc hands blocks
  above 32 MB back to the kernel when they are freed, so page faults on fresh memory are part
  of the measured cost. A variant such as
  `MALLOC_MMAP_MAX_=0,MALLOC_TRIM_THRESHOLD_=1000000000000` shows how much.
- The three implementations compute the same function (same edge formula, knot extension and
  half-open knot intervals; kanphys also closes the very last interval, which changes values
  only at the last knot itself), so they agree to rounding error, as checked above.
{SECTION_END}
"""


def write_section(path: Path, section: str) -> None:
    """Replace this script's section of ``path`` (or create the page with its intro)."""
    if path.exists():
        text = path.read_text()
        start, end = text.find(SECTION_START), text.find(SECTION_END)
        if start != -1 and end != -1 and end > start:
            text = text[:start] + section.rstrip("\n") + text[end + len(SECTION_END) :]
        else:
            text = text.rstrip("\n") + "\n\n" + section
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = DOC_INTRO + "\n" + section
    path.write_text(text if text.endswith("\n") else text + "\n")


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
