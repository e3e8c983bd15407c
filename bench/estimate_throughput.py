"""Throughput of the dataflow cost model: whole-network ResNet-18 configs per second on one accelerator,
vectorised (one numpy pass over many configs) beside the per-config loop; then the same on the zoo's
ResNet-18 op graph (224x224, adds and pools costed, tensors kept on chip when they fit).

    .venv/bin/python bench/estimate_throughput.py [--hw hw_configs/bitfusion.yaml] [--configs 20000]
"""
from __future__ import annotations

import argparse
import time

import dataclasses

import numpy as np
import torch

import hwsim.zoo as zoo

from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.layers import LayerShape
from hwsim.hwconfig import load_hw_config
from hwsim.bits import random_configs
from quantnet.layers import QConv2d, QLinear
from quantnet.models import build_model


def shapes_from_model(model) -> list[LayerShape]:
    """Layer shapes of a meta-network from one forward pass (input sizes captured by hooks)."""
    seen, hooks = {}, []
    for name, m in model.named_modules():
        if isinstance(m, (QConv2d, QLinear)):
            hooks.append(m.register_forward_hook(lambda mod, i, o, n=name: seen.__setitem__(n, tuple(i[0].shape))))
    a = model.arch
    with torch.no_grad():
        model(torch.zeros((1, a.in_channels, a.input_size, a.input_size), dtype=torch.uint8))
    for h in hooks:
        h.remove()
    consumer = model.output_consumer
    out = []
    for name, m in model.quant_layers().items():
        # a block's conv2 and shortcut feed the residual add (unclamped, accumulator width)
        var = "acc" if name == "fc" or name.endswith(("conv2", "shortcut")) else f"a:{consumer[name]}"
        if isinstance(m, QLinear):
            out.append(LayerShape(name, "linear", m.in_features, m.out_features, 1, 1, 1, 0, 1, 1, 1, var))
        else:
            _, c, h, w = seen[name]
            out.append(LayerShape(name, "conv", c, m.out_channels, m.kernel_size[0], m.kernel_size[1], m.stride[0],
                                  m.padding[0], m.groups, h, w, var))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hw", default="hw_configs/bitfusion.yaml")
    p.add_argument("--configs", type=int, default=20000)
    p.add_argument("--loop", type=int, default=200, help="configs timed through the per-config loop")
    args = p.parse_args()
    torch.set_num_threads(1)
    model = build_model("resnet18")
    spec = model.spec
    hw = load_hw_config(args.hw)
    cost = NetworkCost(shapes_from_model(model), hw)
    names = [s.name for s in cost.shapes]
    assert names == spec.names, (names, spec.names)
    cfgs = random_configs(spec, args.configs, seed=0)
    W = np.array([[c.bits[n][0] for n in names] for c in cfgs])
    A = np.array([[c.bits[n][1] for n in names] for c in cfgs])

    cost.evaluate_many(W[:10], A[:10])                                  # warm-up
    t0 = time.perf_counter()
    many = cost.evaluate_many(W, A)
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = [cost.total(c.bits) for c in cfgs[:args.loop]]
    t_loop = time.perf_counter() - t0
    assert all(l["cycles"] == many["cycles"][i] for i, l in enumerate(loop))

    print(f"ResNet-18 ({len(names)} layers) on {hw.name}: {hw.array.rows}x{hw.array.cols} {hw.pe.kind} ({hw.array.layout})")
    print(f"vectorised : {args.configs:6d} configs in {t_vec:.3f} s = {args.configs / t_vec:10.0f} configs/s")
    print(f"per-config : {args.loop:6d} configs in {t_loop:.3f} s = {args.loop / t_loop:10.0f} configs/s")
    print(f"speed-up   : {(args.configs / t_vec) / (args.loop / t_loop):.0f}x; cycles range "
          f"{many['cycles'].min()}..{many['cycles'].max()}, energy {many['energy_pj'].min() / 1e6:.1f}.."
          f"{many['energy_pj'].max() / 1e6:.1f} uJ per image")

    net = zoo.get("resnet18")
    graph_cost = NetworkCost(net.graph, dataclasses.replace(hw, tensor_policy="on_chip_when_fits"))
    rng = np.random.default_rng(0)
    Wg = rng.choice([2, 4, 8], (args.configs, len(net.shapes)))
    Ag = rng.choice([2, 4, 8], (args.configs, len(net.shapes)))
    graph_cost.evaluate_many(Wg[:10], Ag[:10])
    t0 = time.perf_counter()
    graph_cost.evaluate_many(Wg, Ag)
    t_graph = time.perf_counter() - t0
    print(f"op graph   : {args.configs:6d} configs in {t_graph:.3f} s = {args.configs / t_graph:10.0f} configs/s "
          f"(zoo ResNet-18 224x224, {len(net.graph.nodes)} ops, on_chip_when_fits)")


if __name__ == "__main__":
    main()
