"""One bit config of the fake-quant meta-network as a QONNX model: `Quant` nodes (domain
qonnx.custom_op.general) with the model's own steps and widths on the weights and on every activation
site, float Conv / BN (per-channel Mul, Add) / Relu / Add / MaxPool / GlobalAveragePool / Gemm between,
mirroring MetaResNet.forward. The input is float32 code/255 (N, C, H, W); the output the float logits.
FINN and hls4ml read this form; `qonnx.util.cleanup` and `qonnx.core.onnx_exec` clean and run it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from hwsim.bits import BitConfig
from hwsim.onnx_export.graph import GraphBuilder

from .checkpoint import load_checkpoint
from .export import INPUT_TENSOR, _Exporter
from .handoff import one_config
from .models import INPUT_BITS, INPUT_STEP, MetaResNet

QONNX_DOMAIN = "qonnx.custom_op.general"
F32 = TensorProto.FLOAT


def _f32(v) -> np.ndarray:
    return np.asarray(v, np.float32)


class _QonnxBuilder:
    def __init__(self, model: MetaResNet, cfg: BitConfig, batch: int):
        self.model, self.bits, self.g, self.batch = model, cfg.bits, GraphBuilder(), batch
        self.steps = _Exporter(model, 32)       # reads steps and BN entries exactly as the integer export does
        self.trunc_used = False

    def quant(self, x: str, scale, bits: int, signed: bool, hint: str, rounding: str = "ROUND") -> str:
        g = self.g
        ins = [x, g.const(f"{hint}/scale", _f32(scale)), g.const(f"{hint}/zeropt", _f32(0.0)),
               g.const(f"{hint}/bitwidth", _f32(bits))]
        node = helper.make_node("Quant", ins, [g.fresh(f"{hint}/q")], name=g.fresh(f"{hint}/Quant"),
                                domain=QONNX_DOMAIN, signed=int(signed), narrow=int(signed), rounding_mode=rounding)
        g.nodes.append(node)
        return node.output[0]

    def weight(self, name: str, bits: int, step_shape: tuple) -> str:
        """Layer `name`'s weight fake-quantised at `bits`: a signed narrow-range Quant at its step; for nested
        codes below the widest width B, the Quant at B and then the contract's derivation as a QONNX Trunc
        (drop k = B - bits low bits, round half away from zero (HALF_UP is sign(x) * floor(|x| + 1/2)),
        saturate narrow-range, step s_B * 2^k), so the graph carries the rule and not only its result."""
        m = self.steps.layers[name]
        w = self.g.const(f"{name}/weight", _f32(m.weight.detach()))

        def step(b: int) -> np.ndarray:
            return _f32(m.weight_step(b).detach()).reshape(step_shape)

        wide = m.wq.candidates[-1]
        if m.weight_codes_kind != "nested" or bits == wide:
            return self.quant(w, step(bits), bits, True, f"{name}/wq")
        q = self.quant(w, step(wide), wide, True, f"{name}/wq{wide}")
        g = self.g
        ins = [q, g.const(f"{name}/trunc/in_scale", step(wide)), g.const(f"{name}/trunc/zeropt", _f32(0.0)),
               g.const(f"{name}/trunc/in_bits", _f32(wide)), g.const(f"{name}/trunc/out_scale", step(bits)),
               g.const(f"{name}/trunc/out_bits", _f32(bits))]
        node = helper.make_node("Trunc", ins, [g.fresh(f"{name}/trunc/q")], name=g.fresh(f"{name}/Trunc"),
                                domain=QONNX_DOMAIN, signed=1, narrow=1, rounding_mode="HALF_UP")
        g.nodes.append(node)
        self.trunc_used = True
        return node.output[0]

    def act(self, x: str, consumer: str, hint: str) -> str:
        """The activation site feeding `consumer`, at its configured a_bits: Relu, then unsigned Quant."""
        b = self.bits[consumer][1]
        return self.quant(self.g.node("Relu", [x], hint), self.steps.site_step(consumer, b), b, False, hint)

    def conv(self, name: str, x: str, bn_path: str, consumer: str) -> str:
        """Quantised conv at the config, then its transitional BN (float, before any ReLU)."""
        m = self.steps.layers[name]
        w, a = self.bits[name]
        producer = self.model.input_producer[name]
        prev = INPUT_BITS if producer is None else self.bits[producer][0]
        out = self.bits[consumer][1]
        wq = self.weight(name, w, (-1, 1, 1, 1))
        y = self.g.node("Conv", [x, wq], name, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                        pads=[int(m.padding[0])] * 4, group=int(m.groups))
        sc_src = self.model.shortcut_producer.get(name)
        prev_sc = None if sc_src is None else self.bits[sc_src][0]
        bn = self.model.get_submodule(bn_path).entry(prev, a, w, out, prev_sc)
        # as torch's eval BatchNorm then ChannelAffine compute it: x * invstd - mean * invstd, then * gamma + beta
        invstd = 1 / torch.sqrt(bn.var + bn.eps)
        for hint, v, op in [("bn_invstd", invstd, "Mul"), ("bn_center", -bn.mean * invstd, "Add"),
                            ("bn_gamma", bn.gamma, "Mul"), ("bn_beta", bn.beta, "Add")]:
            y = self.g.node(op, [y, self.g.const(f"{name}/{hint}", _f32(v.detach()).reshape(1, -1, 1, 1))], name)
        return y

    def build(self) -> onnx.ModelProto:
        model = self.model
        blocks = model.named_blocks()
        x = self.quant(INPUT_TENSOR, INPUT_STEP, INPUT_BITS, False, "input")
        h = self.act(self.conv("conv1", x, "bn1", f"{blocks[0][0]}.conv1"), f"{blocks[0][0]}.conv1", "act1")
        if model.maxpool is not None:
            mp = model.maxpool
            h = self.g.node("MaxPool", [h], "maxpool", kernel_shape=[int(mp.kernel_size)] * 2,
                            strides=[int(mp.stride)] * 2, pads=[int(mp.padding)] * 4)
        for i, (b, blk) in enumerate(blocks):
            consumer = f"{blocks[i + 1][0]}.conv1" if i + 1 < len(blocks) else "fc"
            t = self.act(self.conv(f"{b}.conv1", h, f"{b}.bn1", f"{b}.conv2"), f"{b}.conv2", f"{b}.act1")
            t = self.conv(f"{b}.conv2", t, f"{b}.bn2", consumer)
            sc = h if blk.shortcut is None else self.conv(f"{b}.shortcut", h, f"{b}.shortcut_bn", consumer)
            h = self.act(self.g.node("Add", [t, sc], f"{b}.add"), consumer, f"{b}.act_out")
        fc_a = self.bits["fc"][1]
        # the mean of codes rounded half up at the same step, on the codes themselves: a tie (frequent over a
        # power-of-two window) then is exact, as in the integer model, not decided by float summation order
        s = self.steps.site_step("fc", fc_a)
        c = self.g.node("Round", [self.g.node("Div", [h, self.g.const("avgpool/step", _f32(s))], "avgpool")], "avgpool")
        p = self.quant(self.g.node("GlobalAveragePool", [c], "avgpool"), 1.0, fc_a, False, "avgpool", rounding="HALF_UP")
        p = self.g.node("Mul", [p, self.g.const("avgpool/step", _f32(s))], "avgpool")
        p = self.g.node("Flatten", [p], "flatten", axis=1)
        fc = self.steps.layers["fc"]
        fw = self.bits["fc"][0]
        wq = self.weight("fc", fw, ())
        self.g.node("Gemm", [p, wq, self.g.const("fc/bias", _f32(fc.bias.detach()))], "fc", output="logits", transB=1)
        arch = model.arch
        graph = helper.make_graph(
            self.g.nodes, "bitmixer_qonnx",
            [helper.make_tensor_value_info(INPUT_TENSOR, F32, [self.batch, arch.in_channels, arch.input_size, arch.input_size])],
            [helper.make_tensor_value_info("logits", F32, [self.batch, arch.num_classes])], self.g.inits)
        # Trunc with saturation (signed, narrow, output scale) is the domain's version 2; Quant is the same in both
        domain = helper.make_opsetid(QONNX_DOMAIN, 2 if self.trunc_used else 1)
        out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), domain],
                                producer_name="bitmixer")
        out.ir_version = 8
        return out


@torch.no_grad()
def build_qonnx(model: MetaResNet, cfg: BitConfig, batch: int = 1) -> onnx.ModelProto:
    """The QONNX model of `model` at `cfg` (a config checked against model.spec), for a fixed batch size
    (qonnx's and FINN's tools work on static shapes)."""
    model.eval()
    model.configure(cfg)
    return _QonnxBuilder(model, cfg, batch).build()


def export_qonnx_file(checkpoint, spec: str, output, batch: int = 1) -> dict:
    """Write the QONNX model of one config of a checkpoint (batch 1), cleaned by qonnx's own cleanup."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model
    model, _ = load_checkpoint(checkpoint)
    name, cfg = one_config(model.spec, spec)
    clean = cleanup_model(ModelWrapper(build_qonnx(model, cfg, batch)))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    clean.save(str(output))
    ops: dict[str, int] = {}
    for n in clean.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return {"output": str(output), "config": name, "nodes": len(clean.graph.node), "op_types": ops,
            "bytes": Path(output).stat().st_size}
