"""A layer reading a block's output, relu(main + shortcut), keys its BN statistics by both summands' producers
(prev, prev_sc, a, w): in the model, the checkpoint, the IR (prev_shortcut_bits), the simulator and the int64
reference."""
import numpy as np
import pytest
import torch

from hwsim.bits import ActOf, BitConfig, WeightOf
from hwsim.executor import execute
from hwsim.ir import IRError, Requant
from hwsim.ir_io import load_ir, save_ir
from hwsim.ir_validate import validate
from quantnet.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from quantnet.export import export_model
from quantnet.intref import run_reference
from quantnet.models import build_model
from quantnet.tbn import FLOAT_KEY


def _moved(name="digits_resnet10", seed=0, **kw):
    """A small model whose every statistics entry holds its own values (train-mode passes at random configs)."""
    torch.manual_seed(seed)
    model = build_model(name, width=4, **kw)
    x = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8)
    rng = np.random.default_rng(seed)
    model.train()
    with torch.no_grad():
        for cfg in [BitConfig.uniform(model.spec, b) for b in model.candidate_bits] + \
                   [BitConfig.random(model.spec, rng) for _ in range(40)]:
            model.configure(cfg)
            model(x)
    model.eval()
    return model


def _with(cfg: BitConfig, layer: str, w: int) -> BitConfig:
    bits = dict(cfg.bits)
    bits[layer] = (w, bits[layer][1])
    return BitConfig(bits, f"{layer}={w}")


def test_readers_of_a_block_output_name_its_shortcut_producer():
    projection = build_model("digits_resnet10", width=4)
    assert projection.shortcut_producer == {
        "layer1.1.conv1": "layer1.0.shortcut", "layer1.1.shortcut": "layer1.0.shortcut",
        "layer2.0.conv1": "layer1.1.shortcut", "layer2.0.shortcut": "layer1.1.shortcut",
        "layer2.1.conv1": "layer2.0.shortcut", "layer2.1.shortcut": "layer2.0.shortcut"}
    # layer1.0's identity shortcut passes the stem's output: the sum's other producer is the stem conv
    identity = build_model("digits_resnet", width=4)
    assert identity.shortcut_producer == {"layer2.0.conv1": "conv1", "layer2.0.shortcut": "conv1"}
    assert identity.layer2[0].bn1.sc_candidates == (8,) and identity.layer1[0].bn1.sc_candidates is None


def test_configs_differing_only_in_the_shortcut_width_select_different_statistics():
    model = build_model("digits_resnet10", width=4)
    base = BitConfig.uniform(model.spec, 2)
    model.configure(base)
    before = {p: model.get_submodule(p).active for p, _ in model.bn_sites}
    model.configure(_with(base, "layer1.1.shortcut", 4))
    after = {p: model.get_submodule(p).active for p, _ in model.bn_sites}
    changed = {p: (before[p], after[p]) for p in before if before[p] != after[p]}
    assert changed == {"layer1.1.shortcut_bn": (("2_2_2_2", "2_2"), ("2_2_2_4", "4_2")),   # its own w, and
                       "layer2.0.bn1": (("2_2_2_2", "2_2"), ("2_4_2_2", "2_2")),
                       "layer2.0.shortcut_bn": (("2_2_2_2", "2_2"), ("2_4_2_2", "2_2"))}


def test_version_2_checkpoint_loads_computing_what_it_computed(tmp_path):
    """A version 2 file keyed those banks (prev, a, w): every (prev, prev_sc, a, w) entry starts as its (prev, a, w)."""
    model = _moved()
    path = tmp_path / "v3.pt"
    save_checkpoint(model, path)
    payload = torch.load(path, weights_only=True)
    old_state, v2_means = {}, {}
    rng = np.random.default_rng(1)
    for k, v in payload["state_dict"].items():
        parts = k.split(".")
        if ".stats." in k and parts[-2] != FLOAT_KEY and parts[-2].count("_") == 3:
            p, _, a, w = parts[-2].split("_")
            k = ".".join(parts[:-2] + [f"{p}_{a}_{w}", parts[-1]])
            if k not in old_state:   # one distinct value per old entry, so that a wrong source shows
                v = torch.as_tensor(rng.normal(size=v.shape), dtype=v.dtype) if v.is_floating_point() else v
                v2_means[k] = v
            old_state[k] = v2_means.get(k, v)
        else:
            old_state[k] = v
    payload.update(version=2, state_dict=old_state)
    torch.save(payload, tmp_path / "v2.pt")
    loaded, _ = load_checkpoint(tmp_path / "v2.pt")
    bank = loaded.get_submodule("layer2.0.bn1")
    assert set(bank.stats) - {FLOAT_KEY} == {f"{p}_{s}_{a}_{w}" for p in (2, 3, 4) for s in (2, 3, 4)
                                             for a in (2, 3, 4) for w in (2, 3, 4)}
    for p, s, a, w in [(2, 3, 4, 2), (4, 2, 2, 3), (3, 4, 3, 4)]:
        assert torch.equal(bank.stats[f"{p}_{s}_{a}_{w}"].running_mean,
                           v2_means[f"layer2.0.bn1.stats.{p}_{a}_{w}.running_mean"])
    payload.update(version=1)
    torch.save(payload, tmp_path / "v1.pt")
    with pytest.raises(CheckpointError, match=r"v1\.pt: checkpoint version 1, this code reads version 2 or 3"):
        load_checkpoint(tmp_path / "v1.pt")


@pytest.fixture(scope="module")
def exported():
    model = _moved(candidate_bits=(2, 4))
    return model, export_model(model)


def test_export_keys_a_block_reader_by_the_shortcut_width(exported):
    model, ir = exported
    op = next(o for o in ir.ops if o.name == "layer2.0.conv1")
    assert op.attrs["prev_bits"] == WeightOf("layer1.1.conv2")
    assert op.attrs["prev_shortcut_bits"] == WeightOf("layer1.1.shortcut")
    assert set(op.requant) == {(w, a, o, p, q) for w in (2, 4) for a in (2, 4) for o in (2, 4) for p in (2, 4)
                               for q in (2, 4)}
    assert not np.array_equal(op.requant[(2, 2, 2, 2, 2)].bias, op.requant[(2, 2, 2, 2, 4)].bias)
    inner = next(o for o in ir.ops if o.name == "layer2.0.conv2")   # reads act1, no residual sum
    assert "prev_shortcut_bits" not in inner.attrs and {len(k) for k in inner.requant} == {4}
    base = BitConfig.uniform(model.spec, 2)
    assert ir.conv_key(op, _with(base, "layer1.1.shortcut", 4).bits) == (2, 2, 2, 2, 4)


def test_round_trip_keeps_the_shortcut_key(exported, tmp_path):
    _, ir = exported
    save_ir(ir, tmp_path / "m.npz")
    back = load_ir(tmp_path / "m.npz")
    op, op2 = (next(o for o in m.ops if o.name == "layer1.1.shortcut") for m in (ir, back))
    assert op2.attrs == op.attrs and op2.attrs["prev_shortcut_bits"] == WeightOf("layer1.0.shortcut")
    assert op2.requant.keys() == op.requant.keys()
    for k in op.requant:
        assert all(np.array_equal(getattr(op.requant[k], f), getattr(op2.requant[k], f))
                   for f in ("m0", "shift", "bias", "frac"))


def test_hand_made_entries_are_selected_by_the_shortcut_width(exported):
    """Entry (.., prev_sc=4) of layer2.0.conv1 made all zero (M0 = 0): its output codes are 0 exactly when the
    config gives layer1.1.shortcut 4 bits, in the simulator and in the int64 reference alike."""
    model, ir = exported
    op = next(o for o in ir.ops if o.name == "layer2.0.conv1")
    saved = dict(op.requant)
    x = np.random.default_rng(0).integers(0, 256, (4, 1, 8, 8)).astype(np.uint8)
    base = BitConfig.uniform(model.spec, 2)
    try:
        for k, r in saved.items():
            if k[4] == 4:
                op.requant[k] = Requant(np.zeros_like(r.m0), r.shift, r.bias, r.frac)
        for sc_bits, zero in ((2, False), (4, True)):
            cfg = ir.config(_with(base, "layer1.1.shortcut", sc_bits))
            sim = execute(ir, cfg, x, trace=True).codes
            _, ref = run_reference(ir, cfg, x, trace=True)
            assert np.array_equal(sim["layer2.0.act1"], ref["layer2.0.act1"])
            assert (not sim["layer2.0.act1"].any()) == zero
    finally:
        op.requant.clear()
        op.requant.update(saved)


def test_validator_checks_the_shortcut_width_variable(exported):
    _, ir = exported
    op = next(o for o in ir.ops if o.name == "layer2.1.conv1")
    saved_attr, saved_rq = op.attrs["prev_shortcut_bits"], dict(op.requant)
    try:
        op.attrs["prev_shortcut_bits"] = ActOf("layer2.0.conv1")
        with pytest.raises(IRError, match="layer2.1.conv1.*prev_shortcut_bits must be 'w:LAYER' or 'const:B'"):
            validate(ir)
        op.attrs["prev_shortcut_bits"] = saved_attr
        del op.requant[(4, 2, 4, 2, 4)]
        with pytest.raises(IRError, match=r"layer2.1.conv1.*no requant entry for \(w, a, out, prev, prev_shortcut\) "
                                          r"= \(4, 2, 4, 2, 4\)"):
            validate(ir)
    finally:
        op.attrs["prev_shortcut_bits"] = saved_attr
        op.requant.update(saved_rq)
    validate(ir)
