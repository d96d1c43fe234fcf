"""Problem specs: TOML files or Python mappings -> :class:`~kanphys.pde.problem.Problem`.

The format is documented in ``docs/spec-format.md``. Spec text is data, never code:
expressions go through the whitelisting parser of :mod:`kanphys.pde.expressions`, files through
``np.load(allow_pickle=False)`` and :mod:`csv`. Every mistake raises
:class:`~kanphys.errors.SpecError` as ``"<file>: <field>: <what is wrong>; <what is allowed>"``.

Reading order: ``fields``, ``[parameters]`` (each may use the constants before it), ``[domain]``
(bounds may use the constant parameters), name clashes, ``equations``, ``[[conditions]]``,
``[reference]``, ``[data]``, ``[[symmetry]]``, then ``[model]`` and ``[training]`` kept as plain
dicts.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import sympy
from sympy.core.function import AppliedUndef

from kanphys.errors import SpecError
from kanphys.io._spec_arrays import read_data, read_reference
from kanphys.io._spec_common import (
    SpecContext,
    check_identifier,
    check_keys,
    describe,
    is_number,
    optional_count,
    optional_weight,
    require_list,
    require_string,
    require_table,
)
from kanphys.io._spec_domain import DOMAIN_KEYS, parse_domain, resolve_value
from kanphys.io._spec_symmetry import parse_symmetries
from kanphys.pde.expressions import parse_constant, parse_equation, parse_expression
from kanphys.pde.problem import (
    Condition,
    Data,
    Domain,
    Equation,
    Parameter,
    Problem,
    Reference,
    field_function,
    input_symbol,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "CONDITION_KEYS",
    "DATA_KEYS",
    "MAX_SPEC_BYTES",
    "PARAMETER_KEYS",
    "TOP_LEVEL_KEYS",
    "load_problem",
    "problem_from_dict",
]

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "fields",
    "equations",
    "domain",
    "parameters",
    "conditions",
    "reference",
    "data",
    "model",
    "training",
    "symmetry",
)
"""Keys a spec may have at the top level."""
REQUIRED_KEYS = ("name", "domain", "fields", "equations")
CONDITION_KEYS = ("where", "equation", "weight", "points")
"""Keys of one ``[[conditions]]`` entry."""
PARAMETER_KEYS = ("initial", "value", "trainable")
"""Keys of a parameter given as a table (``value`` is a synonym of ``initial``)."""
DATA_KEYS = ("file", "weight")
"""Keys of ``[data]``."""
MAX_SPEC_BYTES = 1_000_000
"""Largest spec file read, in bytes."""

_NAME = re.compile(r"[a-z0-9_-]+\Z")
_WHERE_FORMS = "'boundary', '<variable> = <number or constant expression>', '<variable> = min' "
_WHERE_FORMS += "or '<variable> = max'"
_TOML_SCALARS = (str, int, float, bool, datetime.date, datetime.time)
_TRAINABLE_REASON = "is a trainable parameter; constant expressions may use only constant ones"


def load_problem(path: str | os.PathLike[str]) -> Problem:
    """Read a TOML spec file into a validated :class:`~kanphys.pde.problem.Problem`.

    Parameters
    ----------
    path : str or os.PathLike
        The spec file. Relative paths inside it (``reference.file``, ``data.file``) are
        resolved against its directory.

    Returns
    -------
    Problem
        With ``source`` set to the resolved path.

    Raises
    ------
    SpecError
        If the file is missing or unreadable, larger than :data:`MAX_SPEC_BYTES`, not UTF-8,
        not valid TOML, or the spec it holds is invalid (see :func:`problem_from_dict`).
    """
    given = Path(path)
    try:
        with given.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(f"{given}: spec file not found") from None
    except OSError as err:
        raise SpecError(f"{given}: cannot read the spec file: {err.strerror or err}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"{given}: spec file is larger than {MAX_SPEC_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(
            f"{given}: not a UTF-8 text file (invalid byte at offset {err.start}); save the spec "
            "as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{given}: TOML syntax error: {err}") from None
    except RecursionError:
        raise SpecError(f"{given}: TOML syntax error: nesting too deep") from None
    return problem_from_dict(data, source=given.resolve())


def problem_from_dict(
    data: Mapping[str, Any],
    *,
    source: str | os.PathLike[str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> Problem:
    """Build a validated :class:`~kanphys.pde.problem.Problem` from a spec mapping.

    Parameters
    ----------
    data : Mapping
        The spec as ``tomllib.load`` returns it (tables are mappings, arrays lists or tuples).
    source : str or os.PathLike, optional
        The file the mapping came from: names it in error messages (default ``"<spec>"``) and
        becomes ``Problem.source`` (resolved).
    base_dir : str or os.PathLike, optional
        Directory that relative file paths are resolved against; default the directory of
        ``source``, else the current directory.

    Returns
    -------
    Problem

    Raises
    ------
    SpecError
        For any invalid part of the spec, naming the field at fault and what is allowed.
    """
    source_path = Path(source).resolve() if source is not None else None
    if base_dir is not None:
        base = Path(base_dir)
    else:
        base = source_path.parent if source_path is not None else Path.cwd()
    ctx = SpecContext(str(source_path) if source_path else "<spec>", base)
    table = require_table(ctx, "spec", data)
    check_keys(ctx, "", table, TOP_LEVEL_KEYS, required=REQUIRED_KEYS, what="top-level keys")
    name = require_string(ctx, "name", table["name"])
    if not _NAME.match(name):
        ctx.fail("name", f"must match [a-z0-9_-]+ (e.g. 'burgers1d'); received {name!r}")
    description = require_string(ctx, "description", table.get("description", ""))
    fields = _fields(ctx, table["fields"])
    raw_domain = table["domain"]
    raw_inputs = (
        [k for k in raw_domain if k not in DOMAIN_KEYS] if isinstance(raw_domain, Mapping) else []
    )
    has_data = "data" in table
    parameters = _parameters(
        ctx, table.get("parameters", {}), has_data=has_data, others=(*raw_inputs, *fields)
    )
    constants = {p.name: p.value for p in parameters if not p.trainable}
    unavailable = _not_constant(parameters, raw_inputs, fields)
    domain = parse_domain(ctx, raw_domain, constants=constants, unavailable=unavailable)
    _check_clashes(ctx, domain.inputs, parameters, fields)
    symbols: dict[str, sympy.Expr] = {v: input_symbol(v) for v in domain.inputs}
    symbols.update({p.name: input_symbol(p.name) for p in parameters})
    symbols.update({f: field_function(f, domain.inputs) for f in fields})
    texts = require_list(ctx, "equations", table["equations"], '["u_xx = -1"]')
    if not texts:
        ctx.fail("equations", 'must list at least one equation, e.g. ["u_xx = -1"]')
    equations = tuple(
        _equation(ctx, f"equations[{i}]", text, symbols, domain.inputs, fields)
        for i, text in enumerate(texts)
    )
    conditions = _conditions(
        ctx, table.get("conditions", []), domain, symbols, fields, constants, unavailable
    )
    reference = None
    if "reference" in table:
        reference = _reference(ctx, table["reference"], domain.inputs, fields, symbols)
    data_table = _data(ctx, table["data"], domain.inputs, fields) if has_data else None
    symmetries = parse_symmetries(ctx, table.get("symmetry", []), domain.inputs, fields)
    return Problem(
        name=name,
        fields=fields,
        domain=domain,
        equations=equations,
        conditions=conditions,
        parameters=parameters,
        description=description,
        reference=reference,
        data=data_table,
        model=_plain_table(ctx, "model", table.get("model", {})),
        training=_plain_table(ctx, "training", table.get("training", {})),
        source=source_path,
        symmetries=symmetries,
    )


def _fields(ctx: SpecContext, value: Any) -> tuple[str, ...]:
    items = require_list(ctx, "fields", value, '["u"]')
    if not items:
        ctx.fail("fields", 'must list at least one unknown field, e.g. ["u"]')
    for i, name in enumerate(items):
        check_identifier(ctx, f"fields[{i}]", name, "field")
        if items.index(name) != i:
            ctx.fail(f"fields[{i}]", f"field {name!r} is listed twice")
    return tuple(items)


def _parameters(
    ctx: SpecContext, value: Any, *, has_data: bool, others: tuple[str, ...]
) -> tuple[Parameter, ...]:
    table = require_table(ctx, "parameters", value)
    names = list(table)
    constants: dict[str, float] = {}
    parameters: list[Parameter] = []
    for position, (name, raw) in enumerate(table.items()):
        label = f"parameters.{name}"
        check_identifier(ctx, label, name, "parameter")
        unavailable = {
            other: "is defined later in [parameters]; a parameter may use only those before it"
            for other in names[position + 1 :]
        }
        unavailable.update(
            {p.name: _TRAINABLE_REASON for p in parameters if p.trainable}
            | {other: "is an input or a field; a parameter must be constant" for other in others}
        )
        trainable = False
        if isinstance(raw, Mapping):
            check_keys(ctx, label, raw, PARAMETER_KEYS, what="parameter keys")
            if "initial" in raw and "value" in raw:
                ctx.fail(label, "give initial or value (synonyms), not both")
            key = "initial" if "initial" in raw else "value"
            if key not in raw:
                ctx.fail(label, "a parameter table needs initial = <number>, e.g. {initial = 0.5}")
            trainable = raw.get("trainable", False)
            if not isinstance(trainable, bool):
                ctx.fail(f"{label}.trainable", f"must be true or false; received {trainable!r}")
            text = raw[key]
            number = parse_constant(
                text,
                names=constants,
                label=f"{label}.{key}",
                source=ctx.source,
                unavailable=unavailable,
            )
        elif is_number(raw) or isinstance(raw, str):
            text = raw
            number = parse_constant(
                raw, names=constants, label=label, source=ctx.source, unavailable=unavailable
            )
        else:
            ctx.fail(
                label,
                "must be a number, a constant expression string such as '0.01/pi', or a table "
                f"{{initial = <number>, trainable = true}}; received {describe(raw)}",
            )
        if trainable and not has_data:
            ctx.fail(
                label,
                "is trainable but the spec has no [data] table; trainable parameters are "
                "identified from observations: add [data] with file = '...'",
            )
        if not trainable:
            constants[name] = number
        parameters.append(Parameter(name=name, value=number, trainable=trainable, text=str(text)))
    return tuple(parameters)


def _not_constant(
    parameters: tuple[Parameter, ...], inputs: list[str], fields: tuple[str, ...]
) -> dict[str, str]:
    reasons = {p.name: _TRAINABLE_REASON for p in parameters if p.trainable}
    reasons.update({v: "is an input variable; a constant cannot depend on it" for v in inputs})
    reasons.update({f: "is a field; a constant cannot depend on it" for f in fields})
    return reasons


def _check_clashes(
    ctx: SpecContext,
    inputs: tuple[str, ...],
    parameters: tuple[Parameter, ...],
    fields: tuple[str, ...],
) -> None:
    for parameter in parameters:
        if parameter.name in inputs:
            ctx.fail(
                f"parameters.{parameter.name}",
                f"{parameter.name!r} is also an input; input, field and parameter names must "
                "differ",
            )
    names = {p.name for p in parameters}
    for i, name in enumerate(fields):
        if name in inputs or name in names:
            what = "an input" if name in inputs else "a parameter"
            ctx.fail(
                f"fields[{i}]",
                f"{name!r} is also {what}; input, field and parameter names must differ",
            )


def _equation(
    ctx: SpecContext,
    label: str,
    text: Any,
    symbols: Mapping[str, sympy.Expr],
    inputs: tuple[str, ...],
    fields: tuple[str, ...],
) -> Equation:
    lhs, rhs = parse_equation(
        text, names=symbols, inputs=inputs, fields=fields, label=label, source=ctx.source
    )
    if not (lhs - rhs).atoms(AppliedUndef):
        ctx.fail(
            label,
            f"{text!r} does not involve any field; an equation constrains the fields "
            f"({', '.join(fields)})",
        )
    return Equation(label=label, text=text, lhs=lhs, rhs=rhs)


def _where(
    ctx: SpecContext,
    label: str,
    value: Any,
    domain: Domain,
    constants: Mapping[str, float],
    unavailable: Mapping[str, str],
) -> tuple[str, str | None, float | None]:
    """``(kind, variable, value)`` of a condition's ``where``."""
    text = require_string(ctx, label, value).strip()
    if text == "boundary":
        if not domain.spatial:
            ctx.fail(
                label, "'boundary' is the spatial boundary but the domain has no spatial input"
            )
        return "boundary", None, None
    variable, sep, rhs = text.partition("=")
    variable, rhs = variable.strip(), rhs.strip()
    if not sep or "=" in rhs or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", variable) or not rhs:
        ctx.fail(label, f"must be {_WHERE_FORMS}; received {value!r}")
    if variable not in domain.inputs:
        ctx.fail(
            label,
            f"{variable!r} is not an input; a condition holds on a plane '<input> = <value>' "
            f"of an input ({', '.join(domain.inputs)}) or on the 'boundary'",
        )
    low, high = domain.bound(variable)
    if rhs in ("min", "max"):
        return "plane", variable, low if rhs == "min" else high
    try:
        number = resolve_value(ctx, label, rhs, constants, unavailable)
    except SpecError as err:
        raise SpecError(f"{err}; {label} must be {_WHERE_FORMS}") from None
    slack = 1e-12 * max(1.0, abs(low), abs(high))
    if not low - slack <= number <= high + slack:
        ctx.fail(
            label,
            f"{variable} = {number} lies outside the range of {variable} [{low}, {high}]",
        )
    return "plane", variable, min(max(number, low), high)


def _conditions(
    ctx: SpecContext,
    value: Any,
    domain: Domain,
    symbols: Mapping[str, sympy.Expr],
    fields: tuple[str, ...],
    constants: Mapping[str, float],
    unavailable: Mapping[str, str],
) -> tuple[Condition, ...]:
    if isinstance(value, Mapping):
        ctx.fail("conditions", "must be an array of tables: write [[conditions]], not [conditions]")
    items = require_list(ctx, "conditions", value, '[[conditions]] where = "x = 0"')
    conditions = []
    for i, item in enumerate(items):
        label = f"conditions[{i}]"
        entry = require_table(ctx, label, item)
        check_keys(ctx, label, entry, CONDITION_KEYS, required=("where", "equation"), what="keys")
        kind, variable, position = _where(
            ctx, f"{label}.where", entry["where"], domain, constants, unavailable
        )
        equation = _equation(
            ctx, f"{label}.equation", entry["equation"], symbols, domain.inputs, fields
        )
        conditions.append(
            Condition(
                label=label,
                where=entry["where"],
                kind=kind,  # type: ignore[arg-type]
                equation=equation,
                variable=variable,
                value=position,
                weight=optional_weight(ctx, f"{label}.weight", entry.get("weight")),
                n_points=optional_count(ctx, f"{label}.points", entry.get("points")),
            )
        )
    return tuple(conditions)


def _reference(
    ctx: SpecContext,
    value: Any,
    inputs: tuple[str, ...],
    fields: tuple[str, ...],
    symbols: Mapping[str, sympy.Expr],
) -> Reference:
    table = require_table(ctx, "reference", value)
    check_keys(ctx, "reference", table, ("file", *fields), what="keys (file and the fields)")
    if not table:
        ctx.fail(
            "reference",
            'is empty; give a closed form per field (u = "sin(pi*x)") and/or file = "ref.npz"',
        )
    expressions: dict[str, sympy.Expr] = {}
    for name in fields:
        if name not in table:
            continue
        label, raw = f"reference.{name}", table[name]
        if is_number(raw):
            if not math.isfinite(raw):
                ctx.fail(label, f"must be a finite number or an expression; received {raw!r}")
            expressions[name] = sympy.Integer(raw) if isinstance(raw, int) else sympy.Float(raw)
            continue
        expr = parse_expression(
            require_string(ctx, label, raw),
            names=symbols,
            inputs=inputs,
            fields=fields,
            label=label,
            source=ctx.source,
        )
        used = sorted({str(node.func) for node in expr.atoms(AppliedUndef)})
        if used:
            ctx.fail(
                label,
                f"uses the field {', '.join(used)}; a closed form may use only the inputs "
                f"({', '.join(inputs)}), parameters, numbers, pi and E",
            )
        expressions[name] = expr
    if "file" not in table:
        return Reference(expressions=expressions)
    path, points, values, grid_shape = read_reference(
        ctx, "reference.file", table["file"], inputs=inputs, fields=fields
    )
    return Reference(
        expressions=expressions, file=path, points=points, values=values, grid_shape=grid_shape
    )


def _data(ctx: SpecContext, value: Any, inputs: tuple[str, ...], fields: tuple[str, ...]) -> Data:
    table = require_table(ctx, "data", value)
    check_keys(ctx, "data", table, DATA_KEYS, required=("file",), what="keys")
    path, points, values = read_data(ctx, "data.file", table["file"], inputs=inputs, fields=fields)
    weight = optional_weight(ctx, "data.weight", table.get("weight"))
    return Data(file=path, points=points, values=values, weight=weight)


def _plain_table(ctx: SpecContext, label: str, value: Any) -> dict[str, Any]:
    """A deep copy of a ``[model]`` / ``[training]`` table as plain dicts and lists."""
    require_table(ctx, label, value)
    return cast(dict[str, Any], _plain(ctx, label, value, depth=0))


def _plain(ctx: SpecContext, label: str, value: Any, depth: int) -> Any:
    if depth > 32:
        ctx.fail(label, "is nested too deeply")
    if isinstance(value, Mapping):
        require_table(ctx, label, value)
        return {k: _plain(ctx, f"{label}.{k}", v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(ctx, f"{label}[{i}]", v, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, _TOML_SCALARS):
        return value
    ctx.fail(
        label,
        "must hold TOML values (strings, numbers, booleans, dates, arrays, tables); "
        f"received {describe(value)}",
    )
