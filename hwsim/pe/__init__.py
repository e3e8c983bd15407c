"""PE kinds, registered by name (the `pe.kind` of a hardware config)."""
from __future__ import annotations

from ..registry import Registry
from .base import PEKind
from .kinds import BitParallel, BitSerialActivations, BitSerialBoth, FusedBricks

PE_KINDS = Registry("PE kind")


def register_pe_kind(kind: PEKind) -> PEKind:
    """Make `kind` (a PEKind instance) the one answering to `kind.name` in hardware configs."""
    if not isinstance(kind, PEKind):
        raise ValueError(f"{kind!r} is not a PEKind")
    return PE_KINDS.register(kind.name, kind)


def get_pe_kind(name: str) -> PEKind:
    return PE_KINDS.lookup(name)


for _kind in (BitParallel(), BitSerialActivations(), BitSerialBoth(), FusedBricks()):
    register_pe_kind(_kind)
