"""Export a trained meta-network to the integer-model IR (hwsim.ir), for every bit-width at once.

Per conv and key (w_bits, a_bits, out_bits, prev_bits[, prev_shortcut_bits]), with the BN of the transition
(prev, a, w, out) folded in (its statistics entry (prev[, prev_sc], a, w) and affine entry (w, out),
quantnet/tbn.py; prev_shortcut_bits only for a conv reading a block's output) and out_bits setting the
output scale (docs/integer_contract.md):
  float:   y = ((acc * s_a * s_w - mu) * gamma / sigma + beta) / s_out,   sigma = sqrt(var + eps)
  integer: y = M * (acc + B),  M = s_a * s_w * gamma / (sigma * s_out),  B = (beta * sigma / gamma - mu) / (s_a * s_w)
M becomes a dyadic (M0, shift); B is rounded half away from zero to an int64 bias, and its remaining
fraction goes to frac = round(M0 * (B_float - B)), added before the shift. gamma = 0 gives M0 = 0
(that channel emits code 0). The residual branches (conv2, shortcut conv, identity rescaled by s_x / s_out)
land in the add's scale with ADD_FRAC_BITS extra fractional bits, so that the add rounds once, as the float
model does (rounding each branch to whole codes disagreed with fake-quant on ~1/4 of sums; 8 bits still
flipped 0.1% of codes, which an 8-bit consumer of a 2-bit layer amplified); the average pool by 1/(H*W);
the classifier's float bias becomes round(bias / (s_a * s_w)) in accumulator units.

Tensors that an activation site quantises are named after the site (e.g. "layer1.0.act1"), so that fake-quant
codes can be compared with integer codes by name.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import torch

from hwsim.bits import ACC, ActOf, Const, WeightOf
from hwsim.errors import UserError
from hwsim.ir import M0_MAX, M0_MIN, SHIFT_MAX, IntModel, Op, Requant
from hwsim.ir_io import load_ir, save_ir
from hwsim.ir_validate import validate
from hwsim.kernels import rq, rq_bounds
from hwsim.ops import op_kind

from .models import INPUT_BITS, INPUT_STEP, MetaResNet
from .tbn import FoldedBN

INPUT_TENSOR = "input"
ADD_FRAC_BITS = 12  # fractional bits residual branches keep until the add rounds once (fewer where int32 needs it)


class ExportError(UserError):
    """A network that cannot be expressed in the integer contract (names the layer, entry and value)."""


# ---- dyadic multipliers -----------------------------------------------------------------------------
def dyadic(m: float) -> tuple[int, int]:
    """(M0, shift) with M ~= M0 / 2^shift, |M0| in [2^30, 2^31), shift in [1, 62]; M0 = 0 for M = 0.

    M0 is M's mantissa rounded half to even at 31 bits. When |M| < 2^-32 (shift would exceed 62) M0 = 0:
    for any |x| < 2^31, |x * M| < 1/2, so round-half-up of x * M is 0 anyway."""
    if not math.isfinite(m):
        raise ExportError(f"multiplier {m!r} is not finite")
    if m == 0.0:
        return 0, 31
    f, e = math.frexp(abs(m))            # |m| = f * 2^e, f in [0.5, 1)
    m0, shift = int(round(f * 2**31)), 31 - e
    if m0 == M0_MAX:                      # mantissa rounded up to the next power of two
        m0, shift = M0_MIN, shift - 1
    if shift > SHIFT_MAX:
        return 0, 31
    if shift < 1:
        raise ExportError(f"multiplier {m!r} is too large for a dyadic (M0, shift >= 1)")
    return (m0 if m > 0 else -m0), shift


def average_multiplier(count: int) -> tuple[int, int]:
    """(M0, shift) for 1/count, rounded UP: rq(sum) then equals floor(sum/count + 1/2) for every
    0 <= sum < 2^31 (the error sum * (M0/2^shift - 1/count) < 1/(2 * count) cannot cross a rounding edge)."""
    f, e = math.frexp(1.0 / count)
    shift = 31 - e
    m0 = -(-(1 << shift) // count)
    if m0 >= M0_MAX:
        m0, shift = -(-(1 << (shift - 1)) // count), shift - 1
    return m0, shift


# ---- model walk --------------------------------------------------------------------------------------
class _Exporter:
    def __init__(self, model: MetaResNet, acc_bits: int):
        self.model, self.acc_bits = model, acc_bits
        self.spec = model.spec
        self.site_of = {consumer: site for site, consumer in model.act_sites}   # consumer layer -> site path
        self.tensors = {INPUT_TENSOR: Const(INPUT_BITS)}
        self.ops: list[Op] = []
        self.layers = {n: m for n, m in model.quant_layers().items()}

    # -- scales
    def in_step(self, layer: str, a_bits: int) -> float:
        """Step of the tensor `layer` reads, at a_bits."""
        if layer == "conv1":
            return INPUT_STEP
        tied = self.spec[layer].a_tied_to or layer
        return float(self.model.get_submodule(self.site_of[tied]).step(a_bits).detach().clamp_min(1e-8))

    def site_step(self, consumer: str, bits: int) -> float:
        return float(self.model.get_submodule(self.site_of[consumer]).step(bits).detach().clamp_min(1e-8))

    # -- ops
    def conv(self, name: str, src: str, out: str, bn_path: str, consumer: str, clamp: bool, frac_bits: int = 0) -> Op:
        """conv `name` reading tensor src; BN bank bn_path; output scale = the site feeding `consumer`."""
        m = self.layers[name]
        spec = self.spec[name]
        out_var = ActOf(consumer)
        self.tensors[out] = out_var if clamp else ACC
        bank = self.model.get_submodule(bn_path)
        producer = self.model.input_producer[name]
        prev_var = Const(INPUT_BITS) if producer is None else WeightOf(producer)
        prev_choices = (INPUT_BITS,) if producer is None else self.spec[producer].w_choices
        op = Op(name, "conv", (src,), out, {"layer": name, "stride": int(m.stride[0]), "padding": int(m.padding[0]),
                                            "groups": int(m.groups), "clamp": clamp, "out_bits": out_var,
                                            "prev_bits": prev_var})
        sc_src = self.model.shortcut_producer.get(name)
        sc_choices: tuple = (None,)
        if sc_src is not None:   # it reads a block's output: its statistics know the shortcut's producer too
            op.attrs["prev_shortcut_bits"] = WeightOf(sc_src)
            sc_choices = self.spec[sc_src].w_choices
        codes = self.store_weights(op, name)
        for w, a, o, p, q in itertools.product(spec.w_choices, spec.a_choices, self.spec[consumer].a_choices,
                                               prev_choices, sc_choices):
            sw = self.layers[name].weight_step(w).detach().double().flatten().numpy()
            s_out = self.site_step(consumer, o) / 2**frac_bits
            key = (w, a, o, p) if q is None else (w, a, o, p, q)
            where = f"{name} (w={w}, a={a}, out={o}, prev={p}{'' if q is None else f', prev_shortcut={q}'})"
            op.requant[key] = self.fold(where, codes[w], a,
                                        self.in_step(name, a) * sw, bank.entry(p, a, w, o, q), s_out,
                                        2**o - 1 if clamp else None)
        self.ops.append(op)
        return op

    def weight_codes(self, name: str, bits: int) -> np.ndarray:
        return self.layers[name].weight_codes(bits).numpy().astype(np.int8)

    def store_weights(self, op: Op, name: str) -> dict[int, np.ndarray]:
        """Every width's codes (the tables are folded from them); the op stores them all, or, for a layer
        trained with nested codes, only the widest (the IR derives the rest by the same rule)."""
        codes = {w: self.weight_codes(name, w) for w in self.spec[name].w_choices}
        if self.layers[name].weight_codes_kind == "nested" and len(codes) > 1:
            op.weight_codes = "nested"
            op.weights = {max(codes): codes[max(codes)]}
        else:
            op.weights = dict(codes)
        return codes

    def fold(self, where: str, w: np.ndarray, a_bits: int, s_in_w: np.ndarray, bn: FoldedBN, s_out: float,
             qmax: int | None) -> Requant:
        """Requant of one transition; qmax: the output clamp's top code, None when unclamped."""
        gamma = bn.gamma.double().numpy()
        beta = bn.beta.double().numpy()
        mu = bn.mean.double().numpy()
        sigma = np.sqrt(bn.var.double().numpy() + bn.eps)
        bound = (2**a_bits - 1) * np.abs(w.astype(np.int64)).reshape(len(w), -1).sum(1)   # max |acc|
        lim = 2 ** (self.acc_bits - 1) - 1
        n = len(gamma)
        m0 = np.zeros(n, np.int32)
        shift = np.zeros(n, np.int32)
        bias = np.zeros(n, np.int64)
        frac = np.zeros(n, np.int64)
        for c in range(n):
            mult = s_in_w[c] * gamma[c] / (sigma[c] * s_out)
            m0[c], shift[c] = dyadic(float(mult))
            if m0[c] == 0:
                continue   # constant-0 channel: the bias does not matter
            b = (beta[c] * sigma[c] / gamma[c] - mu[c]) / s_in_w[c]
            bias[c] = _round_away(b, where, c)
            frac[c] = int(round(int(m0[c]) * (b - int(bias[c]))))   # the fraction below one acc unit
            if abs(int(bias[c])) + int(bound[c]) > lim:
                bias[c] = self.saturated_bias(where, c, int(bias[c]), int(bound[c]), lim, int(m0[c]),
                                              int(shift[c]), qmax)
                frac[c] = 0
        return Requant(m0, shift, bias, frac)

    def saturated_bias(self, where, c, b, bound, lim, m0, sh, qmax) -> int:
        """A bias too large for the accumulator is replaced only where the channel's clamped output is
        the same constant either way (every acc in [-bound, bound] saturates); else export fails."""
        if qmax is not None and bound < lim:
            edge = lim - bound
            b2 = edge if b > 0 else -edge
            ends = {rq(x, m0, sh, 0) for x in (b + bound, b - bound, b2 + bound, b2 - bound)}
            if all(v <= 0 for v in ends) or all(v >= qmax for v in ends):
                return b2
        raise ExportError(f"{where}: channel {c}: bias {b} plus the largest accumulator {bound} does not fit "
                          f"{self.acc_bits}-bit accumulators")

    def rescale(self, name: str, src: str, src_consumer: str, out: str, consumer: str, frac_bits: int = 0) -> Op:
        self.tensors[out] = ACC
        op = Op(name, "rescale", (src,), out, {"out_bits": ActOf(consumer)})
        for i, o in itertools.product(self.spec[src_consumer].a_choices, self.spec[consumer].a_choices):
            m0, sh = dyadic(self.site_step(src_consumer, i) * 2**frac_bits / self.site_step(consumer, o))
            op.requant[(i, o)] = Requant(np.array([m0], np.int32), np.array([sh], np.int32), np.zeros(1, np.int64))
        self.ops.append(op)
        return op

    def simple(self, name: str, kind: str, inputs: tuple[str, ...], out: str, var, **attrs) -> None:
        self.tensors[out] = var
        self.ops.append(Op(name, kind, inputs, out, attrs))

    def run(self, source: dict) -> IntModel:
        model, arch = self.model, self.model.arch
        blocks = model.named_blocks()
        first = f"{blocks[0][0]}.conv1"
        self.conv("conv1", INPUT_TENSOR, "act1", "bn1", first, clamp=True)
        h, size = "act1", _out_size(arch.input_size, arch.stem_kernel, arch.stem_stride, arch.stem_kernel // 2)
        if model.maxpool is not None:
            mp = model.maxpool
            self.simple("maxpool", "maxpool", (h,), "maxpool", ActOf(first), kernel=int(mp.kernel_size),
                        stride=int(mp.stride), padding=int(mp.padding))
            h, size = "maxpool", _out_size(size, int(mp.kernel_size), int(mp.stride), int(mp.padding))
        for i, (b, blk) in enumerate(blocks):
            consumer = f"{blocks[i + 1][0]}.conv1" if i + 1 < len(blocks) else "fc"
            self.conv(f"{b}.conv1", h, f"{b}.act1", f"{b}.bn1", f"{b}.conv2", clamp=True)
            f = ADD_FRAC_BITS
            while True:   # the most fractional bits (<= ADD_FRAC_BITS) whose worst-case branches fit int32
                n = len(self.ops)
                branches = [self.conv(f"{b}.conv2", f"{b}.act1", f"{b}.conv2.acc", f"{b}.bn2", consumer, False, f)]
                if blk.shortcut is None:
                    branches.append(self.rescale(f"{b}.shortcut", h, f"{b}.conv1", f"{b}.shortcut.acc", consumer, f))
                else:
                    branches.append(self.conv(f"{b}.shortcut", h, f"{b}.shortcut.acc", f"{b}.shortcut_bn", consumer,
                                              False, f))
                if f == 0 or all(_branch_bound(op) < 2**30 for op in branches):
                    break
                del self.ops[n:]
                f -= 1
            self.simple(f"{b}.add", "add", (f"{b}.conv2.acc", f"{b}.shortcut.acc"), f"{b}.act_out", ActOf(consumer),
                        frac_bits=f)
            h, size = f"{b}.act_out", _out_size(size, 3, blk.conv1.stride[0], 1)
        m0, sh = average_multiplier(size * size)
        self.simple("avgpool", "avgpool", (h,), "avgpool", ActOf("fc"))
        self.ops[-1].requant[()] = Requant(np.array([m0], np.int32), np.array([sh], np.int32), np.zeros(1, np.int64))
        self.simple("flatten", "flatten", ("avgpool",), "flatten", ActOf("fc"))
        self.linear("fc", "flatten", "logits")
        ir = IntModel(self.spec, self.tensors, self.ops, INPUT_TENSOR, (arch.in_channels, arch.input_size, arch.input_size),
                      arch.num_classes, INPUT_BITS, source)
        return validate(ir)

    def linear(self, name: str, src: str, out: str) -> None:
        fc, spec = self.layers[name], self.spec[name]
        self.tensors[out] = ACC
        op = Op(name, "linear", (src,), out, {"layer": name})
        bias = fc.bias.detach().double().numpy()
        lim = 2 ** (self.acc_bits - 1) - 1
        codes = self.store_weights(op, name)
        for w, a in itertools.product(spec.w_choices, spec.a_choices):
            scale = self.in_step(name, a) * float(fc.weight_step(w).detach().double().flatten()[0])
            op.bias[(w, a)] = np.array([_round_away(v / scale, f"{name} (w={w}, a={a})", c)
                                        for c, v in enumerate(bias)], np.int64)
            bound = (2**a - 1) * np.abs(codes[w].astype(np.int64)).sum(1)
            worst = int((np.abs(op.bias[(w, a)]) + bound).max())
            if worst > lim:
                raise ExportError(f"{name} (w={w}, a={a}): bias plus largest accumulator {worst} does not fit "
                                  f"{self.acc_bits}-bit accumulators")
        self.ops.append(op)


def _branch_bound(op: Op) -> int:
    """Largest |unclamped output| an op can produce over every table entry: per channel, rq of the extreme
    |acc| + |B| with |M0| and |frac| (every term of the sum at its largest magnitude)."""
    worst = 0
    acc_bound = op_kind(op.kind).acc_bound
    for key, r in op.requant.items():
        x = acc_bound(op, key) + np.abs(r.bias)
        worst = max(worst, rq_bounds(x, x, np.abs(r.m0.astype(np.int64)), r.shift, np.abs(r.frac))[1])
    return worst


def _round_away(v: float, where: str, c: int) -> int:
    if not math.isfinite(v):
        raise ExportError(f"{where}: channel {c}: bias {v!r} is not finite")
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def _out_size(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


@torch.no_grad()
def export_model(model: MetaResNet, source: dict | None = None, acc_bits: int = 32) -> IntModel:
    """The IR of a meta-network (any mode; BN entries and steps are read, nothing runs)."""
    if model.bn_mode not in ("transitional", "switchable", "shared"):
        raise ExportError(f"unknown BN mode {model.bn_mode!r}")
    src = {"model": model.name, **(source or {})}
    return _Exporter(model, acc_bits).run(src)


def export_checkpoint(path, acc_bits: int = 32) -> IntModel:
    from .checkpoint import load_checkpoint
    model, extra = load_checkpoint(path)
    try:
        return export_model(model, {"checkpoint": str(path), "data": extra.get("data")}, acc_bits)
    except ExportError as e:
        raise ExportError(f"{path}: {e}") from None


def export_file(checkpoint, output, acc_bits: int = 32) -> dict:
    """Export a checkpoint and save its IR to `output`; returns what was written."""
    ir = export_checkpoint(checkpoint, acc_bits)
    save_ir(ir, output)
    return {"ops": len(ir.ops), "convs": sum(op.kind == "conv" for op in ir.ops), "layers": len(ir.table),
            "requant_entries": sum(len(op.requant) for op in ir.ops), "candidate_bits": list(ir.candidate_bits)}


def load_int_model(path) -> IntModel:
    """An IR file (.npz), or a checkpoint exported to the IR on the fly."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path} does not exist")
    return load_ir(p) if p.suffix == ".npz" else export_checkpoint(p)
