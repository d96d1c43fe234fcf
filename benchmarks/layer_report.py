"""Rows, ratios and the markdown section that ``layer_speed.py`` writes to docs/benchmarks.md."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import math
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

import torch
from layer_impls import (
    DOC_INTRO,
    DTYPES,
    REPO_ROOT,
    SECTION_END,
    SECTION_START,
    THREAD_ENV,
    _available_bytes,
    pykan_version,
)

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
