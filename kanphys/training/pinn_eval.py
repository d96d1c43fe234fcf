"""Error of a trained :class:`~kanphys.pde.model.PDEModel` against the problem's reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from kanphys.pde.compile import Environment, compile_expression
from kanphys.pde.geometry import Geometry
from kanphys.pde.model import PDEModel
from kanphys.pde.problem import Problem

__all__ = [
    "evaluate_reference",
    "evaluation_points",
    "field_errors",
    "predict_in_chunks",
    "reference_values",
]

EVALUATION_POINTS = 40_000
CHUNK = 65_536


def predict_in_chunks(model: PDEModel, points: torch.Tensor) -> torch.Tensor:
    """``model(points)`` without gradients, in chunks (bounded memory): ``(M, D) -> (M, F)``."""
    with torch.no_grad():
        return torch.cat([model(chunk) for chunk in points.split(CHUNK)])


def evaluation_points(
    problem: Problem, *, dtype: torch.dtype, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, tuple[int, ...] | None, np.ndarray | None]:
    """Where errors are measured: the reference file's points, else a grid over the domain.

    Returns
    -------
    points : Tensor, shape (M, D)
        In the problem's input order.
    grid_shape : tuple of int or None
        Layout of the points (the full grid's, when ``mask`` is set).
    mask : ndarray of bool or None
        Which nodes of the full grid lie in a non-box domain.
    """
    reference = problem.reference
    if reference is not None and reference.points is not None:
        points = torch.as_tensor(reference.points, dtype=dtype, device=device)
        return points, reference.grid_shape, None
    geometry = Geometry(problem.domain)
    points, grid_shape = geometry.evaluation_grid(EVALUATION_POINTS, dtype=dtype, device=device)
    mask = None
    if grid_shape is None:
        full_mask, grid_shape = geometry.evaluation_grid_mask(EVALUATION_POINTS)
        mask = full_mask.cpu().numpy()
    return points, grid_shape, mask


def reference_values(problem: Problem, points: torch.Tensor) -> dict[str, np.ndarray]:
    """The reference of every field that has one at ``points`` (from :func:`evaluation_points`
    when the reference is a file; closed forms are evaluated anywhere)."""
    reference = problem.reference
    truth: dict[str, np.ndarray] = {}
    if reference is None:
        return truth
    truth.update({k: np.asarray(v, dtype=float) for k, v in reference.values.items()})
    if reference.expressions:
        env = Environment({name: points[:, i] for i, name in enumerate(problem.inputs)})
        env.parameters = {p.name: points.new_tensor(p.value) for p in problem.parameters}
        for name, expr in reference.expressions.items():
            compiled = compile_expression(expr, problem.inputs, label=f"reference.{name}")
            with torch.no_grad():
                truth[name] = compiled(env).cpu().numpy()
    return truth


def field_errors(
    predicted: dict[str, np.ndarray], truth: dict[str, np.ndarray]
) -> tuple[dict[str, float], dict[str, float]]:
    """Relative L2 and maximum absolute errors of the fields that have a reference."""
    rel_l2, max_abs = {}, {}
    for name, values in truth.items():
        error = predicted[name] - values
        norm = float(np.linalg.norm(values))
        rel_l2[name] = float(np.linalg.norm(error) / norm) if norm > 0 else float("nan")
        max_abs[name] = float(np.abs(error).max())
    return rel_l2, max_abs


def evaluate_reference(problem: Problem, model: PDEModel) -> dict[str, Any]:
    """Predictions, reference values and errors on the evaluation points.

    Points come from the reference file when there is one (its layout is kept for plots), else
    from a grid of about 40,000 points over the domain on which closed forms are evaluated.

    Returns
    -------
    dict
        ``points`` ``(M, D)``, ``grid_shape`` (or None), ``mask`` (bool over the full grid, or
        None), ``prediction`` ``{field: (M,)}``, ``reference`` ``{field: (M,)}``, ``rel_l2`` and
        ``max_abs_err`` ``{field: float}`` for the fields with a reference, ``n_points``.
    """
    like = next(model.parameters())
    points, grid_shape, mask = evaluation_points(problem, dtype=like.dtype, device=like.device)
    prediction = predict_in_chunks(model, points)
    predicted = {name: prediction[:, f].cpu().numpy() for f, name in enumerate(problem.fields)}
    truth = reference_values(problem, points)
    rel_l2, max_abs = field_errors(predicted, truth)
    return {
        "points": points.cpu().numpy(),
        "grid_shape": grid_shape,
        "mask": mask,
        "prediction": predicted,
        "reference": truth,
        "rel_l2": rel_l2,
        "max_abs_err": max_abs,
        "n_points": int(points.shape[0]),
    }
