"""Layer shapes for the cost model: a conv or linear layer as a grouped GEMM, plus its tensor sizes."""
from __future__ import annotations

from dataclasses import dataclass

from ..bits import ACC, BitsVar, parse


@dataclass(frozen=True)
class LayerShape:
    name: str
    kind: str              # "conv" | "linear"
    in_ch: int
    out_ch: int
    kh: int
    kw: int
    stride: int
    padding: int
    groups: int
    in_h: int
    in_w: int
    out_bits_var: BitsVar  # bits of the output tensor: ActOf, Const or ACC (accumulator width); text is parsed
    batch: int = 1         # samples per run: a dimension of the GEMM's M and of both activation tensors

    def __post_init__(self):
        object.__setattr__(self, "out_bits_var", parse(self.out_bits_var))

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.padding - self.kh) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.padding - self.kw) // self.stride + 1

    # GEMM per group: O[m, n] = sum_k X[m, k] W[k, n]
    @property
    def m(self) -> int:
        return self.batch * self.out_h * self.out_w

    @property
    def taps(self) -> int:
        return self.kh * self.kw

    @property
    def in_ch_per_group(self) -> int:
        return self.in_ch // self.groups

    @property
    def k(self) -> int:
        return self.in_ch // self.groups * self.kh * self.kw

    @property
    def n(self) -> int:
        return self.out_ch // self.groups

    @property
    def macs(self) -> int:
        return self.groups * self.m * self.k * self.n

    @property
    def weight_elems(self) -> int:
        return self.out_ch * self.k

    @property
    def input_elems(self) -> int:
        return self.batch * self.in_ch * self.in_h * self.in_w

    @property
    def output_elems(self) -> int:
        return self.batch * self.out_ch * self.out_h * self.out_w


def linear_shape(name: str, in_features: int, out_features: int, out_bits_var: BitsVar = ACC,
                 batch: int = 1) -> LayerShape:
    return LayerShape(name, "linear", in_features, out_features, 1, 1, 1, 0, 1, 1, 1, out_bits_var, batch)
