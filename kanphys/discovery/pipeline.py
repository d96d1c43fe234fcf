"""One view of LawDiscovery: network -> pruned -> symbolic -> candidate formulas."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy
import torch

from kanphys.discovery.views import View
from kanphys.errors import KanphysError

if TYPE_CHECKING:
    from kanphys.discovery.law import LawDiscovery, ViewReport
    from kanphys.models import KAN

__all__ = ["fit_view", "width_ladder"]

logger = logging.getLogger(__name__)


def width_ladder(view: str, d: int, hidden: int | None) -> list[tuple[list[Any], int]]:
    """Network shapes ``(width, mult_arity)`` tried in a view, smallest first.

    ``[d, 1]`` is an additive model (in the log views: a product of powers and univariate
    factors). The raw views then try one product node over up to four sums of univariate
    functions (``kappa * A * (T2 - T1) / d``), a hidden node, sums of products
    (``x1 y1 + x2 y2``) and wider layers; the log views try one to three hidden nodes.
    With ``hidden`` given, only ``[d, hidden, 1]`` is tried.
    """
    if hidden is not None:
        return [([d, hidden, 1], 2)]
    if view in ("log", "logy"):
        return [([d, 1], 2), ([d, 1, 1], 2), ([d, 2, 1], 2), ([d, 3, 1], 2)]
    ladder: list[tuple[list[Any], int]] = [([d, 1], 2)]
    if d > 1:
        ladder.append(([d, [0, 1]], min(d, 4)))
    ladder += [([d, [0, 1], 1], 2), ([d, 2, 1], 2)]
    if d > 3:
        ladder.append(([d, [0, d // 2], 1], 2))
    ladder.append(([d, [max(2, d), max(1, d // 2)], 1], 2))
    return ladder


def _train(
    model: KAN,
    u: torch.Tensor,
    t: torch.Tensor,
    steps: int,
    sparsity: float = 0.0,
) -> float:
    from kanphys.training.fit import FitConfig, fit

    config = FitConfig(steps=steps, optimizer="lbfgs", sparsity=sparsity, log_every=steps)
    try:
        result = fit(model, u, t, config=config)
    except KanphysError as err:  # a diverged stage keeps the last parameters
        logger.info("training stage stopped: %s", err)
        return math.nan
    return result.final_loss


def _rmse(model: KAN, u: torch.Tensor, t: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.sqrt(torch.mean((model(u) - t) ** 2)))


class _Context:
    """The data of one view as tensors, and what every shape of the ladder needs."""

    def __init__(
        self,
        owner: LawDiscovery,
        view: View,
        train: tuple[np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray],
        symbols: Sequence[sympy.Symbol],
        device: torch.device | None,
        dtype: torch.dtype | None,
    ) -> None:
        self.owner, self.view, self.symbols = owner, view, list(symbols)
        self.X, self.y = train
        self.X_val, self.y_val = validation
        rows = np.random.default_rng(owner.seed).permutation(len(self.y))[: owner.max_train_rows]
        self.u = self.tensor(view.inputs(self.X[rows]), dtype, device)
        self.t = self.tensor(view.target(self.y[rows], self.X[rows])[:, None], dtype, device)
        self.u_val = self.tensor(view.inputs(self.X_val), dtype, device)
        self.t_val = self.tensor(view.target(self.y_val, self.X_val)[:, None], dtype, device)

    @staticmethod
    def tensor(a: np.ndarray, dtype: torch.dtype | None, device: torch.device | None):
        return torch.as_tensor(a, dtype=dtype or torch.float64, device=device)


def fit_view(
    owner: LawDiscovery,
    view: View,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    symbols: Sequence[sympy.Symbol],
    report: ViewReport,
    *,
    generator: torch.Generator,
    device: torch.device | None,
    dtype: torch.dtype | None,
    deadline: float,
) -> list[dict[str, Any]]:
    """Run the KAN pipeline in ``view``; returns candidate formulas (dicts) for the front.

    Shapes of the ladder are trained with sparsification, smallest first. Each shape whose
    validation error is adequate goes through pruning, grid refinement, symbolic edges and the
    formula stage; the ladder stops at the first shape whose formula predicts about as well as
    its network (or when the time is up).
    """
    from kanphys.models import KAN

    context = _Context(owner, view, train, validation, symbols, device, dtype)
    candidates: list[dict[str, Any]] = []
    best_formula = math.inf
    tried: list[tuple[float, list[Any], KAN]] = []
    for width, arity in width_ladder(view.name, len(symbols), owner.hidden):
        if time.perf_counter() > deadline:
            break
        model = KAN(
            width,
            mult_arity=arity,
            grid_size=owner.grid_size,
            grid_range=(-1.0, 1.0),
            dtype=context.u.dtype,
            device=context.u.device,
            generator=generator,
        )
        _train(model, context.u, context.t, owner.steps, sparsity=owner.sparsity)
        error = _rmse(model, context.u_val, context.t_val)
        entry: dict[str, Any] = {"width": width, "mult_arity": arity, "rmse_val_scaled": error}
        report.ladder.append(entry)
        tried.append((error, width, model))
        if not error <= owner.adequate_error:
            continue
        found, network_rmse = _extract(context, model, entry, report, deadline)
        candidates.extend(found)
        formula_rmse = min((c["rmse_val"] for c in found), default=math.inf)
        best_formula = min(best_formula, formula_rmse)
        if formula_rmse <= max(3.0 * network_rmse, 1e-9 * float(np.std(context.y_val))):
            break
    if not candidates and tried:
        # no shape was adequate (or the time ran out first): extract from the most accurate
        error, width, model = min(tried, key=lambda item: item[0])
        entry = next(e for e in report.ladder if e["width"] is width)
        found, _ = _extract(context, model, entry, report, deadline)
        candidates.extend(found)
    return candidates


def _extract(
    context: _Context,
    model: KAN,
    entry: dict[str, Any],
    report: ViewReport,
    deadline: float,
) -> tuple[list[dict[str, Any]], float]:
    """Prune, refine, fix edges symbolically and build the formula candidates of one shape."""
    from kanphys.discovery.law import NOISY_SNAP_CONSTANTS, snap_tolerance
    from kanphys.models import refine_grid
    from kanphys.pruning import prune, prune_inputs
    from kanphys.symbolic import network_formula
    from kanphys.symbolic.constants import (
        drop_negligible_terms,
        refit_constants,
        snap_constants,
    )

    owner, view = context.owner, context.view
    u, t = context.u, context.t
    model = prune(model, u, threshold=owner.prune_threshold, edge_threshold=owner.edge_threshold)
    model, kept = prune_inputs(model, u, threshold=owner.prune_threshold)
    u, u_val = u[:, kept], context.u_val[:, kept]
    kept_symbols = [context.symbols[k] for k in kept]
    entry["pruned_width"] = [list(p) for p in model.width]
    entry["inputs_kept"] = [str(s) for s in kept_symbols]
    _train(model, u, t, owner.steps)
    if owner.refined_grid_size > owner.grid_size:
        model = refine_grid(model, owner.refined_grid_size, u)
        _train(model, u, t, owner.steps)
    network_val = view.untarget(model(u_val).detach().cpu().numpy()[:, 0], context.X_val)
    network_rmse_user = float(np.sqrt(np.mean((network_val - context.y_val) ** 2)))
    entry["network_rmse_val"] = network_rmse_user
    symbolic, edges = _fix_progressively(owner, model, u, t, deadline)
    # the formula in the user's variables, refitted and snapped
    (expression,) = network_formula(symbolic, view.input_expressions(kept_symbols, kept))
    expression = view.output_expression(expression, context.symbols)
    # refit and snap on all inputs: a ratio view's factor may be an input the network dropped
    every = context.symbols
    # terms below round-off are negligible; with noise_aware, so are terms below the noise
    # level, which the network's validation error estimates
    negligible = 1e-6
    if owner.noise_aware:
        spread = float(np.sqrt(np.mean(context.y_val**2)))
        negligible = max(negligible, network_rmse_user / spread if spread > 0 else 0.0)
    refitted = drop_negligible_terms(expression, context.X, every, relative=negligible)
    for _ in range(2):  # the refit may drive more terms to nothing: drop them and refit again
        try:
            refitted, _ = refit_constants(refitted, context.X, context.y, every)
        except KanphysError as err:
            logger.info("refit failed in view %s: %s", view.name, err)
        cleaned = drop_negligible_terms(refitted, context.X, every, relative=negligible)
        if cleaned == refitted:
            break
        refitted = cleaned
    merged = _merge_constants(refitted)
    if merged is not refitted:
        try:
            refitted, _ = refit_constants(merged, context.X, context.y, every)
        except KanphysError as err:
            logger.info("refit failed in view %s: %s", view.name, err)
    tolerance = snap_tolerance(owner.snap_tolerance, owner.likelihood(), len(context.y_val))
    constants = len(refitted.atoms(sympy.Float))
    late = time.perf_counter() > deadline and constants > 6
    limit = min(owner.max_snap_constants, NOISY_SNAP_CONSTANTS if owner.noise_aware else 10**9)
    if constants > limit or late:
        # a formula this irregular is not a simple law: snapping would only cost time
        logger.info("view %s: %d constants, not snapped", view.name, constants)
        chain = [(refitted, math.nan)]
    else:
        chain = snap_constants(
            refitted,
            context.X,
            context.y,
            every,
            X_val=context.X_val,
            y_val=context.y_val,
            tolerance=tolerance,
            order="simplest" if owner.noise_aware else "nearest",
            deadline=owner._stop if owner.noise_aware else None,
        )
    found = [
        _candidate(expr, context, stage, network_rmse_user) for stage, (expr, _) in enumerate(chain)
    ]
    best = min((c["rmse_val"] for c in found), default=math.inf)
    entry["formula_rmse_val"] = best
    if best <= min(
        (c.get("formula_rmse_val", math.inf) for c in report.ladder[:-1]), default=math.inf
    ):
        report.width = entry["width"]
        report.pruned_width = entry["pruned_width"]
        report.inputs_kept = entry["inputs_kept"]
        report.network_rmse_val = network_rmse_user
        report.network_r2_val = _r2(network_val, context.y_val)
        report.edges = [_edge_dict(edge) for edge in edges]
        owner.networks_[view.name] = {
            "model": model,
            "inputs": u[:500],
            "labels": {(e.layer, e.i, e.j): e.name for e in edges},
            "names": [str(s) for s in kept_symbols],
        }
    return found, network_rmse_user


def _fix_progressively(
    owner: LawDiscovery, model: KAN, u: torch.Tensor, t: torch.Tensor, deadline: float
) -> tuple[KAN, list[Any]]:
    """Fix the edges symbolically, the most certain first, retraining the rest in between.

    Every round fits all numeric edges at once (one vectorised fit per layer) and fixes those
    whose fit is excellent (``1 - R^2 <= owner.certain_fit``); when none is, the best fitting
    quarter of them (at least one). The network (numeric edges and the new symbolic
    constants) is then retrained, so the remaining edges can absorb what the fixed ones left
    over: a product ``g1(x) * g2(x)`` learnt as ``(g1 h) * (g2 / h)`` becomes ``g1 * g2``
    once ``g1`` is fixed.
    After the time limit, everything left is fixed in one round.
    """
    from kanphys.symbolic import auto_symbolic, fix_symbolic

    edges: dict[tuple[int, int, int], Any] = {}
    settings = {
        "library": owner.library,
        "r2_tolerance": owner.r2_tolerance,
        "complexity_weight": owner.complexity_weight,
    }
    while True:
        hurry = time.perf_counter() > deadline
        min_r2 = None if hurry or not owner.progressive else 1.0 - owner.certain_fit
        fixed, report = auto_symbolic(model, u, min_r2=min_r2, **settings)
        if not report.edges:
            break
        for edge in report.fixed:
            edges[(edge.layer, edge.i, edge.j)] = edge
        if not report.fixed:
            # the best quarter of the remaining edges (at least one)
            ranked = sorted(report.edges, key=lambda e: (-e.r2, e.layer))
            chosen = ranked[: max(1, len(ranked) // 4)]
            fixed = fix_symbolic(
                model,
                [(e.layer, e.i, e.j) for e in chosen],
                [e.name for e in chosen],
                [list(e.params) for e in chosen],
                library=owner.library,
            )
            edges.update({(e.layer, e.i, e.j): e for e in chosen})
        model = fixed
        _train(model, u, t, max(10, owner.steps // 4))
        if not report.numeric or min_r2 is None:
            break
    return model, list(edges.values())


def _merge_constants(expr: sympy.Expr) -> sympy.Expr:
    """The rewrite of ``expr`` with the fewest free constants (then operations).

    A network's formula multiplies constants that only act together (``-1.9 * (0.53 x - 0.53 y)``
    is ``x - y`` times one number); expanding merges them, so that the refit and the snapping
    see one constant per degree of freedom.
    """
    from kanphys.symbolic.constants import complexity

    options = [expr]
    for rewrite in (sympy.expand, lambda e: sympy.factor_terms(sympy.expand(e))):
        try:
            options.append(rewrite(expr))
        except (TypeError, ValueError, RecursionError):  # pragma: no cover - sympy corner cases
            continue

    def key(option: sympy.Expr) -> tuple[int, int]:
        return len(option.atoms(sympy.Float)), int(complexity(option))

    best = min(options, key=key)
    return expr if key(best) >= key(expr) else best


def _candidate(
    expr: sympy.Expr, context: _Context, stage: int, network_rmse: float
) -> dict[str, Any]:
    from kanphys.symbolic.constants import complexity

    prediction = _evaluate(expr, context.symbols, context.X_val)
    rmse = float(np.sqrt(np.mean((prediction - context.y_val) ** 2)))
    return {
        "expr": expr,
        "complexity": int(complexity(expr)),
        # unexplained real constants count once each when formulas are compared
        "score_complexity": int(complexity(expr)) + len(expr.atoms(sympy.Float)),
        "rmse_val": rmse if math.isfinite(rmse) else math.inf,
        "r2_val": _r2(prediction, context.y_val),
        "view": context.view.name,
        "stage": "refit" if stage == 0 else f"snap {stage}",
        "network_rmse_val": network_rmse,
    }


def _edge_dict(edge: Any) -> dict[str, Any]:
    """An :class:`~kanphys.symbolic.fix.EdgeReport` for result.json (top 3 candidates)."""
    return {
        "layer": edge.layer,
        "i": edge.i,
        "j": edge.j,
        "name": edge.name,
        "params": [float(v) for v in edge.params],
        "r2": float(edge.r2),
        "fixed": bool(edge.fixed),
        "candidates": [[n, float(r2), int(c)] for n, r2, c in edge.candidates[:3]],
    }


def _r2(prediction: np.ndarray, y: np.ndarray) -> float:
    variance = float(np.var(y))
    if not variance > 0 or not np.isfinite(prediction).all():
        return math.nan
    return 1.0 - float(np.mean((prediction - y) ** 2)) / variance


def _evaluate(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray) -> np.ndarray:
    from kanphys.symbolic.evaluate import to_torch

    function = to_torch(expr, list(symbols))
    with torch.no_grad():
        values = function(torch.as_tensor(X, dtype=torch.float64))
    return torch.as_tensor(values, dtype=torch.float64).expand(X.shape[0]).numpy().copy()
