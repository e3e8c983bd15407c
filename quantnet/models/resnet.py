"""The meta-quantised residual network family (digits net, CIFAR ResNet-20, ImageNet ResNet-18).

Tensor formats follow the integer contract: the network input is an 8-bit code (value = code/255);
every other activation is quantised once, by the site that produces it, at its consumer's a_bits.
Layer names are module paths (torchvision style): conv1, layer1.0.conv1, layer1.0.shortcut, fc.

  stem:   conv1 -> bn1 -> relu -> act1 [-> maxpool on codes]
  block:  x -> conv1 -> bn1 -> relu -> act1 -> conv2 -> bn2 --(+ shortcut(x))-> relu -> act_out
          shortcut: identity, or 1x1 conv -> shortcut_bn (reads x: shares conv1's a_bits); arch.projection:
          always the conv. A block's output has two producers, conv2 and the shortcut's (the shortcut
          conv, or for an identity whatever produced x): the BN banks reading it key statistics by both.
  head:   act_out of last block -> average pool (codes, rounded half up) -> fc -> logits
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.bits import BitConfig, Layer, LayerTable

from ..layers import QUANT_MODES, QConv2d, QLinear
from ..quantizers import ActQuantizer
from ..tbn import BN_MODES, TransitionalBN

INPUT_BITS = 8
INPUT_STEP = 1.0 / 255.0


@dataclass(frozen=True)
class ResNetArch:
    in_channels: int
    input_size: int
    num_classes: int
    stem_channels: int
    stem_kernel: int
    stem_stride: int
    stem_maxpool: bool
    widths: tuple[int, ...]
    blocks: tuple[int, ...]
    strides: tuple[int, ...]
    projection: bool = False   # every block's shortcut a 1x1 conv with its own BN bank, not only where shapes change

    def __post_init__(self):
        if not (len(self.widths) == len(self.blocks) == len(self.strides)):
            raise ValueError(f"widths, blocks and strides must have one entry per stage: {self}")


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, cands: Sequence[int], bn_mode: str,
                 next_a: Sequence[int], in_prev: Sequence[int], projection: bool = False,
                 in_prev_sc: Sequence[int] | None = None):
        """in_prev: weight widths of the layer that produced the block's input (for its TBN transitions);
        in_prev_sc: those of its shortcut summand's producer when the input is a block's output, else None."""
        super().__init__()
        self.conv1 = QConv2d(in_ch, out_ch, 3, cands, stride=stride, padding=1)
        self.bn1 = TransitionalBN(out_ch, in_prev, cands, cands, cands, bn_mode, in_prev_sc)
        self.act1 = ActQuantizer(cands)
        self.conv2 = QConv2d(out_ch, out_ch, 3, cands, stride=1, padding=1)
        self.bn2 = TransitionalBN(out_ch, cands, cands, cands, next_a, bn_mode)
        if projection or stride != 1 or in_ch != out_ch:
            self.shortcut = QConv2d(in_ch, out_ch, 1, cands, stride=stride)
            self.shortcut_bn = TransitionalBN(out_ch, in_prev, cands, cands, next_a, bn_mode, in_prev_sc)
        else:
            self.shortcut = None
            self.shortcut_bn = None
        self.act_out = ActQuantizer(next_a)
        self.quantize_acts = False

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        if self.quantize_acts:
            h = self.act1(h)
        h = self.bn2(self.conv2(h))
        sc = x if self.shortcut is None else self.shortcut_bn(self.shortcut(x))
        out = F.relu(h + sc)
        return self.act_out(out) if self.quantize_acts else out


class MetaResNet(nn.Module):
    def __init__(self, arch: ResNetArch, candidate_bits: Sequence[int] = (2, 3, 4), bn_mode: str = "transitional",
                 first_last_bits: int | None = 8, name: str = "resnet"):
        super().__init__()
        if bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
        cands = tuple(sorted(set(int(b) for b in candidate_bits)))
        if not cands or min(cands) < 2 or max(cands) > 8:
            raise ValueError(f"candidate_bits must be integers in [2, 8], got {list(candidate_bits)}")
        self.arch, self.name, self.bn_mode = arch, name, bn_mode
        self.candidate_bits = cands
        self.first_last_bits = first_last_bits
        edge = (first_last_bits,) if first_last_bits is not None else cands

        self.conv1 = QConv2d(arch.in_channels, arch.stem_channels, arch.stem_kernel, edge,
                             stride=arch.stem_stride, padding=arch.stem_kernel // 2)
        self.bn1 = TransitionalBN(arch.stem_channels, (INPUT_BITS,), (INPUT_BITS,), edge, cands, bn_mode)
        self.act1 = ActQuantizer(cands)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if arch.stem_maxpool else None

        in_ch = arch.stem_channels
        n_blocks = sum(arch.blocks)
        k = 0
        in_prev, in_prev_sc = edge, None   # the stem's output is no residual sum
        for s, (width, count, stride) in enumerate(zip(arch.widths, arch.blocks, arch.strides)):
            stage = []
            for j in range(count):
                k += 1
                next_a = edge if k == n_blocks else cands
                blk = BasicBlock(in_ch, width, stride if j == 0 else 1, cands, bn_mode, next_a, in_prev,
                                 arch.projection, in_prev_sc)
                stage.append(blk)
                in_prev, in_prev_sc = cands, (cands if blk.shortcut is not None else in_prev)
                in_ch = width
            self.add_module(f"layer{s + 1}", nn.Sequential(*stage))
        self.fc = QLinear(in_ch, arch.num_classes, edge)
        self.mode = "fp"
        self._wire()
        self.spec = self._build_spec()
        self.set_mode("fp")

    # ---- structure ------------------------------------------------------------------------
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, f"layer{s + 1}") for s in range(len(self.arch.widths))]

    def named_blocks(self) -> list[tuple[str, BasicBlock]]:
        return [(f"layer{s + 1}.{j}", b) for s, st in enumerate(self.stages()) for j, b in enumerate(st)]

    def _wire(self) -> None:
        """Who produces and who consumes each quantised tensor, by layer name."""
        blocks = self.named_blocks()
        self.act_sites: list[tuple[str, str]] = []        # (site module path, consumer layer)
        self.bn_sites: list[tuple[str, str]] = []         # (bn module path, the layer it normalises)
        self.a_ties: dict[str, str] = {}
        # layer -> the layer whose weights produced its input (None: the network input; a block's output:
        # its main branch's conv2); layer -> the layer reading its output (conv2, shortcut: through the add);
        # layer reading a block's output -> the producer of that sum's shortcut summand
        first = f"{blocks[0][0]}.conv1"
        self.input_producer: dict[str, str | None] = {"conv1": None}
        self.shortcut_producer: dict[str, str] = {}
        self.output_consumer: dict[str, str] = {"conv1": first}
        self.act_sites.append(("act1", first))
        self.bn_sites.append(("bn1", "conv1"))
        block_in, block_in_sc = "conv1", None
        for i, (bname, blk) in enumerate(blocks):
            consumer = f"{blocks[i + 1][0]}.conv1" if i + 1 < len(blocks) else "fc"
            c1, c2 = f"{bname}.conv1", f"{bname}.conv2"
            self.act_sites += [(f"{bname}.act1", c2), (f"{bname}.act_out", consumer)]
            self.bn_sites += [(f"{bname}.bn1", c1), (f"{bname}.bn2", c2)]
            self.input_producer.update({c1: block_in, c2: c1})
            self.output_consumer.update({c1: c2, c2: consumer})
            readers = [c1]
            if blk.shortcut is not None:
                sc = f"{bname}.shortcut"
                self.bn_sites.append((f"{bname}.shortcut_bn", sc))
                self.a_ties[sc] = c1
                self.input_producer[sc] = block_in
                self.output_consumer[sc] = consumer
                readers.append(sc)
            if block_in_sc is not None:
                self.shortcut_producer.update({r: block_in_sc for r in readers})
            block_in, block_in_sc = c2, (f"{bname}.shortcut" if blk.shortcut is not None else block_in)
        self.input_producer["fc"] = block_in

    def quant_layers(self) -> dict[str, QConv2d | QLinear]:
        return {n: m for n, m in self.named_modules() if isinstance(m, (QConv2d, QLinear))}

    def _build_spec(self) -> LayerTable:
        macs = _trace_macs(self, (1, self.arch.in_channels, self.arch.input_size, self.arch.input_size))
        edge = (self.first_last_bits,) if self.first_last_bits is not None else self.candidate_bits
        consumers_a = {c: self.get_submodule(s).candidates for s, c in self.act_sites}
        specs = []
        for name, m in self.quant_layers().items():
            if name == "conv1":
                w_ch, a_ch = edge, (INPUT_BITS,)
            else:
                w_ch = m.wq.candidates
                a_ch = consumers_a.get(name) or consumers_a[self.a_ties[name]]
            block = name.rsplit(".", 1)[0] if name.startswith("layer") else name
            specs.append(Layer(name, "conv" if isinstance(m, QConv2d) else "linear", tuple(w_ch), tuple(a_ch),
                               self.a_ties.get(name), macs[name], block, m.weight.numel()))
        return LayerTable(tuple(specs), self.candidate_bits)

    # ---- run-time switching --------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """'fp' float, 'act' activations quantised with float weights (stage 1), 'full' both."""
        if mode not in QUANT_MODES:
            raise ValueError(f"mode must be one of {QUANT_MODES}, got {mode!r}")
        self.mode = mode
        for m in self.quant_layers().values():
            m.quantize_weights = mode == "full"
        for _, blk in self.named_blocks():
            blk.quantize_acts = mode != "fp"
        if mode == "fp":
            for path, _ in self.bn_sites:
                self.get_submodule(path).set_float()

    def apply_bits(self, cfg: BitConfig) -> None:
        """Select every layer's weight step, every site's activation step and every BN entry."""
        cfg = self.spec.validate(cfg)
        for name, m in self.quant_layers().items():
            m.set_bits(*cfg.bits[name])
        for path, consumer in self.act_sites:
            self.get_submodule(path).set_bits(cfg.a(consumer))
        for path, layer in self.bn_sites:
            bn = self.get_submodule(path)
            if self.mode == "fp":
                bn.set_float()
            else:
                bn.select(*self.transition(cfg, layer), self.shortcut_width(cfg, layer))
        self.bit_config = cfg

    def transition(self, cfg: BitConfig, layer: str) -> tuple[int, int, int, int]:
        """(prev, a, w, next) at `layer`: its input producer's weight width (the input's 8 bits for the
        stem), the width of the tensor it reads, its weight width, the width its output is quantised to.
        Selects its TBN entries (tbn.py)."""
        src = self.input_producer[layer]
        prev = INPUT_BITS if src is None else cfg.w(src)
        return prev, cfg.a(layer), cfg.w(layer), cfg.a(self.output_consumer[layer])

    def shortcut_width(self, cfg: BitConfig, layer: str) -> int | None:
        """The weight width of the shortcut summand's producer when `layer` reads a block's output, else None
        (with the main producer's width it keys the statistics of the BN the layer's output passes)."""
        src = self.shortcut_producer.get(layer)
        return None if src is None else cfg.w(src)

    def configure(self, cfg: BitConfig | None) -> None:
        """None selects the float network; a BitConfig the fully quantised one at those bits."""
        if cfg is None:
            self.set_mode("fp")
        else:
            self.set_mode("full")
            self.apply_bits(cfg)

    # ---- forward ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: input codes (uint8 or integer-valued), N x C x H x W."""
        x = x.float() * INPUT_STEP
        h = F.relu(self.bn1(self.conv1(x)))
        if self.mode != "fp":
            h = self.act1(h)
        if self.maxpool is not None:
            h = self.maxpool(h)
        for st in self.stages():
            h = st(h)
        h = self.pool(h)
        return self.fc(h.flatten(1))

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        """Global average pool; quantised: mean of codes rounded half up, same step (the contract)."""
        m = h.mean(dim=(2, 3), keepdim=True)
        if self.mode == "fp":
            return m
        site = self.get_submodule(self.act_sites[-1][0])
        s = site.step().detach().clamp_min(1e-8)
        return _round_half_up_ste(m / s) * s

    def model_kwargs(self) -> dict:
        return {"candidate_bits": list(self.candidate_bits), "bn_mode": self.bn_mode,
                "first_last_bits": self.first_last_bits, "weight_codes": self.weight_codes}

    @property
    def weight_codes(self) -> str:
        kinds = {m.weight_codes_kind for m in self.quant_layers().values() if len(m.wq.candidates) > 1}
        return kinds.pop() if len(kinds) == 1 else "per_width"

    def set_weight_codes(self, kind: str) -> None:
        """'nested': every layer's narrower weight codes derive from its widest (quantnet/quantizers.py)."""
        for m in self.quant_layers().values():
            m.set_weight_codes(kind)


def _round_half_up_ste(x: torch.Tensor) -> torch.Tensor:
    return (torch.floor(x + 0.5) - x).detach() + x


def _trace_macs(model: nn.Module, shape: tuple[int, ...]) -> dict[str, int]:
    macs: dict[str, int] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, QConv2d):
            k = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            hooks.append(m.register_forward_hook(lambda mod, i, o, n=name, k=k: macs.__setitem__(n, o[0].numel() * k)))
        elif isinstance(m, QLinear):
            hooks.append(m.register_forward_hook(lambda mod, i, o, n=name: macs.__setitem__(n, mod.in_features * mod.out_features)))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(shape, dtype=torch.uint8))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return macs
