"""Switching one layer's bit-width changes which step size and which TBN entry it uses, and nothing else."""
import torch

from hwsim.bits import BitConfig
from quantnet.models import build_model


def _used(model, cfg, x):
    """Parameters that receive gradient (steps, affine entries) and statistics entries that move, at cfg."""
    model.train()
    model.configure(cfg)
    for p in model.parameters():
        p.grad = None
    before = {k: v.clone() for k, v in model.state_dict().items() if k.endswith("running_mean")}
    model(x).sum().backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    after = model.state_dict()
    moved = {k.rsplit(".running_mean", 1)[0] for k, v in before.items() if not torch.equal(v, after[k])}
    return grads, moved


def _switch(model, layer, bits, x, a_bits=None):
    """What uniform W2A2 uses and `layer` switched to (bits, a_bits or bits) does not, and the other way round."""
    base = BitConfig.uniform(model.spec, 2)
    switched = dict(base.bits)
    switched[layer] = (bits, bits if a_bits is None else a_bits)
    g1, s1 = _used(model, base, x)
    g2, s2 = _used(model, BitConfig(switched, "switched"), x)
    entries = lambda g: {n.rsplit(".", 1)[0] for n in g if ".affine." in n}   # noqa: E731
    return (g1 - g2, g2 - g1), (entries(g1) - entries(g2), entries(g2) - entries(g1)), (s1 - s2, s2 - s1)


def test_switching_one_layer_changes_only_its_steps_and_tbn_entries():
    torch.manual_seed(0)
    model = build_model("digits_resnet")
    x = torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8)
    steps, affine, stats = _switch(model, "layer2.0.conv2", 4, x)
    # Weight step of the layer and the step of the site producing its input (its a_bits) change ...
    assert {n for n in steps[0] if ".affine." not in n} == {"layer2.0.conv2.wq.steps.2", "layer2.0.act1.steps.2"}
    assert {n for n in steps[1] if ".affine." not in n} == {"layer2.0.conv2.wq.steps.4", "layer2.0.act1.steps.4"}
    # ... its own statistics entry (prev = conv1's w 2, a, w) ...
    assert stats == ({"layer2.0.bn2.stats.2_2_2"}, {"layer2.0.bn2.stats.2_4_4"})
    # ... and the affine entries on both sides: (conv1 w = 2, next = this a) and (this w, next = fc's 8).
    assert affine == ({"layer2.0.bn1.affine.2_2", "layer2.0.bn2.affine.2_8"},
                      {"layer2.0.bn1.affine.2_4", "layer2.0.bn2.affine.4_8"})
    # the latent weights are shared: the same parameter gets gradient at both bit-widths
    g1, _ = _used(model, BitConfig.uniform(model.spec, 2), x)
    assert "layer2.0.conv2.weight" in g1 and "layer2.0.conv2.weight" not in steps[0] | steps[1]


def test_switching_a_producer_moves_the_statistics_of_every_layer_reading_its_output():
    """layer1.0.conv2 produces the block output read by layer2.0.conv1 and the shortcut: their prev. The block's
    identity shortcut passes the stem's output, so the sum's other producer is the stem conv (8 bits)."""
    torch.manual_seed(0)
    model = build_model("digits_resnet")
    x = torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8)
    _, _, stats = _switch(model, "layer1.0.conv2", 3, x)
    assert stats == ({"layer1.0.bn2.stats.2_2_2", "layer2.0.bn1.stats.2_8_2_2", "layer2.0.shortcut_bn.stats.2_8_2_2"},
                     {"layer1.0.bn2.stats.2_3_3", "layer2.0.bn1.stats.3_8_2_2", "layer2.0.shortcut_bn.stats.3_8_2_2"})


def test_switching_a_shortcut_moves_the_statistics_of_every_layer_reading_the_sum():
    """layer1.0.shortcut (a projection) is the other producer of the block output that layer1.1.conv1 and
    layer1.1.shortcut read: their statistics are keyed (prev, prev_sc, a, w), so its width selects new entries
    there, besides its own; layer1.0.conv2's entry (which does not read the sum) stays."""
    torch.manual_seed(0)
    model = build_model("digits_resnet10")
    x = torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8)
    _, _, stats = _switch(model, "layer1.0.shortcut", 4, x, a_bits=2)   # its a_bits are tied to conv1's
    assert stats == ({"layer1.0.shortcut_bn.stats.8_2_2", "layer1.1.bn1.stats.2_2_2_2",
                      "layer1.1.shortcut_bn.stats.2_2_2_2"},
                     {"layer1.0.shortcut_bn.stats.8_2_4", "layer1.1.bn1.stats.2_4_2_2",
                      "layer1.1.shortcut_bn.stats.2_4_2_2"})


def test_float_mode_uses_float_bn_and_no_steps():
    model = build_model("digits_resnet")
    x = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    grads, moved = _used(model, None, x)
    assert not any(".steps." in g for g in grads)
    assert moved and all(m.endswith(".stats.fp") for m in moved)
    assert {g.rsplit(".", 1)[0] for g in grads if ".affine." in g} == {f"{p}.affine.fp" for p, _ in model.bn_sites}


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
