"""TOML specs -> Problem: a full round trip, the file layouts, and every validation error."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy

from kanphys.errors import SpecError
from kanphys.io.spec import load_problem, problem_from_dict
from kanphys.pde.problem import field_function, input_symbol

X, Y, T = (input_symbol(v) for v in "xyt")
NU, K, LAM = (input_symbol(v) for v in ("nu", "k", "lam"))
U, V = field_function("u", "xyt"), field_function("v", "xyt")
D = sympy.Derivative

FULL = """
name = "full-spec_1"
description = "Everything at once"
fields = ["u", "v"]
equations = [
    "u_t + u*u_x + v*u_y = nu*(u_xx + u_yy)",
    "v_t - k*diff(v, x, 2) + lam*v",
]

[domain]
x = [-1.0, 1.0]
y = [0, "pi"]
t = [0.0, 1.0]
time = "t"

[parameters]
nu = "0.01/pi"
k = 2
half_k = "k/2"
lam = { initial = 0.5, trainable = true }

[[conditions]]
where = "t = 0"
equation = "u = -sin(pi*x)"
[[conditions]]
where = "x = min"
equation = "u = 0"
weight = 10.0
points = 200
[[conditions]]
where = "y = max"
equation = "v_y = 0"
[[conditions]]
where = "boundary"
equation = "v = half_k"
[[conditions]]
where = "x = 1/2"
equation = "u_x = 0"

[reference]
u = "exp(-nu*t)*sin(pi*x)"

[data]
file = "observations.csv"
weight = 2.5

[model]
type = "kan"
hidden = [16, 16]

[training]
steps = 100
weights = { equations = 1.0, "conditions[0]" = 10.0 }
"""

OBSERVATIONS = "x,t,u,y\n0.0,0.5,1.0,0.25\n0.5,0.25,2.0,1.0\n"


def write(directory: Path, text: str, name: str = "spec.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def base() -> dict[str, Any]:
    """A small valid spec as a Python mapping; tests edit copies of it."""
    return {
        "name": "heat1d",
        "fields": ["u"],
        "equations": ["u_t = nu*u_xx"],
        "domain": {"x": [-1.0, 1.0], "t": [0.0, 1.0], "time": "t"},
        "parameters": {"nu": "0.01/pi"},
        "conditions": [
            {"where": "t = 0", "equation": "u = -sin(pi*x)"},
            {"where": "boundary", "equation": "u = 0"},
        ],
    }


_DELETE = object()


def edited(changes: dict[str, Any]) -> dict[str, Any]:
    """``base()`` with dotted paths (``"conditions.0.where"``) set, or removed with _DELETE."""
    spec = base()
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = spec
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if value is _DELETE:
            node.pop(last, None)
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return spec


# ------------------------------------------------------------------------------ round trip
def test_full_spec_round_trip(tmp_path: Path) -> None:
    write(tmp_path, OBSERVATIONS, "observations.csv")
    problem = load_problem(write(tmp_path, FULL))
    assert problem.name == "full-spec_1" and problem.description == "Everything at once"
    assert problem.source == (tmp_path / "spec.toml").resolve()
    assert problem.fields == ("u", "v")
    assert problem.inputs == ("x", "y", "t") and problem.domain.time == "t"
    assert problem.domain.bounds == ((-1.0, 1.0), (0.0, math.pi), (0.0, 1.0))
    assert problem.domain.shape == "box" and problem.domain.periodic == ()
    assert [(p.name, p.trainable, p.text) for p in problem.parameters] == [
        ("nu", False, "0.01/pi"),
        ("k", False, "2"),
        ("half_k", False, "k/2"),
        ("lam", True, "0.5"),
    ]
    assert problem.parameter("nu").value == pytest.approx(0.01 / math.pi, rel=1e-15)
    assert problem.parameter("half_k").value == 1.0 and problem.parameter("lam").value == 0.5
    first, second = problem.equations
    assert first.label == "equations[0]" and second.label == "equations[1]"
    assert first.residual == (
        D(U, T) + U * D(U, X) + V * D(U, Y) - NU * (D(U, (X, 2)) + D(U, (Y, 2)))
    )
    assert second.residual == D(V, T) - K * D(V, (X, 2)) + LAM * V
    assert second.rhs == 0
    found = [(c.label, c.kind, c.variable, c.value) for c in problem.conditions]
    assert found == [
        ("conditions[0]", "plane", "t", 0.0),
        ("conditions[1]", "plane", "x", -1.0),
        ("conditions[2]", "plane", "y", math.pi),
        ("conditions[3]", "boundary", None, None),
        ("conditions[4]", "plane", "x", 0.5),
    ]
    assert problem.conditions[0].equation.residual == U + sympy.sin(sympy.pi * X)
    assert problem.conditions[0].equation.label == "conditions[0].equation"
    assert problem.conditions[1].weight == 10.0 and problem.conditions[1].n_points == 200
    assert problem.conditions[0].weight is None and problem.conditions[0].n_points is None
    assert problem.conditions[2].equation.residual == D(V, Y)
    assert problem.conditions[3].equation.residual == V - input_symbol("half_k")
    assert problem.reference is not None
    assert problem.reference.expressions["u"] == sympy.exp(-NU * T) * sympy.sin(sympy.pi * X)
    assert problem.reference.file is None and problem.reference.fields == ("u",)
    assert problem.data is not None and problem.data.weight == 2.5
    assert problem.data.file == (tmp_path / "observations.csv").resolve()
    np.testing.assert_array_equal(problem.data.points, [[0.0, 0.25, 0.5], [0.5, 1.0, 0.25]])
    assert list(problem.data.values) == ["u"]
    np.testing.assert_array_equal(problem.data.values["u"], [1.0, 2.0])
    assert problem.model == {"type": "kan", "hidden": [16, 16]}
    assert problem.training == {"steps": 100, "weights": {"equations": 1.0, "conditions[0]": 10.0}}


def test_problem_from_dict_matches_toml(tmp_path: Path) -> None:
    spec = base()
    spec["model"] = {"hidden": [8], "basis": {"name": "bspline"}}
    problem = problem_from_dict(spec)
    assert problem.source is None and problem.inputs == ("x", "t")
    assert problem.equations[0].residual == D(field_function("u", "xt"), T) - NU * D(
        field_function("u", "xt"), (X, 2)
    )
    spec["model"]["basis"]["name"] = "changed"  # the problem holds a deep copy
    assert problem.model == {"hidden": [8], "basis": {"name": "bspline"}}
    toml = """
name = "heat1d"
fields = ["u"]
equations = ["u_t = nu*u_xx"]
[domain]
x = [-1.0, 1.0]
t = [0.0, 1.0]
time = "t"
[parameters]
nu = "0.01/pi"
[[conditions]]
where = "t = 0"
equation = "u = -sin(pi*x)"
[[conditions]]
where = "boundary"
equation = "u = 0"
"""
    loaded = load_problem(write(tmp_path, toml))
    assert loaded.equations == problem_from_dict(base()).equations
    assert loaded.conditions == problem_from_dict(base()).conditions
    assert loaded.parameters == problem_from_dict(base()).parameters


def test_value_synonym_constant_bounds_and_shapes() -> None:
    spec = edited(
        {
            "domain.x": [0, "2*L"],
            "parameters.L": {"value": 1.5},
            "conditions.0.where": "x = L",
        }
    )
    spec["parameters"] = {"L": {"value": 1.5}, "nu": 0.1}
    problem = problem_from_dict(spec)
    assert problem.domain.bound("x") == (0.0, 3.0)
    assert problem.parameter("L").value == 1.5 and not problem.parameter("L").trainable
    assert problem.conditions[0].value == 1.5
    disk = problem_from_dict(
        edited(
            {
                "domain.y": [-1, 1],
                "domain.shape": "disk",
                "domain.center": [0, 0],
                "domain.radius": 1,
            }
        )
    ).domain
    assert (disk.shape, disk.center, disk.radius, disk.spatial) == ("disk", (0, 0), 1, ("x", "y"))
    square = [[-1, -1], [1, -1], [1, 1], [-1, 1]]
    polygon = problem_from_dict(
        edited({"domain.y": [-1, 1], "domain.shape": "polygon", "domain.vertices": square})
    ).domain
    assert polygon.vertices == ((-1, -1), (1, -1), (1, 1), (-1, 1))
    periodic = problem_from_dict(edited({"domain.periodic": ["x"]})).domain
    assert periodic.periodic == ("x",)


# ---------------------------------------------------------------------------- file layouts
def _reference_problem(tmp_path: Path, name: str) -> Any:
    return problem_from_dict(edited({"reference.file": name}), base_dir=tmp_path).reference


def test_reference_npz_grid(tmp_path: Path) -> None:
    x, t = np.linspace(-1, 1, 5), np.linspace(0, 1, 3)
    u = np.sin(np.pi * x)[:, None] * np.exp(-t)[None, :]
    np.savez(tmp_path / "grid.npz", t=t, x=x, u=u)
    reference = _reference_problem(tmp_path, "grid.npz")
    assert reference.grid_shape == (5, 3) and reference.file == (tmp_path / "grid.npz").resolve()
    assert reference.points.shape == (15, 2) and reference.values["u"].shape == (15,)
    row = 1 * 3 + 2  # x[1], t[2] in 'ij' order
    np.testing.assert_array_equal(reference.points[row], [x[1], t[2]])
    assert reference.values["u"][row] == u[1, 2]


def test_reference_npz_scattered_and_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, t = rng.uniform(-1, 1, 7), rng.uniform(0, 1, 7)
    np.savez(tmp_path / "scattered.npz", x=x, t=t, u=x * t)
    reference = _reference_problem(tmp_path, "scattered.npz")
    assert reference.grid_shape is None
    np.testing.assert_array_equal(reference.points, np.stack([x, t], axis=1))
    np.testing.assert_array_equal(reference.values["u"], x * t)
    write(tmp_path, "t,u,x\n0.5,1.0,0.0\n0.25,2.0,0.5\n", "ref.csv")
    from_csv = _reference_problem(tmp_path, "ref.csv")
    np.testing.assert_array_equal(from_csv.points, [[0.0, 0.5], [0.5, 0.25]])
    np.testing.assert_array_equal(from_csv.values["u"], [1.0, 2.0])


def test_data_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "obs.npz", x=np.array([0.0, 0.5]), t=np.array([1.0, 0.0]), u=np.ones(2))
    spec = edited({"data.file": "obs.npz", "parameters.nu": {"initial": 0.1, "trainable": True}})
    problem = problem_from_dict(spec, base_dir=tmp_path)
    assert problem.data is not None and problem.data.weight is None
    np.testing.assert_array_equal(problem.data.points, [[0.0, 1.0], [0.5, 0.0]])
    assert problem.parameter("nu").trainable


# ---------------------------------------------------------------------------- validation
DISK = {"domain.y": [-1, 1], "domain.shape": "disk", "domain.center": [0, 0], "domain.radius": 1}


def polygon(vertices: Any) -> dict[str, Any]:
    return {"domain.y": [-1, 1], "domain.shape": "polygon", "domain.vertices": vertices}


SPEC_ERRORS: list[tuple[dict[str, Any], str]] = [
    (
        {"feilds": 1},
        r"feilds: unknown key \(did you mean 'fields'\?\); allowed top-level keys: "
        r"name, description, fields, equations, domain, parameters, conditions",
    ),
    ({"name": _DELETE}, r"name: missing required key; required top-level keys: name, domain"),
    ({"domain": _DELETE}, r"domain: missing required key"),
    ({"fields": _DELETE}, r"fields: missing required key"),
    ({"equations": _DELETE}, r"equations: missing required key"),
    ({"name": "Heat 1D"}, r"name: must match \[a-z0-9_-\]\+ .*received 'Heat 1D'"),
    ({"description": 3}, r"description: must be a string; received int 3"),
    ({"fields": "u"}, r"fields: must be a list, e.g. \[\"u\"\]; received str 'u'"),
    ({"fields": []}, r"fields: must list at least one unknown field"),
    ({"fields": ["u", "u"]}, r"fields\[1\]: field 'u' is listed twice"),
    ({"fields": ["1u"]}, r"fields\[0\]: field name must be a letter followed by"),
    ({"fields": ["sin"]}, r"fields\[0\]: field name 'sin' is reserved; reserved names .*: E, abs"),
    ({"fields": ["pi"]}, r"fields\[0\]: field name 'pi' is reserved"),
    ({"fields": ["E"]}, r"fields\[0\]: field name 'E' is reserved"),
    ({"fields": ["x"]}, r"fields\[0\]: 'x' is also an input; input, field and parameter names"),
    ({"fields": ["nu"]}, r"fields\[0\]: 'nu' is also a parameter"),
    ({"parameters.x": 1.0}, r"parameters\.x: 'x' is also an input"),
    (
        {"domain.shap": "disk"},
        r"domain\.shap: unknown key \(did you mean 'shape'\?\).*reserved "
        r"keys: time, shape, center, radius, vertices, periodic",
    ),
    ({"domain.peroidic": ["x"]}, r"domain\.peroidic.*\(did you mean the reserved key 'periodic'"),
    ({"reference.u": float("inf")}, r"reference\.u: must be a finite number or an expression"),
    ({"domain.x": [1.0, 0.0]}, r"domain\.x: must be \[low, high\] with low < high"),
    ({"domain.x": [0.0]}, r"domain\.x: must be a pair of numbers"),
    ({"domain.x": [0.0, float("nan")]}, r"domain\.x\[1\]: must be a finite number"),
    ({"domain.x": [0.0, True]}, r"domain\.x\[1\]: must be a number or a string constant"),
    ({"domain.x": [0.0, "x"]}, r"domain\.x\[1\]: 'x' is an input variable; a constant cannot"),
    ({"domain.sin": [0.0, 1.0]}, r"domain\.sin: input name 'sin' is reserved"),
    ({"domain": {"time": "t"}}, r"domain: declares no input variable"),
    ({"domain.time": "z"}, r"domain\.time: must name an input \(x, t\); received 'z'"),
    ({"domain.shape": "sphere"}, r"domain\.shape: must be one of box, disk, polygon"),
    (
        {"domain.center": [0, 0]},
        r"domain\.center: is only used with shape = 'disk'; this domain "
        r"has shape = 'box'",
    ),
    ({"domain.shape": "disk"}, r"domain\.shape: shape = 'disk' spans the first two spatial"),
    ({**DISK, "domain.radius": _DELETE}, r"domain\.radius: is required for shape = 'disk'"),
    ({**DISK, "domain.radius": -1}, r"domain\.radius: must be positive"),
    ({**DISK, "domain.radius": 2}, r"domain\.radius: the disk .* must enclose the disk"),
    ({**DISK, "domain.center": [0]}, r"domain\.center: must be a pair of numbers"),
    ({**DISK, "domain.vertices": []}, r"domain\.vertices: is only used with shape = 'polygon'"),
    ({**polygon(None), "domain.vertices": _DELETE}, r"domain\.vertices: is required"),
    (
        polygon([[0, 0], [1, 0]]),
        r"domain\.vertices: needs at least 3 \[x, y\] vertices; received 2",
    ),
    (polygon([[0, 0], [1], [0, 1]]), r"domain\.vertices\[1\]: must be a pair of numbers"),
    (
        polygon([[0, 0], [1, 1], [1, 0], [0, 1]]),
        r"domain\.vertices: must describe a simple polygon; edges 0 and 2 intersect",
    ),
    (polygon([[0, 0], [0.5, 0.5], [1, 1]]), r"domain\.vertices: must enclose a positive area"),
    (
        polygon([[0, 0], [2, 0], [0, 1]]),
        r"domain\.vertices\[1\]: \[2\.0, 0\.0\] lies outside the range of x",
    ),
    (
        {"domain.periodic": ["z"]},
        r"domain\.periodic\[0\]: 'z' is not an input; periodic "
        r"variables must be spatial inputs sampled as intervals: x",
    ),
    ({"domain.periodic": ["t"]}, r"domain\.periodic\[0\]: 't' cannot be periodic"),
    ({"domain.periodic": "x"}, r"domain\.periodic: must be a list"),
    ({"parameters.nu": [1.0]}, r"parameters\.nu: must be a number, a constant expression string"),
    ({"parameters.nu": True}, r"parameters\.nu: must be a number, a constant expression"),
    (
        {"parameters.nu": {"guess": 1.0}},
        r"parameters\.nu\.guess: unknown key; allowed "
        r"parameter keys: initial, value, trainable",
    ),
    ({"parameters.nu": {"initial": 1.0, "value": 1.0}}, r"parameters\.nu: give initial or value"),
    ({"parameters.nu": {"trainable": False}}, r"parameters\.nu: a parameter table needs initial"),
    (
        {"parameters.nu": {"initial": 1.0, "trainable": "yes"}},
        r"parameters\.nu\.trainable: must be true or false",
    ),
    (
        {"parameters.nu": {"initial": 1.0, "trainable": True}},
        r"parameters\.nu: is trainable but the spec has no \[data\] table",
    ),
    ({"parameters.nu": "2*k", "parameters.k": 1}, r"parameters\.nu: 'k' is defined later"),
    ({"parameters.nu": "1/0"}, r"parameters\.nu: '1/0' is not finite"),
    ({"parameters.nu": "x"}, r"parameters\.nu: 'x' is an input or a field"),
    ({"parameters.2nu": 1.0}, r"parameters\.2nu: parameter name must be a letter"),
    ({"equations": "u_t = 0"}, r"equations: must be a list"),
    ({"equations": []}, r"equations: must list at least one equation"),
    (
        {"equations": ["u_t = w*u_xx"]},
        r"equations\[0\]: unknown name 'w'; known names: nu, t, "
        r"u, x",
    ),
    ({"equations": ["u_t = 0", "x = 1"]}, r"equations\[1\]: 'x = 1' does not involve any field"),
    ({"equations": ["u_t == 0"]}, r"equations\[0\]: operator '=='"),
    (
        {"conditions": {"where": "t = 0", "equation": "u = 0"}},
        r"conditions: must be an array of tables: write \[\[conditions\]\]",
    ),
    ({"conditions": [1]}, r"conditions\[0\]: must be a table"),
    (
        {"conditions.0.wehre": "t = 0"},
        r"conditions\[0\]\.wehre: unknown key \(did you mean "
        r"'where'\?\); allowed keys: where, equation, weight, points",
    ),
    ({"conditions.0.equation": _DELETE}, r"conditions\[0\]\.equation: missing required key"),
    (
        {"conditions.0.where": "top"},
        r"conditions\[0\]\.where: must be 'boundary', '<variable> "
        r"= <number or constant expression>', '<variable> = min' or '<variable> = max'; received "
        r"'top'",
    ),
    ({"conditions.0.where": "t == 0"}, r"conditions\[0\]\.where: must be 'boundary'"),
    ({"conditions.0.where": "z = 0"}, r"conditions\[0\]\.where: 'z' is not an input.*\(x, t\)"),
    (
        {"conditions.0.where": "x = 5"},
        r"conditions\[0\]\.where: x = 5\.0 lies outside the range "
        r"of x \[-1\.0, 1\.0\]",
    ),
    (
        {"conditions.0.where": "x = middle"},
        r"conditions\[0\]\.where: unknown name 'middle'.*must "
        r"be 'boundary'",
    ),
    ({"conditions.0.where": 0}, r"conditions\[0\]\.where: must be a string"),
    ({"conditions.0.weight": -1.0}, r"conditions\[0\]\.weight: must be a positive finite number"),
    ({"conditions.0.weight": "big"}, r"conditions\[0\]\.weight: must be a positive finite"),
    ({"conditions.0.points": 0}, r"conditions\[0\]\.points: must be a positive integer"),
    ({"conditions.0.points": 1.5}, r"conditions\[0\]\.points: must be a positive integer"),
    ({"conditions.0.points": True}, r"conditions\[0\]\.points: must be a positive integer"),
    ({"conditions.1.equation": "u = q"}, r"conditions\[1\]\.equation: unknown name 'q'"),
    (
        {"conditions.1.equation": "nu = 1"},
        r"conditions\[1\]\.equation: .*does not involve any "
        r"field",
    ),
    (
        {"reference.w": "x"},
        r"reference\.w: unknown key; allowed keys \(file and the fields\): "
        r"file, u",
    ),
    ({"reference": {}}, r"reference: is empty; give a closed form per field"),
    (
        {"reference.u": "u_x + x"},
        r"reference\.u: uses the field u; a closed form may use only "
        r"the inputs \(x, t\)",
    ),
    ({"reference.u": "sin(q)"}, r"reference\.u: unknown name 'q'"),
    ({"reference.u": ["x"]}, r"reference\.u: must be a string"),
    ({"reference.file": 1}, r"reference\.file: must be a file path"),
    ({"reference.file": "missing.npz"}, r"reference\.file: .*missing\.npz does not exist"),
    (
        {"reference.file": "ref.txt"},
        r"reference\.file: 'ref\.txt' has suffix '\.txt'; allowed "
        r"file types: \.npz, \.csv",
    ),
    ({"data": {}}, r"data\.file: missing required key"),
    (
        {"data.file": "obs.csv", "data.every": 2},
        r"data\.every: unknown key; allowed keys: file, "
        r"weight",
    ),
    ({"data.file": "missing.csv"}, r"data\.file: .*missing\.csv does not exist"),
    ({"model": [1]}, r"model: must be a table; received list"),
    ({"training": {"steps": object()}}, r"training\.steps: must hold TOML values"),
]


@pytest.mark.parametrize(("changes", "match"), SPEC_ERRORS)
def test_spec_errors(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=r"^<spec>: " + match):
        problem_from_dict(edited(changes))


def test_spec_must_be_a_table() -> None:
    with pytest.raises(SpecError, match=r"^<spec>: spec: must be a table; received list"):
        problem_from_dict([1])  # type: ignore[arg-type]


FILE_ERRORS: list[tuple[str, str | bytes | dict[str, np.ndarray], str]] = [
    (
        "ref.npz",
        {"x": np.zeros(3), "u": np.zeros(3)},
        r"has no array for input 't'; it needs one "
        r"per input \(x, t\) and at least one field \(u\); found: x, u",
    ),
    ("ref.npz", {"x": np.zeros(3), "t": np.zeros(3)}, r"has no array for any field"),
    (
        "ref.npz",
        {"x": np.zeros(3), "t": np.zeros(3), "u": np.zeros(3), "p": np.zeros(3)},
        r"array 'p' is neither an input \(x, t\) nor a field \(u\)",
    ),
    (
        "ref.npz",
        {"x": np.zeros(3), "t": np.zeros(2), "u": np.zeros((2, 3))},
        r"arrays have inconsistent shapes \(x \(3,\), t \(2,\), u \(2, 3\)\)",
    ),
    (
        "ref.npz",
        {"x": np.zeros(3), "t": np.zeros(3), "u": np.array([0, np.nan, 0])},
        r"array 'u' has a non-finite value \(nan\) in index 1",
    ),
    ("ref.npz", {"x": np.zeros(0), "t": np.zeros(0), "u": np.zeros(0)}, r"holds no points"),
    (
        "ref.npz",
        {"x": np.zeros(2), "t": np.zeros(2), "u": np.array(["a", "b"])},
        r"array 'u' has dtype <U1; expected real numbers",
    ),
    ("ref.npz", "not a zip archive", r"cannot read .*ref\.npz as an \.npz archive"),
    (
        "ref.csv",
        "x,t,u\n0,0,inf\n",
        r"column 'u' has a non-finite value \(inf\) in row 1 "
        r"\(line 2\)",
    ),
    (
        "data.csv",
        "x,t,u\n0,0,1\n0.5,0,nan\n",
        r"column 'u' has a non-finite value \(nan\) in "
        r"row 2 \(line 3\)",
    ),
    ("data.csv", "x,u\n0,1\n", r"has no column for input 't'"),
    ("data.csv", "x,t,u,p\n0,0,1,1\n", r"column 'p' is neither an input \(x, t\) nor a field"),
    ("data.csv", "x,t\n0,0\n", r"has no column for any field; expected at least one of u"),
    ("data.csv", "x,t,u\n", r"has no rows of observations"),
    ("data.csv", "", r"is empty; expected a header row"),
    ("data.csv", "x,t,u\n0,0,abc\n", r"line 2, column 'u': 'abc' is not a number"),
    ("data.csv", "x,t,u\n0,0\n", r"line 2 has 2 values; the header has 3"),
    ("data.csv", "x,t,t\n0,0,0\n", r"column 't' appears twice in the header"),
    ("data.csv", b"x,t,u\n\xff,0,0\n", r"cannot read .* as UTF-8 CSV"),
    (
        "data.npz",
        {"x": np.zeros((2, 2)), "t": np.zeros((2, 2)), "u": np.zeros((2, 2))},
        r"columns must be 1-D arrays of one length",
    ),
]


@pytest.mark.parametrize(("name", "content", "match"), FILE_ERRORS)
def test_file_errors(
    tmp_path: Path, name: str, content: str | bytes | dict[str, np.ndarray], match: str
) -> None:
    path = tmp_path / name
    if isinstance(content, dict):
        np.savez(path, **content)  # type: ignore[arg-type]
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    key = "reference" if name.startswith("ref") else "data"
    changes: dict[str, Any] = {f"{key}.file": name}
    if key == "data":
        changes["parameters.nu"] = {"initial": 0.1, "trainable": True}
    with pytest.raises(SpecError, match=rf"^<spec>: {key}\.file: .*{match}"):
        problem_from_dict(edited(changes), base_dir=tmp_path)


def test_data_weight_must_be_positive(tmp_path: Path) -> None:
    write(tmp_path, "x,t,u\n0,0,1\n", "obs.csv")
    with pytest.raises(SpecError, match=r"data\.weight: must be a positive finite number"):
        problem_from_dict(edited({"data.file": "obs.csv", "data.weight": 0}), base_dir=tmp_path)


def test_load_problem_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"missing\.toml: spec file not found"):
        load_problem(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match=r": cannot read the spec file"):
        load_problem(tmp_path)
    with pytest.raises(SpecError, match=r"bad\.toml: TOML syntax error: .*line 1"):
        load_problem(write(tmp_path, 'name = "x\n', "bad.toml"))
    binary = tmp_path / "latin1.toml"
    binary.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(SpecError, match=r"latin1\.toml: not a UTF-8 text file"):
        load_problem(binary)
    source = re.escape(str((tmp_path / "spec.toml").resolve()))
    with pytest.raises(SpecError, match=rf"^{source}: fields: missing required"):
        load_problem(write(tmp_path, 'name = "a"\nequations = ["u"]\n[domain]\nx = [0, 1]\n'))


DOCS = Path(__file__).resolve().parents[1] / "docs" / "spec-format.md"


def test_documented_examples_load(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    specs = [block for block in blocks if block.startswith("name = ")]
    assert len(specs) == 4
    write(tmp_path, "x,t,u\n0.25,0.1,0.6425\n0.5,0.1,0.9086\n", "heat_observations.csv")
    for i, text in enumerate(specs):
        problem = load_problem(write(tmp_path, text, f"example{i}.toml"))
        assert problem.equations and problem.fields == ("u",)


def test_relative_files_resolve_against_the_spec_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    np.savez(tmp_path / "sub" / "ref.npz", x=np.zeros(2), t=np.ones(2), u=np.zeros(2))
    spec = FULL.replace('file = "observations.csv"', 'file = "obs.csv"')
    spec = spec.replace('u = "exp(-nu*t)*sin(pi*x)"', 'file = "../sub/ref.npz"')
    spec = spec.replace('y = [0, "pi"]\n', "").replace("v*u_y", "v").replace("u_yy", "u")
    spec = spec.replace('where = "y = max"', 'where = "x = max"').replace("v_y = 0", "v_x = 0")
    (tmp_path / "specs").mkdir()
    write(tmp_path / "specs", "x,t,v\n0,0,1\n", "obs.csv")
    problem = load_problem(write(tmp_path / "specs", spec))
    assert problem.reference is not None and problem.reference.file is not None
    assert problem.reference.file == (tmp_path / "sub" / "ref.npz").resolve()
    assert problem.data is not None and list(problem.data.values) == ["v"]
