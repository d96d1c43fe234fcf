"""`kanphys solve`, `kanphys problems` and `kanphys validate` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from heat_spec import heat_toml

from kanphys.cli import main
from kanphys.pde.registry import list_problems, problems_directory

SPEC = heat_toml("heat-cli", "n_collocation = 200\n")


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "heat.toml"
    path.write_text(SPEC)
    return path


def test_problems_lists_every_builtin_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["problems"]) == 0
    out = capsys.readouterr().out
    names = sorted(p.stem for p in problems_directory().glob("*.toml"))
    assert len(names) >= 11
    for name in names:
        assert name in out
    assert main(["problems", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert sorted(listing) == names and all(listing.values())
    assert [name for name, _ in list_problems()] == names


def test_validate_accepts_good_specs_and_names(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(spec), "poisson2d"]) == 0
    out = capsys.readouterr().out
    assert "heat-cli, inputs x, t, fields u" in out
    assert "(hard: conditions[0], conditions[1])" in out
    assert "poisson2d" in out


def test_validate_reports_bad_specs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.replace("u_t = u_xx/pi**2", "u_t = u_xx/q"))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml: invalid" in err and "equations[0]" in err and "'q'" in err
    training = tmp_path / "training.toml"
    training.write_text(SPEC + "steps_adam = 3\n")  # lands in [training]: unknown key
    assert main(["validate", str(training)]) == 2
    assert "[training] has an unknown key 'steps_adam'" in capsys.readouterr().err


def test_solve_writes_outputs_and_prints_the_error(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(
        [
            "solve",
            str(spec),
            "--out",
            str(out),
            "--steps",
            "20",
            "--lbfgs-steps",
            "5",
            "--seed",
            "3",
            "--width",
            "6",
            "--grid-size",
            "4",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "rel. L2     u " in printed and str(out) in printed
    result = json.loads((out / "result.json").read_text())
    assert result["steps"] == 25 and result["seed"] == 3
    assert result["model"]["width"] == [2, 6, 1] and result["model"]["grid_size"] == 4
    for name in ("history.csv", "solution.png", "loss.png", "model.pt", "model.json"):
        assert (out / name).is_file()
    # resume with a larger budget continues from step 25
    assert (
        main(
            [
                "solve",
                str(spec),
                "--out",
                str(out),
                "--steps",
                "20",
                "--lbfgs-steps",
                "8",
                "--seed",
                "3",
                "--width",
                "6",
                "--grid-size",
                "4",
                "--resume",
                "--quiet",
                "--no-plots",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == ""
    assert json.loads((out / "result.json").read_text())["steps"] == 28


def test_solve_json_and_mlp(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "solve",
            str(spec),
            "--out",
            str(tmp_path / "mlp"),
            "--model",
            "mlp",
            "--steps",
            "5",
            "--lbfgs-steps",
            "0",
            "--json",
            "--no-plots",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"]["type"] == "mlp" and result["status"] == "completed"


def test_solve_errors_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", "no_such_problem"]) == 2
    assert "unknown problem 'no_such_problem'; built-in problems are" in capsys.readouterr().err
    assert main(["solve", "missing/spec.toml"]) == 2
    assert "missing/spec.toml" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["solve", "poisson2d", "--width", "a,b"])
    assert "--width takes comma-separated hidden layer widths" in capsys.readouterr().err
