"""A zoo network: its op graph (layer shapes at a batch size, adds, pools, rescales), the layer table a
config is checked against, where its shapes come from, and the per-layer bit-widths a paper published."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..bits import BitConfig, LayerTable
from ..dataflow.graph import OpGraph
from ..dataflow.layers import LayerShape
from ..errors import UserError


@dataclass(frozen=True)
class ZooNet:
    name: str
    graph: OpGraph
    table: LayerTable
    source: str                                        # the paper (and variant) the shapes follow
    published: Mapping[str, tuple[int, int]] | None    # layer -> (w_bits, a_bits) as the paper gives them
    published_source: str                              # where `published` comes from, or why there is none

    @property
    def shapes(self) -> list[LayerShape]:
        return self.graph.shapes

    @property
    def macs(self) -> int:
        return sum(s.macs for s in self.shapes)

    def published_config(self) -> BitConfig:
        if self.published is None:
            raise UserError(f"zoo network {self.name!r}: no published bit-widths ({self.published_source}); "
                            f"use a uniform config such as w8a8, or a YAML file")
        return self.table.validate(dict(self.published), f"{self.name}-published")


def first_last(table: LayerTable, edge: tuple[int, int], rest: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """The common published pattern: the first and last layers at `edge` (w, a), every other at `rest`;
    a layer that shares its input with another takes that layer's a_bits."""
    names = table.names
    bits = {n: edge if n in (names[0], names[-1]) else rest for n in names}
    return table.tie(bits)
