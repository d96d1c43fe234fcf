"""Built-in problems: the TOML specs in the repository's ``problems/`` directory.

Wheels ship the directory as ``kanphys/_problems``; an editable install reads ``problems/`` next
to the package. A problem's name is its file name without ``.toml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kanphys.errors import SpecError
from kanphys.pde.problem import Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["get_problem", "list_problems", "problems_directory", "resolve_problem"]


def problems_directory() -> Path:
    """Where the built-in specs live."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_problems", package.parent / "problems"):
        if candidate.is_dir():
            return candidate
    raise SpecError(
        f"the built-in problems directory is missing (looked for {package / '_problems'} and "
        f"{package.parent / 'problems'}); reinstall kanphys"
    )


def _paths() -> dict[str, Path]:
    return {path.stem: path for path in sorted(problems_directory().glob("*.toml"))}


def list_problems() -> list[tuple[str, str]]:
    """``[(name, one-line description), ...]`` of the built-in problems, sorted by name.

    Reads only each file's ``description`` (the specs are not validated here).
    """
    listing = []
    for name, path in _paths().items():
        try:
            with path.open("rb") as handle:
                description = str(tomllib.load(handle).get("description", ""))
        except (OSError, tomllib.TOMLDecodeError):
            description = "(unreadable spec)"
        listing.append((name, description.splitlines()[0] if description else ""))
    return listing


def get_problem(name: str) -> Problem:
    """Load the built-in problem ``name`` (see :func:`list_problems`)."""
    from kanphys.io.spec import load_problem

    paths = _paths()
    if name not in paths:
        raise SpecError(
            f"unknown problem {name!r}; built-in problems are {', '.join(paths)} "
            f"(or give the path of a .toml spec)"
        )
    return load_problem(paths[name])


def resolve_problem(problem: Problem | str | Path) -> Problem:
    """A :class:`Problem`, a path to a spec, or a built-in name -> :class:`Problem`."""
    from kanphys.io.spec import load_problem

    if isinstance(problem, Problem):
        return problem
    if isinstance(problem, Path) or str(problem).endswith(".toml") or "/" in str(problem):
        return load_problem(Path(problem))
    if isinstance(problem, str):
        return get_problem(problem)
    raise SpecError(
        f"problem must be a Problem, a path to a .toml spec or a built-in name; "
        f"received {type(problem).__name__}"
    )
