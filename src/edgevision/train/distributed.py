"""Multi-process training through ``torchrun``: gloo on CPU, nccl where a GPU exists."""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed() -> Dist:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1); otherwise single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        atexit.register(_destroy)
    return Dist(dist.get_rank(), dist.get_world_size())


def _destroy() -> None:
    """Leave the process group before the interpreter exits, as PyTorch asks of every rank: a rank that exits
    with its group alive closes its sockets under the peers' feet (a gloo peer can then abort with SIGABRT)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def broadcast_flag(d: Dist, flag: bool) -> bool:
    """Agree on a boolean across ranks (rank 0 decides), e.g. for early stopping."""
    if not d.enabled:
        return flag
    t = torch.tensor([int(flag)])
    dist.broadcast(t, 0)
    return bool(t.item())


def average_grads(module: torch.nn.Module) -> None:
    """All-reduce and average the gradients of a module that DDP does not wrap (a task's loss-side parameters)."""
    world = dist.get_world_size()
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(world)
