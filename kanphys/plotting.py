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

__all__ = ["plot_kan", "plot_loss", "plot_solution"]

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


def plot_kan(
    model: Any,
    x: Any,
    path: Path,
    *,
    labels: dict[tuple[int, int, int], str] | None = None,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    title: str | None = None,
) -> Path:
    """Diagram of a KAN: every active edge drawn as its activation curve on the batch ``x``.

    Nodes are dots, layer by layer from the inputs (bottom) to the outputs (top); each active
    edge is a line from its input node to the sub-node it feeds, with a small inset plot of
    ``phi(h)`` against ``h`` over the batch at its middle, titled with ``labels[(l, i, j)]``
    (for example the fitted symbol). Product nodes are marked with a cross and joined to the
    sub-nodes they multiply.

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (N, in_features)
        Batch to draw the activations on (the data the model was fitted to).
    path : Path
    labels : dict, optional
        Text per edge ``(layer, i, j)``.
    input_names, output_names : list of str, optional
    title : str, optional
    """
    import torch

    plt = _pyplot()
    with torch.no_grad():
        trace = model.trace(x)
    widths = [sum(pair) for pair in model.width]
    levels: list[list[float]] = []  # x positions per drawn row
    rows: list[int] = []  # node count per drawn row: nodes, then sub-nodes, then nodes ...
    for l, layer in enumerate(trace.layers):
        rows.append(widths[l])
        rows.append(layer.edges.shape[2])
    rows.append(widths[-1])
    span = max(rows)
    for count in rows:
        levels.append([(k + 0.5) * span / count for k in range(count)])
    height = 2.2 * len(trace.layers) + 0.8
    figure = plt.figure(figsize=(max(4.0, 1.6 * span), height * 1.2))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, span)
    ax.set_ylim(-0.6, height)
    ax.axis("off")
    y_of = [0.0]
    for _ in trace.layers:
        y_of += [y_of[-1] + 1.6, y_of[-1] + 2.2]
    arity = model.config.mult_arity
    for l, layer in enumerate(trace.layers):
        x_in, x_sub, x_out = levels[2 * l], levels[2 * l + 1], levels[2 * l + 2]
        y_in, y_sub, y_out = y_of[2 * l], y_of[2 * l + 1], y_of[2 * l + 2]
        n_sum, n_mult = model.width[l + 1]
        for j in range(layer.edges.shape[2]):
            node = j if j < n_sum else n_sum + (j - n_sum) // arity
            ax.plot([x_sub[j], x_out[node]], [y_sub, y_out], color="0.6", linewidth=0.8)
        for node in range(n_sum, n_sum + n_mult):
            ax.text(x_out[node], y_out, "×", ha="center", va="center", fontsize=14, zorder=5)
        edges = layer.edges.detach().cpu().numpy()
        inputs = layer.inputs.detach().cpu().numpy()
        active = edges.std(axis=0) > 0
        for i in range(edges.shape[1]):
            order = np.argsort(inputs[:, i])
            for j in range(edges.shape[2]):
                if not active[i, j]:
                    continue
                ax.plot([x_in[i], x_sub[j]], [y_in, y_sub], color="0.3", linewidth=0.8)
                mx, my = 0.5 * (x_in[i] + x_sub[j]), 0.5 * (y_in + y_sub)
                size = 0.5
                inset = ax.inset_axes(
                    (mx - size / 2, my - size / 2, size, size * 0.8), transform=ax.transData
                )
                inset.plot(inputs[order, i], edges[order, i, j], color="C0", linewidth=1.2)
                inset.set_xticks([])
                inset.set_yticks([])
                label = (labels or {}).get((l, i, j))
                if label:
                    inset.set_title(label, fontsize=7, pad=1)
    for k, name in enumerate(input_names or []):
        ax.text(levels[0][k], -0.35, name, ha="center", va="top", fontsize=9)
    for k, name in enumerate(output_names or []):
        ax.text(levels[-1][k], y_of[-1] + 0.2, name, ha="center", va="bottom", fontsize=9)
    for row, ys in zip(levels, y_of, strict=True):
        ax.scatter(row, [ys] * len(row), s=18, color="k", zorder=4)
    if title:
        ax.set_title(title, fontsize=9)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
