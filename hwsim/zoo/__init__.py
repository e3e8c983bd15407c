"""Standard networks as layer-shape tables, without training: `get(name, batch)` gives a ZooNet (op graph
with layer shapes, adds, pools; its layer table; published per-layer bits where a paper gives them)."""
from __future__ import annotations

from ..registry import Registry
from ..errors import UserError
from . import alexnet, bitfusion, lenet, mobilenet, resnet, vgg
from .network import ZooNet

ZOO = Registry("zoo network")
for _name, _build in [("alexnet", alexnet.alexnet), ("vgg16", vgg.vgg16), ("resnet18", resnet.resnet18),
                      ("resnet50", resnet.resnet50), ("resnet20", resnet.resnet20),
                      ("mobilenet_v2", mobilenet.mobilenet_v2), ("lenet5", lenet.lenet5),
                      ("bitfusion-alexnet", bitfusion.bf_alexnet), ("bitfusion-cifar10", bitfusion.bf_cifar10),
                      ("bitfusion-lstm", bitfusion.bf_lstm), ("bitfusion-lenet5", bitfusion.bf_lenet5),
                      ("bitfusion-resnet18", bitfusion.bf_resnet18), ("bitfusion-rnn", bitfusion.bf_rnn),
                      ("bitfusion-svhn", bitfusion.bf_svhn), ("bitfusion-vgg7", bitfusion.bf_vgg7),
                      ("bitfusion-alexnet-wrpn", bitfusion.bf_alexnet_wrpn),
                      ("bitfusion-resnet18-wrpn", bitfusion.bf_resnet18_wrpn)]:
    ZOO.register(_name, _build)

BITFUSION_BENCHMARKS = tuple(n for n in ZOO if n.startswith("bitfusion-"))   # the WRPN variants included
MAX_BATCH = 1 << 16      # keeps every tensor's size in bits far inside int64 (VGG-16: 2^33 bits a sample)


def check_batch(batch, where: str) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise UserError(f"{where}: batch must be an integer in [1, {MAX_BATCH}], got {batch!r}")


def names() -> list[str]:
    return list(ZOO)


def get(name: str, batch: int = 1) -> ZooNet:
    """The zoo network `name` at `batch` samples; UserError listing the names otherwise."""
    check_batch(batch, f"zoo network {name!r}")
    return ZOO.lookup(name, UserError)(batch)
