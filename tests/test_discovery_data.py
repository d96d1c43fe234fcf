"""Reading and checking measurements for law discovery: every bad input has a clear message."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kanphys.discovery import check_dataset, read_table
from kanphys.discovery.data import MIN_ROWS
from kanphys.errors import ConfigError, NonFiniteError, ShapeError


def _write(path, header, rows):
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 2, 50), rng.uniform(1, 2, 50)
    rows = list(zip(a, b, a * b, strict=True))
    return _write(tmp_path / "data.csv", ["a", "b", "y"], rows), a, b


def test_read_table_values(table):
    path, a, b = table
    data = read_table(path, target="y")
    assert data.names == ("a", "b")
    np.testing.assert_allclose(data.X, np.stack([a, b], axis=1), rtol=1e-15)
    np.testing.assert_allclose(data.y, a * b, rtol=1e-15)
    assert data.dropped_rows == 0 and data.notes == ()


def test_read_table_inputs_subset_and_separators(tmp_path):
    rows = [(i, 2 * i, 3 * i + 1) for i in range(1, 40)]
    path = tmp_path / "data.tsv"
    path.write_text("p\tq\tz\n" + "\n".join("\t".join(map(str, r)) for r in rows))
    data = read_table(path, target="z", inputs=["q"])
    assert data.names == ("q",)
    np.testing.assert_array_equal(data.X[:, 0], [2 * i for i in range(1, 40)])


def test_missing_target_and_input(table):
    path, *_ = table
    with pytest.raises(
        ConfigError, match=r"target column 'w' is not in .*columns: \['a', 'b', 'y'\]"
    ):
        read_table(path, target="w")
    with pytest.raises(ConfigError, match=r"input column\(s\) \['c'\] are not in"):
        read_table(path, target="y", inputs=["a", "c"])


def test_target_is_also_input(table):
    path, *_ = table
    with pytest.raises(ConfigError, match="'y' is also listed as an input"):
        read_table(path, target="y", inputs=["a", "y"])


def test_non_numeric_cell(tmp_path):
    rows = [(1.0, 2.0, 3.0)] * 30 + [(1.0, "abc", 3.0)]
    path = _write(tmp_path / "d.csv", ["a", "b", "y"], rows)
    with pytest.raises(ConfigError, match=r"column 'b' must be numeric; line 32 holds 'abc'"):
        read_table(path, target="y")


def test_nan_rows_dropped_and_counted_or_refused(tmp_path):
    rng = np.random.default_rng(1)
    rows = [(x, 2 * x) for x in rng.uniform(0, 1, 40)]
    rows[3] = (math.nan, 1.0)
    rows[7] = (0.5, math.inf)
    path = _write(tmp_path / "d.csv", ["x", "y"], rows)
    data = read_table(path, target="y")
    assert data.dropped_rows == 2 and len(data.y) == 38
    assert "dropped 2 of 40 rows hold NaN or infinity (columns ['x', 'y'])" in data.notes[0]
    with pytest.raises(NonFiniteError, match="2 of 40 rows hold NaN or infinity"):
        read_table(path, target="y", nan_policy="raise")
    with pytest.raises(ConfigError, match="nan_policy must be one of"):
        read_table(path, target="y", nan_policy="ignore")


def test_too_few_rows(tmp_path):
    path = _write(tmp_path / "d.csv", ["x", "y"], [(i, i * i) for i in range(5)])
    with pytest.raises(ShapeError, match=f"5 usable rows; .* needs at least {MIN_ROWS}"):
        read_table(path, target="y")
    X = np.random.default_rng(0).uniform(size=(30, 4))
    with pytest.raises(ShapeError, match=r"needs at least 40 \(max\(20, 10 per input\)\)"):
        check_dataset(X, X.sum(axis=1))


def test_constant_columns(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, 30)
    data = check_dataset(np.stack([x, np.full(30, 7.0)], axis=1), x**2, ["x", "c"])
    assert data.names == ("x",) and data.X.shape == (30, 1)
    assert data.notes == ("dropped constant input 'c' (value 7)",)
    with pytest.raises(ConfigError, match="target 'y' is constant"):
        check_dataset(x[:, None], np.ones(30))
    with pytest.raises(ConfigError, match="every input column is constant"):
        check_dataset(np.ones((30, 1)), x)


def test_names_and_shapes():
    X = np.random.default_rng(3).uniform(size=(30, 2))
    y = X[:, 0]
    with pytest.raises(ConfigError, match="'x 1' is not a valid variable name"):
        check_dataset(X, y, ["x 1", "b"])
    with pytest.raises(ConfigError, match="'lambda' is not a valid variable name"):
        check_dataset(X, y, ["lambda", "b"])
    with pytest.raises(ConfigError, match="input names must be distinct"):
        check_dataset(X, y, ["a", "a"])
    with pytest.raises(ShapeError, match=r"names has 1 entries but X has 2 columns"):
        check_dataset(X, y, ["a"])
    with pytest.raises(ShapeError, match=r"y must have shape \(30,\) to match X"):
        check_dataset(X, y[:10])
    with pytest.raises(ShapeError, match=r"X must have shape \(N, d\)"):
        check_dataset(X[:, 0], y)
    with pytest.raises(ConfigError, match="X and y must be numeric arrays"):
        check_dataset([["a", "b"]] * 30, y)


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_table(tmp_path / "missing.csv", target="y")
    (tmp_path / "empty.csv").write_text("\n")
    with pytest.raises(ShapeError, match="is empty"):
        read_table(tmp_path / "empty.csv", target="y")
    (tmp_path / "ragged.csv").write_text("x,y\n1,2\n3\n")
    with pytest.raises(ShapeError, match="line 3: 1 values but the header names 2 columns"):
        read_table(tmp_path / "ragged.csv", target="y")
    (tmp_path / "dup.csv").write_text("x,x,y\n1,2,3\n")
    with pytest.raises(ShapeError, match=r"duplicate column names \['x'\]"):
        read_table(tmp_path / "dup.csv", target="y")
