"""Turn sympy formulas into torch functions, and formula constants into parameters.

:func:`to_torch` walks the sympy tree once and builds a tree of closures (no ``lambdify``, no
source text, no ``eval``), so the result is differentiable with autograd, runs on any device and
keeps the dtype of its input. The unary functions are the table of the PDE compiler,
:data:`kanphys.pde.compile._UNARY`, so both compilers know the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import sympy
import torch
from torch import Tensor

from kanphys.errors import ConfigError, ShapeError
from kanphys.pde.compile import _UNARY

__all__ = ["TorchFormula", "constants_as_parameters", "to_torch"]

Value = Tensor | float
Node = Callable[[Mapping[str, Value]], Value]

# reciprocal functions sympy's simplification may introduce (1/tan -> cot, ...)
_RECIPROCAL: dict[type, Callable[[Tensor], Tensor]] = {
    sympy.cot: lambda u: 1.0 / torch.tan(u),
    sympy.sec: lambda u: 1.0 / torch.cos(u),
    sympy.csc: lambda u: 1.0 / torch.sin(u),
    sympy.coth: lambda u: 1.0 / torch.tanh(u),
    sympy.sech: lambda u: 1.0 / torch.cosh(u),
    sympy.csch: lambda u: 1.0 / torch.sinh(u),
}


def _supported() -> str:
    names = sorted({f.__name__ for f in (*_UNARY, *_RECIPROCAL)})
    return "+, -, *, /, ** (any exponent), numbers, pi, E, symbols and " + ", ".join(names)


def _build(node: sympy.Basic, names: frozenset[str]) -> Node:
    """The closure computing ``node`` from a table of named values."""
    if node.is_Number or isinstance(node, sympy.NumberSymbol):
        if node.is_real is False or node in (sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            raise ConfigError(f"to_torch: cannot evaluate the non-finite number {node}")
        number = float(node)  # type: ignore[arg-type]
        return lambda env: number
    if isinstance(node, sympy.Symbol):
        name = node.name
        if name not in names:
            raise ConfigError(
                f"to_torch: the formula uses symbol {name!r}, which is not among the inputs "
                f"{sorted(names)}"
            )
        return lambda env: env[name]
    if isinstance(node, sympy.Add):
        terms = [_build(arg, names) for arg in node.args]

        def add(env: Mapping[str, Value]) -> Value:
            total = terms[0](env)
            for term in terms[1:]:
                total = total + term(env)
            return total

        return add
    if isinstance(node, sympy.Mul):
        factors = [_build(arg, names) for arg in node.args]

        def mul(env: Mapping[str, Value]) -> Value:
            product = factors[0](env)
            for factor in factors[1:]:
                product = product * factor(env)
            return product

        return mul
    if isinstance(node, sympy.Pow):
        return _build_power(node, names)
    function = _UNARY.get(node.func) or _RECIPROCAL.get(node.func)  # type: ignore[call-overload]
    if function is not None and len(node.args) == 1:
        argument = _build(node.args[0], names)
        return lambda env: function(_tensor(argument(env), env))
    raise ConfigError(
        f"to_torch: cannot evaluate {node} (a {type(node).__name__} node); supported are "
        f"{_supported()}"
    )


def _build_power(node: sympy.Pow, names: frozenset[str]) -> Node:
    base_expr, exponent_expr = node.args
    if base_expr == sympy.E:
        exponent = _build(exponent_expr, names)
        return lambda env: torch.exp(_tensor(exponent(env), env))
    base = _build(base_expr, names)
    if exponent_expr.is_Integer:
        integer = int(exponent_expr)
        if integer == 1:
            return base
        if integer == 2:
            return lambda env: _square(base(env))
        if integer == -1:
            return lambda env: 1.0 / _tensor(base(env), env)
        return lambda env: _tensor(base(env), env) ** integer
    if exponent_expr.is_Rational:
        if exponent_expr == sympy.Rational(1, 2):
            return lambda env: torch.sqrt(_tensor(base(env), env))
        if exponent_expr == sympy.Rational(-1, 2):
            return lambda env: torch.rsqrt(_tensor(base(env), env))
        rational = float(exponent_expr)  # type: ignore[arg-type]
        return lambda env: _tensor(base(env), env) ** rational
    exponent = _build(exponent_expr, names)
    return lambda env: _tensor(base(env), env) ** exponent(env)


def _square(value: Value) -> Value:
    return value * value


def _tensor(value: Value, env: Mapping[str, Value]) -> Tensor:
    if isinstance(value, Tensor):
        return value
    like = next(v for v in env.values() if isinstance(v, Tensor))
    return torch.full((), float(value), dtype=like.dtype, device=like.device)


class TorchFormula:
    """A sympy formula compiled to torch: ``(N, d) -> (N,)`` (see :func:`to_torch`).

    Attributes
    ----------
    expression : sympy.Expr
    symbols : tuple of sympy.Symbol
        Column ``k`` of the input holds ``symbols[k]``.
    """

    def __init__(self, expression: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> None:
        self.expression = expression
        self.symbols = tuple(symbols)
        self._names = tuple(s.name for s in self.symbols)
        self._node = _build(expression, frozenset(self._names))

    def __repr__(self) -> str:
        return f"TorchFormula({self.expression}, symbols={self._names})"

    def __call__(self, x: Tensor | Mapping[str, Tensor]) -> Tensor:
        """Evaluate on ``x``: a tensor ``(N, d)`` or a dict of named ``(N,)`` (or 0-d) tensors.

        Returns
        -------
        Tensor, shape (N,)
            In the dtype and on the device of the inputs.
        """
        if isinstance(x, Tensor):
            if x.dim() != 2 or x.shape[1] != len(self.symbols):
                raise ShapeError(
                    f"to_torch: x must have shape (N, {len(self.symbols)}) with columns "
                    f"{list(self._names)}; received {tuple(x.shape)}"
                )
            env: dict[str, Value] = {name: x[:, k] for k, name in enumerate(self._names)}
            like = x[:, 0] if x.shape[1] else x.new_zeros(x.shape[0])
        elif isinstance(x, Mapping):
            missing = [name for name in self._names if name not in x]
            if missing:
                raise ConfigError(
                    f"to_torch: the input dict lacks column(s) {missing}; it has {sorted(x)}"
                )
            env = {name: x[name] for name in self._names}
            columns = [v for v in env.values() if isinstance(v, Tensor) and v.dim() == 1]
            if not columns:
                raise ShapeError("to_torch: the input dict needs at least one (N,) tensor")
            like = columns[0]
        else:
            raise ShapeError(
                f"to_torch: x must be a tensor (N, d) or a dict of tensors; received "
                f"{type(x).__name__}"
            )
        value = self._node(env)
        if not isinstance(value, Tensor):
            return torch.full_like(like, float(value))
        return value.expand(like.shape[0]) if value.dim() == 0 else value


def to_torch(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> TorchFormula:
    """Compile ``expr`` into a torch function of the columns ``symbols``.

    Parameters
    ----------
    expr : sympy.Expr
        Built from +, *, ** (integer, rational or general exponents), numbers, ``pi``, ``E``,
        the ``symbols`` and the unary functions of the PDE compiler (sin, cos, exp, log, tanh,
        asin, atan, atanh, Abs, ...).
    symbols : sequence of sympy.Symbol
        The inputs, in column order.

    Returns
    -------
    TorchFormula
        Callable ``(N, len(symbols)) -> (N,)``; also accepts a dict ``{name: (N,) tensor}``
        (0-d tensors broadcast, e.g. trainable constants).

    Raises
    ------
    ConfigError
        For a node it cannot evaluate (naming it) or a symbol that is not an input.
    """
    symbols = tuple(symbols)
    if not all(isinstance(s, sympy.Symbol) for s in symbols):
        raise ConfigError(f"to_torch: symbols must be sympy Symbols; received {symbols!r}")
    return TorchFormula(sympy.sympify(expr), symbols)


def constants_as_parameters(
    expr: sympy.Expr, *, prefix: str = "c"
) -> tuple[sympy.Expr, tuple[sympy.Symbol, ...], tuple[float, ...]]:
    """Replace every floating-point constant of ``expr`` by a symbol ``c0, c1, ...``.

    Only :class:`sympy.Float` leaves are replaced, each occurrence by its own symbol, so that
    exact integers and rationals (``x**2``, ``sqrt(x)``, ``x/3``) stay exact.

    Parameters
    ----------
    expr : sympy.Expr
    prefix : str
        Stem of the new symbol names; a name already used by ``expr`` is skipped.

    Returns
    -------
    expression : sympy.Expr
        ``expr`` with the Floats replaced.
    symbols : tuple of sympy.Symbol
        The new symbols, in tree order.
    values : tuple of float
        ``values[k]`` is the constant ``symbols[k]`` replaced.
    """
    expr = sympy.sympify(expr)
    taken = {s.name for s in expr.free_symbols}  # type: ignore[attr-defined]
    symbols: list[sympy.Symbol] = []
    values: list[float] = []
    counter = 0

    def fresh() -> sympy.Symbol:
        nonlocal counter
        while f"{prefix}{counter}" in taken:
            counter += 1
        symbol = sympy.Symbol(f"{prefix}{counter}", real=True)
        counter += 1
        return symbol

    def walk(node: sympy.Basic) -> sympy.Basic:
        if isinstance(node, sympy.Float):
            symbol = fresh()
            symbols.append(symbol)
            values.append(float(node))
            return symbol
        if not node.args:
            return node
        return node.func(*(walk(arg) for arg in node.args), evaluate=False)

    replaced = walk(expr)
    return replaced, tuple(symbols), tuple(values)  # type: ignore[return-value]
