"""Losses of one batch's sub-networks: labels for the teacher, soft targets for the students.

In-place distillation (AdaBits / slimmable style): the first sub-network of the batch (the
highest-bit one) learns from the labels and its detached, temperature-softened outputs are the
targets of the others. With a checkpoint teacher, a frozen float network gives the targets and
every sub-network learns from them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_targets(teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.softmax(teacher_logits.detach() / temperature, dim=1)


def distill_loss(student_logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft cross-entropy -sum p_t log p_s (same gradient as KL(p_t || p_s)), scaled by T^2 (Hinton)."""
    logp = F.log_softmax(student_logits / temperature, dim=1)
    return -(targets * logp).sum(dim=1).mean() * temperature**2


class FrozenTeacher:
    """A trained network run in float mode, never updated."""

    def __init__(self, path: str, device: torch.device):
        from ..checkpoint import load_checkpoint
        from ..evaluate import check_float_mode

        self.model, extra = load_checkpoint(path)
        check_float_mode(path, extra)
        self.model.configure(None)
        self.model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
