"""Safe parsing of spec expressions (``"u_t + u*u_x = nu*u_xx"``) into sympy trees.

Spec text is **never evaluated as Python**: no ``eval``, ``exec``, ``compile`` or
``sympy.sympify`` of raw text. :func:`ast.parse` (``mode="eval"``) only builds a syntax tree;
the tree is walked node by node against a whitelist (numbers, names, ``+ - * / **``, unary
``-``/``+``, calls of the functions in :data:`FUNCTIONS` and ``diff``) and the sympy objects
are built directly. Anything else raises :class:`~kanphys.errors.SpecError` naming the source
file, the spec field, the offending token and what is allowed.

Denial-of-service guards: expressions are at most :data:`MAX_LENGTH` characters,
:data:`MAX_TOKENS` tokens and :data:`MAX_DEPTH` levels deep, powers of constants may not
exceed :data:`MAX_POWER_DIGITS` decimal digits (``9**9**9`` fails at once), functions of
constants must stay within float range, and derivatives have total order at most
:data:`MAX_DERIVATIVE_ORDER`.

Representation (see :mod:`kanphys.pde.problem`): inputs and parameters are real symbols, a field
``u`` is ``u(x, t)`` (:func:`~kanphys.pde.problem.field_function`) and ``u_xt`` or
``diff(u, x, t)`` is ``Derivative(u(x, t), x, t)`` with its variables in domain order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import sympy

from kanphys.errors import SpecError
from kanphys.pde._expression_tree import (
    DIFF,
    MAX_DEPTH,
    MAX_DERIVATIVE_ORDER,
    MAX_POWER_DIGITS,
    MAX_TOKENS,
    NON_FINITE,
    Context,
    NumericError,
    build,
    numeric_value,
    parse_tree,
)
from kanphys.pde.problem import field_function, input_symbol

__all__ = [
    "ALLOWED_CONSTANTS",
    "DIFF",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_DERIVATIVE_ORDER",
    "MAX_LENGTH",
    "MAX_POWER_DIGITS",
    "MAX_TOKENS",
    "RESERVED_NAMES",
    "parse_constant",
    "parse_equation",
    "parse_expression",
]

MAX_LENGTH = 10_000
"""Longest expression text accepted, in characters."""

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "tanh": sympy.tanh,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "asin": sympy.asin,
    "acos": sympy.acos,
    "atan": sympy.atan,
    "asinh": sympy.asinh,
    "acosh": sympy.acosh,
    "atanh": sympy.atanh,
    "abs": sympy.Abs,
    "sign": sympy.sign,
}
"""Functions an expression may call, by spec name. The number of arguments comes from the sympy
function's ``nargs`` (one when it has none): ``log(x)`` or ``log(x, base)``, the others one."""

ALLOWED_CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}
"""Named mathematical constants."""

RESERVED_NAMES = frozenset({*FUNCTIONS, *ALLOWED_CONSTANTS, DIFF})
"""Names that inputs, fields and parameters may not take."""


def _checked_text(text: Any, *, label: str, source: str) -> str:
    def fail(message: str) -> NoReturn:
        raise SpecError(f"{source}: {label}: {message}")

    if not isinstance(text, str):
        fail(f"must be a string expression; received {type(text).__name__} {text!r}")
    if len(text) > MAX_LENGTH:
        fail(f"expression is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    for column, char in enumerate(text, start=1):
        if ord(char) > 127:
            fail(f"character {char!r} at column {column} is not allowed; expressions are ASCII")
        if char == "#":
            fail(f"'#' at column {column} is not allowed (no comments inside expressions)")
        if ord(char) < 32 and char not in "\t\n\r":
            fail(f"control character {char!r} at column {column} is not allowed")
    if not text.strip():
        fail("expression is empty")
    return text


def _parse(
    text: str,
    *,
    names: Mapping[str, sympy.Expr],
    inputs: tuple[str, ...],
    fields: tuple[str, ...],
    label: str,
    source: str,
    unavailable: Mapping[str, str] | None,
    offset: int = 0,
) -> sympy.Expr:
    table: dict[str, sympy.Expr] = {name: input_symbol(name) for name in inputs}
    table.update({name: field_function(name, inputs) for name in fields})
    table.update(names)
    flat = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    offset += len(flat) - len(flat.lstrip())  # eval mode rejects leading blanks ("indent")
    flat = flat.strip()
    ctx = Context(
        text=flat,
        table=table,
        inputs=tuple(inputs),
        fields=tuple(fields),
        label=label,
        source=source,
        functions=FUNCTIONS,
        constants=ALLOWED_CONSTANTS,
        unavailable=dict(unavailable or {}),
        offset=offset,
    )
    tree = parse_tree(ctx)
    try:
        expr = build(tree, ctx, 0)
    except SpecError:
        raise
    except (ArithmeticError, TypeError, ValueError, AttributeError, RecursionError) as err:
        ctx.fail(f"cannot build {flat!r}: {type(err).__name__}: {err}")
    if any(expr.has(bad) for bad in NON_FINITE):
        ctx.fail(f"{flat!r} is not finite (a division by zero?)")
    if expr.has(sympy.I):
        ctx.fail(f"{flat!r} is not real (a square root or logarithm of a negative number?)")
    return expr


def parse_expression(
    text: str,
    *,
    names: Mapping[str, sympy.Expr],
    inputs: tuple[str, ...],
    fields: tuple[str, ...],
    label: str,
    source: str,
    unavailable: Mapping[str, str] | None = None,
) -> sympy.Expr:
    """Parse one expression (no ``=``) into a sympy expression, without evaluating it as Python.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"u_t + u*u_x - nu*u_xx"``; at most :data:`MAX_LENGTH` characters.
    names : Mapping[str, sympy.Expr]
        Every name the expression may use and its sympy value (inputs, parameters, fields; see
        :meth:`~kanphys.pde.problem.Problem.symbols`). Inputs and fields missing from it are
        added as :func:`~kanphys.pde.problem.input_symbol` / ``field_function``.
    inputs : tuple of str
        Input variables in domain order: the only variables derivatives may be taken by.
    fields : tuple of str
        Unknown fields: the only names ``u_x`` notation and ``diff`` may differentiate.
    label : str
        The spec field being parsed, e.g. ``"equations[0]"``; used in error messages.
    source : str
        The spec file (or ``"<spec>"``); used in error messages.
    unavailable : Mapping[str, str], optional
        Names that exist but may not be used here, each with the reason to report (e.g.
        ``{"x": "is an input; a constant cannot depend on it"}``).

    Returns
    -------
    sympy.Expr

    Raises
    ------
    SpecError
        For a syntax error, any construct outside the whitelist, an unknown name or function,
        wrong argument counts, a derivative by a non-input, or a constant that overflows.
    """
    text = _checked_text(text, label=label, source=source)
    return _parse(
        text,
        names=names,
        inputs=inputs,
        fields=fields,
        label=label,
        source=source,
        unavailable=unavailable,
    )


def parse_equation(
    text: str,
    *,
    names: Mapping[str, sympy.Expr],
    inputs: tuple[str, ...],
    fields: tuple[str, ...],
    label: str,
    source: str,
    unavailable: Mapping[str, str] | None = None,
) -> tuple[sympy.Expr, sympy.Expr]:
    """Parse ``"lhs = rhs"`` (or ``"expr"``, meaning ``expr = 0``) into ``(lhs, rhs)``.

    The arguments are those of :func:`parse_expression`. Exactly one ``=`` splits the sides;
    ``==``, ``<=``, ``>=``, ``!=``, ``:=`` and a second ``=`` are errors.

    Returns
    -------
    tuple of sympy.Expr
        ``(lhs, rhs)``; ``rhs`` is ``0`` when ``text`` has no ``=``.
    """
    text = _checked_text(text, label=label, source=source)

    def fail(message: str) -> NoReturn:
        raise SpecError(f"{source}: {label}: {message}")

    positions = [i for i, char in enumerate(text) if char == "="]
    for i in positions:
        before = text[i - 1] if i > 0 else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if before in ("<", ">", "!", "=", ":") or after == "=":
            operator = before + "=" if before in ("<", ">", "!", "=", ":") else "=="
            fail(
                f"operator {operator!r} is not allowed in {text.strip()!r}; an equation has a "
                "single '=' between its sides, e.g. 'u_xx = -1'"
            )
    for i in positions:
        if text[:i].count("(") > text[:i].count(")"):
            fail(
                f"'=' inside parentheses in {text.strip()!r}; keyword arguments such as f(x=1) "
                "are not allowed"
            )
    if len(positions) > 1:
        fail(f"an equation has one '='; found {len(positions)} in {text.strip()!r}")
    common: dict[str, Any] = {
        "names": names,
        "inputs": inputs,
        "fields": fields,
        "label": label,
        "source": source,
        "unavailable": unavailable,
    }
    if not positions:
        return _parse(text, **common), sympy.Integer(0)
    split = positions[0]
    lhs_text, rhs_text = text[:split], text[split + 1 :]
    for side, side_text in (("left", lhs_text), ("right", rhs_text)):
        if not side_text.strip():
            fail(f"the {side}-hand side of '=' is empty in {text.strip()!r}")
    lhs = _parse(lhs_text, **common)
    rhs = _parse(rhs_text, offset=split + 1, **common)
    return lhs, rhs


def parse_constant(
    value: Any,
    *,
    names: Mapping[str, float],
    label: str,
    source: str,
    unavailable: Mapping[str, str] | None = None,
) -> float:
    """A finite real number from a TOML number or a constant expression such as ``"0.01/pi"``.

    Parameters
    ----------
    value : int, float or str
        A number, or an expression over numbers, ``pi``, ``E``, the functions and ``names``.
    names : Mapping[str, float]
        Constants the expression may use (earlier parameters).
    label, source : str
        The spec field and file, for error messages.
    unavailable : Mapping[str, str], optional
        Names that exist but may not be used here, with the reason to report.

    Returns
    -------
    float

    Raises
    ------
    SpecError
        If ``value`` is not a number or a string, does not parse, uses an unknown name, or is
        not a finite real number.
    """

    def fail(message: str) -> NoReturn:
        raise SpecError(f"{source}: {label}: {message}")

    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        fail(
            "must be a number or a string constant expression such as '0.01/pi'; received "
            f"{type(value).__name__} {value!r}"
        )
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            fail(f"{value!r} overflows the float range")
        if not math.isfinite(number):
            fail(f"must be a finite number; received {value!r}")
        return number
    table: dict[str, sympy.Expr] = {}
    for name, constant in names.items():
        if not math.isfinite(constant):
            fail(f"constant {name!r} is not finite ({constant!r})")
        table[name] = sympy.Float(constant)
    expr = parse_expression(
        value,
        names=table,
        inputs=(),
        fields=(),
        label=label,
        source=source,
        unavailable=unavailable,
    )
    try:
        result = numeric_value(expr)
    except NumericError as err:
        fail(f"constant expression {value.strip()!r} {err}")
    if abs(result.imag) > 1e-12 * max(1.0, abs(result.real)):
        fail(f"constant expression {value.strip()!r} is not a real number ({result})")
    return result.real
