"""The IR's op vocabulary: one OpKind per kind (hwsim/ops/<kind>.py), registered by name.

The validator, the executor and the dataflow graph all look kinds up here; the torch reference
(quantnet/intref.py) keys its own per-kind functions by these names."""
from __future__ import annotations

from ..ir import IRError
from ..registry import Registry
from . import add, avgpool, conv, flatten, linear, maxpool, rescale
from .kind import OpKind

OP_KINDS = Registry("IR op kind")
for _module in (conv, linear, rescale, add, maxpool, avgpool, flatten):
    OP_KINDS.register(_module.KIND.name, _module.KIND)


def op_kind(name: str) -> OpKind:
    """The kind registered as `name`; IRError listing the vocabulary otherwise."""
    return OP_KINDS.lookup(name, IRError)
