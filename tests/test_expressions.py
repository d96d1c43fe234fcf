"""The spec expression parser: values against sympy built directly, and every error path."""

from __future__ import annotations

import ast
import inspect
import time
from pathlib import Path
from typing import Any

import pytest
import sympy

from kanphys.errors import SpecError
from kanphys.io.spec import load_problem
from kanphys.pde import _expression_tree, expressions
from kanphys.pde.expressions import (
    ALLOWED_CONSTANTS,
    FUNCTIONS,
    MAX_LENGTH,
    MAX_TOKENS,
    parse_constant,
    parse_equation,
    parse_expression,
)
from kanphys.pde.problem import derivative_key, field_function, input_symbol

INPUTS = ("x", "y", "t")
X, Y, T = (input_symbol(v) for v in INPUTS)
NU = input_symbol("nu")
U = field_function("u", INPUTS)


def parse(text: Any, **overrides: Any) -> sympy.Expr:
    options: dict[str, Any] = {
        "names": {"nu": NU},
        "inputs": INPUTS,
        "fields": ("u",),
        "label": "equations[0]",
        "source": "<spec>",
    }
    options.update(overrides)
    return parse_expression(text, **options)


def equation(text: str) -> tuple[sympy.Expr, sympy.Expr]:
    return parse_equation(
        text, names={"nu": NU}, inputs=INPUTS, fields=("u",), label="equations[0]", source="<spec>"
    )


def constant(value: Any, **names: float) -> float:
    return parse_constant(value, names=names, label="parameters.nu", source="spec.toml")


# ------------------------------------------------------------------------------------- values
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x + y", X + Y),
        ("x - y", X - Y),
        ("x * y", X * Y),
        ("x / y", X / Y),
        ("x ** 2", X**2),
        ("-x", -X),
        ("+x", X),
        ("x - y - t", (X - Y) - T),
        ("x / y / t", (X / Y) / T),
        ("2 ** 3 ** 2", sympy.Integer(512)),
        ("-x**2", -(X**2)),
        ("(-x)**2", X**2),
        ("x + y * t", X + Y * T),
        ("(x + y) * t", (X + Y) * T),
        ("x * y ** 2", X * Y**2),
        ("x**-1", 1 / X),
        ("1/2*x", X / 2),
        ("3", sympy.Integer(3)),
        ("2.5*x", sympy.Float(2.5) * X),
        ("1e-4*x", sympy.Float(1e-4) * X),
        ("1_000*x", 1000 * X),
        ("pi*x", sympy.pi * X),
        ("E**x", sympy.exp(X)),
        ("nu*u", NU * U),
        ("  x\n  + y\t", X + Y),
    ],
)
def test_operators_precedence_and_numbers(text: str, expected: sympy.Expr) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_matches_sympy(name: str) -> None:
    assert parse(f"{name}(x*y)") == FUNCTIONS[name](X * Y)


def test_function_table_and_constants() -> None:
    listed = "sin cos tan exp log sqrt tanh sinh cosh asin acos atan atanh abs sign".split()
    assert set(listed) <= set(FUNCTIONS)
    assert FUNCTIONS["abs"] is sympy.Abs and FUNCTIONS["sign"] is sympy.sign
    assert ALLOWED_CONSTANTS == {"pi": sympy.pi, "E": sympy.E}
    assert parse("log(x, 2)") == sympy.log(X, 2)
    assert parse("sin(pi*x)*exp(-nu*t)") == sympy.sin(sympy.pi * X) * sympy.exp(-NU * T)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("u", U),
        ("u_x", sympy.Derivative(U, X)),
        ("u_t", sympy.Derivative(U, T)),
        ("u_xx", sympy.Derivative(U, (X, 2))),
        ("u_xy", sympy.Derivative(U, X, Y)),
        ("u_yx", sympy.Derivative(U, X, Y)),
        ("u_yxx", sympy.Derivative(U, (X, 2), Y)),
        ("diff(u, x)", sympy.Derivative(U, X)),
        ("diff(u, x, 2)", sympy.Derivative(U, (X, 2))),
        ("diff(u, x, y)", sympy.Derivative(U, X, Y)),
        ("diff(u, y, x)", sympy.Derivative(U, X, Y)),
        ("diff(u, y, x, 2)", sympy.Derivative(U, (X, 2), Y)),
        ("diff(diff(u, x), y)", sympy.Derivative(U, X, Y)),
        ("diff(u_x, x)", sympy.Derivative(U, (X, 2))),
    ],
)
def test_derivative_notations(text: str, expected: sympy.Expr) -> None:
    assert parse(text) == expected


def test_derivative_notations_agree() -> None:
    assert parse("u_xy") == parse("u_yx") == parse("diff(u, y, x)")
    assert parse("diff(u, x, 2)") == parse("u_xx")
    assert derivative_key(parse("u_tyx"), INPUTS) == ("u", ("x", "y", "t"))


def test_multi_letter_inputs_need_diff() -> None:
    inputs = ("x", "tau")
    u = field_function("u", inputs)
    assert parse("diff(u, tau, 2)", inputs=inputs) == sympy.Derivative(u, (input_symbol("tau"), 2))
    with pytest.raises(SpecError, match=r"'u_x' needs one-letter input names.*diff\(u, "):
        parse("u_x", inputs=inputs)


def test_exact_name_wins_over_derivative_reading() -> None:
    k_x = input_symbol("u_x")
    assert parse("u_x + u_y", names={"u_x": k_x}) == k_x + sympy.Derivative(U, Y)


def test_field_names_with_underscores() -> None:
    u1 = field_function("u_1", ("x",))
    assert parse("u_1_x", inputs=("x",), fields=("u_1",)) == sympy.Derivative(u1, input_symbol("x"))


def test_equations() -> None:
    lhs, rhs = equation("u_t + u*u_x = nu*u_xx")
    assert lhs == sympy.Derivative(U, T) + U * sympy.Derivative(U, X)
    assert rhs == NU * sympy.Derivative(U, (X, 2))
    assert equation("u_xx + 1") == (sympy.Derivative(U, (X, 2)) + 1, 0)
    assert equation("u_t =\n  nu*u_xx") == (
        sympy.Derivative(U, T),
        NU * sympy.Derivative(U, (X, 2)),
    )


def test_constants() -> None:
    assert constant(2) == 2.0 and isinstance(constant(2), float)
    assert constant(0.5) == 0.5
    assert constant("0.01/pi") == pytest.approx(0.01 / 3.141592653589793, rel=1e-15)
    assert constant("2*a + E", a=1.5) == pytest.approx(3 + 2.718281828459045, rel=1e-15)
    assert constant("sqrt(2)**2") == pytest.approx(2.0, rel=1e-15)
    assert constant("-(2**10)") == -1024.0


# ------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("__import__('os').system('echo hi')", r"call .*__import__.* is not allowed: only the"),
        ("().__class__", r"attribute access '\(\)\.__class__' is not allowed; expressions may"),
        ("lambda: 1", r"lambda 'lambda: 1' is not allowed"),
        ("[x for x in y]", r"comprehension '\[x for x in y\]' is not allowed"),
        ('"a"', r"string '\"a\"' is not allowed; numbers must be real"),
        ("x.real", r"attribute access 'x\.real' is not allowed"),
        ("x[0]", r"indexing 'x\[0\]' is not allowed"),
        ("sin(x, y)", r"sin\(\) takes 1 argument; received 2 in 'sin\(x, y\)'"),
        ("sin(x=1)", r"keyword arguments are not allowed in 'sin\(x=1\)'"),
        ("sin(*x)", r"starred arguments are not allowed"),
        ("x ^ 2", r"operator '\^' in 'x \^ 2' is not allowed \(write powers as x\*\*2\)"),
        ("x % 2", r"operator '%' .* allowed operators: \+ - \* / \*\*"),
        ("x // 2", r"operator '//'"),
        ("~x", r"operator '~'"),
        ("not x", r"operator 'not'"),
        ("x < y", r"comparison 'x < y' is not allowed; write an equation as 'lhs = rhs'"),
        ("x and y", r"boolean operator"),
        ("x if y else t", r"conditional expression"),
        ("(x, y)", r"tuple"),
        ("{x: 1}", r"dict"),
        ("f'{x}'", r"f-string"),
        ("(y := 1)", r"assignment expression"),
        ("True", r"constant of type bool 'True' is not allowed"),
        ("1j", r"complex number '1j' is not allowed"),
        ("1e999", r"number '1e999' is not finite"),
        ("w", r"unknown name 'w'; known names: nu, t, u, x, y; constants: pi, E; functions: abs"),
        ("foo(x)", r"'foo' in 'foo\(x\)' is not an allowed function; allowed functions: abs, acos"),
        ("nu(x)", r"'nu' in 'nu\(x\)' is not a function"),
        ("sin", r"function 'sin' must be called"),
        ("u_z", r"'u_z' reads as a derivative of 'u', but 'z' is not an input.*\(x, y, t\)"),
        ("nu_x", r"'nu_x' reads as a derivative of 'nu', which is not a field; only fields \(u\)"),
        ("diff(u)", r"'diff\(u\)' needs a field and at least one variable"),
        ("diff(nu, x)", r"first argument of diff must be a field \(u\).*received 'nu'"),
        ("diff(u, nu)", r"diff variables must be inputs \(x, y, t\); received 'nu'"),
        ("diff(u, x + y)", r"diff variables must be inputs"),
        ("diff(u, x, 0)", r"a derivative count must be a positive integer; received '0'"),
        ("diff(u, x, -1)", r"a derivative count must be a positive integer; received '-1'"),
        ("diff(u, x, 1.5)", r"a derivative count must be a positive integer; received '1.5'"),
        ("u_xxxxxxxxx", r"derivative 'u_xxxxxxxxx' has order 9; at most 8"),
        ("diff(u, x, 10**9)", r"a derivative count must be a positive integer"),
        ("diff(u, x, 100)", r"has order above 8"),
        ("1/0 + x", r"is not finite \(a division by zero\?\)"),
        ("sqrt(-1.0)*u", r"is not real"),
        ("x +", r"syntax error at column \d+ \(invalid syntax\) in 'x \+'"),
        ("x y", r"syntax error at column 3"),
        ("   ", r"expression is empty"),
        ("x # comment", r"'#' at column 3 is not allowed"),
        ("x + \u00e9", r"character '\u00e9' at column 5 is not allowed; expressions are ASCII"),
        ("x\x00", r"control character"),
        (42, r"must be a string expression; received int 42"),
        ("exp(exp(exp(100.0)))", r"constant 'exp\(exp\(100\.0\)\)' overflows the float range"),
        ("(10**300*10**300)**2", r"overflows the float range"),
        ("x**(10**500)", r"power '10\*\*500' is too large: about 500 decimal digits"),
    ],
)
def test_rejected_expressions(text: Any, match: str) -> None:
    with pytest.raises(SpecError, match=match) as info:
        parse(text)
    assert str(info.value).startswith("<spec>: equations[0]: ")


def test_errors_name_source_and_label() -> None:
    with pytest.raises(SpecError, match=r"^spec\.toml: reference\.u: unknown name 'q'"):
        parse("q", label="reference.u", source="spec.toml")
    reasons = {"u": "is a field; a closed form cannot use it"}
    with pytest.raises(SpecError, match=r"reference\.u: 'u' is a field; a closed form cannot"):
        parse("u", names={}, fields=(), label="reference.u", unavailable=reasons)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("u == 0", r"operator '==' is not allowed in 'u == 0'; an equation has a single '='"),
        ("u <= 1", r"operator '<='"),
        ("u >= 1", r"operator '>='"),
        ("u != 1", r"operator '!='"),
        ("u = 1 = 2", r"an equation has one '='; found 2"),
        ("sin(x=1) = 0", r"'=' inside parentheses .* keyword arguments"),
        (" = u", r"the left-hand side of '=' is empty"),
        ("u = ", r"the right-hand side of '=' is empty"),
        ("u = * 2", r"syntax error at column 5"),
        ("u = w", r"unknown name 'w'"),
    ],
)
def test_rejected_equations(text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        equation(text)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (True, r"^spec\.toml: parameters\.nu: must be a number or a string constant expression"),
        ([1.0], r"must be a number or a string constant expression .*received list"),
        (float("inf"), r"must be a finite number; received inf"),
        (float("nan"), r"must be a finite number"),
        ("x", r"unknown name 'x'; known names: a; constants: pi, E"),
        ("sqrt(-1)", r"'sqrt\(-1\)' is not real"),
        ("acos(2)", r"'acos\(2\)' is not a real number"),
        ("1/0", r"is not finite"),
        ("exp(1000)", r"overflows the float range"),
        ("2**2000", r"power '2\*\*2000' is too large"),
    ],
)
def test_rejected_constants(value: Any, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        constant(value, a=1.0)


# ----------------------------------------------------------------------- denial of service
def test_huge_power_fails_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(SpecError, match=r"power '9\*\*9\*\*9' is too large"):
        parse("9**9**9")
    with pytest.raises(SpecError, match=r"too large"):
        constant("9**9**9")
    assert time.perf_counter() - start < 1.0


def test_long_and_deep_inputs_fail_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(SpecError, match=rf"20000 characters long; at most {MAX_LENGTH}"):
        parse("x" * 20_000)
    with pytest.raises(SpecError, match=r"syntax error .*too many nested parentheses"):
        parse("(" * 1000 + "x" + ")" * 1000)
    with pytest.raises(SpecError, match=r"nested too deeply"):
        parse("sin(" * 150 + "x" + ")" * 150)
    with pytest.raises(SpecError, match=rf"5001 tokens; at most {MAX_TOKENS}"):
        parse("-" * 5000 + "x")
    with pytest.raises(SpecError, match=rf"9801 tokens; at most {MAX_TOKENS}"):
        parse("x" + "+x" * 4900)
    with pytest.raises(SpecError, match=r"nested too deeply"):
        parse("-" * 1000 + "x")
    assert time.perf_counter() - start < 2.0


def test_long_flat_chains_are_fine() -> None:
    assert parse("x" + " + x" * 300) == 301 * X
    assert parse("x" + "*x" * 300) == X**301
    assert parse("(" * 50 + "x" + ")" * 50) == X


# ------------------------------------------------------------------------------- security
def test_parser_never_evaluates_text() -> None:
    """No eval/exec/compile/sympify/parse_expr call anywhere in the parser modules."""
    forbidden = {"eval", "exec", "compile", "sympify", "parse_expr", "__import__", "S"}
    for module in (expressions, _expression_tree):
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in forbidden, f"{module.__name__} calls {name}"


CANARY = "__import__('pathlib').Path('CANARY').touch()"


@pytest.mark.parametrize(
    ("place", "match"),
    [
        ("equations", r"equations\[0\]: call .*__import__"),
        ("condition", r"conditions\[0\]\.equation: call .*__import__"),
        ("parameter", r"parameters\.nu: call .*__import__"),
        ("reference", r"reference\.u: call .*__import__"),
        ("where", r"conditions\[0\]\.where: call .*__import__"),
    ],
)
def test_canary_spec_is_not_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, place: str, match: str
) -> None:
    monkeypatch.chdir(tmp_path)
    text = {
        "equations": CANARY,
        "condition": "u_xx = 0",
        "parameter": "u_xx = nu",
        "reference": "u_xx = 0",
        "where": "u_xx = 0",
    }[place]
    spec = f"""
name = "canary"
fields = ["u"]
equations = [{text!r}]
[domain]
x = [0.0, 1.0]
[parameters]
nu = {CANARY if place == "parameter" else "1.0"!r}
[[conditions]]
where = {("x = " + CANARY) if place == "where" else "x = 0"!r}
equation = {("u = " + CANARY) if place == "condition" else "u = 0"!r}
[reference]
u = {CANARY if place == "reference" else "x"!r}
"""
    path = tmp_path / "canary.toml"
    path.write_text(spec, encoding="utf-8")
    with pytest.raises(SpecError, match=match):
        load_problem(path)
    assert not (tmp_path / "CANARY").exists()
