"""Device and dtype resolution, and a description of the running environment."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from kanphys.errors import ConfigError

__all__ = ["environment_info", "random_tensor", "resolve_device", "resolve_dtype"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: torch.device | str | None) -> torch.device | None:
    """Turn ``"auto"`` into CUDA when available, else CPU; pass other values to torch.

    ``None`` stays ``None`` (torch's current default device).
    """
    if device is None or isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise ConfigError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device; received {device!r}"
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device; received {device!r}"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} was requested but CUDA is not available; use 'auto' or 'cpu'"
        )
    return resolved


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    """Accept ``torch.float32``/``torch.float64`` or their names; ``None`` stays ``None``."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ConfigError(f"dtype must be one of {sorted(_DTYPES)}; received {dtype!r}")
        return _DTYPES[dtype]
    if dtype not in _DTYPES.values():
        raise ConfigError(f"dtype must be one of {sorted(_DTYPES)}; received {dtype!r}")
    return dtype


def random_tensor(
    kind: str,
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None,
    dtype: torch.dtype | None,
    device: torch.device | None,
) -> torch.Tensor:
    """Uniform (``kind="rand"``) or normal (``"randn"``) samples drawn on ``generator``'s device.

    A seeded CPU generator gives the same numbers whatever ``device`` the tensor lands on, so a
    model initialised with one seed is the same on the CPU and on a GPU.
    """
    draw = torch.rand if kind == "rand" else torch.randn
    if generator is None:
        return draw(shape, dtype=dtype, device=device)
    values = draw(shape, generator=generator, dtype=dtype, device=generator.device)
    return values.to(device) if device is not None else values


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float64 -> "float64"``."""
    return str(dtype).removeprefix("torch.")


def environment_info() -> dict[str, Any]:
    """Versions, compute devices and thread counts, as a JSON-serialisable dict."""
    import numpy
    import scipy
    import sympy

    from kanphys._version import __version__

    versions = {
        "kanphys": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "sympy": sympy.__version__,
    }
    for optional in ("deepxde", "matplotlib"):
        try:
            module = __import__(optional)
            versions[optional] = getattr(module, "__version__", "unknown")
        except ImportError:
            versions[optional] = None
    cuda = (
        [
            {
                "index": i,
                "name": torch.cuda.get_device_name(i),
                "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
            }
            for i in range(torch.cuda.device_count())
        ]
        if torch.cuda.is_available()
        else []
    )
    return {
        "versions": versions,
        "platform": platform.platform(),
        "device": {
            "auto": str(resolve_device("auto")),
            "cuda_available": torch.cuda.is_available(),
            "cuda_version": torch.version.cuda,
            "gpus": cuda,
        },
        "threads": {
            "torch_intraop": torch.get_num_threads(),
            "torch_interop": torch.get_num_interop_threads(),
            "cpu_count": os.cpu_count(),
        },
    }
