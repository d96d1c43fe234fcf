"""kanphys.deepxde.to_deepxde: problem specs as DeepXDE geometry, conditions and data.

The central check: at the exact solution, every equation residual and every condition error
of the translated problem vanishes to rounding (float64), for boxes, disks, polygons, time,
Neumann and initial-velocity conditions, periodic inputs and several fields.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from kanphys.errors import ConfigError, SpecError
from kanphys.io.spec import load_problem
from kanphys.pde.compile import Environment, compile_expression

pytestmark = pytest.mark.deepxde


@pytest.fixture
def float64(dde):
    dde.config.set_default_float("float64")
    yield dde
    dde.config.set_default_float("float32")


def _spec(tmp_path, text: str):
    path = tmp_path / "problem.toml"
    path.write_text(textwrap.dedent(text))
    return load_problem(path)


def _exact(bridge, x: torch.Tensor) -> torch.Tensor:
    """The reference closed forms as differentiable functions of DeepXDE's columns."""
    problem = bridge.problem
    env = Environment(
        {name: x[:, k] for k, name in enumerate(bridge.inputs)},
        parameters={p.name: x.new_tensor(p.value) for p in problem.parameters},
    )
    reference = problem.reference.expressions
    return torch.stack(
        [compile_expression(reference[f], bridge.inputs)(env) for f in problem.fields], dim=1
    )


def _residuals_at_exact_solution(dde, bridge) -> tuple[float, list[float]]:
    X = bridge.data.train_x
    x = torch.tensor(X, requires_grad=True)
    y = _exact(bridge, x)
    dde.grad.clear()
    pde = max(float(r.detach().abs().max()) for r in bridge.data.pde(x, y))
    errors, begin = [], 0
    for condition, count in zip(bridge.conditions, bridge.data.num_bcs, strict=True):
        assert count > 0, f"no points for {condition}"
        error = condition.error(X, x, y, begin, begin + count)
        errors.append(float(error.detach().abs().max()))
        begin += count
    return pde, errors


@pytest.mark.parametrize(
    "name",
    [
        "poisson2d",  # Rectangle, Dirichlet
        "poisson_disk",  # Disk
        "poisson_lshape",  # Polygon
        "kovasznay",  # three fields, derived parameter, condition on the face x = max
        "wave1d",  # GeometryXTime, initial value and velocity (u_t = 0 at t = 0)
        "klein_gordon",  # faces x = 0 and x = 1 over time, nonlinear source
        "advection1d",  # periodic input
        "helmholtz2d",
    ],
)
def test_residuals_vanish_at_the_exact_solution(float64, name):
    from kanphys.deepxde import to_deepxde

    bridge = to_deepxde(name, num_domain=150, num_boundary=60, num_initial=40)
    pde, conditions = _residuals_at_exact_solution(float64, bridge)
    # rounding of second derivatives of O(10) solutions with O(100) coefficients
    assert pde < 1e-11
    assert max(conditions) < 1e-12
    assert (
        len(bridge.loss_names)
        == len(bridge.loss_weights)
        == (len(bridge.problem.equations) + len(bridge.conditions))
    )


def test_a_wrong_solution_leaves_residuals(float64):
    """The check above can fail: a solution off by a constant breaks the conditions, and the
    wrong wave speed breaks the equation."""
    from kanphys.deepxde import to_deepxde

    bridge = to_deepxde("wave1d", num_domain=100, num_boundary=40, num_initial=40)
    X = bridge.data.train_x
    x = torch.tensor(X, requires_grad=True)
    shifted = _exact(bridge, x) + 0.1
    errors = [c.error(X, x, shifted, 0, len(X)) for c in bridge.conditions[:1]]
    assert float(errors[0].detach().abs().max()) > 0.05
    slow = torch.sin(np.pi * x[:, :1]) * torch.cos(np.pi * x[:, 1:])  # wave speed 1, not 2
    float64.grad.clear()
    residual = bridge.data.pde(x, slow)[0]
    assert float(residual.detach().abs().max()) > 1.0


def test_geometry_and_column_order(float64, tmp_path):
    """Time is DeepXDE's last column whatever the spec's order; points are reordered."""
    from kanphys.deepxde import to_deepxde

    problem = _spec(
        tmp_path,
        """
        name = "heat_tx"
        fields = ["u"]
        equations = ["u_t = 0.1*u_xx"]
        [domain]
        t = [0.0, 0.5]
        x = [0.0, 2.0]
        time = "t"
        [[conditions]]
        where = "t = 0"
        equation = "u = sin(pi*x/2)"
        [[conditions]]
        where = "boundary"
        equation = "u = 0"
        [reference]
        u = "exp(-0.1*pi**2/4*t)*sin(pi*x/2)"
        """,
    )
    bridge = to_deepxde(problem, num_domain=120, num_boundary=30, num_initial=30)
    assert bridge.inputs == ("x", "t")
    assert type(bridge.geometry).__name__ == "GeometryXTime"
    assert type(bridge.data).__name__ == "TimePDE"
    assert bridge.input_bounds == ([0.0, 0.0], [2.0, 0.5])
    np.testing.assert_array_equal(bridge.from_kanphys(np.array([[0.1, 1.5]])), [[1.5, 0.1]])
    pde, conditions = _residuals_at_exact_solution(float64, bridge)
    assert pde < 1e-12 and max(conditions) < 1e-12
    # the initial condition takes DeepXDE's initial points, all at t = 0
    initial = bridge.conditions[0].filter(bridge.data.train_x_all)
    assert len(initial) >= 30 and np.all(initial[:, 1] == 0.0)
    # evaluate() passes DeepXDE's column order to predict: the exact solution scores 0
    result = bridge.evaluate(bridge.data.soln)
    assert result["rel_l2"]["u"] < 1e-14


def test_interior_plane_and_neumann_condition(float64, tmp_path):
    """A plane inside the domain becomes points drawn on it (PointSetOperatorBC)."""
    from kanphys.deepxde import to_deepxde

    problem = _spec(
        tmp_path,
        """
        name = "plane"
        fields = ["u"]
        equations = ["u_xx + u_yy = -2*pi**2*cos(pi*x)*cos(pi*y)"]
        [domain]
        x = [-1.0, 1.0]
        y = [-1.0, 1.0]
        [[conditions]]
        where = "x = 0.25"
        equation = "u_x = -pi*sin(pi*x)*cos(pi*y)"
        points = 37
        [[conditions]]
        where = "boundary"
        equation = "u = cos(pi*x)*cos(pi*y)"
        [reference]
        u = "cos(pi*x)*cos(pi*y)"
        """,
    )
    bridge = to_deepxde(problem, num_domain=100, num_boundary=40)
    plane = bridge.conditions[0]
    assert type(plane).__name__ == "PointSetOperatorBC"
    assert plane.points.shape == (37, 2) and np.all(plane.points[:, 0] == 0.25)
    pde, conditions = _residuals_at_exact_solution(float64, bridge)
    assert pde < 1e-12 and max(conditions) < 1e-12


def test_ode_of_time_only(float64, tmp_path):
    """A problem of time only is a TimeDomain with its two end points as boundary points."""
    from kanphys.deepxde import to_deepxde

    problem = _spec(
        tmp_path,
        """
        name = "decay"
        fields = ["u", "v"]
        equations = ["u_t = -k*u", "v_t = u"]
        [parameters]
        k = 2
        [domain]
        t = [0.0, 1.0]
        time = "t"
        [[conditions]]
        where = "t = 0"
        equation = "u = 1"
        [[conditions]]
        where = "t = 0"
        equation = "v = 0"
        [reference]
        u = "exp(-k*t)"
        v = "(1 - exp(-k*t))/k"
        """,
    )
    bridge = to_deepxde(problem, num_domain=50)
    assert type(bridge.geometry).__name__ == "TimeDomain"
    assert type(bridge.data).__name__ == "PDE"
    assert bridge.data.num_bcs == [1, 1]
    pde, conditions = _residuals_at_exact_solution(float64, bridge)
    assert pde < 1e-14 and max(conditions) < 1e-15


def test_hard_constraints_leave_the_loss_and_hold_exactly(dde):
    from kanphys.deepxde import KAN, to_deepxde

    bridge = to_deepxde("poisson2d", num_domain=100, num_boundary=40, hard_constraints=True)
    assert bridge.enforced == ["conditions[0]"]
    assert bridge.loss_names == ["equations[0]"] and bridge.conditions == []
    net = KAN([2, 4, 1], input_bounds=bridge.input_bounds, seed=0)
    net.apply_output_transform(bridge.output_transform)
    edges = np.array([[-1.0, 0.3], [1.0, -0.7], [0.2, -1.0], [0.9, 1.0]], dtype=np.float32)
    with torch.no_grad():
        values = net(torch.as_tensor(edges))
    assert torch.all(values == 0.0)


def test_inverse_problem_identifies_the_diffusivity(dde):
    """heat_inverse: kappa starts at 0.5 (truth 0.05) and is identified through dde.Variable."""
    from kanphys.deepxde import KAN, to_deepxde

    dde.config.set_random_seed(0)
    bridge = to_deepxde("heat_inverse", num_domain=300, num_boundary=40, num_initial=40)
    assert set(bridge.variables) == {"kappa"}
    assert bridge.loss_names[-1] == "data.u"
    net = KAN([2, 6, 1], grid_size=5, input_bounds=bridge.input_bounds, seed=0)
    model = dde.Model(bridge.data, net)
    model.compile("adam", lr=1e-2, **bridge.compile_options())
    model.train(iterations=600, display_every=10**6)
    kappa = bridge.parameter_values()["kappa"]
    # measured 0.0501 after 1500 steps; 600 steps must close 90% of the gap
    assert abs(kappa - 0.05) < 0.1 * abs(0.5 - 0.05)
    assert bridge.evaluate(model.predict)["rel_l2"]["u"] < 0.05


def test_reference_and_solution(dde):
    from kanphys.deepxde import to_deepxde

    bridge = to_deepxde("burgers1d", num_domain=50, num_boundary=10, num_initial=10)
    assert bridge.data.soln is None  # the reference is a file: no closed form for DeepXDE
    result = bridge.evaluate(lambda x: np.zeros((len(x), 1)))
    assert result["n_points"] == 256 * 100 and result["rel_l2"]["u"] == pytest.approx(1.0)


def test_errors_name_the_problem_and_the_fix(dde, tmp_path):
    from kanphys.deepxde import to_deepxde

    with pytest.raises(SpecError, match=r"\[\[symmetry\]\].*ignore_symmetries=True"):
        to_deepxde("poisson_disk_radial")
    bridge = to_deepxde("poisson_disk_radial", ignore_symmetries=True, num_domain=20)
    assert bridge.loss_names == ["equations[0]", "conditions[0]"]
    with pytest.raises(ConfigError, match="num_domain must be an integer >= 0"):
        to_deepxde("poisson2d", num_domain=-5)
    with pytest.raises(SpecError, match="unknown problem 'nope'"):
        to_deepxde("nope")
    problem = _spec(
        tmp_path,
        """
        name = "no_reference"
        fields = ["u"]
        equations = ["u_t = -u"]
        [domain]
        t = [0.0, 1.0]
        time = "t"
        [[conditions]]
        where = "t = 0"
        equation = "u = 1"
        """,
    )
    bridge = to_deepxde(problem, num_domain=20)
    with pytest.raises(ConfigError, match=r"has no \[reference\]"):
        bridge.evaluate(lambda x: x)
    with pytest.raises(ConfigError, match=r"predict must return shape \(\d+, 1\)"):
        to_deepxde("poisson2d", num_domain=20).evaluate(lambda x: x)
