"""Helpers shared by the spec reader modules: error context, key and type checks."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from kanphys.errors import SpecError
from kanphys.pde.expressions import RESERVED_NAMES

__all__ = [
    "IDENTIFIER",
    "SpecContext",
    "check_identifier",
    "check_keys",
    "describe",
    "is_number",
    "optional_count",
    "optional_weight",
    "require_list",
    "require_string",
    "require_table",
]

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
"""Names of inputs, fields and parameters: a letter, then letters, digits or underscores."""


@dataclass(frozen=True)
class SpecContext:
    """Where a spec comes from: ``source`` labels error messages, ``base_dir`` resolves files."""

    source: str
    base_dir: Path

    def fail(self, label: str, message: str) -> NoReturn:
        """Raise :class:`SpecError` as ``"<source>: <label>: <message>"``."""
        raise SpecError(f"{self.source}: {label}: {message}")


def describe(value: Any) -> str:
    """``"<type> <repr>"`` of a received value, shortened for error messages."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


def is_number(value: Any) -> bool:
    """True for an int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_keys(
    ctx: SpecContext,
    label: str,
    table: Mapping[str, Any],
    allowed: Iterable[str],
    *,
    required: Iterable[str] = (),
    what: str = "keys",
) -> None:
    """Raise for a key of ``table`` outside ``allowed`` or a missing ``required`` one."""
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            where = f"{label}.{key}" if label else str(key)
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            ctx.fail(where, f"unknown key{hint}; allowed {what}: {', '.join(allowed)}")
    for key in required:
        if key not in table:
            where = f"{label}.{key}" if label else key
            ctx.fail(where, f"missing required key; required {what}: {', '.join(required)}")


def require_table(ctx: SpecContext, label: str, value: Any) -> Mapping[str, Any]:
    """``value`` if it is a table (a mapping with string keys)."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        ctx.fail(label, f"must be a table; received {describe(value)}")
    return value


def require_list(ctx: SpecContext, label: str, value: Any, example: str) -> list[Any]:
    """``value`` as a list if it is a TOML array (list or tuple)."""
    if not isinstance(value, (list, tuple)):
        ctx.fail(label, f"must be a list, e.g. {example}; received {describe(value)}")
    return list(value)


def require_string(ctx: SpecContext, label: str, value: Any) -> str:
    """``value`` if it is a string."""
    if not isinstance(value, str):
        ctx.fail(label, f"must be a string; received {describe(value)}")
    return value


def check_identifier(ctx: SpecContext, label: str, name: Any, what: str) -> str:
    """``name`` if it is an identifier and not a reserved name (function, constant, ``diff``)."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        ctx.fail(
            label,
            f"{what} name must be a letter followed by letters, digits or underscores; "
            f"received {name!r}",
        )
    if name in RESERVED_NAMES:
        ctx.fail(
            label,
            f"{what} name {name!r} is reserved; reserved names (functions, constants): "
            f"{', '.join(sorted(RESERVED_NAMES))}",
        )
    return name


def optional_weight(ctx: SpecContext, label: str, value: Any) -> float | None:
    """``None`` or a positive finite float."""
    if value is None:
        return None
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        ctx.fail(label, f"must be a positive finite number; received {describe(value)}")
    return float(value)


def optional_count(ctx: SpecContext, label: str, value: Any) -> int | None:
    """``None`` or a positive int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        ctx.fail(label, f"must be a positive integer; received {describe(value)}")
    return value
