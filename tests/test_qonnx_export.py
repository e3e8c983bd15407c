"""QONNX export: the model cleaned and executed by qonnx's own tools predicts what the integer simulator
predicts, agrees with the torch fake-quant model on top-1 (the trained digits network: >= 99.9% of its test
samples over the uniform and 5 random configs, -m slow), and its Quant nodes carry the model's steps and
bit-widths."""
from pathlib import Path

import numpy as np
import pytest
import torch

qonnx = pytest.importorskip("qonnx")

from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402
from qonnx.util.cleanup import cleanup_model  # noqa: E402

from bitmixer.cli import main  # noqa: E402
from hwsim.bits import BitConfig  # noqa: E402
from hwsim.executor import execute  # noqa: E402
from quantnet.export import export_model  # noqa: E402
from quantnet.checkpoint import load_checkpoint  # noqa: E402
from quantnet.data import load_dataset  # noqa: E402
from quantnet.models import INPUT_STEP  # noqa: E402
from quantnet.qonnx_export import build_qonnx  # noqa: E402
from hwsim.nested_codes import derive  # noqa: E402
from onnx import helper  # noqa: E402
from test_verify import ckpt  # noqa: E402,F401  (the small calibrated checkpoint fixture)


def run_qonnx(model_proto, x):
    m = cleanup_model(ModelWrapper(model_proto))
    out = execute_onnx(m, {m.graph.input[0].name: x.astype(np.float32) * np.float32(INPUT_STEP)})
    return out[m.graph.output[0].name]


def top1_agreement(model, x, configs, ir=None):
    """(QONNX vs fake-quant agreeing samples, QONNX vs integer simulator agreeing samples, total)."""
    fq = sim = 0
    for cfg in configs:
        got = run_qonnx(build_qonnx(model, cfg, len(x)), x).argmax(1)
        with torch.no_grad():
            model.eval()
            model.configure(cfg)
            fq += int(np.sum(got == model(torch.from_numpy(x)).numpy().argmax(1)))
        if ir is not None:
            sim += int(np.sum(got == execute(ir, cfg, x).logits.argmax(1)))
    return fq, sim, len(x) * len(configs)


def configs_of(model, seed):
    rng = np.random.default_rng(seed)
    return [BitConfig.uniform(model.spec, b) for b in model.candidate_bits] + \
        [BitConfig.random(model.spec, rng) for _ in range(5)]


def test_qonnx_predicts_what_the_integer_model_predicts(ckpt):  # noqa: F811
    model, _ = load_checkpoint(ckpt)
    x = load_dataset("synthetic").x_test[:128]
    fq, sim, total = top1_agreement(model, x, configs_of(model, 3), export_model(model))
    assert sim == total
    # this untrained net has near-ties that fake-quant's float rounding flips (2 of 1024 samples measured)
    assert fq / total >= 0.995, f"top-1 agreement with fake-quant {fq}/{total}"


DIGITS = Path("/work/runs/meta/checkpoint.pt")


@pytest.mark.slow
@pytest.mark.skipif(not DIGITS.is_file(), reason=f"needs the trained digits network {DIGITS}")
def test_qonnx_top1_agrees_with_fake_quant_on_the_digits_network():
    model, extra = load_checkpoint(DIGITS)
    x = load_dataset(extra.get("data", "digits")).x_test
    fq, _, total = top1_agreement(model, x, configs_of(model, 0))
    assert fq / total >= 0.999, f"top-1 agreement with fake-quant {fq}/{total}"


def test_export_cli_writes_a_cleaned_qonnx_model_with_our_steps(ckpt, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "m.onnx"
    assert main(["export", str(ckpt), "--format", "qonnx", "--config", "w3a2", "-o", str(out)]) == 0
    assert "Quant" in capsys.readouterr().out
    m = ModelWrapper(str(out))
    model, _ = load_checkpoint(ckpt)
    quants = {n.name: n for n in m.graph.node if n.op_type == "Quant"}
    widths = sorted({int(np.ravel(m.get_initializer(n.input[3]))[0]) for n in quants.values()})
    assert widths == [2, 3, 8]           # w3a2 inner layers, 8-bit first/last layers and input
    conv = next(n for n in m.graph.node if n.op_type == "Conv")     # the stem conv, conv1 at 8 bits
    wq = m.find_producer(conv.input[1])
    assert wq.op_type == "Quant"
    scale = m.get_initializer(wq.input[1]).ravel()
    steps = model.conv1.weight_step(8).detach().numpy().ravel()
    assert np.allclose(scale, steps, rtol=0, atol=0)
    x = load_dataset("synthetic").x_test[:1]
    got = execute_onnx(m, {m.graph.input[0].name: x.astype(np.float32) * np.float32(INPUT_STEP)})
    assert got[m.graph.output[0].name].shape == (1, 4)


def test_nested_weights_are_derived_in_the_graph_by_the_contract_rule(ckpt):  # noqa: F811
    """A layer with nested codes below its widest width: the graph holds the Quant at the widest width and a
    Trunc (half away from zero, signed narrow range) that qonnx runs to hwsim's derivation of the widest codes
    times the tied step; the whole graph predicts what the integer simulator predicts."""
    model, _ = load_checkpoint(ckpt)
    model.set_weight_codes("nested")
    layers = {n: m for n, m in model.quant_layers().items() if len(m.wq.candidates) > 1}
    x = load_dataset("synthetic").x_test[:32]
    for b in (2, 3):
        m = cleanup_model(ModelWrapper(build_qonnx(model, BitConfig.uniform(model.spec, b), len(x))))
        ctx = execute_onnx(m, {m.graph.input[0].name: x.astype(np.float32) * np.float32(INPUT_STEP)},
                           return_full_exec_context=True)
        truncs = [n for n in m.graph.node if n.op_type == "Trunc"]
        assert len(truncs) == len(layers)
        for t in truncs:
            assert helper.get_attribute_value(next(a for a in t.attribute if a.name == "rounding_mode")) == b"HALF_UP"
            weight = m.get_initializer(m.find_producer(t.input[0]).input[0])
            name = next(n for n, q in layers.items() if np.array_equal(q.weight.detach().numpy(), weight))
            layer = layers[name]
            wide = derive(layer.weight_codes(4).numpy().astype(np.int8), 4, b).astype(np.float32)
            want = wide * layer.weight_step(b).detach().numpy().astype(np.float32)
            assert np.array_equal(ctx[t.output[0]], want), name
    mixed = BitConfig.random(model.spec, np.random.default_rng(5))
    _, sim, total = top1_agreement(model, x, [BitConfig.uniform(model.spec, 2), mixed], export_model(model))
    assert sim == total
