"""AlexNet (Krizhevsky et al., NIPS 2012) in its single-tower form at 224x224, as torchvision defines it
(64-192-384-256-256 channels, no channel groups): 0.71 G MACs."""
from __future__ import annotations

from .builder import NetBuilder
from .network import ZooNet

SOURCE = "Krizhevsky et al., NIPS 2012; single-tower channels of torchvision.models.alexnet"


def build(batch: int = 1, classes: int = 1000) -> NetBuilder:
    b = NetBuilder(3, 224, batch)
    x = b.conv("conv1", "input", 64, 11, 4, 2)
    x = b.maxpool("pool1", x, 3, 2)
    x = b.conv("conv2", x, 192, 5, 1, 2)
    x = b.maxpool("pool2", x, 3, 2)
    x = b.conv("conv3", x, 384, 3, 1, 1)
    x = b.conv("conv4", x, 256, 3, 1, 1)
    x = b.conv("conv5", x, 256, 3, 1, 1)
    x = b.maxpool("pool5", x, 3, 2)
    x = b.linear("fc6", x, 4096)
    x = b.linear("fc7", x, 4096)
    b.linear("fc8", x, classes)
    return b


def alexnet(batch: int = 1) -> ZooNet:
    b = build(batch)
    return ZooNet("alexnet", b.graph(), b.table(), SOURCE, None, "a float network: no published bit-widths")
