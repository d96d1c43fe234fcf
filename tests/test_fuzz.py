"""Property-based tests: random and adversarial specs, expressions, CSV and NPZ files.

Every input must end in a kanphys error (a :class:`~kanphys.errors.KanphysError`, with a
message) or a valid result: nothing else may be raised, nothing may run (a canary file that
the payloads would create must not appear) and each input is handled within a deadline.
The numbers of examples are recorded in docs/reliability.md.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kanphys.discovery import read_table
from kanphys.discovery.field_data import read_field
from kanphys.errors import KanphysError
from kanphys.io.spec import load_problem, problem_from_dict
from kanphys.pde.problem import Problem

# every example must finish well inside this (seconds); parsing has size and depth limits
DEADLINE = 2.0
# CI runs the same 300 examples per test every time; KANPHYS_FUZZ_EXAMPLES=N runs N fresh
# random ones (a deeper search, e.g. before a release)
EXAMPLES = int(os.environ.get("KANPHYS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # measured by hand below, including the first (import-warm) example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize="KANPHYS_FUZZ_EXAMPLES" not in os.environ,
    database=None,
)

CANARY = "CANARY"
PAYLOADS = [
    f"__import__('pathlib').Path('{CANARY}').touch()",
    f"open('{CANARY}', 'w')",
    f"exec(\"open('{CANARY}','w')\")",
    f'eval(\'open("{CANARY}","w")\')',
    "().__class__.__bases__[0].__subclasses__()",
    "u.__class__",
    "[x for x in range(10**9)]",
    "lambda: 0",
    "9**9**9**9",
    "10**10**10",
    "sympy.core",
    "getattr(u, 'x')",
    "Derivative(u, x, 10**6)",
    "diff(u, x, 99999999)",
    "u_" + "x" * 200,
]
ATOMS = [
    "u", "v", "u_x", "u_xx", "u_t", "x", "t", "nu", "pi", "E", "I", "oo", "zoo", "nan",
    "1", "0", "2.5", "1e308", "1e-400", "-", "+", "*", "/", "**", "^", "%", "//", "=",
    "==", "<", "(", ")", "[", "]", "{", "}", ",", ".", ":", ";", "'", '"', "\\", "#", "@",
    "sin", "cos", "exp", "log", "sqrt", "abs", "tanh", "diff", "Derivative", "Function",
    "lambda", "for", "in", "if", "else", "import", "__import__", "__class__", "os",
    "system", "\n", "\t", " ", "\x00", "é", "∂",
]  # fmt: skip


def nested(depth: int) -> str:
    return "(" * depth + "u" + ")" * depth


expressions = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(max_size=120),
    st.lists(st.sampled_from(ATOMS), max_size=50).map(" ".join),
    st.lists(st.sampled_from(ATOMS), max_size=50).map("".join),
    st.integers(0, 2000).map(nested),
    st.integers(0, 4000).map(lambda n: "+".join(["u"] * max(n, 1))),
    st.integers(1, 30_000).map(lambda n: "u" * n),
    st.tuples(st.sampled_from(PAYLOADS), st.sampled_from(ATOMS)).map("".join),
)

VALID: dict[str, Any] = {
    "name": "fuzz",
    "description": "fuzzed spec",
    "fields": ["u"],
    "parameters": {"nu": 0.1},
    "equations": ["u_t = nu*u_xx"],
    "domain": {"x": [-1.0, 1.0], "t": [0.0, 1.0], "time": "t"},
    "conditions": [
        {"where": "t = 0", "equation": "u = sin(pi*x)"},
        {"where": "boundary", "equation": "u = 0"},
    ],
    "reference": {"u": "exp(-nu*pi**2*t)*sin(pi*x)"},
    "model": {"hidden": [8], "grid_size": 5},
    "training": {"steps": 10, "n_collocation": 100},
}

scalars = st.one_of(
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(PAYLOADS),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# dotted paths into VALID, and some that do not exist
PATHS = [
    "name", "description", "fields", "parameters", "parameters.nu", "equations",
    "equations.0", "domain", "domain.x", "domain.x.0", "domain.t", "domain.time",
    "conditions", "conditions.0", "conditions.0.where", "conditions.0.equation",
    "conditions.1.where", "reference", "reference.u", "model", "model.hidden",
    "model.grid_size", "model.basis", "training", "training.steps", "training.dtype",
    "training.n_collocation", "training.grid_schedule", "symmetry", "data", "data.file",
    "reference.file", "domain.disk", "domain.polygon", "unknown", "model.unknown",
]  # fmt: skip


def _set(spec: Any, path: str, value: Any) -> None:
    """Put ``value`` at the dotted ``path`` where the path still exists (or can be created)."""
    *parents, last = path.split(".")
    node = spec
    for key in [*parents, last]:
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                return
        elif not isinstance(node, dict):
            return
        if key is last:
            break
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _expect_kanphys(action: Any) -> Any:
    """Run ``action``; a non-kanphys exception fails the test (with the input in the report)."""
    start = time.perf_counter()
    try:
        result = action()
    except KanphysError as error:
        assert str(error), "a kanphys error without a message"
        result = error
    elapsed = time.perf_counter() - start
    assert elapsed < DEADLINE, f"took {elapsed:.2f} s"
    return result


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory and check afterwards that no payload created the canary."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / CANARY).exists(), "a payload was executed"


def _spec_file(directory: Path, spec: dict[str, Any]) -> Path:
    """The spec as TOML text (strings JSON-quoted, which TOML basic strings accept)."""
    lines = []

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {scalar(v)}" for k, v in value.items()) + "}"
        raise TypeError(type(value))

    for key, value in spec.items():
        lines.append(f"{json.dumps(key)} = {scalar(value)}")
    path = directory / "spec.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@FUZZ
@given(text=expressions, place=st.sampled_from(["equation", "condition", "reference", "where"]))
def test_random_expressions_end_in_a_kanphys_error_or_a_problem(in_tmp, text, place) -> None:
    spec = json.loads(json.dumps(VALID))
    if place == "equation":
        spec["equations"] = [f"{text} = 0"]
    elif place == "condition":
        spec["conditions"][1]["equation"] = text
    elif place == "reference":
        spec["reference"]["u"] = text
    else:
        spec["conditions"][0]["where"] = text
    result = _expect_kanphys(lambda: load_problem(_spec_file(in_tmp, spec)))
    assert isinstance(result, (Problem, KanphysError))


@FUZZ
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=4))
def test_mutated_specs_end_in_a_kanphys_error_or_a_problem(in_tmp, changes) -> None:
    spec = json.loads(json.dumps(VALID))
    for path, value in changes:
        _set(spec, path, value)
    result = _expect_kanphys(lambda: problem_from_dict(spec, base_dir=in_tmp))
    assert isinstance(result, (Problem, KanphysError))


@FUZZ
@given(text=st.one_of(st.text(max_size=400), st.binary(max_size=400).map(bytes.hex)))
def test_random_toml_text_ends_in_a_kanphys_error(in_tmp, text) -> None:
    path = in_tmp / "random.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = _expect_kanphys(lambda: load_problem(path))
    assert isinstance(result, (Problem, KanphysError))


cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**40), 10**40).map(str),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e999", "abc", '"1"', "1,5", " ", "0x10"]),
    st.text(max_size=8),
)


@FUZZ
@given(
    header=st.lists(st.sampled_from(["x", "y", "z", "", "x", "y ", "é", "1"]), max_size=5),
    rows=st.lists(st.lists(cells, max_size=6), max_size=30),
    separator=st.sampled_from([",", ";", "\t", " "]),
    target=st.sampled_from(["y", "z", "missing"]),
)
def test_random_csv_tables_end_in_a_kanphys_error_or_finite_data(
    in_tmp, header, rows, separator, target
) -> None:
    path = in_tmp / "data.csv"
    lines = [separator.join(header)] + [separator.join(row) for row in rows]
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    result = _expect_kanphys(lambda: read_table(path, target=target))
    if not isinstance(result, KanphysError):
        assert np.isfinite(result.X).all() and np.isfinite(result.y).all()
        assert result.X.shape[0] == result.y.shape[0] > 0


arrays = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40).map(np.array),
    st.tuples(st.integers(0, 6), st.integers(0, 6)).map(lambda s: np.ones(s)),
    st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 3)).map(np.zeros),
    st.sampled_from([np.array(["a", "b"]), np.array(1.0), np.array([], dtype=np.int8)]),
    st.just(np.array([[1.0, np.nan], [np.inf, 2.0]])),
    st.just(np.full((4, 3), 1e308)),
)


@FUZZ
@given(
    names=st.lists(st.sampled_from(["t", "x", "u", "y", "U"]), min_size=0, max_size=4),
    contents=st.lists(arrays, min_size=4, max_size=4),
)
def test_random_npz_fields_end_in_a_kanphys_error_or_finite_data(in_tmp, names, contents) -> None:
    path = in_tmp / "field.npz"
    np.savez(path, **dict(zip(names, contents, strict=False)))
    result = _expect_kanphys(lambda: read_field(path))
    if not isinstance(result, KanphysError):
        assert np.isfinite(result.u).all()
        assert result.u.shape == (result.t.size, result.x.size)


def test_truncated_and_tampered_npz_end_in_a_kanphys_error(in_tmp) -> None:
    t, x = np.linspace(0, 1, 5), np.linspace(0, 1, 6)
    np.savez(in_tmp / "good.npz", t=t, x=x, u=np.ones((5, 6)))
    data = (in_tmp / "good.npz").read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        (in_tmp / "cut.npz").write_bytes(data[:cut])
        assert isinstance(_expect_kanphys(lambda: read_field(in_tmp / "cut.npz")), KanphysError)
    # an object array needs pickle, which is never allowed
    np.savez(in_tmp / "pickled.npz", t=t, x=x, u=np.array([{"a": 1}] * 30, dtype=object))
    assert isinstance(_expect_kanphys(lambda: read_field(in_tmp / "pickled.npz")), KanphysError)
