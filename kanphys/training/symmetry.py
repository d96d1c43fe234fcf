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
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from kanphys.errors import ConfigError, ShapeError

__all__ = [
    "SYMMETRIES",
    "Rotation",
    "Scaling",
    "Swap",
    "Symmetry",
    "Translation",
    "bounding_box_points",
    "register_symmetry",
    "resolve_variable",
    "symmetry_class",
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


SYMMETRIES: dict[str, type[Symmetry]] = {}
"""Symmetry classes by ``kind`` (the spec's ``kind`` key), filled by :func:`register_symmetry`."""

S = TypeVar("S", bound="type[Symmetry]")


def register_symmetry(cls: S) -> S:
    """Class decorator adding a symmetry class to :data:`SYMMETRIES` under its ``kind``."""
    SYMMETRIES[cls.kind] = cls
    return cls


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
    options: ClassVar[tuple[str, ...]] = ()
    takes_field: ClassVar[bool] = True

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


@register_symmetry
@dataclass(frozen=True, kw_only=True)
class Translation(_Differential):
    """Invariance under a common shift: ``f(x + s c) = f(x)`` for all ``s``.

    The residual is the directional derivative ``sum_k c_k df/dx_k``. ``direction`` gives
    ``c`` (one number per variable, not all zero); by default all ones, e.g.
    ``Translation(variables=("x1", "x2"))`` for ``f(x1 + s, x2 + s) = f(x1, x2)`` (a function
    of ``x1 - x2``).
    """

    kind: ClassVar[str] = "translation"
    options: ClassVar[tuple[str, ...]] = ("direction",)
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

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["direction"] = list(self.direction or ())
        return data


@register_symmetry
@dataclass(frozen=True, kw_only=True)
class Scaling(_Differential):
    """Homogeneity: ``f(s x) = s^degree f(x)`` for the variables (Euler's relation).

    The residual is ``sum_k x_k df/dx_k - degree f``; ``degree = 0`` (default) is invariance
    under a common scaling, e.g. ``f = x1 / x2``.
    """

    kind: ClassVar[str] = "scaling"
    options: ClassVar[tuple[str, ...]] = ("degree",)
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

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "degree": self.degree}


@register_symmetry
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


@register_symmetry
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


def allowed_keys(kind: str) -> tuple[str, ...]:
    """Keys a symmetry of ``kind`` accepts in a mapping (``kind`` included)."""
    cls = symmetry_class(kind)
    field_key = ("field",) if cls.takes_field else ()
    return ("kind", "variables", "weight", *field_key, *cls.options)


def symmetry_class(kind: Any) -> type[Symmetry]:
    """The class registered under ``kind``; raise :class:`ConfigError` listing the kinds."""
    import kanphys.training.conservation  # noqa: F401  (registers the conserved quantities)

    if kind not in SYMMETRIES:
        raise ConfigError(
            f"symmetry kind must be one of {', '.join(map(repr, SYMMETRIES))}; received {kind!r}"
        )
    return SYMMETRIES[kind]


def symmetry_from_dict(data: Mapping[str, Any]) -> Symmetry:
    """Build a symmetry from its :meth:`Symmetry.to_dict` form; unknown keys raise."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a symmetry must be a mapping; received {type(data).__name__}")
    kind = data.get("kind")
    cls = symmetry_class(kind)
    allowed = allowed_keys(cls.kind)
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
    return cls(**values)


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
