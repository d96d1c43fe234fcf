"""Hard constraints: Dirichlet conditions imposed exactly through an output transform.

For a field ``u`` the transform is ``u = A(x) + T(t) B(x) N(x)`` where ``N`` is the network
output, ``B`` vanishes on the spatial boundary parts that carry a Dirichlet condition, ``T``
vanishes at the initial time and ``A`` satisfies the prescribed values. Supported, per field:

* Dirichlet conditions ``u = g`` (no derivatives, no other fields, no trainable parameters) on
  box faces ``x = min|max`` or on the whole ``boundary`` (box or disk), all with the *same* ``g``;
* an initial condition ``u = g0`` at ``t = min`` of the time variable, compatible with the
  boundary values at the initial time (checked symbolically).

Every other condition stays a soft (penalty) term; :func:`build_output_transform` says which
conditions it enforced and why it left the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from kanphys.pde.geometry import Geometry
from kanphys.pde.model import OutputTransform
from kanphys.pde.problem import Condition, Problem, field_function, input_symbol

__all__ = ["HardConstraints", "build_output_transform"]


@dataclass
class HardConstraints:
    """Result of :func:`build_output_transform`."""

    transform: OutputTransform | None
    enforced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _dirichlet_value(condition: Condition, problem: Problem, name: str) -> sympy.Expr | None:
    """``g`` if the condition reads ``name = g`` with ``g`` free of fields; else None."""
    u = field_function(name, problem.inputs)
    residual = sympy.expand(condition.equation.residual)
    if residual.has(sympy.Derivative):
        return None
    coefficient = residual.coeff(u)
    rest = sympy.expand(residual - coefficient * u)
    if coefficient == 0 or coefficient.has(sympy.core.function.AppliedUndef):
        return None
    if rest.has(sympy.core.function.AppliedUndef):
        return None
    constants = {
        input_symbol(p.name): sympy.Float(p.value) for p in problem.parameters if not p.trainable
    }
    trainable = {input_symbol(p.name) for p in problem.parameters if p.trainable}
    if not coefficient.is_number:
        return None
    value = (-rest / coefficient).subs(constants)
    if value.free_symbols & trainable:
        return None
    return sympy.nsimplify(value) if value.is_number else value


def _is_zero(expr: sympy.Expr, bounds: dict[sympy.Symbol, tuple[float, float]]) -> bool:
    """Whether ``expr`` vanishes: symbolically, or numerically to round-off at sample points.

    Domain bounds are floats (``pi`` is stored as 3.141592653589793), so ``sin(x)`` at the face
    is ``1.2e-16`` rather than 0: a numerical test at points spread over the other inputs'
    ranges, relative to the size of the expression's terms, accepts such round-off.
    """
    try:
        if sympy.simplify(expr) == 0:
            return True
    except Exception:  # pragma: no cover - sympy failures mean "cannot prove"
        pass
    symbols = sorted(expr.free_symbols, key=str)
    if any(s not in bounds for s in symbols):
        return False
    for k in range(7):
        point = {
            s: bounds[s][0] + (bounds[s][1] - bounds[s][0]) * ((k * 0.618 + 0.1 * i) % 1.0)
            for i, s in enumerate(symbols)
        }
        try:
            value = complex(expr.evalf(subs=point))
            scale = 1.0 + sum(abs(complex(t.evalf(subs=point))) for t in sympy.Add.make_args(expr))
        except (TypeError, ValueError):
            return False
        if abs(value) > 1e-12 * scale:
            return False
    return True


def build_output_transform(
    problem: Problem, geometry: Geometry, *, enabled: bool = True
) -> HardConstraints:
    """The output transform for the conditions of ``problem`` that can be imposed exactly."""
    result = HardConstraints(None)
    if not enabled:
        return result
    domain = problem.domain
    offsets: dict[int, sympy.Expr] = {}
    factors: dict[int, sympy.Expr] = {}
    for index, name in enumerate(problem.fields):
        boundary: list[tuple[Condition, sympy.Expr]] = []
        initial: tuple[Condition, sympy.Expr] | None = None
        for condition in problem.conditions:
            if field_function(name, problem.inputs) not in condition.equation.residual.atoms(
                sympy.core.function.AppliedUndef
            ):
                continue
            value = _dirichlet_value(condition, problem, name)
            if value is None:
                continue
            if condition.kind == "boundary":
                boundary.append((condition, value))
            elif (
                domain.time is not None
                and condition.variable == domain.time
                and condition.value == domain.bound(domain.time)[0]
            ):
                initial = (condition, value) if initial is None else initial
            elif (
                domain.shape == "box"
                and condition.variable in domain.spatial
                and condition.variable not in domain.periodic
                and condition.value in domain.bound(condition.variable)
            ):
                boundary.append((condition, value))
        built = _field_transform(problem, geometry, boundary, initial, result)
        if built is not None:
            offsets[index], factors[index] = built
    order = [c.label for c in problem.conditions]
    result.enforced.sort(key=order.index)
    if factors:
        result.transform = OutputTransform(problem.inputs, len(problem.fields), offsets, factors)
    return result


def _field_transform(
    problem: Problem,
    geometry: Geometry,
    boundary: list[tuple[Condition, sympy.Expr]],
    initial: tuple[Condition, sympy.Expr] | None,
    result: HardConstraints,
) -> tuple[sympy.Expr, sympy.Expr] | None:
    domain = problem.domain
    factor: sympy.Expr = sympy.Integer(1)
    offset: sympy.Expr = sympy.Integer(0)
    used: list[Condition] = []
    faces: list[tuple[str, float]] = []
    if boundary:
        values = {sympy.srepr(v) for _, v in boundary}
        if len(values) > 1:
            result.notes.append(
                "soft: "
                + ", ".join(c.label for c, _ in boundary)
                + " (different boundary values on different parts)"
            )
        else:
            for condition, _ in boundary:
                if condition.kind == "boundary":
                    distance = geometry.boundary_distance_expression()
                    if distance is None:
                        result.notes.append(f"soft: {condition.label} (no distance function)")
                        continue
                    factor = factor * distance
                    faces += (
                        [
                            (v, b)
                            for v in domain.spatial
                            if v not in domain.periodic
                            for b in domain.bound(v)
                        ]
                        if domain.shape == "box"
                        else []
                    )
                else:
                    variable, value = condition.variable, condition.value
                    assert variable is not None and value is not None
                    low, high = domain.bound(variable)
                    s = input_symbol(variable)
                    factor = factor * ((s - low) if value == low else (high - s)) / (high - low)
                    faces.append((variable, value))
                used.append(condition)
            if used:
                offset = boundary[0][1]
    if initial is not None:
        condition, g0 = initial
        assert domain.time is not None
        t = input_symbol(domain.time)
        t0, t1 = domain.bound(domain.time)
        mismatch = g0 - offset.subs(t, t0)
        bounds = {input_symbol(v): domain.bound(v) for v in domain.inputs}
        compatible = all(
            _is_zero(mismatch.subs(input_symbol(v), value), bounds) for v, value in faces
        )
        if compatible and domain.shape != "box" and used:
            result.notes.append(
                f"soft: {condition.label} (initial and boundary values are combined exactly "
                f"on boxes only)"
            )
        elif compatible:
            offset = offset + mismatch
            factor = factor * (t - t0) / (t1 - t0)
            used.append(condition)
        else:
            result.notes.append(
                f"soft: {condition.label} (initial values not compatible with the boundary values)"
            )
    if not used:
        return None
    result.enforced.extend(c.label for c in used)
    return offset, factor
