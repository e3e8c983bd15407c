"""The bit-parallel systolic model against SCALE-Sim's compute cycles (figures recorded from a real run).

How the figures were obtained (SCALE-Sim is not a project dependency):
    python3 -m venv /tmp/scalesim-venv && /tmp/scalesim-venv/bin/pip install "numpy<2.4" scalesim   # 3.0.0
    python -m scalesim.scale -c cfg_<df>.cfg -t topo.csv -l layout.csv -p res_<df> -s N   # df in os, ws, is
with ArrayHeight 32, ArrayWidth 16 (non-square, to catch a row/column swap), 1024 kB SRAMs, CALC bandwidth,
no sparsity, default layouts. SCALE-Sim takes pre-padded inputs and sizes outputs as ceil((H - k)/s) + 1, so
each topology row gives the padded input that a PyTorch conv actually reads (e.g. 57 = 56 + one row of
padding for a 3x3 stride-2 conv): both then agree on the GEMM (M, K, N). SCALE-Sim reports "Compute
cycles" as the index of the last output cycle counted from 0, i.e. its cycle count minus one.

topo.csv (header: Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,)
    layer2_0_conv1, 57, 57, 3, 3, 64, 128, 2,
    layer3_0_shortcut, 27, 27, 1, 1, 128, 256, 2,
    layer4_0_conv2, 9, 9, 3, 3, 512, 512, 1,
layout.csv: one row per layer "name, 1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3," (read, unused
with IfmapCustomLayout/FilterCustomLayout False). The demand traces had T + R + C - 2 rows per fold for OS and
T + 2R + C - 2 for WS and IS (the stationary operand is shifted in first): hwsim.dataflow.mapping.fill_drain.
"""
from __future__ import annotations

import dataclasses

import pytest

from hwsim.dataflow.costmodel import PETables, layer_cost
from hwsim.dataflow.layers import LayerShape
from hwsim.hwconfig import load_hw_config

ROWS, COLS = 32, 16

# ResNet-18 (224x224 input) layers: our shapes (with padding) and the topology rows given to SCALE-Sim
LAYERS = {
    "layer2.0.conv1": LayerShape("layer2.0.conv1", "conv", 64, 128, 3, 3, 2, 1, 1, 56, 56, "acc"),     # 57x57 in
    "layer3.0.shortcut": LayerShape("layer3.0.shortcut", "conv", 128, 256, 1, 1, 2, 0, 1, 28, 28, "acc"),  # 27x27
    "layer4.0.conv2": LayerShape("layer4.0.conv2", "conv", 512, 512, 3, 3, 1, 1, 1, 7, 7, "acc"),      # 9x9 in
}

# "Compute cycles" printed by SCALE-Sim 3.0.0 (COMPUTE_REPORT), per dataflow and layer
SCALESIM = {
    "os": {"layer2.0.conv1": 124399, "layer3.0.shortcut": 19487, "layer4.0.conv2": 297855},
    "ws": {"layer2.0.conv1": 124127, "layer3.0.shortcut": 17535, "layer4.0.conv2": 585215},
    "is": {"layer2.0.conv1": 181691, "layer3.0.shortcut": 17367, "layer4.0.conv2": 339839},
}


def systolic(dataflow: str):
    base = load_hw_config("hw_configs/tpu_int8.yaml")
    return dataclasses.replace(base, array=dataclasses.replace(base.array, rows=ROWS, cols=COLS, dataflow=dataflow))


@pytest.mark.parametrize("dataflow, layer", [(d, l) for d, figs in SCALESIM.items() for l in figs])
def test_bit_parallel_model_reproduces_scalesim_compute_cycles(dataflow, layer):
    hw = systolic(dataflow)
    c = layer_cost(LAYERS[layer], hw, PETables.build(hw), 8, 8, 8)
    assert int(c["cycles_by"]["compute"]) == SCALESIM[dataflow][layer] + 1


def test_every_dataflow_has_recorded_figures():
    assert all(len(figs) == len(LAYERS) for figs in SCALESIM.values()), "record SCALE-Sim figures for each dataflow"
