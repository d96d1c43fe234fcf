"""Conserved quantities as declared symmetries (see :mod:`kanphys.training.symmetry`).

* :class:`Conserved`: ``H(state)`` constant along a learned vector field ``dstate/dt = f``;
  residual ``grad H . f``.
* :class:`ConservedIntegral`: ``d/dt integral of q(u, x) dx = 0`` for a PDE solution; residual
  the change in time of the spatial mean of ``q``.

Quantities are expression strings parsed by :mod:`kanphys.pde.expressions` (never evaluated
as Python) and compiled by :mod:`kanphys.pde.compile`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sympy
import torch
from torch import Tensor

from kanphys.errors import ConfigError, ShapeError, SpecError
from kanphys.pde.compile import CompiledExpression, Environment, compile_expression
from kanphys.pde.expressions import parse_expression
from kanphys.pde.problem import field_function, input_symbol
from kanphys.training.symmetry import Function, Symmetry, register_symmetry

__all__ = ["Conserved", "ConservedIntegral"]


@register_symmetry
@dataclass(frozen=True, kw_only=True)
class Conserved(Symmetry):
    """A quantity ``H(state)`` conserved along the flow of a learned vector field.

    The model maps the inputs (the state ``variables``, possibly with others such as time) to
    the time derivatives of the state: output ``k`` is ``d variables[k] / dt``. ``H`` is kept
    constant along trajectories when ``dH/dt = grad H . f = 0``; that is the residual.

    Attributes
    ----------
    quantity : str
        ``H`` as an expression of the variables, e.g. ``"v**2/2 + 1 - cos(q)"``; parsed by the
        safe parser of :mod:`kanphys.pde.expressions` and differentiated symbolically.
    variables : tuple of str
        The state variables (input names), in the order of the model's outputs.
    """

    kind: ClassVar[str] = "conserved"
    options: ClassVar[tuple[str, ...]] = ("quantity",)
    takes_field: ClassVar[bool] = False
    quantity: str = ""
    _gradient_terms: tuple[Any, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.field is not None:
            raise ConfigError(
                f"{self.label}: field is not used (output k is the rate of variables[k]); "
                f"received field={self.field!r}"
            )
        for variable in self.variables:
            if not isinstance(variable, str):
                raise ConfigError(
                    f"{self.label}: variables must be names (the quantity is written in them); "
                    f"received {variable!r}"
                )
        names = tuple(str(v) for v in self.variables)
        if not isinstance(self.quantity, str) or not self.quantity.strip():
            raise ConfigError(
                f"{self.label}: quantity must be an expression string of {', '.join(names)}, "
                f"e.g. 'p**2/2 + q**2/2'; received {self.quantity!r}"
            )
        try:
            expr = parse_expression(
                self.quantity,
                names={v: input_symbol(v) for v in names},
                inputs=names,
                fields=(),
                label="quantity",
                source=self.label,
            )
        except SpecError as error:
            raise ConfigError(str(error)) from None
        gradient = tuple(
            compile_expression(sympy.diff(expr, input_symbol(v)), names, label=self.label)
            for v in names
        )
        object.__setattr__(self, "_gradient_terms", gradient)

    def validate(self, names: Sequence[str], outputs: Sequence[str]) -> None:
        super().validate(names, outputs)
        if len(outputs) != len(self.variables):
            raise ConfigError(
                f"{self.label}: needs one model output per state variable "
                f"({len(self.variables)}: {', '.join(map(str, self.variables))}); the model has "
                f"{len(outputs)} outputs"
            )

    def _residual(
        self, function: Function, x: Tensor, columns: tuple[int, ...], outputs: tuple[int, ...]
    ) -> Tensor:
        rates = function(x)
        if rates.shape[1] != len(columns):
            raise ShapeError(
                f"{self.label}: the model must output one rate per state variable "
                f"({len(columns)}: {', '.join(map(str, self.variables))}); it has "
                f"{rates.shape[1]} outputs"
            )
        env = Environment({str(v): x[:, c] for v, c in zip(self.variables, columns, strict=True)})
        total = sum(
            (term(env) * rates[:, k] for k, term in enumerate(self._gradient_terms)),
            torch.zeros_like(rates[:, 0]),
        )
        return total[:, None]

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["quantity"] = self.quantity
        return data


@functools.lru_cache(maxsize=64)
def _density(
    quantity: str, names: tuple[str, ...], outputs: tuple[str, ...], owner: str
) -> CompiledExpression:
    """The compiled density of :class:`ConservedIntegral` (fields and inputs, no derivatives)."""
    symbols = {v: input_symbol(v) for v in names}
    symbols.update({f: field_function(f, names) for f in outputs})
    try:
        expr = parse_expression(
            quantity, names=symbols, inputs=names, fields=outputs, label="quantity", source=owner
        )
        compiled = compile_expression(expr, names, label=owner)
    except SpecError as error:
        raise ConfigError(str(error)) from None
    if any(variables for _, variables in compiled.requires):
        raise ConfigError(
            f"{owner}: quantity {quantity!r} uses a derivative; the conserved density may use "
            f"only the fields ({', '.join(outputs)}), the inputs and numbers"
        )
    return compiled


@register_symmetry
@dataclass(frozen=True, kw_only=True)
class ConservedIntegral(Symmetry):
    """A spatial integral conserved in time: ``d/dt  integral of q(u, x) dx = 0``.

    For the solution of a time-dependent PDE (mass ``q = u`` under periodic advection or
    diffusion with no-flux walls, ``q = u**2`` under periodic advection, ...). The points
    given to :meth:`residual` supply the spatial samples: their first ``N // n_times`` rows are
    copied to ``n_times`` evenly spaced times spanning the range of the time column, the
    density is averaged over the samples at each time (the same samples at every time, so
    the Monte Carlo error cancels in differences), and the residual is the change of that
    average from the first time, ``(n_times - 1, 1)``.

    Attributes
    ----------
    variables : tuple of one str or int
        The time input.
    quantity : str or None
        The density ``q`` as an expression of the fields (outputs) and inputs, no derivatives;
        parsed safely (never evaluated as Python). Default: the ``field`` (or the only output).
    n_times : int
        Number of time slices compared (default 8, >= 2).
    """

    kind: ClassVar[str] = "conserved_integral"
    options: ClassVar[tuple[str, ...]] = ("quantity", "n_times")
    counts: ClassVar[tuple[int, int | None]] = (1, 1)
    quantity: str | None = None
    n_times: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.quantity is not None and (
            not isinstance(self.quantity, str) or not self.quantity.strip()
        ):
            raise ConfigError(
                f"{self.label}: quantity must be an expression string of the fields and inputs, "
                f"e.g. 'u**2'; received {self.quantity!r}"
            )
        if isinstance(self.n_times, bool) or not isinstance(self.n_times, int) or self.n_times < 2:
            raise ConfigError(
                f"{self.label}: n_times must be an integer >= 2; received {self.n_times!r}"
            )

    def residual(
        self,
        function: Function,
        x: Tensor,
        *,
        names: Sequence[str],
        outputs: Sequence[str],
    ) -> Tensor:
        if x.dim() != 2 or x.shape[1] != len(names):
            raise ShapeError(
                f"{self.label}: points must have shape (N, {len(names)}); received {tuple(x.shape)}"
            )
        (time,) = self.indices(names)
        density = self._density(names, outputs)
        n_space = x.shape[0] // self.n_times
        if n_space < 1:
            raise ShapeError(
                f"{self.label}: needs at least n_times = {self.n_times} points; received "
                f"{x.shape[0]}"
            )
        times = torch.linspace(
            float(x[:, time].min()), float(x[:, time].max()), self.n_times, dtype=x.dtype
        ).to(x.device)
        points = x[:n_space].detach().repeat(self.n_times, 1)
        points[:, time] = times.repeat_interleave(n_space)
        out = function(points)

        env = Environment(
            {name: points[:, i] for i, name in enumerate(names)},
            {(name, ()): out[:, k] for k, name in enumerate(outputs)},
        )
        means = density(env).reshape(self.n_times, n_space).mean(dim=1)
        return (means[1:] - means[0])[:, None]

    def validate(self, names: Sequence[str], outputs: Sequence[str]) -> None:
        super().validate(names, outputs)
        self._density(names, outputs)

    def _density(self, names: Sequence[str], outputs: Sequence[str]) -> CompiledExpression:
        quantity = self.quantity
        if quantity is None:
            if self.field is None and len(outputs) != 1:
                raise ConfigError(
                    f"{self.label}: give the quantity or the field; there are {len(outputs)} "
                    f"outputs ({', '.join(outputs)})"
                )
            quantity = outputs[self.outputs(outputs)[0]]
        return _density(quantity, tuple(names), tuple(outputs), self.label)

    def _residual(
        self, function: Function, x: Tensor, columns: tuple[int, ...], outputs: tuple[int, ...]
    ) -> Tensor:  # pragma: no cover - residual() is overridden
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.quantity is not None:
            data["quantity"] = self.quantity
        data["n_times"] = self.n_times
        return data
