"""The files of one training run, and how it is saved and resumed.

  OUT/config.yaml       the resolved configuration (written before the first epoch)
  OUT/metrics.jsonl     one JSON object per finished epoch
  OUT/train_state.pt    optimiser state + position (plain tensors and numbers; weights_only load)
  OUT/checkpoint.pt     the model (quantnet.checkpoint format); written last, so it is the commit point
  OUT/.lock             held (flock) by the one process writing the run

Both .pt files carry `epochs_done`; a resume takes the state whose epoch matches the checkpoint's. An epoch
is saved as: state -> train_state.next.pt, checkpoint (atomic rename), then train_state.next.pt ->
train_state.pt, so a kill at any instant leaves a checkpoint and a state of the same epoch.
"""
from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from hwsim.errors import UserError

from ..checkpoint import read_checkpoint, save_checkpoint


class ResumeError(UserError):
    """A run directory that cannot be started or resumed (names the directory and the problem)."""


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def state(self) -> Path:
        return self.root / "train_state.pt"

    @property
    def state_next(self) -> Path:
        return self.root / "train_state.next.pt"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    def lock(self):
        """Hold the run directory for this process (an open file; closing it releases the lock). A second
        writer gets a ResumeError instead of interleaving its epochs with ours."""
        self.root.mkdir(parents=True, exist_ok=True)
        f = open(self.root / ".lock", "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise ResumeError(f"{self.root}: another process (pid {holder}) is writing this run directory; "
                              f"wait for it or choose another --out") from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        return f

    def never_committed(self) -> bool:
        """Started (config.yaml is written before the first epoch) but no epoch saved: the checkpoint is
        the commit point and train_state.pt only appears after one."""
        return self.config.exists() and not self.checkpoint.exists() and not self.state.exists()

    def has_run(self) -> bool:
        return any(p.exists() for p in (self.checkpoint, self.metrics, self.state, self.state_next))

    # ---- writing ---------------------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        with self.metrics.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def save(self, model, optimizer_state: dict, epochs_done: int, extra: dict) -> None:
        tmp = self.root / f".train_state.{os.getpid()}.tmp"
        try:
            torch.save({"epochs_done": epochs_done, "optimizer": optimizer_state}, tmp)
            tmp.replace(self.state_next)
        except OSError as e:   # a full disk or a read-only directory: the last saved epoch stays intact
            tmp.unlink(missing_ok=True)
            raise ResumeError(f"{self.root}: cannot save epoch {epochs_done} ({e.strerror}); the run can resume "
                              f"from its last checkpoint") from None
        save_checkpoint(model, self.checkpoint, dict(extra, epochs_done=epochs_done))
        self.state_next.replace(self.state)

    # ---- resuming --------------------------------------------------------------------------
    def load_for_resume(self, trim: bool = True) -> tuple[dict, dict] | None:
        """(checkpoint payload, train state) of the last finished epoch; metrics trimmed to match (unless
        `trim` is False: a rank other than the writer only reads). None for a run that was started (its
        config.yaml is written) but killed before its first checkpoint: it resumes from epoch 0."""
        if self.never_committed():
            if trim:
                self._trim_metrics(0)
                self.state_next.unlink(missing_ok=True)   # epoch 1's state, its checkpoint never written
            return None
        states = [p for p in (self.state_next, self.state) if p.exists()]
        if not self.checkpoint.exists() or not states:
            raise ResumeError(f"{self.root}: nothing to resume (needs checkpoint.pt and train_state.pt from a "
                              f"finished epoch)")
        payload = read_checkpoint(self.checkpoint)
        done = payload.get("extra", {}).get("epochs_done")
        found = []
        for p in states:   # the one of the checkpoint's epoch: .next when a kill came before its rename
            try:
                state = torch.load(p, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 - corrupt or unsafe file
                raise ResumeError(f"{p}: not a readable training state ({type(e).__name__})") from None
            got = state.get("epochs_done") if isinstance(state, dict) else "?"
            if got == done:
                if trim:
                    self._trim_metrics(done)
                return payload, state
            found.append(f"{p.name} epoch {got}")
        raise ResumeError(f"{self.root}: checkpoint.pt (epoch {done}) and {', '.join(found)} disagree")

    def _trim_metrics(self, epochs_done: int) -> None:
        """Drop records of epochs after the checkpoint (an epoch interrupted before it was saved)."""
        if not self.metrics.exists():
            return
        keep = [l for l in self.metrics.read_text().splitlines() if _epoch_of(l) is not None
                and _epoch_of(l) <= epochs_done]
        tmp = self.root / f".metrics.{os.getpid()}.tmp"
        tmp.write_text("".join(l + "\n" for l in keep))
        tmp.replace(self.metrics)


def _epoch_of(line: str) -> int | None:
    """The epoch of one metrics record; None for a line a kill cut short."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    return rec.get("epoch") if isinstance(rec, dict) and isinstance(rec.get("epoch"), int) else None
