"""Accuracy of a meta-network at given bit configurations."""
from __future__ import annotations

import numpy as np
import torch

from .bitconfig import BitConfig
from .data import batches
from .models import MetaResNet


@torch.no_grad()
def predict(model: MetaResNet, cfg: BitConfig | None, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits (float) of the fake-quant model at cfg (None: float) on uint8 codes x."""
    was = model.training
    model.eval()
    model.configure(cfg)
    outs = [model(xb).numpy() for xb, _ in batches(x, np.zeros(len(x), np.int64), batch_size)]
    model.train(was)
    return np.concatenate(outs) if outs else np.zeros((0, model.arch.num_classes), np.float32)


def accuracy(model: MetaResNet, cfg: BitConfig | None, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    if len(y) == 0:
        raise ValueError("cannot measure accuracy on an empty set")
    return float((predict(model, cfg, x, batch_size).argmax(1) == y).mean())
