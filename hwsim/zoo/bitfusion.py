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

WRPN: the published Bit Fusion results ran wider AlexNet and ResNet-18. The artifact's sweep
(bitfusion/src/sweep/sweep.py, which wrote results/bitfusion-eyeriss-sim-sweep.csv) builds each benchmark with
get_bench_nn(b, WRPN=True), and for those two that is get_alex_net_wrpn and get_resnet_18_wrpn: twice the
filters in every conv (AlexNet 96-256-384-384-256 per tower, fc1 and fc2 8192 wide; ResNet-18 128 to 1024),
so four times the MACs of most layers, and AlexNet's conv1 weights at 8 bits. On those layers the artifact's
optimizer (optimizer.py, bf_e_conf.ini's 16x32 array at 192 bits per cycle, batch 16) reproduces all 30
AlexNet and ResNet-18 rows of that CSV for that configuration, in all ten columns: cycles, memory wait, the three
buffers' reads and writes, DRAM reads and writes (e.g. AlexNet conv2_a 5,018,849 cycles, ResNet-18
conv2_1_b 3,613,708, conv5_2_b 3,614,180). The artifact's Eyeriss results (results/eyeriss_results.csv) are
for get_alex_net and get_resnet_18_twn (their MACs), and its notebook divides one by the other per benchmark.
bitfusion-alexnet-wrpn and bitfusion-resnet18-wrpn are those wider networks; the other six benchmarks have no
WRPN variant (get_bench_nn ignores the flag for them).
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


def _alexnet(name: str, batch: int, widen: int, source: str, conv1: tuple[int, int]) -> ZooNet:
    """The two-tower AlexNet of benchmarks.py with every conv's filters and fc1, fc2's outputs `widen` times
    get_alex_net's; conv1 at `conv1` (w, a), fc3 at 8 bits, the rest at 4."""
    b = NetBuilder(3, 227, batch)
    towers = {}
    for t in "ab":
        x = b.maxpool(f"pool1_{t}", b.conv(f"conv1_{t}", "input", 48 * widen, 11, 4), 2, 2)
        towers[t] = b.maxpool(f"pool2_{t}", b.conv(f"conv2_{t}", x, 128 * widen, 5, 1, 2), 2, 2)
    cat = b.concat("concat2", (towers["a"], towers["b"]))
    for t in "ab":
        x = b.conv(f"conv4_{t}", b.conv(f"conv3_{t}", cat, 192 * widen, 3, 1, 1), 192 * widen, 3, 1, 1)
        towers[t] = b.maxpool(f"pool5_{t}", b.conv(f"conv5_{t}", x, 128 * widen, 3, 1, 1), 2, 2)
    x = b.linear("fc1", b.concat("concat5", (towers["a"], towers["b"])), 4096 * widen)
    b.linear("fc3", b.linear("fc2", x, 4096 * widen), 1000)
    return _net(name, b, source, (4, 4), {"conv1_a": conv1, "conv1_b": conv1, "fc3": (8, 8)})


def bf_alexnet(batch: int = 1) -> ZooNet:
    return _alexnet("bitfusion-alexnet", batch, 1, "get_alex_net", (4, 8))


def bf_alexnet_wrpn(batch: int = 1) -> ZooNet:
    """The AlexNet the published results ran (see WRPN above): twice the filters, conv1's weights at 8 bits."""
    return _alexnet("bitfusion-alexnet-wrpn", batch, 2, "get_alex_net_wrpn (the published sweep's AlexNet)", (8, 8))


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


def _resnet18(name: str, batch: int, widen: int, source: str) -> ZooNet:
    """benchmarks.py's ResNet-18 with every conv's filters `widen` times get_resnet_18_twn's."""
    b = NetBuilder(3, 224, batch)
    x = b.maxpool("pool1_a", b.conv("conv1_a", "input", 64 * widen, 7, 2, 3), 2, 2)
    for stage, c in enumerate((64, 128, 256, 512), start=2):
        for i in (1, 2):
            stride = 2 if stage > 2 and i == 1 else 1
            a = b.conv(f"conv{stage}_{i}_a", x, c * widen, 1, stride)
            x = b.conv(f"conv{stage}_{i}_b", a, c * widen, 3, 1, 1)
        if stage < 5:
            x = b.add(f"add{stage}", a, x)
    return _net(name, b, source, (4, 4), {"conv1_a": (8, 8)})


def bf_resnet18(batch: int = 1) -> ZooNet:
    return _resnet18("bitfusion-resnet18", batch, 1, "get_resnet_18_twn (4-bit; conv1_a 8-bit on the 8-bit image)")


def bf_resnet18_wrpn(batch: int = 1) -> ZooNet:
    """The ResNet-18 the published results ran (see WRPN above): twice the filters, widths as get_resnet_18_twn's."""
    return _resnet18("bitfusion-resnet18-wrpn", batch, 2,
                     "get_resnet_18_wrpn (the published sweep's ResNet-18; 4-bit, conv1_a 8-bit)")


def _gate_gemm(name: str, batch: int, width: int, source: str) -> ZooNet:
    b = NetBuilder(width, 1, batch)
    b.linear("matmul", "input", width)
    return _net(name, b, source, (4, 4), {})


def bf_rnn(batch: int = 1) -> ZooNet:
    return _gate_gemm("bitfusion-rnn", batch, 2 * 2048, "get_RNN('RNN', 2048): one 4096 x 4096 GEMM, 4-bit")


def bf_lstm(batch: int = 1) -> ZooNet:
    return _gate_gemm("bitfusion-lstm", batch, 4 * 900, "get_LSTM('LSTM', 900): one 3600 x 3600 GEMM, 4-bit")
