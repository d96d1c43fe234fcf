"""Files of a ``kanphys solve`` run: result.json, history.csv and the resumable checkpoint.

The checkpoint is two files, each written atomically (temporary file, fsync, rename):

* ``model.pt``: a regular kanphys model checkpoint (so :func:`kanphys.load_model` reads the
  network) plus a ``"solve"`` entry with the training state: step, optimiser state, point sets,
  generator state, PDE parameters, adaptive weights and the history. Loaded with
  ``torch.load(weights_only=True)``: tensors, numbers, strings, lists and dicts only.
* ``model.json``: the same metadata in readable form (problem, step, settings, network config).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from kanphys._version import __version__
from kanphys.errors import CheckpointError
from kanphys.io.checkpoint import (
    atomic_write_bytes,
    model_payload,
    network_from_payload,
    read_payload,
    save_payload,
)

if TYPE_CHECKING:
    from kanphys.pde.problem import Problem
    from kanphys.training.pinn import TrainState

__all__ = [
    "problem_fingerprint",
    "restore_checkpoint",
    "write_checkpoint",
    "write_history",
    "write_result",
]

SOLVE_FORMAT_VERSION = 1
# settings that may change between an interrupted run and its resumption
RESUMABLE_CHANGES = {
    "steps",
    "lbfgs_steps",
    "time_limit",
    "checkpoint_every",
    "loss_target",
    "nan_retries",
}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(data: Any, path: Path) -> None:
    text = json.dumps(_json_safe(data), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def write_result(metrics: dict[str, Any], out: Path) -> Path:
    """``out/result.json`` (atomic)."""
    path = out / "result.json"
    write_json(metrics, path)
    return path


def write_history(history: list[dict[str, Any]], path: Path) -> Path:
    """``history.csv``: one row per logged step (columns: step, phase, time_s, loss, terms...)."""
    columns: list[str] = []
    for row in history:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_bytes(path, buffer.getvalue().encode())
    return path


def problem_fingerprint(problem: Problem) -> str:
    """A hash of what defines the problem (not its file name): resuming checks it."""
    parts = [
        problem.name,
        repr(problem.fields),
        repr(problem.domain),
        *(str(e.residual) for e in problem.equations),
        *(f"{c.where}|{c.equation.residual}" for c in problem.conditions),
        *(f"{p.name}={p.value}|{p.trainable}" for p in problem.parameters),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _metadata(state: TrainState) -> dict[str, Any]:
    return {
        "kanphys_version": __version__,
        "problem": state.problem.name,
        "source": str(state.problem.source) if state.problem.source is not None else None,
        "fingerprint": problem_fingerprint(state.problem),
        "step": state.step,
        "phase": state.phase,
        "status": state.status,
        "elapsed_s": round(state.elapsed, 3),
        "settings": {
            "model": state.model_settings.to_dict(),
            "training": state.settings.to_dict(),
        },
        "network": type(state.model.network).__name__,
        "network_config": state.model.network.config.to_dict(),  # type: ignore[attr-defined]
    }


# plots, history.csv and result.json of a large run stay well below this
_OTHER_OUTPUTS = 16 * 2**20


def checkpoint_bytes(state: TrainState) -> int:
    """An upper estimate of ``model.pt``: the parameters with Adam's two moments, or with
    L-BFGS's history of 50 step and gradient-difference pairs, plus the point sets."""
    params = sum(p.numel() * p.element_size() for p in state.model.parameters())
    copies = 3 if state.settings.lbfgs_steps == 0 else 3 + 2 * 50
    points = sum(v.numel() * v.element_size() for v in state.points.values())
    return params * copies + points


def check_output_directory(out: Path, state: TrainState) -> None:
    """Fail before training when ``out`` cannot take the run's files.

    Creates ``out``, writes and removes a probe file in it, and compares the free space with
    what an atomic checkpoint (old and new file side by side) and the other outputs need.

    Raises
    ------
    CheckpointError
        If the directory cannot be created or written, or has too little free space.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".kanphys-probe-") as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(out).free
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CheckpointError(
            f"cannot write to the output directory {out}: {reason}; choose another --out"
        ) from None
    need = 2 * checkpoint_bytes(state) + _OTHER_OUTPUTS
    if free < need:
        raise CheckpointError(
            f"the output directory {out} has {free / 2**20:.1f} MiB free; this run's "
            f"checkpoint and outputs need about {need / 2**20:.1f} MiB; free some space or "
            f"choose another --out"
        )


def write_checkpoint(state: TrainState, out: Path) -> None:
    """``out/model.pt`` and ``out/model.json`` for the current state (both atomic)."""
    payload = model_payload(state.model.network)
    optimizer = state.optimizer.state_dict() if state.optimizer is not None else None
    metadata = _metadata(state)
    payload["solve"] = {
        "format_version": SOLVE_FORMAT_VERSION,
        "metadata": json.dumps(_json_safe(metadata)),
        "history": json.dumps(_json_safe(state.history)),
        "adaptive": json.dumps(state.adaptive),
        "step": state.step,
        "elapsed": state.elapsed,
        "optimizer_phase": state.optimizer_phase,
        "optimizer": optimizer,
        "points": {k: v.detach().cpu() for k, v in state.points.items()},
        "generator": state.generator.get_state(),
        "pde_parameters": {k: v.detach().cpu() for k, v in state.model.pde_parameters.items()},
        "last_loss": state.last_loss,
        "learning_rate_scale": state.lr_scale,
        "recoveries": json.dumps(_json_safe(state.recoveries)),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_payload(payload, out / "model.pt")
    write_json(metadata, out / "model.json")


def _saved(saved: dict[str, Any], settings: Any, key: str) -> Any:
    """A setting as the checkpoint recorded it; keys added since then take their default."""
    if key in saved:
        return saved[key]
    field = next((f for f in dataclasses.fields(settings) if f.name == key), None)
    return None if field is None else field.default


def restore_checkpoint(state: TrainState, path: Path) -> None:
    """Load ``path`` (``model.pt``) into a freshly prepared ``state`` of the same problem.

    Raises
    ------
    CheckpointError
        If the file is not a solve checkpoint or belongs to another problem or other settings.
    """
    payload = read_payload(path)
    solve = payload.get("solve")
    if not isinstance(solve, dict) or solve.get("format_version") != SOLVE_FORMAT_VERSION:
        raise CheckpointError(f"{path} is a model file, not a resumable `kanphys solve` checkpoint")
    try:
        metadata = json.loads(solve["metadata"])
        fingerprint = problem_fingerprint(state.problem)
        if metadata["fingerprint"] != fingerprint:
            raise CheckpointError(
                f"{path} belongs to problem {metadata['problem']!r} with a different definition "
                f"(fingerprint {metadata['fingerprint']} != {fingerprint}); start a new run "
                f"in another directory or without --resume"
            )
        current: dict[str, Any] = {"model": state.model_settings, "training": state.settings}
        changed = [
            f"{table}.{key}"
            for table in ("model", "training")
            for key, value in current[table].to_dict().items()
            if key not in RESUMABLE_CHANGES
            and _json_safe(_saved(metadata["settings"][table], current[table], key))
            != _json_safe(value)
        ]
        if changed:
            raise CheckpointError(
                f"cannot resume {path}: settings differ from the interrupted run "
                f"({', '.join(changed)}); only {', '.join(sorted(RESUMABLE_CHANGES))} may change"
            )
        device = next(state.model.parameters()).device
        state.model.network = network_from_payload(payload, path, device)
        with torch.no_grad():
            for name, value in solve["pde_parameters"].items():
                state.model.pde_parameters[name].copy_(value)
        state.points = {k: v.to(device) for k, v in solve["points"].items()}
        state.generator.set_state(solve["generator"])
        state.step = int(solve["step"])
        state.elapsed = float(solve["elapsed"])
        state.history = json.loads(solve["history"])
        state.adaptive = json.loads(solve["adaptive"])
        state.optimizer_phase = str(solve["optimizer_phase"])
        state.optimizer_state = solve["optimizer"]
        state.last_loss = float(solve["last_loss"])
        # checkpoints written before NaN recovery existed have neither key
        state.lr_scale = float(solve.get("learning_rate_scale", 1.0))
        state.recoveries = json.loads(solve.get("recoveries", "[]"))
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{path} is not a valid solve checkpoint: {type(error).__name__}: {error}"
        ) from None
