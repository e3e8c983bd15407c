"""The networks of a space, each with its layer shapes, its bit configs as (config x layer) width arrays,
and the accuracy of each config where a meta-network measures it (once per config: MetaNet caches)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hwsim import zoo
from hwsim.bits import BitConfig, BitConfigError
from hwsim.dataflow.graph import op_graph_from_ir
from hwsim.netimport.onnx_model import read_onnx
from hwsim.netimport.scalesim_csv import read_topology
from hwsim.errors import UserError
from quantnet.config_spec import parse_config_spec

from ..network import ModelSection, int_model, load_metanet
from .points import NetworkData
from .space import NetworkEntry, SpaceError


def load_network(entry: NetworkEntry, bits: tuple[str, ...], where: str) -> tuple[NetworkData, tuple]:
    """The network of one `networks:` entry with every config of `bits` (the CLI's --config specs, and
    `published` for a zoo network's paper widths), accuracy not yet measured; and (the meta-network or None,
    the checked configs) to measure it with."""
    net = zoo_net = None
    if entry.zoo is not None:
        try:
            zoo_net = zoo.get(entry.zoo, entry.batch)
        except UserError as e:
            raise SpaceError(f"{where}.zoo: {e}") from None
        graph, table, name = zoo_net.graph, zoo_net.table, entry.zoo
    elif entry.topology is not None or entry.onnx is not None:
        path = Path(entry.topology or entry.onnx)
        read = read_topology if entry.topology is not None else read_onnx
        try:
            zoo_net = read(path, entry.batch)
        except UserError as e:
            raise SpaceError(f"{where}.{'topology' if entry.topology else 'onnx'}: {e}") from None
        graph, table, name = zoo_net.graph, zoo_net.table, path.stem
    else:
        path = Path(entry.checkpoint or entry.ir)
        if not path.is_file():
            raise SpaceError(f"{where}.{'checkpoint' if entry.checkpoint else 'ir'}: {path} does not exist")
        if entry.checkpoint:
            net = load_metanet(ModelSection(str(path), entry.data, entry.data_dir, entry.samples,
                                            "simulator" if entry.accuracy == "simulator" else "torch"))
            ir = int_model(net)
        else:
            from quantnet.export import load_int_model   # torch: only where an IR or checkpoint is read

            ir = load_int_model(path)
        graph, table = op_graph_from_ir(ir, entry.batch), ir.table
        name = path.parent.name if path.stem == "checkpoint" else path.stem   # runs/meta/checkpoint.pt: meta
    names = [s.name for s in graph.shapes]
    specs, configs, seen = [], [], set()
    for spec in bits:
        try:
            found = _configs(spec, table, zoo_net)
        except UserError as e:
            raise SpaceError(f"{where}: bits {spec!r}: {e}") from None
        for label, cfg in found:
            label = label if label not in seen else f"{label} ({spec})"   # two random specs both make random-0
            seen.add(label)
            specs.append(spec)
            configs.append((label, cfg))
    w = np.array([[c.bits[n][0] for n in names] for _, c in configs], np.int64).reshape(len(configs), len(names))
    a = np.array([[c.bits[n][1] for n in names] for _, c in configs], np.int64).reshape(len(configs), len(names))
    avg = np.array([c.avg_bits(table) for _, c in configs]).reshape(len(configs), 2)
    return NetworkData(entry.name or name, graph, tuple(specs), tuple(n for n, _ in configs), w, a,
                       avg[:, 0], avg[:, 1], np.full(len(configs), np.nan), ""), (net, [c for _, c in configs])


def _configs(spec: str, table, zoo_net) -> list[tuple[str, BitConfig]]:
    """The checked configs one spec names on a network's layer table (every layer's widths filled in)."""
    if spec == "published" and zoo_net is not None:
        return [(f"{zoo_net.name}-published", zoo_net.published_config())]
    found = parse_config_spec(spec, table)
    if any(c is None for _, c in found):
        raise BitConfigError("fp: the float network has no bit-widths to cost; use uniform, wBaB, ...")
    return [(name, table.validate(cfg, name)) for name, cfg in found]


def measure_accuracy(data: NetworkData, net, configs, progress: bool = True) -> NetworkData:
    """`data` with the accuracy of each config on the meta-network `net` (torch or the integer simulator)."""
    acc = np.array([net.accuracy([c])[0] for c in tqdm(configs, desc=f"accuracy {data.name}", unit="config",
                                                        disable=not progress, leave=False)])
    return dataclasses.replace(data, accuracy=acc, accuracy_source=net.source_label.removeprefix("accuracy: "))
