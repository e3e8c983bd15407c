"""Accuracy of a meta-network at given bit configurations."""
from __future__ import annotations

import numpy as np
import torch

from hwsim.bits import BitConfig

from .data import batches
from .models import MetaResNet


@torch.no_grad()
def predict_configured(model: MetaResNet, x: np.ndarray, batch_size: int = 512, device: str = "cpu") -> np.ndarray:
    """Logits (float) of the model as it is configured now, in eval mode, on uint8 codes x."""
    was = model.training
    model.eval()
    outs = [model(xb.to(device)).cpu().numpy() for xb, _ in batches(x, np.zeros(len(x), np.int64), batch_size)]
    model.train(was)
    return np.concatenate(outs) if outs else np.zeros((0, model.arch.num_classes), np.float32)


def predict(model: MetaResNet, cfg: BitConfig | None, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits of the fake-quant model at cfg (None: float) on uint8 codes x."""
    model.configure(cfg)
    return predict_configured(model, x, batch_size)


def accuracy_configured(model: MetaResNet, x: np.ndarray, y: np.ndarray, batch_size: int = 512,
                        device: str = "cpu") -> float:
    """Top-1 accuracy of the model as it is configured now (any mode, e.g. a training stage's)."""
    if len(y) == 0:
        raise ValueError("cannot measure accuracy on an empty set")
    return float((predict_configured(model, x, batch_size, device).argmax(1) == y).mean())


def accuracy(model: MetaResNet, cfg: BitConfig | None, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    model.configure(cfg)
    return accuracy_configured(model, x, y, batch_size)
