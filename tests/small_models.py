"""A small calibrated meta-network (synthetic data, no training) for tests of the integer model and policies."""
import numpy as np
import torch

from quantnet.bitconfig import BitConfig
from quantnet.data import load_dataset
from quantnet.models import build_model


def calibrated_model(n_random: int = 24):
    """Steps and BN statistics from data for every transition a random config can select."""
    torch.manual_seed(0)
    model = build_model("digits_resnet", width=4, num_classes=4)
    x = torch.from_numpy(load_dataset("synthetic").x_train[:128])
    model.train()
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for cfg in [BitConfig.uniform(model.spec, b) for b in model.candidate_bits] + \
                [BitConfig.random(model.spec, rng) for _ in range(n_random)]:
            model.configure(cfg)
            model(x)
    model.eval()
    return model
