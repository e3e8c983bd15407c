"""Switching one layer's bit-width changes which step size and which TBN entry it uses, and nothing else."""
import numpy as np
import torch

from quantnet.bitconfig import BitConfig
from quantnet.models import build_model


def _used(model, cfg, x):
    """Parameters that receive gradient and BN entries whose running stats move, at cfg."""
    model.train()
    model.configure(cfg)
    for p in model.parameters():
        p.grad = None
    before = {k: v.clone() for k, v in model.state_dict().items() if k.endswith("running_mean")}
    model(x).sum().backward()
    grads = {n for n, p in model.named_parameters()
             if p.grad is not None and p.grad.abs().sum() > 0 and ".bns." not in n}  # BN entries: via their stats
    after = model.state_dict()
    moved = {k.rsplit(".running_mean", 1)[0] for k, v in before.items() if not torch.equal(v, after[k])}
    return grads, moved


def test_switching_one_layer_changes_only_its_steps_and_tbn_entries():
    torch.manual_seed(0)
    model = build_model("digits_resnet")
    x = torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8)
    base = BitConfig.uniform(model.spec, 2)
    bits = dict(base.bits)
    bits["layer2.0.conv2"] = (4, 4)
    switched = BitConfig(bits, "switched")
    g1, bn1 = _used(model, base, x)
    g2, bn2 = _used(model, switched, x)
    # Weight step of the layer and the step of the site producing its input (its a_bits) change ...
    assert g1 - g2 == {"layer2.0.conv2.wq.steps.2", "layer2.0.act1.steps.2"}
    assert g2 - g1 == {"layer2.0.conv2.wq.steps.4", "layer2.0.act1.steps.4"}
    # ... and the TBN entries on both sides of it: (conv1 w=2 -> conv2 a) and (conv2 w -> fc a=8).
    assert bn1 - bn2 == {"layer2.0.bn1.bns.2_2", "layer2.0.bn2.bns.2_8"}
    assert bn2 - bn1 == {"layer2.0.bn1.bns.2_4", "layer2.0.bn2.bns.4_8"}
    # the latent weights are shared: the same parameter gets gradient at both bit-widths
    assert "layer2.0.conv2.weight" in g1 & g2


def test_float_mode_uses_float_bn_and_no_steps():
    model = build_model("digits_resnet")
    x = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    grads, moved = _used(model, None, x)
    assert not any(".steps." in g for g in grads)
    assert moved and all(m.endswith(".bns.fp") for m in moved)


def test_quantised_forward_only_emits_grid_values_at_sites():
    torch.manual_seed(1)
    model = build_model("digits_resnet")
    model.train()
    cfg = BitConfig.random(model.spec, 3)
    model.configure(cfg)
    seen = {}
    for path, consumer in model.act_sites:
        site = model.get_submodule(path)
        site.register_forward_hook(lambda m, i, o, p=path: seen.__setitem__(p, (o.detach(), m.step().item(), m.bits)))
    model(torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8))
    for path, consumer in model.act_sites:
        out, step, bits = seen[path]
        assert bits == cfg.a(consumer)
        codes = out / step
        assert torch.allclose(codes, codes.round(), atol=1e-4)
        assert codes.max() <= 2**bits - 1 + 1e-4 and codes.min() >= 0
