"""Implementations compared by ``layer_speed.py``: kanphys, pykan 0.2.8, a naive per-edge layer.

Also the agreement check that gives all three the same parameters before anything is timed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
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


def _available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None
