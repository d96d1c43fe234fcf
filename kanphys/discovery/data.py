"""Measurements for law discovery: read a table, pick the columns, and refuse bad data clearly.

Every problem is reported by name: a missing or non-numeric column, NaN/inf rows (counted and
either dropped with a note or refused), too few rows, a target that is also an input, constant
columns. Nothing is dropped silently: each change made to the data is listed in
:attr:`Dataset.notes` and logged.
"""

from __future__ import annotations

import csv
import keyword
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kanphys.errors import ConfigError, NonFiniteError, ShapeError, check_choice

__all__ = ["MIN_ROWS", "Dataset", "check_dataset", "read_table"]

logger = logging.getLogger(__name__)

#: Fewest rows (after dropping bad ones) a discovery run accepts; it also needs
#: ``ROWS_PER_INPUT`` rows per input variable.
MIN_ROWS = 20
ROWS_PER_INPUT = 10

NAN_POLICIES = ("drop", "raise")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Dataset:
    """Checked measurements.

    Attributes
    ----------
    X : ndarray, shape (N, d)
        Input columns, float64, finite.
    y : ndarray, shape (N,)
        Target column, float64, finite.
    names : tuple of str
        Input variable names (valid identifiers), in column order.
    target : str
    dropped_rows : int
        Rows removed because a used column held NaN or infinity.
    notes : tuple of str
        Every change made to the data, in words.
    """

    X: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]
    target: str
    dropped_rows: int = 0
    notes: tuple[str, ...] = ()


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
        raise ConfigError(
            f"{what} {name!r} is not a valid variable name: use letters, digits and underscores, "
            f"starting with a letter (formulas are written in these names); rename the column"
        )
    return name


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"data file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read data file {str(path)!r}: {err}") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise ShapeError(f"data file {str(path)!r} is empty; expected a header row and data rows")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t ")
    except csv.Error:
        dialect = csv.excel
    rows = [[cell.strip() for cell in row] for row in csv.reader(lines, dialect)]
    header = rows[0]
    if not header or any(not name for name in header):
        raise ShapeError(
            f"data file {str(path)!r}: the first row must name every column; received {header}"
        )
    if len(set(header)) != len(header):
        duplicates = sorted({name for name in header if header.count(name) > 1})
        raise ShapeError(f"data file {str(path)!r}: duplicate column names {duplicates}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ShapeError(
                f"data file {str(path)!r}, line {number}: {len(row)} values but the header "
                f"names {len(header)} columns"
            )
    return header, rows[1:]


def _to_float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_table(
    path: str | os.PathLike[str],
    *,
    target: str,
    inputs: Sequence[str] | None = None,
    nan_policy: str = "drop",
) -> Dataset:
    """Read a CSV (comma, semicolon, tab or space separated) with a header row.

    Parameters
    ----------
    path : path of the file
    target : str
        Column to explain.
    inputs : list of str, optional
        Input columns; all other columns by default.
    nan_policy : {"drop", "raise"}
        What to do with rows holding NaN or infinity in a used column: drop them (counted in
        :attr:`Dataset.dropped_rows` and the notes) or refuse the file.

    Returns
    -------
    Dataset

    Raises
    ------
    ConfigError
        Unknown column, target listed as an input, invalid column name.
    ShapeError
        Empty file, ragged rows, too few rows.
    NonFiniteError
        NaN/inf rows with ``nan_policy="raise"``.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    if not isinstance(target, str) or target not in header:
        raise ConfigError(f"target column {target!r} is not in {str(path)!r}; columns: {header}")
    if inputs is None:
        inputs = [name for name in header if name != target]
    else:
        inputs = list(inputs)
        missing = [name for name in inputs if name not in header]
        if missing:
            raise ConfigError(
                f"input column(s) {missing} are not in {str(path)!r}; columns: {header}"
            )
    columns = [*inputs, target]
    values = np.empty((len(rows), len(columns)))
    for k, name in enumerate(columns):
        index = header.index(name)
        for r, row in enumerate(rows):
            value = _to_float(row[index])
            if value is None:
                raise ConfigError(
                    f"column {name!r} must be numeric; line {r + 2} holds {row[index]!r}"
                )
            values[r, k] = value
    return check_dataset(
        values[:, :-1], values[:, -1], inputs, target=target, nan_policy=nan_policy
    )


def check_dataset(
    X: Any,
    y: Any,
    names: Sequence[str] | None = None,
    *,
    target: str | None = None,
    nan_policy: str = "drop",
) -> Dataset:
    """Validate in-memory measurements (the estimator's ``fit`` calls this).

    Parameters
    ----------
    X : array, shape (N, d)
    y : array, shape (N,) or (N, 1)
    names : list of str, optional
        Input names; ``x0, x1, ...`` by default.
    target : str, optional
        Name of the target; ``"y"`` by default (``"target"`` when an input is called ``y``).
    nan_policy : {"drop", "raise"}

    Returns
    -------
    Dataset
        Constant input columns are removed (with a note); a constant target is an error.
    """
    check_choice("nan_policy", nan_policy, NAN_POLICIES)
    try:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"X and y must be numeric arrays: {err}") from None
    if X.ndim != 2:
        raise ShapeError(f"X must have shape (N, d); received {X.shape}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ShapeError(f"y must have shape ({X.shape[0]},) to match X; received {y.shape}")
    if X.shape[1] == 0:
        raise ShapeError("X has no input columns")
    names = [f"x{i}" for i in range(X.shape[1])] if names is None else list(names)
    if target is None:  # "y" unless an input already has that name
        target = "y" if "y" not in names else "target"
    if len(names) != X.shape[1]:
        raise ShapeError(f"names has {len(names)} entries but X has {X.shape[1]} columns")
    for name in names:
        _check_name(name, "input")
    _check_name(target, "target")
    if len(set(names)) != len(names):
        raise ConfigError(f"input names must be distinct; received {names}")
    if target in names:
        raise ConfigError(
            f"the target {target!r} is also listed as an input; a law cannot use its own output"
        )
    notes: list[str] = []
    finite = np.isfinite(X).all(axis=1) & np.isfinite(y)
    bad = int((~finite).sum())
    if bad:
        columns = [
            n
            for n, col in zip([*names, target], [*X.T, y], strict=False)
            if not np.isfinite(col).all()
        ]
        message = f"{bad} of {len(y)} rows hold NaN or infinity (columns {columns})"
        if nan_policy == "raise":
            raise NonFiniteError(f"{message}; clean the data or use nan_policy='drop'")
        X, y = X[finite], y[finite]
        notes.append(f"dropped {message}")
    minimum = max(MIN_ROWS, ROWS_PER_INPUT * X.shape[1])
    if len(y) < minimum:
        raise ShapeError(
            f"{len(y)} usable rows; discovering a law of {X.shape[1]} input(s) needs at least "
            f"{minimum} (max({MIN_ROWS}, {ROWS_PER_INPUT} per input))"
        )
    spread = np.ptp(y)
    if not spread > 1e-12 * max(1.0, float(np.abs(y).max())):
        raise ConfigError(
            f"target {target!r} is constant ({y[0]:.6g}); there is no law to discover"
        )
    keep = []
    for k, name in enumerate(names):
        column = X[:, k]
        if np.ptp(column) <= 1e-12 * max(1.0, float(np.abs(column).max())):
            notes.append(f"dropped constant input {name!r} (value {column[0]:.6g})")
        else:
            keep.append(k)
    if not keep:
        raise ConfigError(f"every input column is constant ({names}); nothing can explain y")
    for note in notes:
        logger.warning(note)
    return Dataset(
        X=np.ascontiguousarray(X[:, keep]),
        y=np.ascontiguousarray(y),
        names=tuple(names[k] for k in keep),
        target=target,
        dropped_rows=bad,
        notes=tuple(notes),
    )
