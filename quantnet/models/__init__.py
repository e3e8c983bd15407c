"""Model registry: name -> builder. Each model lists its quantisable layers in `model.spec`."""
from __future__ import annotations

import inspect
from typing import Callable

from .resnet import INPUT_BITS, INPUT_STEP, BasicBlock, MetaResNet, ResNetArch


def _digits(depth: int, projection: bool, default_width: int):
    """8x8 digits, `depth` blocks per stage, `default_width` channels in the first stage (twice that in the second)."""
    return lambda width=default_width, num_classes=10, in_channels=1, input_size=8, depth=depth, \
        projection=projection: ResNetArch(in_channels, input_size, num_classes, width, 3, 1, False, (width, 2 * width),
                                          (depth, depth), (1, 2), bool(projection))


ARCHS: dict[str, Callable[..., ResNetArch]] = {
    # one block per stage: 5 switchable layers (3^5 configs at 3 widths); the small net of the tests, narrow
    # (8) so that low bit-widths cost visible accuracy
    "digits_resnet": _digits(1, False, 8),
    # two blocks per stage, every shortcut a projection: 12 switchable layers (8 convs and 4 shortcuts,
    # 3^12 configs at 3 widths); the default. projection=False: 9 switchable layers (3^9). Width 16: at 8 the
    # worst of 1000 random configs sat 1.0-1.1 points below W2A2 on every seed (README, "Bad transitions")
    "digits_resnet10": _digits(2, True, 16),
    "resnet20": lambda width=16, num_classes=10, in_channels=3, input_size=32: ResNetArch(
        in_channels, input_size, num_classes, width, 3, 1, False, (width, 2 * width, 4 * width), (3, 3, 3), (1, 2, 2)),
    "resnet18": lambda width=64, num_classes=1000, in_channels=3, input_size=224: ResNetArch(
        in_channels, input_size, num_classes, width, 7, 2, True,
        (width, 2 * width, 4 * width, 8 * width), (2, 2, 2, 2), (1, 2, 2, 2)),
}


def build_model(name: str, candidate_bits=(2, 3, 4), bn_mode: str = "transitional", first_last_bits: int | None = 8,
                weight_codes: str = "per_width", **arch_kwargs) -> MetaResNet:
    """Build a registered meta-network. arch_kwargs: width, num_classes, in_channels, input_size;
    weight_codes: 'per_width' or 'nested' (quantnet/layers.py)."""
    if name not in ARCHS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(ARCHS)}")
    try:
        arch = ARCHS[name](**arch_kwargs)
    except TypeError as e:
        raise ValueError(f"model {name!r}: bad architecture argument ({e})") from None
    model = MetaResNet(arch, candidate_bits, bn_mode, first_last_bits, name=name)
    model.set_weight_codes(weight_codes)
    # the width is recorded even when it is the default, so that a checkpoint still loads if the default changes
    model.arch_kwargs = {"width": _default_width(name), **arch_kwargs}
    return model


def _default_width(name: str) -> int:
    """The width registered model `name` takes when none is given."""
    return inspect.signature(ARCHS[name]).parameters["width"].default


__all__ = ["ARCHS", "BasicBlock", "INPUT_BITS", "INPUT_STEP", "MetaResNet", "ResNetArch", "build_model"]
