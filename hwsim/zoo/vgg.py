"""VGG-16 (Simonyan & Zisserman, ICLR 2015, configuration D) at 224x224: 15.5 G MACs."""
from __future__ import annotations

from .builder import NetBuilder
from .network import ZooNet

SOURCE = "Simonyan & Zisserman, Very Deep Convolutional Networks, ICLR 2015, Table 1 column D"
STAGES = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]


def vgg16(batch: int = 1) -> ZooNet:
    b = NetBuilder(3, 224, batch)
    x = "input"
    for s, widths in enumerate(STAGES):
        for i, c in enumerate(widths):
            x = b.conv(f"conv{s + 1}_{i + 1}", x, c, 3, 1, 1)
        x = b.maxpool(f"pool{s + 1}", x, 2, 2)
    x = b.linear("fc6", x, 4096)
    x = b.linear("fc7", x, 4096)
    b.linear("fc8", x, 1000)
    return ZooNet("vgg16", b.graph(), b.table(), SOURCE, None, "a float network: no published bit-widths")
