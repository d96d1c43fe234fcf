"""Compile sympy expressions of a :class:`~kanphys.pde.problem.Problem` into torch functions.

The compiler walks the sympy tree once and builds a tree of small closures; no source text is
generated or evaluated. A compiled expression reads three tables from an :class:`Environment`:
the input columns, the field derivatives (keyed by :data:`~kanphys.pde.problem.DerivativeKey`,
supplied by a derivative engine) and the parameter values (tensors, so that trainable parameters
receive gradients).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sympy
import torch
from sympy.core.function import AppliedUndef
from torch import Tensor

from kanphys.errors import SpecError
from kanphys.pde.problem import DerivativeKey, derivative_key, required_derivatives

__all__ = ["CompiledExpression", "Environment", "compile_expression"]


@dataclass
class Environment:
    """What a compiled expression reads; ``columns[name]`` and ``derivatives[key]`` are ``(N,)``."""

    columns: Mapping[str, Tensor]
    derivatives: Mapping[DerivativeKey, Tensor] = field(default_factory=dict)
    parameters: Mapping[str, Tensor] = field(default_factory=dict)

    @property
    def like(self) -> Tensor:
        return next(iter(self.columns.values()))


Node = Callable[[Environment], Tensor | float]

_UNARY: dict[type, Callable[[Tensor], Tensor]] = {
    sympy.sin: torch.sin,
    sympy.cos: torch.cos,
    sympy.tan: torch.tan,
    sympy.exp: torch.exp,
    sympy.log: torch.log,
    sympy.tanh: torch.tanh,
    sympy.sinh: torch.sinh,
    sympy.cosh: torch.cosh,
    sympy.asin: torch.asin,
    sympy.acos: torch.acos,
    sympy.atan: torch.atan,
    sympy.atanh: torch.atanh,
    sympy.asinh: torch.asinh,
    sympy.acosh: torch.acosh,
    sympy.Abs: torch.abs,
    sympy.sign: torch.sign,
}


def _as_tensor(value: Tensor | float, env: Environment) -> Tensor:
    if isinstance(value, Tensor):
        return value
    like = env.like
    return torch.full_like(like, float(value))


@dataclass(frozen=True)
class CompiledExpression:
    """A sympy expression turned into a function of an :class:`Environment` -> ``(N,)`` tensor."""

    expression: sympy.Expr
    requires: frozenset[DerivativeKey]
    parameters: frozenset[str]
    _node: Node

    def __call__(self, env: Environment) -> Tensor:
        return _as_tensor(self._node(env), env)


def compile_expression(
    expr: sympy.Expr, inputs: tuple[str, ...], *, label: str = "expression"
) -> CompiledExpression:
    """Compile ``expr`` (inputs, parameters, fields and their derivatives) to a torch function.

    Symbols that are not inputs are read from ``Environment.parameters``.
    """
    input_names = set(inputs)
    parameters: set[str] = set()

    def build(node: sympy.Expr) -> Node:
        if isinstance(node, sympy.Derivative) or isinstance(node, AppliedUndef):
            field_call = node.expr if isinstance(node, sympy.Derivative) else node
            if tuple(str(a) for a in getattr(field_call, "args", ())) != tuple(inputs):
                raise SpecError(
                    f"{label}: {node!s} evaluates a field away from the point; fields must be "
                    f"applied to all inputs in order ({', '.join(inputs)})"
                )
            key = derivative_key(node, inputs)
            return lambda env: env.derivatives[key]
        if node.is_Number or isinstance(node, sympy.NumberSymbol):
            number = float(node)
            return lambda env: number
        if isinstance(node, sympy.Symbol):
            name = node.name
            if name in input_names:
                return lambda env: env.columns[name]
            parameters.add(name)
            return lambda env: env.parameters[name]
        if isinstance(node, sympy.Add):
            terms = [build(arg) for arg in node.args]

            def add(env: Environment) -> Tensor | float:
                total = terms[0](env)
                for term in terms[1:]:
                    total = total + term(env)
                return total

            return add
        if isinstance(node, sympy.Mul):
            factors = [build(arg) for arg in node.args]

            def mul(env: Environment) -> Tensor | float:
                product = factors[0](env)
                for factor in factors[1:]:
                    product = product * factor(env)
                return product

            return mul
        if isinstance(node, sympy.Pow):
            return build_power(node)
        function = _UNARY.get(type(node)) or _UNARY.get(node.func)  # type: ignore[call-overload]
        if function is not None and len(node.args) == 1:
            argument = build(node.args[0])
            unary = function
            return lambda env: unary(_as_tensor(argument(env), env))
        raise SpecError(
            f"{label}: cannot compile {node!s} ({type(node).__name__}); supported are +, -, *, "
            f"/, **, numbers, inputs, parameters, fields, derivatives and "
            f"{', '.join(sorted(f.__name__ for f in _UNARY))}"
        )

    def build_power(node: sympy.Pow) -> Node:
        base_expr, exponent_expr = node.args
        if base_expr == sympy.E:
            exponent = build(exponent_expr)
            return lambda env: torch.exp(_as_tensor(exponent(env), env))
        base = build(base_expr)
        if exponent_expr.is_Number:
            power = float(exponent_expr)
            if power == 2:
                return lambda env: _square(base(env))
            if power == 0.5:
                return lambda env: torch.sqrt(_as_tensor(base(env), env))
            if power == -1:
                return lambda env: 1.0 / base(env)
            if power.is_integer():
                integer = int(power)
                return lambda env: _as_tensor(base(env), env) ** integer
            return lambda env: _as_tensor(base(env), env) ** power
        exponent = build(exponent_expr)
        return lambda env: _as_tensor(base(env), env) ** exponent(env)

    node = build(expr)
    requires = frozenset(required_derivatives(expr, inputs))
    return CompiledExpression(expr, requires, frozenset(parameters), node)


def _square(value: Tensor | float) -> Tensor | float:
    return value * value
