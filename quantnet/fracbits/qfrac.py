"""Q_frac on a trained meta-network: every quantiser and BN bank mixes its two neighbouring integer
entries by λ, through forward hooks on the network's own modules (nothing of the network changes).

  weights      Q_frac(W) = Σ c_b·Q(W, b) over the two widths around λ_w (Q: the layer's own step at b)
  activations  Q_frac(x) = Σ c_b·Q(x, b) around the λ_a of the tensor's consumer
  BN / TBN     the outputs of the neighbouring integer transitions (prev, a, w, next), mixed with
               the product of their weights: y = Σ c_prev·c_a·c_w·c_next·BN_(prev,a,w,next)(x).
               Each corner is an entry trained for exactly that integer transition, so at integer
               widths this is the meta-network's own BN, and between them the output (an affine map
               of x) moves continuously, like the quantisers around it. Rounding λ to pick one entry
               would make the loss jump at every half-integer and send λ no gradient through the BN.
               Computed factorised (statistics per (prev[, prev_sc], a, w), affine per (w, next), as
               tbn.py keys them): the affine map is linear in its input, so the mixed statistics feed
               each affine; a bank reading a block's output also mixes over its shortcut producer.
At integer λ every weight is 0 or 1, so the network computes exactly the integer config's function.
"""
from __future__ import annotations

import contextlib

import torch

from hwsim.errors import UserError

from ..models import INPUT_BITS, MetaResNet
from ..tbn import affine_key, stat_key
from .widths import FracWidths, Mix


def _at_bits(q, v: torch.Tensor, bits: int) -> torch.Tensor:
    """The quantiser's own forward at `bits` (called directly, so its hooks do not run again)."""
    before = q.bits
    q.bits = bits
    try:
        return q.forward(v)
    finally:
        q.bits = before


def _mixed(mix: Mix, f) -> torch.Tensor:
    out = None
    for b, c in mix:
        term = c * f(b)
        out = term if out is None else out + term
    return out


def _fixed(mix: Mix) -> bool:
    return len(mix) == 1


def _bn_mix(bank, mixes: tuple[Mix, Mix, Mix, Mix, Mix], x: torch.Tensor) -> torch.Tensor:
    """mixes: over (prev, a, w, next, prev_sc); prev_sc is [(None, 1.0)] for a bank that does not key it."""
    p_mix, a_mix, w_mix, n_mix, sc_mix = mixes
    out = None
    for w, cw in w_mix:
        z = _mixed([((p, s, a), cp * cs * ca) for p, cp in p_mix for s, cs in sc_mix for a, ca in a_mix],
                   lambda psa: bank.stats[stat_key(bank.mode, psa[0], psa[2], w, psa[1])](x))
        y = _mixed(n_mix, lambda n: bank.affine[affine_key(bank.mode, w, n)](z))
        out = cw * y if out is None else out + cw * y
    return out


@contextlib.contextmanager
def fractional(model: MetaResNet, widths: FracWidths):
    """Within the block, model(x) computes the Q_frac network at widths.lam (model in eval, 'full' mode)."""
    if model.mode != "full":
        raise UserError("FracBits runs on the fully quantised meta-network: configure it with a BitConfig first")
    last_site, last_consumer = model.act_sites[-1]
    if not _fixed(widths.a_mix(last_consumer)):
        raise UserError("FracBits needs a fixed-width last activation (the average pool rounds on its step): "
                        "train the meta-network with first_last_bits set")
    handles = []

    def weight_hook(name):
        return lambda q, inp, out: _mixed(widths.w_mix(name), lambda b: _at_bits(q, inp[0], b))

    def act_hook(consumer):
        return lambda q, inp, out: _mixed(widths.a_mix(consumer), lambda b: _at_bits(q, inp[0], b))

    def bn_mixes(layer):
        src = model.input_producer[layer]
        prev = [(INPUT_BITS, 1.0)] if src is None else widths.w_mix(src)
        sc_src = model.shortcut_producer.get(layer)
        prev_sc = [(None, 1.0)] if sc_src is None else widths.w_mix(sc_src)
        return (prev, widths.a_mix(layer), widths.w_mix(layer), widths.a_mix(model.output_consumer[layer]), prev_sc)

    def bn_hook(layer):
        return lambda bank, inp, out: _bn_mix(bank, bn_mixes(layer), inp[0])

    try:
        for name, m in model.quant_layers().items():
            if not isinstance(widths.w_ref[name], tuple):
                handles.append(m.wq.register_forward_hook(weight_hook(name)))
        for path, consumer in model.act_sites:
            if not isinstance(widths.a_ref[consumer], tuple):
                handles.append(model.get_submodule(path).register_forward_hook(act_hook(consumer)))
        for path, layer in model.bn_sites:
            if not all(_fixed(m) for m in bn_mixes(layer)):
                handles.append(model.get_submodule(path).register_forward_hook(bn_hook(layer)))
        yield model
    finally:
        for h in handles:
            h.remove()
