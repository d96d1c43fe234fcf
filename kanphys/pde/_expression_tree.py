"""The whitelisted syntax-tree walker behind :mod:`kanphys.pde.expressions`.

:func:`build` turns a tree from :func:`ast.parse` into sympy objects node by node; any node type
it does not know raises :class:`~kanphys.errors.SpecError`. Nothing here evaluates text as
Python. Constants are checked in double precision (:func:`numeric_value`) before sympy, whose
arbitrary precision arithmetic could otherwise hang on ``9**9**9`` or ``exp(exp(exp(100.0)))``.
"""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import sympy
from sympy.core.function import AppliedUndef

from kanphys.errors import SpecError
from kanphys.pde.problem import field_function, input_symbol

__all__ = [
    "DIFF",
    "MAX_DEPTH",
    "MAX_DERIVATIVE_ORDER",
    "MAX_POWER_DIGITS",
    "MAX_TOKENS",
    "NON_FINITE",
    "Context",
    "NumericError",
    "arities",
    "build",
    "numeric_value",
    "parse_tree",
]

MAX_DEPTH = 100
"""Deepest nesting of the syntax tree (chains of ``+``/``-`` and ``*``/``/`` count once)."""
MAX_TOKENS = 2_500
"""Most tokens (names, numbers, operators, parentheses) in one expression.

Checked before Python's parser runs, whose own limits on operator chains differ between
versions (3.11 gives up on ``x+x+...`` long before 3.12 does)."""
_TOKEN = r"\*\*|\w+(?:\.\w*)?|\.\w+|\S"
MAX_POWER_DIGITS = 400
"""Largest ``|exponent * log10|base||`` of a power of two constants."""
MAX_DERIVATIVE_ORDER = 8
"""Largest total order of a derivative (``u_xxxx`` has order 4)."""
DIFF = "diff"
"""The derivative function: ``diff(u, x)``, ``diff(u, x, 2)``, ``diff(u, x, y)``."""

_OPERATORS = {
    ast.BitXor: "^",
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Not: "not",
    ast.Invert: "~",
}
_CONSTRUCTS = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression",
    ast.Compare: "comparison",
    ast.BoolOp: "boolean operator",
    ast.IfExp: "conditional expression",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Set: "set",
    ast.Dict: "dict",
    ast.JoinedStr: "f-string",
    ast.NamedExpr: "assignment expression",
    ast.Starred: "starred expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
NON_FINITE = (sympy.zoo, sympy.oo, sympy.S.NegativeInfinity, sympy.nan)


def arities(function: Callable[..., Any]) -> tuple[int, ...]:
    """Allowed argument counts of a sympy function (from ``nargs``; one when it has none)."""
    nargs = getattr(function, "nargs", None)
    if isinstance(nargs, sympy.FiniteSet):
        return tuple(sorted(int(n) for n in nargs))
    return (1,)


class NumericError(Exception):
    """A constant sub-expression that cannot be evaluated as a finite number."""


def numeric_value(expr: sympy.Basic) -> complex:
    """Value of a constant sympy expression in double precision; raise :class:`NumericError`.

    Every intermediate is checked, so a constant that leaves float range is reported instead of
    being handed to sympy/mpmath, whose arbitrary precision could make it hang.
    """
    if any(expr == bad for bad in NON_FINITE):
        raise NumericError("is not finite (a division by zero?)")
    value: complex
    if expr.is_Number or isinstance(expr, sympy.NumberSymbol):
        try:
            value = complex(float(expr))  # type: ignore[arg-type]
        except OverflowError:
            raise NumericError("overflows the float range") from None
    elif expr == sympy.I:
        value = 1j
    elif isinstance(expr, sympy.Add):
        value = sum((numeric_value(arg) for arg in expr.args), 0j)
    elif isinstance(expr, sympy.Mul):
        value = 1 + 0j
        for arg in expr.args:
            value *= numeric_value(arg)
    elif isinstance(expr, sympy.Pow):
        value = _power_value(numeric_value(expr.base), numeric_value(expr.exp))
    elif isinstance(expr, sympy.Function) and not isinstance(expr, AppliedUndef):
        args = [numeric_value(arg) for arg in expr.args]
        floats = [sympy.Float(a.real) + sympy.I * sympy.Float(a.imag) for a in args]
        try:
            value = complex(expr.func(*floats).evalf())
        except (TypeError, ValueError, ArithmeticError):
            raise NumericError("cannot be evaluated as a number") from None
    else:
        raise NumericError("is not a constant")
    if not (math.isfinite(value.real) and math.isfinite(value.imag)):
        raise NumericError("overflows the float range or is not finite")
    return value


def _power_value(base: complex, exponent: complex) -> complex:
    try:
        if base.imag == 0 and exponent.imag == 0:
            if base.real >= 0 or float(exponent.real).is_integer():
                return complex(math.pow(base.real, exponent.real))
        return base**exponent
    except OverflowError:
        raise NumericError("overflows the float range") from None
    except (ValueError, ZeroDivisionError):
        raise NumericError("is not finite (a division by zero?)") from None


@dataclass(frozen=True)
class Context:
    """What one parse knows: the text, the name table, the whitelist, and where it comes from."""

    text: str
    table: Mapping[str, sympy.Expr]
    inputs: tuple[str, ...]
    fields: tuple[str, ...]
    label: str
    source: str
    functions: Mapping[str, Callable[..., Any]]
    constants: Mapping[str, sympy.Expr]
    unavailable: Mapping[str, str] = field(default_factory=dict)
    offset: int = 0

    def fail(self, message: str) -> NoReturn:
        raise SpecError(f"{self.source}: {self.label}: {message}")

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def allowed_syntax(self) -> str:
        return (
            "expressions may use numbers, names, + - * / ** (power), unary -, parentheses, "
            f"the constants {', '.join(self.constants)} and calls of "
            f"{', '.join(sorted(self.functions))} and {DIFF}(field, variable, ...)"
        )

    def known(self) -> str:
        names = ", ".join(sorted(self.table)) or "(none)"
        message = (
            f"known names: {names}; constants: {', '.join(self.constants)}; "
            f"functions: {', '.join(sorted(self.functions))}, {DIFF}"
        )
        if self.fields and self.inputs:
            u, x = self.fields[0], self.inputs[0]
            if all(len(v) == 1 for v in self.inputs):
                message += f"; derivatives: {u}_{x}, {u}_{x}{x}, ... or {DIFF}({u}, {x}, 2)"
            else:
                message += f"; derivatives: {DIFF}({u}, {x}), {DIFF}({u}, {x}, 2)"
        return message


def parse_tree(ctx: Context) -> ast.expr:
    """Parse ``ctx.text`` into a syntax tree (nothing is executed)."""
    tokens = sum(1 for _ in re.finditer(_TOKEN, ctx.text))
    if tokens > MAX_TOKENS:
        ctx.fail(f"expression has {tokens} tokens; at most {MAX_TOKENS} (simplify or split it)")
    try:
        return ast.parse(ctx.text, mode="eval").body
    except SyntaxError as err:
        column = (err.offset or 1) + ctx.offset
        ctx.fail(f"syntax error at column {column} ({err.msg}) in {ctx.text.strip()!r}")
    except (RecursionError, MemoryError):  # the parser's own limits on nesting and chains
        ctx.fail("expression is nested too deeply or chains too many operators for the parser")
    except ValueError as err:
        ctx.fail(f"cannot parse {ctx.text.strip()!r}: {err}")


def build(node: ast.expr, ctx: Context, depth: int) -> sympy.Expr:
    """The sympy expression of a whitelisted syntax tree; :class:`SpecError` for anything else."""
    if depth > MAX_DEPTH:
        ctx.fail(f"expression is nested too deeply (at most {MAX_DEPTH} levels)")
    if isinstance(node, ast.Constant):
        return _constant(node, ctx)
    if isinstance(node, ast.Name):
        return _name(node, ctx)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.USub):
            return -build(node.operand, ctx, depth + 1)
        if isinstance(node.op, ast.UAdd):
            return build(node.operand, ctx, depth + 1)
        _bad_operator(node, node.op, ctx)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            return _chain(node, ctx, depth)
        if isinstance(node.op, ast.Pow):
            return _power(node, ctx, depth)
        _bad_operator(node, node.op, ctx)
    if isinstance(node, ast.Call):
        return _call(node, ctx, depth)
    kind = _CONSTRUCTS.get(type(node), f"{type(node).__name__} construct")
    hint = "; write an equation as 'lhs = rhs'" if isinstance(node, ast.Compare) else ""
    ctx.fail(f"{kind} {ctx.segment(node)!r} is not allowed{hint}; {ctx.allowed_syntax()}")


def _bad_operator(node: ast.AST, op: ast.AST, ctx: Context) -> NoReturn:
    symbol = _OPERATORS.get(type(op), type(op).__name__)
    hint = " (write powers as x**2)" if isinstance(op, ast.BitXor) else ""
    ctx.fail(
        f"operator {symbol!r} in {ctx.segment(node)!r} is not allowed{hint}; "
        "allowed operators: + - * / ** and unary -"
    )


def _chain(node: ast.BinOp, ctx: Context, depth: int) -> sympy.Expr:
    """A left-nested chain ``a + b - c`` (or ``a * b / c``) as one sympy Add (Mul)."""
    additive = isinstance(node.op, (ast.Add, ast.Sub))
    kinds = (ast.Add, ast.Sub) if additive else (ast.Mult, ast.Div)
    operands: list[tuple[bool, ast.expr]] = []
    current: ast.expr = node
    while isinstance(current, ast.BinOp) and isinstance(current.op, kinds):
        operands.append((isinstance(current.op, (ast.Sub, ast.Div)), current.right))
        current = current.left
    operands.append((False, current))
    terms = []
    for inverted, operand in reversed(operands):
        term = build(operand, ctx, depth + 1)
        if inverted:
            term = -term if additive else sympy.Pow(term, -1)
        terms.append(term)
    return sympy.Add(*terms) if additive else sympy.Mul(*terms)


def _power(node: ast.BinOp, ctx: Context, depth: int) -> sympy.Expr:
    base = build(node.left, ctx, depth + 1)
    exponent = build(node.right, ctx, depth + 1)
    if base.is_number and exponent.is_number:
        try:
            b, e = abs(numeric_value(base)), abs(numeric_value(exponent))
        except NumericError as err:
            ctx.fail(f"constant {ctx.segment(node)!r} {err}")
        digits = e * abs(math.log10(b)) if b > 0 else 0.0
        if digits > MAX_POWER_DIGITS:
            ctx.fail(
                f"power {ctx.segment(node)!r} is too large: about {digits:.3g} decimal digits "
                f"(at most {MAX_POWER_DIGITS})"
            )
    return sympy.Pow(base, exponent)


def _constant(node: ast.Constant, ctx: Context) -> sympy.Expr:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = {str: "string", bytes: "bytes", complex: "complex number"}.get(
            type(value), f"constant of type {type(value).__name__}"
        )
        ctx.fail(
            f"{kind} {ctx.segment(node)!r} is not allowed; numbers must be real "
            "(integers or floats such as 0.5 or 1e-4)"
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            ctx.fail(f"number {ctx.segment(node)!r} is not finite")
        return sympy.Float(value)
    return sympy.Integer(value)


def _name(node: ast.Name, ctx: Context) -> sympy.Expr:
    name = node.id
    if name in ctx.table:
        return ctx.table[name]
    if name in ctx.constants:
        return ctx.constants[name]
    if name in ctx.unavailable:
        ctx.fail(f"{name!r} {ctx.unavailable[name]}")
    if name in ctx.functions or name == DIFF:
        ctx.fail(f"function {name!r} must be called, e.g. {name}(...); a bare name is not allowed")
    derivative = _derivative_notation(name, ctx)
    if derivative is not None:
        return derivative
    ctx.fail(f"unknown name {name!r}; {ctx.known()}")


def _derivative_notation(name: str, ctx: Context) -> sympy.Expr | None:
    """``u_xx`` -> ``Derivative(u(x, t), x, x)``; None when ``name`` does not read so."""
    candidates = sorted(
        (f for f in ctx.fields if name.startswith(f + "_") and len(name) > len(f) + 1),
        key=len,
        reverse=True,
    )
    if not candidates:
        for other in sorted(ctx.table, key=len, reverse=True):
            suffix = name[len(other) + 1 :]
            if name.startswith(other + "_") and suffix and set(suffix) <= set(ctx.inputs):
                ctx.fail(
                    f"{name!r} reads as a derivative of {other!r}, which is not a field; "
                    f"only fields ({', '.join(ctx.fields) or 'none'}) can be differentiated"
                )
        return None
    for field_name in candidates:
        suffix = name[len(field_name) + 1 :]
        if not all(len(v) == 1 for v in ctx.inputs):
            ctx.fail(
                f"derivative notation {name!r} needs one-letter input names, but the inputs "
                f"are {', '.join(ctx.inputs)}; write {DIFF}({field_name}, <variable>, ...)"
            )
        if set(suffix) <= set(ctx.inputs):
            return _derivative(field_name, list(suffix), ctx, name)
    field_name = candidates[0]
    suffix = name[len(field_name) + 1 :]
    bad = next(c for c in suffix if c not in ctx.inputs)
    ctx.fail(
        f"{name!r} reads as a derivative of {field_name!r}, but {bad!r} is not an input; "
        f"derivative variables must be inputs ({', '.join(ctx.inputs)}); {ctx.known()}"
    )


def _derivative(field_name: str, variables: list[str], ctx: Context, text: str) -> sympy.Expr:
    if len(variables) > MAX_DERIVATIVE_ORDER:
        ctx.fail(
            f"derivative {text!r} has order {len(variables)}; at most "
            f"{MAX_DERIVATIVE_ORDER} is allowed"
        )
    base = ctx.table.get(field_name)
    if not isinstance(base, AppliedUndef):
        base = field_function(field_name, ctx.inputs)
    counts = Counter(variables)
    pairs = [(input_symbol(v), counts[v]) for v in ctx.inputs if v in counts]
    return sympy.Derivative(base, *pairs)


def _field_of(expr: sympy.Expr, ctx: Context) -> tuple[str, list[str]] | None:
    """``(field, variables)`` of a field or a derivative of one; None for anything else."""
    variables: list[str] = []
    if isinstance(expr, sympy.Derivative):
        for symbol, count in expr.variable_count:
            variables.extend([str(symbol)] * int(count))
        expr = expr.expr
    if isinstance(expr, AppliedUndef) and str(expr.func) in ctx.fields:
        return str(expr.func), variables
    return None


def _call(node: ast.Call, ctx: Context, depth: int) -> sympy.Expr:
    segment = ctx.segment(node)
    if not isinstance(node.func, ast.Name):
        ctx.fail(
            f"call {segment!r} is not allowed: only the named functions "
            f"{', '.join(sorted(ctx.functions))} and {DIFF} can be called"
        )
    name = node.func.id
    if node.keywords:
        ctx.fail(f"keyword arguments are not allowed in {segment!r}; pass arguments by position")
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        ctx.fail(f"starred arguments are not allowed in {segment!r}")
    if name == DIFF:
        return _diff(node, ctx, depth)
    if name not in ctx.functions:
        what = "is not a function" if name in ctx.table else "is not an allowed function"
        ctx.fail(
            f"{name!r} in {segment!r} {what}; allowed functions: "
            f"{', '.join(sorted(ctx.functions))}, {DIFF}"
        )
    function = ctx.functions[name]
    counts = arities(function)
    if len(node.args) not in counts:
        expected = " or ".join(str(n) for n in counts)
        plural = "" if counts == (1,) else "s"
        ctx.fail(
            f"{name}() takes {expected} argument{plural}; received {len(node.args)} in {segment!r}"
        )
    args = [build(arg, ctx, depth + 1) for arg in node.args]
    if all(arg.is_number for arg in args):
        try:  # evaluate in double precision first: sympy would use arbitrary precision
            for arg in args:
                numeric_value(arg)
            result = function(*args)
            numeric_value(result)
        except NumericError as err:
            ctx.fail(f"constant {segment!r} {err}")
        return result
    return function(*args)


def _diff(node: ast.Call, ctx: Context, depth: int) -> sympy.Expr:
    segment = ctx.segment(node)
    usage = f"write {DIFF}(u, x), {DIFF}(u, x, 2) or {DIFF}(u, x, y)"
    if len(node.args) < 2:
        ctx.fail(f"{segment!r} needs a field and at least one variable; {usage}")
    target = _field_of(build(node.args[0], ctx, depth + 1), ctx)
    if target is None:
        ctx.fail(
            f"the first argument of {DIFF} must be a field ({', '.join(ctx.fields) or 'none'}) "
            f"or a derivative of one; received {ctx.segment(node.args[0])!r} in {segment!r}"
        )
    field_name, variables = target
    args = node.args[1:]
    position = 0
    while position < len(args):
        arg = args[position]
        if not isinstance(arg, ast.Name) or arg.id not in ctx.inputs:
            ctx.fail(
                f"{DIFF} variables must be inputs ({', '.join(ctx.inputs) or 'none'}); "
                f"received {ctx.segment(arg)!r} in {segment!r}"
            )
        count = 1
        position += 1
        if position < len(args) and not isinstance(args[position], ast.Name):
            counter = args[position]
            value = counter.value if isinstance(counter, ast.Constant) else None
            if type(value) is not int or value < 1:
                ctx.fail(
                    f"a derivative count must be a positive integer; received "
                    f"{ctx.segment(counter)!r} in {segment!r}"
                )
            count = value
            position += 1
        if len(variables) + count > MAX_DERIVATIVE_ORDER:
            ctx.fail(
                f"derivative {segment!r} has order above {MAX_DERIVATIVE_ORDER}, the most allowed"
            )
        variables.extend([arg.id] * count)
    return _derivative(field_name, variables, ctx, segment)
