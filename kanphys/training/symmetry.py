"""Declared symmetries, enforced as extra residual losses when fitting data or solving PDEs.

A symmetry known in advance is a linear constraint on the learned function ``f`` that holds at
*every* point, labelled or not. Imposing its residual on unlabelled points (random points in the
data's bounding box, or the collocation points of a PDE) is what helps with few or noisy samples.

* :class:`Translation`: ``f(x + s c) = f(x)``; residual ``sum_k c_k df/dx_k``.
* :class:`Scaling`: ``f(s x) = s^degree f(x)``; residual ``sum_k x_k df/dx_k - degree f``.
* :class:`Swap`: ``f(.. a .. b ..) = f(.. b .. a ..)``; residual ``f(x) - f(P x)``.
* :class:`Rotation`: invariance under rotations of ``(x_a, x_b)`` about the origin; residual
  ``x_a df/dx_b - x_b df/dx_a``.
* :class:`Conserved`: ``H(state)`` constant along the learned flow ``dstate/dt = f``; residual
  ``grad H . f``.
* :class:`ConservedIntegral`: ``d/dt integral q(u, x) dx = 0`` for a PDE solution; residual the
  change in time of the spatial mean of ``q``.

The first four constrain every selected output ``f`` (``field``: all outputs by default). The
differential residuals use reverse-mode autograd with ``create_graph=True`` so that they can be
trained; dtype and device follow the points given. :class:`Conserved` is for a learned vector
field: the model maps the state ``variables`` (and possibly other inputs) to their time
derivatives, output ``k`` being ``d variables[k] / dt``; ``H`` is a safe expression string
parsed by :mod:`kanphys.pde.expressions` (never evaluated as Python) and differentiated
symbolically.

Variables are named by input column index or by name; names are resolved against the input
names given with the data (``x0, x1, ...`` by default, as in :mod:`kanphys.discovery`) or the
inputs of a PDE problem.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from kanphys.errors import ConfigError, ShapeError

__all__ = [
    "SYMMETRIES",
    "Conserved",
    "ConservedIntegral",
    "Rotation",
    "Scaling",
    "Swap",
    "Symmetry",
    "Translation",
    "bounding_box_points",
    "symmetry_from_dict",
    "symmetry_loss",
]

Variable = int | str
"""An input named by its column index or its name."""
Function = Callable[[Tensor], Tensor]
"""``(N, D) -> (N, M)``: the function whose symmetry is imposed."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_variable(owner: str, value: Any) -> Variable:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ConfigError(
        f"{owner}: variables must be input names (str) or column indices (int >= 0); "
        f"received {value!r}"
    )


def resolve_variable(owner: str, variable: Variable, names: Sequence[str]) -> int:
    """The column index of ``variable`` among the inputs ``names``."""
    if isinstance(variable, int):
        if variable >= len(names):
            raise ConfigError(
                f"{owner}: column index {variable} is out of range for {len(names)} inputs "
                f"({', '.join(names)})"
            )
        return variable
    if variable not in names:
        raise ConfigError(
            f"{owner}: unknown variable {variable!r}; the inputs are {', '.join(names)}"
        )
    return list(names).index(variable)


def _gradient(out: Tensor, x: Tensor) -> Tensor:
    """``d out / d x`` ``(N, D)`` of one output column ``out`` ``(N,)``, differentiable."""
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


@dataclass(frozen=True, kw_only=True)
class Symmetry(abc.ABC):
    """Base class of declared symmetries.

    Attributes
    ----------
    variables : tuple of (str or int)
        The inputs the symmetry acts on, by name or column index; distinct.
    field : str, int or None
        The output (by name or index) that has the symmetry; ``None`` (default): every output.
    weight : float
        Factor of this symmetry's mean squared residual in the loss (default 1, > 0).
    """

    kind: ClassVar[str] = ""
    counts: ClassVar[tuple[int, int | None]] = (1, None)

    variables: tuple[Variable, ...]
    field: str | int | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        owner = self.label
        if isinstance(self.variables, (str, int)) or not isinstance(self.variables, Sequence):
            raise ConfigError(
                f"{owner}: variables must be a list of input names or column indices; "
                f"received {self.variables!r}"
            )
        variables = tuple(_check_variable(owner, v) for v in self.variables)
        low, high = self.counts
        if len(variables) < low or (high is not None and len(variables) > high):
            wanted = f"exactly {low}" if low == high else f"at least {low}"
            raise ConfigError(
                f"{owner}: needs {wanted} variables; received {len(variables)} {list(variables)}"
            )
        for i, variable in enumerate(variables):
            if variables.index(variable) != i:
                raise ConfigError(
                    f"{owner}: variable {variable!r} is named twice in {list(variables)}; "
                    "the variables must be distinct"
                )
        object.__setattr__(self, "variables", variables)
        if self.field is not None:
            _check_variable(f"{owner} field", self.field)
        ok = _is_number(self.weight) and math.isfinite(self.weight) and self.weight > 0
        if not ok:
            raise ConfigError(
                f"{owner}: weight must be a finite number > 0; received {self.weight!r}"
            )
        object.__setattr__(self, "weight", float(self.weight))

    @property
    def label(self) -> str:
        return f"{type(self).__name__}"

    def indices(self, names: Sequence[str]) -> tuple[int, ...]:
        """Column indices of :attr:`variables` among the inputs ``names``; names must differ.

        Indices and names that point at the same column also count as naming it twice.
        """
        columns = tuple(resolve_variable(self.label, v, names) for v in self.variables)
        if len(set(columns)) != len(columns):
            raise ConfigError(
                f"{self.label}: variables {list(self.variables)} name the same input twice "
                f"(inputs {', '.join(names)})"
            )
        return columns

    def outputs(self, outputs: Sequence[str]) -> tuple[int, ...]:
        """Indices of the outputs that have the symmetry (``field``, or every output)."""
        if self.field is None:
            return tuple(range(len(outputs)))
        return (resolve_variable(f"{self.label} field", self.field, outputs),)

    def validate(self, names: Sequence[str], outputs: Sequence[str]) -> None:
        """Raise :class:`ConfigError` unless the symmetry fits inputs ``names`` and ``outputs``."""
        self.indices(names)
        self.outputs(outputs)

    def residual(
        self,
        function: Function,
        x: Tensor,
        *,
        names: Sequence[str],
        outputs: Sequence[str],
    ) -> Tensor:
        """The symmetry residual at the points ``x``.

        Parameters
        ----------
        function : callable
            ``(N, D) -> (N, M)``, e.g. a network.
        x : Tensor, shape (N, D)
            Points where the symmetry is imposed; the residual has their dtype and device.
        names : sequence of str
            The ``D`` input names (variables given by name are looked up here).
        outputs : sequence of str
            The ``M`` output names (``field`` given by name is looked up here).

        Returns
        -------
        Tensor, shape (N, K)
            One column per constrained output (``K = 1`` for :class:`Conserved`); zero where the
            function has the symmetry.
        """
        if x.dim() != 2 or x.shape[1] != len(names):
            raise ShapeError(
                f"{self.label}: points must have shape (N, {len(names)}); received {tuple(x.shape)}"
            )
        columns = self.indices(names)
        return self._residual(function, x, columns, self.outputs(outputs))

    @abc.abstractmethod
    def _residual(
        self, function: Function, x: Tensor, columns: tuple[int, ...], outputs: tuple[int, ...]
    ) -> Tensor: ...

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the keys of a ``[[symmetry]]`` spec table)."""
        data: dict[str, Any] = {"kind": self.kind, "variables": list(self.variables)}
        if self.field is not None:
            data["field"] = self.field
        data["weight"] = self.weight
        return data


class _Differential(Symmetry):
    """A first-order linear differential residual ``sum_k a_k(x) df/dx_k + b(x) f``."""

    def _residual(
        self, function: Function, x: Tensor, columns: tuple[int, ...], outputs: tuple[int, ...]
    ) -> Tensor:
        x = x.detach().requires_grad_(True)
        out = function(x)
        result = []
        for o in outputs:
            grad = _gradient(out[:, o], x)
            result.append(self._combine(x.detach(), grad, out[:, o], columns))
        return torch.stack(result, dim=1)

    @abc.abstractmethod
    def _combine(self, x: Tensor, grad: Tensor, value: Tensor, columns: tuple[int, ...]) -> Tensor:
        """Residual ``(N,)`` from the points, the gradient ``(N, D)`` and the value ``(N,)``."""

    @abc.abstractmethod
    def coefficients(self) -> tuple[tuple[Callable[[Any], Any], ...], Callable[[Any], Any]]:
        """``(a_k, b)`` as functions of the variables' values (for symbolic residuals)."""


@dataclass(frozen=True, kw_only=True)
class Translation(_Differential):
    """Invariance under a common shift: ``f(x + s c) = f(x)`` for all ``s``.

    The residual is the directional derivative ``sum_k c_k df/dx_k``. ``direction`` gives
    ``c`` (one number per variable, not all zero); by default all ones, e.g.
    ``Translation(variables=("x1", "x2"))`` for ``f(x1 + s, x2 + s) = f(x1, x2)`` (a function
    of ``x1 - x2``).
    """

    kind: ClassVar[str] = "translation"
    direction: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.direction is None:
            object.__setattr__(self, "direction", (1.0,) * len(self.variables))
        owner = self.label
        d = self.direction
        if (
            isinstance(d, (str, bytes))
            or not isinstance(d, Sequence)
            or len(d) != len(self.variables)
        ):
            raise ConfigError(
                f"{owner}: direction must be a list of {len(self.variables)} numbers (one per "
                f"variable); received {self.direction!r}"
            )
        if not all(_is_number(c) and math.isfinite(c) for c in d) or not any(c != 0 for c in d):
            raise ConfigError(
                f"{owner}: direction must hold finite numbers, not all zero; received {d!r}"
            )
        object.__setattr__(self, "direction", tuple(float(c) for c in d))

    def _combine(self, x: Tensor, grad: Tensor, value: Tensor, columns: tuple[int, ...]) -> Tensor:
        c = torch.tensor(self.direction, dtype=grad.dtype, device=grad.device)
        return grad[:, list(columns)] @ c

    def coefficients(self) -> tuple[tuple[Callable[[Any], Any], ...], Callable[[Any], Any]]:
        assert self.direction is not None
        return tuple((lambda v, c=c: c) for c in self.direction), lambda v: 0

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["direction"] = list(self.direction or ())
        return data


@dataclass(frozen=True, kw_only=True)
class Scaling(_Differential):
    """Homogeneity: ``f(s x) = s^degree f(x)`` for the variables (Euler's relation).

    The residual is ``sum_k x_k df/dx_k - degree f``; ``degree = 0`` (default) is invariance
    under a common scaling, e.g. ``f = x1 / x2``.
    """

    kind: ClassVar[str] = "scaling"
    degree: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not _is_number(self.degree) or not math.isfinite(self.degree):
            raise ConfigError(
                f"{self.label}: degree must be a finite number; received {self.degree!r}"
            )
        object.__setattr__(self, "degree", float(self.degree))

    def _combine(self, x: Tensor, grad: Tensor, value: Tensor, columns: tuple[int, ...]) -> Tensor:
        index = list(columns)
        return (x[:, index] * grad[:, index]).sum(dim=1) - self.degree * value

    def coefficients(self) -> tuple[tuple[Callable[[Any], Any], ...], Callable[[Any], Any]]:
        terms = tuple((lambda v, k=k: v[k]) for k in range(len(self.variables)))
        return terms, lambda v: -self.degree

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "degree": self.degree}


@dataclass(frozen=True, kw_only=True)
class Rotation(_Differential):
    """Invariance under rotations in the plane of two variables ``(a, b)`` about the origin.

    The residual is the angular derivative ``x_a df/dx_b - x_b df/dx_a``, e.g. zero for any
    ``f(x_a^2 + x_b^2)``. Shift the inputs first if the centre is not the origin.
    """

    kind: ClassVar[str] = "rotation"
    counts: ClassVar[tuple[int, int | None]] = (2, 2)

    def _combine(self, x: Tensor, grad: Tensor, value: Tensor, columns: tuple[int, ...]) -> Tensor:
        a, b = columns
        return x[:, a] * grad[:, b] - x[:, b] * grad[:, a]

    def coefficients(self) -> tuple[tuple[Callable[[Any], Any], ...], Callable[[Any], Any]]:
        return (lambda v: -v[1], lambda v: v[0]), lambda v: 0


@dataclass(frozen=True, kw_only=True)
class Swap(Symmetry):
    """Symmetry under exchanging two variables: ``f(.. a .. b ..) = f(.. b .. a ..)``.

    The residual ``f(x) - f(P x)`` is sampled (``P`` swaps the two columns); it needs no
    derivative. The two variables should share a range, so that ``P x`` stays in the domain.
    """

    kind: ClassVar[str] = "swap"
    counts: ClassVar[tuple[int, int | None]] = (2, 2)

    def _residual(
        self, function: Function, x: Tensor, columns: tuple[int, ...], outputs: tuple[int, ...]
    ) -> Tensor:
        a, b = columns
        permutation = list(range(x.shape[1]))
        permutation[a], permutation[b] = b, a
        index = list(outputs)
        return function(x)[:, index] - function(x[:, permutation])[:, index]


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
        import sympy

        from kanphys.errors import SpecError
        from kanphys.pde.compile import compile_expression
        from kanphys.pde.expressions import parse_expression
        from kanphys.pde.problem import input_symbol

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
        from kanphys.pde.compile import Environment

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
def _density(quantity: str, names: tuple[str, ...], outputs: tuple[str, ...], owner: str) -> Any:
    """The compiled density of :class:`ConservedIntegral` (fields and inputs, no derivatives)."""
    from kanphys.errors import SpecError
    from kanphys.pde.compile import compile_expression
    from kanphys.pde.expressions import parse_expression
    from kanphys.pde.problem import field_function, input_symbol

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
        from kanphys.pde.compile import Environment

        env = Environment(
            {name: points[:, i] for i, name in enumerate(names)},
            {(name, ()): out[:, k] for k, name in enumerate(outputs)},
        )
        means = density(env).reshape(self.n_times, n_space).mean(dim=1)
        return (means[1:] - means[0])[:, None]

    def validate(self, names: Sequence[str], outputs: Sequence[str]) -> None:
        super().validate(names, outputs)
        self._density(names, outputs)

    def _density(self, names: Sequence[str], outputs: Sequence[str]) -> Any:
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


SYMMETRIES: dict[str, type[Symmetry]] = {
    cls.kind: cls for cls in (Translation, Scaling, Swap, Rotation, Conserved, ConservedIntegral)
}
"""Symmetry classes by ``kind`` (the spec's ``kind`` key)."""

_OPTIONS: dict[str, tuple[str, ...]] = {
    "translation": ("direction",),
    "scaling": ("degree",),
    "swap": (),
    "rotation": (),
    "conserved": ("quantity",),
    "conserved_integral": ("quantity", "n_times"),
}


def allowed_keys(kind: str) -> tuple[str, ...]:
    """Keys a symmetry of ``kind`` accepts in a mapping (``kind`` included)."""
    base = ("kind", "variables", "weight")
    return (*base, *(() if kind == "conserved" else ("field",)), *_OPTIONS[kind])


def symmetry_from_dict(data: Mapping[str, Any]) -> Symmetry:
    """Build a symmetry from its :meth:`Symmetry.to_dict` form; unknown keys raise."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a symmetry must be a mapping; received {type(data).__name__}")
    kind = data.get("kind")
    if kind not in SYMMETRIES:
        raise ConfigError(
            f"symmetry kind must be one of {', '.join(map(repr, SYMMETRIES))}; received {kind!r}"
        )
    allowed = allowed_keys(kind)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{kind} symmetry: unknown key(s) {unknown}; allowed keys are {', '.join(allowed)}"
        )
    values = {k: v for k, v in data.items() if k != "kind"}
    if "variables" not in values:
        raise ConfigError(f"{kind} symmetry: variables is required")
    if isinstance(values["variables"], list):
        values["variables"] = tuple(values["variables"])
    if isinstance(values.get("direction"), list):
        values["direction"] = tuple(values["direction"])
    return SYMMETRIES[kind](**values)


def bounding_box_points(
    x: Tensor, count: int, *, generator: torch.Generator | None = None
) -> Tensor:
    """``count`` points drawn uniformly in the bounding box of ``x`` ``(N, D)`` -> ``(count, D)``.

    Drawn on the CPU (so that a CPU ``generator`` works for any device), then moved to the
    dtype and device of ``x``.
    """
    low = x.detach().min(dim=0).values.cpu()
    high = x.detach().max(dim=0).values.cpu()
    unit = torch.rand((count, x.shape[1]), generator=generator, dtype=low.dtype)
    return (low + unit * (high - low)).to(device=x.device)


def symmetry_loss(
    symmetries: Sequence[Symmetry],
    function: Function,
    x: Tensor,
    *,
    names: Sequence[str],
    outputs: Sequence[str],
) -> Tensor:
    """``sum_s weight_s * mean(residual_s(x) ** 2)``: a scalar with the dtype of ``x``."""
    total = torch.zeros((), dtype=x.dtype, device=x.device)
    for symmetry in symmetries:
        residual = symmetry.residual(function, x, names=names, outputs=outputs)
        total = total + symmetry.weight * residual.pow(2).mean()
    return total
