"""Hard constraints: which conditions the output transform imposes, and that they hold exactly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from kanphys.io.spec import problem_from_dict
from kanphys.models import KAN
from kanphys.pde.compile import Environment, compile_expression
from kanphys.pde.constraints import HardConstraints, build_output_transform
from kanphys.pde.derivatives import TaylorEngine
from kanphys.pde.geometry import Geometry
from kanphys.pde.model import PDEModel, embedded_features
from kanphys.pde.problem import Condition, Problem
from kanphys.training.pinn import prepare

# On a box face the transform multiplies the network by a factor with an exactly zero factor
# (x - a); on a circle by 1 - |p - c|^2 / R^2, which rounding leaves at a few eps; the offset and
# the prescribed value are the same expression evaluated in a different order. What remains is
# a few eps times the sizes involved (all O(1) here); a condition that is not imposed misses by
# the network's own O(0.1-1) output, checked below as a lower bound.
EXACT = 1e-14
SOFT_MISS = 1e-2

BOX_XT = {"x": [-1.0, 1.0], "t": [0.0, 1.0], "time": "t"}
BOX_XY = {"x": [-1.0, 1.0], "y": [0.0, 2.0]}
BOX_XYT = {"x": [-1.0, 1.0], "y": [-0.5, 0.5], "t": [0.0, 0.5], "time": "t"}
DISK = {"x": [-1.0, 1.0], "y": [-1.0, 1.0], "shape": "disk", "center": [0.0, 0.0], "radius": 1.0}
DISK_T = {
    "x": [0.0, 3.0],
    "y": [-1.0, 2.0],
    "t": [0.0, 1.0],
    "time": "t",
    "shape": "disk",
    "center": [1.5, 0.5],
    "radius": 1.2,
}
L_SHAPE = {
    "x": [-1.0, 1.0],
    "y": [-1.0, 1.0],
    "shape": "polygon",
    "vertices": [[-1.0, -1.0], [0.0, -1.0], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [-1.0, 1.0]],
}
HEAT = "u_t = u_xx"
POISSON = "u_xx + u_yy = 1"


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """The batches here are tiny: a second intra-op thread only adds synchronisation, which
    costs ~10x the run time on a machine whose cores are busy. Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def problem(
    conditions: Sequence[tuple[str, str]],
    *,
    domain: dict[str, Any] = BOX_XT,
    equations: Sequence[str] = (HEAT,),
    fields: Sequence[str] = ("u",),
    **extra: Any,
) -> Problem:
    spec = {
        "name": "constraints",
        "fields": list(fields),
        "equations": list(equations),
        "domain": domain,
        "conditions": [{"where": where, "equation": text} for where, text in conditions],
    }
    base_dir = extra.pop("base_dir", None)
    return problem_from_dict({**spec, **extra}, base_dir=base_dir)


def constrained(problem: Problem, *, enabled: bool = True) -> tuple[PDEModel, HardConstraints]:
    """A randomly initialised KAN (outputs of size ~0.1-1) behind the problem's transform."""
    hard = build_output_transform(problem, Geometry(problem.domain), enabled=enabled)
    domain = problem.domain
    network = KAN(
        [embedded_features(domain.inputs, domain.periodic), 6, len(problem.fields)],
        noise_scale=1.0,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(0),
    )
    model = PDEModel(
        network, domain.inputs, domain.bounds, periodic=domain.periodic, transform=hard.transform
    )
    return model, hard


def points_on(problem: Problem, condition: Condition, n: int = 256) -> Tensor:
    geometry, generator = Geometry(problem.domain), torch.Generator().manual_seed(5)
    if condition.kind == "boundary":
        return geometry.sample_boundary(n, generator=generator)[0]
    assert condition.variable is not None and condition.value is not None
    return geometry.sample_plane(condition.variable, condition.value, n, generator=generator)


def residual(problem: Problem, model: PDEModel, condition: Condition, x: Tensor) -> Tensor:
    """The condition's residual (lhs - rhs) for the model's fields at ``x``."""
    compiled = compile_expression(condition.equation.residual, problem.inputs)
    derivatives = TaylorEngine()(model, x, sorted(compiled.requires), problem.fields)
    columns = {name: x[:, i] for i, name in enumerate(problem.inputs)}
    constants = {p.name: torch.tensor(p.value, dtype=x.dtype) for p in problem.parameters}
    return compiled(Environment(columns, derivatives, constants)).detach()


def miss(problem: Problem, model: PDEModel, index: int) -> float:
    """Largest violation of condition ``index`` on points of its set."""
    condition = problem.conditions[index]
    return float(residual(problem, model, condition, points_on(problem, condition)).abs().max())


def interior_size(problem: Problem, model: PDEModel) -> float:
    x = Geometry(problem.domain).sample_interior(256, generator=torch.Generator().manual_seed(6))
    return float(model(x).detach().abs().max())


# --------------------------------------------------------------------------------------------
# conditions imposed exactly
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "equation"),
    [
        (BOX_XY, POISSON),
        (BOX_XT, HEAT),
        (BOX_XYT, "u_t = u_xx + u_yy"),
        (DISK, POISSON),
        (DISK_T, "u_t = u_xx + u_yy"),
    ],
    ids=["square", "interval-in-time", "square-in-time", "disk", "shifted-disk-in-time"],
)
def test_homogeneous_dirichlet_boundary_is_exact(domain, equation) -> None:
    spec = problem([("boundary", "u = 0")], domain=domain, equations=[equation])
    model, hard = constrained(spec)
    assert hard.enforced == ["conditions[0]"] and hard.notes == []
    assert miss(spec, model, 0) <= EXACT
    assert interior_size(spec, model) > SOFT_MISS  # not zero everywhere


@pytest.mark.parametrize(
    ("domain", "equation", "value"),
    [
        (BOX_XY, POISSON, "1 + x*y"),
        (BOX_XT, HEAT, "2 + t*x"),
        (DISK, POISSON, "exp(x)*cos(y)"),
        (DISK_T, "u_t = u_xx + u_yy", "x - t*y"),
        (BOX_XY, POISSON, "0.1 + 0.2"),  # a float (rationalised by the transform)
    ],
    ids=["square", "interval-in-time", "disk", "shifted-disk-in-time", "float"],
)
def test_inhomogeneous_dirichlet_boundary_is_exact(domain, equation, value) -> None:
    spec = problem([("boundary", f"u = {value}")], domain=domain, equations=[equation])
    model, hard = constrained(spec)
    assert hard.enforced == ["conditions[0]"] and hard.notes == []
    assert miss(spec, model, 0) <= EXACT * 10  # values of g up to e * 1.2 and a few terms


@pytest.mark.parametrize(
    "faces", [("x = min", "x = max"), ("x = -1", "x = 1")], ids=["min-max", "numbers"]
)
def test_conditions_on_two_faces(faces) -> None:
    spec = problem(
        [(faces[0], "u = y**2"), (faces[1], "u = y**2")], domain=BOX_XY, equations=[POISSON]
    )
    model, hard = constrained(spec)
    assert sorted(hard.enforced) == ["conditions[0]", "conditions[1]"] and hard.notes == []
    assert miss(spec, model, 0) <= EXACT and miss(spec, model, 1) <= EXACT
    # the y faces carry no condition: the output is free there
    free = problem(
        [("y = min", "u = y**2"), ("y = max", "u = y**2")], domain=BOX_XY, equations=[POISSON]
    )
    assert min(miss(free, model, 0), miss(free, model, 1)) > SOFT_MISS


def test_condition_on_one_face() -> None:
    spec = problem([("y = max", "u = sin(x)")], domain=BOX_XY, equations=[POISSON])
    model, hard = constrained(spec)
    assert hard.enforced == ["conditions[0]"]
    assert miss(spec, model, 0) <= EXACT
    other = problem([("y = min", "u = sin(x)")], domain=BOX_XY, equations=[POISSON])
    assert miss(other, model, 0) > SOFT_MISS


@pytest.mark.parametrize(
    ("domain", "conditions"),
    [
        (BOX_XT, [("t = 0", "u = sin(pi*x)"), ("boundary", "u = 0")]),
        (BOX_XT, [("t = min", "u = 1 - x**2"), ("x = min", "u = 0"), ("x = max", "u = 0")]),
        # boundary values that change in time, matching the initial values at t = 0
        (BOX_XT, [("boundary", "u = t*x"), ("t = 0", "u = x**2 - 1")]),
        (
            {"x": [0.0, 0.5], "t": [0.5, 2.0], "time": "t"},
            [("t = min", "u = sin(2*pi*x)"), ("boundary", "u = 0")],
        ),
        (BOX_XYT, [("t = 0", "u = cos(pi*x)*cos(pi*y)"), ("x = max", "u = -cos(pi*y)")]),
    ],
    ids=["heat", "faces", "time-dependent", "late-start", "one-face"],
)
def test_initial_and_boundary_conditions_hold_together(domain, conditions) -> None:
    spec = problem(
        conditions, domain=domain, equations=["u_t = u_xx + u_yy" if "y" in domain else HEAT]
    )
    model, hard = constrained(spec)
    assert sorted(hard.enforced) == [c.label for c in spec.conditions] and hard.notes == []
    for index in range(len(conditions)):
        assert miss(spec, model, index) <= EXACT, conditions[index]
    assert interior_size(spec, model) > SOFT_MISS


def test_jets_of_the_transform_respect_the_boundary() -> None:
    # u = 0 on x = +-1 for all t: also u_t = u_tt = 0 there, but not u_x
    spec = problem([("boundary", "u = 0"), ("t = 0", "u = sin(pi*x)")])
    model, _ = constrained(spec)
    x = points_on(spec, spec.conditions[0])
    keys = [("u", ("t",)), ("u", ("t", "t")), ("u", ("x",))]
    jets = TaylorEngine()(model, x, keys, ("u",))
    assert float(jets[keys[0]].detach().abs().max()) <= EXACT
    assert float(jets[keys[1]].detach().abs().max()) <= EXACT
    assert float(jets[keys[2]].detach().abs().max()) > SOFT_MISS


# --------------------------------------------------------------------------------------------
# conditions left soft
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "enforced"),
    [
        ([("t = 0", "u = cos(pi*x)"), ("boundary", "u = 0")], ["conditions[1]"]),
        ([("x = max", "u = 0"), ("t = 0", "u = x + 1")], ["conditions[0]"]),
    ],
    ids=["cos-vs-zero", "one-face"],
)
def test_incompatible_initial_condition_stays_soft(conditions, enforced) -> None:
    spec = problem(conditions)
    model, hard = constrained(spec)
    initial = 0 if conditions[0][0] == "t = 0" else 1
    label = f"conditions[{initial}]"
    assert hard.enforced == enforced
    assert hard.notes == [f"soft: {label} (initial values not compatible with the boundary values)"]
    assert miss(spec, model, 1 - initial) <= EXACT  # the boundary condition still holds
    assert miss(spec, model, initial) > SOFT_MISS


def test_different_values_on_different_faces_stay_soft() -> None:
    spec = problem([("x = min", "u = 0"), ("x = max", "u = 1"), ("t = 0", "u = (x + 1)/2")])
    model, hard = constrained(spec)
    assert hard.notes == [
        "soft: conditions[0], conditions[1] (different boundary values on different parts)"
    ]
    # the initial condition alone is still imposed
    assert hard.enforced == ["conditions[2]"]
    assert miss(spec, model, 2) <= EXACT
    assert min(miss(spec, model, 0), miss(spec, model, 1)) > SOFT_MISS


@pytest.mark.parametrize(
    ("where", "equation"),
    [
        ("x = min", "u_x = 0"),
        ("x = max", "u + u_x = 1"),
        ("boundary", "u_x = 0"),
        ("t = 0", "u_t = 0"),
        ("boundary", "u**2 = 1"),
        ("x = max", "x*u = 1"),
        ("x = 0", "u = 0"),  # an interior plane, not a face
        ("t = max", "u = 0"),  # a final condition
    ],
    ids=[
        "neumann",
        "robin",
        "neumann-boundary",
        "initial-rate",
        "nonlinear",
        "variable-factor",
        "interior-plane",
        "final-time",
    ],
)
def test_other_conditions_stay_soft(where, equation) -> None:
    spec = problem([(where, equation)])
    _, hard = constrained(spec)
    assert hard.transform is None and hard.enforced == [] and hard.notes == []


def test_conditions_with_trainable_parameters_stay_soft(tmp_path: Path) -> None:
    (tmp_path / "obs.csv").write_text("x,t,u\n0.0,0.5,0.6\n0.5,0.5,0.4\n")
    spec = problem(
        [("boundary", "u = kappa"), ("t = 0", "u = kappa*sin(pi*x)"), ("x = 0", "u = A")],
        parameters={"A": 0.25, "kappa": {"initial": 0.5, "trainable": True}},
        data={"file": "obs.csv"},
        base_dir=tmp_path,
    )
    _, hard = constrained(spec)
    assert hard.transform is None and hard.enforced == [] and hard.notes == []
    # a constant parameter is a value like any other
    constant = problem([("boundary", "u = A")], parameters={"A": "1/3"})
    model, hard = constrained(constant)
    assert hard.enforced == ["conditions[0]"]
    assert miss(constant, model, 0) <= EXACT


def test_polygon_boundary_stays_soft() -> None:
    spec = problem([("boundary", "u = 0")], domain=L_SHAPE, equations=[POISSON])
    _, hard = constrained(spec)
    assert hard.transform is None and hard.enforced == []
    assert hard.notes == ["soft: conditions[0] (no distance function)"]


def test_periodic_inputs_have_no_walls() -> None:
    domain = {"x": [0.0, 6.0], "y": [0.0, 1.0], "periodic": ["x"]}
    spec = problem([("boundary", "u = 0")], domain=domain, equations=[POISSON])
    model, hard = constrained(spec)
    assert hard.enforced == ["conditions[0]"]
    assert miss(spec, model, 0) <= EXACT  # the boundary is y = 0 and y = 1 only
    wall = problem([("x = min", "u = 0")], domain=domain, equations=[POISSON])
    assert miss(wall, model, 0) > SOFT_MISS
    assert constrained(wall)[1].transform is None  # no face condition on a periodic input


def test_disabled_gives_no_transform() -> None:
    spec = problem([("boundary", "u = 0"), ("t = 0", "u = sin(pi*x)")])
    _, hard = constrained(spec, enabled=False)
    assert hard.transform is None and hard.enforced == [] and hard.notes == []


def test_each_field_gets_its_own_transform() -> None:
    spec = problem(
        [("boundary", "u = 1"), ("boundary", "w = x"), ("x = max", "v = t")],
        fields=("u", "v", "w"),
        equations=["u_t = v_xx", "v_t = w_xx", "w_t = u_xx"],
    )
    model, hard = constrained(spec)
    assert sorted(hard.enforced) == ["conditions[0]", "conditions[1]", "conditions[2]"]
    for index in range(3):
        assert miss(spec, model, index) <= EXACT
    assert hard.transform is not None
    assert set(hard.transform.describe()) == {"0", "1", "2"}
    # a field without a condition passes the network output through
    free = problem([("boundary", "u = 1")], fields=("u", "v"), equations=["u_t = v_xx"])
    model, hard = constrained(free)
    x = Geometry(free.domain).sample_interior(32, generator=torch.Generator().manual_seed(1))
    raw = model.network(model.embed(x))
    torch.testing.assert_close(model(x)[:, 1], raw[:, 1], rtol=0, atol=0)
    assert (model(x)[:, 0] - raw[:, 0]).abs().max() > SOFT_MISS


def test_prepare_drops_the_enforced_conditions_from_the_loss() -> None:
    spec = problem([("t = 0", "u = cos(pi*x)"), ("boundary", "u = 0"), ("x = 0", "u_x = 0")])
    state = prepare(spec, device="cpu")
    assert state.enforced == ["conditions[1]"]
    assert state.notes == [
        "soft: conditions[0] (initial values not compatible with the boundary values)"
    ]
    assert [term.label for term in state.terms] == [
        "equations[0]",
        "conditions[0]",
        "conditions[2]",
    ]
    assert miss(spec, state.model, 1) <= EXACT
    # switched off in the [model] table: every condition is a loss term
    state = prepare(spec, device="cpu", model_overrides={"hard_constraints": False})
    assert state.enforced == [] and state.model.transform is None
    assert len(state.terms) == 4


def test_compatibility_check_tolerates_rounded_faces() -> None:
    domain = {"x": [0.0, "pi"], "t": [0.0, 1.0], "time": "t"}
    spec = problem([("t = 0", "u = sin(x)"), ("boundary", "u = 0")], domain=domain)
    _, hard = constrained(spec)
    assert hard.notes == []
    assert sorted(hard.enforced) == ["conditions[0]", "conditions[1]"]
