"""ResNets (He et al., CVPR 2016): ResNet-18 and ResNet-50 at 224x224 (ImageNet), ResNet-20 for CIFAR-10.

Block names follow torchvision (layer<stage>.<block>.conv<i>); a projection shortcut is `shortcut`. ResNet-50
is torchvision's v1.5 (stride in the 3x3 conv). ResNet-20 uses 1x1 projection shortcuts (He et al.'s option B)
where the paper's option A pads with zeros, which adds 0.26 M MACs to its 40.6 M."""
from __future__ import annotations

from .builder import NetBuilder
from .network import ZooNet

SOURCE = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016, Table 1 / Section 4.2"


def _shortcut(b: NetBuilder, name: str, x: str, out_ch: int, stride: int) -> str:
    c, _, _ = b.shape(x)
    if stride == 1 and c == out_ch:
        return b.rescale(f"{name}.rescale", x)
    return b.conv(f"{name}.shortcut", x, out_ch, 1, stride)


def basic_block(b: NetBuilder, name: str, x: str, out_ch: int, stride: int) -> str:
    y = b.conv(f"{name}.conv1", x, out_ch, 3, stride, 1)
    y = b.conv(f"{name}.conv2", y, out_ch, 3, 1, 1)
    return b.add(f"{name}.add", y, _shortcut(b, name, x, out_ch, stride))


def bottleneck(b: NetBuilder, name: str, x: str, width: int, stride: int) -> str:
    y = b.conv(f"{name}.conv1", x, width, 1)
    y = b.conv(f"{name}.conv2", y, width, 3, stride, 1)
    y = b.conv(f"{name}.conv3", y, 4 * width, 1)
    return b.add(f"{name}.add", y, _shortcut(b, name, x, 4 * width, stride))


def _imagenet(blocks: list[int], block, widths, batch: int) -> NetBuilder:
    b = NetBuilder(3, 224, batch)
    x = b.conv("conv1", "input", 64, 7, 2, 3)
    x = b.maxpool("maxpool", x, 3, 2, 1)
    for s, (n, width) in enumerate(zip(blocks, widths)):
        for i in range(n):
            x = block(b, f"layer{s + 1}.{i}", x, width, 2 if i == 0 and s > 0 else 1)
    x = b.avgpool("avgpool", x)
    b.linear("fc", x, 1000)
    return b


def resnet18(batch: int = 1) -> ZooNet:
    b = _imagenet([2, 2, 2, 2], basic_block, [64, 128, 256, 512], batch)
    return ZooNet("resnet18", b.graph(), b.table(), SOURCE, None, "a float network: no published bit-widths")


def resnet50(batch: int = 1) -> ZooNet:
    b = _imagenet([3, 4, 6, 3], bottleneck, [64, 128, 256, 512], batch)
    return ZooNet("resnet50", b.graph(), b.table(), SOURCE + "; torchvision v1.5 strides", None,
                  "a float network: no published bit-widths")


def resnet20(batch: int = 1) -> ZooNet:
    b = NetBuilder(3, 32, batch)
    x = b.conv("conv1", "input", 16, 3, 1, 1)
    for s, width in enumerate([16, 32, 64]):
        for i in range(3):
            x = basic_block(b, f"layer{s + 1}.{i}", x, width, 2 if i == 0 and s > 0 else 1)
    x = b.avgpool("avgpool", x)
    b.linear("fc", x, 10)
    return ZooNet("resnet20", b.graph(), b.table(), SOURCE + " (CIFAR-10, n=3)", None,
                  "a float network: no published bit-widths")
