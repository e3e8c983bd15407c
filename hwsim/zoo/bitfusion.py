"""The eight benchmark networks of Bit Fusion (Sharma et al., "Bit Fusion: Bit-Level Dynamically Composable
Architecture for Accelerating Deep Neural Networks", ISCA 2018), as the authors' public artifact defines them:
github.com/hsharma35/bitfusion, bitfusion/src/benchmarks/benchmarks.py (get_alex_net, get_svhn_qnn,
get_cifar10_qnn, get_lenet_5_twn, get_vgg_7_twn, get_resnet_18_twn, get_RNN, get_LSTM; their batch_size
is 16). Layer names are that file's scope names; shapes, strides, 'SAME'/'VALID' padding and widths are
copied layer by layer from it, and the MAC counts agree with the artifact's Eyeriss per-layer results
(results/eyeriss_results.csv, whose ALU column is MACs x 16 samples).

A layer's (w_bits, a_bits) is the artifact's: w_dtype of its weights, and the dtype of the tensor it reads
(the c_dtype / f_dtype of the layer before, FXP8 for the image; FQDtype.Bin is 1 bit, FXPn n bits).
The artifact's networks are not the textbook ones, and are kept as they are:
  AlexNet   227x227 input, split in two towers (conv1_a/b ... conv5_a/b, 48-128-192-192-128 filters
            each), concatenated before conv3 and fc1; 2x2 stride-2 pools.
  VGG-7     two towers of 128-256-512 3x3 convs summed before the single fc1 (1024 outputs).
  ResNet-18 the artifact's "TWN" variant: per stage, twice a 1x1 then a 3x3 conv, and one add of the
            stage's last pair; no projection shortcuts, pooling or classifier.
  RNN, LSTM one time step's gate GEMM: [4096 -> 4096] and [3600 -> 3600].
A concatenation is a tensor laid out in DRAM for the next layer (NetBuilder.concat).
"""
from __future__ import annotations

from .builder import NetBuilder
from .network import ZooNet

ARTIFACT = "github.com/hsharma35/bitfusion, bitfusion/src/benchmarks/benchmarks.py"


def _net(name: str, b: NetBuilder, source: str, rest: tuple[int, int], edge: dict[str, tuple[int, int]]) -> ZooNet:
    """Every layer at `rest` (w, a) but those named in `edge`."""
    table = b.table()
    bits = table.tie({n: edge.get(n, rest) for n in table.names})
    return ZooNet(name, b.graph(), table, f"{ARTIFACT}: {source}", bits, f"{ARTIFACT}: {source} (w_dtype, input dtype)")


def bf_alexnet(batch: int = 1) -> ZooNet:
    b = NetBuilder(3, 227, batch)
    towers = {}
    for t in "ab":
        x = b.maxpool(f"pool1_{t}", b.conv(f"conv1_{t}", "input", 48, 11, 4), 2, 2)
        towers[t] = b.maxpool(f"pool2_{t}", b.conv(f"conv2_{t}", x, 128, 5, 1, 2), 2, 2)
    cat = b.concat("concat2", (towers["a"], towers["b"]))
    for t in "ab":
        x = b.conv(f"conv4_{t}", b.conv(f"conv3_{t}", cat, 192, 3, 1, 1), 192, 3, 1, 1)
        towers[t] = b.maxpool(f"pool5_{t}", b.conv(f"conv5_{t}", x, 128, 3, 1, 1), 2, 2)
    x = b.linear("fc1", b.concat("concat5", (towers["a"], towers["b"])), 4096)
    b.linear("fc3", b.linear("fc2", x, 4096), 1000)
    return _net("bitfusion-alexnet", b, "get_alex_net", (4, 4),
                {"conv1_a": (4, 8), "conv1_b": (4, 8), "fc3": (8, 8)})


def _qnn_cifar(b: NetBuilder, widths: tuple[int, int, int]) -> None:
    """conv0..conv5 (3x3 'SAME', a 2x2 pool after every second) then fc6, fc7, fc8 (1024, 1024, 10)."""
    x = "input"
    for i, c in enumerate(widths):
        x = b.conv(f"conv{2 * i}", x, c, 3, 1, 1)
        x = b.maxpool(f"pool{2 * i + 1}", b.conv(f"conv{2 * i + 1}", x, c, 3, 1, 1), 2, 2)
    b.linear("fc8", b.linear("fc7", b.linear("fc6", x, 1024), 1024), 10)


def bf_svhn(batch: int = 1) -> ZooNet:
    b = NetBuilder(3, 32, batch)
    _qnn_cifar(b, (64, 128, 256))
    return _net("bitfusion-svhn", b, "get_svhn_qnn (binary weights and activations, 8-bit image)", (1, 1),
                {"conv0": (1, 8)})


def bf_cifar10(batch: int = 1) -> ZooNet:
    b = NetBuilder(3, 32, batch)
    _qnn_cifar(b, (128, 256, 512))
    return _net("bitfusion-cifar10", b, "get_cifar10_qnn (2-bit; conv0 8-bit weights on the 8-bit image)", (2, 2),
                {"conv0": (8, 8)})


def bf_lenet5(batch: int = 1) -> ZooNet:
    b = NetBuilder(1, 32, batch)
    x = b.maxpool("pool0", b.conv("conv0", "input", 32, 5, 1, 2), 2, 2)
    x = b.maxpool("pool1", b.conv("conv1", x, 64, 5, 1, 2), 2, 2)
    b.linear("fc2", b.linear("fc1", x, 512), 10)
    return _net("bitfusion-lenet5", b, "get_lenet_5_twn (2-bit throughout, the image included)", (2, 2), {})


def bf_vgg7(batch: int = 1) -> ZooNet:
    b = NetBuilder(3, 32, batch)
    towers = {}
    for t in "ab":
        x = "input"
        for i, c in enumerate((128, 256, 512)):
            x = b.maxpool(f"pool{i + 1}_{t}", b.conv(f"conv{i + 1}_{t}", x, c, 3, 1, 1), 2, 2)
        towers[t] = x
    b.linear("fc1", b.add("add3", towers["a"], towers["b"]), 1024)
    return _net("bitfusion-vgg7", b, "get_vgg_7_twn (2-bit throughout, the image included)", (2, 2), {})


def bf_resnet18(batch: int = 1) -> ZooNet:
    b = NetBuilder(3, 224, batch)
    x = b.maxpool("pool1_a", b.conv("conv1_a", "input", 64, 7, 2, 3), 2, 2)
    for stage, c in enumerate((64, 128, 256, 512), start=2):
        for i in (1, 2):
            stride = 2 if stage > 2 and i == 1 else 1
            a = b.conv(f"conv{stage}_{i}_a", x, c, 1, stride)
            x = b.conv(f"conv{stage}_{i}_b", a, c, 3, 1, 1)
        if stage < 5:
            x = b.add(f"add{stage}", a, x)
    return _net("bitfusion-resnet18", b, "get_resnet_18_twn (4-bit; conv1_a 8-bit on the 8-bit image)", (4, 4),
                {"conv1_a": (8, 8)})


def _gate_gemm(name: str, batch: int, width: int, source: str) -> ZooNet:
    b = NetBuilder(width, 1, batch)
    b.linear("matmul", "input", width)
    return _net(name, b, source, (4, 4), {})


def bf_rnn(batch: int = 1) -> ZooNet:
    return _gate_gemm("bitfusion-rnn", batch, 2 * 2048, "get_RNN('RNN', 2048): one 4096 x 4096 GEMM, 4-bit")


def bf_lstm(batch: int = 1) -> ZooNet:
    return _gate_gemm("bitfusion-lstm", batch, 4 * 900, "get_LSTM('LSTM', 900): one 3600 x 3600 GEMM, 4-bit")
