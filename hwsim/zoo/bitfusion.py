"""The eight benchmark networks of Bit Fusion (Sharma et al., "Bit Fusion: Bit-Level Dynamically Composable
Architecture for Accelerating Deep Neural Networks", ISCA 2018, Table II), at the per-layer bit-widths that
table takes from the quantisation papers it cites.

CAUTION: the shapes of the paper's own networks and every width below were written from recollection of
that table and of the cited papers, which could not be consulted when this was written; check them against
Table II (and the cited works) before quoting a figure. Recurrent networks are costed for one time step (the gate
GEMMs; the element-wise gate functions are not modelled). Where a cited paper quantises weights only, the
activations stay at 8 bits.
"""
from __future__ import annotations

from .builder import NetBuilder
from .network import ZooNet, first_last, uniform
from .alexnet import build as alexnet_ops
from .resnet import basic_block, _imagenet

PAPER = "Sharma et al., Bit Fusion, ISCA 2018, Table II"
UNVERIFIED = " (recalled, not re-read: check before quoting)"


def _net(name, b: NetBuilder, source: str, bits_of, bits_source: str) -> ZooNet:
    table = b.table()
    return ZooNet(name, b.graph(), table, source, bits_of(table), f"{PAPER}, citing {bits_source}{UNVERIFIED}")


def bf_alexnet(batch: int = 1) -> ZooNet:
    return _net("bitfusion-alexnet", alexnet_ops(batch), "AlexNet as in the zoo's 'alexnet'",
                lambda t: first_last(t, (8, 8), (1, 2)), "DoReFa-Net (Zhou et al. 2016): W1A2, first and last 8-bit")


def _vgg_like(batch: int, fcs: list[int]) -> NetBuilder:
    """2x128C3-MP2-2x256C3-MP2-2x512C3-MP2 then the fully connected layers, on 32x32 CIFAR-10 images."""
    b = NetBuilder(3, 32, batch)
    x = "input"
    for s, c in enumerate([128, 256, 512]):
        x = b.conv(f"conv{2 * s + 1}", x, c, 3, 1, 1)
        x = b.conv(f"conv{2 * s + 2}", x, c, 3, 1, 1)
        x = b.maxpool(f"pool{s + 1}", x, 2, 2)
    for i, n in enumerate(fcs):
        x = b.linear(f"fc{i + 1}", x, n)
    return b


def bf_cifar10(batch: int = 1) -> ZooNet:
    return _net("bitfusion-cifar10", _vgg_like(batch, [1024, 1024, 10]),
                "BinaryNet's CIFAR-10 network (Courbariaux/Hubara et al. 2016): 2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-"
                "2x1024FC-10", lambda t: first_last(t, (8, 8), (1, 1)),
                "QNN (Hubara et al. 2016): binary weights and activations, first and last layer 8-bit")


def bf_vgg7(batch: int = 1) -> ZooNet:
    return _net("bitfusion-vgg7", _vgg_like(batch, [1024, 10]),
                "TWN's VGG-7 (Li et al. 2016): 2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-1024FC-10",
                lambda t: first_last(t, (8, 8), (2, 8)), "TWN (Li et al. 2016): ternary (2-bit) weights")


def bf_lenet5(batch: int = 1) -> ZooNet:
    b = NetBuilder(1, 28, batch)
    x = b.maxpool("pool1", b.conv("conv1", "input", 32, 5), 2, 2)
    x = b.maxpool("pool2", b.conv("conv2", x, 64, 5), 2, 2)
    b.linear("fc2", b.linear("fc1", x, 512), 10)
    return _net("bitfusion-lenet5", b, "TWN's LeNet-5 on MNIST (Li et al. 2016): 32C5-MP2-64C5-MP2-512FC-10",
                lambda t: uniform(t, 2, 8), "TWN (Li et al. 2016): ternary (2-bit) weights")


def bf_svhn(batch: int = 1) -> ZooNet:
    b = NetBuilder(3, 40, batch)
    x = b.maxpool("pool0", b.conv("conv0", "input", 48, 5, 1, 2), 2, 2)
    x = b.conv("conv1", x, 64, 3, 1, 1)
    x = b.maxpool("pool1", b.conv("conv2", x, 64, 3, 1, 1), 2, 2)
    x = b.conv("conv3", x, 128, 3)
    x = b.conv("conv4", x, 128, 3, 1, 1)
    x = b.conv("conv5", x, 128, 3)
    x = b.conv("conv6", x, 512, 5, 1, 2)
    b.linear("fc1", b.linear("fc0", x, 512), 10)
    return _net("bitfusion-svhn", b, "DoReFa-Net's SVHN network (Zhou et al. 2016, its tensorpack example)",
                lambda t: first_last(t, (8, 8), (1, 2)), "DoReFa-Net (Zhou et al. 2016): W1A2, first and last 8-bit")


def bf_resnet18(batch: int = 1) -> ZooNet:
    return _net("bitfusion-resnet18", _imagenet([2, 2, 2, 2], basic_block, [64, 128, 256, 512], batch),
                "ResNet-18 as in the zoo's 'resnet18'", lambda t: first_last(t, (8, 8), (2, 2)),
                "2-bit weights and activations, first and last layer 8-bit")


def _recurrent(batch: int, layers: int, hidden: int, gates: int) -> NetBuilder:
    """One time step: per layer, the gates' GEMM over the concatenation [x_t; h_(t-1)] of 2 x hidden values.
    The concatenations are made by the element-wise gate functions, which are not modelled, so each layer
    reads its operand as a network input (from DRAM)."""
    b = NetBuilder(2 * hidden, 1, batch)
    for i in range(layers):
        b.linear(f"layer{i + 1}.gates", "input", gates * hidden)
    return b


def bf_lstm(batch: int = 1) -> ZooNet:
    return _net("bitfusion-lstm", _recurrent(batch, 2, 900, 4),
                "QNN's Penn Treebank LSTM (Hubara et al. 2016), 2 layers of 900 units, one time step",
                lambda t: uniform(t, 2, 2), "QNN (Hubara et al. 2016): 2-bit weights and activations")


def bf_rnn(batch: int = 1) -> ZooNet:
    return _net("bitfusion-rnn", _recurrent(batch, 2, 2048, 1),
                "QNN's Penn Treebank RNN (Hubara et al. 2016), 2 layers of 2048 units, one time step",
                lambda t: uniform(t, 4, 4), "QNN (Hubara et al. 2016): 4-bit weights and activations")
