"""Loss terms of a physics-informed problem: point sets, compiled residuals, one batched pass.

Every term owns a point set (the interior collocation points for the equations, points on the
condition's set for a condition, the observation points for data). :func:`evaluate_residuals`
concatenates all point sets, asks the derivative engine once for the union of the derivatives
every term needs, and splits the result; the loss of a term is its mean squared residual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from kanphys.errors import SpecError
from kanphys.pde.compile import CompiledExpression, Environment, compile_expression
from kanphys.pde.derivatives import DerivativeEngine
from kanphys.pde.geometry import Geometry
from kanphys.pde.model import PDEModel
from kanphys.pde.problem import DerivativeKey, Problem

if TYPE_CHECKING:
    from kanphys.training.symmetry import Symmetry

__all__ = ["Term", "build_terms", "evaluate_residuals", "sample_points"]


@dataclass
class Term:
    """One loss term: ``weight * mean(residual ** 2)`` over the point set ``points``.

    ``residuals`` holds one compiled expression per equation (the equations term stacks the
    residuals of all equations); a data term has none and compares fields with ``targets``; a
    symmetry term has none and evaluates its declared ``symmetry`` (autograd, on the model) at
    its points.
    """

    label: str
    group: str
    points: str
    residuals: list[CompiledExpression]
    weight: float = 1.0
    targets: dict[str, Tensor] | None = None
    symmetry: Symmetry | None = None

    @property
    def requires(self) -> set[DerivativeKey]:
        keys: set[DerivativeKey] = set()
        for residual in self.residuals:
            keys |= set(residual.requires)
        if self.targets is not None:
            keys |= {(name, ()) for name in self.targets}
        return keys


def build_terms(
    problem: Problem,
    *,
    enforced: Sequence[str],
    weights: Mapping[str, float],
    dtype: torch.dtype,
    device: torch.device,
) -> list[Term]:
    """Terms for the equations (one per equation), each soft condition, the data and each
    declared symmetry (``symmetry[i]``, group ``symmetries``)."""
    inputs = problem.inputs
    labels = [e.label for e in problem.equations] + [c.label for c in problem.conditions]
    labels += [f"symmetry[{i}]" for i in range(len(problem.symmetries))]
    known = {"equations", "conditions", "data", "symmetries", *labels}
    for key in weights:
        if key not in known:
            raise SpecError(
                f"[training] weights has an unknown key {key!r}; allowed are 'equations', "
                f"'conditions', 'data', 'symmetries' or a label: {', '.join(labels)}"
            )

    def weight_of(label: str, group: str, own: float | None = None) -> float:
        if label in weights:
            return float(weights[label])
        if own is not None:
            return own
        return float(weights.get(group, 1.0))

    terms = [
        Term(
            equation.label,
            "equations",
            "interior",
            [compile_expression(equation.residual, inputs, label=equation.label)],
            weight_of(equation.label, "equations"),
        )
        for equation in problem.equations
    ]
    for condition in problem.conditions:
        if condition.label in enforced:
            continue
        compiled = compile_expression(condition.equation.residual, inputs, label=condition.label)
        terms.append(
            Term(
                condition.label,
                "conditions",
                condition.label,
                [compiled],
                weight_of(condition.label, "conditions", condition.weight),
            )
        )
    if problem.data is not None:
        targets = {
            name: torch.as_tensor(values, dtype=dtype, device=device)
            for name, values in problem.data.values.items()
        }
        terms.append(
            Term(
                "data", "data", "data", [], weight_of("data", "data", problem.data.weight), targets
            )
        )
    for i, symmetry in enumerate(problem.symmetries):
        label = f"symmetry[{i}]"
        check_problem_symmetry(problem, label, symmetry)
        own = symmetry.weight * float(weights.get("symmetries", 1.0))
        terms.append(
            Term(
                label,
                "symmetries",
                "interior",
                [],
                weight_of(label, "symmetries", own),
                None,
                symmetry,
            )
        )
    return terms


def check_problem_symmetry(problem: Problem, label: str, symmetry: Symmetry) -> None:
    """Raise :class:`SpecError` unless ``symmetry`` fits the problem's inputs and fields."""
    from kanphys.errors import ConfigError
    from kanphys.training.conservation import Conserved
    from kanphys.training.symmetry import Symmetry

    where = f"{problem.where_label}: {label}"
    if not isinstance(symmetry, Symmetry):
        raise SpecError(
            f"{where}: must be a Symmetry such as Rotation(variables=('x', 'y')); received "
            f"{type(symmetry).__name__}"
        )
    if isinstance(symmetry, Conserved):
        raise SpecError(
            f"{where}: Conserved (a quantity conserved along a learned flow) applies to fitted "
            "vector fields; for a PDE solution use ConservedIntegral (kind 'conserved_integral')"
        )
    try:
        symmetry.validate(problem.inputs, problem.fields)
    except ConfigError as error:
        raise SpecError(f"{where}: {error}") from None


def sample_points(
    problem: Problem,
    geometry: Geometry,
    terms: Sequence[Term],
    *,
    n_collocation: int,
    n_boundary: int,
    method: str,
    generator: torch.Generator,
    dtype: torch.dtype,
    device: torch.device,
) -> dict[str, Tensor]:
    """Draw every point set the terms use: ``{"interior": (N, D), "conditions[i]": ..., ...}``."""
    sets: dict[str, Tensor] = {}
    conditions = {c.label: c for c in problem.conditions}
    options = {"method": method, "generator": generator, "dtype": dtype, "device": device}
    for term in terms:
        if term.points in sets:
            continue
        if term.points == "interior":
            sets["interior"] = geometry.sample_interior(n_collocation, **options)  # type: ignore[arg-type]
        elif term.points == "data":
            assert problem.data is not None
            sets["data"] = torch.as_tensor(problem.data.points, dtype=dtype, device=device)
        else:
            condition = conditions[term.points]
            count = condition.n_points or n_boundary
            if condition.kind == "boundary":
                sets[term.points] = geometry.sample_boundary(count, **options)[0]  # type: ignore[arg-type]
            else:
                assert condition.variable is not None and condition.value is not None
                sets[term.points] = geometry.sample_plane(
                    condition.variable,
                    condition.value,
                    count,
                    **options,  # type: ignore[arg-type]
                )
    return sets


def evaluate_residuals(
    model: PDEModel,
    engine: DerivativeEngine,
    terms: Sequence[Term],
    points: Mapping[str, Tensor],
    fields: tuple[str, ...],
) -> dict[str, Tensor]:
    """Residuals of every term, ``{label: (n_points * n_residuals,)}``, from one engine call."""
    order = list(dict.fromkeys(term.points for term in terms))
    sizes = [points[name].shape[0] for name in order]
    everything = torch.cat([points[name] for name in order])
    requests: set[DerivativeKey] = set()
    for term in terms:
        requests |= term.requires
    requests |= {(fields[0], ())}
    derivatives = engine(model, everything, sorted(requests), fields)
    split = {key: value.split(sizes) for key, value in derivatives.items()}
    columns = everything.split(sizes)
    parameters = _parameter_values(model, everything)
    residuals: dict[str, Tensor] = {}
    for term in terms:
        position = order.index(term.points)
        if term.symmetry is not None:
            residuals[term.label] = term.symmetry.residual(
                model, columns[position], names=model.inputs, outputs=fields
            ).reshape(-1)
            continue
        if term.targets is not None:
            residuals[term.label] = torch.cat(
                [split[(name, ())][position] - target for name, target in term.targets.items()]
            )
            continue
        env = Environment(
            {name: columns[position][:, i] for i, name in enumerate(model.inputs)},
            {key: values[position] for key, values in split.items()},
            parameters,
        )
        residuals[term.label] = torch.cat([residual(env) for residual in term.residuals])
    return residuals


def equation_residual_norm(
    model: PDEModel,
    engine: DerivativeEngine,
    terms: Sequence[Term],
    x: Tensor,
    fields: tuple[str, ...],
) -> Tensor:
    """``sqrt(sum over equations of residual^2)`` at ``x`` ``(N, D)``: the RAD sampling density."""
    equations = [term for term in terms if term.group == "equations"]
    residuals = evaluate_residuals(model, engine, equations, {"interior": x}, fields)
    stacked = torch.stack([residuals[term.label] for term in equations])
    return stacked.pow(2).sum(0).sqrt()


def _parameter_values(model: PDEModel, like: Tensor) -> dict[str, Tensor]:
    values = dict(model.pde_parameters.items())
    values.update(model.constants(like))
    return values
