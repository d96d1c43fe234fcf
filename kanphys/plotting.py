"""Figures of a ``kanphys solve`` run (matplotlib, Agg backend; nothing is shown on screen).

* :func:`plot_solution`: per field, prediction | reference | absolute error. Two inputs give
  heat maps (for ``x`` and ``t`` too); one spatial input plus time also gets slices at a few times;
  one input gives curves; more inputs are cut through the middle of the other axes.
* :func:`plot_loss`: total loss and every term against the step, log scale.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from kanphys.pde.problem import Problem

__all__ = ["plot_loss", "plot_solution"]

logger = logging.getLogger(__name__)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _on_grid(values: np.ndarray, evaluation: dict[str, Any]) -> np.ndarray | None:
    shape = evaluation["grid_shape"]
    if shape is None:
        return None
    mask = evaluation["mask"]
    if mask is not None:
        full = np.full(mask.shape, np.nan)
        full[mask] = values
        values = full
    if int(np.prod(shape)) != values.size:
        return None
    return values.reshape(shape)


def _axes_values(points: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
    grid = points if points.shape[0] == int(np.prod(shape)) else None
    axes = []
    for i, n in enumerate(shape):
        if grid is not None:
            stride = int(np.prod(shape[i + 1 :]))
            axes.append(grid[: n * stride : stride, i])
        else:
            axes.append(np.linspace(0, 1, n))
    return axes


def _bounding_axes(problem: Problem, shape: tuple[int, ...]) -> list[np.ndarray]:
    return [
        np.linspace(lo, hi, n) for (lo, hi), n in zip(problem.domain.bounds, shape, strict=True)
    ]


def plot_solution(problem: Problem, evaluation: dict[str, Any], path: Path) -> Path | None:
    """Write ``path`` (PNG); returns None (with a log message) when nothing can be drawn."""
    plt = _pyplot()
    fields = list(problem.fields)
    inputs = problem.inputs
    shape = evaluation["grid_shape"]
    has_reference = {name: name in evaluation["reference"] for name in fields}
    columns = 3
    slices = len(inputs) == 2 and problem.domain.time is not None and shape is not None
    columns += int(slices)
    figure, axes = plt.subplots(
        len(fields), columns, figsize=(4.2 * columns, 3.4 * len(fields)), squeeze=False
    )
    for row, name in enumerate(fields):
        prediction = evaluation["prediction"][name]
        reference = evaluation["reference"].get(name)
        panels = [("prediction", prediction)]
        panels.append(("reference", reference))
        panels.append(("|error|", None if reference is None else np.abs(prediction - reference)))
        if shape is not None and len(shape) >= 2:
            if evaluation["mask"] is not None:
                axis_values = _bounding_axes(problem, shape)
            else:
                axis_values = _axes_values(evaluation["points"], shape)
            for column, (title, values) in enumerate(panels):
                ax = axes[row][column]
                if values is None:
                    ax.set_axis_off()
                    ax.set_title(f"{name}: {title} (none)")
                    continue
                grid = _on_grid(values, evaluation)
                assert grid is not None
                # cut higher-dimensional grids through the middle of the extra axes
                while grid.ndim > 2:
                    grid = grid[..., grid.shape[-1] // 2]
                image = ax.pcolormesh(
                    axis_values[0],
                    axis_values[1],
                    grid.T,
                    shading="auto",
                    cmap="magma" if title == "|error|" else "viridis",
                )
                figure.colorbar(image, ax=ax)
                ax.set_xlabel(inputs[0])
                ax.set_ylabel(inputs[1])
                ax.set_title(f"{name}: {title}")
            if slices:
                _time_slices(axes[row][3], problem, evaluation, name, shape)
        else:
            order = np.argsort(evaluation["points"][:, 0])
            x = evaluation["points"][order, 0]
            for column, (title, values) in enumerate(panels):
                ax = axes[row][column]
                if values is None:
                    ax.set_axis_off()
                    continue
                ax.plot(x, values[order])
                ax.set_xlabel(inputs[0])
                ax.set_title(f"{name}: {title}")
        if not has_reference[name]:
            logger.info("no reference for field %s: the figure shows the prediction only", name)
    figure.suptitle(
        f"{problem.name}: "
        + ", ".join(f"rel. L2({k}) = {v:.2e}" for k, v in evaluation["rel_l2"].items())
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _time_slices(
    ax: Any, problem: Problem, evaluation: dict[str, Any], name: str, shape: tuple[int, ...]
) -> None:
    time_axis = problem.inputs.index(problem.domain.time)  # type: ignore[arg-type]
    space_axis = 1 - time_axis
    axis_values = _axes_values(evaluation["points"], shape)
    prediction = _on_grid(evaluation["prediction"][name], evaluation)
    reference = evaluation["reference"].get(name)
    reference = None if reference is None else _on_grid(reference, evaluation)
    n_time = shape[time_axis]
    for k, index in enumerate(np.linspace(0, n_time - 1, 4).round().astype(int)):
        color = f"C{k}"
        take = (slice(None), index) if time_axis == 1 else (index, slice(None))
        t_value = axis_values[time_axis][index]
        assert prediction is not None
        ax.plot(
            axis_values[space_axis],
            prediction[take],
            color=color,
            label=f"{problem.domain.time} = {t_value:.3g}",
        )
        if reference is not None:
            ax.plot(axis_values[space_axis], reference[take], color=color, linestyle="--")
    ax.set_xlabel(problem.inputs[space_axis])
    ax.set_title(f"{name}: slices (dashed: reference)")
    ax.legend(fontsize=7)


def plot_loss(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Total loss and its terms against the step (log scale)."""
    if not history:
        return None
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(6.4, 4.2))
    steps = np.array([row["step"] for row in history])
    keys = ["loss", *sorted({k for row in history for k in row if k.startswith("loss_")})]
    for key in keys:
        values = np.array([row.get(key, np.nan) for row in history], dtype=float)
        ax.semilogy(
            steps,
            values,
            label="total" if key == "loss" else key[5:],
            linewidth=2 if key == "loss" else 1,
        )
    lbfgs = [row["step"] for row in history if row.get("phase") == "lbfgs"]
    if lbfgs:
        ax.axvline(lbfgs[0], color="gray", linestyle=":", label="L-BFGS starts")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
