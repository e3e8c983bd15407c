import pytest

from hwsim.bits import BitConfig, BitConfigError, random_configs
from quantnet.config_spec import parse_config_spec
from quantnet.models import build_model


@pytest.fixture(scope="module")
def spec():
    return build_model("digits_resnet").spec


def test_layers_listed_in_order_with_fixed_first_and_last(spec):
    assert spec.names == ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.conv2",
                          "layer2.0.shortcut", "fc"]
    assert spec["conv1"].fixed and spec["fc"].fixed
    assert spec["layer2.0.shortcut"].a_tied_to == "layer2.0.conv1"


def test_yaml_round_trip(spec, tmp_path):
    cfg = BitConfig.random(spec, 7)
    path = tmp_path / "c.yaml"
    cfg.save(path)
    (loaded,) = BitConfig.load(path, spec)
    assert dict(loaded.bits) == dict(cfg.bits)
    path_j = tmp_path / "c.json"
    cfg.save(path_j)
    assert dict(BitConfig.load(path_j, spec)[0].bits) == dict(cfg.bits)


def test_default_plus_overrides_and_tie_fill(spec, tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: mine\ndefault: {w: 3, a: 3}\nlayers:\n  layer2.0.conv1: {w: 2, a: 4}\n")
    (c,) = BitConfig.load(p, spec)
    assert c.name == "mine"
    assert c.bits["layer2.0.conv1"] == (2, 4)
    assert c.bits["layer2.0.shortcut"] == (3, 4)  # a_bits follow the tensor it shares with conv1
    assert c.bits["conv1"] == (8, 8) and c.bits["layer1.0.conv2"] == (3, 3)


@pytest.mark.parametrize("text, match", [
    ("default: 3\nlayers: {layer9.conv: 2}\n", r"unknown layer\(s\) \['layer9.conv'\]"),
    ("default: 3\nlayers: {layer1.0.conv1: {w: 5, a: 3}}\n", r"'layer1.0.conv1' w_bits=5 not in allowed \[2, 3, 4\]"),
    ("default: {w: 3}\n", r"default: expected \{w: BITS, a: BITS\}"),
    ("default: 3\nlayers: {layer1.0.conv1: two}\n", r"layers.layer1.0.conv1: bit-width must be an integer"),
    ("default: 3\nfoo: 1\n", r"unknown key\(s\) \['foo'\]"),
    ("layers: [1, 2\n", r"not valid YAML"),
    ("- 3\n- 4\n", r"\[0\]: a bit config must be a mapping"),
    ("layers: {layer1.0.conv1: 2}\n", r"no bits for layer 'layer1.0.conv2'"),
    ("default: 3\nlayers: {layer2.0.shortcut: {w: 3, a: 2}}\n", r"must share its a_bits"),
])
def test_bad_files_rejected_with_clear_message(spec, tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(BitConfigError, match=match) as e:
        BitConfig.load(p, spec)
    assert "bad.yaml" in str(e.value)


def test_missing_file(spec, tmp_path):
    with pytest.raises(BitConfigError, match="does not exist"):
        BitConfig.load(tmp_path / "nope.yaml", spec)


def test_random_configs_respect_candidates_ties_and_seed(spec):
    cfgs = random_configs(spec, 50, seed=3)
    assert [dict(c.bits) for c in cfgs] == [dict(c.bits) for c in random_configs(spec, 50, seed=3)]
    seen = set()
    for c in cfgs:
        assert c.bits["layer2.0.shortcut"][1] == c.bits["layer2.0.conv1"][1]
        for name, (w, a) in c.bits.items():
            if name not in ("conv1", "fc"):
                assert w in (2, 3, 4) and w == a or name == "layer2.0.shortcut"
                seen.add(w)
    assert seen == {2, 3, 4}


def test_per_block_random_shares_bits_within_a_block(spec):
    for seed in range(10):
        c = BitConfig.random(spec, seed, "block")
        assert c.w("layer2.0.conv1") == c.w("layer2.0.conv2") == c.w("layer2.0.shortcut")


def test_deviation_ramp(spec):
    same = BitConfig.random(spec, 1, base_bits=4, p_deviate=0.0)
    assert dict(same.bits) == dict(BitConfig.uniform(spec, 4).bits)


def test_average_bits_and_bitops(spec):
    c = BitConfig.uniform(spec, 2)
    assert c.avg_bits(spec) == (2.0, 2.0)
    by_hand = sum(l.macs * (64 if l.name in ("conv1", "fc") else 4) for l in spec.layers)
    assert c.bitops(spec) == by_hand


def test_config_spec_forms(spec):
    names = [n for n, _ in parse_config_spec("fp,uniform,w4a2,random:3:1", spec)]
    assert names == ["fp", "W2A2", "W3A3", "W4A4", "W4A2", "random-0", "random-1", "random-2"]
    with pytest.raises(BitConfigError, match="not one of"):
        parse_config_spec("bogus", spec)
    with pytest.raises(BitConfigError, match="N must be an integer"):
        parse_config_spec("random:x", spec)
    with pytest.raises(BitConfigError, match="w_bits=7 not in allowed"):
        parse_config_spec("uniform:7", spec)


def test_random_with_switchable_first_and_last_layers_keeps_the_8bit_input():
    spec = build_model("digits_resnet", first_last_bits=None).spec
    assert spec["conv1"].a_choices == (8,) and spec["conv1"].w_choices == (2, 3, 4)
    ws = set()
    for c in random_configs(spec, 20, seed=0):
        assert c.a("conv1") == 8
        ws.add(c.w("conv1"))
        assert c.w("fc") in (2, 3, 4) and c.a("fc") in (2, 3, 4)
    assert ws == {2, 3, 4}
