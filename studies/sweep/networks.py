"""The networks of a space, each with its layer shapes, its bit configs as (config x layer) width arrays,
and the accuracy of each config where a meta-network measures it (once per config: MetaNet caches)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hwsim.dataflow.graph import shapes_from_ir
from hwsim.errors import UserError

from ..network import ModelSection, int_model, load_metanet
from .points import NetworkData
from .space import NetworkEntry, SpaceError


def load_network(entry: NetworkEntry, bits: tuple[str, ...], where: str) -> tuple[NetworkData, tuple]:
    """The network of one `networks:` entry with every config of `bits` (the CLI's --config specs), accuracy
    not yet measured; and (the meta-network or None, the checked configs) to measure it with."""
    from quantnet.config_spec import ir_bit_configs
    from quantnet.export import load_int_model

    path = Path(entry.checkpoint or entry.ir)
    if not path.is_file():
        raise SpaceError(f"{where}: {entry.checkpoint and 'checkpoint' or 'ir'}: {path} does not exist")
    net = None
    if entry.checkpoint:
        net = load_metanet(ModelSection(str(path), entry.data, entry.data_dir, entry.samples,
                                        "simulator" if entry.accuracy == "simulator" else "torch"))
        ir = int_model(net)
    else:
        ir = load_int_model(path)
    shapes = tuple(shapes_from_ir(ir))
    names = [s.name for s in shapes]
    specs, configs, seen = [], [], set()
    for spec in bits:
        try:
            found = ir_bit_configs(ir, spec)
        except UserError as e:
            raise SpaceError(f"{where}: bits {spec!r}: {e}") from None
        for name, cfg in found:
            label = name if name not in seen else f"{name} ({spec})"   # two random specs both make random-0
            seen.add(label)
            specs.append(spec)
            configs.append((label, ir.config(cfg, name)))
    table = ir.table
    w = np.array([[c.bits[n][0] for n in names] for _, c in configs], np.int64).reshape(len(configs), len(names))
    a = np.array([[c.bits[n][1] for n in names] for _, c in configs], np.int64).reshape(len(configs), len(names))
    avg = np.array([c.avg_bits(table) for _, c in configs]).reshape(len(configs), 2)
    default_name = path.parent.name if path.stem == "checkpoint" else path.stem   # runs/meta/checkpoint.pt: meta
    return NetworkData(entry.name or default_name, shapes, tuple(specs), tuple(n for n, _ in configs), w, a,
                       avg[:, 0], avg[:, 1], np.full(len(configs), np.nan), ""), (net, [c for _, c in configs])


def measure_accuracy(data: NetworkData, net, configs, progress: bool = True) -> NetworkData:
    """`data` with the accuracy of each config on the meta-network `net` (torch or the integer simulator)."""
    acc = np.array([net.accuracy([c])[0] for c in tqdm(configs, desc=f"accuracy {data.name}", unit="config",
                                                        disable=not progress, leave=False)])
    return dataclasses.replace(data, accuracy=acc, accuracy_source=net.source_label.removeprefix("accuracy: "))
