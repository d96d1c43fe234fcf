"""Discover a closed-form law from measurements: :class:`LawDiscovery`, a scikit-learn estimator.

Pipeline, for each view of the data (:mod:`kanphys.discovery.views`):

1. scale the inputs to [-1, 1] and the target to unit spread;
2. fit a KAN (sum and product nodes) with L1 + entropy sparsification;
3. prune nodes, edges and irrelevant inputs (attribution on an explicit batch), refit,
   refine the grid, refit;
4. fit every remaining edge to ``a * f(b * x + c) + d`` over the primitive library, all edges
   of a layer at once, fix them symbolically and fine-tune the symbolic constants;
5. assemble the network's formula, map it back to the user's variables, refit all constants of
   the *formula* against the data, then snap constants to simple values (0, small rationals,
   multiples of pi, ...) while the validation error allows, keeping every step;
6. put every formula of every view on one Pareto front (complexity vs validation RMSE) and
   choose the simplest whose error is within tolerance of the best; report the chosen formula's
   own error on held-out test rows.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import sympy
import torch

from kanphys.discovery.data import Dataset, check_dataset
from kanphys.discovery.views import VIEWS, available_views, make_view, view_name
from kanphys.errors import ConfigError, KanphysError, check_int
from kanphys.runtime import resolve_device, resolve_dtype

__all__ = ["Candidate", "LawDiscovery", "ViewReport"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One formula on the Pareto front."""

    formula: str
    complexity: int
    rmse_val: float
    r2_val: float
    view: str
    stage: str
    chosen: bool = False
    r2_test: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ViewReport:
    """What happened in one view: network size and error, edges, time."""

    view: str
    width: list[Any] = field(default_factory=list)
    pruned_width: list[Any] = field(default_factory=list)
    inputs_kept: list[str] = field(default_factory=list)
    network_rmse_val: float = math.nan
    network_r2_val: float = math.nan
    edges: list[dict[str, Any]] = field(default_factory=list)
    ladder: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


#: With ``noise_aware``, formulas with more free constants than this are not snapped: a noisy
#: fit with that many constants is not a simple law, and each snap costs refits.
NOISY_SNAP_CONSTANTS = 8

#: chi^2 quantile (one degree of freedom, 99.9%) of the likelihood-ratio test that a snapped
#: constant fits noisy data as well as the free one (``noise_aware``).
SNAP_CHI2 = 10.83


def snap_tolerance(tolerance: float, likelihood: bool, rows: int) -> float:
    """The relative growth of the validation RMSE a snap may cause.

    For noisy data the free formula's RMSE is about the noise ``s``; a snap that fixes one
    constant passes the likelihood-ratio test when the squared error over the ``rows``
    validation rows grows by at most ``SNAP_CHI2 * s^2``, i.e. the RMSE by a factor
    ``sqrt(1 + SNAP_CHI2 / rows)`` (0.5% for 1,000 rows): the user's ``tolerance`` would
    let wrong constants through (a 0.2% change in a prefactor costs 2% of RMSE at 1% noise).
    """
    if not likelihood or rows <= 0:
        return tolerance
    return min(tolerance, math.sqrt(1.0 + SNAP_CHI2 / rows) - 1.0)


def _r2(prediction: np.ndarray, y: np.ndarray) -> float:
    residual = float(np.mean((prediction - y) ** 2))
    variance = float(np.var(y))
    return 1.0 - residual / variance if variance > 0 else math.nan


def _rmse(prediction: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((prediction - y) ** 2)))


class LawDiscovery:
    """Find a closed-form ``y = f(x)`` from measurements with a sparsified, symbolic KAN.

    Parameters
    ----------
    views : sequence of {"raw", "log", "logy", "ratio"}
        Coordinates to search in (:mod:`kanphys.discovery.views`), tried log views first, then
        raw, then the ratio views (``y * x_k``, ``y / x_k``); views the data do not allow (log
        of non-positive values) are skipped, and so are the remaining views once a formula
        without free constants fits the validation rows to 1e-9 of their spread (unless
        ``noise_aware``).
    hidden : int or None
        Hidden sum nodes; by default each view tries a ladder of shapes, smallest first
        (:func:`~kanphys.discovery.pipeline.width_ladder`), and keeps the smallest whose
        validation error is adequate.
    grid_size, refined_grid_size : int
        B-spline grid intervals while sparsifying, and after refinement.
    steps : int
        L-BFGS iterations of each training stage.
    sparsity : float
        Weight of the L1 + entropy penalty during the first stage.
    prune_threshold : float
        Attribution score below which nodes and inputs are pruned.
    edge_threshold : float
        Attribution score below which single edges are removed.
    library : Library or list of str, optional
        Primitive functions for the edges; the default library when omitted.
    r2_tolerance, complexity_weight : float
        Edge symbol choice (:meth:`~kanphys.symbolic.EdgeFits.best`): a primitive one unit of
        complexity more complex must lower ``1 - R^2 + r2_tolerance`` by a factor
        ``10 ** complexity_weight``; the formula's constants are refitted afterwards, so edges
        need only the right shape.
    test_fraction, validation_fraction : float
        Rows held out to report the formula's error, and to choose among candidates.
    max_train_rows : int
        Rows used to train the networks (the constants are refitted on all training rows).
    noise_aware : bool
        For noisy measurements: estimate the noise level from the network's validation error
        and accept simpler formulas whose error is within it; train the structure search's
        surrogates and closed-form fits for noise (``noisy`` in
        :func:`~kanphys.discovery.reduction.structured_search`); rank formulas whose errors
        differ by less than the noise resolves by simplicity; snap constants simplest target
        first, under a likelihood-ratio test (:func:`snap_tolerance`).
    adequate_error : float
        Validation RMSE (in units of the scaled target's spread) at which a network shape is
        good enough and larger shapes are not tried; otherwise the smallest shape within 1.5x
        of the best is kept.
    progressive : bool
        Fix edges symbolically a few at a time, most certain first, retraining the rest in
        between (slower, more robust); otherwise all at once.
    certain_fit : float
        ``1 - R^2`` below which an edge fit counts as certain in the progressive mode.
    snap_tolerance : float
        A constant is snapped to a simple value when the validation RMSE grows by at most this
        fraction.
    likelihood_snap : bool, optional
        Cap ``snap_tolerance`` by the likelihood-ratio test of :func:`snap_tolerance`
        (default: when ``noise_aware``). Off for errors that are systematic rather than
        random, such as a solved PDE field's network error.
    max_snap_constants : int
        Formulas with more free constants than this are refitted but not snapped (they are not
        simple laws, and snapping costs a refit per constant).
    selection_tolerance : float
        A simpler formula is chosen when its validation RMSE is at most
        ``(1 + selection_tolerance) * best + floor``.
    structure : bool
        First search closed forms directly and through the law's symmetries
        (:func:`~kanphys.discovery.reduction.structured_search`: rational functions of
        transformed variables, reduced by translation and scaling symmetries read from a KAN
        surrogate's gradients); its formulas join the KAN views' on the Pareto front.
    structure_share : float, optional
        Fraction of ``time_limit`` the structure search may use; by default 0.5, or 0.25 with
        ``noise_aware`` (noisy data have no exact closed form to stop the search early, and
        the KAN views need the time).
    time_limit : float
        Seconds; views not started when it passes are skipped.
    seed : int
    device, dtype
        Network training device and dtype (``"auto"`` picks CUDA when present).

    Attributes
    ----------
    formula_ : sympy.Expr
        The chosen law in the user's variables.
    pareto_ : list of Candidate
    r2_test_, rmse_test_ : float
        Error of ``formula_`` itself on the held-out test rows.
    complexity_ : int
        ``sympy.count_ops`` of ``formula_``.
    views_ : list of ViewReport
    names_ : tuple of str
    notes_ : tuple of str
        Changes made to the data (dropped rows or columns).
    wall_time_s_ : float
    """

    def __init__(
        self,
        *,
        views: Sequence[str] = ("raw", "log", "logy", "ratio"),
        hidden: int | None = None,
        grid_size: int = 5,
        refined_grid_size: int = 10,
        steps: int = 100,
        sparsity: float = 1e-3,
        prune_threshold: float = 3e-2,
        edge_threshold: float = 3e-2,
        library: Any = None,
        r2_tolerance: float = 1e-4,
        complexity_weight: float = 0.5,
        test_fraction: float = 0.2,
        validation_fraction: float = 0.2,
        max_train_rows: int = 2000,
        noise_aware: bool = False,
        selection_tolerance: float = 0.1,
        adequate_error: float = 1e-2,
        progressive: bool = True,
        certain_fit: float = 1e-6,
        snap_tolerance: float = 0.02,
        likelihood_snap: bool | None = None,
        max_snap_constants: int = 16,
        structure: bool = True,
        structure_share: float | None = None,
        time_limit: float = 300.0,
        seed: int = 0,
        device: str | torch.device | None = "cpu",
        dtype: str | torch.dtype = "float64",
    ) -> None:
        self.views = views
        self.hidden = hidden
        self.grid_size = grid_size
        self.refined_grid_size = refined_grid_size
        self.steps = steps
        self.sparsity = sparsity
        self.prune_threshold = prune_threshold
        self.edge_threshold = edge_threshold
        self.library = library
        self.r2_tolerance = r2_tolerance
        self.complexity_weight = complexity_weight
        self.test_fraction = test_fraction
        self.validation_fraction = validation_fraction
        self.max_train_rows = max_train_rows
        self.noise_aware = noise_aware
        self.selection_tolerance = selection_tolerance
        self.adequate_error = adequate_error
        self.progressive = progressive
        self.certain_fit = certain_fit
        self.snap_tolerance = snap_tolerance
        self.likelihood_snap = likelihood_snap
        self.max_snap_constants = max_snap_constants
        self.structure = structure
        self.structure_share = structure_share
        self.time_limit = time_limit
        self.seed = seed
        self.device = device
        self.dtype = dtype

    # ------------------------------------------------------------------ settings
    def likelihood(self) -> bool:
        """Whether snaps are judged by the likelihood-ratio test (``likelihood_snap``)."""
        return self.noise_aware if self.likelihood_snap is None else bool(self.likelihood_snap)

    def _check_settings(self) -> None:
        if isinstance(self.views, str) or not all(v in VIEWS for v in self.views):
            raise ConfigError(f"views must be a list drawn from {list(VIEWS)}; got {self.views!r}")
        if not self.views:
            raise ConfigError(f"views must name at least one of {list(VIEWS)}")
        if self.hidden is not None:
            check_int("hidden", self.hidden, minimum=1)
        check_int("grid_size", self.grid_size, minimum=2)
        check_int("refined_grid_size", self.refined_grid_size, minimum=self.grid_size)
        check_int("steps", self.steps, minimum=1)
        check_int("max_train_rows", self.max_train_rows, minimum=10)
        check_int("max_snap_constants", self.max_snap_constants, minimum=0)
        check_int("seed", self.seed, minimum=0)
        if self.likelihood_snap not in (None, True, False):
            raise ConfigError(
                f"likelihood_snap must be True, False or None (= noise_aware); "
                f"received {self.likelihood_snap!r}"
            )
        for name in (
            "sparsity",
            "prune_threshold",
            "edge_threshold",
            "r2_tolerance",
            "complexity_weight",
            "selection_tolerance",
            "adequate_error",
            "certain_fit",
            "snap_tolerance",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value >= 0 or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number >= 0; received {value!r}")
        if not isinstance(self.structure, bool):
            raise ConfigError(f"structure must be True or False; received {self.structure!r}")
        share = self.structure_share
        if share is not None and (not isinstance(share, (int, float)) or not 0 < share <= 1):
            raise ConfigError(f"structure_share must be a number in (0, 1]; received {share!r}")
        for name in ("test_fraction", "validation_fraction"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 < value < 0.5:
                raise ConfigError(f"{name} must be a number in (0, 0.5); received {value!r}")
        if not isinstance(self.time_limit, (int, float)) or not self.time_limit > 0:
            raise ConfigError(f"time_limit must be a number > 0; received {self.time_limit!r}")

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X: Any,
        y: Any,
        names: Sequence[str] | None = None,
        *,
        target: str | None = None,
        nan_policy: str = "drop",
    ) -> LawDiscovery:
        """Discover a law ``y = f(X)``.

        Parameters
        ----------
        X : array, shape (N, d)
        y : array, shape (N,)
        names : list of str, optional
            Variable names used in the formula; ``x0, x1, ...`` by default.
        target : str, optional
            Name of ``y`` (for messages and the result); ``"y"`` by default, ``"target"``
            when an input is called ``y``.
        nan_policy : {"drop", "raise"}
            Rows with NaN/inf: drop them (reported in ``notes_``) or refuse.

        Returns
        -------
        self
        """
        start = time.perf_counter()
        self._check_settings()
        data = check_dataset(X, y, names, target=target, nan_policy=nan_policy)
        return self._fit_dataset(data, start)

    def fit_dataset(self, data: Dataset) -> LawDiscovery:
        """:meth:`fit` on an already checked :class:`~kanphys.discovery.data.Dataset`."""
        start = time.perf_counter()
        self._check_settings()
        return self._fit_dataset(data, start)

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = np.random.default_rng(self.seed).permutation(n)
        n_test = max(1, round(self.test_fraction * n))
        n_val = max(1, round(self.validation_fraction * n))
        return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]

    def _fit_dataset(self, data: Dataset, start: float) -> LawDiscovery:
        from kanphys.discovery.pipeline import fit_view
        from kanphys.symbolic.constants import complexity

        self.names_ = data.names
        self.target_ = data.target
        self.notes_ = data.notes
        self.dropped_rows_ = data.dropped_rows
        self.symbols_ = _symbols(data)
        train, val, test = self._split(len(data.y))
        X, y = data.X, data.y
        device, dtype = resolve_device(self.device), resolve_dtype(self.dtype)
        candidates: list[dict[str, Any]] = []
        self.views_: list[ViewReport] = []
        self.networks_: dict[str, dict[str, Any]] = {}
        views = available_views(X[train], y[train], self.views, data.names)
        if not views:
            raise ConfigError(
                f"none of the views {list(self.views)} suits these data (log views need "
                f"positive inputs and target, ratio views nonzero inputs); add 'raw'"
            )
        generator = torch.Generator().manual_seed(self.seed)
        deadline = start + float(self.time_limit)
        self._stop = deadline
        exact = 1e-9 * float(np.std(y[val]))
        self.structure_: dict[str, Any] = {}
        if self.structure:
            share = self.structure_share
            if share is None:
                share = 0.25 if self.noise_aware else 0.5
            candidates += self._structure_candidates(
                X[train], y[train], X[val], y[val], start + share * self.time_limit
            )
        # every view gets an equal share of the time left; the ratio views share one
        shares = [
            1.0 / sum(k == "ratio" for k, _, _ in views) if kind == "ratio" else 1.0
            for kind, _, _ in views
        ]
        for position, (kind, factor, power) in enumerate(views):
            name = view_name(kind, factor, power, data.names)
            left = deadline - time.perf_counter()
            view_deadline = time.perf_counter() + left * shares[position] / sum(shares[position:])
            if time.perf_counter() > deadline:
                self.views_.append(ViewReport(view=name, error="skipped: time_limit reached"))
                continue
            if not self.noise_aware and any(
                c["rmse_val"] <= exact and not c["expr"].atoms(sympy.Float) for c in candidates
            ):
                self.views_.append(ViewReport(view=name, error="skipped: exact formula found"))
                continue
            view = make_view(kind, X[train], y[train], factor=factor, power=power, names=data.names)
            report = ViewReport(view=name)
            tic = time.perf_counter()
            try:
                found = fit_view(
                    self,
                    view,
                    (X[train], y[train]),
                    (X[val], y[val]),
                    self.symbols_,
                    report,
                    generator=generator,
                    device=device,
                    dtype=dtype,
                    deadline=view_deadline,
                )
                candidates.extend(found)
            except (KanphysError, ArithmeticError, RuntimeError, ValueError) as err:
                report.error = f"{type(err).__name__}: {err}"
                logger.warning("view %s failed: %s", name, report.error)
            report.seconds = time.perf_counter() - tic
            self.views_.append(report)
        if not candidates:
            errors = "; ".join(f"{r.view}: {r.error}" for r in self.views_)
            raise KanphysError(f"no formula could be extracted ({errors})")
        self._choose(candidates, y[val])
        self.complexity_ = int(complexity(self.formula_))
        prediction = self._evaluate(self.formula_, X[test])
        self.r2_test_ = _r2(prediction, y[test])
        self.rmse_test_ = _rmse(prediction, y[test])
        self.pareto_: list[Candidate] = [
            replace(c, r2_test=_r2(self._evaluate(expr, X[test]), y[test]))
            for c, expr in zip(self.pareto_, self._front_exprs, strict=True)
        ]
        self.n_train_, self.n_val_, self.n_test_ = len(train), len(val), len(test)
        self.wall_time_s_ = time.perf_counter() - start
        return self

    def _structure_candidates(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray,
        y_val: np.ndarray,
        deadline: float,
    ) -> list[dict[str, Any]]:
        """Formulas of the structure search, refitted on the training rows, snapped and
        simplified, as candidates for the front (the most accurate few are finished)."""
        from kanphys.discovery.closed_form import NOISY_NEAR
        from kanphys.discovery.reduction import StructureReport, structured_search
        from kanphys.symbolic.constants import (
            complexity,
            refit_constants,
            simplify_formula,
            snap_constants,
        )

        tic = time.perf_counter()
        report = StructureReport()
        rows = np.random.default_rng(self.seed).permutation(len(y))[: self.max_train_rows]
        try:
            formulas = structured_search(
                X[rows],
                y[rows],
                self.symbols_,
                deadline=deadline,
                seed=self.seed,
                report=report,
                noisy=self.noise_aware,
            )
        except (KanphysError, ArithmeticError, RuntimeError, ValueError) as err:
            logger.warning("structure search failed: %s", err)
            self.structure_ = {"error": f"{type(err).__name__}: {err}"}
            return []
        scored = []
        for expr in dict.fromkeys(_clean_floats(f) for f in formulas):
            prediction = self._evaluate(expr, X_val)
            rmse = _rmse(prediction, y_val)
            if math.isfinite(rmse):
                scored.append((rmse, expr))
        scored.sort(key=lambda item: (item[0], complexity(item[1])))
        if self.noise_aware and scored:
            # errors this close differ by less than the noise resolves: simplest first
            near = [item for item in scored if item[0] <= NOISY_NEAR * scored[0][0]]
            near.sort(key=lambda item: (complexity(item[1]), item[0]))
            scored = near + [item for item in scored if item not in near]
        exact = 1e-9 * float(np.std(y_val))
        if scored and scored[0][0] <= exact:
            # exact formulas make the others moot: finishing them costs a refit per snap
            scored = [item for item in scored if item[0] <= exact]
        found: list[dict[str, Any]] = []
        tolerance = snap_tolerance(self.snap_tolerance, self.likelihood(), len(y_val))
        for position, (_, expr) in enumerate(scored[:6]):
            late = time.perf_counter() > deadline
            if late and position >= 2:  # the views need the time more
                break
            try:
                refitted, _ = refit_constants(expr, X, y, self.symbols_)
                constants = len(refitted.atoms(sympy.Float))
                limit = NOISY_SNAP_CONSTANTS if self.noise_aware else self.max_snap_constants
                if constants > min(limit, self.max_snap_constants) or (late and constants > 4):
                    chain = [(refitted, math.nan)]
                else:
                    chain = snap_constants(
                        refitted,
                        X,
                        y,
                        self.symbols_,
                        X_val=X_val,
                        y_val=y_val,
                        tolerance=tolerance,
                        order="simplest" if self.noise_aware else "nearest",
                        deadline=self._stop if self.noise_aware else None,
                    )
            except KanphysError as err:
                logger.info("structure formula %s not refitted: %s", expr, err)
                chain = [(expr, math.nan)]
            for stage, (formula, _) in enumerate(chain):
                formula = simplify_formula(formula)
                prediction = self._evaluate(formula, X_val)
                rmse = _rmse(prediction, y_val)
                found.append(
                    {
                        "expr": formula,
                        "complexity": int(complexity(formula)),
                        "score_complexity": int(complexity(formula))
                        + len(formula.atoms(sympy.Float)),
                        "rmse_val": rmse if math.isfinite(rmse) else math.inf,
                        "r2_val": _r2(prediction, y_val),
                        "view": "structure",
                        "stage": "refit" if stage == 0 else f"snap {stage}",
                        "network_rmse_val": math.inf,
                    }
                )
        self.structure_ = {
            "steps": report.steps,
            "formulas": len(scored),
            "seconds": time.perf_counter() - tic,
        }
        return found

    def _choose(self, candidates: list[dict[str, Any]], y_val: np.ndarray) -> None:
        """Pareto front over (complexity, validation RMSE) and the chosen formula."""
        # at equal complexity score, fewer free constants first: q/(4 pi r) before 0.0796 q/r
        ordered = sorted(
            candidates,
            key=lambda c: (c["score_complexity"], len(c["expr"].atoms(sympy.Float)), c["rmse_val"]),
        )
        front: list[dict[str, Any]] = []
        for candidate in ordered:
            if not math.isfinite(candidate["rmse_val"]):
                continue
            if front and candidate["rmse_val"] >= front[-1]["rmse_val"]:
                continue
            if front and candidate["score_complexity"] == front[-1]["score_complexity"]:
                if candidate["rmse_val"] < 0.9 * front[-1]["rmse_val"]:
                    front[-1] = candidate
                continue
            front.append(candidate)
        if not front:
            raise KanphysError("every candidate formula gave non-finite predictions")
        best = min(c["rmse_val"] for c in front)
        spread = float(np.std(y_val))
        floor = 1e-7 * spread
        if self.noise_aware:
            noise = min(c["network_rmse_val"] for c in candidates)
            floor = max(floor, 0.05 * noise)
        limit = (1.0 + self.selection_tolerance) * best + floor
        chosen = next(c for c in front if c["rmse_val"] <= limit)
        self.formula_ = chosen["expr"]
        self._front_exprs = [c["expr"] for c in front]
        self.pareto_ = [
            Candidate(
                formula=str(c["expr"]),
                complexity=int(c["complexity"]),
                rmse_val=float(c["rmse_val"]),
                r2_val=float(c["r2_val"]),
                view=c["view"],
                stage=c["stage"],
                chosen=c is chosen,
            )
            for c in front
        ]

    # ------------------------------------------------------------------ use
    def _check_fitted(self) -> None:
        if not hasattr(self, "formula_"):
            raise ConfigError("this LawDiscovery is not fitted yet; call fit(X, y) first")

    def _evaluate(self, expr: sympy.Expr, X: np.ndarray) -> np.ndarray:
        from kanphys.symbolic.evaluate import to_torch

        function = to_torch(expr, self.symbols_)
        with torch.no_grad():
            values = function(torch.as_tensor(X, dtype=torch.float64))
        values = torch.as_tensor(values, dtype=torch.float64).expand(X.shape[0])
        return values.numpy().copy()

    def predict(self, X: Any) -> np.ndarray:
        """Evaluate the discovered formula: ``(N, d) -> (N,)`` (columns in ``names_`` order)."""
        self._check_fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.names_):
            raise ConfigError(
                f"X must have shape (N, {len(self.names_)}) with columns {list(self.names_)}; "
                f"received {X.shape}"
            )
        return self._evaluate(self.formula_, X)

    def score(self, X: Any, y: Any) -> float:
        """Coefficient of determination R^2 of the formula on ``(X, y)``."""
        prediction = self.predict(X)
        return _r2(prediction, np.asarray(y, dtype=np.float64).reshape(-1))

    def plot(self, path: Any) -> Any:
        """Draw a pruned network of the fit (``kan.png``): every edge as its activation curve
        on the training inputs, titled with its fitted symbol.

        The network is the chosen formula's view's; when the formula came from the structure
        search, the network of the most accurate KAN view. Returns the path, or ``None`` when
        no network was trained (the closed-form search found an exact law first).
        """
        from pathlib import Path

        from kanphys.plotting import plot_kan

        self._check_fitted()
        view = next(c.view for c in self.pareto_ if c.chosen)
        if view not in self.networks_:
            ranked = sorted(self.pareto_, key=lambda c: c.rmse_val)
            kept = [c for c in ranked if c.view in self.networks_]
            if not kept:
                return None
            view = kept[0].view
        network = self.networks_[view]
        return plot_kan(
            network["model"],
            network["inputs"],
            Path(path),
            labels=network["labels"],
            input_names=network["names"],
            output_names=[f"{self.target_} ({view} view)"],
            title=f"{self.target_} = {self.formula_string_}",
        )

    @property
    def formula_string_(self) -> str:
        """The formula as a sympy-parsable string in the user's variable names."""
        self._check_fitted()
        return str(self.formula_)

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable result (the CLI writes it as ``result.json``)."""
        self._check_fitted()
        return {
            "formula": self.formula_string_,
            "target": self.target_,
            "variables": list(self.names_),
            "r2_test": self.r2_test_,
            "rmse_test": self.rmse_test_,
            "complexity": self.complexity_,
            "pareto": [c.to_dict() for c in self.pareto_],
            "views": [asdict(r) for r in self.views_],
            "rows": {"train": self.n_train_, "validation": self.n_val_, "test": self.n_test_},
            "dropped_rows": self.dropped_rows_,
            "notes": list(self.notes_),
            "structure": self.structure_,
            "wall_time_s": self.wall_time_s_,
        }


def _clean_floats(expr: sympy.Expr) -> sympy.Expr:
    """Floats within round-off (1e-9) of a fraction with a denominator up to 12 become that
    fraction: exact fits need no refit to lose their ``1.0 *`` and ``0.999999999``."""
    from fractions import Fraction

    mapping = {}
    for number in expr.atoms(sympy.Float):
        value = float(number)
        fraction = Fraction(value).limit_denominator(12)
        if abs(value - float(fraction)) <= 1e-9 * max(1.0, abs(value)):
            mapping[number] = sympy.Rational(fraction.numerator, fraction.denominator)
    return expr.xreplace(mapping) if mapping else expr


def _symbols(data: Dataset) -> list[sympy.Symbol]:
    """One sympy symbol per input; positive when the column is, so that logs and powers
    simplify (``exp(2*log(x)) -> x**2``)."""
    return [
        sympy.Symbol(name, positive=True) if bool((data.X[:, k] > 0).all()) else sympy.Symbol(name)
        for k, name in enumerate(data.names)
    ]
