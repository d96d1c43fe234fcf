"""The library of symbolic primitives an edge activation can be replaced with.

A :class:`Primitive` is one elementwise function ``f`` with three faces: the exact torch
function, the exact sympy function (for formula assembly) and a *safe* torch function that is
finite for every finite input (for training symbolic edges, where the affine argument
``b * x + c`` may wander out of the domain). A :class:`Library` is an immutable, ordered,
name-keyed collection of primitives; :data:`DEFAULT_LIBRARY` holds the standard set.

Complexities (used to prefer simple formulas, see :meth:`EdgeFits.best
<kanphys.symbolic.edge_fit.EdgeFits.best>`) count roughly one unit per elementary operation:

* 0: ``0`` (no dependence on the input);
* 1: ``x`` (the identity);
* 2: ``x^2``, ``1/x``, ``sqrt``, ``exp``, ``log``, ``sin``, ``cos`` (one elementary operation);
* 3: ``x^3``, ``x^4``, ``1/x^2``, ``1/sqrt``, ``tan``, ``tanh``, ``abs``, ``gaussian``,
  ``cosh``, ``sinh`` (a higher power, a composition or a less common function);
* 4: ``asin``, ``atan``, ``atanh`` (inverse functions, rarely the intended law).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar, overload

import sympy
import torch
from torch import Tensor

from kanphys.errors import ConfigError, check_choice, check_int

__all__ = [
    "DEFAULT_LIBRARY",
    "EXP_MAX_ARGUMENT",
    "SAFE_EPS",
    "Library",
    "Primitive",
    "Symmetry",
    "detect_symmetry",
    "get_library",
    "make_primitive",
]

SAFE_EPS = 1e-6
"""Distance that safe functions and :meth:`Primitive.in_domain` keep from singularities and
from the ends of a domain: ``1/x`` uses ``sign(u) * max(|u|, SAFE_EPS)``, ``log`` and ``sqrt``
clamp to ``u >= SAFE_EPS``, ``asin`` and ``atanh`` to ``|u| <= 1 - SAFE_EPS``."""

EXP_MAX_ARGUMENT = 80.0
"""Largest argument of ``exp``, ``cosh`` and ``sinh`` kept finite: ``exp(80) ~ 5.5e34`` stays
below the float32 maximum ``3.4e38`` (overflow starts at 88.7); it bounds their domains."""

_INF = math.inf
_T = TypeVar("_T")

TorchFn = Callable[[Tensor], Tensor]
SympyFn = Callable[[sympy.Expr], sympy.Expr]


@dataclass(frozen=True)
class Primitive:
    """One elementwise function ``f`` that an edge can be replaced with (as ``a f(b x + c) + d``).

    Parameters
    ----------
    name : str
        Identifier used in libraries and reports, e.g. ``"sin"``, ``"x^2"``.
    torch_fn : callable
        Exact elementwise function, ``(...) -> (...)``.
    sympy_fn : callable
        The same function on a sympy expression, built from exact sympy functions.
    complexity : int
        Cost used to prefer simple formulas, ``>= 0`` (table in the module docstring).
    safe_fn : callable
        Elementwise function that is finite for every finite input and equals ``torch_fn``
        wherever :meth:`in_domain` holds; used while training symbolic edges.
    domain : tuple of float, default ``(-inf, inf)``
        Open interval on which ``torch_fn`` is finite and real.
    singularities : tuple of float, default ``()``
        Points inside the domain to stay away from (``0`` for ``1/x``).
    derivative_fn : callable or None, default None
        Closed form of ``f'``; when None, :meth:`derivative` differentiates ``torch_fn``
        with autograd.
    """

    name: str
    torch_fn: TorchFn
    sympy_fn: SympyFn
    complexity: int
    safe_fn: TorchFn
    domain: tuple[float, float] = (-_INF, _INF)
    singularities: tuple[float, ...] = ()
    derivative_fn: TorchFn | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"Primitive: name must be a non-empty str; received {self.name!r}")
        label = f"Primitive {self.name!r}"
        check_int(f"{label}: complexity", self.complexity, minimum=0)
        for field_name in ("torch_fn", "sympy_fn", "safe_fn"):
            if not callable(getattr(self, field_name)):
                raise ConfigError(
                    f"{label}: {field_name} must be callable; "
                    f"received {type(getattr(self, field_name)).__name__}"
                )
        if self.derivative_fn is not None and not callable(self.derivative_fn):
            raise ConfigError(
                f"{label}: derivative_fn must be callable or None; "
                f"received {type(self.derivative_fn).__name__}"
            )
        domain = _float_tuple(f"{label}: domain", self.domain)
        if len(domain) != 2 or not domain[0] < domain[1]:
            raise ConfigError(
                f"{label}: domain must be an interval (low, high) with low < high; "
                f"received {self.domain!r}"
            )
        singularities = _float_tuple(f"{label}: singularities", self.singularities)
        for point in singularities:
            if not domain[0] < point < domain[1]:
                raise ConfigError(
                    f"{label}: singularities must lie inside the domain {domain}; "
                    f"received {point!r}"
                )
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "singularities", singularities)

    def in_domain(self, u: Tensor, margin: float = SAFE_EPS) -> Tensor:
        """Mask of the points where ``torch_fn`` can be used safely.

        Parameters
        ----------
        u : Tensor, shape ``(...)``
            Arguments of ``f``.
        margin : float, default :data:`SAFE_EPS`
            Distance kept from the ends of the domain and from the singularities.

        Returns
        -------
        Tensor of bool, shape ``(...)``
            True where ``low + margin < u < high - margin`` and ``|u - s| > margin`` for every
            singularity ``s``; False for NaN and infinities.
        """
        low, high = self.domain
        mask = torch.isfinite(u)
        if low > -_INF:
            mask = mask & (u > low + margin)
        if high < _INF:
            mask = mask & (u < high - margin)
        for point in self.singularities:
            mask = mask & ((u - point).abs() > margin)
        return mask

    def derivative(self, u: Tensor) -> Tensor:
        """Elementwise derivative ``f'(u)``, shape of ``u``, from ``derivative_fn`` or else from
        autograd of ``torch_fn`` (then detached from ``u``'s graph); outside the domain it is
        whatever the formula gives there."""
        if self.derivative_fn is not None:
            return self.derivative_fn(u)
        with torch.enable_grad():
            point = u.detach().requires_grad_(True)
            value = self.torch_fn(point)
            if not value.requires_grad:  # a constant function
                return torch.zeros_like(u)
            (grad,) = torch.autograd.grad(value.sum(), point, allow_unused=True)
        return torch.zeros_like(u) if grad is None else grad


def _float_tuple(label: str, value: Any) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{label} must be a tuple of floats; received {value!r}") from None


def make_primitive(
    name: str,
    torch_fn: TorchFn,
    sympy_fn: SympyFn,
    complexity: int,
    *,
    safe_fn: TorchFn | None = None,
    domain: tuple[float, float] = (-_INF, _INF),
    singularities: tuple[float, ...] = (),
    derivative_fn: TorchFn | None = None,
) -> Primitive:
    """Build a validated :class:`Primitive`.

    ``safe_fn`` defaults to ``torch_fn`` followed by ``torch.nan_to_num`` (NaN -> 0, +-inf ->
    the largest finite value of the dtype); give a better one (a clamp of the argument) when
    the primitive is trained outside its domain. The other arguments are those of
    :class:`Primitive`; invalid ones raise :class:`~kanphys.errors.ConfigError`.
    """
    if not callable(torch_fn):
        raise ConfigError(
            f"make_primitive: torch_fn must be callable; received {type(torch_fn).__name__}"
        )
    if safe_fn is None:

        def safe_fn(u: Tensor) -> Tensor:
            return torch.nan_to_num(torch_fn(u))

    return Primitive(
        name=name,
        torch_fn=torch_fn,
        sympy_fn=sympy_fn,
        complexity=complexity,
        safe_fn=safe_fn,
        domain=domain,
        singularities=singularities,
        derivative_fn=derivative_fn,
    )


class Library(Mapping[str, Primitive]):
    """Immutable ordered mapping ``name -> Primitive``.

    Parameters
    ----------
    primitives : iterable of Primitive
        The primitives, in the order reports list them; names must be unique.

    Notes
    -----
    Lookup of an unknown name raises :class:`~kanphys.errors.ConfigError` listing the allowed
    names (``name in library`` and ``library.get(name)`` do not raise). Build modified copies
    with :meth:`with_primitives`, :meth:`subset` and :meth:`without`.
    """

    __slots__ = ("_names", "_primitives")

    _names: tuple[str, ...]
    _primitives: Mapping[str, Primitive]

    def __init__(self, primitives: Iterable[Primitive]) -> None:
        if isinstance(primitives, (Primitive, str)) or not isinstance(primitives, Iterable):
            raise ConfigError(
                "Library: primitives must be an iterable of Primitive; "
                f"received {type(primitives).__name__}"
            )
        table: dict[str, Primitive] = {}
        for primitive in primitives:
            if not isinstance(primitive, Primitive):
                raise ConfigError(
                    "Library: every entry must be a Primitive (see make_primitive); "
                    f"received {type(primitive).__name__}"
                )
            if primitive.name in table:
                raise ConfigError(
                    f"Library: duplicate primitive name {primitive.name!r}; names must be unique"
                )
            table[primitive.name] = primitive
        object.__setattr__(self, "_primitives", MappingProxyType(table))
        object.__setattr__(self, "_names", tuple(table))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(
            f"Library is immutable (cannot set {name!r}); build a new one with "
            "with_primitives, subset or without"
        )

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Library is immutable (cannot delete {name!r})")

    @property
    def names(self) -> tuple[str, ...]:
        """Primitive names in library order."""
        return self._names

    def __getitem__(self, name: str) -> Primitive:
        if isinstance(name, str) and name in self._primitives:
            return self._primitives[name]
        check_choice("primitive", name, self._names)
        raise AssertionError("unreachable")  # pragma: no cover

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._primitives

    @overload
    def get(self, name: str, /) -> Primitive | None: ...

    @overload
    def get(self, name: str, /, default: Primitive | _T) -> Primitive | _T: ...

    def get(self, name: str, /, default: Any = None) -> Any:
        """The primitive called ``name``, or ``default`` when there is none."""
        return self._primitives[name] if name in self else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"Library({list(self._names)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Library, (tuple(self._primitives.values()),))

    def __copy__(self) -> Library:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Library:
        return self

    def with_primitives(self, *primitives: Primitive, replace: bool = False) -> Library:
        """New library with ``primitives`` added at the end.

        A primitive whose name is already present raises
        :class:`~kanphys.errors.ConfigError`, unless ``replace=True``: then it takes the old
        one's place in the order.
        """
        table = dict(self._primitives)
        added: dict[str, Primitive] = {}
        for primitive in primitives:
            if not isinstance(primitive, Primitive):
                raise ConfigError(
                    "Library.with_primitives: every argument must be a Primitive; "
                    f"received {type(primitive).__name__}"
                )
            if primitive.name in added:
                raise ConfigError(
                    f"Library.with_primitives: duplicate primitive name {primitive.name!r}"
                )
            if primitive.name in table and not replace:
                raise ConfigError(
                    f"Library.with_primitives: the library already has a primitive named "
                    f"{primitive.name!r}; pass replace=True to replace it"
                )
            added[primitive.name] = primitive
            table[primitive.name] = primitive
        return Library(table.values())

    def subset(self, names: Iterable[str]) -> Library:
        """New library with the primitives called ``names``, in the given order; an unknown
        name raises :class:`~kanphys.errors.ConfigError` listing the allowed names."""
        return Library(self[name] for name in _name_list("Library.subset", names))

    def without(self, names: Iterable[str]) -> Library:
        """New library without the primitives called ``names``; an unknown name raises
        :class:`~kanphys.errors.ConfigError` listing the allowed names."""
        dropped = {self[name].name for name in _name_list("Library.without", names)}
        return Library(p for name, p in self._primitives.items() if name not in dropped)


def _name_list(label: str, names: Any) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise ConfigError(
            f"{label}: names must be an iterable of primitive names such as ['sin', 'exp']; "
            f"received {names!r}"
        )
    names = list(names)
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"{label}: names must be strings; received {name!r}")
    return names


def get_library(library: Library | Iterable[str] | None) -> Library:
    """Resolve a ``library`` argument.

    Parameters
    ----------
    library : Library, iterable of str or None
        None gives :data:`DEFAULT_LIBRARY`; a :class:`Library` is returned as is; names give
        ``DEFAULT_LIBRARY.subset(names)``.

    Raises
    ------
    ConfigError
        For anything else, or for names not in the default library.
    """
    if library is None:
        return DEFAULT_LIBRARY
    if isinstance(library, Library):
        return library
    if isinstance(library, str) or not isinstance(library, Iterable):
        raise ConfigError(
            "library must be None, a Library or a list of primitive names such as "
            f"['sin', 'exp']; received {library!r}"
        )
    return DEFAULT_LIBRARY.subset(library)


# ----------------------------------------------------------------------------------------
# symmetries, detected numerically (used by the edge fitter)


@dataclass(frozen=True)
class Symmetry:
    """Properties of a primitive ``f`` that make parameters of ``a f(b x + c) + d`` redundant.

    Attributes
    ----------
    closed_form : {"identity", "zero"} or None
        ``f(u) = u`` or ``f(u) = 0``: the fit is a closed-form least-squares line or constant.
    parity : {1, -1, 0}
        ``f`` even (``f(-u) = f(u)``), odd (``f(-u) = -f(u)``) or neither; ``b > 0`` suffices.
    invariance : {"power", "exponential", "logarithmic"} or None
        ``f(s u) = s^rate f(u)`` (``|b|`` is redundant with ``a``), ``f(u + t) = e^(rate t)
        f(u)`` (``c`` is redundant with ``a``) or ``f(s u) = f(u) + rate log s`` (``|b|`` is
        redundant with ``c`` and ``d``).
    rate : float
        The exponent or rate of ``invariance`` (0 when None).
    """

    closed_form: str | None = None
    parity: int = 0
    invariance: str | None = None
    rate: float = 0.0


_PROBES = (-2.1, -1.3, -0.7, -0.3, 0.3, 0.7, 1.3, 2.1)


def _agree(left: Tensor, right: Tensor) -> bool:
    return bool(torch.isfinite(left).all()) and torch.allclose(left, right, 1e-10, 1e-12)


def _tidy(rate: float) -> float:
    """Snap a rate within 1e-9 of a fraction with denominator 1 to 4 to it."""
    for denominator in (1, 2, 3, 4):
        if abs(rate * denominator - round(rate * denominator)) < 1e-9:
            return round(rate * denominator) / denominator
    return rate


def detect_symmetry(primitive: Primitive) -> Symmetry:
    """The :class:`Symmetry` of ``primitive``, checked at a few points of its domain (a
    function that agrees with a symmetry at all of them is taken to have it)."""
    f = primitive.torch_fn
    u = torch.tensor(_PROBES, dtype=torch.float64)
    scaled = u[primitive.in_domain(u, 1e-3) & primitive.in_domain(3 * u, 1e-3)]
    scaled = scaled[primitive.in_domain(2 * scaled, 1e-3)]
    if scaled.numel() >= 3:
        if _agree(f(scaled), scaled):
            return Symmetry(closed_form="identity", parity=-1, invariance="power", rate=1.0)
        if bool((f(scaled) == 0).all()):
            return Symmetry(closed_form="zero", parity=1)
    parity = 0
    low, high = primitive.domain
    if low == -high and set(primitive.singularities) == {-s for s in primitive.singularities}:
        inside = u[u > 0]
        inside = inside[primitive.in_domain(inside, 1e-3)]
        if inside.numel() >= 2 and _agree(f(-inside), f(inside)):
            parity = 1
        elif inside.numel() >= 2 and _agree(f(-inside), -f(inside)):
            parity = -1
    if scaled.numel() >= 3:
        value = f(scaled)
        ratio = f(2 * scaled) / value
        if bool((value != 0).all()) and _agree(ratio, ratio[:1].expand_as(ratio)):
            rate = _tidy(math.log2(float(ratio[0]))) if float(ratio[0]) > 0 else math.nan
            if math.isfinite(rate) and _agree(f(3 * scaled), 3**rate * value):
                return Symmetry(parity=parity, invariance="power", rate=rate)
        step = f(2 * scaled) - value
        if _agree(step, step[:1].expand_as(step)) and float(step[0]) != 0:
            rate = _tidy(float(step[0]) / math.log(2))
            if _agree(f(3 * scaled) - value, torch.full_like(value, rate * math.log(3))):
                return Symmetry(parity=parity, invariance="logarithmic", rate=rate)
    shifted = u[primitive.in_domain(u, 1e-3) & primitive.in_domain(u + 1, 1e-3)]
    shifted = shifted[primitive.in_domain(shifted + 0.5, 1e-3)]
    if shifted.numel() >= 3 and bool((f(shifted) != 0).all()):
        ratio = f(shifted + 1) / f(shifted)
        if _agree(ratio, ratio[:1].expand_as(ratio)) and float(ratio[0]) > 0:
            rate = _tidy(math.log(float(ratio[0])))
            if rate != 0 and _agree(f(shifted + 0.5), math.exp(0.5 * rate) * f(shifted)):
                return Symmetry(parity=parity, invariance="exponential", rate=rate)
    return Symmetry(parity=parity)


# ----------------------------------------------------------------------------------------
# the default primitives


def _finite(value: Tensor) -> Tensor:
    """NaN -> 0, +-inf -> the largest finite value (overflow of powers of huge inputs)."""
    return torch.nan_to_num(value)


def _away_from_zero(u: Tensor, eps: float = SAFE_EPS) -> Tensor:
    """``sign(u) * max(|u|, eps)`` with ``sign(0) = +1``."""
    sign = torch.where(u < 0, -torch.ones_like(u), torch.ones_like(u))
    return sign * u.abs().clamp_min(eps)


def _inside_unit(u: Tensor) -> Tensor:
    return u.clamp(-1.0 + SAFE_EPS, 1.0 - SAFE_EPS)


def _safe_tan(u: Tensor) -> Tensor:
    # half the margin: cos(pi/2 - SAFE_EPS) = sin(SAFE_EPS) is a little below SAFE_EPS
    return torch.sin(u) / _away_from_zero(torch.cos(u), 0.5 * SAFE_EPS)


def _exp_argument(u: Tensor) -> Tensor:
    return u.clamp(-EXP_MAX_ARGUMENT, EXP_MAX_ARGUMENT)


def _positive(u: Tensor) -> Tensor:
    return u.clamp_min(SAFE_EPS)


def _zero_sympy(u: sympy.Expr) -> sympy.Expr:
    return sympy.S.Zero


_HALF_PI = 0.5 * math.pi
_POSITIVE = (0.0, _INF)
_UNIT = (-1.0, 1.0)
_EXP_DOMAIN = (-EXP_MAX_ARGUMENT, EXP_MAX_ARGUMENT)


def _gaussian(u: Tensor) -> Tensor:
    return torch.exp(-(u**2))


# name, torch_fn, sympy_fn, complexity, safe_fn, derivative_fn[, domain[, singularities]]
_DEFAULTS: list[tuple[Any, ...]] = [
    ("x", lambda u: u, lambda u: u, 1, lambda u: u, torch.ones_like),
    ("x^2", lambda u: u**2, lambda u: u**2, 2, lambda u: _finite(u**2), lambda u: 2 * u),
    ("x^3", lambda u: u**3, lambda u: u**3, 3, lambda u: _finite(u**3), lambda u: 3 * u**2),
    ("x^4", lambda u: u**4, lambda u: u**4, 3, lambda u: _finite(u**4), lambda u: 4 * u**3),
    ("1/x", torch.reciprocal, lambda u: 1 / u, 2, lambda u: 1 / _away_from_zero(u),
     lambda u: -1 / u**2, (-_INF, _INF), (0.0,)),
    ("1/x^2", lambda u: u**-2, lambda u: u**-2, 3, lambda u: _away_from_zero(u) ** -2,
     lambda u: -2 / u**3, (-_INF, _INF), (0.0,)),
    ("sqrt", torch.sqrt, sympy.sqrt, 2, lambda u: torch.sqrt(_positive(u)),
     lambda u: 0.5 / torch.sqrt(u), _POSITIVE),
    ("1/sqrt", torch.rsqrt, lambda u: 1 / sympy.sqrt(u), 3, lambda u: torch.rsqrt(_positive(u)),
     lambda u: -0.5 * torch.rsqrt(u) / u, _POSITIVE),
    ("exp", torch.exp, sympy.exp, 2, lambda u: torch.exp(_exp_argument(u)), torch.exp,
     (-_INF, EXP_MAX_ARGUMENT)),
    ("log", torch.log, sympy.log, 2, lambda u: torch.log(_positive(u)), torch.reciprocal,
     _POSITIVE),
    ("sin", torch.sin, sympy.sin, 2, torch.sin, torch.cos),
    ("cos", torch.cos, sympy.cos, 2, torch.cos, lambda u: -torch.sin(u)),
    ("tan", torch.tan, sympy.tan, 3, _safe_tan, lambda u: 1 + torch.tan(u) ** 2,
     (-_HALF_PI, _HALF_PI)),
    ("tanh", torch.tanh, sympy.tanh, 3, torch.tanh, lambda u: 1 - torch.tanh(u) ** 2),
    ("asin", torch.asin, sympy.asin, 4, lambda u: torch.asin(_inside_unit(u)),
     lambda u: torch.rsqrt(1 - u**2), _UNIT),
    ("atan", torch.atan, sympy.atan, 4, torch.atan, lambda u: 1 / (1 + u**2)),
    ("atanh", torch.atanh, sympy.atanh, 4, lambda u: torch.atanh(_inside_unit(u)),
     lambda u: 1 / (1 - u**2), _UNIT),
    ("abs", torch.abs, sympy.Abs, 3, torch.abs, torch.sign),
    ("gaussian", _gaussian, lambda u: sympy.exp(-(u**2)), 3, _gaussian,
     lambda u: -2 * u * _gaussian(u)),
    ("cosh", torch.cosh, sympy.cosh, 3, lambda u: torch.cosh(_exp_argument(u)), torch.sinh,
     _EXP_DOMAIN),
    ("sinh", torch.sinh, sympy.sinh, 3, lambda u: torch.sinh(_exp_argument(u)), torch.cosh,
     _EXP_DOMAIN),
    ("0", torch.zeros_like, _zero_sympy, 0, torch.zeros_like, torch.zeros_like),
]  # fmt: skip


def _default(
    name: str,
    torch_fn: TorchFn,
    sympy_fn: SympyFn,
    complexity: int,
    safe_fn: TorchFn,
    derivative_fn: TorchFn,
    domain: tuple[float, float] = (-_INF, _INF),
    singularities: tuple[float, ...] = (),
) -> Primitive:
    return Primitive(
        name, torch_fn, sympy_fn, complexity, safe_fn, domain, singularities, derivative_fn
    )


DEFAULT_LIBRARY = Library(_default(*entry) for entry in _DEFAULTS)
"""The standard primitives: ``x, x^2, x^3, x^4, 1/x, 1/x^2, sqrt, 1/sqrt, exp, log, sin, cos,
tan, tanh, asin, atan, atanh, abs, gaussian (exp(-u^2)), cosh, sinh, 0``. ``tan`` is restricted
to its principal branch ``(-pi/2, pi/2)``: over an input interval without a pole every branch
equals the principal one after shifting ``c`` by a multiple of pi."""
