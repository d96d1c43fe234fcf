"""The problem object model: what a spec declares, after parsing and validation.

A :class:`Problem` is plain data. Expressions are sympy trees in which

* every input variable is a real :class:`sympy.Symbol` (``x``, ``t``),
* every field is an undefined function applied to *all* inputs in domain order (``u(x, t)``),
* a derivative is a :class:`sympy.Derivative` of such a field (``Derivative(u(x, t), x, x)``),
* every parameter is a real :class:`sympy.Symbol`; its value lives in :class:`Parameter`.

Derivatives are named by a :data:`DerivativeKey` ``(field, variables)`` whose variables are sorted
into domain order: ``("u", ())`` is the field value, ``("u", ("x", "x"))`` is ``u_xx`` and
``("u", ("x", "y"))`` is ``u_xy``. Derivative engines and the residual compiler speak in these keys.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import sympy

if TYPE_CHECKING:
    from kanphys.training.symmetry import Symmetry

__all__ = [
    "Condition",
    "Data",
    "DerivativeKey",
    "Domain",
    "Equation",
    "Parameter",
    "Problem",
    "Reference",
    "derivative_key",
    "derivative_name",
    "field_function",
    "input_symbol",
    "required_derivatives",
]

DerivativeKey = tuple[str, tuple[str, ...]]


def input_symbol(name: str) -> sympy.Symbol:
    """The sympy symbol of an input variable or a parameter (always real)."""
    return sympy.Symbol(name, real=True)


def field_function(name: str, inputs: Iterable[str]) -> sympy.Expr:
    """The sympy expression of field ``name``: an undefined function of all inputs, ``u(x, t)``."""
    return sympy.Function(name)(*(input_symbol(v) for v in inputs))


def derivative_name(key: DerivativeKey) -> str:
    """``("u", ("x", "x")) -> "u_xx"``; ``("u", ()) -> "u"``; long names use ``diff(...)``."""
    name, variables = key
    if not variables:
        return name
    if all(len(v) == 1 for v in variables):
        return f"{name}_{''.join(variables)}"
    return f"diff({name}, {', '.join(variables)})"


def derivative_key(expr: sympy.Expr, inputs: tuple[str, ...]) -> DerivativeKey:
    """The :data:`DerivativeKey` of a field ``u(x, t)`` or of a :class:`sympy.Derivative` of one."""
    order = {name: position for position, name in enumerate(inputs)}
    if isinstance(expr, sympy.Derivative):
        base = expr.expr
        variables: list[str] = []
        for symbol, count in expr.variable_count:
            variables.extend([str(symbol)] * int(count))
        variables.sort(key=lambda v: order[v])
        return (str(base.func), tuple(variables))
    return (str(expr.func), ())


def required_derivatives(expr: sympy.Expr, inputs: tuple[str, ...]) -> set[DerivativeKey]:
    """Every field value and field derivative that ``expr`` uses."""
    keys: set[DerivativeKey] = set()
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Derivative):
            keys.add(derivative_key(node, inputs))
        elif isinstance(node, sympy.core.function.AppliedUndef):
            keys.add((str(node.func), ()))
    # the field inside a Derivative also appears as an AppliedUndef; keep it only if used bare
    bare = {
        (str(node.func), ())
        for node in _bare_fields(expr)
        if isinstance(node, sympy.core.function.AppliedUndef)
    }
    return {key for key in keys if key[1] or key in bare}


def _bare_fields(expr: sympy.Expr) -> Iterable[sympy.Expr]:
    if isinstance(expr, sympy.Derivative):
        return
    if isinstance(expr, sympy.core.function.AppliedUndef):
        yield expr
        return
    for arg in expr.args:
        yield from _bare_fields(arg)


@dataclass(frozen=True, kw_only=True)
class Domain:
    """Where the problem lives.

    ``inputs`` are the network inputs in order; ``bounds`` holds one ``(low, high)`` per input.
    For ``shape="disk"`` or ``"polygon"`` the first two *spatial* inputs span the shape (the
    bounds then enclose it) and any other input (time) is an interval.
    """

    inputs: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    time: str | None = None
    shape: Literal["box", "disk", "polygon"] = "box"
    center: tuple[float, float] | None = None
    radius: float | None = None
    vertices: tuple[tuple[float, float], ...] | None = None
    periodic: tuple[str, ...] = ()

    @property
    def spatial(self) -> tuple[str, ...]:
        """Inputs other than the time variable."""
        return tuple(v for v in self.inputs if v != self.time)

    def bound(self, name: str) -> tuple[float, float]:
        """``(low, high)`` of input ``name``."""
        return self.bounds[self.inputs.index(name)]


@dataclass(frozen=True, kw_only=True)
class Parameter:
    """A named constant; ``trainable`` ones are identified from data (``value`` is the guess)."""

    name: str
    value: float
    trainable: bool = False
    text: str = ""


@dataclass(frozen=True, kw_only=True)
class Equation:
    """``lhs = rhs`` (without ``=``, ``rhs = 0``); ``label`` names the spec field."""

    label: str
    text: str
    lhs: sympy.Expr
    rhs: sympy.Expr

    @property
    def residual(self) -> sympy.Expr:
        return self.lhs - self.rhs


@dataclass(frozen=True, kw_only=True)
class Condition:
    """A condition imposed on part of the domain.

    ``kind="boundary"`` is the whole spatial boundary (for all times when there is a time
    variable); ``kind="plane"`` is the set ``variable = value`` inside the domain.
    """

    label: str
    where: str
    kind: Literal["boundary", "plane"]
    equation: Equation
    variable: str | None = None
    value: float | None = None
    weight: float | None = None
    n_points: int | None = None


@dataclass(frozen=True, kw_only=True)
class Reference:
    """Known solution: closed forms per field and/or arrays read from a file.

    ``points`` is ``(N, n_inputs)`` in domain order and ``values`` maps a field to ``(N,)``;
    both are filled from ``file`` at load time (grid files are flattened with 'ij' indexing).
    """

    expressions: Mapping[str, sympy.Expr] = field(default_factory=dict)
    file: Path | None = None
    points: np.ndarray | None = None
    values: Mapping[str, np.ndarray] = field(default_factory=dict)
    grid_shape: tuple[int, ...] | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.expressions, *self.values]))


@dataclass(frozen=True, kw_only=True)
class Data:
    """Observations: ``points`` ``(N, n_inputs)`` and ``values[field]`` ``(N,)``."""

    file: Path
    points: np.ndarray
    values: Mapping[str, np.ndarray]
    weight: float | None = None


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A validated PDE problem (see ``docs/spec-format.md`` for the TOML form).

    ``symmetries`` (the spec's ``[[symmetry]]`` tables) are declared symmetries of the solution
    (:mod:`kanphys.training.symmetry`), imposed as extra loss terms ``symmetry[i]`` at the
    collocation points; their variables name inputs and their ``field`` a field.
    """

    name: str
    fields: tuple[str, ...]
    domain: Domain
    equations: tuple[Equation, ...]
    conditions: tuple[Condition, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    description: str = ""
    reference: Reference | None = None
    data: Data | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None
    symmetries: tuple[Symmetry, ...] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.domain.inputs

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def symbols(self) -> dict[str, sympy.Expr]:
        """Every name an expression may use: inputs, parameters, fields (as ``u(x, t)``)."""
        table: dict[str, sympy.Expr] = {name: input_symbol(name) for name in self.inputs}
        table.update({p.name: input_symbol(p.name) for p in self.parameters})
        table.update({name: field_function(name, self.inputs) for name in self.fields})
        return table

    def required_derivatives(self) -> set[DerivativeKey]:
        """Every field derivative used by the equations and conditions."""
        keys: set[DerivativeKey] = set()
        for equation in (*self.equations, *(c.equation for c in self.conditions)):
            keys |= required_derivatives(equation.residual, self.inputs)
        return keys

    @property
    def where_label(self) -> str:
        """How error messages name the problem: its file when it has one."""
        return str(self.source) if self.source is not None else f"problem {self.name!r}"


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
