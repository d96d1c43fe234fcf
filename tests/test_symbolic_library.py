"""The symbolic primitive library: each primitive's torch, sympy, safe and derivative faces agree;
the library is immutable; lookups and construction fail with errors that list what is allowed."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import sympy
import torch

from kanphys.errors import ConfigError
from kanphys.symbolic import DEFAULT_LIBRARY, Library, Primitive, get_library, make_primitive
from kanphys.symbolic.library import EXP_MAX_ARGUMENT, SAFE_EPS, detect_symmetry

NAMES = DEFAULT_LIBRARY.names
DTYPES = (torch.float32, torch.float64)
EXPECTED_COMPLEXITY = {
    "0": 0, "x": 1, "x^2": 2, "1/x": 2, "sqrt": 2, "exp": 2, "log": 2, "sin": 2, "cos": 2,
    "x^3": 3, "x^4": 3, "1/x^2": 3, "1/sqrt": 3, "tan": 3, "tanh": 3, "abs": 3, "gaussian": 3,
    "cosh": 3, "sinh": 3, "asin": 4, "atan": 4, "atanh": 4,
}  # fmt: skip


def interior_points(primitive: Primitive, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A grid on [-3, 3] (finer near the ends of the domain), kept where in_domain holds with a
    margin of 1e-2."""
    u = torch.cat([torch.linspace(-3, 3, 121), torch.tensor([-0.999, -0.5, 0.5, 0.999])])
    u = u.to(dtype)
    return u[primitive.in_domain(u, 1e-2)]


def sympy_reference(expression: sympy.Expr, symbol: sympy.Symbol, u: torch.Tensor) -> np.ndarray:
    values = sympy.lambdify(symbol, expression, "numpy")(u.numpy())
    return np.broadcast_to(np.asarray(values, dtype=np.float64), u.shape)


def test_default_names_and_complexities() -> None:
    assert set(NAMES) == set(EXPECTED_COMPLEXITY)
    assert {name: DEFAULT_LIBRARY[name].complexity for name in NAMES} == EXPECTED_COMPLEXITY


@pytest.mark.parametrize("name", NAMES)
def test_torch_matches_sympy(name: str, tol) -> None:
    primitive = DEFAULT_LIBRARY[name]
    u = interior_points(primitive)
    assert u.numel() >= 20
    s = sympy.Symbol("u", real=True)
    expected = sympy_reference(primitive.sympy_fn(s), s, u)
    got = primitive.torch_fn(u).numpy()
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=0, atol=tol.values(torch.float64, scale))


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_sympy_and_autograd(name: str, tol) -> None:
    primitive = DEFAULT_LIBRARY[name]
    u = interior_points(primitive)
    s = sympy.Symbol("u", real=True)
    expected = sympy_reference(sympy.diff(primitive.sympy_fn(s), s), s, u)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(
        primitive.derivative(u).numpy(), expected, rtol=0, atol=tol.values(torch.float64, scale)
    )
    point = u.clone().requires_grad_(True)
    value = primitive.torch_fn(point)
    if value.requires_grad:
        (autograd,) = torch.autograd.grad(value.sum(), point)
        np.testing.assert_allclose(
            autograd.numpy(), expected, rtol=0, atol=tol.values(torch.float64, scale)
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_safe_fn_is_finite_everywhere_and_exact_inside(name: str, dtype: torch.dtype, tol) -> None:
    primitive = DEFAULT_LIBRARY[name]
    big = torch.finfo(dtype).max
    special = [0.0, 1.0, -1.0, math.pi / 2, -math.pi / 2, SAFE_EPS, -SAFE_EPS, 1e-30, -1e-30]
    special += [EXP_MAX_ARGUMENT, 89.0, -89.0, 1e30, -1e30, big, -big]
    u = torch.cat(
        [torch.linspace(-100, 100, 20001, dtype=dtype), torch.tensor(special, dtype=dtype)]
    )
    u = torch.cat([u, u.nextafter(torch.full_like(u, math.inf))])
    u = u[torch.isfinite(u)]
    safe = primitive.safe_fn(u)
    assert safe.dtype == dtype and bool(torch.isfinite(safe).all())
    exact = primitive.torch_fn(u)
    inside = primitive.in_domain(u)
    assert bool(torch.isfinite(exact[inside & (u.abs() <= 100)]).all())
    inside = inside & torch.isfinite(exact)  # overflow of u**4 for u ~ 1e30 is not a pole
    eps = tol.values(dtype)
    torch.testing.assert_close(safe[inside], exact[inside], rtol=eps, atol=eps)


def test_safe_fn_gradient_is_finite() -> None:
    u = torch.tensor([-2.0, -1.0, 0.0, 1e-9, 1.0, math.pi / 2, 100.0], dtype=torch.float64)
    for primitive in DEFAULT_LIBRARY.values():
        point = u.clone().requires_grad_(True)
        value = primitive.safe_fn(point)
        if value.requires_grad:
            (grad,) = torch.autograd.grad(value.sum(), point)
            assert bool(torch.isfinite(grad).all()), primitive.name


def test_in_domain_marks_singularities_and_domain_ends() -> None:
    u = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 1e-3, 1.0], dtype=torch.float64)
    assert DEFAULT_LIBRARY["1/x"].in_domain(u).tolist() == [True, False, False, False, True, True]
    assert DEFAULT_LIBRARY["log"].in_domain(u).tolist() == [False] * 4 + [True, True]
    assert DEFAULT_LIBRARY["asin"].in_domain(u).tolist() == [False] + [True] * 4 + [False]
    assert DEFAULT_LIBRARY["log"].in_domain(u, margin=1e-2).tolist() == [False] * 5 + [True]
    assert not bool(DEFAULT_LIBRARY["x"].in_domain(torch.tensor([math.nan])).any())
    tan = DEFAULT_LIBRARY["tan"]
    assert tan.domain == (-math.pi / 2, math.pi / 2)
    assert tan.in_domain(torch.tensor([1.5, 1.58, -1.58])).tolist() == [True, False, False]


def test_sympy_side_is_exact() -> None:
    s = sympy.Symbol("u")
    assert DEFAULT_LIBRARY["sqrt"].sympy_fn(s) == sympy.sqrt(s)
    assert DEFAULT_LIBRARY["1/x"].sympy_fn(s) == 1 / s
    assert DEFAULT_LIBRARY["1/sqrt"].sympy_fn(s) == s ** sympy.Rational(-1, 2)
    assert DEFAULT_LIBRARY["gaussian"].sympy_fn(s) == sympy.exp(-(s**2))
    assert DEFAULT_LIBRARY["0"].sympy_fn(s) == 0
    assert DEFAULT_LIBRARY["x^3"].sympy_fn(2 * s + 1) == (2 * s + 1) ** 3


def test_symmetries_are_detected() -> None:
    def summary(name: str) -> tuple:
        found = detect_symmetry(DEFAULT_LIBRARY[name])
        return found.closed_form, found.parity, found.invariance, found.rate

    assert summary("x") == ("identity", -1, "power", 1.0)
    assert summary("0")[0] == "zero"
    assert summary("x^2") == (None, 1, "power", 2.0)
    assert summary("1/x") == (None, -1, "power", -1.0)
    assert summary("sqrt") == (None, 0, "power", 0.5)
    assert summary("abs") == (None, 1, "power", 1.0)
    assert summary("exp") == (None, 0, "exponential", 1.0)
    assert summary("log") == (None, 0, "logarithmic", 1.0)
    assert summary("sin") == (None, -1, None, 0.0)
    assert summary("gaussian") == (None, 1, None, 0.0)
    assert summary("tan") == (None, -1, None, 0.0)


# ----------------------------------------------------------------------------------------
# immutability, lookups and construction errors


def cube() -> Primitive:
    return make_primitive("cube", lambda u: u**3, lambda u: u**3, 3)


def test_library_cannot_be_mutated_in_place() -> None:
    before = DEFAULT_LIBRARY.names
    with pytest.raises(TypeError):
        DEFAULT_LIBRARY["sin"] = DEFAULT_LIBRARY["cos"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del DEFAULT_LIBRARY["sin"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="Library is immutable"):
        DEFAULT_LIBRARY.names = ("x",)  # type: ignore[misc]
    with pytest.raises(AttributeError, match="Library is immutable"):
        DEFAULT_LIBRARY.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="Library is immutable"):
        del DEFAULT_LIBRARY._primitives
    with pytest.raises(TypeError):
        DEFAULT_LIBRARY._primitives["sin"] = DEFAULT_LIBRARY["cos"]  # type: ignore[index]
    assert DEFAULT_LIBRARY.names == before and DEFAULT_LIBRARY["sin"].name == "sin"
    assert copy.copy(DEFAULT_LIBRARY) is DEFAULT_LIBRARY
    assert copy.deepcopy(DEFAULT_LIBRARY) is DEFAULT_LIBRARY


def test_with_primitives_returns_a_new_library() -> None:
    before = DEFAULT_LIBRARY.names
    extended = DEFAULT_LIBRARY.with_primitives(cube())
    assert extended is not DEFAULT_LIBRARY and extended.names == (*before, "cube")
    assert "cube" not in DEFAULT_LIBRARY and DEFAULT_LIBRARY.names == before
    other_sin = make_primitive("sin", torch.sin, sympy.sin, 5)
    replaced = DEFAULT_LIBRARY.with_primitives(other_sin, replace=True)
    assert replaced.names == before and replaced["sin"].complexity == 5
    assert DEFAULT_LIBRARY["sin"].complexity == 2
    with pytest.raises(
        ConfigError, match=r"already has a primitive named 'sin'; pass replace=True"
    ):
        DEFAULT_LIBRARY.with_primitives(other_sin)
    with pytest.raises(ConfigError, match=r"duplicate primitive name 'cube'"):
        DEFAULT_LIBRARY.with_primitives(cube(), cube())
    with pytest.raises(ConfigError, match=r"every argument must be a Primitive; received str"):
        DEFAULT_LIBRARY.with_primitives("sin")  # type: ignore[arg-type]


def test_lookup_miss_lists_allowed_names() -> None:
    with pytest.raises(
        ConfigError, match=r"primitive must be one of \[.*'sin'.*\]; received 'sine'"
    ):
        DEFAULT_LIBRARY["sine"]
    assert "sine" not in DEFAULT_LIBRARY and 3 not in DEFAULT_LIBRARY
    assert DEFAULT_LIBRARY.get("sine") is None
    assert DEFAULT_LIBRARY.get("sin") is DEFAULT_LIBRARY["sin"]
    assert DEFAULT_LIBRARY.get("sine", DEFAULT_LIBRARY["cos"]).name == "cos"
    assert len(DEFAULT_LIBRARY) == len(NAMES) and list(DEFAULT_LIBRARY) == list(NAMES)


def test_subset_and_without() -> None:
    small = DEFAULT_LIBRARY.subset(["sin", "x", "exp"])
    assert small.names == ("sin", "x", "exp") and small["exp"] is DEFAULT_LIBRARY["exp"]
    assert DEFAULT_LIBRARY.without(["sin", "cos"]).names == tuple(
        n for n in NAMES if n not in ("sin", "cos")
    )
    with pytest.raises(ConfigError, match=r"primitive must be one of \[.*\]; received 'sinus'"):
        DEFAULT_LIBRARY.subset(["sin", "sinus"])
    with pytest.raises(ConfigError, match=r"received 'cosine'"):
        DEFAULT_LIBRARY.without(["cosine"])
    with pytest.raises(ConfigError, match=r"Library.subset: names must be an iterable"):
        DEFAULT_LIBRARY.subset("sin")
    with pytest.raises(ConfigError, match=r"duplicate primitive name 'sin'"):
        DEFAULT_LIBRARY.subset(["sin", "sin"])


def test_library_construction_errors() -> None:
    with pytest.raises(ConfigError, match=r"Library: duplicate primitive name 'x'"):
        Library([DEFAULT_LIBRARY["x"], DEFAULT_LIBRARY["x"]])
    with pytest.raises(ConfigError, match=r"every entry must be a Primitive .*; received str"):
        Library(["sin"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"primitives must be an iterable of Primitive"):
        Library(DEFAULT_LIBRARY["x"])  # type: ignore[arg-type]
    assert len(Library([])) == 0


def test_get_library() -> None:
    assert get_library(None) is DEFAULT_LIBRARY
    custom = Library([cube()])
    assert get_library(custom) is custom
    assert get_library(["exp", "sin"]).names == ("exp", "sin")
    assert get_library(("x",)).names == ("x",)
    with pytest.raises(ConfigError, match=r"library must be None, a Library or a list of"):
        get_library("sin")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"library must be None, a Library or a list of"):
        get_library(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"names must be strings; received 3"):
        get_library(["sin", 3])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"primitive must be one of .*received 'sine'"):
        get_library(["sine"])


def test_make_primitive_validates() -> None:
    with pytest.raises(ConfigError, match=r"name must be a non-empty str; received ''"):
        make_primitive("", torch.sin, sympy.sin, 2)
    with pytest.raises(ConfigError, match=r"complexity must be an integer >= 0; received -1"):
        make_primitive("f", torch.sin, sympy.sin, -1)
    with pytest.raises(ConfigError, match=r"complexity must be an integer >= 0; received 1.5"):
        make_primitive("f", torch.sin, sympy.sin, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"torch_fn must be callable; received str"):
        make_primitive("f", "sin", sympy.sin, 2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"sympy_fn must be callable; received int"):
        make_primitive("f", torch.sin, 3, 2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"domain must be an interval \(low, high\) with low <"):
        make_primitive("f", torch.log, sympy.log, 2, domain=(1.0, 0.0))
    with pytest.raises(ConfigError, match=r"singularities must lie inside the domain"):
        make_primitive("f", torch.log, sympy.log, 2, domain=(0.0, math.inf), singularities=(-1,))
    with pytest.raises(ConfigError, match=r"derivative_fn must be callable or None"):
        make_primitive("f", torch.sin, sympy.sin, 2, derivative_fn=1)  # type: ignore[arg-type]


def test_make_primitive_defaults(tol) -> None:
    reciprocal = make_primitive("recip", lambda u: 1 / u, lambda u: 1 / u, 2, singularities=(0.0,))
    u = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=torch.float64)
    assert bool(torch.isfinite(reciprocal.safe_fn(u)).all())
    inside = reciprocal.in_domain(u)
    assert torch.equal(reciprocal.safe_fn(u)[inside], 1 / u[inside])
    # derivative by autograd when no closed form is given
    torch.testing.assert_close(
        cube().derivative(u), 3 * u**2, rtol=0, atol=tol.values(torch.float64, 12)
    )
    constant = make_primitive("one", torch.ones_like, lambda u: sympy.S.One, 0)
    assert torch.equal(constant.derivative(u), torch.zeros_like(u))
    assert cube().domain == (-math.inf, math.inf) and cube().singularities == ()
