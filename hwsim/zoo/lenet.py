"""LeNet-5 (LeCun et al., Proc. IEEE 1998) on 32x32 inputs, with every C3 map reading all S2 maps (the
paper's partial C3 connection table is not modelled) and the S layers as 2x2 max pools: 0.42 M MACs."""
from __future__ import annotations

from .builder import NetBuilder
from .network import ZooNet

SOURCE = "LeCun et al., Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 1998, Fig. 2"


def lenet5(batch: int = 1) -> ZooNet:
    b = NetBuilder(1, 32, batch)
    x = b.conv("c1", "input", 6, 5)
    x = b.maxpool("s2", x, 2, 2)
    x = b.conv("c3", x, 16, 5)
    x = b.maxpool("s4", x, 2, 2)
    x = b.linear("c5", x, 120)
    x = b.linear("f6", x, 84)
    b.linear("output", x, 10)
    return ZooNet("lenet5", b.graph(), b.table(), SOURCE, None, "a float network: no published bit-widths")
