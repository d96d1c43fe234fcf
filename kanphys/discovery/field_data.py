"""Field data for PDE identification: read ``.npz`` or long-format CSV, and refuse bad grids
clearly.

A field is ``u(t, x)`` sampled on a uniform grid: ``t`` ``(n_t,)`` and ``x`` ``(n_x,)`` strictly
increasing with constant steps, and ``u`` ``(n_t, n_x)``. ``u`` given as ``(n_x, n_t)`` is
transposed, with a note. Every problem is reported by field name with what was received and
what is allowed.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kanphys.discovery.data import _read_rows
from kanphys.errors import ConfigError, NonFiniteError, ShapeError

__all__ = ["MIN_GRID_POINTS", "FieldData", "check_field", "read_field"]

#: Fewest samples along t and along x.
MIN_GRID_POINTS = 16
_UNIFORM_TOLERANCE = 1e-6  # relative deviation of the steps from their mean


@dataclass(frozen=True)
class FieldData:
    """A checked field: ``t`` ``(n_t,)``, ``x`` ``(n_x,)``, ``u`` ``(n_t, n_x)`` (float64), the
    column names and the notes on every change made to the input."""

    t: np.ndarray
    x: np.ndarray
    u: np.ndarray
    names: tuple[str, str, str] = ("t", "x", "u")
    notes: tuple[str, ...] = ()


def _as_array(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name} must be an array of real numbers; received {type(value).__name__}"
        ) from None
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), array.shape))
        raise NonFiniteError(
            f"{name} holds {int(bad.sum())} NaN/inf value(s) of {array.size} (first at index "
            f"{index}); identification needs a complete grid of finite values"
        )
    return array


def _check_axis(name: str, value: Any) -> np.ndarray:
    array = _as_array(name, value)
    if array.ndim != 1:
        raise ShapeError(f"{name} must be a 1-D array of grid values; received shape {array.shape}")
    if array.size < MIN_GRID_POINTS:
        raise ShapeError(
            f"{name} has {array.size} points; identification needs at least {MIN_GRID_POINTS}"
        )
    steps = np.diff(array)
    if not (steps > 0).all():
        raise ShapeError(
            f"{name} must be strictly increasing; it is not at index "
            f"{int(np.argmax(steps <= 0)) + 1}"
        )
    mean = float(steps.mean())
    deviation = float(np.max(np.abs(steps - mean))) / mean
    if deviation > _UNIFORM_TOLERANCE:
        raise ShapeError(
            f"{name} must be a uniform grid (constant step); its steps vary by "
            f"{deviation:.2e} of their mean {mean:.6g} (allowed: {_UNIFORM_TOLERANCE:g}); "
            "resample the data onto a uniform grid"
        )
    return array


def check_field(t: Any, x: Any, u: Any, *, names: Sequence[str] = ("t", "x", "u")) -> FieldData:
    """Validate in-memory field data.

    Parameters
    ----------
    t : array, shape (n_t,)
    x : array, shape (n_x,)
    u : array, shape (n_t, n_x) or (n_x, n_t)
        The second layout is transposed (noted); a square ``u`` is taken as ``(n_t, n_x)``.
    names : (str, str, str)
        Names of t, x and u in messages.

    Returns
    -------
    FieldData

    Raises
    ------
    ConfigError
        Non-numeric values, a constant field.
    ShapeError
        Wrong dimensions, too few points, a non-uniform or non-increasing axis, a ``u`` shape
        that matches neither layout.
    NonFiniteError
        NaN or infinity anywhere.
    """
    t_name, x_name, u_name = names
    t_array = _check_axis(t_name, t)
    x_array = _check_axis(x_name, x)
    field = _as_array(u_name, u)
    notes = []
    expected = (t_array.size, x_array.size)
    if field.ndim != 2:
        raise ShapeError(
            f"{u_name} must be 2-D, shape (len({t_name}), len({x_name})) = {expected} or its "
            f"transpose; received shape {field.shape}"
        )
    if field.shape != expected:
        if field.shape == expected[::-1]:
            field = field.T
            notes.append(
                f"{u_name} has shape {expected[::-1]} = (len({x_name}), len({t_name})); "
                f"transposed to (len({t_name}), len({x_name}))"
            )
        else:
            raise ShapeError(
                f"{u_name} must have shape (len({t_name}), len({x_name})) = {expected} or its "
                f"transpose; received shape {field.shape}"
            )
    if float(np.ptp(field)) <= 1e-12 * max(1.0, float(np.abs(field).max())):
        raise ConfigError(f"{u_name} is constant; there is no dynamics to identify")
    return FieldData(
        np.ascontiguousarray(t_array),
        np.ascontiguousarray(x_array),
        np.ascontiguousarray(field),
        (t_name, x_name, u_name),
        tuple(notes),
    )


def _read_npz(path: Path, names: Sequence[str]) -> FieldData:
    # truncated or tampered archives fail in numpy and zipfile in several ways
    errors = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)
    try:
        loaded = np.load(path, allow_pickle=False)
    except errors as err:
        raise ConfigError(f"cannot read {str(path)!r} as an .npz archive: {err}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ConfigError(f"{str(path)!r} is not an .npz archive (write it with numpy.savez)")
    try:
        with loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except errors as err:
        raise ConfigError(f"cannot read {str(path)!r} as an .npz archive: {err}") from None
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ConfigError(
            f"{str(path)!r} lacks the array(s) {missing}; it holds {sorted(arrays)} (expected "
            f"1-D {names[0]!r} and {names[1]!r} and 2-D {names[2]!r}; rename with --columns)"
        )
    return check_field(*(arrays[name] for name in names), names=names)


def _read_csv(path: Path, names: Sequence[str]) -> FieldData:
    header, rows = _read_rows(path)
    missing = [name for name in names if name not in header]
    if missing:
        raise ConfigError(
            f"column(s) {missing} are not in {str(path)!r}; columns: {header} (the long format "
            f"needs one row per grid point with columns {list(names)}; choose them with "
            "--columns)"
        )
    values = np.empty((len(rows), 3))
    for k, name in enumerate(names):
        index = header.index(name)
        for r, row in enumerate(rows):
            try:
                values[r, k] = float(row[index])
            except ValueError:
                raise ConfigError(
                    f"column {name!r} must be numeric; line {r + 2} holds {row[index]!r}"
                ) from None
    columns = {name: values[:, k] for k, name in enumerate(names)}
    for name in names:
        _as_array(name, columns[name])
    t_values, t_index = np.unique(columns[names[0]], return_inverse=True)
    x_values, x_index = np.unique(columns[names[1]], return_inverse=True)
    field = np.full((t_values.size, x_values.size), np.nan)
    counts = np.zeros(field.shape, dtype=int)
    np.add.at(counts, (t_index, x_index), 1)
    field[t_index, x_index] = columns[names[2]]
    if (counts != 1).any():
        i, j = (int(v) for v in np.argwhere(counts != 1)[0])
        raise ShapeError(
            f"the rows of {str(path)!r} do not form a grid: {len(rows)} rows for "
            f"{t_values.size} distinct {names[0]} x {x_values.size} distinct {names[1]}; the "
            f"pair ({names[0]}={t_values[i]:.6g}, {names[1]}={x_values[j]:.6g}) appears "
            f"{counts[i, j]} times (each must appear once)"
        )
    return check_field(t_values, x_values, field, names=names)


def read_field(
    path: str | os.PathLike[str], *, columns: Sequence[str] = ("t", "x", "u")
) -> FieldData:
    """Read field data from ``.npz`` (arrays named by ``columns``) or CSV (long format: one row
    per grid point, columns named by ``columns``, any order of rows).

    Parameters
    ----------
    path : path of the file
    columns : (str, str, str)
        Names of time, space and the field.

    Returns
    -------
    FieldData

    Raises
    ------
    ConfigError, ShapeError, NonFiniteError
        As in :func:`check_field`, plus a missing file, array or column and non-grid rows.
    """
    columns = tuple(columns)
    if len(columns) != 3 or len(set(columns)) != 3:
        raise ConfigError(
            f"columns must name time, space and the field, three distinct names such as "
            f"t,x,u; received {list(columns)}"
        )
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"data file {str(path)!r} does not exist")
    if path.suffix.lower() == ".npz":
        return _read_npz(path, columns)
    return _read_csv(path, columns)
