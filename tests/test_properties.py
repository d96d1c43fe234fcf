"""Structure tests (kanphys.discovery.properties) against sympy-computed labels."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import sympy
import torch

from kanphys.discovery import structure
from kanphys.discovery.properties import (
    additive_separability,
    general_separability,
    invariant,
    multiplicative_separability,
    scaling_invariance,
    swap_symmetry,
    translation_invariance,
)
from kanphys.discovery.reduction import Surrogate
from kanphys.discovery.symmetry_data import CONTROLS, LabelledFormula, sample, true_facts
from kanphys.errors import ConfigError, NonFiniteError, ShapeError, SpecError
from kanphys.models import KAN

a, b, c = sympy.symbols("a b c", positive=True)
NAMES = ("a", "b", "c")


def _box(n: int = 400, low: float = 1.0, high: float = 5.0, d: int = 3) -> np.ndarray:
    return np.random.default_rng(0).uniform(low, high, (n, d))


@functools.cache
def _labels(control: LabelledFormula) -> dict:
    return true_facts(control)


@pytest.mark.parametrize("method", ["values", "derivatives"])
@pytest.mark.parametrize("control", CONTROLS, ids=[c.id for c in CONTROLS])
def test_exact_formulas_agree_with_the_labels(control: LabelledFormula, method: str) -> None:
    # on the exact formula the scores are rounding errors or of order one: every decision is
    # the sympy label (a near-separable control may only fail with the cruder derivative test)
    labels = _labels(control)
    X, _ = sample(control, 400)
    report = structure(
        control.expression(), X, names=control.names, invariants=control.invariants, method=method
    )
    assert {fact.key() for fact in report.facts} == set(labels)
    wrong = [f for f in report.facts if f.holds is not None and f.holds != labels[f.key()]]
    for fact in report.facts:
        if fact.holds and labels[fact.key()]:
            assert fact.score < 1e-9, fact.describe()
    allowed = 1 if control.id in ("product-plus-constant", "near-separable") else 0
    assert len(wrong) <= allowed, [f.describe() for f in wrong]


def test_labels_of_known_formulas() -> None:
    item = LabelledFormula("t", "a*sqrt(1 + (b/c)**2)", NAMES, ((1, 5),) * 3, ("b/c", "b*c"))
    labels = true_facts(item)
    report = structure(item.expression(), _box(), names=NAMES, invariants=item.invariants)
    assert labels[report.get("invariant", ("b", "c"), expression="b/c").key()] is True
    assert labels[report.get("invariant", ("b", "c"), expression="b*c").key()] is False
    assert labels[report.get("scaling", ("b", "c")).key()] is True
    assert labels[report.get("multiplicative", ("a",), ("b", "c")).key()] is True
    assert labels[report.get("additive", ("a",), ("b", "c")).key()] is False


def test_report_lists_what_holds() -> None:
    X = _box()
    report = structure(a * b + sympy.sin(c), X, names=NAMES, invariants=["a*b", "a/b"])
    assert report.holds("additive", ["a", "b"], ["c"]) is True
    assert report.holds("additive", ["a"], ["b", "c"]) is False
    assert report.holds("swap", ["a", "b"]) is True
    assert report.holds("swap", ["a", "c"]) is False
    assert report.holds("invariant", ["a", "b"], expression="a*b") is True
    assert report.holds("invariant", ["a", "b"], expression="a/b") is False
    assert report.additive_groups == [("a", "b"), ("c",)]
    text = str(report)
    assert "additive split: f = g(a, b) + g(c)" in text
    assert "f depends on a, b only through a*b" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["additive_groups"] == [["a", "b"], ["c"]]
    assert {fact["kind"] for fact in data["facts"]} == {
        "additive", "multiplicative", "general", "translation", "scaling", "swap", "invariant"
    }  # fmt: skip
    with pytest.raises(ConfigError, match=r"no translation fact on \(\['a', 'z'\],\) was tested"):
        report.get("translation", ["a", "z"])


def test_single_tests_and_scores() -> None:
    X = _box()
    difference = sympy.exp(-((a - b) ** 2)) * c
    fact = translation_invariance(difference, X, ("a", "b"), names=NAMES)
    assert fact.holds and fact.score < 1e-12
    assert "only through a - b" in fact.describe()
    assert not scaling_invariance(difference, X, ("a", "b"), names=NAMES).holds
    ratio = a * sympy.sqrt(1 + (b / c) ** 2)
    assert scaling_invariance(ratio, X, ("b", "c"), names=NAMES).holds
    assert multiplicative_separability(ratio, X, ["a"], names=NAMES).holds
    assert not additive_separability(ratio, X, ["a"], names=NAMES).holds
    assert invariant(ratio, X, "b/c", names=NAMES).holds
    assert invariant(ratio, X, "b*c", names=NAMES).score > 0.5
    coupled = sympy.sin(a * b + c)
    assert general_separability(coupled, X / 5, ["a", "b"], ["c"], names=NAMES).holds
    assert not general_separability(coupled, X / 5, ["a"], ["b", "c"], names=NAMES).holds
    assert not swap_symmetry(a**2 - b**2 + c, X, ("a", "b"), names=NAMES).holds


def test_swap_needs_overlapping_ranges() -> None:
    X = _box()
    X[:, 1] += 10  # b in [11, 15], a in [1, 5]: no swapped row stays in the box
    fact = swap_symmetry(a + b + c, X, ("a", "b"), names=NAMES)
    assert fact.holds is None and "different ranges" in fact.note
    assert "not applicable" in fact.describe()


def test_unused_variables_are_noted() -> None:
    fact = translation_invariance(a * 2, _box(), ("b", "c"), names=NAMES, method="derivatives")
    assert fact.holds and fact.note == "f does not depend on these variables"


def test_accepts_networks_and_functions() -> None:
    X = _box(300, -1, 1, 2)
    generator = torch.Generator().manual_seed(0)
    kan = KAN([2, 1], dtype=torch.float64, generator=generator)  # a sum of edge functions
    assert additive_separability(kan, X, ["x0"]).holds
    assert not multiplicative_separability(kan, X, ["x0"]).holds or True  # any decision
    assert additive_separability(kan.float(), X, ["x0"]).score < 1e-5  # float32 model

    def product(x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x[:, 0]) * torch.cos(x[:, 1])

    assert multiplicative_separability(product, X, ["x0"]).holds
    assert not additive_separability(product, X, ["x0"]).holds


@pytest.mark.parametrize(
    ("formula", "kind", "groups"),
    [
        ("q1/(4*pi*epsilon*r**2)", "multiplicative", (["q1"], ["epsilon", "r"])),
        ("x1*y1 + x2*y2", "additive", (["x1", "y1"], ["x2", "y2"])),
    ],
)
def test_fitted_surrogate_finds_the_structure(
    formula: str, kind: str, groups: tuple[list[str], ...]
) -> None:
    names = tuple(sorted({str(s) for s in sympy.sympify(formula).free_symbols}))
    item = LabelledFormula("t", formula, names, ((1, 5),) * len(names))
    X, y = sample(item, 1000, seed=1)
    surrogate = Surrogate(X, y, seed=0, steps=400)
    report = structure(surrogate, X, names=names)
    labels = true_facts(item)
    assert report.holds(kind, *groups) is True
    decided = [f for f in report.facts if f.holds is not None]
    agree = sum(f.holds == labels[f.key()] for f in decided)
    assert agree >= 0.9 * len(decided), [
        f.describe() for f in decided if f.holds != labels[f.key()]
    ]


def test_errors() -> None:
    X = _box()
    f = a + b + c
    with pytest.raises(ConfigError, match=r"group A names unknown inputs \['z'\]"):
        additive_separability(f, X, ["z"], names=NAMES)
    with pytest.raises(ConfigError, match=r"groups A and B share \['a'\]"):
        additive_separability(f, X, ["a"], ["a", "b"], names=NAMES)
    with pytest.raises(ConfigError, match=r"group A holds every input"):
        additive_separability(f, X, ["a", "b", "c"], names=NAMES)
    with pytest.raises(ConfigError, match=r"pair must be two input names"):
        translation_invariance(f, X, ("a",), names=NAMES)
    with pytest.raises(ConfigError, match=r"threshold must be a number in \(0, 1\)"):
        swap_symmetry(f, X, ("a", "b"), names=NAMES, threshold=2)
    with pytest.raises(ConfigError, match=r"method must be one of \['values', 'derivatives'\]"):
        swap_symmetry(f, X, ("a", "b"), names=NAMES, method="guess")
    with pytest.raises(ConfigError, match=r"kinds must be a list from"):
        structure(f, X, names=NAMES, kinds=["rotation"])
    with pytest.raises(ConfigError, match=r"thresholds has an unknown kind 'rotation'"):
        structure(f, X, names=NAMES, thresholds={"rotation": 0.1})
    with pytest.raises(ConfigError, match=r"names must be 3 distinct names"):
        structure(f, X, names=["a", "a", "c"])
    with pytest.raises(ConfigError, match=r"the formula uses \['a', 'b', 'c'\], which are not"):
        structure(f, X)
    with pytest.raises(ShapeError, match=r"X must have shape \(N, d\) with N >= 20"):
        structure(f, X[:5], names=NAMES)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(NonFiniteError, match=r"X contains NaN or infinite values"):
        structure(f, bad, names=NAMES)
    with pytest.raises(SpecError, match=r"invariant: unknown name 'd'"):
        invariant(f, X, "b/d", names=NAMES)
    with pytest.raises(SpecError, match=r"invariant"):
        invariant(f, X, "__import__('os')", names=NAMES)
    with pytest.raises(ConfigError, match=r"must concern at least two variables"):
        invariant(f, X, "b**2", names=NAMES)
    with pytest.raises(ShapeError, match=r"must map \(N, 3\) inputs to \(N,\) or \(N, 1\)"):
        structure(lambda x: x, X, names=NAMES)
    with pytest.raises(ConfigError, match=r"must return a torch tensor; got ndarray"):
        structure(lambda x: x.detach().numpy()[:, 0], X, names=NAMES)
    with pytest.raises(ConfigError, match=r"model must be a torch module"):
        structure(42, X, names=NAMES)
    with pytest.raises(NonFiniteError, match=r"values or gradients are NaN or infinite"):
        structure(sympy.log(a - 3), X, names=NAMES)


def test_cli_structure(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from kanphys.cli import main

    X = _box(300)
    y = X[:, 0] * X[:, 1] + X[:, 2]
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,y", comments="")
    code = main(
        ["structure", str(path), "--target", "y", "--steps", "100", "--invariant", "a*b", "--json"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["names"] == ["a", "b", "c"] and result["surrogate_rmse"] < 0.05
    facts = {(f["kind"], f["statement"]): f["holds"] for f in result["facts"]}
    assert facts[("additive", "f = g(c) + h(a, b)")] is True
    assert facts[("invariant", "f depends on a, b only through a*b")] is True
    assert main(["structure", str(path), "--target", "y", "--steps", "60", "--all"]) == 0
    out = capsys.readouterr().out
    assert "additive split: f = g(a, b) + g(c)" in out and "tested and not holding:" in out
    one = tmp_path / "one.csv"
    np.savetxt(one, np.column_stack([X[:, 0], y]), delimiter=",", header="a,y", comments="")
    assert main(["structure", str(one), "--target", "y"]) == 2
    assert "needs at least two input columns" in capsys.readouterr().err
