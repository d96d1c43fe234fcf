"""The kanphys command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kanphys import __version__
from kanphys.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"kanphys {__version__}"


def test_info_json_reports_versions_device_threads(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["versions"]["torch"] == torch.__version__
    assert info["versions"]["kanphys"] == __version__
    assert info["threads"]["torch_intraop"] == torch.get_num_threads()
    assert info["device"]["auto"] == ("cuda" if torch.cuda.is_available() else "cpu")


def test_info_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"torch       {torch.__version__}" in out
    assert "intra-op" in out


def test_console_script_is_installed() -> None:
    script = shutil.which("kanphys", path=str(Path(sys.executable).parent))
    assert script is not None, "the kanphys console script is not installed next to python"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"kanphys {__version__}"


def test_unknown_command_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: kanphys" in capsys.readouterr().out
