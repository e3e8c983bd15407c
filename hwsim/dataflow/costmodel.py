"""Analytic cost of layers and whole networks on one accelerator: cycles per level and energy by component.

Per layer at (w_bits, a_bits, out_bits):
  compute  the array organisation's cycles (hwsim.dataflow.organisations; systolic: folds x step x
           (t + fill/drain)), from the PE kind's lanes and cycles per step (hwsim.pe)
  buffers  operand streams: each operand re-read as often as the organisation says (systolic: once per
           fold along the spatial dimension that does not index it); partial sums read and written at
           the accumulator width when the reduction folds; plus fills from and drains to DRAM
  DRAM     as the config's memory.dram_traffic policy counts it (dram_traffic.py): ideal_reuse (every
           tensor once, unless neither weights nor inputs fit) or tiled (tiles under buffer capacities,
           re-fetches and partial-sum spills; the first loads and last store no compute overlaps are
           added to the compute cycles)
  cycles   of a level = its traffic / bandwidth; the layer's = the maximum (bound_by names it)
  energy   MACs x MAC energy + PE-local register bits + accesses x per-access energy + leakage x time
Every formula takes ints or integer numpy arrays (one entry per config), so one code path serves a
single config and the vectorised evaluation of many.

A network (NetworkCost) is its op graph walked in order, the ops running one after another: the layers
priced as above, the element-wise ops by node_cost.py, and the tensors that the hw config's tensor_policy
keeps on chip taken off DRAM (residency.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import UserError
from ..hwconfig import HwConfig
from ..pe import get_pe_kind
from .dram_traffic import DRAM_TRAFFIC
from .graph import INPUT, OpGraph
from .layers import LayerShape
from .mapping import ceil_div
from .node_cost import elementwise_cost, finish_cost, without_dram
from .organisations import get_organisation
from .residency import TENSOR_POLICIES

ENERGY_PARTS = ("mac", "pe_local")


@dataclass(frozen=True)
class PETables:
    """PE-kind answers tabulated by bit-width: index [w_bits, a_bits]; 0 where unsupported."""
    lanes: np.ndarray
    steps: np.ndarray
    mac_pj: np.ndarray
    reg_pj: np.ndarray

    @classmethod
    def build(cls, hw: HwConfig) -> "PETables":
        kind, pe = get_pe_kind(hw.pe.kind), hw.pe
        shape = (pe.w_bits_max + 1, pe.a_bits_max + 1)
        lanes, steps = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
        mac, reg = np.zeros(shape), np.zeros(shape)
        for w in range(1, pe.w_bits_max + 1):
            for a in range(1, pe.a_bits_max + 1):
                lanes[w, a], steps[w, a] = kind.lanes(pe, w, a), kind.steps(pe, w, a)
                mac[w, a] = kind.mac_energy_pj(pe, hw.energy, w, a)
                reg[w, a] = kind.reg_bits_per_mac(pe, w, a) * hw.energy["reg_pj_per_bit"]
        return cls(lanes, steps, mac, reg)


def layer_cost(s: LayerShape, hw: HwConfig, tab: PETables, w, a, o) -> dict:
    """Cycles per level, traffic (bits) and energy (pJ) of one layer; w, a, o ints or int arrays."""
    org, acc = get_organisation(hw.array.organisation), hw.pe.accumulator_bits
    lanes, step = tab.lanes[w, a], tab.steps[w, a]
    compute = org.compute_cycles(s, hw.array, lanes, step)
    f = org.operand_reads(s, hw.array, lanes)

    # on-chip operand streams (elements x bits)
    reads = {"inputs": s.groups * f["inputs"] * a, "weights": s.groups * f["weights"] * w}
    partial = s.groups * f["partials"]
    reads["outputs"] = partial * acc
    writes = {"outputs": partial * acc + s.output_elems * o}

    # DRAM, under the config's dram_traffic policy (dram_traffic.py), told each buffer's on-chip traffic
    onchip = tuple(sum(reads.get(op, 0) + writes.get(op, 0) for op in lvl.holds) for lvl in hw.buffers)
    d = DRAM_TRAFFIC[hw.dram_traffic](s, hw, org, compute, onchip, w, a, o)
    writes["weights"], writes["inputs"] = d.weights, d.inputs                # buffer fills
    writes["outputs"] = writes["outputs"] + d.outputs_in                     # partial sums back
    reads["outputs"] = reads["outputs"] + d.outputs_out                      # drain to DRAM

    level_cycles, level_pj, traffic = {}, {}, {}
    for lvl in hw.buffers:
        r_bits = sum(reads[op] for op in lvl.holds)
        w_bits = sum(writes[op] for op in lvl.holds)
        traffic[lvl.name] = r_bits + w_bits
        level_cycles[lvl.name] = ceil_div(r_bits + w_bits, lvl.bandwidth_bits_per_cycle)
        level_pj[lvl.name] = lvl.energy_pj(r_bits, w_bits)
    dram_read = d.weights + d.inputs + d.outputs_in
    traffic["dram"] = dram_read + d.outputs_out
    level_cycles["dram"] = ceil_div(traffic["dram"], hw.dram.bandwidth_bits_per_cycle)
    level_pj["dram"] = hw.dram.energy_pj(dram_read, d.outputs_out)

    energy = {"mac": s.macs * tab.mac_pj[w, a], "pe_local": s.macs * tab.reg_pj[w, a], **level_pj}
    c = finish_cost({"compute": compute + d.exposed, **level_cycles}, traffic, energy, hw)
    # what keeping a tensor on chip saves (node_costs): every DRAM read of the input, the output's final write
    c["dram_saved_if_kept"] = {"inputs": (d.inputs,), "output": d.final_out}
    return c


class NetworkCost:
    """Cost of a network on one accelerator, for one or many configs: it walks the op graph (a plain list
    of layer shapes is the chain of those layers) under the config's tensor policy (residency.py)."""

    def __init__(self, network: OpGraph | Sequence[LayerShape], hw: HwConfig, policy: str | None = None):
        self.graph = network if isinstance(network, OpGraph) else OpGraph.chain(list(network))
        self.shapes, self.hw = self.graph.shapes, hw
        self.policy = TENSOR_POLICIES.lookup(policy or hw.tensor_policy, UserError)
        self.tab = PETables.build(hw)
        self.nodes = [n for n in self.graph.nodes if n.is_layer or self.policy.costs_elementwise]
        costed = {n.name for n in self.nodes}
        readers = self.graph.consumers()
        self._index = {n.name: i for i, n in enumerate(self.nodes)}
        # a tensor's last use: the last costed op that reads it (ops not costed pass no tensors on chip)
        self._readers = {n.name: [r for r in readers[n.name] if r in costed] for n in self.nodes}
        made = {n.name: n for n in self.graph.nodes}
        for n in self.nodes:
            for src in n.inputs:
                if n.is_layer and src in made and made[src].out_elems != n.shape.input_elems:
                    raise ValueError(f"layer {n.name!r} reads {n.shape.input_elems} elements, "
                                     f"but {src!r} makes {made[src].out_elems}")
        self._elems = {INPUT: 0, **{n.name: n.out_elems for n in self.graph.nodes}}

    def _check(self, w, a, layer: str) -> None:
        pe = self.hw.pe
        if np.any(np.asarray(w) > pe.w_bits_max) or np.any(np.asarray(a) > pe.a_bits_max) or \
                np.any(np.asarray(w) < 1) or np.any(np.asarray(a) < 1):
            raise UserError(f"{self.hw.name}: layer {layer!r}: PE kind {pe.kind!r} supports w_bits 1..{pe.w_bits_max} "
                            f"and a_bits 1..{pe.a_bits_max}, got w={w} a={a}")

    def _out_bits(self, columns: Mapping) -> dict:
        """The width of every tensor (node output, and the network input) at `columns`."""
        acc = self.hw.pe.accumulator_bits
        out = {INPUT: self.graph.input_bits.resolve(columns, acc)}
        for n in self.graph.nodes:
            out[n.name] = n.out_bits.resolve(columns, acc)
        return out

    def node_costs(self, columns: Mapping):
        """(node, output width, cost) of every costed node at `columns` (layer -> (w_bits, a_bits), ints or
        arrays), one at a time, with the tensors the policy keeps on chip taken off DRAM. They stream:
        holding many configs' arrays for every node at once is slower."""
        out_bits = self._out_bits(columns)
        kept = self._kept(out_bits) if self.policy.kept is not None else None
        elems = self._elems
        for i, n in enumerate(self.nodes):
            o = out_bits[n.name]
            if n.is_layer:
                w, a = columns[n.name]
                self._check(w, a, n.name)
                c = layer_cost(n.shape, self.hw, self.tab, w, a, o)
            else:
                c = elementwise_cost(n, self.hw, [elems[i] for i in n.inputs], [out_bits[i] for i in n.inputs], o)
            if kept is not None:
                read, write = self._saved(n, c, kept)
                c = {**(without_dram(c, self.hw, read, write) if np.any(read) or np.any(write) else c),
                     "kept_on_chip": kept[n.name]}
            yield n, o, c

    def _kept(self, out_bits: dict) -> dict:
        """Per costed node: whether the policy keeps its output on chip (a bool, or one per config)."""
        sizes = [n.out_elems * out_bits[n.name] for n in self.nodes]
        last = [max((self._index[r] for r in self._readers[n.name]), default=None) for n in self.nodes]
        buf = self.hw.buffer_for("inputs")
        return dict(zip((n.name for n in self.nodes), self.policy.kept(sizes, last, buf.size_bits // len(buf.holds))))

    @staticmethod
    def _saved(n, c: dict, kept: dict) -> tuple:
        """DRAM bits node `n` (cost `c`) no longer reads and writes: what its cost says keeping each input and
        its output would save (a layer: every read of its input, re-fetches too, and its final write, as its DRAM
        traffic policy counts them; an element-wise op: its one read of each input and its one write)."""
        saved = c["dram_saved_if_kept"]
        read = sum(np.where(kept[src], bits, 0) for src, bits in zip(n.inputs, saved["inputs"]) if src in kept)
        return read, np.where(kept[n.name], saved["output"], 0)

    def layers(self, bits: Mapping[str, tuple[int, int]]) -> list[dict]:
        """Per-node costs of one config (layer -> (w_bits, a_bits)): every layer, and under a policy that
        costs them, every element-wise op (no w_bits or a_bits; `out_bits` is the width it writes)."""
        missing = [s.name for s in self.shapes if s.name not in bits]
        if missing:
            raise UserError(f"config has no bits for layer {missing[0]!r}")
        columns = {s.name: tuple(int(v) for v in bits[s.name]) for s in self.shapes}
        out = []
        for n, o, c in self.node_costs(columns):
            w, a = columns[n.name] if n.is_layer else (None, None)
            row = {"name": n.name, "kind": n.kind, "macs": n.shape.macs if n.is_layer else 0, "w_bits": w, "a_bits": a,
                   "out_bits": int(o), "cycles": int(c["cycles"]), "bound_by": str(c["bound_by"]),
                   "cycles_by": {k: int(v) for k, v in c["cycles_by"].items()},
                   "traffic_bits": {k: int(v) for k, v in c["traffic_bits"].items()},
                   "energy_pj": float(c["energy_pj"]),
                   "energy_by": {k: float(v) for k, v in c["energy_by"].items()}}
            if "kept_on_chip" in c:
                row["output_on_chip"] = bool(c["kept_on_chip"])
            out.append(row)
        return out

    def total(self, bits: Mapping[str, tuple[int, int]]) -> dict:
        return self.total_of(self.layers(bits))

    def total_of(self, rows: list[dict]) -> dict:
        """Network totals of `layers` rows: the sum over the ops, which run one after another."""
        cycles = sum(r["cycles"] for r in rows)
        return {"cycles": cycles, "energy_pj": sum(r["energy_pj"] for r in rows),
                "latency_s": cycles / self.hw.clock_hz}

    def evaluate_many(self, w_bits: np.ndarray, a_bits: np.ndarray) -> dict:
        """Totals for many configs at once: w_bits, a_bits int arrays (n_configs, n_layers) in layer order."""
        w_bits, a_bits = np.asarray(w_bits, np.int64), np.asarray(a_bits, np.int64)
        if w_bits.shape != a_bits.shape or w_bits.ndim != 2 or w_bits.shape[1] != len(self.shapes):
            raise UserError(f"evaluate_many: expected (n_configs, {len(self.shapes)}) bit arrays, "
                            f"got {w_bits.shape} and {a_bits.shape}")
        cycles = np.zeros(len(w_bits), np.int64)
        energy = np.zeros(len(w_bits))
        columns = {s.name: (w_bits[:, i], a_bits[:, i]) for i, s in enumerate(self.shapes)}
        for _, _, c in self.node_costs(columns):
            cycles += c["cycles"]
            energy += c["energy_pj"]
        return {"cycles": cycles, "energy_pj": energy, "latency_s": cycles / self.hw.clock_hz}
