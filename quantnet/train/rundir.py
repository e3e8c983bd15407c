"""The files of one training run, and how it is saved and resumed.

  OUT/config.yaml       the resolved configuration (written before the first epoch)
  OUT/metrics.jsonl     one JSON object per finished epoch
  OUT/train_state.pt    optimiser state + position (plain tensors and numbers; weights_only load)
  OUT/checkpoint.pt     the model (quantnet.checkpoint format); written last, so it is the commit point

Both .pt files carry `epochs_done`; a resume needs them to agree.
"""
from __future__ import annotations

import json
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
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    def has_run(self) -> bool:
        return self.checkpoint.exists() or self.metrics.exists() or self.state.exists()

    # ---- writing ---------------------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        with self.metrics.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def save(self, model, optimizer_state: dict, epochs_done: int, extra: dict) -> None:
        tmp = self.state.with_suffix(".pt.tmp")
        torch.save({"epochs_done": epochs_done, "optimizer": optimizer_state}, tmp)
        tmp.replace(self.state)
        save_checkpoint(model, self.checkpoint, dict(extra, epochs_done=epochs_done))

    # ---- resuming --------------------------------------------------------------------------
    def load_for_resume(self) -> tuple[dict, dict]:
        """(checkpoint payload, train state) of the last finished epoch; metrics trimmed to match."""
        if not self.checkpoint.exists() or not self.state.exists():
            raise ResumeError(f"{self.root}: nothing to resume (needs checkpoint.pt and train_state.pt from a "
                              f"finished epoch)")
        payload = read_checkpoint(self.checkpoint)
        try:
            state = torch.load(self.state, map_location="cpu", weights_only=True)
        except Exception as e:  # corrupt or unsafe file
            raise ResumeError(f"{self.state}: not a readable training state ({type(e).__name__})") from None
        done = payload.get("extra", {}).get("epochs_done")
        if not isinstance(state, dict) or state.get("epochs_done") != done:
            raise ResumeError(f"{self.root}: checkpoint.pt (epoch {done}) and train_state.pt "
                              f"(epoch {state.get('epochs_done') if isinstance(state, dict) else '?'}) disagree")
        self._trim_metrics(done)
        return payload, state

    def _trim_metrics(self, epochs_done: int) -> None:
        """Drop records of epochs after the checkpoint (an epoch interrupted before it was saved)."""
        if not self.metrics.exists():
            return
        keep = [l for l in self.metrics.read_text().splitlines() if l.strip() and json.loads(l)["epoch"] <= epochs_done]
        self.metrics.write_text("".join(l + "\n" for l in keep))
