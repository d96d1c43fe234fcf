"""Every built-in spec in problems/: it loads, is listed, prepares, and its reference solves it."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy
import torch
from scipy.ndimage import maximum_filter

from kanphys.errors import SpecError
from kanphys.io.spec import load_problem
from kanphys.pde.compile import Environment, compile_expression
from kanphys.pde.derivatives import select_engine
from kanphys.pde.geometry import Geometry
from kanphys.pde.problem import Condition, Problem, field_function, input_symbol
from kanphys.pde.registry import get_problem, list_problems
from kanphys.training.pinn import prepare
from kanphys.training.pinn_terms import evaluate_residuals

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROBLEMS = Path(__file__).resolve().parents[1] / "problems"
SPECS = sorted(PROBLEMS.glob("*.toml"))


def raw_spec(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def references_of(kind: str) -> list[Path]:
    """Specs whose [reference] gives every field in closed form, or names a file."""
    chosen = []
    for path in SPECS:
        spec = raw_spec(path)
        table = spec.get("reference", {})
        closed = all(name in table for name in spec["fields"])
        if (kind == "closed form" and closed) or (kind == "file" and "file" in table):
            chosen.append(path)
    return chosen


CLOSED_FORM = references_of("closed form")
FILE_REFERENCE = references_of("file")
WITH_DATA = [path for path in SPECS if "data" in raw_spec(path)]
WITH_TRAINABLE = [
    path
    for path in CLOSED_FORM
    if any(
        isinstance(v, dict) and v.get("trainable")
        for v in raw_spec(path).get("parameters", {}).values()
    )
]


def ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


# What the specs state in words (description and comments); a new spec with data or trainable
# parameters adds its entry here.
NOISE_LEVEL = {"heat_inverse": 0.01}  # "u = ... + N(0, 0.01^2)"
TRUE_PARAMETERS = {"heat_inverse": {"kappa": 0.05}}  # "identify the diffusivity kappa (true 0.05)"

# Closed forms leave only the rounding of the terms they are substituted into (~1e-15 of the
# terms' size); a wrong sign, constant or term leaves O(1) of it. The specs write constants
# exactly or to 16 digits, so 1e-8 relative sits far from both.
REFERENCE_RTOL = 1e-8
N_CHECK = 200
# In a compatible hard constraint only rounding of O(1) quantities remains (tests/test_constraints)
EXACT = 1e-12


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """The batches here are tiny: a second intra-op thread only adds synchronisation, which
    costs ~10x the run time on a machine whose cores are busy. Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.cache
def loaded(path: Path) -> Problem:
    return load_problem(path)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def condition_points(problem: Problem, condition: Condition, n: int = N_CHECK) -> np.ndarray:
    geometry = Geometry(problem.domain)
    if condition.kind == "boundary":
        return geometry.sample_boundary(n, generator=generator(1))[0].numpy()
    assert condition.variable is not None and condition.value is not None
    return geometry.sample_plane(
        condition.variable, condition.value, n, generator=generator(2)
    ).numpy()


def interior_points(problem: Problem, n: int = N_CHECK) -> np.ndarray:
    return Geometry(problem.domain).sample_interior(n, generator=generator(3)).numpy()


# --------------------------------------------------------------------------------------------
# loading, listing, preparing
# --------------------------------------------------------------------------------------------


def test_the_registry_lists_exactly_the_specs() -> None:
    assert SPECS, f"no specs found in {PROBLEMS}"
    assert [name for name, _ in list_problems()] == [path.stem for path in SPECS]


@pytest.mark.parametrize("path", SPECS, ids=ids(SPECS))
def test_spec_loads_and_is_listed(path: Path) -> None:
    problem = loaded(path)
    assert problem.name == path.stem
    assert problem.source == path.resolve()
    assert problem.description.strip()
    listed = dict(list_problems())
    assert listed[path.stem] == problem.description.splitlines()[0]
    assert get_problem(path.stem).equations == problem.equations


@pytest.mark.parametrize("path", SPECS, ids=ids(SPECS))
def test_prepare_builds_a_consistent_run(path: Path) -> None:
    problem = loaded(path)
    state = prepare(problem, device="cpu")
    like = next(state.model.parameters())
    assert like.dtype == getattr(torch, problem.training.get("dtype", "float64"))  # CPU default
    # every condition is imposed exactly or is a loss term, never both, never neither
    labels = [condition.label for condition in problem.conditions]
    soft = [term.label for term in state.terms if term.group == "conditions"]
    assert sorted(state.enforced + soft) == sorted(labels)
    assert not set(state.enforced) & set(soft)
    assert [t.label for t in state.terms if t.group == "equations"] == [
        e.label for e in problem.equations
    ]
    highest = max(len(variables) for _, variables in problem.required_derivatives())
    assert state.engine_name == ("taylor" if highest <= 2 else "autograd")
    engine = select_engine(state.engine_name, state.model, problem.required_derivatives())
    residuals = evaluate_residuals(state.model, engine, state.terms, state.points, problem.fields)
    assert set(residuals) == {term.label for term in state.terms}
    for label, values in residuals.items():
        assert values.numel() > 0 and torch.isfinite(values).all(), label
    # the enforced conditions hold for the untrained model
    for condition in problem.conditions:
        if condition.label in state.enforced:
            x = torch.from_numpy(condition_points(problem, condition))
            values = model_residual(problem, state.model, condition.equation.residual, x)
            assert float(values.abs().max()) <= EXACT, condition.label


def model_residual(problem: Problem, model: Any, expr: sympy.Expr, x: torch.Tensor) -> torch.Tensor:
    compiled = compile_expression(expr, problem.inputs)
    engine = select_engine("auto", model, compiled.requires)
    derivatives = engine(model, x, sorted(compiled.requires), problem.fields)
    columns = {name: x[:, i] for i, name in enumerate(problem.inputs)}
    constants = {p.name: torch.tensor(p.value, dtype=x.dtype) for p in problem.parameters}
    return compiled(Environment(columns, derivatives, constants)).detach()


@pytest.mark.parametrize("path", SPECS, ids=ids(SPECS))
def test_spec_has_a_reference_for_every_field(path: Path) -> None:
    reference = loaded(path).reference
    assert reference is not None
    for name in loaded(path).fields:
        assert name in reference.expressions or name in reference.values, name
    assert path in CLOSED_FORM or path in FILE_REFERENCE


def test_unknown_problem_lists_the_built_in_names() -> None:
    names = ", ".join(path.stem for path in SPECS)
    message = (
        rf"^unknown problem 'nope'; built-in problems are {re.escape(names)} "
        r"\(or give the path of a \.toml spec\)$"
    )
    with pytest.raises(SpecError, match=message):
        get_problem("nope")


# --------------------------------------------------------------------------------------------
# closed-form references
# --------------------------------------------------------------------------------------------

Terms = Callable[[np.ndarray, Mapping[str, float]], np.ndarray]


def substituted_terms(
    problem: Problem, expr: sympy.Expr, solution: Mapping[str, sympy.Expr]
) -> Terms:
    """``(points (N, D), parameter values) -> (n_terms, N)``: each top-level term of ``expr``
    with the fields replaced by ``solution`` (derivatives taken by sympy)."""
    fields = {field_function(name, problem.inputs): solution[name] for name in problem.fields}
    names = [p.name for p in problem.parameters]
    symbols = [input_symbol(v) for v in (*problem.inputs, *names)]
    functions = [
        sympy.lambdify(symbols, term.subs(fields).doit(), "numpy")
        for term in sympy.Add.make_args(expr)
    ]

    def evaluate(points: np.ndarray, parameters: Mapping[str, float]) -> np.ndarray:
        values = [parameters[name] for name in names]
        rows = [np.broadcast_to(f(*points.T, *values), (len(points),)) for f in functions]
        return np.array(rows, dtype=float)

    return evaluate


def fitted_parameters(
    problem: Problem, equations: list[Terms], points: np.ndarray
) -> dict[str, float]:
    """Constant parameters as given; trainable ones by least squares on the equations, in which
    they must enter linearly (checked)."""
    values = {p.name: p.value for p in problem.parameters if not p.trainable}
    trainable = [p.name for p in problem.parameters if p.trainable]
    if not trainable:
        return values

    def residual(assigned: Mapping[str, float]) -> np.ndarray:
        everything = {**values, **assigned}
        return np.concatenate([terms(points, everything).sum(axis=0) for terms in equations])

    zero = {name: 0.0 for name in trainable}
    base = residual(zero)
    columns = [residual({**zero, name: 1.0}) - base for name in trainable]
    for name, column in zip(trainable, columns, strict=True):
        doubled = residual({**zero, name: 2.0})
        np.testing.assert_allclose(doubled, base + 2 * column, rtol=1e-10, atol=1e-10)
    solution, *_ = np.linalg.lstsq(np.stack(columns, axis=1), -base, rcond=None)
    return {**values, **dict(zip(trainable, solution.tolist(), strict=True))}


def violations(
    problem: Problem, solution: Mapping[str, sympy.Expr]
) -> dict[str, tuple[float, float]]:
    """``label -> (max |residual|, tolerance)`` for every equation (interior points) and every
    condition (points of its set), with the trainable parameters fitted to ``solution``."""
    interior = interior_points(problem)
    equations = [substituted_terms(problem, e.residual, solution) for e in problem.equations]
    parameters = fitted_parameters(problem, equations, interior)
    field_values = substituted_terms(
        problem, sum(field_function(f, problem.inputs) for f in problem.fields), solution
    )
    field_scale = float(np.abs(field_values(interior, parameters)).max())
    checks = [
        (e.label, terms, interior) for e, terms in zip(problem.equations, equations, strict=True)
    ]
    checks += [
        (
            c.label,
            substituted_terms(problem, c.equation.residual, solution),
            condition_points(problem, c),
        )
        for c in problem.conditions
    ]
    result = {}
    for label, terms, points in checks:
        values = terms(points, parameters)
        # rounding is relative to the terms (or, where they vanish, to the fields) they contain
        scale = max(float(np.abs(values).sum(axis=0).max()), field_scale)
        result[label] = (float(np.abs(values.sum(axis=0)).max()), REFERENCE_RTOL * scale)
    return result


@pytest.mark.parametrize("path", CLOSED_FORM, ids=ids(CLOSED_FORM))
def test_closed_form_reference_satisfies_equations_and_conditions(path: Path) -> None:
    problem = loaded(path)
    assert problem.reference is not None
    exact = dict(problem.reference.expressions)
    for label, (error, bound) in violations(problem, exact).items():
        assert error <= bound, (label, error, bound)
    # teeth: a perturbation of 1e-3 exp(sum of inputs) (solving none of the equations or
    # conditions: its derivatives are itself) is caught everywhere
    bump = 1e-3 * sympy.exp(sum(input_symbol(v) for v in problem.inputs))
    perturbed = {name: expr + bump for name, expr in exact.items()}
    for label, (error, bound) in violations(problem, perturbed).items():
        assert error > 100 * bound, (label, error, bound)


def test_every_inverse_problem_states_its_truth() -> None:
    assert sorted(NOISE_LEVEL) == ids(WITH_DATA)
    assert sorted(TRUE_PARAMETERS) == ids(WITH_TRAINABLE)


@pytest.mark.parametrize("path", WITH_TRAINABLE, ids=ids(WITH_TRAINABLE))
def test_trainable_parameters_fitted_to_the_reference_are_the_true_ones(path: Path) -> None:
    problem = loaded(path)
    assert problem.reference is not None
    interior = interior_points(problem)
    equations = [
        substituted_terms(problem, e.residual, problem.reference.expressions)
        for e in problem.equations
    ]
    fitted = fitted_parameters(problem, equations, interior)
    for name, value in TRUE_PARAMETERS[path.stem].items():
        assert fitted[name] == pytest.approx(value, rel=REFERENCE_RTOL)
        assert problem.parameter(name).value != pytest.approx(value)  # a real identification


@pytest.mark.parametrize("path", WITH_DATA, ids=ids(WITH_DATA))
def test_data_match_the_reference_to_the_noise_level(path: Path) -> None:
    problem = loaded(path)
    assert problem.data is not None and problem.reference is not None
    sigma = NOISE_LEVEL[path.stem]
    points = problem.data.points
    for name, observed in problem.data.values.items():
        expected = substituted_terms(
            problem, field_function(name, problem.inputs), problem.reference.expressions
        )(points, {p.name: p.value for p in problem.parameters})[0]
        noise = observed - expected
        n = len(noise)
        # Gaussian noise: the mean is within 5 standard errors of 0 and the sample standard
        # deviation within 5 of its standard errors (sigma / sqrt(2 (n - 1))) of sigma
        assert abs(noise.mean()) <= 5 * sigma / np.sqrt(n)
        assert abs(noise.std(ddof=1) - sigma) <= 5 * sigma / np.sqrt(2 * (n - 1))
        # the data lie in the domain
        assert Geometry(problem.domain).contains(torch.from_numpy(points)).all()


# --------------------------------------------------------------------------------------------
# references stored as grids
# --------------------------------------------------------------------------------------------

FD_STENCILS = {
    1: {-1: -0.5, 1: 0.5},
    2: {-1: 1.0, 0: -2.0, 1: 1.0},
    3: {-2: -0.5, -1: 1.0, 1: -1.0, 2: 0.5},
    4: {-2: 1.0, -1: -4.0, 0: 6.0, 1: -4.0, 2: 1.0},
}
SAFETY = 2.0  # on truncation bounds whose leading term is estimated from the data
ROUNDOFF = 1e-12  # differences of O(1) data: ~eps / h and 4 eps / h^2 times O(nu) coefficients
SMOOTH = 1e-2  # "smooth": the truncation bound is below 1% of the largest term


def reference_grid(problem: Problem) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Axes and field arrays of a grid reference, the repeated end of periodic axes dropped."""
    reference = problem.reference
    assert reference is not None and reference.points is not None
    assert reference.grid_shape is not None, "the difference check needs a grid file"
    axes = [np.unique(reference.points[:, i]) for i in range(len(problem.inputs))]
    assert tuple(len(axis) for axis in axes) == reference.grid_shape
    values = {name: v.reshape(reference.grid_shape) for name, v in reference.values.items()}
    for i, name in enumerate(problem.inputs):
        if name in problem.domain.periodic:
            assert (axes[i][0], axes[i][-1]) == problem.domain.bound(name)
            for array in values.values():
                np.testing.assert_array_equal(array.take(0, axis=i), array.take(-1, axis=i))
            axes[i] = axes[i][:-1]
            values = {k: v.take(range(len(axes[i])), axis=i) for k, v in values.items()}
    return axes, values


def difference(
    values: np.ndarray, step: float, axis: int, order: int, periodic: bool
) -> np.ndarray:
    """Derivative along ``axis``: spectral on a periodic axis (the references there are Fourier
    collocation solutions, exact to roundoff), else central (wrapping: drop 2 edge cells)."""
    if periodic:
        n = values.shape[axis]
        shape = [1] * values.ndim
        shape[axis] = n
        wave = (2j * np.pi * np.fft.fftfreq(n, d=step)).reshape(shape)
        return np.real(np.fft.ifft(wave**order * np.fft.fft(values, axis=axis), axis=axis))
    total = np.zeros_like(values)
    for offset, weight in FD_STENCILS[order].items():
        total += weight * np.roll(values, -offset, axis=axis)
    return total / step**order


def grid_residual(
    problem: Problem, expr: sympy.Expr, axes: list[np.ndarray], values: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Residual of ``expr`` on the grid from differences of ``values``, its truncation bound
    and the values of its terms; all on the cells 2 away from non-periodic edges."""
    periodic = [name in problem.domain.periodic for name in problem.inputs]
    steps = [axis[1] - axis[0] for axis in axes]
    compiled = compile_expression(expr, problem.inputs)
    derivatives, truncation = {}, {}
    for key in compiled.requires:
        name, variables = key
        if not variables:
            derivatives[key], truncation[key] = values[name], np.zeros_like(values[name])
            continue
        assert len(set(variables)) == 1, f"mixed derivative {key}: extend this check"
        axis, order = problem.inputs.index(variables[0]), len(variables)
        derivatives[key] = difference(values[name], steps[axis], axis, order, periodic[axis])
        truncation[key] = np.zeros_like(values[name])
        if not periodic[axis]:
            # central differences err by h^2/6 f''' (first) and h^2/12 f'''' (second)
            higher = difference(values[name], steps[axis], axis, order + 2, False)
            truncation[key] = steps[axis] ** 2 / (6 if order == 1 else 12) * np.abs(higher)
    leaves = {key: torch.tensor(value, requires_grad=True) for key, value in derivatives.items()}
    grids = np.meshgrid(*axes, indexing="ij")
    env = Environment(
        {name: torch.from_numpy(grid) for name, grid in zip(problem.inputs, grids, strict=True)},
        leaves,
        {p.name: torch.tensor(p.value, dtype=torch.float64) for p in problem.parameters},
    )
    residual = compiled(env)
    sensitivities = torch.autograd.grad(residual.sum(), list(leaves.values()), allow_unused=True)
    error = sum(
        np.abs(s.numpy()) * truncation[key]
        for key, s in zip(leaves, sensitivities, strict=True)
        if s is not None
    )
    bound = SAFETY * maximum_filter(error, size=5) + ROUNDOFF
    inner = tuple(slice(None) if p else slice(2, -2) for p in periodic)
    terms = [
        compile_expression(term, problem.inputs)(env).detach().numpy()[inner]
        for term in sympy.Add.make_args(expr)
    ]
    return residual.detach().numpy()[inner], bound[inner], terms


@pytest.mark.parametrize("path", FILE_REFERENCE, ids=ids(FILE_REFERENCE))
def test_grid_reference_satisfies_the_equations_where_smooth(path: Path) -> None:
    problem = loaded(path)
    axes, values = reference_grid(problem)
    for equation in problem.equations:
        residual, bound, terms = grid_residual(problem, equation.residual, axes, values)
        smooth = bound <= SMOOTH * np.abs(np.array(terms)).sum(axis=0).max()
        assert smooth.mean() >= 0.5, f"{equation.label}: only {smooth.mean():.0%} smooth"
        assert np.all(np.abs(residual[smooth]) <= bound[smooth]), equation.label
        # teeth: doubling any one term is caught on most smooth points
        for term in terms:
            caught = np.abs(residual + term)[smooth] > bound[smooth]
            assert caught.mean() >= 0.5, (equation.label, caught.mean())


@pytest.mark.parametrize("path", FILE_REFERENCE, ids=ids(FILE_REFERENCE))
def test_grid_reference_satisfies_its_value_conditions(path: Path, tol) -> None:
    problem = loaded(path)
    axes, values = reference_grid(problem)
    checked = []
    for condition in problem.conditions:
        compiled = compile_expression(condition.equation.residual, problem.inputs)
        if any(variables for _, variables in compiled.requires):
            continue  # derivative conditions need differences across the slice
        if condition.kind == "boundary":
            slices = [
                (i, index)
                for i, name in enumerate(problem.inputs)
                if name in problem.domain.spatial and name not in problem.domain.periodic
                for index in (0, -1)
            ]
        else:
            i = problem.inputs.index(condition.variable)
            matches = np.flatnonzero(axes[i] == condition.value)
            if len(matches) == 0:
                continue
            slices = [(i, int(matches[0]))]
        for i, index in slices:
            sliced = [axis if j != i else np.take(axis, [index]) for j, axis in enumerate(axes)]
            grids = np.meshgrid(*sliced, indexing="ij")
            env = Environment(
                {
                    n: torch.from_numpy(g.ravel())
                    for n, g in zip(problem.inputs, grids, strict=True)
                },
                {
                    (n, ()): torch.from_numpy(np.take(v, [index], axis=i).ravel())
                    for n, v in values.items()
                },
                {p.name: torch.tensor(p.value, dtype=torch.float64) for p in problem.parameters},
            )
            error = float(compiled(env).abs().max())
            # the stored values are the condition evaluated in float64 (or a solver's exact
            # zero): the value rule
            scale = max(float(v.abs().max()) for v in env.derivatives.values())
            assert error <= tol.values(torch.float64, scale), (condition.label, i, index, error)
        checked.append(condition.label)
    initial = [c.label for c in problem.conditions if c.variable == problem.domain.time]
    assert set(initial) <= set(checked) and checked
