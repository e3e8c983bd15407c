"""Data-parallel training over N processes (torchrun's environment: RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT): gloo on CPU, nccl on CUDA.

Every rank runs the same epoch random stream (shuffle, augmentation, sub-network draws) over the whole
training set and takes a contiguous shard of each global batch, so all ranks train the same sub-networks
at every step. One process is the same code with world size 1.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

import torch
import torch.distributed as dist

from hwsim.errors import UserError


class DistributedError(UserError):
    """A distributed run that cannot start or whose ranks disagree."""


class PeerStopped(UserError):
    """Another rank (rank 0) stopped with an error of its own; it reports it."""


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @staticmethod
    def from_env() -> "Ranks":
        """The ranks torchrun (or `bitmixer train --nproc`) set up; one process when WORLD_SIZE is unset."""
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise DistributedError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
        if world < 1 or not 0 <= rank < world:
            raise DistributedError(f"RANK {rank} is not within WORLD_SIZE {world}")
        return Ranks(rank, world, local)

    def device(self, kind: str) -> torch.device:
        if kind != "cuda":
            return torch.device(kind)
        if not torch.cuda.is_available():
            raise DistributedError("device: 'cuda' requested but torch sees no CUDA device (use --device cpu)")
        if self.local_rank >= torch.cuda.device_count():
            raise DistributedError(f"local rank {self.local_rank} needs a GPU of its own but torch sees "
                                   f"{torch.cuda.device_count()}; start at most that many processes per machine")
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def start(self, device: torch.device) -> None:
        if self.active and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=self.rank, world_size=self.world)

    def stop(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()

    # ---- the batch -----------------------------------------------------------------------------
    def shard(self, n: int) -> slice:
        """This rank's contiguous part of a global batch of n samples (sizes differ by at most one)."""
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)

    def check_batches(self, n_train: int, batch_size: int) -> None:
        """Every rank needs at least one sample of every global batch (the last one included)."""
        last = n_train % batch_size or batch_size
        if self.world > min(batch_size, last, n_train):
            raise DistributedError(f"{self.world} processes but a global batch of {min(batch_size, last)} samples "
                                   f"(batch_size {batch_size}, {n_train} training samples): every process needs "
                                   f"at least one sample; use fewer processes or another batch_size")

    # ---- agreement -----------------------------------------------------------------------------
    def all_ok(self, ok: bool) -> bool:
        """True when every rank says ok (a collective: all ranks must call it)."""
        if not self.active:
            return ok
        t = torch.tensor([int(ok)], dtype=torch.int64, device=self._comm_device())
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(t)
        return t.cpu().tolist()

    def check_lockstep(self, text: str, what: str) -> None:
        """Raise when `text` (e.g. the epoch's sub-network draws) differs between ranks."""
        if not self.active:
            return
        digest = torch.tensor([zlib.crc32(text.encode())], dtype=torch.int64, device=self._comm_device())
        lo, hi = digest.clone(), digest.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        if int(lo) != int(hi):
            raise DistributedError(f"rank {self.rank}: ranks drew different {what}; their random streams diverged")

    def _comm_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
