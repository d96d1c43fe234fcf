"""Model checkpoints: one file holding the JSON config and the state_dict, written atomically."""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from kanphys._version import __version__
from kanphys.errors import CheckpointError, ConfigError
from kanphys.models.base import MODELS, Network
from kanphys.runtime import dtype_name, resolve_device, resolve_dtype

__all__ = [
    "atomic_write_bytes",
    "load_model",
    "model_payload",
    "network_from_payload",
    "read_payload",
    "save_model",
    "save_payload",
]

FORMAT = "kanphys.model"
FORMAT_VERSION = 1


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    """Write through ``write(fileobj)`` to a temporary file, fsync it, then rename over ``path``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise CheckpointError(f"cannot write {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    _atomic_write(Path(path), lambda handle: handle.write(data))


def model_payload(model: Network) -> dict[str, Any]:
    """The checkpoint dict of ``model``, as :func:`save_model` writes it (extra keys allowed)."""
    if not isinstance(model, Network) or type(model).__name__ not in MODELS:
        raise ConfigError(
            f"save_model expects a kanphys network ({sorted(MODELS)}); "
            f"received {type(model).__name__}"
        )
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kanphys_version": __version__,
        "model": type(model).__name__,
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
        "dtype": dtype_name(model.dtype),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def save_payload(payload: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a checkpoint dict with ``torch.save``, atomically."""
    path = Path(path)
    _atomic_write(path, lambda handle: torch.save(payload, handle))
    return path


def save_model(model: Network, path: str | os.PathLike[str]) -> Path:
    """Save ``model`` (class, config, dtype, state_dict) to one file, atomically.

    Returns the path written. Load it with :func:`load_model`.
    """
    return save_payload(model_payload(model), path)


def read_payload(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a kanphys checkpoint dict with ``torch.load(weights_only=True)`` and check its marker.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, tampered with, or not a kanphys checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        ValueError,
        zipfile.BadZipFile,
        AttributeError,
        KeyError,
        TypeError,
    ) as error:
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is truncated, corrupt or not a kanphys "
            f"checkpoint ({type(error).__name__}: {str(error).splitlines()[0][:200]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a kanphys model checkpoint (no format={FORMAT!r} marker)"
        )
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format_version {payload.get('format_version')!r}; "
            f"this kanphys reads version {FORMAT_VERSION}"
        )
    return payload


def network_from_payload(
    payload: dict[str, Any],
    path: str | os.PathLike[str],
    device: torch.device | str | None,
    *,
    library: Any = None,
) -> Network:
    """Rebuild the network stored in a checkpoint dict (see :func:`read_payload`); ``library``
    resolves the primitives of symbolic edges that are not in the default library."""
    name = payload.get("model")
    if name not in MODELS:
        raise CheckpointError(f"{path} holds model {name!r}; known models are {sorted(MODELS)}")
    try:
        config = json.loads(payload["config"])
        dtype = resolve_dtype(payload["dtype"])
        extra = {"library": library} if library is not None else {}
        model = MODELS[name].from_config(
            config, dtype=dtype, device=resolve_device(device), **extra
        )
        model.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{path} does not describe a valid {name}: {type(error).__name__}: "
            f"{str(error).splitlines()[0][:300]}"
        ) from None
    return model


def load_model(
    path: str | os.PathLike[str],
    *,
    device: torch.device | str | None = "cpu",
    library: Any = None,
) -> Network:
    """Load a network saved by :func:`save_model` with ``torch.load(weights_only=True)``.

    The network is rebuilt from its config in the saved dtype, so outputs are bit-identical.
    A ``kanphys solve`` checkpoint (``DIR/model.pt``) loads the same way. A KAN with symbolic
    edges whose primitives come from a custom library needs that ``library``.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, tampered with, or not a kanphys model checkpoint.
    """
    return network_from_payload(read_payload(path), path, device, library=library)
