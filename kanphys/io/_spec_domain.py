"""The ``[domain]`` table of a spec -> :class:`~kanphys.pde.problem.Domain`."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np

from kanphys.errors import SpecError
from kanphys.io._spec_common import (
    SpecContext,
    check_identifier,
    describe,
    require_list,
    require_string,
    require_table,
)
from kanphys.pde.expressions import parse_constant
from kanphys.pde.geometry import polygon_crossing_edges
from kanphys.pde.problem import Domain

__all__ = ["DOMAIN_KEYS", "SHAPES", "parse_domain", "resolve_value"]

DOMAIN_KEYS = ("time", "shape", "center", "radius", "vertices", "periodic")
"""Reserved keys of ``[domain]``; every other key is an input variable."""
SHAPES = ("box", "disk", "polygon")
_SHAPE_OPTIONS = {"center": "disk", "radius": "disk", "vertices": "polygon"}


def resolve_value(
    ctx: SpecContext,
    label: str,
    value: Any,
    constants: Mapping[str, float],
    unavailable: Mapping[str, str],
) -> float:
    """A number or a constant expression (``"2*pi"``) over ``constants``, as a float."""
    return parse_constant(
        value, names=constants, label=label, source=ctx.source, unavailable=unavailable
    )


def _pair(
    ctx: SpecContext,
    label: str,
    value: Any,
    constants: Mapping[str, float],
    unavailable: Mapping[str, str],
    example: str,
) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        ctx.fail(label, f"must be a pair of numbers, e.g. {example}; received {describe(value)}")
    first = resolve_value(ctx, f"{label}[0]", value[0], constants, unavailable)
    second = resolve_value(ctx, f"{label}[1]", value[1], constants, unavailable)
    return first, second


def parse_domain(
    ctx: SpecContext,
    value: Any,
    *,
    constants: Mapping[str, float],
    unavailable: Mapping[str, str],
) -> Domain:
    """Validate ``[domain]`` and build the :class:`Domain`.

    ``constants`` are the non-trainable parameters (bounds may be constant expressions over
    them, ``pi`` and ``E``); ``unavailable`` maps other names to the reason they cannot be used.
    """
    table = require_table(ctx, "domain", value)
    inputs: list[str] = []
    bounds: list[tuple[float, float]] = []
    for key, item in table.items():
        if key in DOMAIN_KEYS:
            continue
        label = f"domain.{key}"
        if not isinstance(item, (list, tuple)):
            close = difflib.get_close_matches(key, DOMAIN_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            ctx.fail(
                label,
                f"unknown key{hint}: an input variable needs a [low, high] range, e.g. "
                f"{key} = [0.0, 1.0]; reserved keys: {', '.join(DOMAIN_KEYS)}; "
                f"received {describe(item)}",
            )
        check_identifier(ctx, label, key, "input")
        try:
            low, high = _pair(ctx, label, item, constants, unavailable, "[0.0, 1.0]")
        except SpecError as err:
            close = difflib.get_close_matches(key, DOMAIN_KEYS, n=1)
            if not close:
                raise
            raise SpecError(f"{err} (did you mean the reserved key {close[0]!r}?)") from None
        if not low < high:
            ctx.fail(label, f"must be [low, high] with low < high; received [{low}, {high}]")
        inputs.append(key)
        bounds.append((low, high))
    if not inputs:
        ctx.fail(
            "domain",
            "declares no input variable; give one [low, high] range per input, e.g. "
            f"x = [0.0, 1.0] (reserved keys: {', '.join(DOMAIN_KEYS)})",
        )
    time = table.get("time")
    if time is not None and (not isinstance(time, str) or time not in inputs):
        ctx.fail("domain.time", f"must name an input ({', '.join(inputs)}); received {time!r}")
    shape = table.get("shape", "box")
    if shape not in SHAPES:
        ctx.fail("domain.shape", f"must be one of {', '.join(SHAPES)}; received {shape!r}")
    for key, owner in _SHAPE_OPTIONS.items():
        if key in table and shape != owner:
            ctx.fail(
                f"domain.{key}",
                f"is only used with shape = {owner!r}; this domain has shape = {shape!r}",
            )
    spatial = [v for v in inputs if v != time]
    if shape != "box" and len(spatial) < 2:
        ctx.fail(
            "domain.shape",
            f"shape = {shape!r} spans the first two spatial inputs but the domain has "
            f"{len(spatial)} ({', '.join(spatial) or 'none'}); name the time variable with "
            "time = ... if one of them is time",
        )
    planar = spatial[:2] if shape != "box" else []
    box = {name: bound for name, bound in zip(inputs, bounds, strict=True)}
    center = radius = vertices = None
    if shape == "disk":
        center, radius = _disk(ctx, table, planar, box, constants, unavailable)
    elif shape == "polygon":
        vertices = _polygon(ctx, table, planar, box, constants, unavailable)
    periodic = _periodic(ctx, table.get("periodic", []), inputs, spatial, planar)
    return Domain(
        inputs=tuple(inputs),
        bounds=tuple(bounds),
        time=time,
        shape=shape,
        center=center,
        radius=radius,
        vertices=vertices,
        periodic=periodic,
    )


def _slack(bounds: list[tuple[float, float]]) -> float:
    return 1e-12 * max(1.0, *(abs(e) for bound in bounds for e in bound))


def _disk(
    ctx: SpecContext,
    table: Mapping[str, Any],
    planar: list[str],
    box: Mapping[str, tuple[float, float]],
    constants: Mapping[str, float],
    unavailable: Mapping[str, str],
) -> tuple[tuple[float, float], float]:
    for key in ("center", "radius"):
        if key not in table:
            ctx.fail(f"domain.{key}", "is required for shape = 'disk' (center = [x, y], radius)")
    center = _pair(ctx, "domain.center", table["center"], constants, unavailable, "[0.0, 0.0]")
    radius = resolve_value(ctx, "domain.radius", table["radius"], constants, unavailable)
    if radius <= 0:
        ctx.fail("domain.radius", f"must be positive; received {radius}")
    bounds = [box[v] for v in planar]
    slack = _slack(bounds)
    for c, (low, high), name in zip(center, bounds, planar, strict=True):
        if c - radius < low - slack or c + radius > high + slack:
            ctx.fail(
                "domain.radius",
                f"the disk (center {list(center)}, radius {radius}) reaches outside the range "
                f"of {name} [{low}, {high}]; the [low, high] ranges of {', '.join(planar)} "
                "must enclose the disk",
            )
    return center, radius


def _polygon(
    ctx: SpecContext,
    table: Mapping[str, Any],
    planar: list[str],
    box: Mapping[str, tuple[float, float]],
    constants: Mapping[str, float],
    unavailable: Mapping[str, str],
) -> tuple[tuple[float, float], ...]:
    if "vertices" not in table:
        ctx.fail("domain.vertices", "is required for shape = 'polygon', e.g. [[0,0],[1,0],[0,1]]")
    items = require_list(ctx, "domain.vertices", table["vertices"], "[[0,0],[1,0],[0,1]]")
    if len(items) < 3:
        ctx.fail("domain.vertices", f"needs at least 3 [x, y] vertices; received {len(items)}")
    vertices = tuple(
        _pair(ctx, f"domain.vertices[{i}]", item, constants, unavailable, "[0.0, 1.0]")
        for i, item in enumerate(items)
    )
    n = len(vertices)
    for i in range(n):
        if vertices[i] == vertices[(i + 1) % n]:
            ctx.fail(
                f"domain.vertices[{i}]",
                "repeats the next vertex (do not close the polygon by repeating the first vertex)",
            )
    points = np.asarray(vertices, dtype=float)
    edges = points - points[0]
    if np.all(edges[:, 0] * edges[1, 1] - edges[:, 1] * edges[1, 0] == 0):  # all on one line
        ctx.fail("domain.vertices", "must enclose a positive area")
    crossing = polygon_crossing_edges(points)
    if crossing is not None:
        ctx.fail(
            "domain.vertices",
            f"must describe a simple polygon; edges {crossing[0]} and {crossing[1]} intersect",
        )
    area = sum(
        vertices[i][0] * vertices[(i + 1) % n][1] - vertices[(i + 1) % n][0] * vertices[i][1]
        for i in range(n)
    )
    if area == 0:
        ctx.fail("domain.vertices", "must enclose a positive area")
    bounds = [box[v] for v in planar]
    slack = _slack(bounds)
    for i, vertex in enumerate(vertices):
        for c, (low, high), name in zip(vertex, bounds, planar, strict=True):
            if not low - slack <= c <= high + slack:
                ctx.fail(
                    f"domain.vertices[{i}]",
                    f"{list(vertex)} lies outside the range of {name} [{low}, {high}]; the "
                    f"[low, high] ranges of {', '.join(planar)} must enclose the polygon",
                )
    return vertices


def _periodic(
    ctx: SpecContext, value: Any, inputs: list[str], spatial: list[str], planar: list[str]
) -> tuple[str, ...]:
    items = require_list(ctx, "domain.periodic", value, '["x"]')
    allowed = [v for v in spatial if v not in planar]
    seen: list[str] = []
    for i, name in enumerate(items):
        label = f"domain.periodic[{i}]"
        name = require_string(ctx, label, name)
        if name not in allowed:
            why = "is not an input" if name not in inputs else "cannot be periodic"
            ctx.fail(
                label,
                f"{name!r} {why}; periodic variables must be spatial inputs sampled as "
                f"intervals: {', '.join(allowed) or 'none'}",
            )
        if name in seen:
            ctx.fail(label, f"{name!r} is listed twice")
        seen.append(name)
    return tuple(seen)
