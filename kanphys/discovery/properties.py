"""Structure tests on any fitted model: separability, invariances and swap symmetry.

Each test reads a property off the model's values, gradients and Hessians on a batch of inputs
(the KAN 2.0 recipe) and returns a :class:`Fact`: a dimensionless **score** (0 when the
property holds exactly, of order one when it clearly fails), the **threshold** it is compared
with, and the decision. :func:`structure` runs all of them and returns a
:class:`StructureFacts` report listing what holds.

The score of a property whose residual ``R = sum_k T_k`` is a sum of terms is the relative
residual ``sum_rows |R| / sum_rows sum_k |T_k|`` over the batch (over every pair of variables
the property concerns). It does not change when an input or the output is rescaled, and a
constant offset of the output only enters the swap test, which subtracts the mean.

========================  ==========================================  ==========================
property                  holds when                                  residual (terms)
========================  ==========================================  ==========================
additive(A, B)            ``f = g(x_A) + h(x_B)``                     ``f_ab`` against
                                                                      ``|f_ab| + |f_a f_b| / s``
multiplicative(A, B)      ``f = g(x_A) h(x_B)``                       ``f f_ab - f_a f_b``
general(A, B)             ``f = F(g(x_A) + h(x_B))``                  ``q q' - q'' q'''`` (below)
translation(i, j)         ``f`` depends on ``x_i, x_j`` via x_i - x_j   ``f_i + f_j``
scaling(i, j)             ... via ``x_i / x_j``                       ``x_i f_i + x_j f_j``
swap(i, j)                ``f(.. x_i .. x_j ..) = f(.. x_j .. x_i ..)``  ``f(P x) - f(x)``
invariant(phi, S)         ... via ``phi(x_S)`` alone                  ``f_s phi_t - f_t phi_s``
========================  ==========================================  ==========================

(``f_a`` is the derivative by ``x_a``, ``s`` the standard deviation of ``f`` on the batch, pairs
run over ``a in A, b in B`` or ``s < t in S``.) General separability is tested without third
derivatives: ``f = F(g + h)`` exactly when the gradient ratio ``q = f_a / f_b`` (``a in A,
b in B``) is a product ``g_a(x_A) / h_b(x_B)``, which the test checks on mixed rows,
``q(x_A, x_B) q(x_A', x_B') = q(x_A, x_B') q(x_A', x_B)``, like AI Feynman's value tests. The
mixed rows and the swapped rows must stay inside the data's bounding box (rows that leave it
are skipped; with fewer than :data:`MIN_ROWS` left the property is not applicable).

Thresholds: :data:`THRESHOLDS`, measured on the labelled symmetry datasets
(``benchmarks/structure_tests.py``; docs/discovery.md gives precision and recall). A model
fitted to data has derivative errors of a few per cent, which sets the scale; an exact formula
scores about 1e-15.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
import torch

from kanphys.errors import ConfigError, NonFiniteError, ShapeError

__all__ = [
    "KINDS",
    "MIN_ROWS",
    "THRESHOLDS",
    "Fact",
    "StructureFacts",
    "additive_separability",
    "general_separability",
    "invariant",
    "multiplicative_separability",
    "scaling_invariance",
    "separable_groups",
    "structure",
    "swap_symmetry",
    "translation_invariance",
]

#: The properties :func:`structure` tests, in report order.
KINDS = ("additive", "multiplicative", "general", "translation", "scaling", "swap", "invariant")

#: Default decision thresholds on the score (see the module docstring).
THRESHOLDS: dict[str, float] = {
    "additive": 0.01,
    "multiplicative": 0.01,
    "general": 0.1,
    "translation": 0.1,
    "scaling": 0.05,
    "swap": 0.1,
    "invariant": 0.1,
}

#: Fewest rows a test needs (after dropping rows that leave the data's bounding box).
MIN_ROWS = 20

#: General separability skips rows where a gradient component is below this fraction of its
#: root mean square (the ratio of gradients is unreliable there).
_GRADIENT_FLOOR = 0.1

#: Below this relative size the derivative terms count as zero (the variables are unused).
_NEGLIGIBLE = 1e-9

Model = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Fact:
    """One tested property.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    groups : tuple of tuple of str
        The variable groups: ``(A, B)`` for separability, ``((x_i, x_j),)`` for pair tests,
        ``(S,)`` for an invariant.
    score : float
        Relative residual (``nan`` when not applicable).
    threshold : float
    holds : bool or None
        ``score < threshold``; ``None`` when the test does not apply (see ``note``).
    expression : str
        The invariant ``phi`` (``kind == "invariant"`` only).
    note : str
        Why the test does not apply, or that the variables are unused.
    """

    kind: str
    groups: tuple[tuple[str, ...], ...]
    score: float
    threshold: float
    holds: bool | None
    expression: str = ""
    note: str = ""
    others: tuple[str, ...] = ()

    def key(self) -> tuple[Any, ...]:
        """Equal for the same property on the same groups, in any order."""
        return _fact_key(self.kind, self.groups, self.expression)

    def statement(self) -> str:
        """The property in words, e.g. ``"f = g(a, b) + h(c)"``."""
        g = self.groups
        if self.kind in ("additive", "multiplicative", "general"):
            rest = "".join(f", {name}" for name in self.others)
            left, right = f"g({', '.join(g[0])}{rest})", f"h({', '.join(g[1])}{rest})"
            if self.kind == "additive":
                return f"f = {left} + {right}"
            if self.kind == "multiplicative":
                return f"f = {left} * {right}"
            return f"f = F({left} + {right}{rest})"
        if self.kind == "translation":
            return f"f depends on {g[0][0]}, {g[0][1]} only through {g[0][0]} - {g[0][1]}"
        if self.kind == "scaling":
            return f"f depends on {g[0][0]}, {g[0][1]} only through {g[0][0]}/{g[0][1]}"
        if self.kind == "swap":
            return f"f is unchanged when {g[0][0]} and {g[0][1]} are swapped"
        return f"f depends on {', '.join(g[0])} only through {self.expression}"

    def describe(self) -> str:
        """One line: the statement, the score against the threshold and the decision."""
        if self.holds is None:
            return f"{self.statement()}: not applicable ({self.note})"
        verdict = "holds" if self.holds else "does not hold"
        relation = "<" if self.holds else ">="
        extra = f" ({self.note})" if self.note else ""
        return (
            f"{self.statement()}: score {self.score:.3g} {relation} {self.threshold:g}, "
            f"{verdict}{extra}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "groups": [list(group) for group in self.groups],
            "score": None if np.isnan(self.score) else self.score,
            "threshold": self.threshold,
            "holds": self.holds,
            "expression": self.expression,
            "note": self.note,
            "others": list(self.others),
            "statement": self.statement(),
        }


@dataclass
class StructureFacts:
    """The report of :func:`structure`: every tested :class:`Fact`, and what follows from them.

    Attributes
    ----------
    names : tuple of str
        The model's inputs, in column order.
    facts : list of Fact
    rows : int
        Rows of the batch the derivatives were taken on.
    additive_groups, multiplicative_groups : list of tuple of str
        The finest partition of the inputs into additively (multiplicatively) separable
        groups, from the pairwise tests: two variables share a group when their pair is not
        separable.
    """

    names: tuple[str, ...]
    facts: list[Fact]
    rows: int
    additive_groups: list[tuple[str, ...]] = field(default_factory=list)
    multiplicative_groups: list[tuple[str, ...]] = field(default_factory=list)

    def holding(self) -> list[Fact]:
        """The facts that hold."""
        return [fact for fact in self.facts if fact.holds]

    def get(self, kind: str, *groups: Sequence[str], expression: str = "") -> Fact:
        """The fact of ``kind`` on ``groups`` (order within a pair or group does not matter;
        ``expression`` names the invariant)."""
        key = _fact_key(kind, tuple(tuple(group) for group in groups), expression)
        for fact in self.facts:
            if fact.key() == key:
                return fact
        raise ConfigError(f"no {kind} fact on {groups!r} was tested; tested: {self._tested()}")

    def holds(self, kind: str, *groups: Sequence[str], expression: str = "") -> bool | None:
        """Whether the property of ``kind`` holds on ``groups`` (``None``: not applicable)."""
        return self.get(kind, *groups, expression=expression).holds

    def _tested(self) -> str:
        return ", ".join(f"{f.kind}{[list(g) for g in f.groups]}" for f in self.facts[:8]) + (
            ", ..." if len(self.facts) > 8 else ""
        )

    def __str__(self) -> str:
        lines = [f"structure of f({', '.join(self.names)}) on {self.rows} rows"]
        held = self.holding()
        lines.append(f"holds ({len(held)} of {len(self.facts)} tested):")
        lines += [f"  {fact.describe()}" for fact in held] or ["  (nothing)"]
        if len(self.additive_groups) > 1:
            parts = " + ".join(f"g({', '.join(group)})" for group in self.additive_groups)
            lines.append(f"additive split: f = {parts}")
        if len(self.multiplicative_groups) > 1:
            parts = " * ".join(f"g({', '.join(group)})" for group in self.multiplicative_groups)
            lines.append(f"multiplicative split: f = {parts}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "rows": self.rows,
            "facts": [fact.to_dict() for fact in self.facts],
            "additive_groups": [list(group) for group in self.additive_groups],
            "multiplicative_groups": [list(group) for group in self.multiplicative_groups],
        }


def _fact_key(
    kind: str, groups: tuple[tuple[str, ...], ...], expression: str = ""
) -> tuple[Any, ...]:
    """A key equal for the same property on the same groups, in any order."""
    if kind in ("additive", "multiplicative", "general"):
        return (kind, frozenset(frozenset(group) for group in groups))
    if kind in ("translation", "scaling", "swap"):
        return (kind, frozenset(groups[0]))
    return (kind, frozenset(groups[0]), expression)


# ----------------------------------------------------------------------------- the model probe


class _Probe:
    """Values, gradients and Hessian columns of a model on one batch (float64, autograd)."""

    def __init__(
        self,
        function: Model,
        X: torch.Tensor,
        names: tuple[str, ...],
        method: str = "values",
        seed: int = 0,
    ) -> None:
        self.function = function
        self.names = names
        self.X = X
        self.method = method
        self.seed = seed
        generator = torch.Generator().manual_seed(seed)
        self.other = torch.randperm(len(X), generator=generator)
        self.uniform = torch.rand(len(X), generator=generator, dtype=torch.float64)
        self.low = X.min(dim=0).values
        self.high = X.max(dim=0).values
        x = X.clone().requires_grad_(True)
        f = self._call(x)
        (g,) = torch.autograd.grad(f.sum(), x, create_graph=True)
        self._x, self._g = x, g
        self.f = f.detach()
        self.g = g.detach()
        self._hessian: dict[int, torch.Tensor] = {}
        if not bool(torch.isfinite(self.f).all() & torch.isfinite(self.g).all()):
            raise NonFiniteError(
                "structure: the model's values or gradients are NaN or infinite on the inputs; "
                "check that X lies in the model's domain"
            )

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        out = self.function(x)
        if not isinstance(out, torch.Tensor):
            raise ConfigError(
                f"structure: the model must return a torch tensor; got {type(out).__name__}"
            )
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.shape != (len(x),):
            raise ShapeError(
                f"structure: the model must map (N, {x.shape[1]}) inputs to (N,) or (N, 1) "
                f"outputs; got shape {tuple(out.shape)}"
            )
        return out.to(torch.float64)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def hessian(self, k: int) -> torch.Tensor:
        """Column ``k`` of the Hessian, ``(N, d)``: ``d f_k / d x``."""
        if k not in self._hessian:
            (h,) = torch.autograd.grad(
                self._g[:, k].sum(), self._x, retain_graph=True, allow_unused=True
            )
            self._hessian[k] = torch.zeros_like(self.X) if h is None else h.detach()
        return self._hessian[k]

    def gradient_at(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Values and gradients at other rows."""
        x = X.clone().requires_grad_(True)
        f = self._call(x)
        (g,) = torch.autograd.grad(f.sum(), x)
        return f.detach(), g.detach()

    def values(self, X: torch.Tensor) -> torch.Tensor:
        """Values at other rows."""
        with torch.no_grad():
            return self._call(X)

    def mixed(
        self, A: Sequence[int], B: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows sharing the other inputs ``x_R``: ``y = (y_A, y_B)``, ``l = (x_A, y_B)``,
        ``r = (y_A, x_B)``, and which of them lie inside the data's box."""
        cols_a, cols_b = torch.tensor(list(A)), torch.tensor(list(B))
        X, Y = self.X, self.X[self.other]
        both, left, right = X.clone(), X.clone(), X.clone()
        both[:, cols_a], both[:, cols_b] = Y[:, cols_a], Y[:, cols_b]
        left[:, cols_b] = Y[:, cols_b]
        right[:, cols_a] = Y[:, cols_a]
        keep = self.inside(both) & self.inside(left) & self.inside(right)
        return both, left, right, keep

    def inside(self, X: torch.Tensor) -> torch.Tensor:
        """Rows of ``X`` inside the batch's bounding box."""
        return ((X >= self.low) & (X <= self.high)).all(dim=1)


def _score(
    residuals: Sequence[torch.Tensor],
    terms: Sequence[torch.Tensor],
    unused: str = "f does not depend on these variables",
) -> tuple[float, str]:
    """The largest relative residual over the pairs of variables concerned.

    A pair whose terms are all negligible (for the derivative tests: the model does not depend
    on its variables) does not count; ``(0, unused)`` when no pair counts.
    """
    worst: float | None = None
    for residual, term in zip(residuals, terms, strict=True):
        total = float(term.abs().sum())
        if not np.isfinite(total):
            raise NonFiniteError("structure: a derivative of the model is NaN or infinite")
        if total <= _NEGLIGIBLE * max(1, term.numel()):
            continue
        ratio = float(residual.abs().sum()) / total
        worst = ratio if worst is None else max(worst, ratio)
    if worst is None:
        return 0.0, unused
    return worst, ""


def _fact(
    kind: str,
    groups: tuple[tuple[str, ...], ...],
    score: float,
    threshold: float,
    *,
    note: str = "",
    expression: str = "",
    others: tuple[str, ...] = (),
) -> Fact:
    return Fact(kind, groups, score, threshold, score < threshold, expression, note, others)


def _not_applicable(
    kind: str,
    groups: tuple[tuple[str, ...], ...],
    threshold: float,
    note: str,
    others: tuple[str, ...] = (),
) -> Fact:
    return Fact(kind, groups, float("nan"), threshold, None, note=note, others=others)


def _separable_values(
    probe: _Probe, kind: str, A: Sequence[int], B: Sequence[int], threshold: float
) -> Fact:
    """Additive or multiplicative separability from values at mixed rows:
    ``L(x) + L(y) = L(x_A, y_B) + L(y_A, x_B)`` with ``L = f`` or ``log|f|``."""
    groups, rest = _named(probe, A, B), _rest(probe, A, B)
    both, left, right, keep = probe.mixed(A, B)
    if int(keep.sum()) < MIN_ROWS:
        return _not_applicable(kind, groups, threshold, "mixed rows leave the data's box", rest)
    values = [probe.f[keep], *(probe.values(rows[keep]) for rows in (both, left, right))]
    if kind == "multiplicative":
        signs = torch.sign(torch.cat(values))
        if not (bool((signs > 0).all()) or bool((signs < 0).all())):
            x, y, l, r = values  # f changes sign: compare the products themselves
            first, second = x * y, l * r
            score, note = _score([first - second], [first.abs() + second.abs()], "")
            return _fact(kind, groups, score, threshold, note=note, others=rest)
        values = [torch.log(v.abs()) for v in values]
    x, y, l, r = values
    terms = (x - l).abs() + (y - r).abs() + (x - r).abs() + (y - l).abs()
    score, note = _score([x + y - l - r], [terms], "f is constant on these rows")
    return _fact(kind, groups, score, threshold, note=note, others=rest)


def _additive(probe: _Probe, A: Sequence[int], B: Sequence[int], threshold: float) -> Fact:
    if probe.method == "values":
        return _separable_values(probe, "additive", A, B, threshold)
    groups, rest = _named(probe, A, B), _rest(probe, A, B)
    scale = float(probe.f.std()) or 1.0
    residuals, terms = [], []
    for a in A:
        column = probe.hessian(a)
        for b in B:
            residuals.append(column[:, b])
            terms.append(column[:, b].abs() + (probe.g[:, a] * probe.g[:, b]).abs() / scale)
    score, note = _score(residuals, terms)
    return _fact("additive", groups, score, threshold, note=note, others=rest)


def _multiplicative(probe: _Probe, A: Sequence[int], B: Sequence[int], threshold: float) -> Fact:
    if probe.method == "values":
        return _separable_values(probe, "multiplicative", A, B, threshold)
    groups, rest = _named(probe, A, B), _rest(probe, A, B)
    residuals, terms = [], []
    for a in A:
        column = probe.hessian(a)
        for b in B:
            first = probe.f * column[:, b]
            second = probe.g[:, a] * probe.g[:, b]
            residuals.append(first - second)
            terms.append(first.abs() + second.abs())
    score, note = _score(residuals, terms)
    return _fact("multiplicative", groups, score, threshold, note=note, others=rest)


def _general(
    probe: _Probe, A: Sequence[int], B: Sequence[int], threshold: float, seed: int
) -> Fact:
    groups, rest = _named(probe, A, B), _rest(probe, A, B)
    both, left, right, keep = probe.mixed(A, B)
    if int(keep.sum()) < MIN_ROWS:
        return _not_applicable(
            "general", groups, threshold, "mixed rows leave the data's box", rest
        )
    g_x = probe.g[keep]
    g_y, g_l, g_r = (probe.gradient_at(rows[keep])[1] for rows in (both, left, right))
    rows = (g_x, g_y, g_l, g_r)  # at x, y, l = (x_A, y_B), r = (y_A, x_B)
    residuals, terms = [], []
    # f = F(g + h) exactly when grad f is parallel to (grad_A g(x_A), grad_B h(x_B)): ratios
    # of gradient components within A depend on x_A alone, within B on x_B alone, and
    # log|f_a / f_b| across the groups is additive in x_A and x_B
    cross = [(a, b, "cross") for a in A for b in B]
    within = [(a, A[0], "A") for a in A[1:]] + [(b, B[0], "B") for b in B[1:]]
    for i, j, how in cross + within:
        phi = [torch.log(g[:, i].abs()) - torch.log(g[:, j].abs()) for g in rows]
        # rows where a component is small carry its relative error into log|q|: skip them
        floor_i, floor_j = (_GRADIENT_FLOOR * g_x[:, k].pow(2).mean().sqrt() for k in (i, j))
        usable = torch.stack(
            [(g[:, i].abs() > floor_i) & (g[:, j].abs() > floor_j) for g in rows]
        ).all(dim=0)
        x, y, l, r = (v[usable] for v in phi)
        if how == "cross":
            residuals.append(x + y - l - r)
        elif how == "A":
            residuals.append((x - l).abs() + (y - r).abs())
        else:
            residuals.append((x - r).abs() + (y - l).abs())
        terms.append((x - l).abs() + (y - r).abs() + (x - r).abs() + (y - l).abs())
    score, note = _score(residuals, terms, unused="")
    return _fact("general", groups, score, threshold, note=note, others=rest)


def _pair_values(probe: _Probe, kind: str, i: int, j: int, threshold: float) -> Fact:
    """Translation (scaling) invariance from values: moving ``x_i`` and ``x_j`` together by
    the same shift (factor) changes ``f`` by nothing, compared with moving each alone."""
    groups = ((probe.names[i], probe.names[j]),)
    X, low, high = probe.X, probe.low, probe.high
    cols = [i, j]
    if kind == "scaling":
        if bool((X[:, cols] <= 0).any()) or bool((low[cols] <= 0).any()):
            return _not_applicable(kind, groups, threshold, "scaling needs positive inputs")
        lower = torch.log(low[cols] / X[:, cols]).max(dim=1).values
        upper = torch.log(high[cols] / X[:, cols]).min(dim=1).values
    else:
        lower = (low[cols] - X[:, cols]).max(dim=1).values
        upper = (high[cols] - X[:, cols]).min(dim=1).values
    step = lower + (upper - lower) * probe.uniform
    keep = (upper - lower) > 1e-3 * (high[cols] - low[cols]).min()
    if int(keep.sum()) < MIN_ROWS:
        return _not_applicable(kind, groups, threshold, "too little room to move the pair")
    X, step = X[keep], step[keep]

    def moved(columns: list[int]) -> torch.Tensor:
        Y = X.clone()
        for k in columns:
            Y[:, k] = X[:, k] * torch.exp(step) if kind == "scaling" else X[:, k] + step
        return Y

    f = probe.f[keep]
    together = probe.values(moved(cols)) - f
    alone = (probe.values(moved([i])) - f).abs() + (probe.values(moved([j])) - f).abs()
    score, note = _score([together], [alone])
    return _fact(kind, groups, score, threshold, note=note)


def _pair_derivative(probe: _Probe, kind: str, i: int, j: int, threshold: float) -> Fact:
    if probe.method == "values":
        return _pair_values(probe, kind, i, j, threshold)
    groups = ((probe.names[i], probe.names[j]),)
    if kind == "translation":
        first, second = probe.g[:, i], probe.g[:, j]
    else:
        first, second = probe.X[:, i] * probe.g[:, i], probe.X[:, j] * probe.g[:, j]
    score, note = _score([first + second], [first.abs() + second.abs()])
    return _fact(kind, groups, score, threshold, note=note)


def _swap(probe: _Probe, i: int, j: int, threshold: float) -> Fact:
    groups = ((probe.names[i], probe.names[j]),)
    swapped = probe.X.clone()
    swapped[:, [i, j]] = probe.X[:, [j, i]]
    keep = probe.inside(swapped)
    if int(keep.sum()) < MIN_ROWS:
        return _not_applicable(
            "swap", groups, threshold, "swapped rows leave the data's box (different ranges)"
        )
    f_swapped = probe.values(swapped[keep])
    f = probe.f[keep]
    # compared with copying one variable onto the other (what an asymmetric f feels)
    copy_i, copy_j = probe.X[keep].clone(), probe.X[keep].clone()
    copy_i[:, j] = copy_i[:, i]
    copy_j[:, i] = copy_j[:, j]
    terms = (probe.values(copy_i) - f).abs() + (probe.values(copy_j) - f).abs()
    score, note = _score([f_swapped - f], [terms], "")
    return _fact("swap", groups, score, threshold, note=note)


def _invariant(
    probe: _Probe,
    expression: sympy.Expr,
    columns: Sequence[int],
    text: str,
    threshold: float,
) -> Fact:
    from kanphys.symbolic.evaluate import to_torch

    symbols = [sympy.Symbol(name, real=True) for name in probe.names]
    phi = to_torch(expression, symbols)
    x = probe.X.clone().requires_grad_(True)
    values = phi(x)
    if values.ndim == 0:
        values = values.expand(len(x))
    (grad,) = torch.autograd.grad(values.sum(), x, allow_unused=True)
    if grad is None or not bool(torch.isfinite(grad).all()):
        raise ConfigError(f"structure: the invariant {text!r} has no finite gradient on the inputs")
    groups = (tuple(probe.names[k] for k in columns),)
    residuals, terms = [], []
    for s, t in itertools.combinations(columns, 2):
        first, second = probe.g[:, s] * grad[:, t], probe.g[:, t] * grad[:, s]
        residuals.append(first - second)
        terms.append(first.abs() + second.abs())
    score, note = _score(residuals, terms)
    return _fact("invariant", groups, score, threshold, note=note, expression=text)


def _named(probe: _Probe, A: Sequence[int], B: Sequence[int]) -> tuple[tuple[str, ...], ...]:
    return (tuple(probe.names[k] for k in A), tuple(probe.names[k] for k in B))


def _rest(probe: _Probe, A: Sequence[int], B: Sequence[int]) -> tuple[str, ...]:
    """The inputs in neither group (held fixed by the separability tests)."""
    return tuple(name for k, name in enumerate(probe.names) if k not in A and k not in B)


# ------------------------------------------------------------------------------ input handling


def _as_function(model: Any, names: tuple[str, ...]) -> Model:
    """A torch function ``(N, d) float64 -> (N,)`` for a model of one of the accepted kinds."""
    from kanphys.discovery.reduction import Surrogate

    if isinstance(model, Surrogate):
        return model.torch_function
    if isinstance(model, sympy.Expr):
        from kanphys.symbolic.evaluate import to_torch

        symbols = {s.name: s for s in model.free_symbols if isinstance(s, sympy.Symbol)}
        unknown = sorted(set(symbols) - set(names))
        if unknown:
            raise ConfigError(
                f"structure: the formula uses {unknown}, which are not among the inputs "
                f"{list(names)}"
            )
        column_symbols = [symbols.get(name, sympy.Symbol(name)) for name in names]
        formula = to_torch(model, column_symbols)

        def evaluate(x: torch.Tensor) -> torch.Tensor:
            out = formula(x)
            return out.expand(len(x)) if out.ndim == 0 else out

        return evaluate
    if isinstance(model, torch.nn.Module):
        parameter = next(model.parameters(), None)
        dtype = parameter.dtype if parameter is not None else torch.float64
        device = parameter.device if parameter is not None else torch.device("cpu")

        def network(x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = model(x.to(device=device, dtype=dtype))
            return out.to(device="cpu", dtype=torch.float64)

        return network
    if callable(model):
        return model  # type: ignore[no-any-return]
    raise ConfigError(
        "structure: model must be a torch module (a KAN, an MLP), a Surrogate, a sympy "
        f"expression or a function of a (N, d) torch tensor; got {type(model).__name__}"
    )


def _inputs(X: Any, names: Sequence[str] | None, max_rows: int, seed: int) -> tuple[Any, ...]:
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"structure: X must be a numeric array; {err}") from None
    if array.ndim != 2 or array.shape[0] < MIN_ROWS or array.shape[1] < 2:
        raise ShapeError(
            f"structure: X must have shape (N, d) with N >= {MIN_ROWS} rows and d >= 2 "
            f"columns; got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise NonFiniteError("structure: X contains NaN or infinite values")
    d = array.shape[1]
    resolved = tuple(names) if names is not None else tuple(f"x{k}" for k in range(d))
    if len(resolved) != d or len(set(resolved)) != d:
        raise ConfigError(
            f"structure: names must be {d} distinct names, one per column of X; got "
            f"{list(resolved)}"
        )
    if len(array) > max_rows:
        rows = np.random.default_rng(seed).choice(len(array), max_rows, replace=False)
        array = array[np.sort(rows)]
    return torch.as_tensor(array), resolved


def _columns(probe: _Probe, group: Iterable[str], what: str) -> list[int]:
    group = list(group) if not isinstance(group, str) else [group]
    unknown = [name for name in group if name not in probe.names]
    if unknown:
        raise ConfigError(
            f"structure: {what} names unknown inputs {unknown}; inputs: {list(probe.names)}"
        )
    if not group or len(set(group)) != len(group):
        raise ConfigError(f"structure: {what} must be a non-empty list of distinct names")
    return [probe.index(name) for name in group]


def _split(probe: _Probe, A: Iterable[str], B: Iterable[str] | None) -> tuple[list[int], ...]:
    a = _columns(probe, A, "group A")
    if B is None:
        b = [k for k in range(len(probe.names)) if k not in a]
        if not b:
            raise ConfigError("structure: group A holds every input; give a proper subset")
    else:
        b = _columns(probe, B, "group B")
    if set(a) & set(b):
        raise ConfigError(
            f"structure: groups A and B share {sorted(probe.names[k] for k in set(a) & set(b))}"
        )
    return a, b


def _threshold(kind: str, threshold: float | None) -> float:
    value = THRESHOLDS[kind] if threshold is None else threshold
    if not isinstance(value, (int, float)) or not 0 < float(value) < 1:
        raise ConfigError(f"structure: threshold must be a number in (0, 1); got {value!r}")
    return float(value)


METHODS = ("values", "derivatives")


def _probe(
    model: Any,
    X: Any,
    names: Sequence[str] | None,
    max_rows: int = 1000,
    seed: int = 0,
    method: str = "values",
) -> _Probe:
    if method not in METHODS:
        raise ConfigError(f"structure: method must be one of {list(METHODS)}; got {method!r}")
    tensor, resolved = _inputs(X, names, max_rows, seed)
    return _Probe(_as_function(model, resolved), tensor, resolved, method, seed)


def _parse_invariant(text: str, names: tuple[str, ...]) -> sympy.Expr:
    from kanphys.pde.expressions import parse_expression

    if not isinstance(text, str):
        raise ConfigError(f"structure: an invariant is an expression string; got {text!r}")
    table = {name: sympy.Symbol(name, real=True) for name in names}
    return parse_expression(
        text, names=table, inputs=(), fields=(), label="invariant", source="structure"
    )


# ------------------------------------------------------------------------------- public tests

_DOC_ARGS = """
    model : torch.nn.Module, Surrogate, sympy.Expr or callable
        A fitted network (KAN, MLP), a :class:`~kanphys.discovery.reduction.Surrogate`, a
        formula in the input names, or a function mapping an ``(N, d)`` float64 tensor to
        ``(N,)`` values (it must be differentiable by torch).
    X : array, shape (N, d)
        Inputs where the derivatives are taken (inside the model's domain).
    names : sequence of str, optional
        Input names (``x0, x1, ...`` by default)."""


def additive_separability(
    model: Any,
    X: Any,
    A: Sequence[str],
    B: Sequence[str] | None = None,
    *,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
    method: str = "values",
) -> Fact:
    """Test ``f = g(x_A) + h(x_B)`` (every mixed derivative ``f_ab`` vanishes).

    Parameters
    ----------{args}
    A, B : sequence of str
        The two groups; ``B`` defaults to every other input.
    threshold : float, optional
        Default :data:`THRESHOLDS` ``["additive"]``.
    method : {"values", "derivatives"}
        See :func:`structure`.
    """
    probe = _probe(model, X, names, method=method)
    a, b = _split(probe, A, B)
    return _additive(probe, a, b, _threshold("additive", threshold))


def multiplicative_separability(
    model: Any,
    X: Any,
    A: Sequence[str],
    B: Sequence[str] | None = None,
    *,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
    method: str = "values",
) -> Fact:
    """Test ``f = g(x_A) h(x_B)`` (``f f_ab = f_a f_b``: ``log|f|`` is additive).

    Parameters
    ----------{args}
    A, B : sequence of str
        The two groups; ``B`` defaults to every other input.
    threshold : float, optional
    method : {"values", "derivatives"}
        See :func:`structure`.
    """
    probe = _probe(model, X, names, method=method)
    a, b = _split(probe, A, B)
    return _multiplicative(probe, a, b, _threshold("multiplicative", threshold))


def general_separability(
    model: Any,
    X: Any,
    A: Sequence[str],
    B: Sequence[str] | None = None,
    *,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
    seed: int = 0,
) -> Fact:
    """Test ``f = F(g(x_A) + h(x_B))`` (the gradient ratio ``f_a / f_b`` is a product).

    Parameters
    ----------{args}
    A, B : sequence of str
        The two groups; ``B`` defaults to every other input.
    threshold : float, optional
    seed : int
        Pairs the rows that are mixed.
    """
    probe = _probe(model, X, names)
    a, b = _split(probe, A, B)
    return _general(probe, a, b, _threshold("general", threshold), seed)


def translation_invariance(
    model: Any,
    X: Any,
    pair: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
    method: str = "values",
) -> Fact:
    """Test that ``f`` depends on ``x_i, x_j`` only through ``x_i - x_j`` (``f_i + f_j = 0``).

    Parameters
    ----------{args}
    pair : (str, str)
    threshold : float, optional
    method : {"values", "derivatives"}
        See :func:`structure`.
    """
    probe = _probe(model, X, names, method=method)
    i, j = _pair(probe, pair)
    return _pair_derivative(probe, "translation", i, j, _threshold("translation", threshold))


def scaling_invariance(
    model: Any,
    X: Any,
    pair: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
    method: str = "values",
) -> Fact:
    """Test that ``f`` depends on ``x_i, x_j`` only through ``x_i / x_j``
    (``x_i f_i + x_j f_j = 0``).

    Parameters
    ----------{args}
    pair : (str, str)
    threshold : float, optional
    method : {"values", "derivatives"}
        See :func:`structure`.
    """
    probe = _probe(model, X, names, method=method)
    i, j = _pair(probe, pair)
    return _pair_derivative(probe, "scaling", i, j, _threshold("scaling", threshold))


def swap_symmetry(
    model: Any,
    X: Any,
    pair: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
    method: str = "values",
) -> Fact:
    """Test ``f(.., x_i, .., x_j, ..) = f(.., x_j, .., x_i, ..)`` on the rows whose swap stays
    inside the data's bounding box.

    Parameters
    ----------{args}
    pair : (str, str)
    threshold : float, optional
    method : {"values", "derivatives"}
        See :func:`structure`.
    """
    probe = _probe(model, X, names, method=method)
    i, j = _pair(probe, pair)
    return _swap(probe, i, j, _threshold("swap", threshold))


def invariant(
    model: Any,
    X: Any,
    expression: str,
    variables: Sequence[str] | None = None,
    *,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
) -> Fact:
    """Test that ``f`` depends on ``variables`` only through ``expression``
    (``"b/c"``: does f depend on b and c only through b/c?).

    The gradients of ``f`` and of ``phi`` restricted to the variables must be parallel:
    ``f_s phi_t - f_t phi_s = 0`` for every pair. The expression is parsed by kanphys' own
    whitelist parser (never evaluated as Python).

    Parameters
    ----------{args}
    expression : str
        ``phi``, in the input names, e.g. ``"b/c"``, ``"x1**2 + x2**2"``.
    variables : sequence of str, optional
        The variables concerned; by default those ``expression`` uses (at least two).
    threshold : float, optional
    """
    probe = _probe(model, X, names)
    return _invariant_fact(probe, expression, variables, _threshold("invariant", threshold))


for _function in (
    additive_separability,
    multiplicative_separability,
    general_separability,
    translation_invariance,
    scaling_invariance,
    swap_symmetry,
    invariant,
):
    _function.__doc__ = (_function.__doc__ or "").replace("{args}", _DOC_ARGS)


def _invariant_fact(
    probe: _Probe, expression: str, variables: Sequence[str] | None, threshold: float
) -> Fact:
    phi = _parse_invariant(expression, probe.names)
    used = sorted((s.name for s in phi.free_symbols), key=probe.names.index)  # type: ignore[attr-defined]
    columns = _columns(probe, used if variables is None else variables, "variables")
    if len(columns) < 2:
        raise ConfigError(
            f"structure: the invariant {expression!r} must concern at least two variables; "
            f"got {[probe.names[k] for k in columns]}"
        )
    return _invariant(probe, phi, columns, expression, threshold)


def _pair(probe: _Probe, pair: Sequence[str]) -> tuple[int, int]:
    if isinstance(pair, str) or len(pair) != 2:
        raise ConfigError(f"structure: pair must be two input names; got {pair!r}")
    i, j = _columns(probe, pair, "pair")
    return i, j


# ----------------------------------------------------------------------------------- report


def structure(
    model: Any,
    X: Any,
    *,
    names: Sequence[str] | None = None,
    kinds: Sequence[str] = KINDS,
    invariants: Mapping[str, Sequence[str] | None] | Sequence[str] = (),
    thresholds: Mapping[str, float] | None = None,
    max_rows: int = 1000,
    seed: int = 0,
    method: str = "values",
) -> StructureFacts:
    """Test every structural property of ``model`` on the inputs ``X``.

    Pair properties (separability of two variables, translation, scaling and swap) are
    tested on every pair of inputs; group separability on every split of the inputs into
    two groups when there are at most 6 inputs (31 splits), else on each variable against
    the rest; ``invariants`` on the variables they name.

    Parameters
    ----------
    model : torch.nn.Module, Surrogate, sympy.Expr or callable
        See :func:`additive_separability`.
    X : array, shape (N, d)
    names : sequence of str, optional
    kinds : sequence of str
        Properties to test, from :data:`KINDS`.
    invariants : sequence of str or mapping str -> variables
        User-given invariants, e.g. ``["b/c"]`` or ``{"b/c": ["b", "c"]}``.
    thresholds : mapping, optional
        Overrides of :data:`THRESHOLDS`.
    max_rows : int
        Rows of ``X`` used (a random subset when there are more).
    seed : int
    method : {"values", "derivatives"}
        ``"values"`` (default) tests separability, translation, scaling and swap with the
        model's values at mixed, shifted, rescaled or swapped rows, which are as accurate as
        the fit; ``"derivatives"`` uses the Hessian and gradient residuals of the module
        docstring, which amplify a fitted model's errors. General separability and invariants
        always use gradients.

    Returns
    -------
    StructureFacts
    """
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or isinstance(kinds, str):
        raise ConfigError(f"structure: kinds must be a list from {list(KINDS)}; got {kinds!r}")
    limits = dict(THRESHOLDS)
    for kind, value in (thresholds or {}).items():
        if kind not in THRESHOLDS:
            raise ConfigError(
                f"structure: thresholds has an unknown kind {kind!r}; allowed: {list(KINDS)}"
            )
        limits[kind] = _threshold(kind, value)
    probe = _probe(model, X, names, max_rows, seed, method)
    d = len(probe.names)
    facts: list[Fact] = []
    pairs = list(itertools.combinations(range(d), 2))
    splits = _splits(d)
    for kind in kinds:
        limit = limits[kind]
        if kind in ("additive", "multiplicative", "general"):
            for a, b in splits:
                if kind == "additive":
                    facts.append(_additive(probe, a, b, limit))
                elif kind == "multiplicative":
                    facts.append(_multiplicative(probe, a, b, limit))
                else:
                    facts.append(_general(probe, a, b, limit, seed))
        elif kind in ("translation", "scaling"):
            facts += [_pair_derivative(probe, kind, i, j, limit) for i, j in pairs]
        elif kind == "swap":
            facts += [_swap(probe, i, j, limit) for i, j in pairs]
        else:
            items = (
                invariants.items()
                if isinstance(invariants, Mapping)
                else ((text, None) for text in invariants)
            )
            facts += [_invariant_fact(probe, text, vs, limit) for text, vs in items]
    report = StructureFacts(probe.names, facts, len(probe.X))
    if "additive" in kinds:
        report.additive_groups = _groups(
            probe, lambda a, b: _additive(probe, [a], [b], limits["additive"])
        )
    if "multiplicative" in kinds:
        report.multiplicative_groups = _groups(
            probe, lambda a, b: _multiplicative(probe, [a], [b], limits["multiplicative"])
        )
    return report


def separable_groups(
    model: Any,
    X: Any,
    names: Sequence[str] | None = None,
    kind: str = "additive",
    *,
    threshold: float | None = None,
    seed: int = 0,
) -> list[tuple[str, ...]]:
    """The finest partition of the inputs into additively (``kind="multiplicative"``:
    multiplicatively) separable groups, from the pairwise tests only (cheaper than
    :func:`structure`): ``f = g_1(x_G1) + g_2(x_G2) + ...``."""
    if kind not in ("additive", "multiplicative"):
        raise ConfigError(f"kind must be 'additive' or 'multiplicative'; got {kind!r}")
    probe = _probe(model, X, names, seed=seed)
    limit = _threshold(kind, threshold)
    test = _additive if kind == "additive" else _multiplicative
    return _groups(probe, lambda a, b: test(probe, [a], [b], limit))


def _splits(d: int) -> list[tuple[list[int], list[int]]]:
    """Every split into two non-empty groups for ``d <= 6``, else one variable vs the rest.

    Pairs of single variables are always included (the pairwise tests).
    """
    splits: list[tuple[list[int], list[int]]] = []
    if d <= 6:
        for size in range(1, d // 2 + 1):
            for a in itertools.combinations(range(d), size):
                b = [k for k in range(d) if k not in a]
                if size == d - size and a[0] != 0:
                    continue  # each half-half split once
                splits.append((list(a), b))
    else:
        splits = [([k], [j for j in range(d) if j != k]) for k in range(d)]
    if d > 2:
        splits += [([i], [j]) for i, j in itertools.combinations(range(d), 2)]
    return splits


def _groups(probe: _Probe, test: Callable[[int, int], Fact]) -> list[tuple[str, ...]]:
    """Connected components of the graph linking variables whose pair is not separable."""
    d = len(probe.names)
    parent = list(range(d))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, j in itertools.combinations(range(d), 2):
        if not test(i, j).holds:
            parent[find(i)] = find(j)
    components: dict[int, list[int]] = {}
    for k in range(d):
        components.setdefault(find(k), []).append(k)
    return [tuple(probe.names[k] for k in members) for members in components.values()]
