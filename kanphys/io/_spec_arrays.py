"""Reference and observation files named by a spec: ``.npz`` archives and ``.csv`` tables.

Both are read without executing anything: ``np.load(..., allow_pickle=False)`` and the
:mod:`csv` module with ``float()`` per cell. Every problem becomes a
:class:`~kanphys.errors.SpecError` naming the spec, the spec field, the file and the array or
column at fault.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kanphys.io._spec_common import SpecContext, describe

__all__ = ["SUFFIXES", "read_data", "read_reference", "resolve_file"]

SUFFIXES = (".npz", ".csv")
"""File types a reference or data file may have."""

_Arrays = dict[str, np.ndarray]


def resolve_file(ctx: SpecContext, label: str, value: Any) -> Path:
    """The existing file ``value`` names, relative paths taken from ``ctx.base_dir``."""
    if not isinstance(value, str) or not value.strip():
        ctx.fail(label, f"must be a file path (a non-empty string); received {describe(value)}")
    path = Path(value)
    if not path.is_absolute():
        path = ctx.base_dir / path
    if path.suffix.lower() not in SUFFIXES:
        ctx.fail(
            label,
            f"{value!r} has suffix {path.suffix!r}; allowed file types: {', '.join(SUFFIXES)}",
        )
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        ctx.fail(label, f"{path} {what}")
    return path.resolve()


def _read_npz(ctx: SpecContext, label: str, path: Path) -> _Arrays:
    errors = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)
    try:
        loaded = np.load(path, allow_pickle=False)
    except errors as err:
        ctx.fail(label, f"cannot read {path} as an .npz archive: {err}")
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        ctx.fail(label, f"{path} is not an .npz archive (write it with numpy.savez)")
    try:
        with loaded:
            return {name: np.asarray(loaded[name]) for name in loaded.files}
    except errors as err:
        ctx.fail(label, f"cannot read {path}: {err}")


def _read_csv(ctx: SpecContext, label: str, path: Path) -> tuple[_Arrays, list[int]]:
    """Columns of a CSV file with a header row, and the file line number of each data row."""
    header: list[str] | None = None
    rows: list[list[float]] = []
    lines: list[int] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if header is None:
                    header = _header(ctx, label, path, row)
                    continue
                if len(row) != len(header):
                    ctx.fail(
                        label,
                        f"{path} line {reader.line_num} has {len(row)} values; the header has "
                        f"{len(header)} ({', '.join(header)})",
                    )
                rows.append(_row(ctx, label, path, header, row, reader.line_num))
                lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        ctx.fail(label, f"cannot read {path} as UTF-8 CSV: {err}")
    if header is None:
        ctx.fail(label, f"{path} is empty; expected a header row naming the columns")
    table = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(header))
    return {name: table[:, j] for j, name in enumerate(header)}, lines


def _header(ctx: SpecContext, label: str, path: Path, row: list[str]) -> list[str]:
    names = [cell.strip() for cell in row]
    for name in names:
        if not name:
            ctx.fail(label, f"{path}: the header row has an empty column name: {row!r}")
        if names.count(name) > 1:
            ctx.fail(label, f"{path}: column {name!r} appears twice in the header")
    return names


def _row(
    ctx: SpecContext, label: str, path: Path, header: list[str], row: list[str], line: int
) -> list[float]:
    values = []
    for name, cell in zip(header, row, strict=True):
        try:
            values.append(float(cell.strip()))
        except ValueError:
            ctx.fail(label, f"{path} line {line}, column {name!r}: {cell!r} is not a number")
    return values


def _read(ctx: SpecContext, label: str, path: Path) -> tuple[_Arrays, list[int] | None]:
    if path.suffix.lower() == ".csv":
        return _read_csv(ctx, label, path)
    return _read_npz(ctx, label, path), None


def _check_names(
    ctx: SpecContext,
    label: str,
    path: Path,
    arrays: Mapping[str, np.ndarray],
    inputs: Sequence[str],
    fields: Sequence[str],
    kind: str,
) -> list[str]:
    """The field names present; raise for a missing input, an unknown name or no field."""
    present = ", ".join(arrays) or "none"
    for name in arrays:
        if name not in inputs and name not in fields:
            ctx.fail(
                label,
                f"{path}: {kind} {name!r} is neither an input ({', '.join(inputs)}) nor a field "
                f"({', '.join(fields)})",
            )
    for name in inputs:
        if name not in arrays:
            ctx.fail(
                label,
                f"{path} has no {kind} for input {name!r}; it needs one per input "
                f"({', '.join(inputs)}) and at least one field ({', '.join(fields)}); "
                f"found: {present}",
            )
    found = [name for name in fields if name in arrays]
    if not found:
        ctx.fail(
            label,
            f"{path} has no {kind} for any field; expected at least one of {', '.join(fields)}; "
            f"found: {present}",
        )
    return found


def _as_float(
    ctx: SpecContext,
    label: str,
    path: Path,
    name: str,
    array: np.ndarray,
    lines: list[int] | None,
    kind: str,
) -> np.ndarray:
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        ctx.fail(label, f"{path}: {kind} {name!r} has dtype {array.dtype}; expected real numbers")
    if array.ndim == 0:
        ctx.fail(label, f"{path}: {kind} {name!r} is a scalar; expected an array of values")
    values = array.astype(np.float64)
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        index = tuple(int(i) for i in bad[0])
        value = values[index]
        if lines is not None:
            where = f"row {index[0] + 1} (line {lines[index[0]]})"
        else:
            where = f"index {index[0] if len(index) == 1 else index}"
        ctx.fail(label, f"{path}: {kind} {name!r} has a non-finite value ({value}) in {where}")
    return values


def _read_arrays(
    ctx: SpecContext, label: str, value: Any, inputs: Sequence[str], fields: Sequence[str]
) -> tuple[Path, dict[str, np.ndarray], list[str]]:
    """Resolve and read a reference or data file: its path, finite float arrays, fields found."""
    path = resolve_file(ctx, label, value)
    raw, lines = _read(ctx, label, path)
    kind = "column" if lines is not None else "array"
    found = _check_names(ctx, label, path, raw, inputs, fields, kind)
    arrays = {
        name: _as_float(ctx, label, path, name, raw[name], lines, kind)
        for name in (*inputs, *found)
    }
    return path, arrays, list(found)


def read_reference(
    ctx: SpecContext, label: str, value: Any, *, inputs: Sequence[str], fields: Sequence[str]
) -> tuple[Path, np.ndarray, dict[str, np.ndarray], tuple[int, ...] | None]:
    """Read a reference solution file.

    Returns
    -------
    path : Path
        The resolved file.
    points : ndarray, shape (N, n_inputs)
        Inputs in domain order.
    values : dict of str to ndarray, shape (N,)
        One entry per field present in the file.
    grid_shape : tuple of int or None
        ``(len(inputs[0]), len(inputs[1]), ...)`` for the grid layout (flattened with 'ij'
        indexing), ``None`` for scattered points.
    """
    path, arrays, found = _read_arrays(ctx, label, value, inputs, fields)
    shapes = {name: array.shape for name, array in arrays.items()}
    grid = tuple(arrays[v].shape[0] if arrays[v].ndim == 1 else -1 for v in inputs)
    if len(set(shapes.values())) == 1:
        grid_shape = None
        points = np.stack([arrays[v].reshape(-1) for v in inputs], axis=1)
    elif all(arrays[v].ndim == 1 for v in inputs) and all(shapes[f] == grid for f in found):
        grid_shape = grid
        mesh = np.meshgrid(*(arrays[v] for v in inputs), indexing="ij")
        points = np.stack([m.reshape(-1) for m in mesh], axis=1)
    else:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        ctx.fail(
            label,
            f"{path}: arrays have inconsistent shapes ({listed}); expected a grid (1-D input "
            f"arrays and field arrays of shape (len({'), len('.join(inputs)})) in domain "
            "order) or scattered points (all arrays of one shape, e.g. (N,))",
        )
    if points.shape[0] == 0:
        ctx.fail(label, f"{path} holds no points")
    values = {f: arrays[f].reshape(-1) for f in found}
    return path, points, values, grid_shape


def read_data(
    ctx: SpecContext, label: str, value: Any, *, inputs: Sequence[str], fields: Sequence[str]
) -> tuple[Path, np.ndarray, dict[str, np.ndarray]]:
    """Read an observation file: ``(path, points (N, n_inputs), {field: (N,)})``."""
    path, arrays, found = _read_arrays(ctx, label, value, inputs, fields)
    lengths = {name: array.shape for name, array in arrays.items()}
    if any(len(shape) != 1 for shape in lengths.values()) or len(set(lengths.values())) != 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in lengths.items())
        ctx.fail(label, f"{path}: columns must be 1-D arrays of one length; received {listed}")
    n_rows = arrays[inputs[0]].shape[0]
    if n_rows == 0:
        ctx.fail(label, f"{path} has no rows of observations")
    points = np.stack([arrays[v] for v in inputs], axis=1)
    return path, points, {f: arrays[f] for f in found}
