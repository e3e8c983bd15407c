"""One chunk of a sweep: some hardware points x a run of one network's bit configs, costed into a table.

Torch-free (workers import only this, hwsim, numpy and pyarrow). Each hardware point is one vectorised
walk of the network's op graph by the dataflow cost model over the chunk's configs, summed in op order as
NetworkCost.total sums it, so a row equals the single-config estimate to the last bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa

from hwsim.area import area_mm2
from hwsim.dataflow.costmodel import NetworkCost

from .points import HwPoint, NetworkData


@dataclass(frozen=True)
class Chunk:
    index: int
    network: int                     # index into the space's networks
    hw: tuple[int, int]              # hardware points [start, stop)
    bits: tuple[int, int]            # bit configs [start, stop) of that network

    @property
    def points(self) -> int:
        return (self.hw[1] - self.hw[0]) * (self.bits[1] - self.bits[0])

    @property
    def file_name(self) -> str:
        return f"chunk-{self.index:06d}.parquet"


def plan_chunks(n_hw: int, configs_per_network: Sequence[int], chunk_points: int) -> list[Chunk]:
    """Chunks of about `chunk_points` points: a run of configs (all of them when they fit) times as many
    hardware points as fill the rest."""
    out = []
    for net, n_cfg in enumerate(configs_per_network):
        per_bits = min(n_cfg, chunk_points)
        per_hw = max(1, chunk_points // per_bits)
        for b0 in range(0, n_cfg, per_bits):
            for h0 in range(0, n_hw, per_hw):
                out.append(Chunk(len(out), net, (h0, min(h0 + per_hw, n_hw)), (b0, min(b0 + per_bits, n_cfg))))
    return out


def network_totals(cost: NetworkCost, w_bits: np.ndarray, a_bits: np.ndarray) -> dict:
    """cycles, energy_pj and energy by component (pJ) of many configs ((n, n_layers) width arrays): the
    walk NetworkCost.evaluate_many sums, in its order, with the components kept apart as well."""
    cycles = np.zeros(len(w_bits), np.int64)
    energy = np.zeros(len(w_bits))
    parts: dict[str, np.ndarray] = {}
    columns = {s.name: (w_bits[:, i], a_bits[:, i]) for i, s in enumerate(cost.shapes)}
    for _, _, c in cost.node_costs(columns):
        cycles += c["cycles"]
        energy += c["energy_pj"]
        for k, v in c["energy_by"].items():
            parts[k] = parts.get(k, 0.0) + v
    return {"cycles": cycles, "energy_pj": energy, "energy_by": parts}


def _labels(values: Sequence[str], codes: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(list(values), pa.string()))


def _per_point_column(values: list, repeat: int):
    """One value per hardware point, repeated over the chunk's configs: text as a dictionary column."""
    if all(isinstance(v, str) for v in values) or not all(isinstance(v, (int, float)) for v in values):
        values = [str(v) for v in values]
        kinds = list(dict.fromkeys(values))
        return _labels(kinds, np.repeat(np.array([kinds.index(v) for v in values], np.int32), repeat))
    return np.repeat(np.array(values), repeat)


def point_columns(p: HwPoint) -> dict:
    """The columns that are constant over one hardware point: its swept parameters, what it is, its area."""
    hw = p.hw
    out = {"hw_point": p.index, **p.params, "pe_kind": hw.pe.kind, "layout": hw.array.layout,
           "rows": hw.array.rows, "cols": hw.array.cols, "clock_mhz": hw.clock_hz / 1e6}
    if hw.area is not None:
        area = area_mm2(hw)
        out["area_mm2"] = area.pop("total")
        out |= {f"area_{k}_mm2": v for k, v in area.items()}
    return out


def cost_chunk(net: NetworkData, points: Sequence[HwPoint], chunk: Chunk) -> pa.Table:
    """Rows hardware-point-major, configs within: identity, swept parameters, what the hardware is, its
    cycles, latency, energy by component, area by component, and the config's accuracy."""
    b0, b1 = chunk.bits
    nb, reps = b1 - b0, len(points)
    w, a = net.w_bits[b0:b1], net.a_bits[b0:b1]
    fixed: dict[str, list] = {}
    metrics: dict[str, list] = {}
    for p in points:
        for k, v in point_columns(p).items():
            fixed.setdefault(k, []).append(v)
        t = network_totals(NetworkCost(net.graph, p.hw), w, a)
        row = {"cycles": t["cycles"], "latency_s": t["cycles"] / p.hw.clock_hz, "energy_pj": t["energy_pj"]}
        row |= {f"energy_{k}_pj": np.broadcast_to(np.asarray(v, np.float64), nb) for k, v in t["energy_by"].items()}
        for k, v in row.items():
            metrics.setdefault(k, []).append(v)
    spec_names = sorted(set(net.bits_spec))
    spec_code = np.array([spec_names.index(s) for s in net.bits_spec[b0:b1]], np.int32)
    table = {"network": _labels([net.name], np.zeros(nb * reps, np.int32)),
             "bits_index": np.tile(np.arange(b0, b1, dtype=np.int64), reps),
             "bits_spec": _labels(spec_names, np.tile(spec_code, reps)),
             "bits": _labels(net.bits_name[b0:b1], np.tile(np.arange(nb, dtype=np.int32), reps)),
             "avg_w_bits": np.tile(net.avg_w_bits[b0:b1], reps), "avg_a_bits": np.tile(net.avg_a_bits[b0:b1], reps)}
    table |= {k: _per_point_column(v, nb) for k, v in fixed.items()}
    table |= {k: np.concatenate(v) for k, v in metrics.items()}
    table["accuracy"] = np.tile(net.accuracy[b0:b1], reps)
    table["accuracy_source"] = _labels([net.accuracy_source], np.zeros(nb * reps, np.int32))
    return pa.table(table)
