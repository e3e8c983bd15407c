"""A small calibrated meta-network (synthetic data, no training) for tests of the integer model and policies."""
import numpy as np
import torch

from hwsim.bits import BitConfig
from quantnet.data import load_dataset
from quantnet.models import build_model
from quantnet.tbn import ChannelAffine


def calibrated_model(n_random: int = 24, random_affine: bool = False):
    """Steps and BN statistics from data for every transition a random config can select; with
    random_affine every BN affine entry differs (untrained ones are all the identity), so a wrongly
    selected entry shows."""
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
        if random_affine:
            g = torch.Generator().manual_seed(1)
            for name, m in model.named_modules():
                if isinstance(m, ChannelAffine):
                    m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                    m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
    model.eval()
    return model
