"""MobileNetV2 (Sandler et al., CVPR 2018), width 1.0 at 224x224: inverted residual blocks of Table 2
(expansion t, channels c, repeats n, stride s); 0.30 G MACs."""
from __future__ import annotations

from .builder import NetBuilder
from .network import ZooNet

SOURCE = "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, CVPR 2018, Table 2"
BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _inverted_residual(b: NetBuilder, name: str, x: str, t: int, out_ch: int, stride: int) -> str:
    c = b.shape(x)[0]
    y = b.conv(f"{name}.expand", x, c * t, 1) if t != 1 else x
    y = b.conv(f"{name}.dw", y, c * t, 3, stride, 1, groups=c * t)
    y = b.conv(f"{name}.project", y, out_ch, 1)
    if stride == 1 and c == out_ch:
        return b.add(f"{name}.add", y, b.rescale(f"{name}.rescale", x))
    return y


def mobilenet_v2(batch: int = 1) -> ZooNet:
    b = NetBuilder(3, 224, batch)
    x = b.conv("conv1", "input", 32, 3, 2, 1)
    i = 0
    for t, c, n, s in BLOCKS:
        for j in range(n):
            x = _inverted_residual(b, f"block{i}", x, t, c, s if j == 0 else 1)
            i += 1
    x = b.conv("conv_last", x, 1280, 1)
    x = b.avgpool("avgpool", x)
    b.linear("fc", x, 1000)
    return ZooNet("mobilenet_v2", b.graph(), b.table(), SOURCE, None, "a float network: no published bit-widths")
