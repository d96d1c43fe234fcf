"""Checkpoints: bit-identical round trips, atomic writes, clear errors on bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from kanphys import KAN, MLP, load_model, save_model
from kanphys.errors import CheckpointError, ConfigError
from kanphys.io import atomic_write_bytes
from kanphys.models import refine_grid, update_grid


def example_models() -> list:
    g = torch.Generator().manual_seed(0)
    kan = KAN([2, [3, 2], 1], basis="bspline", grid_size=4, dtype=torch.float64, generator=g)
    x = torch.rand(100, 2, dtype=torch.float64, generator=g) * 2 - 1
    edited = refine_grid(update_grid(kan, x), 7)  # adaptive grids and a new grid size
    with torch.no_grad():
        edited.layers[0].mask[1, 0] = 0.0
    return [
        kan,
        edited,
        KAN([3, 4, 2], basis="chebyshev", grid_size=6, base_activation=None, generator=g),
        KAN([2, 3, 1], basis="rbf", grid_size=8, dtype=torch.float32, generator=g),
        MLP([2, 16, 16, 1], activation="sin", dtype=torch.float64, generator=g),
    ]


@pytest.mark.parametrize("index", range(5))
def test_round_trip_is_bit_identical(tmp_path: Path, index: int) -> None:
    model = example_models()[index]
    path = save_model(model, tmp_path / "model.pt")
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert loaded.dtype == model.dtype
    x = torch.rand(64, model.in_features, dtype=model.dtype) * 2 - 1
    assert torch.equal(loaded(x), model(x))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    save_model(KAN([2, 1]), tmp_path / "a.pt")
    save_model(KAN([2, 1]), tmp_path / "a.pt")  # overwrite in place
    assert sorted(os.listdir(tmp_path)) == ["a.pt"]


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "result.bin"
    atomic_write_bytes(path, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(path, object())  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["result.bin"]


def test_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"checkpoint file not found"):
        load_model(tmp_path / "missing.pt")
    path = save_model(KAN([2, 3, 1]), tmp_path / "model.pt")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated, corrupt or not a kanphys checkpoint"):
        load_model(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"truncated, corrupt or not a kanphys checkpoint"):
        load_model(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match=r"not a kanphys model checkpoint"):
        load_model(foreign)
    with pytest.raises(CheckpointError, match=r"directory .* does not exist"):
        save_model(KAN([2, 1]), tmp_path / "no" / "such" / "dir" / "m.pt")
    with pytest.raises(ConfigError, match=r"save_model expects a kanphys network"):
        save_model(torch.nn.Linear(2, 1), tmp_path / "linear.pt")  # type: ignore[arg-type]


def test_tampered_checkpoint_is_rejected(tmp_path: Path) -> None:
    """A pickle that would run code is refused by weights_only loading; nothing executes."""
    canary = tmp_path / "canary"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "kanphys.model", "x": Payload()}, evil)
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint"):
        load_model(evil)
    assert not canary.exists()


def test_checkpoint_with_inconsistent_config_is_rejected(tmp_path: Path) -> None:
    path = save_model(KAN([2, 3, 1]), tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"] = payload["config"].replace('"grid_size": 5', '"grid_size": 9')
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"does not describe a valid KAN"):
        load_model(path)
    payload["config"] = '{"width": [[2, 0], [1, 0]], "colour": "red"}'
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"unknown KANConfig key\(s\) \['colour'\]"):
        load_model(path)
