"""Data-parallel physics-informed training with :mod:`torch.distributed`.

Launch one process per device with ``torchrun`` (``torchrun --nproc_per_node N -m kanphys solve
SPEC --distributed``). Every rank builds the same model and draws the same collocation points
from the same seed; each then evaluates the residuals on its own contiguous shard of every point
set. The loss terms are written so that the *average* of the ranks' losses is exactly the
single-process loss on all the points (a shard's sum of squared residuals over the global count,
times the world size), so :class:`~torch.nn.parallel.DistributedDataParallel`'s gradient
averaging gives the single-process gradient. The loss value itself is all-reduced, so L-BFGS's
line search sees the same numbers on every rank and all ranks take the same steps; stop rules
(time limit, callback, Ctrl-C) are agreed on collectively so that no rank waits alone in a
collective. Only rank 0 writes checkpoints and outputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from kanphys.errors import ConfigError
from kanphys.runtime import resolve_device

__all__ = ["DistributedContext", "init_distributed", "launched_by_torchrun"]

_LAUNCH = "torchrun --nproc_per_node N -m kanphys solve SPEC --distributed"


def launched_by_torchrun() -> bool:
    """Whether the process runs under a launcher with more than one process."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a data-parallel run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, points: Tensor) -> Tensor:
        """This rank's contiguous block of rows (blocks differ in size by at most one row)."""
        return points.tensor_split(self.world_size)[self.rank]

    def shard_all(self, points: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {label: self.shard(value) for label, value in points.items()}

    def sum(self, tensor: Tensor) -> Tensor:
        """All-reduced sum (a new tensor; the input is left alone)."""
        total = tensor.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def mean(self, tensor: Tensor) -> Tensor:
        return self.sum(tensor) / self.world_size

    def agree(self, code: int) -> int:
        """The largest of the ranks' codes (stop decisions: 0 = go on)."""
        value = torch.tensor([code], dtype=torch.int64, device=self._collective_device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return int(value.item())

    def gather_rows(self, local: Tensor, total: int) -> Tensor:
        """Concatenate the ranks' :meth:`shard` blocks of a ``total``-row tensor, in rank order."""
        sizes = [len(block) for block in torch.empty(total).tensor_split(self.world_size)]
        padded = local.new_zeros((max(sizes), *local.shape[1:]))
        padded[: len(local)] = local
        blocks = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(blocks, padded)
        return torch.cat([block[:size] for block, size in zip(blocks, sizes, strict=True)])

    @property
    def _collective_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def close(self) -> None:
        """Destroy the process group if :func:`init_distributed` created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str | torch.device = "auto") -> DistributedContext:
    """Join the process group that ``torchrun`` describes in the environment.

    ``device="auto"`` gives each rank the GPU ``cuda:LOCAL_RANK`` when CUDA is present (backend
    NCCL), else the CPU (backend gloo). A process group that the caller has already initialised
    is used as it is.

    Raises
    ------
    ConfigError
        If torch.distributed is unavailable, the launcher's variables are missing, or a rank has
        no GPU of its own.
    """
    if not dist.is_available():
        raise ConfigError("distributed training needs a torch build with torch.distributed")
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    missing = [name for name in names if name not in os.environ]
    if missing and not dist.is_initialized():
        raise ConfigError(
            f"distributed training must be launched by torchrun (missing environment variables "
            f"{', '.join(missing)}); run: {_LAUNCH}"
        )
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device) or torch.device("cpu")
    if resolved.type == "cuda":
        if resolved.index is None:
            if local_rank >= torch.cuda.device_count():
                raise ConfigError(
                    f"local rank {local_rank} has no GPU of its own ({torch.cuda.device_count()} "
                    f"visible); start at most that many processes per node or use --device cpu"
                )
            resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    backend = "nccl" if resolved.type == "cuda" else "gloo"
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
        owns = True
    else:
        backend = str(dist.get_backend())
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        device=resolved,
        backend=backend,
        owns_group=owns,
    )
