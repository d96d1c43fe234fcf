"""Closed forms of solved PDE fields (``kanphys solve --symbolic``).

The trained field is a network; its closed form is found by symbolic distillation: sample the
field on points of the domain, run :class:`~kanphys.discovery.law.LawDiscovery` on
``(inputs -> field)`` (sparsified KAN, pruning, vectorised symbolic edges, constant refit and
snapping), and evaluate the resulting formula against the problem's reference on the same
points the network is scored on. The formula is therefore judged on its own, not through the
network.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from kanphys.discovery.law import LawDiscovery
from kanphys.errors import KanphysError
from kanphys.pde.geometry import Geometry
from kanphys.pde.model import PDEModel
from kanphys.pde.problem import Problem

__all__ = ["field_formulas"]

logger = logging.getLogger(__name__)


def _relative_l2(values: np.ndarray, reference: np.ndarray) -> float:
    norm = float(np.linalg.norm(reference))
    if not norm > 0 or not np.isfinite(values).all():
        return float("nan")
    return float(np.linalg.norm(values - reference) / norm)


def field_formulas(
    problem: Problem,
    model: PDEModel,
    evaluation: dict[str, Any],
    *,
    samples: int = 4000,
    seed: int = 0,
    time_limit: float = 120.0,
) -> dict[str, dict[str, Any]]:
    """The closed form of every field of a solved problem.

    Parameters
    ----------
    problem : Problem
    model : PDEModel
        The trained model.
    evaluation : dict
        What :func:`~kanphys.training.pinn_eval.evaluate_reference` returned (its points and
        reference values score the formulas).
    samples : int
        Interior points the field is sampled on.
    seed : int
    time_limit : float
        Seconds per field.

    Returns
    -------
    dict
        Per field: ``formula`` (sympy-parsable, in the input names), ``rel_l2`` against the
        reference (NaN without one), ``rel_l2_network`` against the network's prediction,
        ``complexity``, ``r2_test`` and the ``pareto`` front; or ``error`` when no formula
        could be extracted.
    """
    like = next(model.parameters())
    generator = torch.Generator().manual_seed(seed)
    points = Geometry(problem.domain).sample_interior(
        samples, method="sobol", generator=generator, dtype=like.dtype, device=like.device
    )
    with torch.no_grad():
        values = model(points).cpu().numpy()
    X = points.cpu().numpy()
    evaluation_points = np.asarray(evaluation["points"], dtype=np.float64)
    formulas: dict[str, dict[str, Any]] = {}
    for f, name in enumerate(problem.fields):
        # the network's own error acts as noise on the samples
        # (structured, not random: snaps that move the error by up to 10% are accepted, and
        # no likelihood-ratio test, which assumes independent errors)
        estimator = LawDiscovery(
            seed=seed,
            time_limit=time_limit,
            noise_aware=True,
            snap_tolerance=0.1,
            likelihood_snap=False,
        )
        try:
            estimator.fit(X, values[:, f], names=list(problem.inputs), target=name)
        except KanphysError as err:
            logger.warning("no closed form for field %s: %s", name, err)
            formulas[name] = {"formula": None, "error": str(err)}
            continue
        keep = [problem.inputs.index(n) for n in estimator.names_]
        predicted = estimator.predict(evaluation_points[:, keep])
        reference = evaluation["reference"].get(name)
        formulas[name] = {
            "formula": estimator.formula_string_,
            "rel_l2": float("nan") if reference is None else _relative_l2(predicted, reference),
            "rel_l2_network": _relative_l2(predicted, evaluation["prediction"][name]),
            "complexity": estimator.complexity_,
            "r2_test": estimator.r2_test_,
            "pareto": [c.to_dict() for c in estimator.pareto_],
            "wall_time_s": estimator.wall_time_s_,
        }
    return formulas
