"""The ``[[symmetry]]`` tables of a spec -> :class:`~kanphys.training.symmetry.Symmetry` objects.

Each table declares one symmetry of the solution, imposed as an extra loss term at the
collocation points (see ``docs/spec-format.md``). Expressions (``quantity``) go through the
safe parser of :mod:`kanphys.pde.expressions`; nothing is evaluated as Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from kanphys.errors import ConfigError
from kanphys.io._spec_common import (
    SpecContext,
    check_keys,
    describe,
    is_number,
    optional_weight,
    require_list,
    require_string,
    require_table,
)
from kanphys.training.symmetry import Symmetry, allowed_keys, symmetry_class

__all__ = ["SPEC_KINDS", "parse_symmetries"]

SPEC_KINDS = ("translation", "scaling", "swap", "rotation", "conserved_integral")
"""The ``kind`` values a ``[[symmetry]]`` table may have."""
_EXAMPLE = '[[symmetry]] kind = "rotation", variables = ["x", "y"]'


def parse_symmetries(
    ctx: SpecContext, value: Any, inputs: tuple[str, ...], fields: tuple[str, ...]
) -> tuple[Symmetry, ...]:
    """Validate the ``symmetry`` array of tables against the problem's inputs and fields."""
    if isinstance(value, Mapping):
        ctx.fail("symmetry", "must be an array of tables: write [[symmetry]], not [symmetry]")
    items = require_list(ctx, "symmetry", value, _EXAMPLE)
    return tuple(
        _symmetry(ctx, f"symmetry[{i}]", item, inputs, fields) for i, item in enumerate(items)
    )


def _symmetry(
    ctx: SpecContext, label: str, item: Any, inputs: tuple[str, ...], fields: tuple[str, ...]
) -> Symmetry:
    entry = require_table(ctx, label, item)
    if "kind" not in entry:
        ctx.fail(f"{label}.kind", f"missing required key; one of {', '.join(SPEC_KINDS)}")
    kind = entry["kind"]
    if kind == "conserved":
        ctx.fail(
            f"{label}.kind",
            "'conserved' (a quantity conserved along a learned flow) applies to fitted vector "
            "fields; a PDE solution takes 'conserved_integral' (d/dt of the spatial integral "
            "of quantity is zero)",
        )
    if kind not in SPEC_KINDS:
        ctx.fail(f"{label}.kind", f"must be one of {', '.join(SPEC_KINDS)}; received {kind!r}")
    check_keys(ctx, label, entry, allowed_keys(kind), required=("kind", "variables"), what="keys")
    names = require_list(ctx, f"{label}.variables", entry["variables"], '["x", "y"]')
    for j, name in enumerate(names):
        where = f"{label}.variables[{j}]"
        if require_string(ctx, where, name) not in inputs:
            ctx.fail(where, f"unknown input {name!r}; the inputs are {', '.join(inputs)}")
        if names.index(name) != j:
            ctx.fail(where, f"{name!r} is listed twice; the variables must be distinct")
    values: dict[str, Any] = {"variables": tuple(names)}
    if "field" in entry:
        name = require_string(ctx, f"{label}.field", entry["field"])
        if name not in fields:
            ctx.fail(
                f"{label}.field", f"unknown field {name!r}; the fields are {', '.join(fields)}"
            )
        values["field"] = name
    weight = optional_weight(ctx, f"{label}.weight", entry.get("weight"))
    if weight is not None:
        values["weight"] = weight
    if "direction" in entry:
        direction = require_list(ctx, f"{label}.direction", entry["direction"], "[1.0, -1.0]")
        if not all(is_number(c) and math.isfinite(c) for c in direction):
            ctx.fail(
                f"{label}.direction",
                f"must be a list of finite numbers; received {describe(entry['direction'])}",
            )
        values["direction"] = tuple(direction)
    if "degree" in entry:
        degree = entry["degree"]
        if not is_number(degree) or not math.isfinite(degree):
            ctx.fail(f"{label}.degree", f"must be a finite number; received {describe(degree)}")
        values["degree"] = degree
    if "quantity" in entry:
        values["quantity"] = require_string(ctx, f"{label}.quantity", entry["quantity"])
    if "n_times" in entry:
        values["n_times"] = entry["n_times"]
    try:
        symmetry = symmetry_class(kind)(**values)
        symmetry.validate(inputs, fields)
    except ConfigError as error:
        ctx.fail(label, str(error))
    return symmetry
