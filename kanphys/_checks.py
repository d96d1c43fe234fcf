"""Input checks shared by the layers and models."""

from __future__ import annotations

import torch
from torch import Tensor

from kanphys.errors import NonFiniteError, ShapeError, TensorTypeError


def check_input(
    x: Tensor,
    in_features: int,
    *,
    name: str = "x",
    owner: str = "model",
    like: Tensor | None = None,
    finite: bool = True,
) -> None:
    """Raise a kanphys error unless ``x`` is a finite floating tensor of shape (N, in_features).

    With ``like`` (a parameter of the receiving module), ``x`` must also share its dtype and
    device. ``finite=False`` skips the finiteness test, the only one that reads the values
    (on a GPU it waits for the device).
    """
    if not isinstance(x, Tensor):
        raise ShapeError(f"{owner}: {name} must be a torch.Tensor; received {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ShapeError(
            f"{owner}: {name} must have shape (N, {in_features}) (batch first); "
            f"received {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ShapeError(f"{owner}: {name} must be a floating-point tensor; received {x.dtype}")
    if like is not None and x.dtype != like.dtype:
        raise TensorTypeError(
            f"{owner}: {name} has dtype {x.dtype} but the parameters are {like.dtype}; "
            f"convert with {name}.to({like.dtype}) or build the model with dtype={x.dtype}"
        )
    if like is not None and x.device != like.device:
        raise TensorTypeError(
            f"{owner}: {name} is on device {x.device} but the parameters are on {like.device}; "
            f"move it with {name}.to({str(like.device)!r})"
        )
    if finite and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise NonFiniteError(
            f"{owner}: {name} contains NaN or infinite values in {bad} of {x.shape[0]} rows"
        )
