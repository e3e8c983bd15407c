"""The torch integer reference: executes the IR with int64 torch ops, independently of the numba simulator.

Every op follows docs/integer_contract.md literally, in int64 (exact for |values| < 2^63): conv and
matmul on int64 tensors (never float: fp32 loses integers above 2^24), then
rq(x; M0, shift, frac) = (x * M0 + 2^(shift-1) + frac) >> shift with torch's arithmetic right shift.
Nested weight codes are derived from the widest by `weight_codes`, written apart from hwsim's.
It checks nothing but its own arithmetic; configs and inputs are checked by the IR.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from hwsim.bits import BitConfig, BitsVar, WeightOf
from hwsim.ir import IntModel
from hwsim.ops import OP_KINDS, op_kind


def rq(x: torch.Tensor, m0: torch.Tensor, shift: torch.Tensor, frac: torch.Tensor | int = 0) -> torch.Tensor:
    """(x * m0 + 2^(shift-1) + frac) >> shift, int64: round half up of (x * m0 + frac) / 2^shift."""
    return (x * m0 + (torch.ones_like(shift) << (shift - 1)) + frac) >> shift


def weight_codes(op, w_bits: int) -> torch.Tensor:
    """int64 weight codes at w_bits. Nested ops store only the widest codes q; narrower ones are
    sign(q) * floor((|q| + 2^(k-1)) / 2^k), k the width difference (|q| / 2^k rounded half away from zero),
    saturated to +-(2^(w_bits-1) - 1)."""
    if op.weight_codes != "nested":
        return torch.from_numpy(op.weights[w_bits].astype(np.int64))
    widest = max(op.weights)
    q = torch.from_numpy(op.weights[widest].astype(np.int64))
    k = widest - w_bits
    mag = torch.div(q.abs() + (2**k // 2), 2**k, rounding_mode="floor")
    qp = 2 ** (w_bits - 1) - 1
    return (torch.sign(q) * mag).clamp(-qp, qp)


def _per_channel(a: np.ndarray, ndim: int) -> torch.Tensor:
    """Channel vector shaped to broadcast along axis 1 of an ndim tensor."""
    return torch.from_numpy(a.astype(np.int64)).view((1, -1) + (1,) * (ndim - 2))


@torch.no_grad()
def run_reference(ir: IntModel, bits: BitConfig | Mapping[str, tuple[int, int]], x: np.ndarray,
                  trace: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(int64 logits (N, classes), {tensor: int64 codes} if trace) of the IR at config `bits`."""
    bits = ir.config(bits).bits
    ir.check_input(x)
    env = {ir.input_name: torch.from_numpy(x.astype(np.int64))}
    for op in ir.ops:
        ins = [env[t] for t in op.inputs]
        env[op.output] = REFERENCE[op_kind(op.kind)](ir, op, bits, *ins)
    logits = env[ir.output_name].numpy()
    codes = {t: v.numpy() for t, v in env.items()} if trace else {}
    return logits, codes


def _hi(var: BitsVar, bits) -> int:
    return 2 ** var.resolve(bits) - 1


def _conv(ir, op, bits, x):
    w_bits, a_bits = bits[op.attrs["layer"]]
    out_var = op.attrs["out_bits"]
    w = weight_codes(op, w_bits)
    acc = F.conv2d(x, w, None, op.attrs["stride"], op.attrs["padding"], 1, op.attrs["groups"])
    r = op.requant[_requant_key(op, bits, w_bits, a_bits)]
    y = rq(acc + _per_channel(r.bias, 4), _per_channel(r.m0, 4), _per_channel(r.shift, 4), _per_channel(r.frac, 4))
    return y.clamp(0, _hi(out_var, bits)) if op.attrs["clamp"] else y


def _requant_key(op, bits, w_bits: int, a_bits: int) -> tuple[int, ...]:
    """(w, a, out, prev[, prev_shortcut]): the last two are the weight widths of the layers that produced the
    conv's input (`w:LAYER`) or a constant (`const:B`); prev_shortcut only where the input is a residual sum."""
    key = [w_bits, a_bits, op.attrs["out_bits"].resolve(bits)]
    for attr in ("prev_bits", "prev_shortcut_bits"):
        var = op.attrs.get(attr)
        if var is not None:
            key.append(bits[var.layer][0] if isinstance(var, WeightOf) else var.bits)
    return tuple(key)


def _linear(ir, op, bits, x):
    w_bits, a_bits = bits[op.attrs["layer"]]
    w = weight_codes(op, w_bits)
    return x @ w.T + torch.from_numpy(op.bias[(w_bits, a_bits)]).view(1, -1)


def _rescale(ir, op, bits, x):
    r = op.requant[(ir.tensors[op.inputs[0]].resolve(bits), op.attrs["out_bits"].resolve(bits))]
    return rq(x, torch.tensor(int(r.m0[0])), torch.tensor(int(r.shift[0])))


def _add(ir, op, bits, a, b):
    f = op.attrs["frac_bits"]
    s = a + b if f == 0 else (a + b + (1 << (f - 1))) >> f   # round half up, once
    return s.clamp(0, _hi(ir.tensors[op.output], bits))


def _maxpool(ir, op, bits, x):
    # padded cells are never the max of a window with a real code >= 0, so -inf padding == zero padding
    return F.max_pool2d(x, op.attrs["kernel"], op.attrs["stride"], op.attrs["padding"])


def _avgpool(ir, op, bits, x):
    r = op.requant[()]
    s = x.sum(dim=(2, 3), keepdim=True)
    y = rq(s, torch.tensor(int(r.m0[0])), torch.tensor(int(r.shift[0])))
    return y.clamp(0, _hi(ir.tensors[op.output], bits))


def _flatten(ir, op, bits, x):
    return x.flatten(1)


# keyed by the IR's registered kinds: a kind added to hwsim/ops without a reference fails tests/test_ops.py
REFERENCE = {OP_KINDS[name]: fn for name, fn in (("conv", _conv), ("linear", _linear), ("rescale", _rescale),
                                                  ("add", _add), ("maxpool", _maxpool), ("avgpool", _avgpool),
                                                  ("flatten", _flatten))}
