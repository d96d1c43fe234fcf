"""Residual compiler: every node against numpy, gradients, requirements, errors, and residuals of
parsed equations evaluated on manufactured solutions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import sympy
import torch

from kanphys.errors import SpecError
from kanphys.io.spec import problem_from_dict
from kanphys.pde.compile import _UNARY, Environment, compile_expression
from kanphys.pde.problem import DerivativeKey, Problem, field_function, input_symbol

INPUTS = ("x", "y", "t")
X, Y, T = (input_symbol(v) for v in INPUTS)
NU, K = input_symbol("nu"), input_symbol("k")
U, V = field_function("u", INPUTS), field_function("v", INPUTS)
D = sympy.Derivative
N_POINTS = 64
PARAMETERS = {"nu": 0.3, "k": 1.7}

# Environment tables: names of the numpy arrays (for the reference formulas) and their keys.
DERIVATIVES: dict[str, DerivativeKey] = {
    "u": ("u", ()),
    "u_x": ("u", ("x",)),
    "u_t": ("u", ("t",)),
    "u_xx": ("u", ("x", "x")),
    "u_xy": ("u", ("x", "y")),
    "u_xt": ("u", ("x", "t")),
    "u_xxy": ("u", ("x", "x", "y")),
    "v": ("v", ()),
    "v_y": ("v", ("y",)),
}

Reference = Callable[[Mapping[str, np.ndarray]], Any]

# (id, expression, the same maths in numpy); the values drawn below keep every argument inside
# the function's domain (log and sqrt of positive numbers, |asin argument| < 1, acosh >= 1).
NODES: list[tuple[str, sympy.Expr, Reference]] = [
    ("input", T, lambda v: v["t"]),
    ("add", X + Y + 2, lambda v: v["x"] + v["y"] + 2),
    ("subtract", X - Y, lambda v: v["x"] - v["y"]),
    ("multiply", 3 * X * Y * T, lambda v: 3 * v["x"] * v["y"] * v["t"]),
    ("divide", X / Y, lambda v: v["x"] / v["y"]),
    ("negate", -X, lambda v: -v["x"]),
    ("square", (X + Y) ** 2, lambda v: (v["x"] + v["y"]) ** 2),
    ("square root", sympy.sqrt(X + Y), lambda v: np.sqrt(v["x"] + v["y"])),
    ("reciprocal", 1 / (X + Y), lambda v: 1 / (v["x"] + v["y"])),
    ("cube", (X - Y) ** 3, lambda v: (v["x"] - v["y"]) ** 3),
    ("negative integer power", X**-3, lambda v: v["x"] ** -3.0),
    ("negative half power", X ** sympy.Rational(-1, 2), lambda v: v["x"] ** -0.5),
    ("rational power", X ** sympy.Rational(3, 2), lambda v: v["x"] ** 1.5),
    ("float power", X**1.7, lambda v: v["x"] ** 1.7),
    ("irrational power", X**sympy.pi, lambda v: v["x"] ** np.pi),
    ("symbolic power", X**Y, lambda v: v["x"] ** v["y"]),
    ("parameter power", (X + 1) ** NU, lambda v: (v["x"] + 1) ** v["nu"]),
    ("field power", U ** sympy.Rational(1, 3), lambda v: v["u"] ** (1 / 3)),
    ("number to a power", 2**X, lambda v: 2.0 ** v["x"]),
    ("E to a power", sympy.Pow(sympy.E, X + Y, evaluate=False), lambda v: np.exp(v["x"] + v["y"])),
    ("integer", sympy.Integer(-3), lambda v: np.full_like(v["x"], -3.0)),
    ("float", sympy.Float(2.5), lambda v: np.full_like(v["x"], 2.5)),
    ("rational", sympy.Rational(1, 3) * X, lambda v: v["x"] / 3),
    ("pi", sympy.pi, lambda v: np.full_like(v["x"], np.pi)),
    ("E", sympy.E * X, lambda v: np.e * v["x"]),
    ("constant function", sympy.log(2) * X, lambda v: np.log(2) * v["x"]),
    ("parameters", NU * X + K, lambda v: v["nu"] * v["x"] + v["k"]),
    ("field", U, lambda v: v["u"]),
    ("second field", V * D(V, Y), lambda v: v["v"] * v["v_y"]),
    ("derivative", D(U, X), lambda v: v["u_x"]),
    ("second derivative", D(U, (X, 2)), lambda v: v["u_xx"]),
    ("mixed derivative in any order", D(U, Y, X), lambda v: v["u_xy"]),
    ("mixed time derivative", D(U, T, X), lambda v: v["u_xt"]),
    ("third derivative", D(U, Y, (X, 2)), lambda v: v["u_xxy"]),
    (
        "burgers residual",
        D(U, T) + U * D(U, X) - NU * D(U, (X, 2)),
        lambda v: v["u_t"] + v["u"] * v["u_x"] - v["nu"] * v["u_xx"],
    ),
    (
        "nested",
        sympy.sin(U) * sympy.exp(-NU * T) + sympy.log(X) / (1 + D(U, X) ** 2),
        lambda v: np.sin(v["u"]) * np.exp(-v["nu"] * v["t"]) + np.log(v["x"]) / (1 + v["u_x"] ** 2),
    ),
]

# every function of the compiler's table: (argument, numpy function)
FUNCTIONS: dict[Any, tuple[sympy.Expr, Callable[[np.ndarray], np.ndarray]]] = {
    sympy.sin: (X, np.sin),
    sympy.cos: (X, np.cos),
    sympy.tan: (X, np.tan),
    sympy.exp: (X, np.exp),
    sympy.log: (X, np.log),
    sympy.tanh: (X, np.tanh),
    sympy.sinh: (X, np.sinh),
    sympy.cosh: (X, np.cosh),
    sympy.asin: (X - 0.5, np.arcsin),
    sympy.acos: (X - 0.5, np.arccos),
    sympy.atan: (X, np.arctan),
    sympy.atanh: (X - 0.5, np.arctanh),
    sympy.asinh: (X - 0.5, np.arcsinh),
    sympy.acosh: (X + 1.5, np.arccosh),
    sympy.Abs: (X - 0.5, np.abs),
    sympy.sign: (X - 0.5, np.sign),
}
ARGUMENTS: dict[str, Reference] = {
    "x": lambda v: v["x"],
    "x - 0.5": lambda v: v["x"] - 0.5,
    "x + 1.5": lambda v: v["x"] + 1.5,
}


def drawn_values(dtype: torch.dtype) -> dict[str, np.ndarray]:
    """Inputs, field values and derivatives, rounded to ``dtype`` and returned in float64."""
    generator = torch.Generator().manual_seed(0)

    def uniform(low: float, high: float) -> np.ndarray:
        sample = low + (high - low) * torch.rand(N_POINTS, generator=generator, dtype=dtype)
        return sample.double().numpy()

    values: dict[str, Any] = {
        "x": uniform(0.1, 0.9),
        "y": uniform(0.2, 0.8),
        "t": uniform(0.1, 0.5),
    }
    values["u"] = uniform(0.2, 0.8)
    values.update({name: uniform(-2.0, 2.0) for name in DERIVATIVES if name != "u"})
    values.update(PARAMETERS)
    return values


def environment(values: Mapping[str, Any], dtype: torch.dtype) -> Environment:
    def tensor(value: Any) -> torch.Tensor:
        return torch.as_tensor(value, dtype=dtype)

    return Environment(
        {name: tensor(values[name]) for name in INPUTS},
        {key: tensor(values[name]) for name, key in DERIVATIVES.items()},
        {name: tensor(values[name]) for name in PARAMETERS},
    )


def check_against_numpy(expr: sympy.Expr, reference: Reference, dtype: torch.dtype, tol) -> None:
    values = drawn_values(dtype)
    out = compile_expression(expr, INPUTS)(environment(values, dtype))
    expected = np.broadcast_to(reference(values), (N_POINTS,))
    assert out.dtype == dtype and out.shape == (N_POINTS,)
    # both sides evaluate the same few operations on the same (dtype-rounded) numbers
    bound = tol.values(dtype, np.abs(expected).max())
    np.testing.assert_allclose(out.double().numpy(), expected, rtol=0, atol=bound)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("expr", "reference"), [c[1:] for c in NODES], ids=[c[0] for c in NODES])
def test_nodes_match_numpy(expr: sympy.Expr, reference: Reference, dtype, tol) -> None:
    check_against_numpy(expr, reference, dtype, tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("function", list(FUNCTIONS), ids=lambda f: f.__name__)
def test_functions_match_numpy(function, dtype, tol) -> None:
    argument, numpy_function = FUNCTIONS[function]
    expr = function(argument)
    assert expr.func is function  # sympy kept the call (no automatic rewriting)
    inner = ARGUMENTS[str(argument)]
    check_against_numpy(expr, lambda v: numpy_function(inner(v)), dtype, tol)
    # and applied to a field value
    check_against_numpy(
        function(argument.subs(X, U)), lambda v: numpy_function(inner({"x": v["u"]})), dtype, tol
    )


def test_every_function_of_the_table_is_tested() -> None:
    assert set(FUNCTIONS) == set(_UNARY)


def test_sign_and_abs_on_both_sides_of_zero() -> None:
    values = {"x": np.array([0.1, 0.5, 0.9])}
    env = Environment({name: torch.tensor(values["x"]) for name in INPUTS})
    compiled = compile_expression(sympy.sign(X - 0.5) + 10 * sympy.Abs(X - 0.5), INPUTS)
    torch.testing.assert_close(
        compiled(env), torch.tensor([3.0, 0.0, 5.0], dtype=torch.float64), rtol=0, atol=1e-14
    )


def test_gradients_reach_parameters_and_derivatives(tol) -> None:
    expr = D(U, T) + U * D(U, X) - NU * D(U, (X, 2)) + sympy.exp(-K * T) * sympy.sin(NU * X)
    compiled = compile_expression(expr, INPUTS, label="equations[0]")
    assert compiled.parameters == frozenset({"nu", "k"})
    values = drawn_values(torch.float64)
    env = environment(values, torch.float64)
    leaves = [*env.parameters.values(), *env.derivatives.values()]
    for leaf in leaves:
        leaf.requires_grad_(True)
    out = compiled(env)
    names = [*env.parameters, *DERIVATIVES]
    grads = dict(zip(names, torch.autograd.grad(out.sum(), leaves, allow_unused=True), strict=True))
    x, t, nu, k = values["x"], values["t"], values["nu"], values["k"]
    expected = {
        "nu": np.sum(-values["u_xx"] + np.exp(-k * t) * np.cos(nu * x) * x),
        "k": np.sum(-t * np.exp(-k * t) * np.sin(nu * x)),
        "u": values["u_x"],
        "u_x": values["u"],
        "u_t": np.ones(N_POINTS),
        "u_xx": np.full(N_POINTS, -nu),
    }
    for name, value in expected.items():
        bound = tol.values(torch.float64, np.abs(value).max() * N_POINTS)
        np.testing.assert_allclose(grads[name].numpy(), value, rtol=0, atol=bound, err_msg=name)
    for unused in ("u_xy", "u_xt", "u_xxy", "v", "v_y"):
        assert grads[unused] is None, unused


@pytest.mark.parametrize(
    ("expr", "requires"),
    [
        (
            D(U, T) + U * D(U, X) - NU * D(U, (X, 2)),
            {("u", ()), ("u", ("t",)), ("u", ("x",)), ("u", ("x", "x"))},
        ),
        # a field used only inside derivatives does not need its value
        (D(U, T) - NU * D(U, (X, 2)), {("u", ("t",)), ("u", ("x", "x"))}),
        # mixed derivatives are keyed with their variables in input order
        (
            D(U, T, X) + D(U, Y, X) + D(U, T, Y, X),
            {("u", ("x", "t")), ("u", ("x", "y")), ("u", ("x", "y", "t"))},
        ),
        (V * D(U, X) + D(V, Y) ** 2, {("u", ("x",)), ("v", ()), ("v", ("y",))}),
        (sympy.sin(U) * D(V, (Y, 2)), {("u", ()), ("v", ("y", "y"))}),
        (NU * sympy.sin(sympy.pi * X) + T, set()),
    ],
    ids=["burgers", "derivatives only", "mixed", "two fields", "inside a function", "no field"],
)
def test_requires_lists_the_derivative_keys(expr: sympy.Expr, requires: set) -> None:
    assert compile_expression(expr, INPUTS).requires == frozenset(requires)


UNSUPPORTED = [
    (sympy.Max(X, Y), "Max"),
    (X + sympy.Min(X, U), "Min"),
    (sympy.Piecewise((X, X > Y), (Y, True)), "Piecewise"),
    (sympy.atan2(Y, X), "atan2"),
    (sympy.floor(X) * U, "floor"),
    (sympy.erf(D(U, X)), "erf"),
    (sympy.I * X, "ImaginaryUnit"),
    (sympy.sin(sympy.gamma(X)), "gamma"),
]


@pytest.mark.parametrize(("expr", "name"), UNSUPPORTED, ids=[u[1] for u in UNSUPPORTED])
def test_unsupported_nodes_raise_at_compile_time(expr: sympy.Expr, name: str) -> None:
    with pytest.raises(SpecError, match=rf"^equations\[2\]: cannot compile .*\({name}\); "):
        compile_expression(expr, INPUTS, label="equations[2]")


def test_unsupported_node_message_lists_what_is_supported() -> None:
    supported = (
        r"supported are \+, -, \*, /, \*\*, numbers, inputs, parameters, fields, derivatives and "
        r"Abs, acos, acosh, asin, asinh, atan, atanh, cos, cosh, exp, log, sign, sin, sinh, tan, "
        r"tanh$"
    )
    with pytest.raises(SpecError, match=r"^expression: cannot compile Max\(x, y\) \(Max\); "):
        compile_expression(sympy.Max(X, Y), INPUTS)
    with pytest.raises(SpecError, match=supported):
        compile_expression(sympy.Max(X, Y), INPUTS)


def test_field_at_other_arguments_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"evaluates a field away from the point.*\(x, y, t\)"):
        compile_expression(sympy.Function("u")(sympy.Integer(0), Y, T), INPUTS)


# --------------------------------------------------------------------------------------------
# parsed equations on manufactured solutions
# --------------------------------------------------------------------------------------------

BOX_XT = {"x": [-1.0, 1.0], "t": [0.0, 1.0], "time": "t"}


def problem(fields: list[str], equations: list[str], domain: dict, **extra: Any) -> Problem:
    spec = {"name": "manufactured", "fields": fields, "equations": equations, "domain": domain}
    return problem_from_dict({**spec, **extra})


def interior_points(problem: Problem, n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(3)
    low, high = np.array(problem.domain.bounds).T
    return low + (high - low) * rng.random((n, len(low)))


def exact_environment(
    problem: Problem, solution: Mapping[str, sympy.Expr], points: np.ndarray
) -> Environment:
    """Every field derivative that the equations use, from ``sympy.diff`` of ``solution``."""
    symbols = [input_symbol(v) for v in problem.inputs]
    derivatives = {}
    for key in problem.required_derivatives():
        name, variables = key
        expr = solution[name]
        for variable in variables:
            expr = sympy.diff(expr, input_symbol(variable))
        value = sympy.lambdify(symbols, expr, "numpy")(*points.T)
        derivatives[key] = torch.tensor(np.broadcast_to(value, (len(points),)).copy())
    return Environment(
        {name: torch.tensor(points[:, i]) for i, name in enumerate(problem.inputs)},
        derivatives,
        {p.name: torch.tensor(p.value, dtype=torch.float64) for p in problem.parameters},
    )


def residuals_and_scales(problem: Problem, env: Environment) -> list[tuple[torch.Tensor, float]]:
    """Per equation: the compiled residual and the largest sum of its terms' sizes."""
    result = []
    for equation in problem.equations:
        residual = compile_expression(equation.residual, problem.inputs, label=equation.label)
        terms = [
            compile_expression(term, problem.inputs)(env).abs()
            for term in sympy.Add.make_args(equation.residual)
        ]
        result.append((residual(env), float(torch.stack(terms).sum(dim=0).max())))
    return result


MANUFACTURED = [
    (
        "poisson",
        problem(
            ["u"],
            ["-(u_xx + u_yy) = 2*pi**2*sin(pi*x)*sin(pi*y)"],
            {"x": [-1.0, 1.0], "y": [-1.0, 1.0]},
        ),
        {"u": "sin(pi*x)*sin(pi*y)"},
        {"u": "sin(pi*x)*sin(pi*y)*(1 + x/10)"},
    ),
    (
        "burgers",
        # u = x / (1 + t) solves u_t + u u_x = 0 and has u_xx = 0
        problem(["u"], ["u_t + u*u_x = nu*u_xx"], BOX_XT, parameters={"nu": "0.01/pi"}),
        {"u": "x/(1 + t)"},
        {"u": "x/(1 + 2*t)"},
    ),
    (
        "heat",
        problem(["u"], ["u_t = kappa*u_xx"], BOX_XT, parameters={"kappa": "1/pi**2"}),
        {"u": "exp(-t)*sin(pi*x)"},
        {"u": "exp(-2*t)*sin(pi*x)"},
    ),
    (
        "system",
        problem(
            ["u", "v"],
            ["u_t = v_x", "v_t = u_x", "u_xt + u*v = sin(x - t) - sin(x - t)**2"],
            BOX_XT,
        ),
        {"u": "sin(x - t)", "v": "-sin(x - t)"},
        {"u": "sin(x - t)", "v": "sin(x - t)"},
    ),
    (
        "functions",
        # u = log(1 + x^2 + t): exp(u) u_t = 1 and u_x = 2 x exp(-u)
        problem(
            ["u"], ["u_t*exp(u) = 1", "u_x = 2*x*exp(-u)", "sqrt(exp(u) - t - 1) = abs(x)"], BOX_XT
        ),
        {"u": "log(1 + x**2 + t)"},
        {"u": "log(1 + x**2 + 2*t)"},
    ),
]


def parsed(problem: Problem, solution: Mapping[str, str]) -> dict[str, sympy.Expr]:
    table = {name: input_symbol(name) for name in problem.inputs}
    return {name: sympy.sympify(text, locals=table) for name, text in solution.items()}


@pytest.mark.parametrize(
    ("problem", "solution", "wrong"),
    [m[1:] for m in MANUFACTURED],
    ids=[m[0] for m in MANUFACTURED],
)
def test_residuals_vanish_on_manufactured_solutions(problem, solution, wrong, tol) -> None:
    points = interior_points(problem)
    exact = residuals_and_scales(
        problem, exact_environment(problem, parsed(problem, solution), points)
    )
    for (residual, scale), equation in zip(exact, problem.equations, strict=True):
        # exact derivatives: only the rounding of the terms (of size <= scale) remains
        bound = tol.values(torch.float64, scale)
        assert residual.abs().max() <= bound, (equation.text, float(residual.abs().max()), bound)
    wrong_env = exact_environment(problem, parsed(problem, wrong), points)
    violations = [
        float(residual.abs().max()) / scale
        for residual, scale in residuals_and_scales(problem, wrong_env)
    ]
    # a wrong solution leaves a residual of the size of the terms themselves
    assert max(violations) > 1e-2, violations
