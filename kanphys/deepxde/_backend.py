"""Importing DeepXDE with its PyTorch backend, without writing DeepXDE's config file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kanphys.errors import ConfigError

__all__ = ["load_deepxde"]

_BACKEND_HELP = (
    "kanphys.deepxde needs DeepXDE's PyTorch backend; set it before Python starts, e.g. "
    "`DDE_BACKEND=pytorch python script.py` (or `export DDE_BACKEND=pytorch`), or run "
    "`python -m deepxde.backend.set_default_backend pytorch` once"
)


def _configured_backend() -> str | None:
    """The backend DeepXDE will load, as its own rules choose it (None: not chosen yet)."""
    for variable in ("DDE_BACKEND", "DDEBACKEND"):
        if variable in os.environ:
            return os.environ[variable].lower()
    path = Path.home() / ".deepxde" / "config.json"
    if path.exists():
        try:
            return str(json.loads(path.read_text()).get("backend", "")).lower() or None
        except (OSError, ValueError):
            return None
    return None


def load_deepxde() -> Any:
    """Import DeepXDE with its PyTorch backend, or raise a :class:`ConfigError` saying how.

    Returns
    -------
    module
        ``deepxde``.
    """
    import sys

    if "deepxde" not in sys.modules:
        chosen = _configured_backend()
        if chosen is None:
            # DeepXDE would pick the first installed backend and write its config file
            os.environ["DDE_BACKEND"] = "pytorch"
        elif chosen != "pytorch":
            raise ConfigError(f"DeepXDE's backend is set to {chosen!r}. {_BACKEND_HELP}")
    try:
        import deepxde
    except ImportError as err:
        raise ConfigError(
            "kanphys.deepxde needs DeepXDE, which is not installed: "
            "pip install 'kanphys[deepxde]' (or pip install deepxde)"
        ) from err
    backend = getattr(deepxde.backend, "backend_name", None)
    if backend != "pytorch":
        raise ConfigError(f"DeepXDE was imported with the {backend!r} backend. {_BACKEND_HELP}")
    return deepxde
