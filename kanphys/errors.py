"""One exception hierarchy for everything kanphys reports to its users.

Every error raised for bad user input derives from :class:`KanphysError`, names the
argument (or spec field) at fault, quotes what was received and says what is allowed.
The subclasses also derive from the matching built-in exception so that generic
``except ValueError`` handlers keep working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "CheckpointError",
    "ConfigError",
    "KanphysError",
    "NonFiniteError",
    "ShapeError",
    "SpecError",
    "TensorTypeError",
    "check_choice",
    "check_int",
]


class KanphysError(Exception):
    """Base class of every error kanphys raises on purpose."""


class ConfigError(KanphysError, ValueError):
    """An argument or setting has a value that is not allowed."""


class ShapeError(KanphysError, ValueError):
    """A tensor or array has the wrong number of dimensions or the wrong size."""


class TensorTypeError(KanphysError, TypeError):
    """A tensor has a dtype or device that does not match the model it is given to."""


class NonFiniteError(KanphysError, ValueError):
    """Input data or a training quantity contains NaN or infinity."""


class CheckpointError(KanphysError, OSError):
    """A checkpoint is missing, truncated, tampered with or not a kanphys file."""


class SpecError(KanphysError, ValueError):
    """A problem specification is malformed."""


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; raise :class:`ConfigError` otherwise."""
    allowed = sorted(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{name} must be one of {allowed}; received {value!r}")
    return value


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` if it is an integer ``>= minimum``; raise :class:`ConfigError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer >= {minimum}; received {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; received {value}")
    return value
